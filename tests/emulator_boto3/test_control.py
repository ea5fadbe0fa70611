"""The /_emulator control API and the simulated member behaviours."""

import json
import time

from conftest import ADMIN, MEMBER, OTHER


def test_requests_log_counts_and_since(emu):
    admin = emu.client(ADMIN)
    admin.create_members(AccountDetails=[{"AccountId": MEMBER}, {"AccountId": OTHER}])
    admin.invite_members(AccountIds=[MEMBER])
    body = emu.control("GET", "/_emulator/requests")[1]
    assert body["counts"]["CreateMembers"] == {"ok": 1}
    first, second = body["log"]
    assert first["seq"] == 1 and first["operation"] == "CreateMembers"
    assert first["caller"] == ADMIN and first["accessKeyId"] == f"AKIA{ADMIN}EXAM"
    assert first["region"] == "us-east-1" and first["accountIds"] == [MEMBER, OTHER]
    assert first["outcome"] == "ok" and first["time"].endswith("Z")
    newer = emu.control("GET", "/_emulator/requests?since=1")[1]["log"]
    assert [e["operation"] for e in newer] == ["InviteMembers"] and second["seq"] == 2


def test_state_and_reset(emu):
    emu.client(ADMIN).create_members(AccountDetails=[{"AccountId": MEMBER}])
    state = emu.state()
    assert state["members"][ADMIN]["us-east-1"][0]["status"] == "Created"
    assert state["hubs"][ADMIN]["us-east-1"] is True
    assert emu.control("POST", "/_emulator/reset")[0] == 200
    assert emu.state()["members"] == {}
    assert emu.control("GET", "/_emulator/requests")[1]["log"] == []


def test_account_actions(emu):
    admin = emu.client(ADMIN)
    admin.create_members(AccountDetails=[{"AccountId": MEMBER}])
    admin.invite_members(AccountIds=[MEMBER])
    status, body = emu.control("POST", f"/_emulator/accounts/{MEMBER}/accept")
    assert status == 200 and body["changed"] == [{"region": "us-east-1", "administrator": ADMIN}]
    assert emu.status_of(MEMBER) == "Enabled"
    assert emu.state()["hubs"][MEMBER]["us-east-1"] is True
    assert emu.control("POST", f"/_emulator/accounts/{MEMBER}/resign")[0] == 200
    assert emu.status_of(MEMBER) == "Resigned"
    admin.invite_members(AccountIds=[MEMBER])
    assert emu.control("POST", f"/_emulator/accounts/{MEMBER}/decline?region=us-east-1")[0] == 200
    assert emu.status_of(MEMBER) == "Resigned"
    assert emu.control("POST", f"/_emulator/accounts/{MEMBER}/accept")[0] == 404
    assert emu.control("POST", f"/_emulator/accounts/{MEMBER}/fly")[0] == 400
    assert emu.control("POST", f"/_emulator/accounts/{OTHER}/enable-hub?region=eu-west-1")[0] == 200
    assert emu.client(OTHER, region="eu-west-1").describe_hub()["HubArn"]
    assert emu.control("POST", f"/_emulator/accounts/{OTHER}/disable-hub?region=eu-west-1")[0] == 200


def test_seed_members_for_adoption(emu):
    seeds = [
        {"accountId": MEMBER, "region": "us-east-1", "status": "Enabled", "email": "m@example.com"},
        {"accountId": OTHER, "region": "us-east-1", "status": "invited"},
        {"accountId": "666666666666", "region": "eu-west-1", "status": "Created", "administrator": OTHER},
    ]
    status, body = emu.control("POST", "/_emulator/members", {"members": seeds})
    assert status == 200 and body["seeded"] == 3
    listed = emu.client(ADMIN).list_members(OnlyAssociated=False)["Members"]
    assert {m["AccountId"]: m["MemberStatus"] for m in listed} == {MEMBER: "Enabled", OTHER: "Invited"}
    assert emu.client(OTHER).list_invitations()["Invitations"][0]["AccountId"] == ADMIN
    assert emu.control("POST", "/_emulator/members", [{"accountId": "1", "status": "Enabled"}])[0] == 400


def test_limits_control(emu):
    assert emu.control("GET", "/_emulator/limits")[1] == {"rate": 0.0, "burst": 30}
    assert emu.control("POST", "/_emulator/limits", {"rate": 0, "burst": 5})[0] == 200


def test_auto_accept_after(start_emulator):
    emu = start_emulator("--rate", "0", "--auto-accept-after", "300ms", "--decline-account", OTHER)
    admin = emu.client(ADMIN)
    admin.create_members(AccountDetails=[{"AccountId": MEMBER}, {"AccountId": OTHER}])
    admin.invite_members(AccountIds=[MEMBER, OTHER])
    assert emu.status_of(MEMBER) == "Invited"
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and emu.status_of(MEMBER) != "Enabled":
        time.sleep(0.05)
    assert emu.status_of(MEMBER) == "Enabled"
    assert emu.client(MEMBER).describe_hub()["HubArn"]
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and emu.status_of(OTHER) != "Resigned":
        time.sleep(0.05)
    assert emu.status_of(OTHER) == "Resigned"


def test_config_file(start_emulator, tmp_path):
    path = tmp_path / "emulator.yaml"
    path.write_text(
        "adminAccount: '123456789012'\norgAccounts: ['444444444444']\n"
        "autoAcceptAccounts: ['" + MEMBER + "']\nrate: 0\n"
    )
    emu = start_emulator("--config", str(path))
    admin = emu.client("nodigits")  # no 12 digits: acts as the configured administrator
    admin.create_members(AccountDetails=[{"AccountId": MEMBER}, {"AccountId": "444444444444"}])
    admin.invite_members(AccountIds=[MEMBER])
    members = admin.get_members(AccountIds=[MEMBER, "444444444444"])["Members"]
    assert {m["AccountId"]: m["MemberStatus"] for m in members} == {MEMBER: "Enabled", "444444444444": "Enabled"}
    assert {m["AdministratorId"] for m in members} == {"123456789012"}


def test_json_config_and_log_format(start_emulator, tmp_path):
    path = tmp_path / "emulator.json"
    path.write_text(json.dumps({"declineAccounts": [MEMBER], "rate": 0}))
    emu = start_emulator("--config", str(path), "--log-format", "json")
    admin = emu.client(ADMIN)
    admin.create_members(AccountDetails=[{"AccountId": MEMBER}])
    admin.invite_members(AccountIds=[MEMBER])
    assert emu.status_of(MEMBER) == "Resigned"
