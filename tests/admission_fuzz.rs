//! Bad input refused at admission: invalid manifests derived from valid ones (one field
//! mutated at a time, plus seeded random mutations of the account id, email and regions),
//! each created against a real kube-apiserver with the CRD, each refused with a message
//! that names the field.

mod support;

use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use securityhub_operator::api::SecurityHubMember;
use serde_json::{Value, json};
use support::{Error, TestCluster};

/// A valid manifest with every field set.
fn valid(name: &str) -> Value {
    json!({
        "apiVersion": "securityhub.operator.dev/v1alpha1",
        "kind": "SecurityHubMember",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "accountId": "123456789012",
            "email": "root@payments.example",
            "regions": ["us-east-1", "eu-west-1"],
            "invite": true,
            "reinvite": "Removed",
            "adopt": false,
            "deletionPolicy": "Delete",
            "acceptInvitation": {
                "roleArn": "arn:aws:iam::123456789012:role/SecurityHubAcceptInvitation",
                "externalId": "x",
                "enableSecurityHub": true
            }
        }
    })
}

/// (field whose name the refusal must contain, JSON pointer under spec, bad value or None to remove)
type Mutation = (&'static str, &'static str, Option<Value>);

fn mutations() -> Vec<Mutation> {
    let long_email = format!("{}@example.com", "a".repeat(250));
    let long_arn = format!("arn:aws:iam::123456789012:role/{}", "r".repeat(2048));
    vec![
        ("accountId", "/accountId", None),
        ("accountId", "/accountId", Some(json!("12345678901"))),
        ("accountId", "/accountId", Some(json!("1234567890123"))),
        ("accountId", "/accountId", Some(json!("12345678901a"))),
        ("accountId", "/accountId", Some(json!(""))),
        ("accountId", "/accountId", Some(json!(123456789012u64))),
        ("accountId", "/accountId", Some(json!(" 23456789012"))),
        ("accountId", "/accountId", Some(json!("123-456-7890"))),
        ("email", "/email", Some(json!("not-an-email"))),
        ("email", "/email", Some(json!("a@b"))),
        ("email", "/email", Some(json!("two@at@example.com"))),
        ("email", "/email", Some(json!(long_email))),
        ("email", "/email", Some(json!(42))),
        ("regions", "/regions", Some(json!([]))),
        ("regions", "/regions", Some(json!(["US-EAST-1"]))),
        ("regions", "/regions", Some(json!(["useast1"]))),
        ("regions", "/regions", Some(json!(["us-east-1", "us-east-1"]))),
        ("regions", "/regions", Some(json!("us-east-1"))),
        ("regions", "/regions", Some(json!(["us-east-1", 7]))),
        ("regions", "/regions", Some(json!(["mars-north-1"]))),
        ("invite", "/invite", Some(json!("yes"))),
        ("adopt", "/adopt", Some(json!(1))),
        ("reinvite", "/reinvite", Some(json!("Sometimes"))),
        ("reinvite", "/reinvite", Some(json!("always"))),
        ("deletionPolicy", "/deletionPolicy", Some(json!("Orphan"))),
        ("deletionPolicy", "/deletionPolicy", Some(json!(""))),
        ("roleArn", "/acceptInvitation/roleArn", None),
        (
            "roleArn",
            "/acceptInvitation/roleArn",
            Some(json!("arn:aws:iam::123:role/x")),
        ),
        (
            "roleArn",
            "/acceptInvitation/roleArn",
            Some(json!("arn:aws:iam::123456789012:user/x")),
        ),
        ("roleArn", "/acceptInvitation/roleArn", Some(json!(long_arn))),
        (
            "externalId",
            "/acceptInvitation/externalId",
            Some(json!("e".repeat(1225))),
        ),
        (
            "enableSecurityHub",
            "/acceptInvitation/enableSecurityHub",
            Some(json!("true")),
        ),
        (
            "acceptInvitation",
            "/acceptInvitation",
            Some(json!("arn:aws:iam::123456789012:role/x")),
        ),
    ]
}

