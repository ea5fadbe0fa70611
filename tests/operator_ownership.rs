//! Ownership is exact, against a real API server, the emulator and the shipped binary: a
//! member this operator did not create is never invited or removed, and one it created is
//! never forgotten — through refused and lost creates, out-of-band removals and deletions,
//! a crash with an edit or a deletion before the status write, and a hand-over between
//! resources naming the same account.

mod support;

use std::time::Duration;

use kube::api::{Patch, PatchParams};
use serde_json::json;
use support::Error;
use support::cluster::TestCluster;
use support::scenario::{
    ADMIN_KEY, Setup, Stack, apply_member, aws_client, condition, create_member, delete_member, members, namespace,
    wait_gone, wait_member, wait_ready,
};
use support::wait::poll;

const REGION: &str = "us-east-1";

/// A cluster with the CRD and namespace `ns`, and a stack whose operator watches it
/// (resyncs every 2 s, whatever the member's state).
async fn start(ns: &str, emulator_args: &[&str], extra: &[&str]) -> Result<(TestCluster, Stack), Error> {
    let cluster = TestCluster::with_crd().await?;
    namespace(&cluster.client().await?, ns).await?;
    let stack = Setup::new(ns)
        .operator(&[format!("--watch-namespace={ns}"), "--resync-enabled=2s".to_string()])
        .operator(extra)
        .emulator(emulator_args)
        .stack(&cluster)
        .await?;
    Ok((cluster, stack))
}

fn managed(obj: &securityhub_operator::api::SecurityHubMember) -> Option<bool> {
    obj.status
        .as_ref()?
        .regions
        .iter()
        .find(|r| r.region == REGION)
        .map(|r| r.managed)
}

fn processing_result(obj: &securityhub_operator::api::SecurityHubMember) -> Option<String> {
    obj.status
        .as_ref()?
        .regions
        .iter()
        .find(|r| r.region == REGION)?
        .processing_result
        .clone()
}

fn reason(obj: &securityhub_operator::api::SecurityHubMember) -> String {
    condition(obj, "Ready").map(|(_, r, _)| r).unwrap_or_default()
}

/// CreateMembers carried out but its answer lost: the member is still ours (invited, and
/// removed when the resource goes), and the create was not sent again.
#[tokio::test]
async fn a_create_whose_answer_was_lost_keeps_the_member_ours() -> Result<(), Error> {
    const NS: &str = "t-own-lost";
    const ACCOUNT: &str = "330000000001";
    let (cluster, stack) = start(NS, &[], &[]).await?;
    let client = cluster.client().await?;
    stack
        .emulator
        .set_faults(json!([{"operation": "CreateMembers", "serverErrorRate": 1.0, "afterCommit": true, "times": 1}]))
        .await?;
    apply_member(&client, NS, "m", json!({"accountId": ACCOUNT, "regions": [REGION]})).await?;
    let obj = wait_member(&client, NS, "m", Duration::from_secs(60), "invited as ours", |o| {
        reason(o) == "AwaitingAcceptance" || reason(o) == "AlreadyExists"
    })
    .await?;
    assert_eq!(reason(&obj), "AwaitingAcceptance", "{:?}", obj.status);
    assert_eq!(managed(&obj), Some(true));
    let creates = stack
        .emulator
        .history(ACCOUNT)
        .await?
        .iter()
        .filter(|(op, _)| op == "CreateMembers")
        .count();
    assert_eq!(creates, 1, "sent once, never retried");
    delete_member(&client, NS, "m").await?;
    wait_gone(&client, NS, "m", Duration::from_secs(60)).await?;
    assert_eq!(stack.emulator.member_status(ACCOUNT, REGION).await?, None, "removed");
    Ok(())
}

