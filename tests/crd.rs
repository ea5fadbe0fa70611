//! The `SecurityHubMember` CRD against a real kube-apiserver: installation, defaults,
//! every admission rule, the status subresource and the printer columns.
//!
//! One control plane serves the whole binary (a `static`); the harness's exit hook and
//! `PR_SET_PDEATHSIG` stop it when the test process ends.

mod support;

use std::time::Duration;

use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use securityhub_operator::api::{
    DeletionPolicy, FIELD_MANAGER, ReinvitePolicy, SecurityHubMember, SecurityHubMemberSpec, SecurityHubMemberStatus,
};
use securityhub_operator::controller::status_patch;
use securityhub_operator::crd::{CRD_PATH, crd_yaml};
use serde_json::{Value, json};
use support::scenario::namespace;
use support::wait::{Found, poll_for};
use support::{Error, TestCluster};

fn dynamic_api(client: &Client, ns: &str) -> Api<DynamicObject> {
    let resource = ApiResource::erase::<SecurityHubMember>(&());
    Api::namespaced_with(client.clone(), ns, &resource)
}

fn manifest(name: &str, spec: Value) -> Result<DynamicObject, Error> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "securityhub.operator.dev/v1alpha1",
        "kind": "SecurityHubMember",
        "metadata": { "name": name },
        "spec": spec,
    }))?)
}

fn valid_spec() -> Value {
    json!({
        "accountId": "123456789012",
        "email": "security@example.com",
        "regions": ["us-east-1", "eu-west-1"],
        "acceptInvitation": {
            "roleArn": "arn:aws:iam::123456789012:role/SecurityHubAcceptInvitation",
        },
    })
}

/// The API server's refusal: its HTTP code and message.
fn refusal(result: Result<DynamicObject, kube::Error>) -> Result<(u16, String), Error> {
    match result {
        Err(kube::Error::Api(status)) => Ok((status.code, status.message.clone())),
        Err(other) => Err(format!("expected an API refusal, got {other}").into()),
        Ok(obj) => Err(format!("expected a refusal, but {} was accepted", obj.name_any()).into()),
    }
}

#[test]
fn committed_crd_is_current() -> Result<(), Error> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(CRD_PATH);
    let committed =
        std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}; run `make crds`", path.display()))?;
    assert!(
        committed == crd_yaml()?,
        "{CRD_PATH} differs from `securityhub-operator crd`: run `make crds` and commit the result"
    );
    Ok(())
}

#[tokio::test]
async fn crd_is_established_and_a_valid_resource_reads_back_equal() -> Result<(), Error> {
    let client = TestCluster::shared().await?.client().await?;
    namespace(&client, "crd-valid").await?;
    let api: Api<SecurityHubMember> = Api::namespaced(client.clone(), "crd-valid");
    let spec: SecurityHubMemberSpec = serde_json::from_value(valid_spec())?;
    let created = api
        .create(
            &PostParams::default(),
            &SecurityHubMember::new("payments", spec.clone()),
        )
        .await?;
    assert_eq!(created.spec, spec);
    assert_eq!(api.get("payments").await?.spec, spec);
    Ok(())
}

/// Defaults must be applied by the API server (visible to every client), not only by
/// serde when this crate deserializes: read the raw JSON back.
#[tokio::test]
async fn the_api_server_applies_defaults() -> Result<(), Error> {
    let client = TestCluster::shared().await?.client().await?;
    namespace(&client, "crd-defaults").await?;
    let api = dynamic_api(&client, "crd-defaults");
    let minimal = manifest("minimal", json!({ "accountId": "123456789012" }))?;
    api.create(&PostParams::default(), &minimal).await?;
    let stored = api.get("minimal").await?;
    let expected = json!({
        "accountId": "123456789012",
        "invite": true,
        "reinvite": "Removed",
        "adopt": false,
        "deletionPolicy": "Delete",
    });
    assert_eq!(stored.data["spec"], expected);
    let typed: SecurityHubMember = serde_json::from_value(serde_json::to_value(&stored)?)?;
    assert_eq!(typed.spec.reinvite, ReinvitePolicy::Removed);
    assert_eq!(typed.spec.deletion_policy, DeletionPolicy::Delete);
    Ok(())
}

