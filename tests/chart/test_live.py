"""The chart and the kustomize base against a real kube-apiserver.

Needs a cluster: $KUBECONFIG_FOR_TESTS, else target/cluster/kubeconfig (written by `make cluster-up`) when that
cluster answers. Skipped when neither is available; when $KUBECONFIG_FOR_TESTS is set, an unreachable cluster fails.
There is no controller-manager or kubelet in the test cluster: objects are created, pods are admitted and stay Pending,
nothing waits for rollouts or namespace deletion.
"""

import json
import os
import time
import uuid
from pathlib import Path

import pytest
import yaml

from conftest import CHART, ROOT, docs, find_tool, one, run, template

RELEASE = "sho-helm"
HELM_NS = "sho-helm"
KUSTOMIZE_NS = "securityhub-operator-system"
CRD_NAME = "securityhubmembers.securityhub.operator.dev"
SHM = "securityhubmembers.securityhub.operator.dev"


@pytest.fixture(scope="module")
def kubeconfig(kubectl):
    given = os.environ.get("KUBECONFIG_FOR_TESTS")
    path = Path(given) if given else ROOT / "target/cluster/kubeconfig"
    if not path.is_file():
        if given:
            pytest.fail(f"KUBECONFIG_FOR_TESTS={given} does not exist")
        pytest.skip("no test cluster: set KUBECONFIG_FOR_TESTS or run `make cluster-up` (target/cluster/kubeconfig)")
    probe = run([kubectl, "--kubeconfig", path, "get", "--raw", "/readyz"], check=False)
    if probe.returncode != 0:
        if given:
            pytest.fail(f"the cluster of {path} does not answer: {probe.stderr}")
        pytest.skip(f"{path} exists but its cluster does not answer (run `make cluster-up`)")
    return path


@pytest.fixture(scope="module")
def k(kubectl, kubeconfig):
    """kubectl as the cluster admin."""
    def call(*args, check=True, stdin=None):
        return run([kubectl, "--kubeconfig", kubeconfig, *args], check=check, input=stdin)
    return call


def ensure_namespace(k, name, labels=None):
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels or {}}}
    k("apply", "-f", "-", stdin=json.dumps(ns))


def assert_all_exist(k, objects):
    missing = []
    for o in objects:
        args = ["get", f"{o['kind']}.{o['apiVersion'].split('/')[0] if '/' in o['apiVersion'] else ''}".rstrip("."),
                o["metadata"]["name"], "-o", "name"]
        if o["metadata"].get("namespace"):
            args += ["-n", o["metadata"]["namespace"]]
        if k(*args, check=False).returncode != 0:
            missing.append((o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]))
    assert missing == []


def adopt_crd_for_helm(k):
    """An earlier test (or `kubectl apply -k`) may have created the CRD; let the release take it over the way Helm
    documents: its ownership label and annotations."""
    if k("get", "crd", CRD_NAME, check=False).returncode == 0:
        k("label", "--overwrite", "crd", CRD_NAME, "app.kubernetes.io/managed-by=Helm")
        k("annotate", "--overwrite", "crd", CRD_NAME,
          f"meta.helm.sh/release-name={RELEASE}", f"meta.helm.sh/release-namespace={HELM_NS}")


@pytest.fixture(scope="module")
def helm_release(helm, k, kubeconfig):
    ensure_namespace(k, HELM_NS)
    adopt_crd_for_helm(k)
    done = run([helm, "--kubeconfig", kubeconfig, "upgrade", "--install", RELEASE, CHART, "--namespace", HELM_NS])
    manifest = run([helm, "--kubeconfig", kubeconfig, "get", "manifest", RELEASE, "--namespace", HELM_NS]).stdout
    return done.stdout, docs(manifest)


