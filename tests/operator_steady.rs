//! A steady state costs nothing but reads: 50 Enabled members with a 5 s resync, watched
//! for 60 s, produce no status write (the operator's counter and every resourceVersion
//! stay put) and no AWS write (the emulator's request log has only reads), while the
//! resyncs demonstrably happen (GetMembers keeps coming), so the test can fail.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use kube::ResourceExt;
use kube::api::ListParams;
use serde_json::json;
use support::Error;
use support::scenario::{Setup, apply_member, condition, members, namespace};
use support::wait::{Found, poll_for};

const NS: &str = "t-steady";
const MEMBERS: usize = 50;
const WINDOW: Duration = Duration::from_secs(60);
const RESYNC_SECS: u64 = 5;
const STATUS_WRITES: &str = "securityhub_operator_status_writes_total";
const AWS_WRITES: [&str; 4] = ["CreateMembers", "InviteMembers", "DisassociateMembers", "DeleteMembers"];

fn account(i: usize) -> String {
    format!("4000000000{i:02}")
}

/// name -> resourceVersion of every member in the namespace.
async fn versions(client: &kube::Client) -> Result<BTreeMap<String, String>, Error> {
    Ok(members(client, NS)
        .list(&ListParams::default())
        .await?
        .items
        .iter()
        .map(|o| (o.name_any(), o.resource_version().unwrap_or_default()))
        .collect())
}

#[tokio::test]
async fn fifty_enabled_members_idle_for_a_minute_write_nothing() -> Result<(), Error> {
    let accounts: Vec<String> = (1..=MEMBERS).map(account).collect();
    let mut emulator_args = Vec::new();
    for a in &accounts {
        emulator_args.extend(["--org-account", a.as_str()]);
    }
    let resync = format!("--resync-enabled={RESYNC_SECS}s");
    // The shipped defaults but for the resync period: nothing here may speed the test up.
    let env = Setup::new("steady")
        .emulator(&emulator_args)
        .operator_only(&[resync.as_str(), "--batch-window=100ms", "--log-level=info"])
        .start()
        .await?;
    let client = env.client().await?;
    namespace(&client, NS).await?;
    for (i, a) in accounts.iter().enumerate() {
        apply_member(
            &client,
            NS,
            &format!("m{i:02}"),
            json!({"accountId": a, "regions": ["us-east-1"]}),
        )
        .await?;
    }

    // All Ready/Enabled.
    poll_for("every member Ready/Enabled", Duration::from_secs(90), || async {
        let list = members(&client, NS).list(&ListParams::default()).await?.items;
        let ready = list
            .iter()
            .filter(|o| condition(o, "Ready").is_some_and(|(s, r, _)| s == "True" && r == "Enabled"))
            .count();
        Ok(if ready == MEMBERS {
            Found::Yes(())
        } else {
            Found::No(format!("{ready}/{MEMBERS} Ready"))
        })
    })
    .await?;
    // The Ready status may have been written a moment before the Event and the first
    // resync; the window starts after one full resync period has passed.
    tokio::time::sleep(Duration::from_secs(RESYNC_SECS + 1)).await;

    let writes_before = env.operator.metric(STATUS_WRITES).await?;
    let versions_before = versions(&client).await?;
    let seq_before = env.emulator.last_seq().await?;
    assert_eq!(versions_before.len(), MEMBERS);
    assert!(writes_before >= MEMBERS as f64, "the counter counts: {writes_before}");
    tokio::time::sleep(WINDOW).await;
    let writes_after = env.operator.metric(STATUS_WRITES).await?;
    let versions_after = versions(&client).await?;
    let window = env.emulator.log_since(seq_before).await?;

    assert_eq!(
        writes_after, writes_before,
        "status writes during {WINDOW:?} of steady state"
    );
    let changed: Vec<&String> = versions_before
        .iter()
        .filter(|(name, rv)| versions_after.get(*name) != Some(*rv))
        .map(|(name, _)| name)
        .collect();
    assert!(changed.is_empty(), "resourceVersion changed for {changed:?}");

    let aws_writes: Vec<_> = window
        .iter()
        .filter(|e| AWS_WRITES.iter().any(|op| e["operation"] == *op))
        .collect();
    assert!(aws_writes.is_empty(), "AWS writes in the window: {aws_writes:?}");

    // The resyncs happened: every member was read again, several times.
    let reads: Vec<_> = window.iter().filter(|e| e["operation"] == "GetMembers").collect();
    assert!(!reads.is_empty(), "no GetMembers in {WINDOW:?}: the resync did not run");
    let expected = WINDOW.as_secs() / RESYNC_SECS;
    for a in &accounts {
        let times = reads
            .iter()
            .filter(|e| {
                e["accountIds"]
                    .as_array()
                    .is_some_and(|ids| ids.iter().any(|id| id == a))
            })
            .count() as u64;
        assert!(
            times >= expected / 3,
            "account {a} read {times} times in {WINDOW:?} with a {RESYNC_SECS} s resync"
        );
    }
    let other: Vec<String> = window
        .iter()
        .filter_map(|e| e["operation"].as_str())
        .filter(|op| *op != "GetMembers")
        .map(str::to_string)
        .collect();
    eprintln!(
        "steady window: {} GetMembers calls, other operations {other:?}, {} status writes in total",
        reads.len(),
        writes_after
    );
    Ok(())
}
