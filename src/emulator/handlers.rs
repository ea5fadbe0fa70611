//! The Security Hub REST routes and the pipeline every call goes through:
//! identify the caller, throttle, inject faults, run the operation, log it.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::error::ApiError;
use super::faults::corrupt;
use super::identity::{Caller, caller_from_headers};
use super::paging::Page;
use super::requests::{Call, named_accounts};
use super::shared::{Shared, lock};
use super::wire::{AcceptIn, AccountIdsIn, CreateMembersIn};
use super::{actors, admin, hub, member};

/// Every operation the emulator serves; the names are the AWS operation names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    CreateMembers,
    InviteMembers,
    GetMembers,
    ListMembers,
    DisassociateMembers,
    DeleteMembers,
    DescribeHub,
    EnableSecurityHub,
    DisableSecurityHub,
    GetAdministratorAccount,
    AcceptAdministratorInvitation,
    ListInvitations,
    DeclineInvitations,
    DeleteInvitations,
    GetInvitationsCount,
    DisassociateFromAdministratorAccount,
    DescribeOrganizationConfiguration,
    UpdateOrganizationConfiguration,
    EnableOrganizationAdminAccount,
    ListOrganizationAdminAccounts,
    GetMasterAccount,
    AcceptInvitation,
    DisassociateFromMasterAccount,
}

impl Op {
    pub fn name(self) -> String {
        format!("{self:?}")
    }
}

/// One axum handler per operation, all funnelling into [`dispatch`].
macro_rules! aws {
    ($op:expr) => {
        move |State(shared): State<Arc<Shared>>, headers: HeaderMap, RawQuery(query): RawQuery, body: Bytes| {
            dispatch(shared, $op, headers, query, body)
        }
    };
}

/// The REST bindings exactly as the botocore service model declares them.
pub fn routes() -> Router<Arc<Shared>> {
    use Op::*;
    Router::new()
        .route("/members", post(aws!(CreateMembers)).get(aws!(ListMembers)))
        .route("/members/invite", post(aws!(InviteMembers)))
        .route("/members/get", post(aws!(GetMembers)))
        .route("/members/disassociate", post(aws!(DisassociateMembers)))
        .route("/members/delete", post(aws!(DeleteMembers)))
        .route(
            "/accounts",
            get(aws!(DescribeHub))
                .post(aws!(EnableSecurityHub))
                .delete(aws!(DisableSecurityHub)),
        )
        .route(
            "/administrator",
            get(aws!(GetAdministratorAccount)).post(aws!(AcceptAdministratorInvitation)),
        )
        .route(
            "/administrator/disassociate",
            post(aws!(DisassociateFromAdministratorAccount)),
        )
        .route("/invitations", get(aws!(ListInvitations)))
        .route("/invitations/decline", post(aws!(DeclineInvitations)))
        .route("/invitations/delete", post(aws!(DeleteInvitations)))
        .route("/invitations/count", get(aws!(GetInvitationsCount)))
        .route(
            "/organization/configuration",
            get(aws!(DescribeOrganizationConfiguration)).post(aws!(UpdateOrganizationConfiguration)),
        )
        .route("/organization/admin/enable", post(aws!(EnableOrganizationAdminAccount)))
        .route("/organization/admin", get(aws!(ListOrganizationAdminAccounts)))
        .route("/master", get(aws!(GetMasterAccount)).post(aws!(AcceptInvitation)))
        .route("/master/disassociate", post(aws!(DisassociateFromMasterAccount)))
}

