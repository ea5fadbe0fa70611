//! The emulator driven through aws-sdk-securityhub and aws-config's
//! AssumeRoleProvider: the same flows as tests/emulator_boto3, proving the Rust
//! SDK parses every response, timestamp and error the emulator sends.

use std::time::Duration;

use aws_sdk_securityhub::Client;
use aws_sdk_securityhub::config::{BehaviorVersion, Credentials, ProvideCredentials, Region};
use aws_sdk_securityhub::error::ProvideErrorMetadata;
use aws_sdk_securityhub::types::AccountDetails;
use aws_smithy_types::retry::RetryConfig;
use securityhub_operator::emulator::{EmulatorConfig, RateLimit, RunningEmulator, spawn};
use serde_json::{Value, json};

const ADMIN: &str = "111111111111";
const MEMBER: &str = "222222222222";
const OTHER: &str = "333333333333";
const ORG: &str = "444444444444";
const REGION: &str = "us-east-1";
const ALREADY_MEMBER: &str = "The request is rejected because the given account ID is already a member or associated member of the current account.";

async fn start(config: EmulatorConfig) -> RunningEmulator {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    spawn(config).await.expect("emulator starts")
}

fn unlimited() -> EmulatorConfig {
    EmulatorConfig {
        rate: RateLimit {
            rate: 0.0,
            burst: 30,
        },
        organization_accounts: vec![ORG.to_string()],
        ..EmulatorConfig::default()
    }
}

fn credentials(account: &str) -> Credentials {
    Credentials::new(
        format!("AKIA{account}EXAM"),
        "fake-secret",
        None,
        None,
        "emulator-test",
    )
}

/// A client acting as `account`, with retries off so every error is seen.
fn client(emu: &RunningEmulator, account: &str) -> Client {
    client_with(emu, credentials(account), REGION)
}

fn client_with(
    emu: &RunningEmulator,
    creds: impl ProvideCredentials + 'static,
    region: &'static str,
) -> Client {
    let conf = aws_sdk_securityhub::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region))
        .credentials_provider(creds)
        .endpoint_url(emu.url())
        .retry_config(RetryConfig::disabled())
        .build();
    Client::from_conf(conf)
}

fn details(account: &str) -> AccountDetails {
    AccountDetails::builder()
        .account_id(account)
        .email(format!("{account}@example.com"))
        .build()
}

