//! The `/_emulator` control API (outside AWS's paths) for tests, demos and
//! benchmarks: inspect state and the request log, reset, set faults and limits,
//! seed members and make member accounts act. Documented in docs/emulator.md.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::actors::{accept_as_member, pending_invitation};
use super::faults::parse_rules;
use super::limits::RateLimit;
use super::seed::{SeedRequest, seed_members};
use super::shared::{Shared, lock};
use super::state::{Hub, MemberStatus, Scope, World, is_account_id};
use super::wire::timestamp;
use super::{identity, member};

pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/_emulator/health", get(|| async { Json(json!({"ok": true})) }))
        .route("/_emulator/state", get(state))
        .route("/_emulator/requests", get(requests))
        .route("/_emulator/reset", post(reset))
        .route(
            "/_emulator/faults",
            get(get_faults).post(set_faults).delete(clear_faults),
        )
        .route("/_emulator/limits", get(get_limits).post(set_limits))
        .route("/_emulator/members", post(seed))
        .route("/_emulator/organization-accounts", post(add_organization_accounts))
        .route("/_emulator/accounts/{id}/{action}", post(account_action))
}

/// A control-API failure: a status and `{"error": message}`.
fn problem(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({"error": message.into()}))).into_response()
}

async fn state(State(shared): State<Arc<Shared>>) -> Json<Value> {
    Json(dump(&lock(&shared.world)))
}

/// All members per administrator and region, the invitations as members see
/// them, and whether each known (account, region) has Security Hub on.
pub fn dump(world: &World) -> Value {
    let mut members: BTreeMap<&str, BTreeMap<&str, Vec<Value>>> = BTreeMap::new();
    let mut invitations = Vec::new();
    for (scope, table) in &world.members {
        for m in table.values() {
            members
                .entry(scope.account.as_str())
                .or_default()
                .entry(scope.region.as_str())
                .or_default()
                .push(member_json(m));
            if let Some(inv) = &m.invitation {
                invitations.push(json!({
                    "member": m.account_id, "region": scope.region, "administrator": scope.account,
                    "invitationId": inv.invitation_id, "invitedAt": timestamp(&inv.invited_at),
                    "memberStatus": m.status.as_str(), "declined": inv.declined, "deleted": inv.deleted,
                }));
            }
        }
    }
    json!({
        "adminAccount": world.directory.admin_account,
        "organizationAccounts": world.directory.organization_accounts,
        "suspendedAccounts": world.directory.suspended_accounts,
        "regions": world.regions,
        "hubs": hubs(world),
        "members": members,
        "invitations": invitations,
        "organizationAdmins": world.org_admins.iter().map(|(s, a)| json!({"account": s.account, "region": s.region, "admins": a})).collect::<Vec<_>>(),
    })
}

fn member_json(m: &super::state::Member) -> Value {
    json!({
        "accountId": m.account_id, "email": m.email, "status": m.status.as_str(),
        "organization": m.organization, "updatedAt": timestamp(&m.updated_at),
        "invitationId": m.invitation.as_ref().map(|i| i.invitation_id.clone()),
    })
}

/// account -> region -> enabled, for every scope with explicit state plus the
/// administrator in every region seen.
fn hubs(world: &World) -> BTreeMap<String, BTreeMap<String, bool>> {
    let mut scopes: BTreeSet<Scope> = world.hubs.keys().cloned().collect();
    for region in &world.regions {
        scopes.insert(Scope::new(&world.directory.admin_account, region));
    }
    let mut out: BTreeMap<String, BTreeMap<String, bool>> = BTreeMap::new();
    for scope in scopes {
        let enabled = world.hub_enabled(&scope);
        out.entry(scope.account).or_default().insert(scope.region, enabled);
    }
    out
}

#[derive(Deserialize)]
struct Since {
    since: Option<u64>,
}

async fn requests(State(shared): State<Arc<Shared>>, Query(q): Query<Since>) -> Json<Value> {
    Json(lock(&shared.log).snapshot(q.since.unwrap_or(0)))
}

/// Back to the start: world, request log, faults, throttling buckets, sessions.
async fn reset(State(shared): State<Arc<Shared>>) -> Json<Value> {
    lock(&shared.world).reset(shared.initial_directory.clone());
    lock(&shared.log).clear();
    lock(&shared.faults).rules.clear();
    let limit = lock(&shared.limiter).limit();
    lock(&shared.limiter).set_limit(limit);
    lock(&shared.sessions).clear();
    Json(json!({"ok": true}))
}

async fn get_faults(State(shared): State<Arc<Shared>>) -> Json<Value> {
    Json(json!({"rules": lock(&shared.faults).rules}))
}

/// Replaces the fault rules with the ones given.
async fn set_faults(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    match parse_rules(&body) {
        Ok(rules) => {
            let mut faults = lock(&shared.faults);
            faults.rules = rules;
            Json(json!({"rules": faults.rules})).into_response()
        }
        Err(e) => problem(StatusCode::BAD_REQUEST, format!("invalid fault rules: {e}")),
    }
}

async fn clear_faults(State(shared): State<Arc<Shared>>) -> Json<Value> {
    lock(&shared.faults).rules.clear();
    Json(json!({"rules": []}))
}

