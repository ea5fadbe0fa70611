//! Hub, organization, fault, rate-limit, STS and simulated-member tests.

use std::time::Duration;

use aws_sdk_securityhub::config::{ProvideCredentials, Region};
use aws_sdk_securityhub::error::ProvideErrorMetadata;
use securityhub_operator::emulator::{EmulatorConfig, MissingMember, RateLimit};
use serde_json::{Value, json};

use super::support::*;

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

    let config = admin.describe_organization_configuration().send().await.unwrap();
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
    let admins = management.list_organization_admin_accounts().send().await.unwrap();
    assert_eq!(admins.admin_accounts()[0].account_id(), Some(ADMIN));
}

#[tokio::test]
async fn faults_and_rate_limit_surface_as_sdk_errors() {
    let emu = start(EmulatorConfig {
        rate: RateLimit { rate: 1.0, burst: 2 },
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

    for code in ["AccessDeniedException", "InternalException", "BadRequestException"] {
        let rule = json!({"rules": [{"operation": "ListMembers", "errorCode": code}]});
        let (status, _) = control(&emu, reqwest::Method::POST, "/_emulator/faults", Some(rule)).await;
        assert_eq!(status, 200);
        assert_eq!(admin.list_members().send().await.unwrap_err().code(), Some(code));
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
    assert_eq!(requests["counts"]["DescribeHub"]["LimitExceededException"], 1);
    assert_eq!(requests["counts"]["ListMembers"]["AccessDeniedException"], 1);
}

/// `afterCommit` latency: the call acts at once and its answer comes late, so a change is
/// visible to others before its caller hears of it; the log names what was left unprocessed.
#[tokio::test]
async fn a_late_answer_acts_first_and_the_log_names_unprocessed_accounts() {
    let emu = start(unlimited()).await;
    let admin = client(&emu, ADMIN);
    let rule = json!({"operation": "CreateMembers", "latencyMs": {"min": 1500, "max": 1500}, "afterCommit": true});
    control(&emu, reqwest::Method::POST, "/_emulator/faults", Some(rule)).await;
    let started = std::time::Instant::now();
    let slow = {
        let admin = admin.clone();
        tokio::spawn(async move { admin.create_members().account_details(details(MEMBER)).send().await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        status_of(&admin, MEMBER).await.as_deref(),
        Some("Created"),
        "acted at once"
    );
    slow.await.unwrap().unwrap();
    assert!(started.elapsed() >= Duration::from_millis(1500), "answered late");
    control(&emu, reqwest::Method::DELETE, "/_emulator/faults", None).await;

    let again = admin
        .create_members()
        .account_details(details(MEMBER))
        .send()
        .await
        .unwrap();
    assert_eq!(again.unprocessed_accounts().len(), 1, "already a member");
    let (_, requests) = control(&emu, reqwest::Method::GET, "/_emulator/requests", None).await;
    let creates: Vec<&Value> = requests["log"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["operation"] == "CreateMembers")
        .collect();
    assert_eq!(creates.len(), 2);
    assert!(creates[0].get("unprocessed").is_none(), "{}", creates[0]);
    assert_eq!(creates[1]["unprocessed"], json!([MEMBER]));
}

#[tokio::test]
async fn missing_member_can_be_bad_request() {
    let config = EmulatorConfig {
        missing_member: MissingMember::BadRequest,
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
    admin.invite_members().account_ids(MEMBER).send().await.unwrap();

    let base = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(emu.url())
        .credentials_provider(credentials(ADMIN))
        .load()
        .await;
    let provider =
        aws_config::sts::AssumeRoleProvider::builder(format!("arn:aws:iam::{MEMBER}:role/SecurityHubMember"))
            .session_name("operator")
            .configure(&base)
            .build()
            .await;
    let creds = provider.provide_credentials().await.expect("assumed credentials");
    assert!(creds.access_key_id().starts_with(&format!("ASIA{MEMBER}")));
    assert!(creds.expiry().is_some());

    let member = client_with(&emu, provider, REGION);
    member.enable_security_hub().send().await.unwrap();
    let invitation = member.list_invitations().send().await.unwrap().invitations()[0].clone();
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
    admin.invite_members().account_ids(MEMBER).send().await.unwrap();
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
    let out = west.list_members().only_associated(false).send().await.unwrap();
    assert!(out.members().is_empty());
}