/// A create AWS refused leaves no claim: when someone else adds the account afterwards, the
/// resource reports AlreadyExists, never invites it, and its deletion leaves it alone.
#[tokio::test]
async fn a_refused_create_leaves_no_claim_on_the_account() -> Result<(), Error> {
    const NS: &str = "t-own-refused";
    const ACCOUNT: &str = "330000000002";
    let (cluster, stack) = start(NS, &[], &[]).await?;
    let client = cluster.client().await?;
    stack
        .emulator
        .set_faults(json!([{"operation": "CreateMembers", "errorCode": "AccessDeniedException", "times": 1}]))
        .await?;
    apply_member(&client, NS, "m", json!({"accountId": ACCOUNT, "regions": [REGION]})).await?;
    let obj = wait_ready(&client, NS, "m", "False", "AccessDenied", Duration::from_secs(60)).await?;
    assert_eq!(managed(&obj), Some(false), "the claim was withdrawn: {:?}", obj.status);
    // Someone else adds the account (the console, Terraform, the organization).
    let admin = aws_client(stack.emulator.url(), ADMIN_KEY, REGION);
    create_member(&admin, ACCOUNT).await?;
    let obj = wait_ready(&client, NS, "m", "False", "AlreadyExists", Duration::from_secs(60)).await?;
    assert_eq!(managed(&obj), Some(false));
    delete_member(&client, NS, "m").await?;
    wait_gone(&client, NS, "m", Duration::from_secs(60)).await?;
    assert_eq!(
        stack.emulator.member_status(ACCOUNT, REGION).await?.as_deref(),
        Some("Created"),
        "a stranger's member is left as it was"
    );
    let history = stack.emulator.history(ACCOUNT).await?;
    for op in ["InviteMembers", "DisassociateMembers", "DeleteMembers"] {
        assert!(!history.iter().any(|(o, _)| o == op), "{op} in {history:?}");
    }
    Ok(())
}

/// An organization account removed outside the operator comes back through CreateMembers
/// (organization accounts never get invitations).
#[tokio::test]
async fn a_removed_organization_account_is_added_again() -> Result<(), Error> {
    const NS: &str = "t-own-org";
    const ACCOUNT: &str = "330000000003";
    let (cluster, stack) = start(NS, &["--org-account", ACCOUNT], &[]).await?;
    let client = cluster.client().await?;
    apply_member(&client, NS, "m", json!({"accountId": ACCOUNT, "regions": [REGION]})).await?;
    wait_ready(&client, NS, "m", "True", "Enabled", Duration::from_secs(60)).await?;
    let admin = aws_client(stack.emulator.url(), ADMIN_KEY, REGION);
    admin.disassociate_members().account_ids(ACCOUNT).send().await?;
    assert_eq!(
        stack.emulator.member_status(ACCOUNT, REGION).await?.as_deref(),
        Some("Removed")
    );
    let emulator = &stack.emulator;
    poll(
        "the organization account enabled again",
        Duration::from_secs(60),
        || async { Ok(emulator.member_status(ACCOUNT, REGION).await?.as_deref() == Some("Enabled")) },
    )
    .await?;
    let obj = wait_ready(&client, NS, "m", "True", "Enabled", Duration::from_secs(60)).await?;
    assert_eq!(managed(&obj), Some(true));
    assert_eq!(emulator.calls_for("CreateMembers", ACCOUNT).await?, 2);
    assert!(
        emulator.calls_for("InviteMembers", ACCOUNT).await? <= 1,
        "at most the one invitation that showed it is an organization account"
    );
    Ok(())
}

/// A member this resource created that someone deletes is added again, as AWS allows.
#[tokio::test]
async fn a_deleted_member_of_ours_is_added_again() -> Result<(), Error> {
    const NS: &str = "t-own-deleted";
    const ACCOUNT: &str = "330000000004";
    let (cluster, stack) = start(NS, &[], &[]).await?;
    let client = cluster.client().await?;
    apply_member(
        &client,
        NS,
        "m",
        json!({"accountId": ACCOUNT, "regions": [REGION], "invite": false}),
    )
    .await?;
    wait_ready(&client, NS, "m", "True", "Enabled", Duration::from_secs(60)).await?;
    stack.emulator.seed(ACCOUNT, REGION, "Deleted").await?;
    let emulator = &stack.emulator;
    poll("the member created again", Duration::from_secs(60), || async {
        Ok(emulator.calls_for("CreateMembers", ACCOUNT).await? == 2)
    })
    .await?;
    let obj = wait_ready(&client, NS, "m", "True", "Enabled", Duration::from_secs(60)).await?;
    assert_eq!(managed(&obj), Some(true));
    assert_eq!(
        emulator.member_status(ACCOUNT, REGION).await?.as_deref(),
        Some("Created")
    );
    Ok(())
}

