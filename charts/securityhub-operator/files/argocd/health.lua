-- Argo CD health of a SecurityHubMember (securityhub.operator.dev/v1alpha1), from its Ready condition.
-- Install as resource.customizations.health.securityhub.operator.dev_SecurityHubMember (see argocd-cm.yaml).
local hs = { status = "Progressing", message = "Waiting for the operator to reconcile this member" }

-- Reasons after which waiting does not help: the spec, AWS or the operator's setup must change.
local degraded = {
  Resigned = true, Removed = true, AccountSuspended = true, Deleted = true,
  AlreadyExists = true, Conflict = true, Unprocessed = true, AccessDenied = true,
  SecurityHubNotEnabled = true, InvalidConfiguration = true, Unsupported = true,
  CredentialsError = true, UnknownMemberStatus = true, AwsError = true,
}

local status = obj.status
local generation = obj.metadata and obj.metadata.generation
if status == nil or status.conditions == nil then
  return hs
end
if generation ~= nil and (status.observedGeneration == nil or status.observedGeneration < generation) then
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  return hs
end

local ready = nil
for _, condition in ipairs(status.conditions) do
  if condition.type == "Ready" then
    ready = condition
  end
end
if ready == nil then
  return hs
end
if ready.observedGeneration ~= nil and generation ~= nil and ready.observedGeneration < generation then
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  return hs
end

hs.message = ready.message or ready.reason or ""
if ready.status == "True" then
  hs.status = "Healthy"
elseif degraded[ready.reason] then
  hs.status = "Degraded"
elseif ready.reason == "DryRun" then
  -- The operator runs with --dry-run: it reports but never changes AWS, so nothing will progress.
  hs.status = "Suspended"
else
  -- Creating, Inviting, AwaitingAcceptance, Deleting, Throttled, or a reason this script does not know yet.
  hs.status = "Progressing"
end
return hs
