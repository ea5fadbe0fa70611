"""Administrator-side operations and every member status transition, through boto3."""

import datetime

import pytest
from botocore.exceptions import ClientError

from conftest import ADMIN, MEMBER, OTHER, error_code, http_status

ORG = "444444444444"
ALREADY_MEMBER = (
    "The request is rejected because the given account ID is already a member "
    "or associated member of the current account."
)


def invite_and_accept(emu, member=MEMBER, admin=ADMIN):
    """Admin creates + invites; the member enables Security Hub and accepts."""
    admin_client = emu.client(admin)
    admin_client.create_members(AccountDetails=[{"AccountId": member, "Email": f"{member}@example.com"}])
    admin_client.invite_members(AccountIds=[member])
    member_client = emu.client(member)
    member_client.enable_security_hub()
    invitation = member_client.list_invitations()["Invitations"][0]
    member_client.accept_administrator_invitation(
        AdministratorId=invitation["AccountId"], InvitationId=invitation["InvitationId"]
    )
    return admin_client, member_client


def get_member(client, account):
    return client.get_members(AccountIds=[account])["Members"][0]


def test_created_invited_enabled(emu):
    admin = emu.client(ADMIN)
    out = admin.create_members(AccountDetails=[{"AccountId": MEMBER, "Email": "m@example.com"}])
    assert out["UnprocessedAccounts"] == []
    created = get_member(admin, MEMBER)
    assert created["MemberStatus"] == "Created"
    assert created["Email"] == "m@example.com"
    assert created["AdministratorId"] == ADMIN and created["MasterId"] == ADMIN
    assert isinstance(created["UpdatedAt"], datetime.datetime)
    assert "InvitedAt" not in created

    assert admin.invite_members(AccountIds=[MEMBER])["UnprocessedAccounts"] == []
    invited = get_member(admin, MEMBER)
    assert invited["MemberStatus"] == "Invited"
    assert isinstance(invited["InvitedAt"], datetime.datetime)

    member = emu.client(MEMBER)
    member.enable_security_hub()
    invitation = member.list_invitations()["Invitations"][0]
    assert invitation["AccountId"] == ADMIN
    assert len(invitation["InvitationId"]) == 32
    int(invitation["InvitationId"], 16)
    member.accept_administrator_invitation(AdministratorId=ADMIN, InvitationId=invitation["InvitationId"])
    assert get_member(admin, MEMBER)["MemberStatus"] == "Enabled"
    assert member.get_administrator_account()["Administrator"]["AccountId"] == ADMIN


def test_timestamps_carry_milliseconds_and_z(emu):
    emu.client(ADMIN).create_members(AccountDetails=[{"AccountId": MEMBER}])
    rows = emu.state()["members"][ADMIN]["us-east-1"]
    assert rows[0]["updatedAt"].endswith("Z") and "." in rows[0]["updatedAt"]
    hub = emu.client(ADMIN).describe_hub()
    assert hub["SubscribedAt"].endswith("Z") and len(hub["SubscribedAt"]) == 24


