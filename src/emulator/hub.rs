//! Security Hub itself (DescribeHub, EnableSecurityHub, DisableSecurityHub) and
//! the organization operations of the delegated administrator.

use serde_json::{Value, json};

use super::admin::require_hub;
use super::error::{ACCESS_DENIED, ApiError, CONFLICT, INVALID_ACCESS};
use super::limits::MAX_ORGANIZATION_MEMBERS;
use super::paging::{Page, paginate};
use super::state::{Hub, MemberStatus, Scope, World};
use super::wire::{EnableHubIn, EnableOrgAdminIn, UpdateOrgConfigIn, timestamp};

/// The ARN AWS gives the hub of an account in a region.
pub fn hub_arn(scope: &Scope) -> String {
    format!("arn:aws:securityhub:{}:{}:hub/default", scope.region, scope.account)
}

/// DescribeHub: `HubArn`, if given, must name the caller's own hub.
pub fn describe_hub(world: &World, caller: &Scope, hub_arn_query: Option<&str>) -> Result<Value, ApiError> {
    let hub = world
        .hub(caller)
        .ok_or_else(|| ApiError::not_subscribed(&caller.account))?;
    let own_arn = hub_arn(caller);
    if let Some(asked) = hub_arn_query.filter(|a| !a.is_empty()) {
        if !asked.starts_with("arn:") {
            return Err(ApiError::invalid_input(format!("Invalid HubArn {asked}.")));
        }
        if asked != own_arn {
            return Err(ApiError::not_found(format!("Hub {asked} was not found.")));
        }
    }
    Ok(json!({
        "HubArn": own_arn,
        "SubscribedAt": timestamp(&hub.subscribed_at),
        "AutoEnableControls": hub.auto_enable_controls,
        "ControlFindingGenerator": hub.control_finding_generator,
    }))
}

/// EnableSecurityHub: ResourceConflictException when it is already on.
pub fn enable(world: &mut World, caller: &Scope, input: EnableHubIn) -> Result<Value, ApiError> {
    let mut hub = Hub::new();
    if let Some(generator) = input.control_finding_generator {
        if !matches!(generator.as_str(), "STANDARD_CONTROL" | "SECURITY_CONTROL") {
            return Err(ApiError::invalid_input(format!(
                "Invalid ControlFindingGenerator {generator}."
            )));
        }
        hub.control_finding_generator = generator;
    }
    let _ = (input.enable_default_standards, input.tags);
    if world.enable_hub(caller, hub) {
        Ok(json!({}))
    } else {
        Err(ApiError::new(
            CONFLICT,
            format!("Account {} is already subscribed to Security Hub", caller.account),
        ))
    }
}

/// DisableSecurityHub: refused while the account administers members or is an
/// associated member, as AWS requires disassociating first.
pub fn disable(world: &mut World, caller: &Scope) -> Result<Value, ApiError> {
    require_hub(world, caller)?;
    if world.has_members(&caller.account, &caller.region) {
        return Err(ApiError::invalid_input(format!(
            "Account {} is an administrator account with member accounts; remove them before disabling Security Hub.",
            caller.account
        )));
    }
    if let Some(admin) = world.enabled_administrator(&caller.account, &caller.region) {
        return Err(ApiError::invalid_input(format!(
            "Account {} is a member of administrator account {admin}; disassociate before disabling Security Hub.",
            caller.account
        )));
    }
    world.disable_hub(caller);
    Ok(json!({}))
}

/// DescribeOrganizationConfiguration for the caller's region.
pub fn describe_org_config(world: &World, caller: &Scope) -> Result<Value, ApiError> {
    require_hub(world, caller)?;
    require_org_admin(world, caller)?;
    let config = world.org_configs.get(caller).cloned().unwrap_or_default();
    let org_members = world.members.get(caller).map_or(0, |t| {
        t.values()
            .filter(|m| m.organization && m.status != MemberStatus::Deleted)
            .count()
    });
    Ok(json!({
        "AutoEnable": config.auto_enable,
        "MemberAccountLimitReached": org_members >= MAX_ORGANIZATION_MEMBERS,
        "AutoEnableStandards": config.auto_enable_standards,
        "OrganizationConfiguration": {
            "ConfigurationType": config.configuration_type,
            "Status": "ENABLED",
        },
    }))
}

/// The organization configuration belongs to the organization's administrator; AWS
/// answers everyone else with this InvalidAccessException (HTTP 401).
fn require_org_admin(world: &World, caller: &Scope) -> Result<(), ApiError> {
    if world.is_organization_administrator(caller) {
        return Ok(());
    }
    Err(ApiError::new(
        INVALID_ACCESS,
        format!(
            "Account {} is not an administrator for this organization",
            caller.account
        ),
    ))
}

/// UpdateOrganizationConfiguration: `AutoEnable` is required by the model.
pub fn update_org_config(world: &mut World, caller: &Scope, input: UpdateOrgConfigIn) -> Result<Value, ApiError> {
    require_hub(world, caller)?;
    require_org_admin(world, caller)?;
    let auto_enable = input
        .auto_enable
        .ok_or_else(|| ApiError::invalid_input("AutoEnable is required."))?;
    let mut config = world.org_configs.get(caller).cloned().unwrap_or_default();
    config.auto_enable = auto_enable;
    if let Some(standards) = input.auto_enable_standards {
        if !matches!(standards.as_str(), "NONE" | "DEFAULT") {
            return Err(ApiError::invalid_input(format!(
                "Invalid AutoEnableStandards {standards}."
            )));
        }
        config.auto_enable_standards = standards;
    }
    if let Some(kind) = input.organization_configuration.and_then(|c| c.configuration_type) {
        if !matches!(kind.as_str(), "LOCAL" | "CENTRAL") {
            return Err(ApiError::invalid_input(format!("Invalid ConfigurationType {kind}.")));
        }
        config.configuration_type = kind;
    }
    world.org_configs.insert(caller.clone(), config);
    Ok(json!({}))
}

/// EnableOrganizationAdminAccount: only the management account (when one is
/// configured) may designate the delegated administrator.
pub fn enable_org_admin(world: &mut World, caller: &Scope, input: EnableOrgAdminIn) -> Result<Value, ApiError> {
    let admin = input
        .admin_account_id
        .filter(|a| !a.trim().is_empty())
        .ok_or_else(|| ApiError::invalid_input("AdminAccountId is required."))?;
    if !super::state::is_account_id(&admin) {
        return Err(ApiError::invalid_input(format!("Invalid AdminAccountId {admin}.")));
    }
    if let Some(management) = &world.directory.management_account
        && management != &caller.account
    {
        return Err(ApiError::new(
            ACCESS_DENIED,
            format!("Account {} is not the organization management account.", caller.account),
        ));
    }
    world
        .org_admins
        .entry(caller.clone())
        .or_default()
        .insert(admin.clone());
    let mut body = json!({ "AdminAccountId": admin });
    if let Some(feature) = input.feature {
        body["Feature"] = Value::String(feature);
    }
    Ok(body)
}

/// ListOrganizationAdminAccounts (MaxResults 1..10).
pub fn list_org_admins(world: &World, caller: &Scope, page: Page) -> Result<Value, ApiError> {
    let admins = world
        .org_admins
        .get(caller)
        .map(|set| {
            set.iter()
                .map(|a| (a.clone(), json!({"AccountId": a, "Status": "ENABLED"})))
                .collect()
        })
        .unwrap_or_default();
    let (items, next) = paginate(admins, &page)?;
    let mut body = json!({ "AdminAccounts": items });
    if let Some(token) = next {
        body["NextToken"] = Value::String(token);
    }
    Ok(body)
}
