//! The emulator driven through aws-sdk-securityhub and aws-config's
//! AssumeRoleProvider: the same flows as tests/emulator_boto3, proving the Rust
//! SDK parses every response, timestamp and error the emulator sends.
//! Membership flows live here; hub, organization, faults, limits and STS in
//! `emulator_sdk/operations.rs`.

#[path = "emulator_sdk/operations.rs"]
mod operations;
#[path = "emulator_sdk/support.rs"]
mod support;

use aws_sdk_securityhub::error::ProvideErrorMetadata;
use aws_sdk_securityhub::types::AccountDetails;
use support::*;

#[tokio::test]
async fn full_lifecycle_parses_every_response() {
    let emu = start(unlimited()).await;
    let admin = client(&emu, ADMIN);
    let member = client(&emu, MEMBER);
    let created = admin
        .create_members()
        .account_details(details(MEMBER))
        .send()
        .await
        .unwrap();
    assert!(created.unprocessed_accounts().is_empty());
    assert_eq!(status_of(&admin, MEMBER).await.as_deref(), Some("Created"));

    admin.invite_members().account_ids(MEMBER).send().await.unwrap();
    let got = admin.get_members().account_ids(MEMBER).send().await.unwrap();
    let m = &got.members()[0];
    assert_eq!(m.member_status(), Some("Invited"));
    assert_eq!(m.administrator_id(), Some(ADMIN));
    assert!(m.invited_at().is_some() && m.updated_at().is_some());
    assert_eq!(
        member.get_invitations_count().send().await.unwrap().invitations_count(),
        Some(1)
    );

    let invitation = member.list_invitations().send().await.unwrap().invitations()[0].clone();
    assert_eq!(invitation.invitation_id().map(str::len), Some(32));
    assert!(invitation.invited_at().is_some());
    let err = member
        .accept_administrator_invitation()
        .administrator_id(ADMIN)
        .invitation_id(invitation.invitation_id().unwrap())
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidAccessException"));
    assert_eq!(
        err.message(),
        Some("Account 222222222222 is not subscribed to AWS Security Hub")
    );

    member.enable_security_hub().send().await.unwrap();
    member
        .accept_administrator_invitation()
        .administrator_id(ADMIN)
        .invitation_id(invitation.invitation_id().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(status_of(&admin, MEMBER).await.as_deref(), Some("Enabled"));
    let administrator = member.get_administrator_account().send().await.unwrap();
    assert_eq!(administrator.administrator().and_then(|a| a.account_id()), Some(ADMIN));

    let listed = admin.list_members().send().await.unwrap();
    assert_eq!(listed.members().len(), 1);
    let refused = admin.delete_members().account_ids(MEMBER).send().await.unwrap();
    assert_eq!(refused.unprocessed_accounts()[0].account_id(), Some(MEMBER));

    admin.disassociate_members().account_ids(MEMBER).send().await.unwrap();
    assert_eq!(status_of(&admin, MEMBER).await.as_deref(), Some("Removed"));
    let deleted = admin.delete_members().account_ids(MEMBER).send().await.unwrap();
    assert!(deleted.unprocessed_accounts().is_empty());
    let gone = admin.get_members().account_ids(MEMBER).send().await.unwrap();
    assert!(gone.members().is_empty());
    assert_eq!(
        gone.unprocessed_accounts()[0].processing_result(),
        Some("The request is rejected since no such resource found.")
    );
    emu.shutdown().await.unwrap();
}

/// Uses the deprecated /master aliases on purpose: the emulator must still serve them.
#[allow(deprecated)]
#[tokio::test]
async fn resigned_by_decline_and_by_leaving() {
    let emu = start(unlimited()).await;
    let admin = client(&emu, ADMIN);
    let member = client(&emu, MEMBER);
    admin
        .create_members()
        .account_details(details(MEMBER))
        .send()
        .await
        .unwrap();
    admin.invite_members().account_ids(MEMBER).send().await.unwrap();
    let declined = member.decline_invitations().account_ids(ADMIN).send().await.unwrap();
    assert!(declined.unprocessed_accounts().is_empty());
    assert_eq!(status_of(&admin, MEMBER).await.as_deref(), Some("Resigned"));

    admin.invite_members().account_ids(MEMBER).send().await.unwrap();
    member.enable_security_hub().send().await.unwrap();
    let invitation = member.list_invitations().send().await.unwrap().invitations()[0].clone();
    member
        .accept_invitation()
        .master_id(ADMIN)
        .invitation_id(invitation.invitation_id().unwrap())
        .send()
        .await
        .unwrap();
    let master = member.get_master_account().send().await.unwrap();
    assert_eq!(master.master().and_then(|m| m.member_status()), Some("Enabled"));
    member.disassociate_from_master_account().send().await.unwrap();
    assert_eq!(status_of(&admin, MEMBER).await.as_deref(), Some("Resigned"));
    member.delete_invitations().account_ids(ADMIN).send().await.unwrap();
    let err = member
        .disassociate_from_administrator_account()
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ResourceNotFoundException"));
}

#[tokio::test]
async fn organization_accounts_and_membership_rules() {
    let emu = start(unlimited()).await;
    let admin = client(&emu, ADMIN);
    admin
        .create_members()
        .account_details(details(ORG))
        .send()
        .await
        .unwrap();
    let org = admin.get_members().account_ids(ORG).send().await.unwrap().members()[0].clone();
    assert_eq!(org.member_status(), Some("Enabled"));
    assert_eq!(org.email(), None);
    let refused = admin.delete_members().account_ids(ORG).send().await.unwrap();
    assert_eq!(refused.unprocessed_accounts().len(), 1);
    admin.disassociate_members().account_ids(ORG).send().await.unwrap();
    admin
        .create_members()
        .account_details(details(ORG))
        .send()
        .await
        .unwrap();
    assert_eq!(status_of(&admin, ORG).await.as_deref(), Some("Enabled"));

    admin
        .create_members()
        .account_details(details(MEMBER))
        .send()
        .await
        .unwrap();
    let again = admin
        .create_members()
        .account_details(details(MEMBER))
        .account_details(details(ADMIN))
        .send()
        .await
        .unwrap();
    let results: Vec<_> = again
        .unprocessed_accounts()
        .iter()
        .map(|u| u.processing_result().unwrap_or_default())
        .collect();
    assert_eq!(results[0], ALREADY_MEMBER);
    assert!(results[1].contains("member of itself"));

    let other = client(&emu, OTHER);
    other.enable_security_hub().send().await.unwrap();
    let member = client(&emu, MEMBER);
    admin.delete_members().account_ids(MEMBER).send().await.unwrap();
    invite_and_accept(&admin, &member, MEMBER).await;
    let second = other
        .create_members()
        .account_details(details(MEMBER))
        .send()
        .await
        .unwrap();
    assert!(
        second.unprocessed_accounts()[0]
            .processing_result()
            .unwrap_or_default()
            .contains("another administrator")
    );
}

#[tokio::test]
async fn overflow_pagination_and_input_errors() {
    let emu = start(unlimited()).await;
    let admin = client(&emu, ADMIN);
    let many: Vec<AccountDetails> = (0..53)
        .map(|i| details(&format!("{}", 900_000_000_000u64 + i)))
        .collect();
    let out = admin
        .create_members()
        .set_account_details(Some(many))
        .send()
        .await
        .unwrap();
    assert_eq!(out.unprocessed_accounts().len(), 3);
    assert!(
        out.unprocessed_accounts()
            .iter()
            .all(|u| u.processing_result() == Some("Maximum number of results exceeded"))
    );

    assert!(admin.list_members().send().await.unwrap().members().is_empty());
    let all: Vec<_> = admin
        .list_members()
        .only_associated(false)
        .max_results(7)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap();
    assert_eq!(all.len(), 50);

    let err = admin.list_members().max_results(51).send().await.unwrap_err();
    assert_eq!(err.code(), Some("InvalidInputException"));
    let err = admin
        .invite_members()
        .set_account_ids(Some(vec![]))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidInputException"));
    let err = admin
        .disassociate_members()
        .account_ids(OTHER)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ResourceNotFoundException"));
}

#[tokio::test]
async fn invitations_paginate_across_administrators() {
    let emu = start(unlimited()).await;
    for admin_id in [ADMIN, OTHER, "666666666666"] {
        let admin = client(&emu, admin_id);
        if admin_id != ADMIN {
            admin.enable_security_hub().send().await.unwrap();
        }
        admin
            .create_members()
            .account_details(details(MEMBER))
            .send()
            .await
            .unwrap();
        admin.invite_members().account_ids(MEMBER).send().await.unwrap();
    }
    let member = client(&emu, MEMBER);
    let invitations: Vec<_> = member
        .list_invitations()
        .max_results(2)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap();
    assert_eq!(invitations.len(), 3);
}