/// One invalid spec: how to break the valid one, the field the message must name, and
/// a phrase showing that the intended rule fired.
struct Invalid {
    name: &'static str,
    break_spec: fn(&mut Value),
    field: &'static str,
    says: &'static str,
}

const INVALID: &[Invalid] = &[
    Invalid {
        name: "account-short",
        break_spec: |s| s["accountId"] = json!("12345"),
        field: "spec.accountId",
        says: "12 digits",
    },
    Invalid {
        name: "account-letters",
        break_spec: |s| s["accountId"] = json!("12345678901a"),
        field: "spec.accountId",
        says: "12 digits",
    },
    Invalid {
        name: "account-13-digits",
        break_spec: |s| s["accountId"] = json!("1234567890123"),
        field: "spec.accountId",
        says: "12",
    },
    Invalid {
        name: "account-missing",
        break_spec: |s| drop(s.as_object_mut().map(|o| o.remove("accountId"))),
        field: "spec.accountId",
        says: "Required value",
    },
    Invalid {
        name: "email",
        break_spec: |s| s["email"] = json!("security.example.com"),
        field: "spec.email",
        says: "email address",
    },
    Invalid {
        name: "region-name",
        break_spec: |s| s["regions"] = json!(["us-east-1", "moon-base"]),
        field: "spec.regions",
        says: "AWS region names",
    },
    Invalid {
        name: "region-twice",
        break_spec: |s| s["regions"] = json!(["us-east-1", "us-east-1"]),
        field: "spec.regions",
        says: "twice",
    },
    Invalid {
        name: "regions-empty",
        break_spec: |s| s["regions"] = json!([]),
        field: "spec.regions",
        says: "must not be empty",
    },
    Invalid {
        name: "reinvite",
        break_spec: |s| s["reinvite"] = json!("Sometimes"),
        field: "spec.reinvite",
        says: "Unsupported value",
    },
    Invalid {
        name: "deletion-policy",
        break_spec: |s| s["deletionPolicy"] = json!("Orphan"),
        field: "spec.deletionPolicy",
        says: "Unsupported value",
    },
    Invalid {
        name: "role-arn-service",
        break_spec: |s| s["acceptInvitation"]["roleArn"] = json!("arn:aws:ec2::123456789012:role/Accept"),
        field: "spec.acceptInvitation.roleArn",
        says: "IAM role ARN",
    },
    Invalid {
        name: "role-arn-user",
        break_spec: |s| s["acceptInvitation"]["roleArn"] = json!("arn:aws:iam::123456789012:user/alice"),
        field: "spec.acceptInvitation.roleArn",
        says: "IAM role ARN",
    },
    Invalid {
        name: "role-arn-account",
        break_spec: |s| s["acceptInvitation"]["roleArn"] = json!("arn:aws:iam::12345:role/Accept"),
        field: "spec.acceptInvitation.roleArn",
        says: "IAM role ARN",
    },
];

#[tokio::test]
async fn invalid_specs_are_refused_naming_the_field() -> Result<(), Error> {
    let client = TestCluster::shared().await?.client().await?;
    namespace(&client, "crd-invalid").await?;
    let api = dynamic_api(&client, "crd-invalid");
    let mut failures = Vec::new();
    for case in INVALID {
        let mut spec = valid_spec();
        (case.break_spec)(&mut spec);
        let result = api.create(&PostParams::default(), &manifest(case.name, spec)?).await;
        let (code, message) = refusal(result)?;
        if code != 422 || !message.contains(case.field) || !message.contains(case.says) {
            failures.push(format!("{}: HTTP {code}: {message}", case.name));
        }
    }
    assert!(failures.is_empty(), "wrong refusals:\n{}", failures.join("\n"));
    Ok(())
}