/// Killed between CreateMembers and the status write, then the resource is edited (or
/// deleted) before the restart: the journal's claim still stands, so the edited resource
/// keeps its member and the deleted one removes it.
#[tokio::test]
async fn a_journaled_claim_survives_an_edit_and_a_deletion_before_the_restart() -> Result<(), Error> {
    const NS: &str = "t-own-journal";
    const EDITED: &str = "330000000005";
    const DELETED: &str = "330000000006";
    let (cluster, stack) = start(NS, &[], &[]).await?;
    let client = cluster.client().await?;
    let emulator = &stack.emulator;
    // The invitation after the create hangs: the operator dies before its status write.
    emulator
        .set_faults(json!([{"operation": "InviteMembers", "latencyMs": {"min": 30000, "max": 30000}}]))
        .await?;
    for (name, account) in [("edited", EDITED), ("deleted", DELETED)] {
        apply_member(&client, NS, name, json!({"accountId": account, "regions": [REGION]})).await?;
    }
    poll("both creates", Duration::from_secs(30), || async {
        Ok(emulator.calls_for("CreateMembers", EDITED).await? > 0
            && emulator.calls_for("CreateMembers", DELETED).await? > 0)
    })
    .await?;
    stack.kill_operator();
    emulator.clear_faults().await?;
    let label = json!({"metadata": {"labels": {"team": "payments"}}});
    members(&client, NS)
        .patch("edited", &PatchParams::default(), &Patch::Merge(&label))
        .await?;
    delete_member(&client, NS, "deleted").await?;
    stack.start_operator().await?;
    let obj = wait_member(&client, NS, "edited", Duration::from_secs(60), "a verdict", |o| {
        reason(o) == "AwaitingAcceptance" || reason(o) == "AlreadyExists"
    })
    .await?;
    assert_eq!(reason(&obj), "AwaitingAcceptance", "{:?}", obj.status);
    assert_eq!(managed(&obj), Some(true));
    wait_gone(&client, NS, "deleted", Duration::from_secs(60)).await?;
    assert_eq!(
        emulator.member_status(DELETED, REGION).await?,
        None,
        "the member the deleted resource created is removed"
    );
    Ok(())
}

/// Two resources name one account: when the owner is deleted, the other takes over within
/// seconds, not at its next resync (five minutes here).
#[tokio::test]
async fn the_next_claimant_takes_over_once_the_owner_is_gone() -> Result<(), Error> {
    const NS: &str = "t-own-handover";
    const ACCOUNT: &str = "330000000007";
    let (cluster, stack) = start(NS, &[], &["--resync-pending=5m"]).await?;
    let client = cluster.client().await?;
    let spec = json!({"accountId": ACCOUNT, "regions": [REGION], "invite": false});
    apply_member(&client, NS, "first", spec.clone()).await?;
    wait_ready(&client, NS, "first", "True", "Enabled", Duration::from_secs(60)).await?;
    apply_member(&client, NS, "second", spec).await?;
    wait_ready(&client, NS, "second", "False", "Conflict", Duration::from_secs(60)).await?;
    delete_member(&client, NS, "first").await?;
    wait_gone(&client, NS, "first", Duration::from_secs(60)).await?;
    let obj = wait_ready(&client, NS, "second", "True", "Enabled", Duration::from_secs(20)).await?;
    assert_eq!(managed(&obj), Some(true));
    assert_eq!(
        stack.emulator.calls_for("CreateMembers", ACCOUNT).await?,
        2,
        "removed, then added by the next owner"
    );
    Ok(())
}

