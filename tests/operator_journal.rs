//! The claim journal against a real API server: a claim made just before CreateMembers is
//! durable without a status write, survives the operator dying before its status write (the
//! member it created stays its own, not `AlreadyExists`), and its ConfigMap goes once the
//! status records the claim.

mod support;

use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams};
use kube::{Client, ResourceExt};
use serde_json::json;
use support::Error;
use support::cluster::TestCluster;
use support::scenario::{
    Setup, apply_member, condition, delete_member, event_reasons, members, namespace, wait_gone, wait_member,
};
use support::wait::poll;

const NS: &str = "t-journal";
const ACCOUNT: &str = "320000000001";
const LABEL: &str = "securityhub.operator.dev/journal";

async fn journal_configmaps(client: &Client) -> Result<Vec<ConfigMap>, Error> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    Ok(api.list(&ListParams::default().labels(LABEL)).await?.items)
}

#[tokio::test]
async fn a_journaled_claim_survives_a_crash_before_the_status_write() -> Result<(), Error> {
    let cluster = TestCluster::with_crd().await?;
    let client = cluster.client().await?;
    namespace(&client, NS).await?;
    let stack = Setup::new("journal")
        .operator(&[format!("--watch-namespace={NS}")])
        .stack(&cluster)
        .await?;
    // The call after the create (an invitation: this administrator has no organization)
    // hangs, so the operator can be killed between CreateMembers and its status write.
    stack
        .emulator
        .set_faults(json!([{"operation": "InviteMembers", "latencyMs": {"min": 30000, "max": 30000}}]))
        .await?;
    apply_member(
        &client,
        NS,
        "m",
        json!({"accountId": ACCOUNT, "email": "sec@example.com", "regions": ["us-east-1"]}),
    )
    .await?;
    let emulator = &stack.emulator;
    poll("CreateMembers", Duration::from_secs(30), || async {
        Ok(emulator.calls_for("CreateMembers", ACCOUNT).await? > 0)
    })
    .await?;
    let obj = members(&client, NS).get("m").await?;
    let uid = obj.uid().ok_or("no uid")?;
    assert!(
        obj.status.as_ref().is_none_or(|s| s.regions.is_empty()),
        "the claim went to the journal, not to status: {:?}",
        obj.status
    );
    let journal = journal_configmaps(&client).await?;
    let data: Vec<_> = journal
        .iter()
        .flat_map(|cm| cm.data.clone().unwrap_or_default())
        .collect();
    let key = format!("{uid}.us-east-1");
    let (_, value) = data
        .iter()
        .find(|(k, _)| *k == key)
        .ok_or(format!("no journal entry {key} in {data:?}"))?;
    assert!(
        value.starts_with(&obj.resource_version().unwrap_or_default()) && value.ends_with(ACCOUNT),
        "{value}"
    );

    let operator = stack.operator.lock().map_err(|_| "lock")?.take().ok_or("no operator")?;
    let journaled = operator
        .metric("securityhub_operator_claim_journal_claims_total")
        .await?;
    assert!(journaled >= 1.0, "claims journaled: {journaled}");
    operator.kill();
    emulator.clear_faults().await?;
    stack.start_operator().await?;
    let obj = wait_member(
        &client,
        NS,
        "m",
        Duration::from_secs(60),
        "the created member reported as ours",
        |o| {
            condition(o, "Ready")
                .is_some_and(|(_, reason, _)| reason == "AwaitingAcceptance" || reason == "AlreadyExists")
        },
    )
    .await?;
    let (_, reason, message) = condition(&obj, "Ready").ok_or("no Ready")?;
    assert_eq!(reason, "AwaitingAcceptance", "{message}");
    let status = obj.status.ok_or("no status")?;
    assert!(status.regions[0].managed, "{status:?}");
    assert_eq!(emulator.calls_for("CreateMembers", ACCOUNT).await?, 1, "created once");
    let reasons = event_reasons(&client, NS, "m").await?;
    assert!(
        reasons.contains(&"AwaitingAcceptance".to_string()) && !reasons.contains(&"Creating".to_string()),
        "Events follow status, which never said Creating: {reasons:?}"
    );
    let client2 = client.clone();
    poll("the journal's ConfigMap to go", Duration::from_secs(30), || {
        let client = client2.clone();
        async move { Ok(journal_configmaps(&client).await?.is_empty()) }
    })
    .await?;

    // Ours, so deleting the resource removes the member.
    delete_member(&client, NS, "m").await?;
    wait_gone(&client, NS, "m", Duration::from_secs(60)).await?;
    assert_eq!(emulator.member_status(ACCOUNT, "us-east-1").await?, None);
    Ok(())
}
