//! How the administrator's organization role shapes the calls: an administrator that AWS
//! says is not the organization's administrator invites a created member without reading
//! it back; when that guess is wrong (an organization account after all), the refused
//! invitation leads to a read and the member is simply Enabled.

mod support;

use std::time::Duration;

use serde_json::json;
use support::Error;
use support::scenario::{Env, Setup, apply_member, namespace, wait_ready};

const T: Duration = Duration::from_secs(60);
const INVITED: &str = "210000000001";
const ORG: &str = "210000000002";
const OTHER_ADMIN: &str = "999999999999";

#[tokio::test]
async fn created_members_are_invited_without_a_read_back_unless_they_may_be_organization_accounts() -> Result<(), Error>
{
    let emulator_args = [
        "--auto-accept-after",
        "1s",
        "--auto-accept-account",
        INVITED,
        "--org-account",
        ORG,
    ];
    let env = Setup::new("orgrole").emulator(&emulator_args).start().await?;
    // Another account is the organization's delegated administrator: ours is not.
    designate(&env, OTHER_ADMIN).await?;
    let client = env.client().await?;
    namespace(&client, "t-role").await?;

    apply_member(
        &client,
        "t-role",
        "invited",
        json!({"accountId": INVITED, "regions": ["us-east-1"]}),
    )
    .await?;
    wait_ready(&client, "t-role", "invited", "True", "Enabled", T).await?;
    let ops = operations(&env, INVITED).await?;
    let create = ops
        .iter()
        .position(|op| op == "CreateMembers")
        .ok_or("no CreateMembers")?;
    assert_eq!(
        ops.get(create + 1).map(String::as_str),
        Some("InviteMembers"),
        "invited straight after the create: {ops:?}"
    );
    assert_eq!(
        describe_calls(&env).await?,
        1,
        "the organization role is asked once per region"
    );

    // Now our administrator is designated too, but the operator still remembers "not an
    // administrator": the organization account comes back Enabled, the invitation is
    // refused, the read-back shows Enabled.
    designate(&env, "111111111111").await?;
    apply_member(
        &client,
        "t-role",
        "org",
        json!({"accountId": ORG, "regions": ["us-east-1"]}),
    )
    .await?;
    let obj = wait_ready(&client, "t-role", "org", "True", "Enabled", T).await?;
    let region = &obj.status.as_ref().ok_or("no status")?.regions[0];
    assert_eq!(region.processing_result, None, "the refused guess is not reported");
    let ops = operations(&env, ORG).await?;
    let create = ops
        .iter()
        .position(|op| op == "CreateMembers")
        .ok_or("no CreateMembers")?;
    assert_eq!(
        &ops[create..create + 3],
        ["CreateMembers", "InviteMembers", "GetMembers"],
        "{ops:?}"
    );
    assert_eq!(ops.iter().filter(|op| *op == "InviteMembers").count(), 1, "{ops:?}");
    assert_eq!(
        env.emulator.member_status(ORG, "us-east-1").await?.as_deref(),
        Some("Enabled")
    );
    Ok(())
}

/// Designates `admin` as a delegated administrator of the organization in us-east-1.
async fn designate(env: &Env, admin: &str) -> Result<(), Error> {
    env.aws_as(&format!("AKIA{OTHER_ADMIN}EXAM"), "us-east-1")
        .enable_organization_admin_account()
        .admin_account_id(admin)
        .send()
        .await?;
    Ok(())
}

async fn operations(env: &Env, account: &str) -> Result<Vec<String>, Error> {
    Ok(env
        .emulator
        .history(account)
        .await?
        .into_iter()
        .map(|(op, _)| op)
        .collect())
}

async fn describe_calls(env: &Env) -> Result<usize, Error> {
    Ok(env
        .emulator
        .log()
        .await?
        .iter()
        .filter(|e| e["operation"] == "DescribeOrganizationConfiguration")
        .count())
}
