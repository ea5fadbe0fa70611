use super::*;
use crate::api::SecurityHubMember;
use crate::plan::ObservedMember;
use serde::Deserialize;

fn record(account: &str, email: Option<&str>, status: &str) -> MemberRecord {
    MemberRecord {
        account_id: account.to_string(),
        email: email.map(str::to_string),
        member: ObservedMember {
            status: status.to_string(),
            administrator_id: Some("111111111111".into()),
            invited_at: None,
            updated_at: None,
        },
    }
}

fn found(account: &str, email: Option<&str>, regions: &[(&str, &str)]) -> FoundAccount {
    FoundAccount {
        account_id: account.to_string(),
        email: email.map(str::to_string),
        regions: regions.iter().map(|(r, s)| (r.to_string(), s.to_string())).collect(),
    }
}

fn options(name_from: NameFrom) -> ImportOptions {
    ImportOptions {
        namespace: Some("security".into()),
        adopt: true,
        deletion_policy: DeletionPolicy::Retain,
        name_from,
    }
}

fn is_dns_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

#[test]
fn groups_by_account_in_region_order_and_keeps_the_first_email() {
    let listings = vec![
        (
            "us-east-1".to_string(),
            vec![
                record("222222222222", None, "Enabled"),
                record("111122223333", Some("a@x.io"), "Invited"),
            ],
        ),
        (
            "eu-west-1".to_string(),
            vec![record("222222222222", Some("b@x.io"), "Created")],
        ),
    ];
    let accounts = group_by_account(&listings);
    assert_eq!(
        accounts,
        vec![
            found("111122223333", Some("a@x.io"), &[("us-east-1", "Invited")]),
            found(
                "222222222222",
                Some("b@x.io"),
                &[("us-east-1", "Enabled"), ("eu-west-1", "Created")]
            ),
        ]
    );
}

#[test]
fn names_from_account_id() {
    let accounts = [found("123456789012", Some("x@y.z"), &[("us-east-1", "Enabled")])];
    assert_eq!(derive_names(&accounts, NameFrom::AccountId), ["account-123456789012"]);
}

#[test]
fn names_from_email_are_dns_labels() {
    let cases = [
        ("AWS-Root@Payments.Example.com", "aws-root-payments-example-com"),
        ("a+b__c@x.io", "a-b-c-x-io"),
        ("-.-@--", "account-123456789012"),
    ];
    for (email, want) in cases {
        let accounts = [found("123456789012", Some(email), &[("us-east-1", "Enabled")])];
        let names = derive_names(&accounts, NameFrom::Email);
        assert_eq!(names, [want], "{email}");
        assert!(is_dns_label(&names[0]));
    }
}

#[test]
fn long_emails_are_cut_to_63_characters() {
    let email = format!("{}@example.com", "x".repeat(100));
    let accounts = [found("123456789012", Some(&email), &[("us-east-1", "Enabled")])];
    let names = derive_names(&accounts, NameFrom::Email);
    assert_eq!(names[0].len(), 63);
    assert!(is_dns_label(&names[0]));
}

#[test]
fn missing_email_falls_back_to_the_account_id() {
    let accounts = [found("123456789012", None, &[("us-east-1", "Enabled")])];
    assert_eq!(derive_names(&accounts, NameFrom::Email), ["account-123456789012"]);
}

#[test]
fn colliding_names_all_get_their_account_id() {
    let long = format!("{}@example.com", "y".repeat(80));
    let accounts = [
        found("111111111112", Some("root@a.io"), &[("us-east-1", "Enabled")]),
        found("111111111113", Some("ROOT@A.IO"), &[("us-east-1", "Enabled")]),
        found("111111111114", Some("other@a.io"), &[("us-east-1", "Enabled")]),
        found("111111111115", Some(&long), &[("us-east-1", "Enabled")]),
        found("111111111116", Some(&long), &[("us-east-1", "Enabled")]),
    ];
    let names = derive_names(&accounts, NameFrom::Email);
    assert_eq!(names[0], "root-a-io-111111111112");
    assert_eq!(names[1], "root-a-io-111111111113");
    assert_eq!(names[2], "other-a-io");
    assert!(names[3].ends_with("-111111111115"));
    let mut unique = names.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), names.len());
    assert!(names.iter().all(|n| is_dns_label(n)), "{names:?}");
}