#[tokio::test]
async fn account_id_is_immutable_but_email_regions_invite_may_change() -> Result<(), Error> {
    let client = TestCluster::shared().await?.client().await?;
    namespace(&client, "crd-update").await?;
    let api = dynamic_api(&client, "crd-update");
    api.create(&PostParams::default(), &manifest("member", valid_spec())?)
        .await?;
    let params = PatchParams::default();

    let change_account = json!({ "spec": { "accountId": "210987654321" } });
    let (code, message) = refusal(api.patch("member", &params, &Patch::Merge(&change_account)).await)?;
    assert_eq!(code, 422, "{message}");
    assert!(
        message.contains("spec.accountId") && message.contains("immutable"),
        "{message}"
    );

    let allowed = json!({ "spec": {
        "email": "secops@example.com",
        "regions": ["ap-southeast-2"],
        "invite": false,
    } });
    let patched = api.patch("member", &params, &Patch::Merge(&allowed)).await?;
    assert_eq!(patched.data["spec"]["email"], "secops@example.com");
    assert_eq!(patched.data["spec"]["regions"], json!(["ap-southeast-2"]));
    assert_eq!(patched.data["spec"]["invite"], false);
    assert_eq!(patched.data["spec"]["accountId"], "123456789012");
    Ok(())
}

fn status_with_conditions() -> Value {
    json!({ "status": {
        "observedGeneration": 1,
        "memberStatus": "Enabled",
        "regionNames": "eu-west-1,us-east-1",
        "conditions": [{
            "type": "Ready", "status": "True", "reason": "Enabled",
            "message": "member is Enabled in every region",
            "lastTransitionTime": "2026-01-01T00:00:00Z", "observedGeneration": 1,
        }],
        "regions": [
            { "region": "us-east-1", "memberStatus": "Enabled", "managed": true },
            { "region": "eu-west-1", "memberStatus": "Enabled", "managed": true },
        ],
    } })
}

#[tokio::test]
async fn status_is_written_only_through_the_status_subresource() -> Result<(), Error> {
    let client = TestCluster::shared().await?.client().await?;
    namespace(&client, "crd-status").await?;
    let api = dynamic_api(&client, "crd-status");
    api.create(&PostParams::default(), &manifest("member", valid_spec())?)
        .await?;

    let mut with_status = api.get("member").await?;
    with_status.data["status"] = status_with_conditions()["status"].clone();
    let replaced = api.replace("member", &PostParams::default(), &with_status).await?;
    assert!(
        replaced.data.get("status").is_none(),
        "a spec update wrote status: {:?}",
        replaced.data
    );

    let patch = Patch::Merge(status_with_conditions());
    let patched = api.patch_status("member", &PatchParams::default(), &patch).await?;
    assert_eq!(patched.data["status"]["memberStatus"], "Enabled");
    assert_eq!(
        api.get("member").await?.data["status"]["conditions"][0]["reason"],
        "Enabled"
    );
    Ok(())
}

/// The operator's status writes carry the `resourceVersion` they were planned from: one
/// planned from a stale read is refused (409) and leaves the recorded claim alone.
#[tokio::test]
async fn a_status_write_planned_from_a_stale_read_is_refused() -> Result<(), Error> {
    let client = TestCluster::shared().await?.client().await?;
    namespace(&client, "crd-stale").await?;
    let typed: Api<SecurityHubMember> = Api::namespaced(client.clone(), "crd-stale");
    dynamic_api(&client, "crd-stale")
        .create(&PostParams::default(), &manifest("member", valid_spec())?)
        .await?;
    let stale = typed.get("member").await?;
    let stale_rv = stale.resource_version();
    let apply = PatchParams::apply(FIELD_MANAGER).force();
    let claimed: SecurityHubMemberStatus = serde_json::from_value(status_with_conditions()["status"].clone())?;
    let fresh = typed
        .patch_status(
            "member",
            &apply,
            &Patch::Apply(status_patch(&claimed, stale_rv.as_deref())),
        )
        .await?;
    assert!(
        fresh
            .status
            .as_ref()
            .is_some_and(|s| s.regions.iter().all(|r| r.managed))
    );

    let mut unclaimed = claimed.clone();
    unclaimed.regions.iter_mut().for_each(|r| r.managed = false);
    let refused = typed
        .patch_status(
            "member",
            &apply,
            &Patch::Apply(status_patch(&unclaimed, stale_rv.as_deref())),
        )
        .await;
    match refused {
        Err(kube::Error::Api(e)) => assert_eq!(e.code, 409, "{e:?}"),
        other => panic!("a write from a stale read was not refused: {other:?}"),
    }
    let now = typed.get("member").await?;
    assert!(
        now.status.as_ref().is_some_and(|s| s.regions.iter().all(|r| r.managed)),
        "the stale write erased the claim: {:?}",
        now.status
    );

    let current = typed
        .patch_status(
            "member",
            &apply,
            &Patch::Apply(status_patch(&unclaimed, now.resource_version().as_deref())),
        )
        .await?;
    assert!(current.status.is_some_and(|s| s.regions.iter().all(|r| !r.managed)));
    Ok(())
}

