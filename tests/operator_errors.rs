//! Terminal AWS errors end to end: AccessDenied and "Security Hub not enabled in the
//! administrator" each put Ready False with a reason naming the cause, and fixing the
//! cause heals the resource without restarting the operator (the same process recovers,
//! on its per-object backoff: 5 s, doubling).
//!
//! Each test has its own cluster, emulator and operator, because each needs the emulator
//! in a different starting state.

mod support;

use std::time::Duration;

use serde_json::json;
use support::Error;
use support::scenario::{ADMIN_KEY, Setup, apply_member, condition, event_reasons, namespace, wait_ready};

/// How long a failing resource may take to report its failure.
const FAIL: Duration = Duration::from_secs(60);
/// How long recovery may take: a few backoff steps (5 s, 10 s, 20 s, ...) plus margin.
const RECOVER: Duration = Duration::from_secs(90);

#[tokio::test]
async fn access_denied_is_reported_and_heals_once_the_permission_returns() -> Result<(), Error> {
    let acct = "300000000001";
    let env = Setup::new("denied").emulator(&["--org-account", acct]).start().await?;
    let client = env.client().await?;
    namespace(&client, "t-denied").await?;
    let pid = env.operator.pid();

    // Every Security Hub call is refused, as when the IAM policy lacks the actions.
    env.emulator
        .set_faults(json!({"rules": [{
            "operation": "*",
            "errorCode": "AccessDeniedException",
            "message": "User: arn:aws:iam::111111111111:role/securityhub-operator is not authorized to perform this action",
            "probability": 1.0,
        }]}))
        .await?;
    apply_member(
        &client,
        "t-denied",
        "m",
        json!({"accountId": acct, "regions": ["us-east-1"]}),
    )
    .await?;
    let obj = wait_ready(&client, "t-denied", "m", "False", "AccessDenied", FAIL).await?;
    let (_, _, message) = condition(&obj, "Ready").ok_or("no Ready condition")?;
    assert!(
        message.contains("AccessDeniedException") && message.contains("iam-policy"),
        "the message names the AWS error and the fix: {message}"
    );
    assert!(
        condition(&obj, "Synced").is_some_and(|(s, r, _)| s == "False" && r == "AccessDenied"),
        "Synced names it too: {:?}",
        obj.status
    );
    let denied = env
        .emulator
        .log()
        .await?
        .iter()
        .filter(|e| e["outcome"] == "AccessDeniedException")
        .count();
    assert!(denied > 0, "the emulator refused at least one call");
    let reasons = event_reasons(&client, "t-denied", "m").await?;
    assert!(
        reasons.iter().any(|r| r == "AccessDenied"),
        "a Warning Event names it: {reasons:?}"
    );
    assert_eq!(
        env.emulator.member_status(acct, "us-east-1").await?,
        None,
        "nothing happened in AWS"
    );

    // The permission returns: the same operator process heals the resource.
    env.emulator.clear_faults().await?;
    let obj = wait_ready(&client, "t-denied", "m", "True", "Enabled", RECOVER).await?;
    assert!(
        condition(&obj, "Synced").is_some_and(|(s, _, _)| s == "True"),
        "Synced recovers: {:?}",
        obj.status
    );
    assert_eq!(
        env.emulator.member_status(acct, "us-east-1").await?.as_deref(),
        Some("Enabled")
    );
    assert_eq!(env.emulator.calls_for("CreateMembers", acct).await?, 1);
    assert!(env.operator.is_running(), "the operator never exited");
    assert_eq!(env.operator.pid(), pid, "no restart");
    Ok(())
}

#[tokio::test]
async fn security_hub_not_enabled_in_the_administrator_is_reported_and_heals_once_enabled() -> Result<(), Error> {
    let acct = "300000000002";
    let env = Setup::new("nohub")
        .emulator(&["--admin-hub-disabled", "--org-account", acct])
        .start()
        .await?;
    let client = env.client().await?;
    namespace(&client, "t-nohub").await?;
    let pid = env.operator.pid();

    apply_member(
        &client,
        "t-nohub",
        "m",
        json!({"accountId": acct, "regions": ["us-east-1"]}),
    )
    .await?;
    let obj = wait_ready(&client, "t-nohub", "m", "False", "SecurityHubNotEnabled", FAIL).await?;
    let (_, _, message) = condition(&obj, "Ready").ok_or("no Ready condition")?;
    assert!(
        message.contains("not subscribed") && message.contains("EnableSecurityHub"),
        "the message carries AWS's words and the fix: {message}"
    );
    let reasons = event_reasons(&client, "t-nohub", "m").await?;
    assert!(
        reasons.iter().any(|r| r == "SecurityHubNotEnabled"),
        "a Warning Event names it: {reasons:?}"
    );
    assert_eq!(env.emulator.member_status(acct, "us-east-1").await?, None);

    // The administrator enables Security Hub: the same operator process heals the resource.
    env.aws_as(ADMIN_KEY, "us-east-1").enable_security_hub().send().await?;
    wait_ready(&client, "t-nohub", "m", "True", "Enabled", RECOVER).await?;
    assert_eq!(
        env.emulator.member_status(acct, "us-east-1").await?.as_deref(),
        Some("Enabled")
    );
    assert_eq!(env.emulator.calls_for("InviteMembers", acct).await?, 0);
    assert!(env.operator.is_running(), "the operator never exited");
    assert_eq!(env.operator.pid(), pid, "no restart");
    Ok(())
}
