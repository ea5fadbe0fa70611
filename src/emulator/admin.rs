//! Administrator-side operations: CreateMembers, InviteMembers, GetMembers,
//! ListMembers, DisassociateMembers and DeleteMembers, applied to the [`World`].

use serde_json::{Value, json};

use super::error::ApiError;
use super::limits::{MAX_ACCOUNTS_PER_CALL, MAX_INVITED_MEMBERS, MAX_ORGANIZATION_MEMBERS};
use super::paging::{Page, paginate};
use super::state::{InvitationRecord, Member, MemberStatus, Scope, World, is_account_id};
use super::wire::{AccountDetails, MemberOut, Unprocessed};

/// Confirmed from real AWS, verbatim.
pub const ALREADY_MEMBER: &str = "The request is rejected because the given account ID is already a member or associated member of the current account.";
/// Confirmed from real AWS for each CreateMembers entry past the 50th.
pub const OVERFLOW: &str = "Maximum number of results exceeded";
pub const SELF_MEMBER: &str = "The request is rejected because an account cannot become a member of itself.";
pub const OTHER_ADMINISTRATOR: &str =
    "The request is rejected because the given account is already associated with another administrator account.";
pub const IS_ADMINISTRATOR: &str = "The request is rejected because the given account is an administrator account with members and cannot become a member.";
pub const MEMBER_LIMIT: &str = "The request is rejected because the current account cannot create anymore members since it cannot exceed the maximum number of allowed members.";
pub const INVALID_ACCOUNT: &str = "The request is rejected because the given account ID is not a valid AWS account ID.";
pub const NO_SUCH_RESOURCE: &str = "The request is rejected since no such resource found.";
pub const ALREADY_INVITED: &str = "The request is rejected because the current account has already invited or is already the SecurityHub master of the given member account.";
pub const ORGANIZATION_NO_INVITE: &str =
    "The request is rejected because organization member accounts do not receive invitations.";
pub const DELETE_ASSOCIATED: &str = "The request is rejected because the member account is still associated with the current account; disassociate it before deleting it.";
pub const DELETE_ORGANIZATION: &str =
    "The request is rejected because organization member accounts cannot be deleted; disassociate them instead.";

/// Fails unless the caller has Security Hub on, as every administrator call requires.
pub fn require_hub(world: &World, caller: &Scope) -> Result<(), ApiError> {
    if world.hub_enabled(caller) {
        Ok(())
    } else {
        Err(ApiError::not_subscribed(&caller.account))
    }
}

/// Reads a required, non-empty `AccountIds` list.
pub fn required_ids(ids: Option<Vec<String>>) -> Result<Vec<String>, ApiError> {
    match ids {
        Some(ids) if !ids.is_empty() => Ok(ids),
        Some(_) => Err(ApiError::invalid_input("AccountIds must not be empty.")),
        None => Err(ApiError::invalid_input("AccountIds is required.")),
    }
}

fn unprocessed_body(unprocessed: Vec<Unprocessed>) -> Value {
    json!({ "UnprocessedAccounts": unprocessed })
}

/// CreateMembers: invited accounts become Created; organization accounts become
/// Enabled at once with Security Hub turned on for them.
pub fn create_members(
    world: &mut World,
    caller: &Scope,
    details: Option<Vec<AccountDetails>>,
) -> Result<Value, ApiError> {
    require_hub(world, caller)?;
    let details = match details {
        Some(d) if !d.is_empty() => d,
        _ => {
            return Err(ApiError::invalid_input("AccountDetails must hold 1 to 50 entries."));
        }
    };
    if let Some(admin) = world.enabled_administrator(&caller.account, &caller.region) {
        return Err(ApiError::invalid_input(format!(
            "Account {} is a member of administrator {admin} and cannot have members.",
            caller.account
        )));
    }
    let mut unprocessed = Vec::new();
    for (index, entry) in details.into_iter().enumerate() {
        let id = entry.account_id.clone().unwrap_or_default();
        if index >= MAX_ACCOUNTS_PER_CALL {
            unprocessed.push(Unprocessed::new(&id, OVERFLOW));
        } else if let Err(reason) = create_one(world, caller, entry) {
            unprocessed.push(Unprocessed::new(&id, reason));
        }
    }
    Ok(unprocessed_body(unprocessed))
}