def test_helm_install_creates_every_object(helm_release, k):
    notes, objects = helm_release
    kinds = {o["kind"] for o in objects}
    assert {"CustomResourceDefinition", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding",
            "Deployment", "Service", "PodDisruptionBudget"} <= kinds
    assert_all_exist(k, objects)
    assert "kubectl get shm" in notes and "port-forward" in notes
    crd = json.loads(k("get", "crd", CRD_NAME, "-o", "json").stdout)
    assert crd["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    established = {c["type"]: c["status"] for c in crd.get("status", {}).get("conditions", [])}
    assert established.get("Established") == "True"


def test_kubectl_apply_k_creates_every_object(k):
    k("apply", "-k", ROOT / "deploy")
    rendered = docs(k("kustomize", ROOT / "deploy").stdout)
    assert {o["kind"] for o in rendered} >= {"Namespace", "CustomResourceDefinition", "Deployment", "ClusterRole"}
    assert_all_exist(k, rendered)
    # No drift between what we ship and what the server stores: `kubectl diff` (server-side dry run) is empty.
    # (A second `kubectl apply` would report the PodDisruptionBudget "configured" even so: a known kubectl quirk with
    # int-or-string fields; its generation does not move.)
    diff = k("diff", "-k", ROOT / "deploy", check=False)
    assert diff.returncode == 0, diff.stdout + diff.stderr


def create_when_admitted(k, manifest, timeout=60):
    """Creates `manifest`; right after a CRD and its admission policy appear, the API server may answer
    ServiceUnavailable until its discovery catches up (documented in the chart README)."""
    deadline = time.monotonic() + timeout
    while True:
        done = k("create", "-o", "json", "-f", "-", stdin=manifest, check=False)
        if done.returncode == 0 or "ServiceUnavailable" not in done.stderr or time.monotonic() > deadline:
            assert done.returncode == 0, done.stderr
            return json.loads(done.stdout)
        time.sleep(1)


def test_finalizer_added_at_admission_once_with_two_policies(helm_release, k):
    """The Helm release's and the kustomize base's policies both match (test_kubectl_apply_k ran first): the
    finalizer is added when the resource is created, with no operator running, and only once."""
    policies = json.loads(k("get", "mutatingadmissionpolicies", "-o", "json").stdout)["items"]
    assert {p["metadata"]["name"] for p in policies} >= {f"{RELEASE}-securityhub-operator-finalizer",
                                                         "securityhub-operator-finalizer"}
    ensure_namespace(k, "sho-finalizer")
    name = f"m-{uuid.uuid4().hex[:8]}"
    created = create_when_admitted(k, yaml.safe_dump({
        "apiVersion": "securityhub.operator.dev/v1alpha1", "kind": "SecurityHubMember",
        "metadata": {"name": name, "namespace": "sho-finalizer", "finalizers": ["example.com/keep"]},
        "spec": {"accountId": "123456789012"}}))
    assert created["metadata"]["finalizers"] == ["example.com/keep", "securityhub.operator.dev/member"]
    k("patch", SHM, name, "-n", "sho-finalizer", "--type=merge", "-p", '{"metadata":{"finalizers":null}}')
    k("delete", SHM, name, "-n", "sho-finalizer", "--wait=false")


def pod_from_template(deployment, namespace, name):
    template_ = deployment["spec"]["template"]
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "labels": template_["metadata"].get("labels", {})},
            "spec": template_["spec"]}


@pytest.mark.parametrize("source", ["helm", "kustomize"])
def test_pod_template_admitted_under_restricted_pod_security(helm, k, source):
    ns = "sho-restricted"
    ensure_namespace(k, ns, {"pod-security.kubernetes.io/enforce": "restricted",
                             "pod-security.kubernetes.io/enforce-version": "latest"})
    if source == "helm":
        deployment = one(template(helm), "Deployment")
    else:
        deployment = one(docs(k("kustomize", ROOT / "deploy").stdout), "Deployment")
    name = f"sho-{source}-{uuid.uuid4().hex[:6]}"
    pod = pod_from_template(deployment, ns, name)
    try:
        created = k("create", "-f", "-", "-o", "json", stdin=json.dumps(pod))
        assert json.loads(created.stdout)["metadata"]["name"] == name
    finally:
        k("delete", "pod", name, "-n", ns, "--wait=false", "--ignore-not-found", check=False)
    # Control: the namespace really enforces the profile (the same pod, escalating privileges, is refused).
    bad = json.loads(json.dumps(pod))
    bad["metadata"]["name"] = name + "-bad"
    bad["spec"]["containers"][0]["securityContext"]["allowPrivilegeEscalation"] = True
    refused = k("create", "-f", "-", stdin=json.dumps(bad), check=False)
    assert refused.returncode != 0 and "violates PodSecurity" in refused.stderr, refused.stderr


