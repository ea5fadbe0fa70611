"""The Helm chart without a cluster: lint, render with default and non-default values, schema, CRD copy,
and equivalence with the kustomize base (deploy/)."""

import json
from pathlib import Path

import pytest
import yaml

from conftest import CHART, CRD_FILE, ROOT, by_kind, docs, one, run, template

HERE = Path(__file__).resolve().parent
FULL = HERE / "values-full.yaml"
OPERATOR_RULES = [
    {"apiGroups": ["securityhub.operator.dev"], "resources": ["securityhubmembers"],
     "verbs": ["get", "list", "watch", "patch", "update"]},
    {"apiGroups": ["securityhub.operator.dev"], "resources": ["securityhubmembers/status"],
     "verbs": ["get", "patch", "update"]},
    {"apiGroups": ["securityhub.operator.dev"], "resources": ["securityhubmembers/finalizers"], "verbs": ["update"]},
    {"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch"]},
    {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]},
]
JOURNAL_RULES = [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list", "create", "delete"]}]
LEASE_RULES = [{"apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
                "verbs": ["get", "list", "watch", "create", "update", "patch"]}]


MAP_API = "admissionregistration.k8s.io/v1/MutatingAdmissionPolicy"


def container(objects):
    return one(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]


# ---------------------------------------------------------------------------------------------------- lint


def test_lint_strict_default_values(helm):
    run([helm, "lint", "--strict", CHART])


def test_lint_strict_non_default_values(helm):
    run([helm, "lint", "--strict", CHART, "-f", FULL])


# ---------------------------------------------------------------------------------------------------- defaults


def test_default_render_objects(helm):
    objects = template(helm)
    kinds = sorted((o["kind"], o["metadata"]["name"]) for o in objects)
    assert kinds == sorted([
        ("CustomResourceDefinition", "securityhubmembers.securityhub.operator.dev"),
        ("ServiceAccount", "securityhub-operator"),
        ("ClusterRole", "securityhub-operator"),
        ("ClusterRoleBinding", "securityhub-operator"),
        ("Role", "securityhub-operator-leader-election"),
        ("RoleBinding", "securityhub-operator-leader-election"),
        ("Role", "securityhub-operator-claim-journal"),
        ("RoleBinding", "securityhub-operator-claim-journal"),
        ("ClusterRole", "securityhub-operator-view"),
        ("ClusterRole", "securityhub-operator-edit"),
        ("Deployment", "securityhub-operator"),
        ("Service", "securityhub-operator-metrics"),
        ("PodDisruptionBudget", "securityhub-operator"),
    ])
    for o in objects:
        if o["kind"] not in ("CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding"):
            assert o["metadata"]["namespace"] == "securityhub-operator-system", o["metadata"]["name"]


def test_default_deployment_meets_restricted_pod_security(helm):
    deployment = one(template(helm), "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert deployment["spec"]["replicas"] == 2
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 65532
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["serviceAccountName"] == "securityhub-operator"
    assert pod.get("hostNetwork") is None and pod.get("hostPID") is None and pod.get("volumes") is None
    sc = pod["containers"][0]["securityContext"]
    assert sc["runAsNonRoot"] is True and sc["runAsUser"] == 65532
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert "privileged" not in sc


def test_default_container_args_env_probes(helm):
    c = container(template(helm))
    assert c["image"] == "ghcr.io/securityhub-operator/securityhub-operator:0.1.0"
    assert c["args"] == [
        "run", "--regions=us-east-1", "--resync-enabled=1h", "--resync-pending=5m", "--max-batch-size=50",
        "--batch-window=200ms", "--api-rate=10", "--api-burst=30", "--concurrency=400", "--kube-max-in-flight=32",
        "--leader-election",
        "--leader-election-id=securityhub-operator", "--lease-duration=15s",
        "--metrics-bind-address=0.0.0.0:8080", "--log-format=json", "--log-level=info",
    ]
    env = {e["name"]: e for e in c["env"]}
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    assert env["AWS_REGION"]["value"] == "us-east-1"
    assert "AWS_ENDPOINT_URL_SECURITYHUB" not in env
    assert c["ports"] == [{"name": "metrics", "containerPort": 8080, "protocol": "TCP"}]
    assert c["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "metrics"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert c["resources"] == {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}}


def rbac_objects(objects):
    return [o for o in objects if o["kind"] in ("ClusterRole", "Role")]


def assert_least_privilege(objects):
    for role in rbac_objects(objects):
        for rule in role["rules"]:
            for field in ("apiGroups", "resources", "verbs"):
                assert "*" not in rule.get(field, []), (role["metadata"]["name"], rule)
            assert not any("secret" in r for r in rule["resources"]), (role["metadata"]["name"], rule)
            assert "nonResourceURLs" not in rule and "resourceNames" not in rule
            assert not set(rule["verbs"]) & {"escalate", "bind", "impersonate"}


def test_default_rbac_is_least_privilege(helm):
    objects = template(helm)
    assert_least_privilege(objects)
    assert one(objects, "ClusterRole", "securityhub-operator")["rules"] == OPERATOR_RULES
    lease = one(objects, "Role", "securityhub-operator-leader-election")
    assert lease["metadata"]["namespace"] == "securityhub-operator-system"
    assert lease["rules"] == LEASE_RULES
    journal = one(objects, "Role", "securityhub-operator-claim-journal")
    assert journal["metadata"]["namespace"] == "securityhub-operator-system"
    assert journal["rules"] == JOURNAL_RULES
    assert one(objects, "RoleBinding", "securityhub-operator-claim-journal")["roleRef"]["name"] == journal["metadata"]["name"]
    assert "--claim-journal=false" not in container(objects)["args"]
    binding = one(objects, "ClusterRoleBinding")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "securityhub-operator",
                                    "namespace": "securityhub-operator-system"}]
    assert binding["roleRef"]["name"] == "securityhub-operator"
    # The operator's identity gets nothing from the aggregated roles (they are for people).
    for name in ("securityhub-operator-view", "securityhub-operator-edit"):
        labels = one(objects, "ClusterRole", name)["metadata"]["labels"]
        assert labels.get("rbac.authorization.k8s.io/aggregate-to-admin") == "true"


# ---------------------------------------------------------------------------------------------------- CRD


def test_chart_crd_copy_is_the_committed_crd():
    copy = CHART / "files/crds/securityhub.operator.dev_securityhubmembers.yaml"
    assert copy.read_bytes() == CRD_FILE.read_bytes(), "run scripts/chart-crds.sh"
    assert (ROOT / "deploy/base/crd/securityhub.operator.dev_securityhubmembers.yaml").read_bytes() == \
        CRD_FILE.read_bytes(), "run scripts/chart-crds.sh"
    run([ROOT / "scripts/chart-crds.sh", "--check"])


def test_crd_rendered_from_crds_dir_with_keep(helm):
    committed = yaml.safe_load(CRD_FILE.read_text())
    crd = one(template(helm), "CustomResourceDefinition")
    assert crd["spec"] == committed["spec"]
    assert crd["metadata"]["name"] == "securityhubmembers.securityhub.operator.dev"
    assert crd["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert crd["metadata"]["annotations"]["argocd.argoproj.io/sync-options"] == "Delete=false"
    assert crd["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "Helm"


def test_crd_keep_off_drops_the_annotation(helm):
    crd = one(template(helm, "--set", "crds.keep=false"), "CustomResourceDefinition")
    assert "helm.sh/resource-policy" not in (crd["metadata"].get("annotations") or {})


def test_crd_install_off_renders_no_crd(helm):
    objects = template(helm, "--set", "crds.install=false")
    assert by_kind(objects, "CustomResourceDefinition") == []
    assert one(objects, "Deployment")


# ---------------------------------------------------------------------------------------------------- non-default


def test_claim_journal_off_drops_its_role_and_says_so(helm):
    objects = template(helm, "--set", "claimJournal=false")
    assert "securityhub-operator-claim-journal" not in [o["metadata"]["name"] for o in rbac_objects(objects)]
    assert "--claim-journal=false" in container(objects)["args"]


def test_watch_namespaces_use_roles_per_namespace(helm):
    objects = template(helm, "--set", "watchNamespaces={security,payments}")
    assert_least_privilege(objects)
    assert [o["metadata"]["name"] for o in by_kind(objects, "ClusterRoleBinding")] == []
    assert "securityhub-operator" not in [o["metadata"]["name"] for o in by_kind(objects, "ClusterRole")]
    roles = {(o["metadata"]["namespace"], o["metadata"]["name"]): o for o in by_kind(objects, "Role")}
    for ns in ("security", "payments"):
        assert roles[(ns, "securityhub-operator")]["rules"] == OPERATOR_RULES
        binding = one([o for o in by_kind(objects, "RoleBinding") if o["metadata"]["namespace"] == ns], "RoleBinding")
        assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                      "name": "securityhub-operator"}
        assert binding["subjects"][0]["namespace"] == "securityhub-operator-system"
    assert roles[("securityhub-operator-system", "securityhub-operator-leader-election")]["rules"] == LEASE_RULES
    args = container(objects)["args"]
    assert "--watch-namespace=security" in args and "--watch-namespace=payments" in args


def test_full_values_render(helm):
    objects = template(helm, "-f", FULL, release="prod")
    assert_least_privilege(objects)
    deployment = one(objects, "Deployment", "prod-sho")
    pod = deployment["spec"]["template"]["spec"]
    c = pod["containers"][0]
    assert deployment["spec"]["replicas"] == 3
    assert c["image"] == ("registry.example.com/security/securityhub-operator@sha256:"
                          "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
    assert c["imagePullPolicy"] == "Always"
    assert pod["imagePullSecrets"] == [{"name": "regcred"}]
    assert c["args"] == [
        "run", "--regions=eu-west-1,us-east-1,us-gov-west-1", "--watch-namespace=security",
        "--watch-namespace=payments", "--resync-enabled=30m", "--resync-pending=2m", "--max-batch-size=25",
        "--batch-window=500ms", "--api-rate=5.5", "--api-burst=12", "--concurrency=8", "--kube-max-in-flight=16",
        "--dry-run",
        "--leader-election", "--leader-election-id=sho-leader", "--lease-duration=30s",
        "--metrics-bind-address=0.0.0.0:9090", "--log-format=text", "--log-level=securityhub_operator=debug,info",
        "--some-future-flag=1",
    ]
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["AWS_REGION"] == "eu-west-1"
    assert env["AWS_ENDPOINT_URL_SECURITYHUB"] == "http://127.0.0.1:4599"
    assert env["AWS_ENDPOINT_URL_STS"] == "https://sts.eu-west-1.amazonaws.com"
    assert env["HTTPS_PROXY"] == "http://10.30.0.10:3128"
    assert c["envFrom"] == [{"configMapRef": {"name": "proxy-settings"}}]
    assert c["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
    assert pod["volumes"] == [{"name": "tmp", "emptyDir": {"sizeLimit": "16Mi"}}]
    assert c["ports"][0]["containerPort"] == 9090
    assert c["livenessProbe"]["periodSeconds"] == 20
    assert pod["priorityClassName"] == "system-cluster-critical"
    assert pod["nodeSelector"] == {"kubernetes.io/os": "linux"}
    assert pod["tolerations"][0]["key"] == "dedicated"
    assert "nodeAffinity" in pod["affinity"] and "podAntiAffinity" not in pod["affinity"]
    assert pod["topologySpreadConstraints"][0]["topologyKey"] == "topology.kubernetes.io/zone"
    assert pod["terminationGracePeriodSeconds"] == 45
    assert pod["serviceAccountName"] == "shm-operator"
    meta = deployment["spec"]["template"]["metadata"]
    assert meta["annotations"]["example.com/team"] == "security"
    assert meta["labels"]["team"] == "security"
    sa = one(objects, "ServiceAccount", "shm-operator")
    assert sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"] == \
        "arn:aws:iam::210987654321:role/securityhub-operator"
    for o in objects:
        assert o["metadata"]["labels"]["cost-center"] == "sec-42", o["kind"]
        assert o["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"] == "-1", o["kind"]
    crd = one(objects, "CustomResourceDefinition")
    assert "helm.sh/resource-policy" not in crd["metadata"]["annotations"]
    assert [o["metadata"]["name"] for o in by_kind(objects, "ClusterRole")] == []  # watchNamespaces, no aggregation
    svc = one(objects, "Service", "prod-sho-metrics")
    assert svc["spec"]["ports"] == [{"name": "metrics", "port": 9091, "targetPort": "metrics", "protocol": "TCP"}]
    assert svc["metadata"]["annotations"]["prometheus.io/scrape"] == "true"
    sm = one(objects, "ServiceMonitor")
    assert sm["metadata"]["labels"]["release"] == "prometheus"
    assert sm["spec"]["endpoints"] == [{"port": "metrics", "path": "/metrics", "interval": "15s",
                                        "scrapeTimeout": "10s"}]
    assert sm["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()
    pdb = one(objects, "PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 1 and "minAvailable" not in pdb["spec"]
    np = one(objects, "NetworkPolicy")["spec"]
    assert np["policyTypes"] == ["Ingress", "Egress"]
    assert np["ingress"] == [{"ports": [{"port": "metrics", "protocol": "TCP"}],
                              "from": [{"namespaceSelector": {"matchLabels": {
                                  "kubernetes.io/metadata.name": "monitoring"}}}]}]
    egress = np["egress"]
    assert {"port": 53, "protocol": "UDP"} in egress[0]["ports"] and {"port": 53, "protocol": "TCP"} in egress[0]["ports"]
    assert egress[1] == {"ports": [{"port": 443, "protocol": "TCP"}], "to": [{"ipBlock": {"cidr": "10.0.0.1/32"}}]}
    assert egress[2] == {"ports": [{"port": 443, "protocol": "TCP"}], "to": [{"ipBlock": {"cidr": "10.20.0.0/16"}}]}
    assert egress[3]["ports"] == [{"port": 3128, "protocol": "TCP"}]
    assert len(egress) == 4  # podIdentityAgent: false


def test_network_policy_defaults(helm):
    np = one(template(helm, "--set", "networkPolicy.enabled=true"), "NetworkPolicy")["spec"]
    assert np["ingress"] == [{"ports": [{"port": "metrics", "protocol": "TCP"}]}]
    api, aws, pod_identity = np["egress"][1:]
    assert api == {"ports": [{"port": 443, "protocol": "TCP"}, {"port": 6443, "protocol": "TCP"}]}
    assert aws["to"] == [{"ipBlock": {"cidr": "0.0.0.0/0"}}]
    assert pod_identity["ports"] == [{"port": 80, "protocol": "TCP"}]
    assert {"ipBlock": {"cidr": "169.254.170.23/32"}} in pod_identity["to"]


def test_single_replica_has_no_pdb_and_may_skip_leader_election(helm):
    objects = template(helm, "--set", "replicaCount=1", "--set", "leaderElection.enabled=false")
    assert by_kind(objects, "PodDisruptionBudget") == []
    # Only the claim journal's Role is left; it lives where POD_NAMESPACE points, leader or not.
    assert [o["metadata"]["name"] for o in by_kind(objects, "Role")] == ["securityhub-operator-claim-journal"]
    assert not any(a.startswith("--leader-election") for a in container(objects)["args"])
    env = {e["name"]: e for e in container(objects)["env"]}
    assert env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"


def test_two_replicas_without_leader_election_are_refused(helm):
    done = template(helm, "--set", "leaderElection.enabled=false", check=False)
    assert done.returncode != 0
    assert "leaderElection.enabled" in done.stderr


def test_existing_service_account_needs_a_name(helm):
    done = template(helm, "--set", "serviceAccount.create=false", check=False)
    assert done.returncode != 0 and "serviceAccount.name" in done.stderr
    objects = template(helm, "--set", "serviceAccount.create=false", "--set", "serviceAccount.name=existing")
    assert by_kind(objects, "ServiceAccount") == []
    assert one(objects, "Deployment")["spec"]["template"]["spec"]["serviceAccountName"] == "existing"
    assert one(objects, "ClusterRoleBinding")["subjects"][0]["name"] == "existing"


def test_image_tag_overrides_app_version(helm):
    assert container(template(helm, "--set", "image.tag=0.2.0-rc.1"))["image"] == \
        "ghcr.io/securityhub-operator/securityhub-operator:0.2.0-rc.1"


# ---------------------------------------------------------------------------------------------------- schema

WRONG_VALUES = [
    # (values, words the error must contain)
    ({"replicaCount": "two"}, ["replicaCount"]),
    ({"replicaCount": 1.5}, ["replicaCount"]),
    ({"regions": "us-east-1"}, ["regions"]),
    ({"regions": ["US East"]}, ["regions"]),
    ({"regions": []}, ["regions"]),
    ({"watchNamespaces": ["Not_A_Namespace"]}, ["watchNamespaces"]),
    ({"batching": {"maxBatchSize": 100}}, ["maxBatchSize"]),
    ({"batching": {"maxBatchSize": "50"}}, ["maxBatchSize"]),
    ({"resync": {"enabled": "hourly"}}, ["resync", "enabled"]),
    ({"rateLimit": {"rate": "fast"}}, ["rate"]),
    ({"dryRun": "yes"}, ["dryRun"]),
    ({"logFormat": "yaml"}, ["logFormat"]),
    ({"leaderElection": {"enabled": "true"}}, ["leaderElection", "enabled"]),
    ({"image": {"pullPolicy": "Sometimes"}}, ["pullPolicy"]),
    ({"image": {"tag": 1.2}}, ["tag"]),
    ({"aws": {"endpointUrl": "securityhub.local:4566"}}, ["endpointUrl"]),
    ({"serviceAccount": {"annotations": ["eks.amazonaws.com/role-arn"]}}, ["annotations"]),
    ({"crds": {"install": "yes"}}, ["crds", "install"]),
    ({"metrics": {"port": 70000}}, ["port"]),
    ({"resources": "lots"}, ["resources"]),
    ({"extraEnv": [{"value": "no name"}]}, ["extraEnv", "name"]),
    ({"replicas": 2}, ["replicas"]),  # unknown top-level key (a typo of replicaCount)
    ({"crds": {"enabled": True}}, ["enabled"]),  # cert-manager's spelling, not this chart's
]


@pytest.mark.parametrize("values,words", WRONG_VALUES, ids=[json.dumps(v) for v, _ in WRONG_VALUES])
def test_schema_rejects_wrong_values(helm, tmp_path, values, words):
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    done = template(helm, "-f", path, check=False)
    assert done.returncode != 0, f"accepted {values}"
    assert "schema" in done.stderr.lower(), done.stderr
    for word in words:
        assert word in done.stderr, done.stderr


def test_schema_accepts_the_values_file_and_every_default():
    schema = json.loads((CHART / "values.schema.json").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert set(values) <= set(schema["properties"]), set(values) - set(schema["properties"])
    assert schema["additionalProperties"] is False


# ---------------------------------------------------------------------------------------------------- finalizer policy


def operator_finalizer():
    """The finalizer the operator's code removes (src/api/mod.rs), so the policy cannot drift from it."""
    for line in (ROOT / "src/api/mod.rs").read_text().splitlines():
        if line.startswith("pub const FINALIZER"):
            return line.split('"')[1]
    raise AssertionError("FINALIZER not found in src/api/mod.rs")


def test_finalizer_policy_only_where_the_api_exists(helm):
    assert by_kind(template(helm), "MutatingAdmissionPolicy") == []
    assert by_kind(template(helm, "--api-versions", MAP_API, "--set", "finalizerPolicy.enabled=false"),
                   "MutatingAdmissionPolicy") == []
    objects = template(helm, "--api-versions", MAP_API)
    policy = one(objects, "MutatingAdmissionPolicy", "securityhub-operator-finalizer")
    binding = one(objects, "MutatingAdmissionPolicyBinding", "securityhub-operator-finalizer")
    assert binding["spec"] == {"policyName": "securityhub-operator-finalizer"}
    spec = policy["spec"]
    assert spec["failurePolicy"] == "Ignore"
    assert spec["matchConstraints"]["resourceRules"] == [{
        "apiGroups": ["securityhub.operator.dev"], "apiVersions": ["*"], "operations": ["CREATE"],
        "resources": ["securityhubmembers"]}]
    finalizer = operator_finalizer()
    assert f'f == "{finalizer}"' in spec["matchConditions"][0]["expression"]
    patch = spec["mutations"][0]["jsonPatch"]["expression"]
    assert patch.count(f'"{finalizer}"') == 2, patch


def test_finalizer_policy_binding_follows_watch_namespaces(helm):
    objects = template(helm, "--api-versions", MAP_API, "--set", "watchNamespaces={team-a,team-b}")
    binding = one(objects, "MutatingAdmissionPolicyBinding")
    assert binding["spec"]["matchResources"]["namespaceSelector"] == {"matchExpressions": [
        {"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["team-a", "team-b"]}]}


# ---------------------------------------------------------------------------------------------------- kustomize


def normalise(obj):
    """Drop what legitimately differs between the Helm render and the kustomize base."""
    obj = json.loads(json.dumps(obj))
    meta = obj["metadata"]
    for key in ("labels", "annotations"):
        meta.pop(key, None)
    if obj["kind"] == "Deployment":
        obj["spec"]["template"]["metadata"].pop("labels", None)
    return obj


def test_kustomize_base_equals_chart_defaults(helm, kubectl):
    kustomized = docs(run([kubectl, "kustomize", ROOT / "deploy"]).stdout)
    rendered = template(helm, "--api-versions", MAP_API)
    key = lambda o: (o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"])
    k_objects = {key(o): o for o in kustomized if o["kind"] != "Namespace"}
    h_objects = {key(o): o for o in rendered}
    assert sorted(k_objects) == sorted(h_objects)
    ns = one(kustomized, "Namespace")
    assert ns["metadata"]["name"] == "securityhub-operator-system"
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for k in sorted(h_objects):
        assert normalise(k_objects[k]) == normalise(h_objects[k]), k
    assert one(kustomized, "CustomResourceDefinition")["metadata"]["annotations"] == \
        {"argocd.argoproj.io/sync-options": "Delete=false"}