/// An older resource adds a region in which a newer one created the member: the older
/// becomes the owner and takes the member over (not AlreadyExists), the newer lets go of
/// it, and the member is removed when its new owner is deleted.
#[tokio::test]
async fn an_older_resource_that_takes_a_region_over_inherits_its_member() -> Result<(), Error> {
    const NS: &str = "t-own-inherit";
    const ACCOUNT: &str = "330000000008";
    const OTHER: &str = "eu-west-1";
    let (cluster, stack) = start(NS, &[], &[]).await?;
    let client = cluster.client().await?;
    let spec = |regions: &[&str]| json!({"accountId": ACCOUNT, "regions": regions, "invite": false});
    apply_member(&client, NS, "older", spec(&[OTHER])).await?;
    wait_ready(&client, NS, "older", "True", "Enabled", Duration::from_secs(60)).await?;
    // Creation times have a resolution of one second; a tie would go by name.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    apply_member(&client, NS, "newer", spec(&[REGION])).await?;
    wait_ready(&client, NS, "newer", "True", "Enabled", Duration::from_secs(60)).await?;

    apply_member(&client, NS, "older", spec(&[OTHER, REGION])).await?;
    let obj = wait_member(
        &client,
        NS,
        "older",
        Duration::from_secs(60),
        "a verdict on both regions",
        |o| {
            o.status.as_ref().is_some_and(|s| s.regions.len() == 2)
                && (reason(o) == "Enabled" || reason(o) == "AlreadyExists")
        },
    )
    .await?;
    assert_eq!(reason(&obj), "Enabled", "{:?}", obj.status);
    assert_eq!(managed(&obj), Some(true), "taken over");
    let obj = wait_member(
        &client,
        NS,
        "newer",
        Duration::from_secs(60),
        "the duplicate letting go",
        |o| reason(o) == "Conflict" && managed(o) == Some(false),
    )
    .await?;
    assert_eq!(reason(&obj), "Conflict");

    delete_member(&client, NS, "newer").await?;
    wait_gone(&client, NS, "newer", Duration::from_secs(60)).await?;
    assert_eq!(
        stack.emulator.member_status(ACCOUNT, REGION).await?.as_deref(),
        Some("Created"),
        "the duplicate removes nothing"
    );
    delete_member(&client, NS, "older").await?;
    wait_gone(&client, NS, "older", Duration::from_secs(60)).await?;
    for region in [REGION, OTHER] {
        assert_eq!(
            stack.emulator.member_status(ACCOUNT, region).await?,
            None,
            "{region}: removed by its owner"
        );
    }
    Ok(())
}