def test_admin_disassociate_makes_removed_then_reinvite(emu):
    admin, _ = invite_and_accept(emu)
    assert admin.disassociate_members(AccountIds=[MEMBER])["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert get_member(admin, MEMBER)["MemberStatus"] == "Removed"
    assert admin.invite_members(AccountIds=[MEMBER])["UnprocessedAccounts"] == []
    assert get_member(admin, MEMBER)["MemberStatus"] == "Invited"


def test_disassociate_unknown_account_is_resource_not_found(emu):
    with pytest.raises(ClientError) as excinfo:
        emu.client(ADMIN).disassociate_members(AccountIds=[OTHER])
    assert error_code(excinfo) == "ResourceNotFoundException"
    assert http_status(excinfo) == 404


def test_member_decline_makes_resigned(emu):
    admin = emu.client(ADMIN)
    admin.create_members(AccountDetails=[{"AccountId": MEMBER}])
    admin.invite_members(AccountIds=[MEMBER])
    member = emu.client(MEMBER)
    assert member.decline_invitations(AccountIds=[ADMIN])["UnprocessedAccounts"] == []
    assert get_member(admin, MEMBER)["MemberStatus"] == "Resigned"
    assert member.list_invitations()["Invitations"] == []
    # Re-inviting a Resigned account works (assumed, see the reference).
    assert admin.invite_members(AccountIds=[MEMBER])["UnprocessedAccounts"] == []
    assert get_member(admin, MEMBER)["MemberStatus"] == "Invited"


def test_member_disassociate_makes_resigned(emu):
    admin, member = invite_and_accept(emu)
    member.disassociate_from_administrator_account()
    assert get_member(admin, MEMBER)["MemberStatus"] == "Resigned"
    assert "Administrator" not in member.get_administrator_account()


def test_delete_requires_disassociation(emu):
    admin, _ = invite_and_accept(emu)
    out = admin.delete_members(AccountIds=[MEMBER])
    assert [u["AccountId"] for u in out["UnprocessedAccounts"]] == [MEMBER]
    assert "disassociate" in out["UnprocessedAccounts"][0]["ProcessingResult"]
    admin.disassociate_members(AccountIds=[MEMBER])
    assert admin.delete_members(AccountIds=[MEMBER])["UnprocessedAccounts"] == []
    gone = admin.get_members(AccountIds=[MEMBER])
    assert gone["Members"] == []
    assert gone["UnprocessedAccounts"] == [
        {"AccountId": MEMBER, "ProcessingResult": "The request is rejected since no such resource found."}
    ]
    # After deletion the account can be created again from scratch.
    assert admin.create_members(AccountDetails=[{"AccountId": MEMBER}])["UnprocessedAccounts"] == []
    assert get_member(admin, MEMBER)["MemberStatus"] == "Created"


def test_delete_created_and_unknown(emu):
    admin = emu.client(ADMIN)
    admin.create_members(AccountDetails=[{"AccountId": MEMBER}])
    out = admin.delete_members(AccountIds=[MEMBER, OTHER])
    assert [u["AccountId"] for u in out["UnprocessedAccounts"]] == [OTHER]


def test_suspended_account(emu):
    invite_and_accept(emu)
    status, body = emu.control("POST", f"/_emulator/accounts/{MEMBER}/suspend")
    assert status == 200, body
    assert get_member(emu.client(ADMIN), MEMBER)["MemberStatus"] == "AccountSuspended"


def test_organization_accounts_are_enabled_directly(emu):
    admin = emu.client(ADMIN)
    out = admin.create_members(AccountDetails=[{"AccountId": ORG, "Email": "org@example.com"}])
    assert out["UnprocessedAccounts"] == []
    member = get_member(admin, ORG)
    assert member["MemberStatus"] == "Enabled"
    assert "Email" not in member
    org = emu.client(ORG)
    assert org.list_invitations()["Invitations"] == []
    assert org.describe_hub()["HubArn"].endswith(f":{ORG}:hub/default")
    # No invitation for organization accounts, no deletion, no leaving.
    assert admin.invite_members(AccountIds=[ORG])["UnprocessedAccounts"][0]["AccountId"] == ORG
    assert admin.delete_members(AccountIds=[ORG])["UnprocessedAccounts"][0]["AccountId"] == ORG
    with pytest.raises(ClientError) as excinfo:
        org.disassociate_from_administrator_account()
    assert error_code(excinfo) == "InvalidInputException"
    # Disassociate -> Removed; CreateMembers again -> Enabled.
    admin.disassociate_members(AccountIds=[ORG])
    assert get_member(admin, ORG)["MemberStatus"] == "Removed"
    assert admin.create_members(AccountDetails=[{"AccountId": ORG}])["UnprocessedAccounts"] == []
    assert get_member(admin, ORG)["MemberStatus"] == "Enabled"


def test_create_existing_member_is_unprocessed_verbatim(emu):
    admin = emu.client(ADMIN)
    admin.create_members(AccountDetails=[{"AccountId": MEMBER}])
    out = admin.create_members(AccountDetails=[{"AccountId": MEMBER}])
    assert out["UnprocessedAccounts"] == [{"AccountId": MEMBER, "ProcessingResult": ALREADY_MEMBER}]


def test_cannot_be_member_of_itself(emu):
    out = emu.client(ADMIN).create_members(AccountDetails=[{"AccountId": ADMIN}])
    assert "member of itself" in out["UnprocessedAccounts"][0]["ProcessingResult"]


def test_invalid_account_id_is_unprocessed(emu):
    out = emu.client(ADMIN).create_members(AccountDetails=[{"AccountId": "12345"}])
    assert out["UnprocessedAccounts"][0]["AccountId"] == "12345"


def test_cannot_have_two_administrators(emu):
    invite_and_accept(emu)
    second = emu.client(OTHER)
    second.enable_security_hub()
    out = second.create_members(AccountDetails=[{"AccountId": MEMBER}])
    assert out["UnprocessedAccounts"][0]["AccountId"] == MEMBER
    assert "another administrator" in out["UnprocessedAccounts"][0]["ProcessingResult"]


def test_member_cannot_accept_second_administrator(emu):
    admin, other = emu.client(ADMIN), emu.client(OTHER)
    other.enable_security_hub()
    for client in (admin, other):
        client.create_members(AccountDetails=[{"AccountId": MEMBER}])
        client.invite_members(AccountIds=[MEMBER])
    member = emu.client(MEMBER)
    member.enable_security_hub()
    invitations = {i["AccountId"]: i for i in member.list_invitations()["Invitations"]}
    assert set(invitations) == {ADMIN, OTHER}
    member.accept_administrator_invitation(AdministratorId=ADMIN, InvitationId=invitations[ADMIN]["InvitationId"])
    with pytest.raises(ClientError) as excinfo:
        member.accept_administrator_invitation(AdministratorId=OTHER, InvitationId=invitations[OTHER]["InvitationId"])
    assert error_code(excinfo) == "InvalidInputException"


def test_create_members_overflow_past_fifty(emu):
    details = [{"AccountId": f"{900000000000 + i}"} for i in range(53)]
    out = emu.client(ADMIN).create_members(AccountDetails=details)
    assert out["ResponseMetadata"]["HTTPStatusCode"] == 200
    overflow = out["UnprocessedAccounts"]
    assert [u["AccountId"] for u in overflow] == [d["AccountId"] for d in details[50:]]
    assert {u["ProcessingResult"] for u in overflow} == {"Maximum number of results exceeded"}
    listed = emu.client(ADMIN).list_members(OnlyAssociated=False, MaxResults=50)
    assert len(listed["Members"]) == 50


def test_invited_member_limit(emu):
    seeds = [{"accountId": f"{800000000000 + i}", "status": "Created"} for i in range(1000)]
    status, body = emu.control("POST", "/_emulator/members", {"members": seeds})
    assert status == 200 and body["seeded"] == 1000
    out = emu.client(ADMIN).create_members(AccountDetails=[{"AccountId": MEMBER}])
    assert "maximum number of allowed members" in out["UnprocessedAccounts"][0]["ProcessingResult"]


def test_organization_member_limit(emu):
    seeds = [
        {"accountId": f"{700000000000 + i}", "status": "Enabled", "organization": True} for i in range(10000)
    ]
    assert emu.control("POST", "/_emulator/members", seeds)[0] == 200
    admin = emu.client(ADMIN)
    out = admin.create_members(AccountDetails=[{"AccountId": "444444444444"}])
    assert "maximum number of allowed members" in out["UnprocessedAccounts"][0]["ProcessingResult"]
    assert admin.describe_organization_configuration()["MemberAccountLimitReached"] is True
    # Invited members have their own limit, so this still works.
    assert admin.create_members(AccountDetails=[{"AccountId": MEMBER}])["UnprocessedAccounts"] == []


def test_list_members_only_associated_and_pagination(emu):
    admin = emu.client(ADMIN)
    admin.create_members(AccountDetails=[{"AccountId": f"{600000000000 + i}"} for i in range(7)])
    invite_and_accept(emu, member=MEMBER)
    # Default OnlyAssociated=true: only the Enabled member.
    assert [m["AccountId"] for m in admin.list_members()["Members"]] == [MEMBER]
    first = admin.list_members(OnlyAssociated=False, MaxResults=3)
    assert len(first["Members"]) == 3 and "NextToken" in first
    second = admin.list_members(OnlyAssociated=False, MaxResults=3, NextToken=first["NextToken"])
    assert first["Members"][-1]["AccountId"] < second["Members"][0]["AccountId"]
    pages = admin.get_paginator("list_members").paginate(
        OnlyAssociated=False, PaginationConfig={"PageSize": 3}
    )
    accounts = [m["AccountId"] for page in pages for m in page["Members"]]
    assert len(accounts) == 8 and accounts == sorted(accounts)


def test_list_members_bad_max_results_and_token(emu):
    admin = emu.client(ADMIN)
    with pytest.raises(ClientError) as excinfo:
        admin.list_members(MaxResults=51)
    assert error_code(excinfo) == "InvalidInputException" and http_status(excinfo) == 400
    with pytest.raises(ClientError) as excinfo:
        admin.list_members(NextToken="garbage")
    assert error_code(excinfo) == "InvalidInputException"


def test_empty_account_ids_is_invalid_input(emu):
    with pytest.raises(ClientError) as excinfo:
        emu.client(ADMIN).invite_members(AccountIds=[])
    assert error_code(excinfo) == "InvalidInputException"


def test_invite_unknown_and_already_invited(emu):
    admin = emu.client(ADMIN)
    admin.create_members(AccountDetails=[{"AccountId": MEMBER}])
    admin.invite_members(AccountIds=[MEMBER])
    out = admin.invite_members(AccountIds=[MEMBER, OTHER])
    reasons = {u["AccountId"]: u["ProcessingResult"] for u in out["UnprocessedAccounts"]}
    assert "already invited" in reasons[MEMBER]
    assert "no such resource" in reasons[OTHER]


def test_state_is_per_region(emu):
    emu.client(ADMIN, region="us-east-1").create_members(AccountDetails=[{"AccountId": MEMBER}])
    west = emu.client(ADMIN, region="eu-west-1")
    assert west.list_members(OnlyAssociated=False)["Members"] == []
    assert west.get_members(AccountIds=[MEMBER])["UnprocessedAccounts"][0]["AccountId"] == MEMBER