/// Runs one call through the pipeline and records it in the request log.
async fn dispatch(shared: Arc<Shared>, op: Op, headers: HeaderMap, query: Option<String>, body: Bytes) -> Response {
    let caller = caller_from_headers(&headers, &shared.admin_account());
    let body = parse_body(&body);
    let named = body.as_ref().map(named_accounts).unwrap_or_default();
    let (response, outcome, unprocessed) = pipeline(&shared, op, &caller, query, body).await;
    tracing::info!(operation = ?op, caller = %caller.account, region = %caller.region, %outcome, "securityhub call");
    lock(&shared.log).record(Call {
        operation: &op.name(),
        caller: &caller.account,
        access_key_id: &caller.access_key_id,
        region: &caller.region,
        account_ids: named,
        outcome: &outcome,
        unprocessed,
    });
    response
}

async fn pipeline(
    shared: &Arc<Shared>,
    op: Op,
    caller: &Caller,
    query: Option<String>,
    body: Result<Value, ApiError>,
) -> (Response, String, Vec<String>) {
    let scope = caller.scope();
    lock(&shared.world).regions.insert(caller.region.clone());
    if !lock(&shared.limiter).try_acquire(&scope, std::time::Instant::now()) {
        return failed(ApiError::throttled());
    }
    let plan = {
        let mut rng = lock(&shared.rng);
        lock(&shared.faults).plan(&op.name(), &mut rng)
    };
    if let Some(latency) = plan.latency.filter(|_| !plan.late_answer) {
        tokio::time::sleep(latency).await;
    }
    if let Some(error) = plan.error.clone().filter(|_| !plan.after_commit) {
        return failed(error);
    }
    let result = body.and_then(|body| {
        let query = parse_query(query.as_deref())?;
        execute(shared, op, caller, &query, body)
    });
    if let Some(latency) = plan.latency.filter(|_| plan.late_answer) {
        tokio::time::sleep(latency).await;
    }
    let unprocessed = result.as_ref().map(unprocessed_ids).unwrap_or_default();
    if let Some(error) = plan.error {
        // Carried out, and the answer lost.
        let (response, code) = failure(error);
        return (response, code, unprocessed);
    }
    match result {
        Ok(value) => (corrupt(value, plan.corruption.as_ref()), "ok".to_string(), unprocessed),
        Err(error) => failed(error),
    }
}

/// A call that did nothing: its error and no account left unprocessed.
fn failed(error: ApiError) -> (Response, String, Vec<String>) {
    let (response, code) = failure(error);
    (response, code, Vec::new())
}

/// The accounts a successful answer lists as `UnprocessedAccounts` (not acted on).
fn unprocessed_ids(body: &Value) -> Vec<String> {
    body.get("UnprocessedAccounts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|u| u.get("AccountId").and_then(Value::as_str).map(str::to_string))
        .collect()
}

fn failure(error: ApiError) -> (Response, String) {
    let code = error.code.clone();
    (error.into_response(), code)
}

/// An empty body reads as `{}`; anything else must be a JSON object.
fn parse_body(body: &[u8]) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(serde_json::Map::new()));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(value @ Value::Object(_)) => Ok(value),
        Ok(_) => Err(ApiError::invalid_input("The request body must be a JSON object.")),
        Err(e) => Err(ApiError::invalid_input(format!("Malformed JSON in request body: {e}"))),
    }
}

fn parse_query(query: Option<&str>) -> Result<HashMap<String, String>, ApiError> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(query.unwrap_or_default())
        .map(|pairs| pairs.into_iter().collect())
        .map_err(|e| ApiError::invalid_input(format!("Malformed query string: {e}")))
}

/// Converts the JSON body into an operation's input; type mismatches are input errors.
fn input<T: DeserializeOwned>(body: Value) -> Result<T, ApiError> {
    serde_json::from_value(body).map_err(|e| ApiError::invalid_input(format!("Invalid request: {e}")))
}

fn page(query: &HashMap<String, String>, upper: u32) -> Result<Page, ApiError> {
    Page::parse(
        query.get("MaxResults").map(String::as_str),
        query.get("NextToken").map(String::as_str),
        upper,
    )
}

