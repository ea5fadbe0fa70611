"""Shared helpers for the chart, kustomize and live-cluster tests.

Tools: `helm` and `kubectl` come from $HELM / $KUBECTL, else from the control-plane cache that
tests/controlplane/build.sh fills (~/.cache/securityhub-operator/controlplane/<versions>/), else from $PATH.
When a tool is missing the tests that need it are skipped, unless $CI is set: then they fail.
"""

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts/securityhub-operator"
CRD_FILE = ROOT / "crds/securityhub.operator.dev_securityhubmembers.yaml"
CACHE = Path(os.environ.get("SHO_CONTROLPLANE_CACHE", Path.home() / ".cache/securityhub-operator/controlplane"))


def find_tool(name):
    env = os.environ.get(name.upper())
    if env:
        return env
    cached = sorted(CACHE.glob(f"*/{name}"), key=lambda p: p.stat().st_mtime, reverse=True) if CACHE.is_dir() else []
    for path in cached:
        if os.access(path, os.X_OK):
            return str(path)
    return shutil.which(name)


def require(name):
    path = find_tool(name)
    if path is None:
        message = (f"{name} not found: set ${name.upper()}, run tests/controlplane/build.sh, "
                   f"or put {name} on PATH")
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def run(args, check=True, **kw):
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=300, **kw)
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, args))} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done


@pytest.fixture(scope="session")
def helm():
    return require("helm")


@pytest.fixture(scope="session")
def kubectl():
    return require("kubectl")


def docs(text):
    return [d for d in yaml.safe_load_all(text) if d]


# helm built with `go install` (tests/controlplane/build.sh) lacks the version ldflags of release builds and assumes
# Kubernetes v1.20 for `helm template`; render for the version of the test control plane instead.
KUBE_VERSION = os.environ.get("SHO_KUBE_VERSION", "1.36.3")


def template(helm, *args, release="securityhub-operator", namespace="securityhub-operator-system", check=True):
    """`helm template` of the chart; returns the documents (or the CompletedProcess when check=False)."""
    done = run([helm, "template", release, CHART, "--namespace", namespace, "--kube-version", KUBE_VERSION, *args],
               check=check)
    return docs(done.stdout) if check else done


def by_kind(objects, kind):
    return [o for o in objects if o["kind"] == kind]


def one(objects, kind, name=None):
    found = [o for o in by_kind(objects, kind) if name is None or o["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {[o['metadata']['name'] for o in found]}"
    return found[0]