/// Seeded random damage to the account id, email and regions of the valid manifest.
fn random_mutations(rng: &mut StdRng, n: usize) -> Vec<(&'static str, &'static str, Value)> {
    let mut out = Vec::new();
    while out.len() < n {
        match rng.random_range(0..3) {
            0 => {
                let len = [0, 1, 11, 13, 20][rng.random_range(0..5)];
                let id: String = (0..len)
                    .map(|_| char::from(b"0123456789x-"[rng.random_range(0..12)]))
                    .collect();
                if id.len() != 12 {
                    out.push(("accountId", "/accountId", json!(id)));
                }
            }
            1 => {
                let local: String = (0..rng.random_range(1..8))
                    .map(|_| char::from(b"ab@ ."[rng.random_range(0..5)]))
                    .collect();
                let email = format!("{local}{}", ["", "@", "@x", " @y.z"][rng.random_range(0..4)]);
                let plausible = email.matches('@').count() == 1
                    && !email.contains(' ')
                    && email
                        .split('@')
                        .nth(1)
                        .is_some_and(|d| d.contains('.') && !d.ends_with('.'))
                    && !email.starts_with('@');
                if !plausible {
                    out.push(("email", "/email", json!(email)));
                }
            }
            _ => {
                let region = format!(
                    "{}-{}-{}",
                    ["us", "EU", "u", "ap"][rng.random_range(0..4)],
                    ["east", "", "West", "south_"][rng.random_range(0..4)],
                    ["1", "x", ""][rng.random_range(0..3)]
                );
                let ok = region.split('-').all(|p| !p.is_empty())
                    && region
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                    && region.ends_with(|c: char| c.is_ascii_digit())
                    && region.split('-').next().is_some_and(|p| p.len() == 2);
                if !ok {
                    out.push(("regions", "/regions", json!([region])));
                }
            }
        }
    }
    out
}

fn apply_mutation(base: &Value, pointer: &str, value: Option<Value>) -> Result<Value, Error> {
    let mut doc = base.clone();
    let full = format!("/spec{pointer}");
    let (parent, leaf) = full.rsplit_once('/').ok_or("bad pointer")?;
    let parent = doc
        .pointer_mut(parent)
        .and_then(Value::as_object_mut)
        .ok_or("no parent")?;
    match value {
        Some(v) => parent.insert(leaf.to_string(), v),
        None => parent.remove(leaf),
    };
    Ok(doc)
}

#[tokio::test]
async fn invalid_manifests_are_refused_with_the_field_named() -> Result<(), Error> {
    let cluster = TestCluster::with_crd().await?;
    let api: Api<SecurityHubMember> = Api::namespaced(cluster.client().await?, "default");
    let mut cases: Vec<(&str, &str, Option<Value>)> = mutations();
    let mut rng = StdRng::seed_from_u64(30);
    cases.extend(
        random_mutations(&mut rng, 12)
            .into_iter()
            .map(|(f, p, v)| (f, p, Some(v))),
    );
    assert!(cases.len() >= 30, "{} cases", cases.len());

    // The base manifest itself is accepted (so refusals below are the mutation's doing).
    let base = valid("base");
    let created: SecurityHubMember = serde_json::from_value(base.clone())?;
    api.create(&PostParams::default(), &created).await?;

    let mut failures = Vec::new();
    for (i, (field, pointer, value)) in cases.iter().enumerate() {
        let doc = apply_mutation(&valid(&format!("fuzz-{i:02}")), pointer, value.clone())?;
        // Server-side apply sends the raw JSON, wrong types included.
        let result = api
            .patch(
                &format!("fuzz-{i:02}"),
                &PatchParams::apply("admission-fuzz").force(),
                &Patch::Apply(&doc),
            )
            .await;
        match result {
            Ok(_) => failures.push(format!("#{i} {pointer} = {value:?}: accepted")),
            Err(kube::Error::Api(e)) if e.message.contains(field) => {}
            Err(e) => failures.push(format!(
                "#{i} {pointer} = {value:?}: refused without naming {field}: {e}"
            )),
        }
    }

    // Immutability: an update of accountId is refused naming the field.
    let changed = apply_mutation(&base, "/accountId", Some(json!("210987654321")))?;
    match api
        .patch(
            "base",
            &PatchParams::apply("admission-fuzz").force(),
            &Patch::Apply(&changed),
        )
        .await
    {
        Err(kube::Error::Api(e)) if e.message.contains("accountId") && e.message.contains("immutable") => {}
        other => failures.push(format!("accountId change: {other:?}")),
    }
    assert!(
        failures.is_empty(),
        "{} of {} invalid manifests not refused properly:\n{}",
        failures.len(),
        cases.len() + 1,
        failures.join("\n")
    );
    Ok(())
}
