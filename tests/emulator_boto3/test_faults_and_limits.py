"""Error codes that need faults or limits to appear, the rate limit, and the
response corruption modes, through boto3."""

import json
import time
import urllib.request

import pytest
from botocore.exceptions import ClientError

from conftest import ADMIN, MEMBER, error_code, http_status


def set_faults(emu, *rules):
    status, body = emu.control("POST", "/_emulator/faults", {"rules": list(rules)})
    assert status == 200, body


@pytest.mark.parametrize(
    "code,status",
    [
        ("AccessDeniedException", 403),
        ("InternalException", 500),
        ("LimitExceededException", 429),
        ("BadRequestException", 400),
        ("ResourceNotFoundException", 404),
    ],
)
def test_injected_error_codes(emu, code, status):
    set_faults(emu, {"operation": "ListMembers", "errorCode": code, "message": "injected"})
    admin = emu.client(ADMIN)
    with pytest.raises(ClientError) as excinfo:
        admin.list_members()
    assert error_code(excinfo) == code
    assert http_status(excinfo) == status
    assert excinfo.value.response["Error"]["Message"] == "injected"
    # Other operations are untouched.
    admin.describe_hub()


def test_fault_times_and_clear(emu):
    set_faults(emu, {"operation": "*", "errorCode": "InternalException", "times": 1})
    admin = emu.client(ADMIN)
    with pytest.raises(ClientError):
        admin.describe_hub()
    admin.describe_hub()
    set_faults(emu, {"errorCode": "AccessDeniedException"})
    assert emu.control("DELETE", "/_emulator/faults")[0] == 200
    admin.describe_hub()


def test_after_commit_fault_applies_the_change_and_loses_the_answer(emu):
    set_faults(
        emu,
        {"operation": "CreateMembers", "serverErrorRate": 1.0, "afterCommit": True, "times": 1},
    )
    admin = emu.client(ADMIN)
    with pytest.raises(ClientError) as excinfo:
        admin.create_members(AccountDetails=[{"AccountId": MEMBER}])
    assert http_status(excinfo) == 503
    # The member was created all the same: a second create is refused as a member.
    members = admin.get_members(AccountIds=[MEMBER])["Members"]
    assert [m["MemberStatus"] for m in members] == ["Created"]
    again = admin.create_members(AccountDetails=[{"AccountId": MEMBER}])
    assert "already a member" in again["UnprocessedAccounts"][0]["ProcessingResult"]


def test_fault_probability_zero_never_fires(emu):
    set_faults(emu, {"errorCode": "InternalException", "probability": 0.0})
    for _ in range(20):
        emu.client(ADMIN).describe_hub()


def test_server_error_rate_and_latency(emu):
    set_faults(emu, {"operation": "DescribeHub", "serverErrorRate": 1.0})
    with pytest.raises(ClientError) as excinfo:
        emu.client(ADMIN).describe_hub()
    assert http_status(excinfo) == 503
    set_faults(emu, {"operation": "DescribeHub", "latencyMs": {"min": 200, "max": 250}})
    started = time.monotonic()
    emu.client(ADMIN).describe_hub()
    assert time.monotonic() - started >= 0.2


def test_corruption_modes_still_parse(emu):
    admin = emu.client(ADMIN)
    admin.create_members(AccountDetails=[{"AccountId": MEMBER, "Email": "m@example.com"}])
    set_faults(emu, {"operation": "GetMembers", "corruption": "unknownMemberStatus", "memberStatus": "Paused"})
    assert admin.get_members(AccountIds=[MEMBER])["Members"][0]["MemberStatus"] == "Paused"
    set_faults(emu, {"operation": "GetMembers", "corruption": "missingFields"})
    assert admin.get_members(AccountIds=[MEMBER])["Members"][0] == {"AccountId": MEMBER, "MemberStatus": "Created"}
    set_faults(emu, {"operation": "GetMembers", "corruption": "emptyUnprocessed"})
    assert admin.get_members(AccountIds=[MEMBER])["UnprocessedAccounts"] == [{}]
    set_faults(emu, {"operation": "GetMembers", "corruption": "htmlErrorPage"})
    with pytest.raises(ClientError) as excinfo:
        admin.get_members(AccountIds=[MEMBER])
    assert http_status(excinfo) == 502
    # botocore swallows an unparseable 200 body and returns no fields.
    set_faults(emu, {"operation": "GetMembers", "corruption": "malformedJson"})
    assert "Members" not in admin.get_members(AccountIds=[MEMBER])


def test_malformed_request_json_is_invalid_input(emu):
    req = urllib.request.Request(emu.url + "/members", data=b"{not json", method="POST")
    try:
        urllib.request.urlopen(req, timeout=5)
        raise AssertionError("expected an error")
    except urllib.error.HTTPError as err:
        assert err.code == 400
        assert err.headers["x-amzn-errortype"] == "InvalidInputException"
        body = json.loads(err.read())
        assert body["__type"] == "InvalidInputException" and body["Message"]


def test_rate_limit(start_emulator):
    emu = start_emulator("--rate", "1", "--burst", "3")
    admin = emu.client(ADMIN)
    for _ in range(3):
        admin.describe_hub()
    with pytest.raises(ClientError) as excinfo:
        admin.describe_hub()
    assert error_code(excinfo) == "LimitExceededException" and http_status(excinfo) == 429
    assert excinfo.value.response["Error"]["Message"] == "Rate exceeded"
    # Buckets are per (account, region).
    emu.client(MEMBER).list_invitations()
    emu.client(ADMIN, region="eu-west-1").describe_hub()
    time.sleep(1.1)
    admin.describe_hub()
    counts = emu.control("GET", "/_emulator/requests")[1]["counts"]["DescribeHub"]
    assert counts["LimitExceededException"] == 1 and counts["ok"] == 5


def test_missing_member_as_bad_request(start_emulator):
    emu = start_emulator("--rate", "0", "--missing-member", "bad-request")
    with pytest.raises(ClientError) as excinfo:
        emu.client(ADMIN).get_members(AccountIds=[MEMBER])
    assert error_code(excinfo) == "BadRequestException" and http_status(excinfo) == 400
    assert excinfo.value.response["Error"]["Message"] == "The request is rejected since no such resource found."
