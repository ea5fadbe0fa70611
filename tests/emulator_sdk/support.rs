//! Helpers shared by the emulator SDK tests: start an in-process emulator, build
//! clients that act as a given account, and call the control API.

use aws_sdk_securityhub::Client;
use aws_sdk_securityhub::config::{BehaviorVersion, Credentials, ProvideCredentials, Region};
use aws_sdk_securityhub::types::AccountDetails;
use aws_smithy_types::retry::RetryConfig;
use securityhub_operator::emulator::{EmulatorConfig, RateLimit, RunningEmulator, spawn};
use serde_json::Value;

pub const ADMIN: &str = "111111111111";
pub const MEMBER: &str = "222222222222";
pub const OTHER: &str = "333333333333";
pub const ORG: &str = "444444444444";
pub const REGION: &str = "us-east-1";
pub const ALREADY_MEMBER: &str = "The request is rejected because the given account ID is already a member or associated member of the current account.";

pub async fn start(config: EmulatorConfig) -> RunningEmulator {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    spawn(config).await.expect("emulator starts")
}

pub fn unlimited() -> EmulatorConfig {
    EmulatorConfig {
        rate: RateLimit { rate: 0.0, burst: 30 },
        organization_accounts: vec![ORG.to_string()],
        ..EmulatorConfig::default()
    }
}

pub fn credentials(account: &str) -> Credentials {
    Credentials::new(format!("AKIA{account}EXAM"), "fake-secret", None, None, "emulator-test")
}

/// A client acting as `account`, with retries off so every error is seen.
pub fn client(emu: &RunningEmulator, account: &str) -> Client {
    client_with(emu, credentials(account), REGION)
}

pub fn client_with(emu: &RunningEmulator, creds: impl ProvideCredentials + 'static, region: &'static str) -> Client {
    let conf = aws_sdk_securityhub::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region))
        .credentials_provider(creds)
        .endpoint_url(emu.url())
        .retry_config(RetryConfig::disabled())
        .build();
    Client::from_conf(conf)
}

pub fn details(account: &str) -> AccountDetails {
    AccountDetails::builder()
        .account_id(account)
        .email(format!("{account}@example.com"))
        .build()
}

pub async fn control(emu: &RunningEmulator, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let http = reqwest::Client::new();
    let mut request = http.request(method, format!("{}{path}", emu.url()));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("control call");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

pub async fn status_of(admin: &Client, account: &str) -> Option<String> {
    let out = admin
        .get_members()
        .account_ids(account)
        .send()
        .await
        .expect("get members");
    out.members()
        .first()
        .and_then(|m| m.member_status().map(str::to_string))
}

/// Admin creates and invites; the member enables Security Hub and accepts.
pub async fn invite_and_accept(admin: &Client, member: &Client, account: &str) {
    admin
        .create_members()
        .account_details(details(account))
        .send()
        .await
        .expect("create");
    admin
        .invite_members()
        .account_ids(account)
        .send()
        .await
        .expect("invite");
    member.enable_security_hub().send().await.expect("enable hub");
    let invitations = member.list_invitations().send().await.expect("list invitations");
    let invitation = &invitations.invitations()[0];
    member
        .accept_administrator_invitation()
        .administrator_id(invitation.account_id().unwrap_or_default())
        .invitation_id(invitation.invitation_id().unwrap_or_default())
        .send()
        .await
        .expect("accept");
}
