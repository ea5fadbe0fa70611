//! Member-side operations: invitations (list, count, accept, decline, delete),
//! the administrator relationship (get, disassociate) and their /master aliases.

use serde_json::{Value, json};

use super::admin::required_ids;
use super::error::ApiError;
use super::paging::{Page, paginate};
use super::state::{MemberStatus, Scope, World};
use super::wire::{InvitationOut, Unprocessed};

pub const NO_INVITATION: &str =
    "The request is rejected because no pending invitation from the given account was found.";
pub const ACCEPTED_INVITATION: &str =
    "The request is rejected because the invitation was accepted; disassociate from the administrator account first.";

/// ListInvitations: invitations the member has neither declined nor deleted,
/// with the relationship's current status. Security Hub need not be on to list.
pub fn list_invitations(world: &World, caller: &Scope, page: Page) -> Result<Value, ApiError> {
    let items = world
        .memberships_of(&caller.account, &caller.region)
        .filter_map(|(admin, m)| {
            m.visible_invitation()
                .map(|inv| (admin.clone(), InvitationOut::new(admin, m, Some(inv))))
        })
        .collect();
    let (invitations, next) = paginate(items, &page)?;
    let mut body = json!({ "Invitations": invitations });
    if let Some(token) = next {
        body["NextToken"] = Value::String(token);
    }
    Ok(body)
}

/// GetInvitationsCount: listed invitations except the accepted one.
pub fn invitations_count(world: &World, caller: &Scope) -> Value {
    let count = world
        .memberships_of(&caller.account, &caller.region)
        .filter(|(_, m)| m.visible_invitation().is_some() && m.status != MemberStatus::Enabled)
        .count();
    json!({ "InvitationsCount": count })
}

/// AcceptAdministratorInvitation / AcceptInvitation: the member must have Security
/// Hub on, no other administrator and no members of its own.
pub fn accept(
    world: &mut World,
    caller: &Scope,
    administrator: Option<String>,
    invitation_id: Option<String>,
) -> Result<Value, ApiError> {
    let (Some(administrator), Some(invitation_id)) = (administrator, invitation_id) else {
        return Err(ApiError::invalid_input(
            "AdministratorId and InvitationId are required.",
        ));
    };
    if !world.hub_enabled(caller) {
        return Err(ApiError::not_subscribed(&caller.account));
    }
    check_can_join(world, caller, &administrator)?;
    let member = world
        .member_mut(&administrator, &caller.region, &caller.account)
        .filter(|m| m.visible_invitation().is_some_and(|i| i.invitation_id == invitation_id))
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "Invitation {invitation_id} from account {administrator} was not found."
            ))
        })?;
    match member.status {
        MemberStatus::Invited => member.set_status(MemberStatus::Enabled),
        MemberStatus::Enabled => {}
        other => {
            return Err(ApiError::invalid_input(format!(
                "The invitation cannot be accepted because the member status is {}.",
                other.as_str()
            )));
        }
    }
    Ok(json!({}))
}

fn check_can_join(world: &World, caller: &Scope, administrator: &str) -> Result<(), ApiError> {
    if let Some(current) = world.enabled_administrator(&caller.account, &caller.region)
        && current != administrator
    {
        return Err(ApiError::invalid_input(format!(
            "Account {} is already associated with administrator account {current}.",
            caller.account
        )));
    }
    if world.has_members(&caller.account, &caller.region) {
        return Err(ApiError::invalid_input(format!(
            "Account {} is an administrator account and cannot become a member.",
            caller.account
        )));
    }
    Ok(())
}

/// DeclineInvitations: each pending invitation from the named administrators is
/// declined and the relationship becomes Resigned.
pub fn decline(world: &mut World, caller: &Scope, ids: Option<Vec<String>>) -> Result<Value, ApiError> {
    let ids = required_ids(ids)?;
    let mut unprocessed = Vec::new();
    for admin in ids {
        let member = world.member_mut(&admin, &caller.region, &caller.account);
        match member {
            Some(m) if m.status == MemberStatus::Invited && m.visible_invitation().is_some() => {
                if let Some(inv) = m.invitation.as_mut() {
                    inv.declined = true;
                }
                m.set_status(MemberStatus::Resigned);
            }
            _ => unprocessed.push(Unprocessed::new(&admin, NO_INVITATION)),
        }
    }
    Ok(json!({ "UnprocessedAccounts": unprocessed }))
}

/// DeleteInvitations: hides invitations from the member; an accepted one stays.
/// The administrator still sees the member as Invited (it never got an answer).
pub fn delete_invitations(world: &mut World, caller: &Scope, ids: Option<Vec<String>>) -> Result<Value, ApiError> {
    let ids = required_ids(ids)?;
    let mut unprocessed = Vec::new();
    for admin in ids {
        let member = world
            .member_mut(&admin, &caller.region, &caller.account)
            .filter(|m| m.visible_invitation().is_some());
        match member {
            Some(m) if m.status == MemberStatus::Enabled => {
                unprocessed.push(Unprocessed::new(&admin, ACCEPTED_INVITATION));
            }
            Some(m) => {
                if let Some(inv) = m.invitation.as_mut() {
                    inv.deleted = true;
                }
            }
            None => unprocessed.push(Unprocessed::new(&admin, NO_INVITATION)),
        }
    }
    Ok(json!({ "UnprocessedAccounts": unprocessed }))
}

/// GetAdministratorAccount / GetMasterAccount: the administrator this account is
/// an Enabled member of, under `key` ("Administrator" or "Master"); `{}` if none.
pub fn get_administrator(world: &World, caller: &Scope, key: &str) -> Value {
    let found = world
        .memberships_of(&caller.account, &caller.region)
        .find(|(_, m)| m.status == MemberStatus::Enabled);
    match found {
        Some((admin, m)) => json!({ key: InvitationOut::new(admin, m, m.invitation.as_ref()) }),
        None => json!({}),
    }
}

/// DisassociateFromAdministratorAccount / DisassociateFromMasterAccount: the
/// member leaves and becomes Resigned. Organization members cannot leave.
pub fn disassociate_from_administrator(world: &mut World, caller: &Scope) -> Result<Value, ApiError> {
    let admin = world
        .enabled_administrator(&caller.account, &caller.region)
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "Account {} is not associated with an administrator account.",
                caller.account
            ))
        })?;
    let member = world
        .member_mut(&admin, &caller.region, &caller.account)
        .ok_or_else(|| ApiError::not_found("No administrator account."))?;
    if member.organization {
        return Err(ApiError::invalid_input(
            "Organization member accounts cannot disassociate from their administrator account.",
        ));
    }
    member.set_status(MemberStatus::Resigned);
    Ok(json!({}))
}
