//! The reconciler end to end: a real kube-apiserver, the emulator and the operator binary
//! as it ships. One environment serves the whole binary; every test has its own
//! namespace and accounts, and reads the emulator's request log for its accounts only.

mod support;

use std::time::Duration;

use serde_json::json;
use support::Error;
use support::scenario::{
    Env, Setup, apply_member, condition, create_member, delete_member, event_reasons, namespace, patch_spec, wait_gone,
    wait_member, wait_ready,
};
use support::wait::poll;
use tokio::sync::OnceCell;

static ENV: OnceCell<Env> = OnceCell::const_new();
const T: Duration = Duration::from_secs(60);

/// Accounts that accept their invitation on their own after a second.
const AUTO_ACCEPT: [&str; 4] = ["200000000004", "200000000005", "200000000006", "200000000011"];
/// Organization accounts (enabled directly by CreateMembers).
const ORG: [&str; 4] = ["200000000002", "200000000009", "200000000010", "200000000012"];

async fn env() -> Result<&'static Env, Error> {
    ENV.get_or_try_init(|| async {
        let mut emulator_args = vec!["--auto-accept-after", "1s"];
        for a in AUTO_ACCEPT {
            emulator_args.extend(["--auto-accept-account", a]);
        }
        for a in ORG {
            emulator_args.extend(["--org-account", a]);
        }
        Setup::new("shared")
            .emulator(&emulator_args)
            .operator(&["--reinvite-backoff=1s"])
            .start()
            .await
    })
    .await
}

