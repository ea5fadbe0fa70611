"""STS AssumeRole into a member account, then acting as that member, through boto3."""

import pytest
from botocore.exceptions import ClientError

from conftest import ADMIN, MEMBER, error_code


def test_assume_role_member_enables_lists_and_accepts(emu):
    admin = emu.client(ADMIN)
    admin.create_members(AccountDetails=[{"AccountId": MEMBER}])
    admin.invite_members(AccountIds=[MEMBER])

    sts = emu.client(ADMIN, service="sts")
    assumed = sts.assume_role(RoleArn=f"arn:aws:iam::{MEMBER}:role/SecurityHubMember", RoleSessionName="operator")
    creds = assumed["Credentials"]
    assert MEMBER in creds["AccessKeyId"] and creds["AccessKeyId"].startswith("ASIA")
    assert assumed["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{MEMBER}:assumed-role/SecurityHubMember/operator"
    session = dict(key=creds["AccessKeyId"], secret=creds["SecretAccessKey"], token=creds["SessionToken"])

    identity = emu.client(service="sts", **session).get_caller_identity()
    assert identity["Account"] == MEMBER

    member = emu.client(service="securityhub", **session)
    member.enable_security_hub()
    invitations = member.list_invitations()["Invitations"]
    assert [i["AccountId"] for i in invitations] == [ADMIN]
    member.accept_administrator_invitation(AdministratorId=ADMIN, InvitationId=invitations[0]["InvitationId"])
    assert admin.get_members(AccountIds=[MEMBER])["Members"][0]["MemberStatus"] == "Enabled"

    log = emu.control("GET", "/_emulator/requests")[1]["log"]
    accept = next(e for e in log if e["operation"] == "AcceptAdministratorInvitation")
    assert accept["caller"] == MEMBER and accept["accessKeyId"] == creds["AccessKeyId"]


def test_assume_role_errors_are_sts_xml(emu):
    sts = emu.client(ADMIN, service="sts")
    with pytest.raises(ClientError) as excinfo:
        sts.assume_role(RoleArn="arn:aws:iam::123:user/not-a-role", RoleSessionName="operator")
    assert error_code(excinfo) == "ValidationError"
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_plain_caller_identity(emu):
    identity = emu.client(MEMBER, service="sts").get_caller_identity()
    assert identity["Account"] == MEMBER
    assert identity["Arn"] == f"arn:aws:iam::{MEMBER}:root"