fn create_one(world: &mut World, caller: &Scope, entry: AccountDetails) -> Result<(), &'static str> {
    let id = entry.account_id.unwrap_or_default();
    check_candidate(world, caller, &id)?;
    // Only the organization's administrator adds its accounts as organization members;
    // anyone else gets an invitation-based member.
    let organization = world.is_organization_account(&id) && world.is_organization_administrator(caller);
    if let Some(existing) = world.member_mut(&caller.account, &caller.region, &id)
        && existing.status != MemberStatus::Deleted
    {
        return reenable_organization_member(existing);
    }
    check_member_limit(world, caller, organization)?;
    let mut member = Member::new(&id, entry.email, organization);
    if organization {
        member.email = None;
        enable_organization_member(world, caller, &mut member);
    }
    world.table_mut(caller).insert(id, member);
    Ok(())
}

/// The rules any account must pass to become a member of `caller`.
fn check_candidate(world: &World, caller: &Scope, id: &str) -> Result<(), &'static str> {
    if !is_account_id(id) {
        return Err(INVALID_ACCOUNT);
    }
    if id == caller.account {
        return Err(SELF_MEMBER);
    }
    if world
        .enabled_administrator(id, &caller.region)
        .is_some_and(|a| a != caller.account)
    {
        return Err(OTHER_ADMINISTRATOR);
    }
    if world.has_members(id, &caller.region) {
        return Err(IS_ADMINISTRATOR);
    }
    Ok(())
}

/// CreateMembers on an existing member: only a Removed organization account comes back.
fn reenable_organization_member(member: &mut Member) -> Result<(), &'static str> {
    if member.organization && member.status == MemberStatus::Removed {
        member.set_status(MemberStatus::Enabled);
        return Ok(());
    }
    Err(ALREADY_MEMBER)
}

fn check_member_limit(world: &World, caller: &Scope, organization: bool) -> Result<(), &'static str> {
    let table = world.members.get(caller);
    let count = table.map_or(0, |t| t.values().filter(|m| m.organization == organization).count());
    let limit = if organization {
        MAX_ORGANIZATION_MEMBERS
    } else {
        MAX_INVITED_MEMBERS
    };
    if count >= limit { Err(MEMBER_LIMIT) } else { Ok(()) }
}

/// Organization accounts need no invitation; AWS turns Security Hub on for them,
/// except in the management account, which must enable it itself.
fn enable_organization_member(world: &mut World, caller: &Scope, member: &mut Member) {
    if world.directory.suspended_accounts.contains(&member.account_id) {
        member.set_status(MemberStatus::AccountSuspended);
        return;
    }
    member.set_status(MemberStatus::Enabled);
    let is_management = world.directory.management_account.as_deref() == Some(&member.account_id);
    if !is_management {
        let scope = Scope::new(&member.account_id, &caller.region);
        world.enable_hub(&scope, super::state::Hub::new());
    }
}

/// InviteMembers: Created, Removed or Resigned members become Invited with a
/// fresh invitation. Returns the body and the (account, invitation id) pairs sent.
pub fn invite_members(
    world: &mut World,
    caller: &Scope,
    ids: Option<Vec<String>>,
    new_id: &mut dyn FnMut() -> String,
) -> Result<(Value, Vec<(String, String)>), ApiError> {
    require_hub(world, caller)?;
    let ids = required_ids(ids)?;
    let mut unprocessed = Vec::new();
    let mut sent = Vec::new();
    for id in ids {
        match invite_one(world, caller, &id, new_id) {
            Ok(invitation_id) => sent.push((id, invitation_id)),
            Err(reason) => unprocessed.push(Unprocessed::new(&id, reason)),
        }
    }
    Ok((unprocessed_body(unprocessed), sent))
}

fn invite_one(
    world: &mut World,
    caller: &Scope,
    id: &str,
    new_id: &mut dyn FnMut() -> String,
) -> Result<String, &'static str> {
    check_candidate(world, caller, id)?;
    let member = world
        .member_mut(&caller.account, &caller.region, id)
        .ok_or(NO_SUCH_RESOURCE)?;
    if member.organization {
        return Err(ORGANIZATION_NO_INVITE);
    }
    match member.status {
        MemberStatus::Invited | MemberStatus::Enabled => return Err(ALREADY_INVITED),
        MemberStatus::Deleted | MemberStatus::AccountSuspended => return Err(NO_SUCH_RESOURCE),
        MemberStatus::Created | MemberStatus::Removed | MemberStatus::Resigned => {}
    }
    let invitation_id = new_id();
    member.invitation = Some(InvitationRecord {
        invitation_id: invitation_id.clone(),
        invited_at: chrono::Utc::now(),
        declined: false,
        deleted: false,
    });
    member.set_status(MemberStatus::Invited);
    Ok(invitation_id)
}

