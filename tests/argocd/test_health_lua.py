"""The Argo CD health check (deploy/argocd/health.lua) run by a real Lua 5.1 interpreter.

Argo CD evaluates health scripts with gopher-lua, a Lua 5.1 implementation, so the script is run here with `lua5.1`
(Debian package lua5.1) on SecurityHubMember JSON fixtures, one per condition reason and per edge case.
Lua 5.1 has no JSON library: each fixture is turned into a Lua table literal and bound to the global `obj`,
as Argo CD does.
"""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
SCRIPT = ROOT / "deploy/argocd/health.lua"
FIXTURES = HERE / "fixtures"
EXPECTED = json.loads((HERE / "expected.json").read_text())
LUA = shutil.which("lua5.1")
HEALTH_KEY = "resource.customizations.health.securityhub.operator.dev_SecurityHubMember"

needs_lua = pytest.mark.skipif(
    LUA is None,
    reason="lua5.1 is not installed (apt-get install -y lua5.1): the Argo CD health script cannot be run",
)


def lua_literal(value):
    """A Lua 5.1 expression equal to a JSON value (null becomes nil, arrays are 1-based tables)."""
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        out = []
        for byte in value.encode("utf-8"):
            ch = chr(byte)
            if (ch.isascii() and ch.isalnum()) or ch in " -_.,:;/()[]{}!?@#$%^&*+=<>|~'`":
                out.append(ch)
            else:
                out.append("\\%03d" % byte)
        return '"' + "".join(out) + '"'
    if isinstance(value, list):
        return "{" + ", ".join(lua_literal(v) for v in value) + "}"
    if isinstance(value, dict):
        return "{" + ", ".join("[%s] = %s" % (lua_literal(k), lua_literal(v)) for k, v in value.items()) + "}"
    raise TypeError(type(value))


def run_health(resource, tmp_path):
    """Runs the health script on `resource`; returns (status, message)."""
    runner = tmp_path / "run.lua"
    runner.write_text(
        "obj = " + lua_literal(resource) + "\n"
        "local hs = dofile(" + lua_literal(str(SCRIPT)) + ")\n"
        'io.write(tostring(hs.status), "\\0", hs.message == nil and "" or tostring(hs.message))\n'
    )
    done = subprocess.run([LUA, str(runner)], capture_output=True, timeout=30)
    assert done.returncode == 0, done.stderr.decode()
    status, message = done.stdout.decode("utf-8").split("\0", 1)
    return status, message


@needs_lua
@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_health_of_recorded_member(case, tmp_path):
    resource = json.loads((FIXTURES / f"{case}.json").read_text())
    status, message = run_health(resource, tmp_path)
    assert (status, message) == (EXPECTED[case]["status"], EXPECTED[case]["message"])


def test_every_fixture_has_an_expectation():
    assert sorted(p.stem for p in FIXTURES.glob("*.json")) == sorted(EXPECTED)


def test_every_operator_reason_has_a_fixture():
    """A reason added to src/api/conditions.rs needs a fixture here (and a decision in health.lua)."""
    source = (ROOT / "src/api/conditions.rs").read_text()
    block = re.search(r"reasons!\s*\{(.*?)\n\}", source, re.S).group(1)
    reasons = {m.group(1) for m in re.finditer(r"^\s*([A-Z][A-Za-z]+),?\s*$", block, re.M)}
    assert len(reasons) > 10, reasons
    covered = set()
    for path in FIXTURES.glob("*.json"):
        for condition in json.loads(path.read_text()).get("status", {}).get("conditions", []):
            if condition["type"] == "Ready":
                covered.add(condition["reason"])
    assert reasons - covered == set()


def test_terminal_reasons_are_degraded_and_waiting_ones_progressing():
    """The mapping the issue asks for, stated once more in plain terms."""
    degraded = {"Resigned", "Removed", "AccountSuspended", "Deleted", "AlreadyExists", "Conflict", "Unprocessed",
                "AccessDenied", "SecurityHubNotEnabled", "InvalidConfiguration", "Unsupported", "CredentialsError",
                "UnknownMemberStatus"}
    progressing = {"AwaitingAcceptance", "Creating", "Inviting", "Deleting", "Throttled"}
    for reason in degraded:
        assert EXPECTED[f"ready-{reason}"]["status"] == "Degraded", reason
    for reason in progressing:
        assert EXPECTED[f"ready-{reason}"]["status"] == "Progressing", reason
    assert EXPECTED["ready-Enabled"]["status"] == "Healthy"
    assert EXPECTED["stale-observed-generation"]["status"] == "Progressing"
    assert EXPECTED["no-status"]["status"] == "Progressing"


def lua_blocks(markdown):
    return re.findall(r"```lua\n(.*?)```", markdown, re.S)


def test_shipped_copies_are_the_same_script():
    script = SCRIPT.read_text()
    cm = yaml.safe_load((ROOT / "deploy/argocd/argocd-cm.yaml").read_text())
    assert cm["data"][HEALTH_KEY] == script, "deploy/argocd/argocd-cm.yaml differs from health.lua"
    chart_readme = (ROOT / "charts/securityhub-operator/README.md").read_text()
    assert script in lua_blocks(chart_readme), "charts/securityhub-operator/README.md does not embed health.lua"
    assert (ROOT / "charts/securityhub-operator/files/argocd/health.lua").read_text() == script


@needs_lua
def test_script_parses_as_lua_51():
    done = subprocess.run([LUA, "-e", "assert(loadfile(" + lua_literal(str(SCRIPT)) + "))"],
                          capture_output=True, timeout=30)
    assert done.returncode == 0, done.stderr.decode()