#[tokio::test]
async fn invited_account_goes_created_invited_enabled() -> Result<(), Error> {
    let env = env().await?;
    let client = env.client().await?;
    namespace(&client, "t-invite").await?;
    let acct = "200000000001";
    apply_member(
        &client,
        "t-invite",
        "payments",
        json!({"accountId": acct, "email": "root@payments.example", "regions": ["us-east-1"]}),
    )
    .await?;
    let obj = wait_ready(&client, "t-invite", "payments", "False", "AwaitingAcceptance", T).await?;
    let region = &obj.status.as_ref().ok_or("no status")?.regions[0];
    assert_eq!(region.member_status.as_deref(), Some("Invited"));
    assert_eq!(region.administrator_id.as_deref(), Some("111111111111"));
    assert_eq!(
        env.emulator.member_status(acct, "us-east-1").await?.as_deref(),
        Some("Invited")
    );
    let ops: Vec<String> = env
        .emulator
        .history(acct)
        .await?
        .into_iter()
        .map(|(op, _)| op)
        .filter(|op| op != "GetMembers")
        .collect();
    assert_eq!(ops, vec!["CreateMembers", "InviteMembers"], "created, then invited");

    env.emulator.member_action(acct, "accept", "us-east-1").await?;
    let out = env.cluster.kubectl(&[
        "wait",
        "--for=condition=Ready",
        "shm/payments",
        "-n",
        "t-invite",
        "--timeout=60s",
    ])?;
    assert!(
        out.status.success(),
        "kubectl wait: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let obj = wait_ready(&client, "t-invite", "payments", "True", "Enabled", T).await?;
    assert_eq!(
        obj.status.as_ref().and_then(|s| s.member_status.as_deref()),
        Some("Enabled")
    );
    let reasons = event_reasons(&client, "t-invite", "payments").await?;
    // Every Ready transition in status is announced. (The claim before CreateMembers went to the
    // claim journal, not to status, so there was no Creating status to announce.)
    for step in ["AwaitingAcceptance", "Enabled"] {
        assert!(reasons.iter().any(|r| r == step), "event {step} missing in {reasons:?}");
    }
    Ok(())
}

#[tokio::test]
async fn organization_account_is_enabled_without_invitation() -> Result<(), Error> {
    let env = env().await?;
    let client = env.client().await?;
    namespace(&client, "t-org").await?;
    let acct = "200000000002";
    apply_member(
        &client,
        "t-org",
        "shared",
        json!({"accountId": acct, "regions": ["us-east-1"]}),
    )
    .await?;
    wait_ready(&client, "t-org", "shared", "True", "Enabled", T).await?;
    assert_eq!(env.emulator.calls_for("CreateMembers", acct).await?, 1);
    assert_eq!(
        env.emulator.calls_for("InviteMembers", acct).await?,
        0,
        "organization accounts get no invitation"
    );
    Ok(())
}

#[tokio::test]
async fn accept_invitation_accepts_only_our_administrators_invitation() -> Result<(), Error> {
    let env = env().await?;
    let client = env.client().await?;
    namespace(&client, "t-accept").await?;
    let acct = "200000000003";
    // Another administrator invites the account first: the member then holds an older
    // invitation that the operator must not accept.
    let other = env.aws_as("AKIA999999999999EXAM", "us-east-1");
    other.enable_security_hub().send().await?;
    create_member(&other, acct).await?;
    other.invite_members().account_ids(acct).send().await?;
    apply_member(
        &client,
        "t-accept",
        "sandbox",
        json!({"accountId": acct, "regions": ["us-east-1"],
               "acceptInvitation": {"roleArn": format!("arn:aws:iam::{acct}:role/SecurityHubAcceptInvitation"), "enableSecurityHub": true}}),
    )
    .await?;
    wait_ready(&client, "t-accept", "sandbox", "True", "Enabled", T).await?;
    let member = env.aws_as(&format!("AKIA{acct}EXAM"), "us-east-1");
    let admin = member.get_administrator_account().send().await?;
    assert_eq!(admin.administrator().and_then(|i| i.account_id()), Some("111111111111"));
    let state = env.emulator.get("/_emulator/state").await?;
    let theirs = state["members"]["999999999999"]["us-east-1"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        theirs
            .iter()
            .any(|m| m["accountId"] == acct && m["status"] == "Invited"),
        "the other administrator's invitation stays unanswered: {theirs:?}"
    );
    Ok(())
}

#[tokio::test]
async fn two_regions_report_per_region_and_removing_one_disassociates_there_only() -> Result<(), Error> {
    let env = env().await?;
    let client = env.client().await?;
    namespace(&client, "t-regions").await?;
    let acct = "200000000004";
    apply_member(
        &client,
        "t-regions",
        "analytics",
        json!({"accountId": acct, "regions": ["us-east-1", "eu-west-1"]}),
    )
    .await?;
    let obj = wait_ready(&client, "t-regions", "analytics", "True", "Enabled", T).await?;
    let regions: Vec<_> = obj
        .status
        .as_ref()
        .ok_or("no status")?
        .regions
        .iter()
        .map(|r| (r.region.clone(), r.member_status.clone()))
        .collect();
    assert_eq!(
        regions,
        vec![
            ("eu-west-1".to_string(), Some("Enabled".to_string())),
            ("us-east-1".to_string(), Some("Enabled".to_string()))
        ]
    );
    patch_spec(&client, "t-regions", "analytics", json!({"regions": ["us-east-1"]})).await?;
    wait_member(
        &client,
        "t-regions",
        "analytics",
        T,
        "eu-west-1 gone from status",
        |o| {
            o.status
                .as_ref()
                .is_some_and(|s| s.regions.len() == 1 && s.regions[0].region == "us-east-1")
        },
    )
    .await?;
    let history = env.emulator.history(acct).await?;
    let writes_in = |region: &str| {
        history
            .iter()
            .filter(|(op, r)| r == region && (op == "DisassociateMembers" || op == "DeleteMembers"))
            .count()
    };
    assert!(
        history.contains(&("DisassociateMembers".to_string(), "eu-west-1".to_string())),
        "{history:?}"
    );
    assert_eq!(writes_in("us-east-1"), 0, "us-east-1 untouched: {history:?}");
    assert_eq!(
        env.emulator.member_status(acct, "us-east-1").await?.as_deref(),
        Some("Enabled")
    );
    Ok(())
}

#[tokio::test]
async fn removed_out_of_band_is_reinvited() -> Result<(), Error> {
    let env = env().await?;
    let client = env.client().await?;
    namespace(&client, "t-removed").await?;
    let acct = "200000000005";
    apply_member(
        &client,
        "t-removed",
        "m",
        json!({"accountId": acct, "regions": ["us-east-1"]}),
    )
    .await?;
    wait_ready(&client, "t-removed", "m", "True", "Enabled", T).await?;
    env.aws_as("AKIA111111111111EXAM", "us-east-1")
        .disassociate_members()
        .account_ids(acct)
        .send()
        .await?;
    wait_member(&client, "t-removed", "m", T, "a second invitation", |_| true).await?;
    poll("a second invitation", T, || async {
        Ok(env.emulator.calls_for("InviteMembers", acct).await? >= 2)
    })
    .await?;
    assert_eq!(
        env.emulator.calls_for("InviteMembers", acct).await?,
        2,
        "re-invited once after removal"
    );
    wait_ready(&client, "t-removed", "m", "True", "Enabled", T).await?;
    Ok(())
}

#[tokio::test]
async fn resigned_is_reported_and_reinvited_only_with_always() -> Result<(), Error> {
    let env = env().await?;
    let client = env.client().await?;
    namespace(&client, "t-resigned").await?;
    let acct = "200000000006";
    apply_member(
        &client,
        "t-resigned",
        "m",
        json!({"accountId": acct, "regions": ["us-east-1"]}),
    )
    .await?;
    wait_ready(&client, "t-resigned", "m", "True", "Enabled", T).await?;
    env.emulator.member_action(acct, "resign", "us-east-1").await?;
    let obj = wait_ready(&client, "t-resigned", "m", "False", "Resigned", T).await?;
    assert!(
        condition(&obj, "Ready").is_some_and(|(_, _, m)| m.contains("reinvite")),
        "message names the next step"
    );
    // Several resyncs later there is still only the first invitation.
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert_eq!(
        env.emulator.calls_for("InviteMembers", acct).await?,
        1,
        "no invitation for a Resigned member by default"
    );
    patch_spec(&client, "t-resigned", "m", json!({"reinvite": "Always"})).await?;
    poll("a second invitation", T, || async {
        Ok(env.emulator.calls_for("InviteMembers", acct).await? >= 2)
    })
    .await?;
    assert_eq!(
        env.emulator.calls_for("InviteMembers", acct).await?,
        2,
        "reinvite: Always invites again"
    );
    Ok(())
}

#[tokio::test]
async fn processing_result_is_shown_verbatim_and_cleared_after_success() -> Result<(), Error> {
    let env = env().await?;
    let client = env.client().await?;
    namespace(&client, "t-unprocessed").await?;
    let acct = "200000000007";
    // The account is an enabled member of another administrator.
    let other = env.aws_as("AKIA888888888888EXAM", "us-east-1");
    other.enable_security_hub().send().await?;
    create_member(&other, acct).await?;
    other.invite_members().account_ids(acct).send().await?;
    env.emulator.member_action(acct, "accept", "us-east-1").await?;
    // What AWS says to anyone else who tries to add it, verbatim.
    let third = env.aws_as("AKIA777777777777EXAM", "us-east-1");
    third.enable_security_hub().send().await?;
    let refused = create_member(&third, acct).await?;
    let expected = refused
        .unprocessed_accounts()
        .first()
        .and_then(|r| r.processing_result())
        .ok_or("emulator accepted the account")?
        .to_string();

    apply_member(
        &client,
        "t-unprocessed",
        "m",
        json!({"accountId": acct, "regions": ["us-east-1"], "invite": false}),
    )
    .await?;
    let obj = wait_ready(&client, "t-unprocessed", "m", "False", "Unprocessed", T).await?;
    let shown = obj
        .status
        .as_ref()
        .and_then(|s| s.regions.first())
        .and_then(|r| r.processing_result.clone());
    assert_eq!(shown.as_deref(), Some(expected.as_str()));
    assert!(condition(&obj, "Ready").is_some_and(|(_, _, m)| m.contains(&expected)));

    // The member leaves the other administrator; the retry succeeds and clears it.
    env.aws_as(&format!("AKIA{acct}EXAM"), "us-east-1")
        .disassociate_from_administrator_account()
        .send()
        .await?;
    let obj = wait_ready(
        &client,
        "t-unprocessed",
        "m",
        "True",
        "Enabled",
        Duration::from_secs(90),
    )
    .await?;
    assert_eq!(
        obj.status
            .as_ref()
            .and_then(|s| s.regions.first())
            .and_then(|r| r.processing_result.clone()),
        None
    );
    Ok(())
}

#[tokio::test]
async fn existing_member_needs_adopt() -> Result<(), Error> {
    let env = env().await?;
    let client = env.client().await?;
    namespace(&client, "t-adopt").await?;
    let acct = "200000000009";
    let admin = env.aws_as("AKIA111111111111EXAM", "us-east-1");
    create_member(&admin, acct).await?;
    apply_member(
        &client,
        "t-adopt",
        "m",
        json!({"accountId": acct, "regions": ["us-east-1"]}),
    )
    .await?;
    let obj = wait_ready(&client, "t-adopt", "m", "False", "AlreadyExists", T).await?;
    assert!(condition(&obj, "Ready").is_some_and(|(_, _, m)| m.contains("adopt")));
    tokio::time::sleep(Duration::from_secs(3)).await;
    let writes: Vec<_> = env
        .emulator
        .history(acct)
        .await?
        .into_iter()
        .filter(|(op, _)| op != "GetMembers")
        .collect();
    assert_eq!(
        writes,
        vec![("CreateMembers".to_string(), "us-east-1".to_string())],
        "only our own set-up call: untouched"
    );
    patch_spec(&client, "t-adopt", "m", json!({"adopt": true})).await?;
    let obj = wait_ready(&client, "t-adopt", "m", "True", "Enabled", T).await?;
    assert!(
        obj.status.as_ref().is_some_and(|s| s.regions[0].managed),
        "adopted members are managed"
    );
    assert_eq!(
        env.emulator.calls_for("CreateMembers", acct).await?,
        1,
        "adoption creates nothing"
    );
    Ok(())
}

#[tokio::test]
async fn duplicate_in_another_namespace_conflicts_and_its_deletion_changes_nothing() -> Result<(), Error> {
    let env = env().await?;
    let client = env.client().await?;
    namespace(&client, "t-conflict-a").await?;
    namespace(&client, "t-conflict-b").await?;
    let acct = "200000000010";
    apply_member(
        &client,
        "t-conflict-a",
        "owner",
        json!({"accountId": acct, "regions": ["us-east-1"]}),
    )
    .await?;
    wait_ready(&client, "t-conflict-a", "owner", "True", "Enabled", T).await?;
    apply_member(
        &client,
        "t-conflict-b",
        "intruder",
        json!({"accountId": acct, "regions": ["us-east-1"], "adopt": true}),
    )
    .await?;
    let obj = wait_ready(&client, "t-conflict-b", "intruder", "False", "Conflict", T).await?;
    assert!(
        condition(&obj, "Ready").is_some_and(|(_, _, m)| m.contains("t-conflict-a/owner")),
        "names the owner"
    );
    delete_member(&client, "t-conflict-b", "intruder").await?;
    wait_gone(&client, "t-conflict-b", "intruder", T).await?;
    let history = env.emulator.history(acct).await?;
    assert!(
        !history
            .iter()
            .any(|(op, _)| op == "DisassociateMembers" || op == "DeleteMembers"),
        "{history:?}"
    );
    assert_eq!(
        env.emulator.member_status(acct, "us-east-1").await?.as_deref(),
        Some("Enabled")
    );
    wait_ready(&client, "t-conflict-a", "owner", "True", "Enabled", T).await?;
    Ok(())
}

#[tokio::test]
async fn deletion_policy_delete_disassociates_then_deletes_and_retain_calls_nothing() -> Result<(), Error> {
    let env = env().await?;
    let client = env.client().await?;
    namespace(&client, "t-delete").await?;
    let (gone, kept) = ("200000000011", "200000000012");
    apply_member(
        &client,
        "t-delete",
        "gone",
        json!({"accountId": gone, "regions": ["us-east-1"]}),
    )
    .await?;
    apply_member(
        &client,
        "t-delete",
        "kept",
        json!({"accountId": kept, "regions": ["us-east-1"], "deletionPolicy": "Retain"}),
    )
    .await?;
    wait_ready(&client, "t-delete", "gone", "True", "Enabled", T).await?;
    wait_ready(&client, "t-delete", "kept", "True", "Enabled", T).await?;
    delete_member(&client, "t-delete", "gone").await?;
    delete_member(&client, "t-delete", "kept").await?;
    wait_gone(&client, "t-delete", "gone", T).await?;
    wait_gone(&client, "t-delete", "kept", T).await?;
    let ops: Vec<String> = env
        .emulator
        .history(gone)
        .await?
        .into_iter()
        .map(|(op, _)| op)
        .filter(|op| op.ends_with("Members") && op != "GetMembers")
        .collect();
    assert_eq!(
        ops,
        vec!["CreateMembers", "InviteMembers", "DisassociateMembers", "DeleteMembers"]
    );
    assert_eq!(
        env.emulator.member_status(gone, "us-east-1").await?,
        None,
        "deleted in AWS"
    );
    let kept_ops: Vec<String> = env
        .emulator
        .history(kept)
        .await?
        .into_iter()
        .map(|(op, _)| op)
        .collect();
    assert!(
        !kept_ops
            .iter()
            .any(|op| op == "DisassociateMembers" || op == "DeleteMembers"),
        "{kept_ops:?}"
    );
    assert_eq!(
        env.emulator.member_status(kept, "us-east-1").await?.as_deref(),
        Some("Enabled")
    );
    Ok(())
}