fn boolean(query: &HashMap<String, String>, name: &str, default: bool) -> Result<bool, ApiError> {
    match query.get(name).map(|v| v.to_ascii_lowercase()) {
        None => Ok(default),
        Some(v) if v == "true" => Ok(true),
        Some(v) if v == "false" => Ok(false),
        Some(v) => Err(ApiError::invalid_input(format!(
            "{name} must be true or false, not {v}."
        ))),
    }
}

/// Runs one operation against the world.
fn execute(
    shared: &Arc<Shared>,
    op: Op,
    caller: &Caller,
    query: &HashMap<String, String>,
    body: Value,
) -> Result<Value, ApiError> {
    let scope = caller.scope();
    if op == Op::InviteMembers {
        return invite(shared, caller, body);
    }
    let mut world = lock(&shared.world);
    let world = &mut *world;
    match op {
        Op::CreateMembers => admin::create_members(world, &scope, input::<CreateMembersIn>(body)?.account_details),
        Op::InviteMembers => Err(ApiError::new(super::error::INTERNAL, "unreachable")),
        Op::GetMembers => admin::get_members(world, &scope, ids(body)?, shared.missing_member),
        Op::ListMembers => {
            let only = boolean(query, "OnlyAssociated", true)?;
            admin::list_members(world, &scope, only, page(query, 50)?)
        }
        Op::DisassociateMembers => admin::disassociate_members(world, &scope, ids(body)?),
        Op::DeleteMembers => admin::delete_members(world, &scope, ids(body)?),
        Op::DescribeHub => hub::describe_hub(world, &scope, query.get("HubArn").map(String::as_str)),
        Op::EnableSecurityHub => hub::enable(world, &scope, input(body)?),
        Op::DisableSecurityHub => hub::disable(world, &scope),
        Op::GetAdministratorAccount => Ok(member::get_administrator(world, &scope, "Administrator")),
        Op::GetMasterAccount => Ok(member::get_administrator(world, &scope, "Master")),
        Op::AcceptAdministratorInvitation | Op::AcceptInvitation => {
            let accept: AcceptIn = input(body)?;
            let admin_id = if op == Op::AcceptInvitation {
                accept.master_id
            } else {
                accept.administrator_id
            };
            member::accept(world, &scope, admin_id, accept.invitation_id)
        }
        Op::ListInvitations => member::list_invitations(world, &scope, page(query, 50)?),
        Op::DeclineInvitations => member::decline(world, &scope, ids(body)?),
        Op::DeleteInvitations => member::delete_invitations(world, &scope, ids(body)?),
        Op::GetInvitationsCount => Ok(member::invitations_count(world, &scope)),
        Op::DisassociateFromAdministratorAccount | Op::DisassociateFromMasterAccount => {
            member::disassociate_from_administrator(world, &scope)
        }
        Op::DescribeOrganizationConfiguration => hub::describe_org_config(world, &scope),
        Op::UpdateOrganizationConfiguration => hub::update_org_config(world, &scope, input(body)?),
        Op::EnableOrganizationAdminAccount => hub::enable_org_admin(world, &scope, input(body)?),
        Op::ListOrganizationAdminAccounts => hub::list_org_admins(world, &scope, page(query, 10)?),
    }
}

fn ids(body: Value) -> Result<Option<Vec<String>>, ApiError> {
    Ok(input::<AccountIdsIn>(body)?.account_ids)
}

/// InviteMembers, then the simulated members' reactions once the lock is released.
fn invite(shared: &Arc<Shared>, caller: &Caller, body: Value) -> Result<Value, ApiError> {
    let scope = caller.scope();
    let account_ids = ids(body)?;
    let (value, sent) = {
        let mut world = lock(&shared.world);
        let mut new_id = || shared.new_invitation_id();
        admin::invite_members(&mut world, &scope, account_ids, &mut new_id)?
    };
    for (account, invitation_id) in sent {
        actors::on_invited(shared, &scope, &account, &invitation_id);
    }
    Ok(value)
}
