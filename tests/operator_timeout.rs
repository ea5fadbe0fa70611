//! A hung AWS endpoint: requests time out (per attempt, then per operation), the member
//! reports it, and it converges once AWS answers again — the operator never hangs.

mod support;

use std::time::Duration;

use serde_json::json;
use support::Error;
use support::scenario::{Setup, apply_member, condition, namespace, wait_member, wait_ready};

#[tokio::test]
async fn hung_requests_time_out_and_recover() -> Result<(), Error> {
    let env = Setup::new("timeout")
        .emulator(&["--org-account", "310000000001"])
        .start()
        .await?;
    // Every GetMembers hangs far longer than the operator's 10 s attempt timeout.
    env.emulator
        .set_faults(json!([{"operation": "GetMembers", "latencyMs": {"min": 60000, "max": 60000}}]))
        .await?;
    let client = env.client().await?;
    namespace(&client, "t-timeout").await?;
    apply_member(
        &client,
        "t-timeout",
        "m",
        json!({"accountId": "310000000001", "regions": ["us-east-1"]}),
    )
    .await?;
    let obj = wait_member(
        &client,
        "t-timeout",
        "m",
        Duration::from_secs(90),
        "a timeout reported",
        |o| {
            condition(o, "Synced").is_some_and(|(s, _, m)| s == "False" && m.to_ascii_lowercase().contains("timed out"))
        },
    )
    .await?;
    let (_, reason, _) = condition(&obj, "Ready").ok_or("no Ready")?;
    assert_eq!(reason, "AwsError", "a timeout is a transient AWS error");
    env.emulator.clear_faults().await?;
    wait_ready(&client, "t-timeout", "m", "True", "Enabled", Duration::from_secs(90)).await?;
    assert!(env.operator.is_running());
    Ok(())
}
