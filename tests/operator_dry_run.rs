//! `--dry-run`: the operator reads, decides and reports, and writes nothing to AWS.

mod support;

use std::time::Duration;

use serde_json::json;
use support::Error;
use support::scenario::{
    Setup, apply_member, condition, delete_member, event_reasons, namespace, wait_gone, wait_ready,
};

#[tokio::test]
async fn dry_run_reports_what_it_would_do_and_calls_no_aws_write() -> Result<(), Error> {
    let env = Setup::new("dry-run")
        .emulator(&["--org-account", "300000000002"])
        .operator(&["--dry-run"])
        .start()
        .await?;
    let client = env.client().await?;
    namespace(&client, "t-dry").await?;
    let t = Duration::from_secs(60);
    apply_member(
        &client,
        "t-dry",
        "invited",
        json!({"accountId": "300000000001", "regions": ["us-east-1"]}),
    )
    .await?;
    apply_member(
        &client,
        "t-dry",
        "org",
        json!({"accountId": "300000000002", "regions": ["us-east-1", "eu-west-1"]}),
    )
    .await?;
    for name in ["invited", "org"] {
        let obj = wait_ready(&client, "t-dry", name, "False", "DryRun", t).await?;
        let (_, _, message) = condition(&obj, "Ready").ok_or("no Ready condition")?;
        assert!(message.contains("would call CreateMembers"), "{name}: {message}");
        assert!(
            obj.status
                .as_ref()
                .is_some_and(|s| s.regions.iter().all(|r| !r.managed)),
            "dry run claims nothing"
        );
        assert!(
            event_reasons(&client, "t-dry", name)
                .await?
                .iter()
                .any(|r| r == "DryRun"),
            "{name}: a DryRun event"
        );
    }
    delete_member(&client, "t-dry", "org").await?;
    wait_gone(&client, "t-dry", "org", t).await?;
    let log = env.emulator.log().await?;
    let writes: Vec<_> = log
        .iter()
        .filter(|e| e["operation"] != "GetMembers")
        .map(|e| e["operation"].clone())
        .collect();
    assert!(writes.is_empty(), "dry run made AWS calls other than reads: {writes:?}");
    assert!(log.iter().any(|e| e["operation"] == "GetMembers"), "it did read");
    Ok(())
}
