//! The membership operations the operator needs, as a trait so the batcher and the
//! controller can be tested without AWS.

use async_trait::async_trait;

use super::error::AwsError;
use crate::plan::{ObservedMember, OrganizationRole};

/// One entry of UnprocessedAccounts. AWS models both fields as optional.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Unprocessed {
    pub account_id: Option<String>,
    pub processing_result: Option<String>,
}

/// A member as listed by GetMembers or ListMembers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberRecord {
    pub account_id: String,
    pub email: Option<String>,
    pub member: ObservedMember,
}

/// The answer of GetMembers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReadResult {
    pub members: Vec<MemberRecord>,
    pub unprocessed: Vec<Unprocessed>,
}

/// Administrator-side membership calls, one region per call.
#[async_trait]
pub trait MembershipApi: Send + Sync + 'static {
    async fn get_members(&self, region: &str, account_ids: &[String]) -> Result<ReadResult, AwsError>;
    /// Accounts with their optional email.
    async fn create_members(
        &self,
        region: &str,
        accounts: &[(String, Option<String>)],
    ) -> Result<Vec<Unprocessed>, AwsError>;
    async fn invite_members(&self, region: &str, account_ids: &[String]) -> Result<Vec<Unprocessed>, AwsError>;
    async fn disassociate_members(&self, region: &str, account_ids: &[String]) -> Result<Vec<Unprocessed>, AwsError>;
    async fn delete_members(&self, region: &str, account_ids: &[String]) -> Result<Vec<Unprocessed>, AwsError>;
    /// Every member, paginated (OnlyAssociated=false when `all`).
    async fn list_members(&self, region: &str, all: bool) -> Result<Vec<MemberRecord>, AwsError>;
    /// Whether `list_members_page` works (the batcher then may sweep instead of reading by 50).
    fn can_list_member_pages(&self) -> bool {
        false
    }
    /// One ListMembers page (OnlyAssociated=false, 50 per page) and the next page's token.
    async fn list_members_page(
        &self,
        _region: &str,
        _next_token: Option<String>,
    ) -> Result<(Vec<MemberRecord>, Option<String>), AwsError> {
        Err(AwsError::new(
            crate::plan::ErrorClass::Unsupported,
            "NotImplemented",
            "this membership API does not list members page by page",
        ))
    }
    /// DescribeOrganizationConfiguration: `Administrator` when it answers; the refusal of
    /// a non-administrator comes back as the error (see `organization::role_from`).
    /// Implementations that cannot tell keep the default.
    async fn organization_role(&self, _region: &str) -> Result<OrganizationRole, AwsError> {
        Ok(OrganizationRole::Unknown)
    }
}