/// `kubectl get shm` shows what the API server's Table conversion returns.
#[tokio::test]
async fn printer_columns_come_back_in_the_table_response() -> Result<(), Error> {
    let client = TestCluster::shared().await?.client().await?;
    namespace(&client, "crd-table").await?;
    let api = dynamic_api(&client, "crd-table");
    api.create(&PostParams::default(), &manifest("member", valid_spec())?)
        .await?;
    let patch = Patch::Merge(status_with_conditions());
    api.patch_status("member", &PatchParams::default(), &patch).await?;

    let request =
        http::Request::get("/apis/securityhub.operator.dev/v1alpha1/namespaces/crd-table/securityhubmembers/member")
            .header("Accept", "application/json;as=Table;g=meta.k8s.io;v=v1")
            .body(Vec::new())?;
    let table: Value = serde_json::from_str(&client.request_text(request).await?)?;
    let columns: Vec<&str> = table["columnDefinitions"]
        .as_array()
        .ok_or("no columnDefinitions")?
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(
        columns,
        ["Name", "Account", "Regions", "Member Status", "Ready", "Reason", "Age"]
    );
    let cells = &table["rows"][0]["cells"];
    // The apiserver's table converter prints only the first match of a list JSONPath, so
    // the Regions column reads the joined `status.regionNames`.
    assert_eq!(
        cells.as_array().map(|c| c[..6].to_vec()),
        Some(vec![
            json!("member"),
            json!("123456789012"),
            json!("eu-west-1,us-east-1"),
            json!("Enabled"),
            json!("True"),
            json!("Enabled"),
        ])
    );
    assert!(
        cells[6].as_str().is_some_and(|age| age.ends_with('s')),
        "Age: {}",
        cells[6]
    );
    Ok(())
}

/// `kubectl explain` reads the published OpenAPI, which appears shortly after Established.
#[tokio::test]
async fn kubectl_explain_prints_the_field_description() -> Result<(), Error> {
    let cluster = TestCluster::shared().await?;
    poll_for(
        "kubectl explain to describe spec.reinvite",
        Duration::from_secs(30),
        || async {
            let output = cluster.kubectl(&["explain", "shm.spec.reinvite"])?;
            let stdout = String::from_utf8_lossy(&output.stdout);
            if output.status.success() && stdout.contains("When to invite again") {
                return Ok(Found::Yes(()));
            }
            let stderr = String::from_utf8_lossy(&output.stderr);
            Ok(Found::No(format!(
                "kubectl explain: {}\n{stdout}\n{stderr}",
                output.status
            )))
        },
    )
    .await
}

/// The samples `make run` applies must pass admission.
#[tokio::test]
async fn deploy_samples_are_accepted() -> Result<(), Error> {
    let cluster = TestCluster::shared().await?;
    let samples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/samples");
    let path = samples.display().to_string();
    let output = cluster.kubectl(&["apply", "--server-side", "-k", &path])?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "kubectl apply -k {path}: {stderr}");
    let members: Api<SecurityHubMember> = Api::namespaced(cluster.client().await?, "security");
    let declared = std::fs::read_dir(&samples)?
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
        .filter(|text| text.contains("\nkind: SecurityHubMember\n"))
        .count();
    assert_eq!(members.list(&Default::default()).await?.items.len(), declared);
    Ok(())
}