async fn get_limits(State(shared): State<Arc<Shared>>) -> Json<RateLimit> {
    Json(lock(&shared.limiter).limit())
}

async fn set_limits(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    match serde_json::from_slice::<RateLimit>(&body) {
        Ok(limit) => {
            lock(&shared.limiter).set_limit(limit);
            Json(limit).into_response()
        }
        Err(e) => problem(
            StatusCode::BAD_REQUEST,
            format!("expected {{\"rate\", \"burst\"}}: {e}"),
        ),
    }
}

async fn seed(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let request = match serde_json::from_slice::<SeedRequest>(&body) {
        Ok(r) => r,
        Err(e) => {
            return problem(StatusCode::BAD_REQUEST, format!("invalid seed request: {e}"));
        }
    };
    let mut world = lock(&shared.world);
    match seed_members(&mut world, &shared, request.into_list()) {
        Ok(count) => Json(json!({"seeded": count})).into_response(),
        Err(message) => problem(StatusCode::BAD_REQUEST, message),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AccountList {
    account_ids: Vec<String>,
}

/// Adds organization accounts at run time (kept until the emulator stops).
async fn add_organization_accounts(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let list = match serde_json::from_slice::<AccountList>(&body) {
        Ok(l) if l.account_ids.iter().all(|a| is_account_id(a)) => l,
        _ => {
            return problem(StatusCode::BAD_REQUEST, "expected {\"accountIds\": [12-digit ids]}");
        }
    };
    let mut world = lock(&shared.world);
    world.directory.organization_accounts.extend(list.account_ids);
    Json(json!({"organizationAccounts": world.directory.organization_accounts})).into_response()
}

#[derive(Deserialize)]
struct RegionQuery {
    region: Option<String>,
}

/// `POST /_emulator/accounts/{id}/{action}`: the account acts in `?region=` or in
/// every region where it has state.
async fn account_action(
    State(shared): State<Arc<Shared>>,
    Path((account, action)): Path<(String, String)>,
    Query(q): Query<RegionQuery>,
) -> Response {
    if !is_account_id(&account) {
        return problem(
            StatusCode::BAD_REQUEST,
            format!("{account} is not a 12-digit account id"),
        );
    }
    let mut world = lock(&shared.world);
    let regions = target_regions(&world, &account, q.region, &action);
    let mut changed = Vec::new();
    for region in regions {
        let scope = Scope::new(&account, &region);
        match act(&mut world, &scope, &action) {
            Ok(Some(admin)) => changed.push(json!({"region": region, "administrator": admin})),
            Ok(None) => {}
            Err(message) => return problem(StatusCode::BAD_REQUEST, message),
        }
    }
    if changed.is_empty() {
        return problem(StatusCode::NOT_FOUND, format!("nothing to {action} for {account}"));
    }
    Json(json!({"account": account, "action": action, "changed": changed})).into_response()
}

fn target_regions(world: &World, account: &str, region: Option<String>, action: &str) -> BTreeSet<String> {
    if let Some(region) = region {
        return BTreeSet::from([region]);
    }
    let mut regions = world.regions_of(account);
    if regions.is_empty() && action == "enable-hub" {
        regions = world.regions.clone();
        regions.insert(identity::DEFAULT_REGION.to_string());
    }
    regions
}

/// Runs one action in one region: Ok(Some(label)) when something changed.
fn act(world: &mut World, scope: &Scope, action: &str) -> Result<Option<String>, String> {
    match action {
        "accept" => Ok(pending_invitation(world, &scope.account, &scope.region)
            .and_then(|(admin, id)| accept_as_member(world, scope, &admin, &id).ok().map(|()| admin))),
        "decline" => Ok(
            pending_invitation(world, &scope.account, &scope.region).and_then(|(admin, _)| {
                member::decline(world, scope, Some(vec![admin.clone()]))
                    .ok()
                    .map(|_| admin)
            }),
        ),
        "resign" => {
            let admin = world.enabled_administrator(&scope.account, &scope.region);
            match admin {
                None => Ok(None),
                Some(admin) => member::disassociate_from_administrator(world, scope)
                    .map(|_| Some(admin))
                    .map_err(|e| e.message),
            }
        }
        "suspend" => Ok(suspend(world, scope)),
        "enable-hub" => Ok(world.enable_hub(scope, Hub::new()).then(|| "hub".to_string())),
        "disable-hub" => {
            let was = world.hub_enabled(scope);
            world.disable_hub(scope);
            Ok(was.then(|| "hub".to_string()))
        }
        other => Err(format!(
            "unknown action {other}; use accept, decline, resign, suspend, enable-hub or disable-hub"
        )),
    }
}

/// The account is suspended from AWS: every membership becomes AccountSuspended.
fn suspend(world: &mut World, scope: &Scope) -> Option<String> {
    world.directory.suspended_accounts.insert(scope.account.clone());
    let admins: Vec<String> = world
        .memberships_of(&scope.account, &scope.region)
        .map(|(admin, _)| admin.clone())
        .collect();
    for admin in &admins {
        if let Some(m) = world.member_mut(admin, &scope.region, &scope.account) {
            m.set_status(MemberStatus::AccountSuspended);
        }
    }
    Some(admins.join(","))
}