#[test]
fn spec_asks_for_what_aws_already_has() {
    let enabled = found(
        "222222222222",
        None,
        &[("us-east-1", "Enabled"), ("eu-west-1", "Invited")],
    );
    let (spec, notes) = spec_for(&enabled, &options(NameFrom::AccountId));
    assert!(spec.invite && spec.adopt && notes.is_empty());
    assert_eq!(spec.reinvite, ReinvitePolicy::Removed);
    assert_eq!(spec.deletion_policy, DeletionPolicy::Retain);
    assert_eq!(
        spec.regions,
        Some(vec!["us-east-1".to_string(), "eu-west-1".to_string()])
    );

    let created = found("222222222222", None, &[("us-east-1", "CREATED")]);
    let (spec, notes) = spec_for(&created, &options(NameFrom::AccountId));
    assert!(!spec.invite);
    assert!(notes[0].contains("never invited in us-east-1"), "{notes:?}");

    let removed = found("222222222222", None, &[("us-east-1", "Removed")]);
    let (spec, notes) = spec_for(&removed, &options(NameFrom::AccountId));
    assert_eq!(spec.reinvite, ReinvitePolicy::Never);
    assert!(notes[0].contains("reinvite is Never"), "{notes:?}");
}

#[test]
fn manifests_parse_back_into_the_resource_type() {
    let accounts = [
        found("222222222222", Some("root@p.example.com"), &[("us-east-1", "Enabled")]),
        found(
            "333333333333",
            None,
            &[("us-east-1", "Enabled"), ("eu-west-1", "Created")],
        ),
    ];
    let rendered = render_all(&accounts, &options(NameFrom::Email)).expect("renders");
    let stream = multi_document(&rendered);
    assert!(stream.starts_with("---\n# Imported from Security Hub: account 222222222222 is us-east-1 Enabled.\n"));
    let docs: Vec<SecurityHubMember> = serde_yaml_ng::Deserializer::from_str(&stream)
        .map(|d| SecurityHubMember::deserialize(d).expect("a SecurityHubMember"))
        .collect();
    assert_eq!(docs.len(), 2);
    assert_eq!(docs[0].metadata.name.as_deref(), Some("root-p-example-com"));
    assert_eq!(docs[0].metadata.namespace.as_deref(), Some("security"));
    assert_eq!(docs[0].spec.email.as_deref(), Some("root@p.example.com"));
    assert!(docs[0].spec.adopt);
    assert_eq!(docs[1].metadata.name.as_deref(), Some("account-333333333333"));
    assert!(!docs[1].spec.invite);
    assert!(stream.contains("# Note: created but never invited in eu-west-1"));
    assert!(!stream.contains("status:"));
}

#[test]
fn namespace_is_left_out_when_not_given() {
    let accounts = [found("222222222222", None, &[("us-east-1", "Enabled")])];
    let mut opts = options(NameFrom::AccountId);
    opts.namespace = None;
    let rendered = render_all(&accounts, &opts).expect("renders");
    assert!(!rendered[0].yaml.contains("namespace:"));
}

#[test]
fn kustomization_lists_every_file() {
    let accounts = [
        found("222222222222", None, &[("us-east-1", "Enabled")]),
        found("333333333333", None, &[("us-east-1", "Enabled")]),
    ];
    let rendered = render_all(&accounts, &options(NameFrom::AccountId)).expect("renders");
    let k = kustomization(&rendered);
    assert!(k.contains("  - account-222222222222.yaml\n  - account-333333333333.yaml\n"));
}