/// How GetMembers reports an account that is not (or no longer) a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MissingMember {
    /// An `UnprocessedAccounts` entry (the default).
    #[default]
    Unprocessed,
    /// `BadRequestException`, as real AWS sometimes answers for a deleted member.
    BadRequest,
}

/// GetMembers: known members in `Members`, the rest in `UnprocessedAccounts`.
pub fn get_members(
    world: &World,
    caller: &Scope,
    ids: Option<Vec<String>>,
    missing: MissingMember,
) -> Result<Value, ApiError> {
    require_hub(world, caller)?;
    let ids = required_ids(ids)?;
    let table = world.members.get(caller);
    let mut members = Vec::new();
    let mut unprocessed = Vec::new();
    for id in ids {
        match table.and_then(|t| t.get(&id)) {
            Some(m) => members.push(MemberOut::new(&caller.account, m)),
            None if missing == MissingMember::BadRequest => {
                return Err(ApiError::new(super::error::BAD_REQUEST, NO_SUCH_RESOURCE));
            }
            None => unprocessed.push(Unprocessed::new(&id, NO_SUCH_RESOURCE)),
        }
    }
    Ok(json!({"Members": members, "UnprocessedAccounts": unprocessed}))
}

/// ListMembers: `OnlyAssociated` (default true) keeps Enabled members only.
pub fn list_members(world: &World, caller: &Scope, only_associated: bool, page: Page) -> Result<Value, ApiError> {
    require_hub(world, caller)?;
    let members: Vec<&Member> = world
        .members
        .get(caller)
        .map(|t| t.values().collect())
        .unwrap_or_default();
    let members = members
        .into_iter()
        .filter(|m| !only_associated || m.status == MemberStatus::Enabled)
        .map(|m| (m.account_id.clone(), MemberOut::new(&caller.account, m)))
        .collect();
    let (items, next) = paginate(members, &page)?;
    let mut body = json!({ "Members": items });
    if let Some(token) = next {
        body["NextToken"] = Value::String(token);
    }
    Ok(body)
}

/// DisassociateMembers: Enabled and Invited members become Removed (a pending
/// invitation is withdrawn). Any account that is not a member fails the whole
/// call with ResourceNotFoundException before anything changes.
pub fn disassociate_members(world: &mut World, caller: &Scope, ids: Option<Vec<String>>) -> Result<Value, ApiError> {
    require_hub(world, caller)?;
    let ids = required_ids(ids)?;
    let table = world.table_mut(caller);
    if let Some(unknown) = ids.iter().find(|id| !table.contains_key(id.as_str())) {
        return Err(ApiError::not_found(format!(
            "{NO_SUCH_RESOURCE} Account {unknown} is not a member."
        )));
    }
    for id in &ids {
        if let Some(member) = table.get_mut(id)
            && matches!(member.status, MemberStatus::Enabled | MemberStatus::Invited)
        {
            member.set_status(MemberStatus::Removed);
        }
    }
    Ok(json!({}))
}

/// DeleteMembers: removes members that are no longer associated; Enabled and
/// organization members stay and come back in `UnprocessedAccounts`.
pub fn delete_members(world: &mut World, caller: &Scope, ids: Option<Vec<String>>) -> Result<Value, ApiError> {
    require_hub(world, caller)?;
    let ids = required_ids(ids)?;
    let table = world.table_mut(caller);
    let mut unprocessed = Vec::new();
    for id in ids {
        let verdict = match table.get(&id) {
            None => Err(NO_SUCH_RESOURCE),
            Some(m) if m.organization => Err(DELETE_ORGANIZATION),
            Some(m) if m.status == MemberStatus::Enabled => Err(DELETE_ASSOCIATED),
            Some(_) => Ok(()),
        };
        match verdict {
            Ok(()) => {
                table.remove(&id);
            }
            Err(reason) => unprocessed.push(Unprocessed::new(&id, reason)),
        }
    }
    Ok(unprocessed_body(unprocessed))
}
