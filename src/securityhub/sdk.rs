//! [`MembershipApi`] on aws-sdk-securityhub: one client per region from one shared
//! SdkConfig (credentials from the standard chain: env, profile, IRSA, EKS Pod Identity).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_securityhub::Client;
use aws_sdk_securityhub::config::Region;
use aws_sdk_securityhub::config::retry::RetryConfig;
use aws_sdk_securityhub::types::{AccountDetails, Member, Result as AwsResult};
use chrono::{DateTime, Utc};

use super::api::{MemberRecord, MembershipApi, ReadResult, Unprocessed};
use super::error::AwsError;
use crate::plan::{ObservedMember, OrganizationRole};

/// Per-attempt limit on one AWS request; a hung connection must not hold a batch forever.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// Limit on one operation including the SDK's retries.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(30);

/// Loads the standard AWS configuration (credentials chain, endpoint overrides such as
/// `AWS_ENDPOINT_URL_SECURITYHUB`, retry settings) once at start-up, with request timeouts.
pub async fn load_sdk_config() -> SdkConfig {
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(5))
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .operation_timeout(OPERATION_TIMEOUT)
        .build();
    aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(timeouts)
        .load()
        .await
}

/// Security Hub membership calls through the AWS SDK.
pub struct SdkMembership {
    config: SdkConfig,
    clients: Mutex<HashMap<String, Client>>,
}

impl SdkMembership {
    pub fn new(config: SdkConfig) -> Self {
        Self {
            config,
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// The client for `region`, built once.
    fn client(&self, region: &str) -> Client {
        let mut clients = crate::sync::lock(&self.clients);
        clients
            .entry(region.to_string())
            .or_insert_with(|| {
                let conf = aws_sdk_securityhub::config::Builder::from(&self.config)
                    .region(Region::new(region.to_string()))
                    .build();
                Client::from_conf(conf)
            })
            .clone()
    }
}

/// AWS timestamps to chrono; out-of-range values are dropped rather than trusted.
pub(crate) fn to_chrono(t: Option<&aws_smithy_types::DateTime>) -> Option<DateTime<Utc>> {
    t.and_then(|t| DateTime::from_timestamp(t.secs(), t.subsec_nanos()))
}

/// A Member as the planner sees it; a member without an account id is skipped.
/// MasterId is deprecated but older answers carry only it.
#[allow(deprecated)]
fn record(m: &Member) -> Option<MemberRecord> {
    let account_id = m.account_id()?.to_string();
    Some(MemberRecord {
        account_id,
        email: m.email().map(str::to_string),
        member: ObservedMember {
            status: m.member_status().unwrap_or("").to_string(),
            administrator_id: m.administrator_id().or(m.master_id()).map(str::to_string),
            invited_at: to_chrono(m.invited_at()),
            updated_at: to_chrono(m.updated_at()),
        },
    })
}

fn unprocessed(results: &[AwsResult]) -> Vec<Unprocessed> {
    results
        .iter()
        .map(|r| Unprocessed {
            account_id: r.account_id().map(str::to_string),
            processing_result: r.processing_result().map(str::to_string),
        })
        .collect()
}

#[async_trait]
impl MembershipApi for SdkMembership {
    async fn get_members(&self, region: &str, account_ids: &[String]) -> Result<ReadResult, AwsError> {
        let out = self
            .client(region)
            .get_members()
            .set_account_ids(Some(account_ids.to_vec()))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(&e))?;
        Ok(ReadResult {
            members: out.members().iter().filter_map(record).collect(),
            unprocessed: unprocessed(out.unprocessed_accounts()),
        })
    }

    async fn create_members(
        &self,
        region: &str,
        accounts: &[(String, Option<String>)],
    ) -> Result<Vec<Unprocessed>, AwsError> {
        let details = accounts
            .iter()
            .map(|(id, email)| {
                AccountDetails::builder()
                    .account_id(id)
                    .set_email(email.clone())
                    .build()
            })
            .collect();
        // Sent once: a retry after a lost answer would be refused as "already a member" for
        // members this very call created, which reads as someone else's member. A lost
        // answer stays a failure of unknown outcome instead, and the planner reads again.
        let once = aws_sdk_securityhub::config::Builder::default().retry_config(RetryConfig::disabled());
        let out = self
            .client(region)
            .create_members()
            .set_account_details(Some(details))
            .customize()
            .config_override(once)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(&e))?;
        Ok(unprocessed(out.unprocessed_accounts()))
    }

    async fn invite_members(&self, region: &str, account_ids: &[String]) -> Result<Vec<Unprocessed>, AwsError> {
        let out = self
            .client(region)
            .invite_members()
            .set_account_ids(Some(account_ids.to_vec()))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(&e))?;
        Ok(unprocessed(out.unprocessed_accounts()))
    }

    async fn disassociate_members(&self, region: &str, account_ids: &[String]) -> Result<Vec<Unprocessed>, AwsError> {
        self.client(region)
            .disassociate_members()
            .set_account_ids(Some(account_ids.to_vec()))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(&e))?;
        Ok(Vec::new())
    }

    async fn delete_members(&self, region: &str, account_ids: &[String]) -> Result<Vec<Unprocessed>, AwsError> {
        let out = self
            .client(region)
            .delete_members()
            .set_account_ids(Some(account_ids.to_vec()))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(&e))?;
        Ok(unprocessed(out.unprocessed_accounts()))
    }

    fn can_list_member_pages(&self) -> bool {
        true
    }

    async fn list_members_page(
        &self,
        region: &str,
        next_token: Option<String>,
    ) -> Result<(Vec<MemberRecord>, Option<String>), AwsError> {
        let out = self
            .client(region)
            .list_members()
            .only_associated(false)
            .max_results(50)
            .set_next_token(next_token)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(&e))?;
        let next = out.next_token().filter(|t| !t.is_empty()).map(str::to_string);
        Ok((out.members().iter().filter_map(record).collect(), next))
    }

    async fn organization_role(&self, region: &str) -> Result<OrganizationRole, AwsError> {
        self.client(region)
            .describe_organization_configuration()
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(&e))?;
        Ok(OrganizationRole::Administrator)
    }

    async fn list_members(&self, region: &str, all: bool) -> Result<Vec<MemberRecord>, AwsError> {
        let mut pages = self
            .client(region)
            .list_members()
            .only_associated(!all)
            .max_results(50)
            .into_paginator()
            .send();
        let mut records = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AwsError::from_sdk(&e))?;
            records.extend(page.members().iter().filter_map(record));
        }
        Ok(records)
    }
}