/// Narrowing the operator's default `--regions` removes nothing: a resource that took the
/// default keeps (and reports) the member in the dropped region, and removes it only when its
/// own `spec.regions` leaves that region out.
#[tokio::test]
async fn narrowing_the_default_regions_removes_nothing() -> Result<(), Error> {
    const NS: &str = "t-own-default";
    const ACCOUNT: &str = "330000000009";
    const OTHER: &str = "eu-west-1";
    let (cluster, mut stack) = start(NS, &[], &[&format!("--regions={REGION},{OTHER}")]).await?;
    let client = cluster.client().await?;
    apply_member(&client, NS, "m", json!({"accountId": ACCOUNT, "invite": false})).await?;
    let obj = wait_ready(&client, NS, "m", "True", "Enabled", Duration::from_secs(60)).await?;
    assert_eq!(obj.status.as_ref().map(|s| s.regions.len()), Some(2));

    // The same flags as `start` gives, with the narrower default.
    let narrowed = [
        format!("--watch-namespace={NS}"),
        "--resync-enabled=2s".into(),
        format!("--regions={REGION}"),
    ];
    stack
        .restart_with(&narrowed.iter().map(String::as_str).collect::<Vec<_>>())
        .await?;
    let obj = wait_member(
        &client,
        NS,
        "m",
        Duration::from_secs(60),
        "the kept region reported",
        |o| condition(o, "Ready").is_some_and(|(_, _, message)| message.contains("kept")),
    )
    .await?;
    let (status, why, message) = condition(&obj, "Ready").unwrap_or_default();
    assert_eq!((status.as_str(), why.as_str()), ("True", "Enabled"), "{message}");
    assert!(message.contains(OTHER) && message.contains("spec.regions"), "{message}");
    // A few resyncs later the member is still there and nothing removed it.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        stack.emulator.member_status(ACCOUNT, OTHER).await?.as_deref(),
        Some("Created")
    );
    let history = stack.emulator.history(ACCOUNT).await?;
    for op in ["DisassociateMembers", "DeleteMembers"] {
        assert!(!history.iter().any(|(o, _)| o == op), "{op} in {history:?}");
    }

    // The resource's own spec decides: leaving the region out removes it.
    apply_member(
        &client,
        NS,
        "m",
        json!({"accountId": ACCOUNT, "invite": false, "regions": [REGION]}),
    )
    .await?;
    let emulator = &stack.emulator;
    poll("the dropped region removed", Duration::from_secs(60), || async {
        Ok(emulator.member_status(ACCOUNT, OTHER).await?.is_none())
    })
    .await?;
    let obj = wait_member(&client, NS, "m", Duration::from_secs(60), "one region left", |o| {
        o.status.as_ref().is_some_and(|s| s.regions.len() == 1)
    })
    .await?;
    assert_eq!(reason(&obj), "Enabled");
    assert_eq!(
        emulator.member_status(ACCOUNT, REGION).await?.as_deref(),
        Some("Created")
    );
    Ok(())
}

/// DeleteMembers refused because the member is associated again (its status changed while
/// the call was on its way) is not "an organization account, done": the operator reads
/// again, disassociates and deletes, and only then lets the resource go.
#[tokio::test]
async fn a_delete_refused_for_an_associated_member_is_retried_not_taken_as_done() -> Result<(), Error> {
    const NS: &str = "t-own-refused-delete";
    const ACCOUNT: &str = "330000000009";
    let (cluster, stack) = start(NS, &[], &[]).await?;
    let client = cluster.client().await?;
    let spec = json!({"accountId": ACCOUNT, "regions": [REGION], "invite": false});
    apply_member(&client, NS, "m", spec).await?;
    wait_ready(&client, NS, "m", "True", "Enabled", Duration::from_secs(60)).await?;
    let emulator = &stack.emulator;
    emulator
        .set_faults(json!([{"operation": "DeleteMembers", "latencyMs": {"min": 4000, "max": 4000}}]))
        .await?;
    delete_member(&client, NS, "m").await?;
    // The delete is on its way (it waits 4 s) when the member becomes associated.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    emulator.seed(ACCOUNT, REGION, "Enabled").await?;
    emulator.set_faults(json!([])).await?;
    wait_gone(&client, NS, "m", Duration::from_secs(60)).await?;
    assert_eq!(
        emulator.member_status(ACCOUNT, REGION).await?,
        None,
        "removed after all"
    );
    assert!(
        emulator.calls_for("DeleteMembers", ACCOUNT).await? >= 2,
        "the first delete was refused"
    );
    assert!(emulator.calls_for("DisassociateMembers", ACCOUNT).await? >= 1);
    Ok(())
}

/// AWS's upper-case `ACCOUNT_SUSPENDED` reads as a suspended account: reported as such, and
/// the member is not invited.
#[tokio::test]
async fn a_suspended_account_in_upper_case_is_reported_and_not_invited() -> Result<(), Error> {
    const NS: &str = "t-own-suspended";
    const ACCOUNT: &str = "330000000010";
    let (cluster, stack) = start(NS, &[], &[]).await?;
    let client = cluster.client().await?;
    create_member(&aws_client(stack.emulator.url(), ADMIN_KEY, REGION), ACCOUNT).await?;
    stack
        .emulator
        .set_faults(
            json!([{"operation": "*", "corruption": "unknownMemberStatus", "memberStatus": "ACCOUNT_SUSPENDED"}]),
        )
        .await?;
    let spec = json!({"accountId": ACCOUNT, "regions": [REGION], "adopt": true});
    apply_member(&client, NS, "m", spec).await?;
    let obj = wait_ready(&client, NS, "m", "False", "AccountSuspended", Duration::from_secs(60)).await?;
    assert_eq!(managed(&obj), Some(true), "adopted");
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(stack.emulator.calls_for("InviteMembers", ACCOUNT).await?, 0);
    Ok(())
}