async fn control(
    emu: &RunningEmulator,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let http = reqwest::Client::new();
    let mut request = http.request(method, format!("{}{path}", emu.url()));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("control call");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn status_of(admin: &Client, account: &str) -> Option<String> {
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
async fn invite_and_accept(admin: &Client, member: &Client, account: &str) {
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
    member
        .enable_security_hub()
        .send()
        .await
        .expect("enable hub");
    let invitations = member
        .list_invitations()
        .send()
        .await
        .expect("list invitations");
    let invitation = &invitations.invitations()[0];
    member
        .accept_administrator_invitation()
        .administrator_id(invitation.account_id().unwrap_or_default())
        .invitation_id(invitation.invitation_id().unwrap_or_default())
        .send()
        .await
        .expect("accept");
}

#[tokio::test]
async fn full_lifecycle_parses_every_response() {
    let emu = start(unlimited()).await;
    let admin = client(&emu, ADMIN);
    let member = client(&emu, MEMBER);
    let created = admin
        .create_members()
        .account_details(details(MEMBER))
        .send()
        .await
        .unwrap();
    assert!(created.unprocessed_accounts().is_empty());
    assert_eq!(status_of(&admin, MEMBER).await.as_deref(), Some("Created"));

    admin
        .invite_members()
        .account_ids(MEMBER)
        .send()
        .await
        .unwrap();
    let got = admin
        .get_members()
        .account_ids(MEMBER)
        .send()
        .await
        .unwrap();
    let m = &got.members()[0];
    assert_eq!(m.member_status(), Some("Invited"));
    assert_eq!(m.administrator_id(), Some(ADMIN));
    assert!(m.invited_at().is_some() && m.updated_at().is_some());
    assert_eq!(
        member
            .get_invitations_count()
            .send()
            .await
            .unwrap()
            .invitations_count(),
        Some(1)
    );

    let invitation = member
        .list_invitations()
        .send()
        .await
        .unwrap()
        .invitations()[0]
        .clone();
    assert_eq!(invitation.invitation_id().map(str::len), Some(32));
    assert!(invitation.invited_at().is_some());
    let err = member
        .accept_administrator_invitation()
        .administrator_id(ADMIN)
        .invitation_id(invitation.invitation_id().unwrap())
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidAccessException"));
    assert_eq!(
        err.message(),
        Some("Account 222222222222 is not subscribed to AWS Security Hub")
    );

    member.enable_security_hub().send().await.unwrap();
    member
        .accept_administrator_invitation()
        .administrator_id(ADMIN)
        .invitation_id(invitation.invitation_id().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(status_of(&admin, MEMBER).await.as_deref(), Some("Enabled"));
    let administrator = member.get_administrator_account().send().await.unwrap();
    assert_eq!(
        administrator.administrator().and_then(|a| a.account_id()),
        Some(ADMIN)
    );

    let listed = admin.list_members().send().await.unwrap();
    assert_eq!(listed.members().len(), 1);
    let refused = admin
        .delete_members()
        .account_ids(MEMBER)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.unprocessed_accounts()[0].account_id(), Some(MEMBER));

    admin
        .disassociate_members()
        .account_ids(MEMBER)
        .send()
        .await
        .unwrap();
    assert_eq!(status_of(&admin, MEMBER).await.as_deref(), Some("Removed"));
    let deleted = admin
        .delete_members()
        .account_ids(MEMBER)
        .send()
        .await
        .unwrap();
    assert!(deleted.unprocessed_accounts().is_empty());
    let gone = admin
        .get_members()
        .account_ids(MEMBER)
        .send()
        .await
        .unwrap();
    assert!(gone.members().is_empty());
    assert_eq!(
        gone.unprocessed_accounts()[0].processing_result(),
        Some("The request is rejected since no such resource found.")
    );
    emu.shutdown().await.unwrap();
}

/// Uses the deprecated /master aliases on purpose: the emulator must still serve them.
#[allow(deprecated)]
#[tokio::test]
async fn resigned_by_decline_and_by_leaving() {
    let emu = start(unlimited()).await;
    let admin = client(&emu, ADMIN);
    let member = client(&emu, MEMBER);
    admin
        .create_members()
        .account_details(details(MEMBER))
        .send()
        .await
        .unwrap();
    admin
        .invite_members()
        .account_ids(MEMBER)
        .send()
        .await
        .unwrap();
    let declined = member
        .decline_invitations()
        .account_ids(ADMIN)
        .send()
        .await
        .unwrap();
    assert!(declined.unprocessed_accounts().is_empty());
    assert_eq!(status_of(&admin, MEMBER).await.as_deref(), Some("Resigned"));

    admin
        .invite_members()
        .account_ids(MEMBER)
        .send()
        .await
        .unwrap();
    member.enable_security_hub().send().await.unwrap();
    let invitation = member
        .list_invitations()
        .send()
        .await
        .unwrap()
        .invitations()[0]
        .clone();
    member
        .accept_invitation()
        .master_id(ADMIN)
        .invitation_id(invitation.invitation_id().unwrap())
        .send()
        .await
        .unwrap();
    let master = member.get_master_account().send().await.unwrap();
    assert_eq!(
        master.master().and_then(|m| m.member_status()),
        Some("Enabled")
    );
    member
        .disassociate_from_master_account()
        .send()
        .await
        .unwrap();
    assert_eq!(status_of(&admin, MEMBER).await.as_deref(), Some("Resigned"));
    member
        .delete_invitations()
        .account_ids(ADMIN)
        .send()
        .await
        .unwrap();
    let err = member
        .disassociate_from_administrator_account()
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ResourceNotFoundException"));
}

#[tokio::test]
async fn organization_accounts_and_membership_rules() {
    let emu = start(unlimited()).await;
    let admin = client(&emu, ADMIN);
    admin
        .create_members()
        .account_details(details(ORG))
        .send()
        .await
        .unwrap();
    let org = admin
        .get_members()
        .account_ids(ORG)
        .send()
        .await
        .unwrap()
        .members()[0]
        .clone();
    assert_eq!(org.member_status(), Some("Enabled"));
    assert_eq!(org.email(), None);
    let refused = admin
        .delete_members()
        .account_ids(ORG)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.unprocessed_accounts().len(), 1);
    admin
        .disassociate_members()
        .account_ids(ORG)
        .send()
        .await
        .unwrap();
    admin
        .create_members()
        .account_details(details(ORG))
        .send()
        .await
        .unwrap();
    assert_eq!(status_of(&admin, ORG).await.as_deref(), Some("Enabled"));

    admin
        .create_members()
        .account_details(details(MEMBER))
        .send()
        .await
        .unwrap();
    let again = admin
        .create_members()
        .account_details(details(MEMBER))
        .account_details(details(ADMIN))
        .send()
        .await
        .unwrap();
    let results: Vec<_> = again
        .unprocessed_accounts()
        .iter()
        .map(|u| u.processing_result().unwrap_or_default())
        .collect();
    assert_eq!(results[0], ALREADY_MEMBER);
    assert!(results[1].contains("member of itself"));

    let other = client(&emu, OTHER);
    other.enable_security_hub().send().await.unwrap();
    let member = client(&emu, MEMBER);
    admin
        .delete_members()
        .account_ids(MEMBER)
        .send()
        .await
        .unwrap();
    invite_and_accept(&admin, &member, MEMBER).await;
    let second = other
        .create_members()
        .account_details(details(MEMBER))
        .send()
        .await
        .unwrap();
    assert!(
        second.unprocessed_accounts()[0]
            .processing_result()
            .unwrap_or_default()
            .contains("another administrator")
    );
}

#[tokio::test]
async fn overflow_pagination_and_input_errors() {
    let emu = start(unlimited()).await;
    let admin = client(&emu, ADMIN);
    let many: Vec<AccountDetails> = (0..53)
        .map(|i| details(&format!("{}", 900_000_000_000u64 + i)))
        .collect();
    let out = admin
        .create_members()
        .set_account_details(Some(many))
        .send()
        .await
        .unwrap();
    assert_eq!(out.unprocessed_accounts().len(), 3);
    assert!(
        out.unprocessed_accounts()
            .iter()
            .all(|u| u.processing_result() == Some("Maximum number of results exceeded"))
    );

    assert!(
        admin
            .list_members()
            .send()
            .await
            .unwrap()
            .members()
            .is_empty()
    );
    let all: Vec<_> = admin
        .list_members()
        .only_associated(false)
        .max_results(7)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap();
    assert_eq!(all.len(), 50);

    let err = admin
        .list_members()
        .max_results(51)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidInputException"));
    let err = admin
        .invite_members()
        .set_account_ids(Some(vec![]))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidInputException"));
    let err = admin
        .disassociate_members()
        .account_ids(OTHER)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ResourceNotFoundException"));
}

#[tokio::test]
async fn invitations_paginate_across_administrators() {
    let emu = start(unlimited()).await;
    for admin_id in [ADMIN, OTHER, "666666666666"] {
        let admin = client(&emu, admin_id);
        if admin_id != ADMIN {
            admin.enable_security_hub().send().await.unwrap();
        }
        admin
            .create_members()
            .account_details(details(MEMBER))
            .send()
            .await
            .unwrap();
        admin
            .invite_members()
            .account_ids(MEMBER)
            .send()
            .await
            .unwrap();
    }
    let member = client(&emu, MEMBER);
    let invitations: Vec<_> = member
        .list_invitations()
        .max_results(2)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap();
    assert_eq!(invitations.len(), 3);
}

#[tokio::test]
async fn hub_and_organization_operations() {
    let emu = start(unlimited()).await;
    let admin = client(&emu, ADMIN);
    let hub = admin.describe_hub().send().await.unwrap();
    assert_eq!(
        hub.hub_arn(),
        Some("arn:aws:securityhub:us-east-1:111111111111:hub/default")
    );
    let subscribed = hub.subscribed_at().unwrap_or_default();
    assert!(chrono::DateTime::parse_from_rfc3339(subscribed).is_ok() && subscribed.ends_with('Z'));
    let err = admin.enable_security_hub().send().await.unwrap_err();
    assert_eq!(err.code(), Some("ResourceConflictException"));
    let member = client(&emu, MEMBER);
    assert_eq!(
        member.describe_hub().send().await.unwrap_err().code(),
        Some("InvalidAccessException")
    );
    member.enable_security_hub().send().await.unwrap();
    member.disable_security_hub().send().await.unwrap();

    let config = admin
        .describe_organization_configuration()
        .send()
        .await
        .unwrap();
    assert_eq!(config.auto_enable(), Some(false));
    admin
        .update_organization_configuration()
        .auto_enable(true)
        .send()
        .await
        .unwrap();
    assert_eq!(
        admin
            .describe_organization_configuration()
            .send()
            .await
            .unwrap()
            .auto_enable(),
        Some(true)
    );
    let management = client(&emu, "999999999999");
    let enabled = management
        .enable_organization_admin_account()
        .admin_account_id(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(enabled.admin_account_id(), Some(ADMIN));
    let admins = management
        .list_organization_admin_accounts()
        .send()
        .await
        .unwrap();
    assert_eq!(admins.admin_accounts()[0].account_id(), Some(ADMIN));
}

#[tokio::test]
async fn faults_and_rate_limit_surface_as_sdk_errors() {
    let emu = start(EmulatorConfig {
        rate: RateLimit {
            rate: 1.0,
            burst: 2,
        },
        ..unlimited()
    })
    .await;
    let admin = client(&emu, ADMIN);
    admin.describe_hub().send().await.unwrap();
    admin.describe_hub().send().await.unwrap();
    let err = admin.describe_hub().send().await.unwrap_err();
    assert_eq!(err.code(), Some("LimitExceededException"));
    assert_eq!(err.message(), Some("Rate exceeded"));
    control(
        &emu,
        reqwest::Method::POST,
        "/_emulator/limits",
        Some(json!({"rate": 0, "burst": 1})),
    )
    .await;

    for code in [
        "AccessDeniedException",
        "InternalException",
        "BadRequestException",
    ] {
        let rule = json!({"rules": [{"operation": "ListMembers", "errorCode": code}]});
        let (status, _) =
            control(&emu, reqwest::Method::POST, "/_emulator/faults", Some(rule)).await;
        assert_eq!(status, 200);
        assert_eq!(
            admin.list_members().send().await.unwrap_err().code(),
            Some(code)
        );
    }
    admin
        .create_members()
        .account_details(details(MEMBER))
        .send()
        .await
        .unwrap();
    let rule = json!({"operation": "GetMembers", "corruption": "unknownMemberStatus", "memberStatus": "Paused"});
    control(&emu, reqwest::Method::POST, "/_emulator/faults", Some(rule)).await;
    assert_eq!(status_of(&admin, MEMBER).await.as_deref(), Some("Paused"));
    control(&emu, reqwest::Method::DELETE, "/_emulator/faults", None).await;

    let (_, requests) = control(&emu, reqwest::Method::GET, "/_emulator/requests", None).await;
    assert_eq!(
        requests["counts"]["DescribeHub"]["LimitExceededException"],
        1
    );
    assert_eq!(
        requests["counts"]["ListMembers"]["AccessDeniedException"],
        1
    );
}

#[tokio::test]
async fn missing_member_can_be_bad_request() {
    let config = EmulatorConfig {
        missing_member: securityhub_operator::emulator::MissingMember::BadRequest,
        ..unlimited()
    };
    let emu = start(config).await;
    let err = client(&emu, ADMIN)
        .get_members()
        .account_ids(MEMBER)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("BadRequestException"));
}

#[tokio::test]
async fn assume_role_provider_acts_as_member() {
    let emu = start(unlimited()).await;
    let admin = client(&emu, ADMIN);
    admin
        .create_members()
        .account_details(details(MEMBER))
        .send()
        .await
        .unwrap();
    admin
        .invite_members()
        .account_ids(MEMBER)
        .send()
        .await
        .unwrap();

    let base = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(emu.url())
        .credentials_provider(credentials(ADMIN))
        .load()
        .await;
    let provider = aws_config::sts::AssumeRoleProvider::builder(format!(
        "arn:aws:iam::{MEMBER}:role/SecurityHubMember"
    ))
    .session_name("operator")
    .configure(&base)
    .build()
    .await;
    let creds = provider
        .provide_credentials()
        .await
        .expect("assumed credentials");
    assert!(creds.access_key_id().starts_with(&format!("ASIA{MEMBER}")));
    assert!(creds.expiry().is_some());

    let member = client_with(&emu, provider, REGION);
    member.enable_security_hub().send().await.unwrap();
    let invitation = member
        .list_invitations()
        .send()
        .await
        .unwrap()
        .invitations()[0]
        .clone();
    assert_eq!(invitation.account_id(), Some(ADMIN));
    member
        .accept_administrator_invitation()
        .administrator_id(ADMIN)
        .invitation_id(invitation.invitation_id().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(status_of(&admin, MEMBER).await.as_deref(), Some("Enabled"));
}

#[tokio::test]
async fn auto_accept_after_delay() {
    let config = EmulatorConfig {
        auto_accept_after: Some(Duration::from_millis(200)),
        ..unlimited()
    };
    let emu = start(config).await;
    let admin = client(&emu, ADMIN);
    admin
        .create_members()
        .account_details(details(MEMBER))
        .send()
        .await
        .unwrap();
    admin
        .invite_members()
        .account_ids(MEMBER)
        .send()
        .await
        .unwrap();
    assert_eq!(status_of(&admin, MEMBER).await.as_deref(), Some("Invited"));
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(status_of(&admin, MEMBER).await.as_deref(), Some("Enabled"));
}

#[tokio::test]
async fn regions_are_separate() {
    let emu = start(unlimited()).await;
    client(&emu, ADMIN)
        .create_members()
        .account_details(details(MEMBER))
        .send()
        .await
        .unwrap();
    let west = client_with(&emu, credentials(ADMIN), "eu-west-1");
    let out = west
        .list_members()
        .only_associated(false)
        .send()
        .await
        .unwrap();
    assert!(out.members().is_empty());
}
