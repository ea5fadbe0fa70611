//! JSON shapes of the REST-JSON protocol: request bodies the emulator reads and
//! the `Member`, `Result` and `Invitation` structures it writes.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use super::state::{InvitationRecord, Member};

/// RFC 3339 with milliseconds and `Z`, the form real AWS sends and the Rust
/// SDK requires (it rejects timestamps without an offset).
pub fn timestamp(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// `Member` as the service model spells it; `MasterId` is the deprecated twin
/// of `AdministratorId` and both are filled like AWS does.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct MemberOut {
    pub account_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    pub master_id: String,
    pub administrator_id: String,
    pub member_status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invited_at: Option<String>,
    pub updated_at: String,
}

impl MemberOut {
    pub fn new(administrator: &str, member: &Member) -> Self {
        MemberOut {
            account_id: member.account_id.clone(),
            email: member.email.clone(),
            master_id: administrator.to_string(),
            administrator_id: administrator.to_string(),
            member_status: member.status.as_str().to_string(),
            invited_at: member.invitation.as_ref().map(|i| timestamp(&i.invited_at)),
            updated_at: timestamp(&member.updated_at),
        }
    }
}

/// One entry of `UnprocessedAccounts`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct Unprocessed {
    pub account_id: String,
    pub processing_result: String,
}

impl Unprocessed {
    pub fn new(account_id: &str, reason: &str) -> Self {
        Unprocessed {
            account_id: account_id.to_string(),
            processing_result: reason.to_string(),
        }
    }
}

/// `Invitation`: `AccountId` is the administrator that sent it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct InvitationOut {
    pub account_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invitation_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invited_at: Option<String>,
    pub member_status: String,
}

impl InvitationOut {
    /// Organization members have no invitation: only the account and status show.
    pub fn new(administrator: &str, member: &Member, invitation: Option<&InvitationRecord>) -> Self {
        InvitationOut {
            account_id: administrator.to_string(),
            invitation_id: invitation.map(|i| i.invitation_id.clone()),
            invited_at: invitation.map(|i| timestamp(&i.invited_at)),
            member_status: member.status.as_str().to_string(),
        }
    }
}

/// `AccountDetails` entry of CreateMembers.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AccountDetails {
    pub account_id: Option<String>,
    pub email: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateMembersIn {
    pub account_details: Option<Vec<AccountDetails>>,
}

/// Every input that is just `AccountIds` (invite, get, disassociate, delete,
/// decline and delete invitations).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AccountIdsIn {
    pub account_ids: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AcceptIn {
    pub administrator_id: Option<String>,
    pub master_id: Option<String>,
    pub invitation_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EnableHubIn {
    pub control_finding_generator: Option<String>,
    pub enable_default_standards: Option<bool>,
    pub tags: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct OrgConfigurationIn {
    pub configuration_type: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateOrgConfigIn {
    pub auto_enable: Option<bool>,
    pub auto_enable_standards: Option<String>,
    pub organization_configuration: Option<OrgConfigurationIn>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EnableOrgAdminIn {
    pub admin_account_id: Option<String>,
    pub feature: Option<String>,
}
