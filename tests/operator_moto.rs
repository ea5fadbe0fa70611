//! The operator against a moto server instead of the emulator: a second, independent
//! implementation of the Security Hub API. moto makes members ENABLED as soon as
//! CreateMembers names them (like organization accounts) and answers operations it does
//! not implement (DisassociateMembers, DeleteMembers, InviteMembers, invitations) with a
//! 404 HTML page. The operator must reach Enabled through CreateMembers/GetMembers, report
//! a clear Unsupported condition where moto lacks an operation, and keep serving every
//! other resource.
//!
//! Skipped (with a message) when moto is not installed, except under `CI`, where it fails.

mod support;

use std::time::Duration;

use serde_json::json;
use support::Error;
use support::TestCluster;
use support::moto::{MotoServer, moto_available};
use support::scenario::{
    ADMIN_KEY, Setup, apply_member, aws_client, condition, delete_member, event_reasons, namespace, wait_member,
    wait_ready,
};

const T: Duration = Duration::from_secs(60);
const NS: &str = "t-moto";

#[tokio::test]
async fn operator_against_moto_enables_members_and_reports_what_moto_lacks() -> Result<(), Error> {
    if let Err(why) = moto_available() {
        if std::env::var_os("CI").is_some() {
            return Err(format!("moto is required under CI: {why}").into());
        }
        eprintln!("SKIPPED operator_moto: {why}");
        return Ok(());
    }
    let cluster = TestCluster::with_crd().await?;
    let moto = MotoServer::start(cluster.dir()).await?;

    // The administrator: whatever account moto's caller is (its default account, whatever
    // the access key says). Read it back from the hub ARN instead of assuming it.
    let admin = aws_client(moto.url(), ADMIN_KEY, "us-east-1");
    admin.enable_security_hub().send().await?;
    let hub = admin.describe_hub().send().await?;
    let hub_arn = hub.hub_arn().ok_or("moto returned no HubArn")?.to_string();
    let admin_account = hub_arn.split(':').nth(4).unwrap_or_default().to_string();
    eprintln!("moto's caller account is {admin_account} ({hub_arn})");
    assert_eq!(admin_account.len(), 12, "an account id in {hub_arn}");
    let (enabled, deleted, later) = ("210000000001", "210000000002", "210000000003");
    for member in [enabled, deleted, later] {
        assert_ne!(member, admin_account, "members must not be the administrator itself");
    }

    let operator = Setup::new("moto")
        .operator(&["--resync-enabled=5s"])
        .operator_on(&cluster, moto.url())
        .await?;
    let client = cluster.client().await?;
    namespace(&client, NS).await?;

    // An organization-style member: CreateMembers, then GetMembers shows it ENABLED.
    apply_member(
        &client,
        NS,
        "enabled",
        json!({"accountId": enabled, "regions": ["us-east-1"], "deletionPolicy": "Retain"}),
    )
    .await?;
    let obj = wait_ready(&client, NS, "enabled", "True", "Enabled", T)
        .await
        .map_err(|e| format!("{e}\noperator log:\n{}", operator.log_text()))?;
    // docs/crd-reference.md: memberStatus is shown exactly as AWS reports it (moto says ENABLED);
    // the decision compares it case-insensitively.
    assert_eq!(
        obj.status.as_ref().and_then(|s| s.member_status.as_deref()),
        Some("ENABLED")
    );
    let listed = admin.get_members().account_ids(enabled).send().await?;
    assert_eq!(
        listed.members().first().and_then(|m| m.member_status()),
        Some("ENABLED"),
        "moto holds the member"
    );

    // A member whose deletion needs DisassociateMembers, which moto lacks.
    apply_member(
        &client,
        NS,
        "deleted",
        json!({"accountId": deleted, "regions": ["us-east-1"], "deletionPolicy": "Delete"}),
    )
    .await?;
    wait_ready(&client, NS, "deleted", "True", "Enabled", T).await?;
    delete_member(&client, NS, "deleted").await?;
    let obj = wait_ready(&client, NS, "deleted", "False", "Unsupported", T).await?;
    let (_, _, message) = condition(&obj, "Ready").ok_or("no Ready condition")?;
    assert!(
        message.contains("DisassociateMembers") && message.contains("does not implement"),
        "the condition names the missing operation: {message}"
    );
    let reasons = event_reasons(&client, NS, "deleted").await?;
    assert!(
        reasons.iter().any(|r| r == "Unsupported"),
        "a Warning Event names it: {reasons:?}"
    );
    assert!(
        obj.metadata.deletion_timestamp.is_some(),
        "the finalizer keeps the resource while the membership exists"
    );

    // The operator keeps serving everything else: a new member becomes Ready, the first
    // stays Ready through its resyncs, and the process never exited.
    apply_member(
        &client,
        NS,
        "later",
        json!({"accountId": later, "regions": ["us-east-1"], "deletionPolicy": "Retain"}),
    )
    .await?;
    wait_ready(&client, NS, "later", "True", "Enabled", T).await?;
    tokio::time::sleep(Duration::from_secs(6)).await;
    wait_ready(&client, NS, "enabled", "True", "Enabled", Duration::from_secs(5)).await?;
    wait_member(
        &client,
        NS,
        "deleted",
        Duration::from_secs(5),
        "still Unsupported",
        |o| condition(o, "Ready").is_some_and(|(s, r, _)| s == "False" && r == "Unsupported"),
    )
    .await?;
    assert!(operator.is_running(), "the operator kept running");
    let still = admin.get_members().account_ids(deleted).send().await?;
    assert_eq!(still.members().len(), 1, "the membership was left in moto as it was");
    Ok(())
}
