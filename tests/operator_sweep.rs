//! Reads answered by a ListMembers sweep, end to end: a wave of new resources is read with
//! one sweep, and for a while after it an account the sweep did not list is taken to be
//! absent without a call. A member someone else adds meanwhile is still left alone: AWS
//! refuses the create as "already a member", the claim is withdrawn, and the resource
//! reports AlreadyExists until `adopt: true`.

mod support;

use std::time::Duration;

use futures::future::try_join_all;
use serde_json::json;
use support::Error;
use support::scenario::{
    Setup, apply_member, create_member, delete_member, namespace, patch_spec, wait_gone, wait_ready,
};

const T: Duration = Duration::from_secs(90);
const WAVE: usize = 80;
const NS: &str = "t-sweep";
/// The account someone else adds after the sweep.
const LATE: &str = "230000000999";

fn account(i: usize) -> String {
    format!("{:012}", 230_000_000_000usize + i)
}

#[tokio::test]
async fn a_member_added_after_the_sweep_is_not_taken_over() -> Result<(), Error> {
    let mut emulator_args: Vec<String> = Vec::new();
    for a in (1..=WAVE).map(account).chain([LATE.to_string()]) {
        emulator_args.extend(["--org-account".to_string(), a]);
    }
    // A wide window, so the whole wave's reads meet in one batch and are swept.
    let env = Setup::new("sweep")
        .emulator(&emulator_args)
        .operator(&["--batch-window=400ms"])
        .start()
        .await?;
    let client = env.client().await?;
    namespace(&client, NS).await?;

    try_join_all((1..=WAVE).map(|i| {
        let client = client.clone();
        async move {
            let spec = json!({"accountId": account(i), "regions": ["us-east-1"]});
            apply_member(&client, NS, &format!("m{i}"), spec).await
        }
    }))
    .await?;
    for i in 1..=WAVE {
        wait_ready(&client, NS, &format!("m{i}"), "True", "Enabled", T).await?;
    }
    let log = env.emulator.log().await?;
    let count = |op: &str| log.iter().filter(|e| e["operation"] == op).count();
    assert!(count("ListMembers") >= 1, "the wave's reads were swept");
    assert!(
        count("GetMembers") < WAVE / 50 + 4,
        "pre-create reads came from the sweep, not GetMembers: {} calls",
        count("GetMembers")
    );

    // Someone else adds LATE now, after the sweep that did not list it.
    create_member(&env.aws_as("AKIA111111111111EXAM", "us-east-1"), LATE).await?;
    let setup = env.emulator.history(LATE).await?.len();
    apply_member(
        &client,
        NS,
        "late",
        json!({"accountId": LATE, "regions": ["us-east-1"]}),
    )
    .await?;
    let obj = wait_ready(&client, NS, "late", "False", "AlreadyExists", T).await?;
    let region = &obj.status.as_ref().ok_or("no status")?.regions[0];
    assert!(!region.managed, "the claim was withdrawn");
    let ops: Vec<String> = env
        .emulator
        .history(LATE)
        .await?
        .into_iter()
        .skip(setup)
        .map(|(op, _)| op)
        .collect();
    assert_eq!(
        ops.first().map(String::as_str),
        Some("CreateMembers"),
        "the read before the create came from the sweep: {ops:?}"
    );
    assert!(
        ops.iter().all(|op| op == "CreateMembers" || op == "GetMembers"),
        "nothing but the refused create and reads: {ops:?}"
    );
    assert_eq!(
        env.emulator.member_status(LATE, "us-east-1").await?.as_deref(),
        Some("Enabled")
    );

    patch_spec(&client, NS, "late", json!({"adopt": true})).await?;
    let obj = wait_ready(&client, NS, "late", "True", "Enabled", T).await?;
    let region = &obj.status.as_ref().ok_or("no status")?.regions[0];
    assert!(region.managed, "adopted");
    assert_eq!(
        region.processing_result, None,
        "the earlier refusal is not shown once Ready"
    );
    Ok(())
}

/// A member created while a sweep's answer was on its way is missing from that answer;
/// deleting its resource right after must still remove it (an inferred absence never ends
/// a clean-up), and the member must not be taken for absent meanwhile.
#[tokio::test]
async fn a_member_created_while_a_sweep_was_answered_is_removed_on_deletion() -> Result<(), Error> {
    const NS2: &str = "t-sweep-late";
    const CREATED: &str = "240000000999";
    let wave = |i: usize| format!("{:012}", 240_000_000_000usize + i);
    let mut emulator_args: Vec<String> = Vec::new();
    for a in (1..=60).map(wave).chain([CREATED.to_string()]) {
        emulator_args.extend(["--org-account".to_string(), a]);
    }
    let env = Setup::new("sweep-late")
        .emulator(&emulator_args)
        .operator(&["--batch-window=400ms"])
        .start()
        .await?;
    let client = env.client().await?;
    namespace(&client, NS2).await?;
    // The sweep's page is taken at once and answered 8 s later.
    env.emulator
        .set_faults(json!([{"operation": "ListMembers", "latencyMs": {"min": 8000, "max": 8000}, "afterCommit": true}]))
        .await?;
    try_join_all((1..=60).map(|i| {
        let client = client.clone();
        async move {
            let spec = json!({"accountId": wave(i), "regions": ["us-east-1"]});
            apply_member(&client, NS2, &format!("m{i}"), spec).await
        }
    }))
    .await?;
    // Well after the wave's reads went into the sweep, well before it answers.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let spec = json!({"accountId": CREATED, "regions": ["us-east-1"], "deletionPolicy": "Delete"});
    apply_member(&client, NS2, "late", spec).await?;
    wait_ready(&client, NS2, "late", "True", "Enabled", T).await?;
    wait_ready(&client, NS2, "m1", "True", "Enabled", T).await?;
    let log = env.emulator.log().await?;
    let listed = log
        .iter()
        .position(|e| e["operation"] == "ListMembers")
        .ok_or("no sweep")?;
    let created = log
        .iter()
        .position(|e| {
            e["operation"] == "CreateMembers"
                && e["accountIds"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|id| id == CREATED))
        })
        .ok_or("not created")?;
    assert!(
        created < listed,
        "created before the sweep answered, so missing from it"
    );
    env.emulator.clear_faults().await?;

    delete_member(&client, NS2, "late").await?;
    wait_gone(&client, NS2, "late", T).await?;
    // Organization accounts cannot be deleted: disassociated is as far as AWS goes.
    assert_eq!(
        env.emulator.member_status(CREATED, "us-east-1").await?.as_deref(),
        Some("Removed"),
        "the member was cleaned up"
    );
    Ok(())
}