/// A refusal shown in `processingResult` does not outlive it: InviteMembers is refused (the
/// account became an administrator itself while the call was on its way), then the account
/// is associated out of band, and Ready=True carries no processingResult from that try.
#[tokio::test]
async fn ready_shows_no_processing_result_from_an_earlier_refusal() -> Result<(), Error> {
    const NS: &str = "t-own-stale-result";
    const ACCOUNT: &str = "330000000013";
    const ITS_MEMBER: &str = "330000000014";
    let (cluster, stack) = start(NS, &[], &[]).await?;
    let client = cluster.client().await?;
    let emulator = &stack.emulator;
    emulator
        .set_faults(json!([{"operation": "InviteMembers", "latencyMs": {"min": 3000, "max": 3000}}]))
        .await?;
    apply_member(&client, NS, "m", json!({"accountId": ACCOUNT, "regions": [REGION]})).await?;
    poll("the member created", Duration::from_secs(60), || async {
        Ok(emulator.member_status(ACCOUNT, REGION).await?.is_some())
    })
    .await?;
    let role =
        |status: &str| json!({"accountId": ITS_MEMBER, "region": REGION, "status": status, "administrator": ACCOUNT});
    emulator.seed_members(json!([role("Enabled")])).await?;
    let obj = wait_member(
        &client,
        NS,
        "m",
        Duration::from_secs(60),
        "the invitation refused",
        |o| processing_result(o).is_some(),
    )
    .await?;
    assert_eq!(condition(&obj, "Ready").map(|c| c.0).as_deref(), Some("False"));
    emulator.clear_faults().await?;
    let ours = json!({"accountId": ACCOUNT, "region": REGION, "status": "Enabled"});
    emulator.seed_members(json!([role("Deleted"), ours])).await?;
    let obj = wait_ready(&client, NS, "m", "True", "Enabled", Duration::from_secs(60)).await?;
    assert_eq!(processing_result(&obj), None, "{:?}", obj.status);
    assert_eq!(managed(&obj), Some(true));
    Ok(())
}

