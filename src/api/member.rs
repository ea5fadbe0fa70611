//! The `SecurityHubMember` custom resource: spec, status and their schema rules.

use chrono::{DateTime, Utc};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

/// An AWS account that should be a Security Hub member of the administrator account the
/// operator runs as, in one or more regions.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "securityhub.operator.dev",
    version = "v1alpha1",
    kind = "SecurityHubMember",
    plural = "securityhubmembers",
    shortname = "shm",
    category = "securityhub",
    namespaced,
    status = "SecurityHubMemberStatus",
    doc = "An AWS account kept as a Security Hub member of the operator's administrator account.",
    printcolumn = r#"{"name":"Account","type":"string","jsonPath":".spec.accountId"}"#,
    printcolumn = r#"{"name":"Regions","type":"string","jsonPath":".status.regionNames"}"#,
    printcolumn = r#"{"name":"Member Status","type":"string","jsonPath":".status.memberStatus"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct SecurityHubMemberSpec {
    /// The 12-digit AWS account id of the member. Immutable: create a new resource to
    /// manage another account.
    #[schemars(length(max = 12))]
    #[x_kube(
        validation = Rule::new("self.matches('^[0-9]{12}$')").message("accountId must be exactly 12 digits, e.g. \"123456789012\" (quote it in YAML)"),
        validation = Rule::new("self == oldSelf").message("accountId is immutable: delete this resource and create a new one for another account")
    )]
    pub account_id: String,

    /// Email address of the member account's owner. Sent to AWS only when the membership
    /// is created; changing it later has no effect in AWS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 254))]
    #[x_kube(validation = Rule::new(r"self.matches('^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$')").message("email must be an email address such as security@example.com"))]
    pub email: Option<String>,

    /// AWS regions in which the account must be a member, e.g. [us-east-1, eu-west-1].
    /// Omit to use the operator's --regions. Removing a region disassociates the member
    /// there (when this resource owns it). A region the --regions default no longer lists is
    /// kept, never removed, until this field lists the regions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 40), inner(length(max = 32)))]
    #[x_kube(
        validation = Rule::new("size(self) > 0").message("regions must not be empty: list at least one region, or omit the field to use the operator's --regions"),
        validation = Rule::new("self.all(r, r.matches('^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]$'))").message("regions must be AWS region names such as us-east-1 or eu-west-1"),
        validation = Rule::new("self.all(r, self.exists_one(x, x == r))").message("regions must not list the same region twice")
    )]
    pub regions: Option<Vec<String>>,

    /// Send an invitation after creating the membership. Organization accounts never get an
    /// invitation: AWS enables them directly.
    #[serde(default = "default_true")]
    pub invite: bool,

    /// When to invite again: Never; Removed (default: re-invite after the administrator
    /// side removed the member); Always (also re-invite a Resigned member, with
    /// exponential backoff up to 24 h).
    #[serde(default)]
    pub reinvite: ReinvitePolicy,

    /// Manage a member that already exists in AWS. Without it, an existing member is left
    /// untouched and reported as AlreadyExists.
    #[serde(default)]
    pub adopt: bool,

    /// What happens in AWS when this resource is deleted: Delete (default: disassociate,
    /// then delete the member) or Retain (leave AWS unchanged).
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,

    /// Accept the invitation from the member side by assuming a role in the member account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accept_invitation: Option<AcceptInvitation>,
}

fn default_true() -> bool {
    true
}

/// When the operator sends another invitation to a member that left.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, schemars::JsonSchema)]
pub enum ReinvitePolicy {
    /// Never invite again after the first invitation.
    Never,
    /// Invite again when the administrator side removed the member (status Removed).
    #[default]
    Removed,
    /// Also invite again a member that resigned or declined, with exponential backoff.
    Always,
}

/// What deleting the resource does in AWS.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, schemars::JsonSchema)]
pub enum DeletionPolicy {
    /// Disassociate the member, then delete it (organization accounts: disassociate only).
    #[default]
    Delete,
    /// Leave the membership in AWS as it is.
    Retain,
}

/// A role in the member account that the operator assumes to accept the invitation.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AcceptInvitation {
    /// ARN of an IAM role in the member account, e.g.
    /// arn:aws:iam::123456789012:role/SecurityHubAcceptInvitation.
    #[schemars(length(max = 2048))]
    #[x_kube(validation = Rule::new(r"self.matches('^arn:aws(-cn|-us-gov|-iso[a-z]?)?:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]+$')").message("roleArn must be an IAM role ARN such as arn:aws:iam::123456789012:role/SecurityHubAcceptInvitation"))]
    pub role_arn: String,

    /// External id required by the role's trust policy, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1224))]
    pub external_id: Option<String>,

    /// Enable Security Hub in the member account (same region) first if it is off.
    #[serde(default)]
    pub enable_security_hub: bool,
}

/// What the operator last observed, written only when it changes.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SecurityHubMemberStatus {
    /// The metadata.generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// Ready (every region reached its desired end state) and Synced (the last reconcile
    /// reached AWS without error).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,

    /// Member status across regions in one word (e.g. Enabled) or per region when they
    /// differ (e.g. "Enabled 1/2, Invited 1/2"). For display.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_status: Option<String>,

    /// The managed regions, comma-separated (e.g. "eu-west-1,us-east-1"). For display: the
    /// API server's table printer shows only the first value of a list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region_names: Option<String>,

    /// What AWS reported for the account, per region.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["region"]))]
    pub regions: Vec<RegionStatus>,
}

/// The member as AWS reports it in one region.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RegionStatus {
    /// AWS region name.
    pub region: String,

    /// MemberStatus exactly as AWS reports it (Created, Invited, Enabled, Removed,
    /// Resigned, Deleted, AccountSuspended, or any new value). Empty when not a member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_status: Option<String>,

    /// The administrator account AWS reports for the member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub administrator_id: Option<String>,

    /// When AWS last sent the invitation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invited_at: Option<DateTime<Utc>>,

    /// When AWS last changed the member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<DateTime<Utc>>,

    /// The last ProcessingResult AWS returned for this account, verbatim; cleared on success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processing_result: Option<String>,

    /// True once this resource created or adopted the member here, so that it alone may
    /// change or remove it. Recorded before the first change in AWS: here, or until the
    /// next status write in the operator's claim journal (a ConfigMap in its namespace).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub managed: bool,

    /// Invitations sent again after the member resigned (reinvite: Always); sets the backoff.
    #[serde(default, skip_serializing_if = "is_zero")]
    #[schemars(extend("format" = "int32"))]
    pub reinvites: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}