@pytest.fixture(scope="module")
def as_operator(helm_release, kubectl, kubeconfig, k, tmp_path_factory):
    """kubectl authenticated only as the chart's ServiceAccount, with a token from the TokenRequest API."""
    sa = f"{RELEASE}-securityhub-operator"
    token = k("create", "token", sa, "-n", HELM_NS, "--duration", "10m").stdout.strip()
    admin = yaml.safe_load(Path(kubeconfig).read_text())
    context = next(c for c in admin["contexts"] if c["name"] == admin["current-context"])["context"]
    cluster = next(c for c in admin["clusters"] if c["name"] == context["cluster"])
    config = {
        "apiVersion": "v1", "kind": "Config", "current-context": "operator",
        "clusters": [{"name": "test", "cluster": cluster["cluster"]}],
        "users": [{"name": "operator", "user": {"token": token}}],
        "contexts": [{"name": "operator", "context": {"cluster": "test", "user": "operator"}}],
    }
    path = tmp_path_factory.mktemp("operator") / "kubeconfig"
    path.write_text(yaml.safe_dump(config))

    def call(*args, check=True):
        return run([kubectl, "--kubeconfig", path, *args], check=check)
    return call


def test_service_account_is_who_the_token_says(as_operator):
    who = json.loads(as_operator("auth", "whoami", "-o", "json").stdout)
    assert who["status"]["userInfo"]["username"] == f"system:serviceaccount:{HELM_NS}:{RELEASE}-securityhub-operator"


@pytest.mark.parametrize("verb,resource,namespace,allowed", [
    ("list", SHM, None, True),
    ("watch", SHM, None, True),
    ("patch", SHM, "default", True),
    ("patch", SHM + "/status", "default", True),
    ("update", SHM + "/finalizers", "default", True),
    ("create", "events.events.k8s.io", "default", True),
    ("create", "events", "default", True),
    ("create", "leases.coordination.k8s.io", HELM_NS, True),
    ("update", "leases.coordination.k8s.io", HELM_NS, True),
    ("create", "leases.coordination.k8s.io", "default", False),
    ("create", SHM, "default", False),
    ("delete", SHM, "default", False),
    ("get", "secrets", HELM_NS, False),
    ("list", "secrets", None, False),
    ("create", "configmaps", HELM_NS, True),
    ("delete", "configmaps", HELM_NS, True),
    ("create", "configmaps", "default", False),
    ("get", "configmaps", HELM_NS, False),
    ("list", "pods", None, False),
    ("create", "pods", HELM_NS, False),
])
def test_operator_identity_is_least_privilege(as_operator, verb, resource, namespace, allowed):
    resource, _, subresource = resource.partition("/")
    args = ["auth", "can-i", verb, resource]
    if subresource:
        args += ["--subresource", subresource]
    args += ["-n", namespace] if namespace else ["--all-namespaces"]
    answer = as_operator(*args, check=False).stdout.strip()
    assert answer == ("yes" if allowed else "no"), (verb, resource, subresource, namespace, answer)


def test_operator_identity_is_refused_secrets_with_403(as_operator):
    done = as_operator("get", "--raw", f"/api/v1/namespaces/{HELM_NS}/secrets", "-v=6", check=False)
    assert done.returncode != 0
    assert "(Forbidden)" in done.stderr and 'status="403 Forbidden"' in done.stderr, done.stderr