/// With `reinvite: Always` and answers that carry no times at all, a member that declines
/// every invitation is invited again only after each backoff (4 s, then 8 s), not at every
/// resync (2 s).
#[tokio::test]
async fn reinvite_always_keeps_its_backoff_when_aws_reports_no_times() -> Result<(), Error> {
    const NS: &str = "t-own-no-times";
    const ACCOUNT: &str = "330000000011";
    let (cluster, stack) = start(NS, &[], &["--reinvite-backoff=4s"]).await?;
    let client = cluster.client().await?;
    let spec = json!({"accountId": ACCOUNT, "regions": [REGION], "reinvite": "Always"});
    apply_member(&client, NS, "m", spec).await?;
    wait_ready(&client, NS, "m", "False", "AwaitingAcceptance", Duration::from_secs(60)).await?;
    let emulator = &stack.emulator;
    emulator
        .set_faults(json!([{"operation": "*", "corruption": "missingFields"}]))
        .await?;
    let until = std::time::Instant::now() + Duration::from_secs(16);
    while std::time::Instant::now() < until {
        if emulator.member_status(ACCOUNT, REGION).await?.as_deref() == Some("Invited") {
            // Declining races the operator's own reads; a refusal is fine.
            let _ = emulator.member_action(ACCOUNT, "decline", REGION).await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let invites = emulator.calls_for("InviteMembers", ACCOUNT).await?;
    // The first invitation, then about 4 s and 12 s after the first decline.
    assert!((2..=4).contains(&invites), "{invites} invitations in 16 s of declines");
    Ok(())
}

/// Refuses every status write to SecurityHubMembers in `namespaces` (a ValidatingAdmissionPolicy),
/// and waits until the API server enforces it; the returned name lifts it.
async fn block_status_writes(cluster: &TestCluster, namespaces: &[&str]) -> Result<&'static str, Error> {
    const NAME: &str = "test-block-status";
    let manifest = json!({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
         "metadata": {"name": NAME},
         "spec": {"failurePolicy": "Fail",
                  "matchConstraints": {"resourceRules": [{"apiGroups": ["securityhub.operator.dev"],
                      "apiVersions": ["*"], "operations": ["UPDATE"], "resources": ["securityhubmembers/status"]}]},
                  "validations": [{"expression": "false", "message": "status writes are blocked by the test"}]}},
        {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
         "metadata": {"name": NAME},
         "spec": {"policyName": NAME, "validationActions": ["Deny"],
                  "matchResources": {"namespaceSelector": {"matchExpressions": [
                      {"key": "kubernetes.io/metadata.name", "operator": "In", "values": namespaces}]}}}}
    ]});
    let path = cluster.dir().join(format!("{NAME}.json"));
    std::fs::write(&path, manifest.to_string())?;
    let out = cluster.kubectl(&["apply", "-f", &path.to_string_lossy()])?;
    if !out.status.success() {
        return Err(format!("kubectl apply: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    Ok(NAME)
}

/// A claim withdrawn after a refused create stays withdrawn although the status write after
/// it fails: the journal records the withdrawal first. When someone else then adds the
/// account, the resource reports AlreadyExists and nothing is invited.
#[tokio::test]
async fn a_withdrawal_holds_when_the_status_write_after_it_fails() -> Result<(), Error> {
    const NS: &str = "t-own-withdrawn";
    const PROBE: &str = "t-own-withdrawn-probe";
    const ACCOUNT: &str = "330000000012";
    let (cluster, stack) = start(NS, &[], &[]).await?;
    let client = cluster.client().await?;
    namespace(&client, PROBE).await?;
    // A resource nobody reconciles (its namespace is not watched) shows when the block holds.
    let probe = apply_member(&client, PROBE, "probe", json!({"accountId": "330000000099"})).await?;
    let policy = block_status_writes(&cluster, &[NS, PROBE]).await?;
    let probes = members(&client, PROBE);
    poll("status writes refused", Duration::from_secs(30), || {
        let (probes, probe) = (probes.clone(), probe.clone());
        async move {
            let patch = json!({"status": {"observedGeneration": 1}});
            let written = probes
                .patch_status(
                    &probe.metadata.name.clone().unwrap_or_default(),
                    &PatchParams::default(),
                    &Patch::Merge(&patch),
                )
                .await;
            Ok(written.is_err())
        }
    })
    .await?;
    let emulator = &stack.emulator;
    emulator
        .set_faults(json!([{"operation": "CreateMembers", "errorCode": "AccessDeniedException"}]))
        .await?;
    apply_member(&client, NS, "m", json!({"accountId": ACCOUNT, "regions": [REGION]})).await?;
    poll("the create refused", Duration::from_secs(60), || async {
        Ok(emulator
            .history(ACCOUNT)
            .await?
            .iter()
            .any(|(op, _)| op == "CreateMembers"))
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    // Someone else adds the account, then status writes work again.
    emulator.seed(ACCOUNT, REGION, "Created").await?;
    emulator.set_faults(json!([])).await?;
    let out = cluster.kubectl(&["delete", "validatingadmissionpolicybinding", policy])?;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let obj = wait_ready(&client, NS, "m", "False", "AlreadyExists", Duration::from_secs(90)).await?;
    assert_eq!(managed(&obj), Some(false), "{:?}", obj.status);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        emulator.calls_for("InviteMembers", ACCOUNT).await?,
        0,
        "a stranger's member"
    );
    Ok(())
}
