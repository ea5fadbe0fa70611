//! The member side: assume a role in the member account, enable Security Hub there if
//! asked, and accept the invitation whose AccountId is our administrator — never simply
//! the newest one, which could come from someone else.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_config::sts::AssumeRoleProvider;
use aws_sdk_securityhub::Client;
use aws_sdk_securityhub::config::Region;

use super::error::AwsError;
use crate::api::AcceptInvitation;
use crate::plan::ErrorClass;

/// How an accept attempt ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AcceptOutcome {
    /// AcceptAdministratorInvitation succeeded.
    Accepted,
    /// The member holds no invitation from our administrator (yet).
    NoInvitation,
}

/// Accepting invitations from inside member accounts.
#[async_trait]
pub trait MemberSide: Send + Sync + 'static {
    async fn accept(
        &self,
        region: &str,
        accept: &AcceptInvitation,
        administrator_id: &str,
    ) -> Result<AcceptOutcome, AwsError>;
}

/// (role ARN, external id, region): one client each.
type ClientKey = (String, Option<String>, String);

/// [`MemberSide`] through STS AssumeRole and the Security Hub SDK.
pub struct SdkMemberSide {
    base: SdkConfig,
    clients: Mutex<HashMap<ClientKey, Client>>,
}

impl SdkMemberSide {
    pub fn new(base: SdkConfig) -> Self {
        Self {
            base,
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// A client acting as the member through `accept.roleArn`; cached so credentials are reused.
    async fn client(&self, region: &str, accept: &AcceptInvitation) -> Client {
        let key = (accept.role_arn.clone(), accept.external_id.clone(), region.to_string());
        if let Some(c) = crate::sync::lock(&self.clients).get(&key) {
            return c.clone();
        }
        let mut provider = AssumeRoleProvider::builder(accept.role_arn.clone())
            .session_name("securityhub-operator")
            .configure(&self.base);
        if let Some(ext) = &accept.external_id {
            provider = provider.external_id(ext.clone());
        }
        let provider = provider.build().await;
        let conf = aws_sdk_securityhub::config::Builder::from(&self.base)
            .region(Region::new(region.to_string()))
            .credentials_provider(provider)
            .build();
        let client = Client::from_conf(conf);
        crate::sync::lock(&self.clients).insert(key, client.clone());
        client
    }
}

#[async_trait]
impl MemberSide for SdkMemberSide {
    async fn accept(
        &self,
        region: &str,
        accept: &AcceptInvitation,
        administrator_id: &str,
    ) -> Result<AcceptOutcome, AwsError> {
        let client = self.client(region, accept).await;
        if accept.enable_security_hub {
            ensure_hub_enabled(&client).await?;
        }
        let mut pages = client.list_invitations().max_results(50).into_paginator().send();
        let mut invitation_id = None;
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AwsError::from_sdk(&e))?;
            if let Some(inv) = page
                .invitations()
                .iter()
                .find(|i| i.account_id() == Some(administrator_id))
            {
                invitation_id = inv.invitation_id().map(str::to_string);
                break;
            }
        }
        let Some(invitation_id) = invitation_id else {
            return Ok(AcceptOutcome::NoInvitation);
        };
        client
            .accept_administrator_invitation()
            .administrator_id(administrator_id)
            .invitation_id(invitation_id)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(&e))?;
        Ok(AcceptOutcome::Accepted)
    }
}

/// Enables Security Hub in the member if DescribeHub says it is off.
async fn ensure_hub_enabled(client: &Client) -> Result<(), AwsError> {
    match client.describe_hub().send().await {
        Ok(_) => Ok(()),
        Err(e) => {
            let err = AwsError::from_sdk(&e);
            if err.class != ErrorClass::NotSubscribed && err.code != "ResourceNotFoundException" {
                return Err(err);
            }
            match client
                .enable_security_hub()
                .enable_default_standards(false)
                .send()
                .await
            {
                Ok(_) => Ok(()),
                Err(e) => {
                    let err = AwsError::from_sdk(&e);
                    // Enabled meanwhile: what we wanted.
                    if err.code == "ResourceConflictException" {
                        Ok(())
                    } else {
                        Err(err)
                    }
                }
            }
        }
    }
}
