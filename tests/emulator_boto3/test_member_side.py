"""Member-side operations (invitations, administrator relationship) and the
deprecated /master aliases, through boto3."""

import pytest
from botocore.exceptions import ClientError

from conftest import ADMIN, MEMBER, OTHER, error_code, http_status


def invite(emu, member=MEMBER, admin=ADMIN):
    client = emu.client(admin)
    if admin != ADMIN:
        client.enable_security_hub()
    client.create_members(AccountDetails=[{"AccountId": member}])
    client.invite_members(AccountIds=[member])
    return client


def test_accept_requires_security_hub_in_member(emu):
    invite(emu)
    member = emu.client(MEMBER)
    invitation = member.list_invitations()["Invitations"][0]
    with pytest.raises(ClientError) as excinfo:
        member.accept_administrator_invitation(AdministratorId=ADMIN, InvitationId=invitation["InvitationId"])
    assert error_code(excinfo) == "InvalidAccessException"
    assert http_status(excinfo) == 401
    assert "not subscribed to AWS Security Hub" in excinfo.value.response["Error"]["Message"]


def test_accept_with_wrong_invitation_is_not_found(emu):
    invite(emu)
    member = emu.client(MEMBER)
    member.enable_security_hub()
    with pytest.raises(ClientError) as excinfo:
        member.accept_administrator_invitation(AdministratorId=ADMIN, InvitationId="0" * 32)
    assert error_code(excinfo) == "ResourceNotFoundException" and http_status(excinfo) == 404


def test_invitations_count_and_pagination(emu):
    for admin in (ADMIN, OTHER, "666666666666"):
        invite(emu, admin=admin)
    member = emu.client(MEMBER)
    assert member.get_invitations_count()["InvitationsCount"] == 3
    first = member.list_invitations(MaxResults=2)
    assert len(first["Invitations"]) == 2 and "NextToken" in first
    rest = member.list_invitations(MaxResults=2, NextToken=first["NextToken"])
    assert len(rest["Invitations"]) == 1 and "NextToken" not in rest
    pages = member.get_paginator("list_invitations").paginate(PaginationConfig={"PageSize": 1})
    assert sorted(i["AccountId"] for p in pages for i in p["Invitations"]) == sorted([ADMIN, OTHER, "666666666666"])
    # The accepted invitation is not counted.
    member.enable_security_hub()
    inv = next(i for i in member.list_invitations()["Invitations"] if i["AccountId"] == ADMIN)
    member.accept_administrator_invitation(AdministratorId=ADMIN, InvitationId=inv["InvitationId"])
    assert member.get_invitations_count()["InvitationsCount"] == 2


def test_decline_unknown_is_unprocessed(emu):
    out = emu.client(MEMBER).decline_invitations(AccountIds=[ADMIN])
    assert out["UnprocessedAccounts"][0]["AccountId"] == ADMIN


def test_delete_invitations(emu):
    admin = invite(emu)
    member = emu.client(MEMBER)
    assert member.delete_invitations(AccountIds=[ADMIN])["UnprocessedAccounts"] == []
    assert member.list_invitations()["Invitations"] == []
    assert member.get_invitations_count()["InvitationsCount"] == 0
    # The administrator never got an answer.
    assert admin.get_members(AccountIds=[MEMBER])["Members"][0]["MemberStatus"] == "Invited"
    out = member.delete_invitations(AccountIds=[ADMIN])
    assert out["UnprocessedAccounts"][0]["AccountId"] == ADMIN


def test_delete_accepted_invitation_is_unprocessed(emu):
    invite(emu)
    member = emu.client(MEMBER)
    member.enable_security_hub()
    inv = member.list_invitations()["Invitations"][0]
    member.accept_administrator_invitation(AdministratorId=ADMIN, InvitationId=inv["InvitationId"])
    out = member.delete_invitations(AccountIds=[ADMIN])
    assert out["UnprocessedAccounts"][0]["AccountId"] == ADMIN


def test_get_administrator_without_one_is_empty(emu):
    out = emu.client(MEMBER).get_administrator_account()
    assert "Administrator" not in out
    assert "Master" not in emu.client(MEMBER).get_master_account()


def test_disassociate_without_administrator_is_not_found(emu):
    with pytest.raises(ClientError) as excinfo:
        emu.client(MEMBER).disassociate_from_administrator_account()
    assert error_code(excinfo) == "ResourceNotFoundException"


def test_master_aliases(emu):
    admin = invite(emu)
    member = emu.client(MEMBER)
    member.enable_security_hub()
    inv = member.list_invitations()["Invitations"][0]
    member.accept_invitation(MasterId=ADMIN, InvitationId=inv["InvitationId"])
    master = member.get_master_account()["Master"]
    assert master["AccountId"] == ADMIN and master["MemberStatus"] == "Enabled"
    member.disassociate_from_master_account()
    assert admin.get_members(AccountIds=[MEMBER])["Members"][0]["MemberStatus"] == "Resigned"


def test_administrator_cannot_become_member(emu):
    invite(emu)
    other = emu.client(OTHER)
    other.enable_security_hub()
    other.create_members(AccountDetails=[{"AccountId": "777777777777"}])
    admin = emu.client(ADMIN)
    out = admin.create_members(AccountDetails=[{"AccountId": OTHER}])
    assert "administrator account" in out["UnprocessedAccounts"][0]["ProcessingResult"]
