"""Security Hub on/off and the organization operations, through boto3."""

import pytest
from botocore.exceptions import ClientError

from conftest import ADMIN, MEMBER, error_code, http_status


def test_describe_hub(emu):
    hub = emu.client(ADMIN, region="eu-central-1").describe_hub()
    assert hub["HubArn"] == f"arn:aws:securityhub:eu-central-1:{ADMIN}:hub/default"
    assert hub["AutoEnableControls"] is True
    assert hub["ControlFindingGenerator"] == "SECURITY_CONTROL"
    same = emu.client(ADMIN).describe_hub(HubArn=f"arn:aws:securityhub:us-east-1:{ADMIN}:hub/default")
    assert same["HubArn"].startswith("arn:aws:securityhub:us-east-1")


def test_describe_other_hub_is_not_found(emu):
    with pytest.raises(ClientError) as excinfo:
        emu.client(ADMIN).describe_hub(HubArn=f"arn:aws:securityhub:us-east-1:{MEMBER}:hub/default")
    assert error_code(excinfo) == "ResourceNotFoundException"


def test_enable_twice_is_conflict(emu):
    member = emu.client(MEMBER)
    with pytest.raises(ClientError) as excinfo:
        member.describe_hub()
    assert error_code(excinfo) == "InvalidAccessException" and http_status(excinfo) == 401
    member.enable_security_hub(EnableDefaultStandards=False, ControlFindingGenerator="STANDARD_CONTROL", Tags={"a": "b"})
    assert member.describe_hub()["ControlFindingGenerator"] == "STANDARD_CONTROL"
    with pytest.raises(ClientError) as excinfo:
        member.enable_security_hub()
    assert error_code(excinfo) == "ResourceConflictException" and http_status(excinfo) == 409


def test_disable_and_not_subscribed_admin(emu):
    admin = emu.client(ADMIN)
    admin.disable_security_hub()
    with pytest.raises(ClientError) as excinfo:
        admin.create_members(AccountDetails=[{"AccountId": MEMBER}])
    assert error_code(excinfo) == "InvalidAccessException"
    assert excinfo.value.response["Error"]["Message"] == f"Account {ADMIN} is not subscribed to AWS Security Hub"
    with pytest.raises(ClientError) as excinfo:
        admin.disable_security_hub()
    assert error_code(excinfo) == "InvalidAccessException"
    admin.enable_security_hub()
    admin.create_members(AccountDetails=[{"AccountId": MEMBER}])


def test_disable_refused_with_members(emu):
    admin = emu.client(ADMIN)
    admin.create_members(AccountDetails=[{"AccountId": MEMBER}])
    with pytest.raises(ClientError) as excinfo:
        admin.disable_security_hub()
    assert error_code(excinfo) == "InvalidInputException"


def test_admin_hub_disabled_flag(start_emulator):
    emu = start_emulator("--admin-hub-disabled", "--rate", "0")
    admin = emu.client(ADMIN)
    for call in (admin.list_members, admin.describe_hub):
        with pytest.raises(ClientError) as excinfo:
            call()
        assert error_code(excinfo) == "InvalidAccessException"
    admin.enable_security_hub()
    assert admin.list_members()["Members"] == []


def test_organization_configuration(emu):
    admin = emu.client(ADMIN)
    config = admin.describe_organization_configuration()
    assert config["AutoEnable"] is False
    assert config["MemberAccountLimitReached"] is False
    assert config["AutoEnableStandards"] == "DEFAULT"
    assert config["OrganizationConfiguration"] == {"ConfigurationType": "LOCAL", "Status": "ENABLED"}
    admin.update_organization_configuration(
        AutoEnable=True, AutoEnableStandards="NONE", OrganizationConfiguration={"ConfigurationType": "CENTRAL"}
    )
    config = admin.describe_organization_configuration()
    assert config["AutoEnable"] is True and config["AutoEnableStandards"] == "NONE"
    assert config["OrganizationConfiguration"]["ConfigurationType"] == "CENTRAL"


def test_organization_configuration_belongs_to_the_organization_administrator(emu, start_emulator):
    # No organization at all: AWS's refusal of a non-administrator, HTTP 401.
    alone = start_emulator("--rate", "0").client(ADMIN)
    for call in (alone.describe_organization_configuration, lambda: alone.update_organization_configuration(AutoEnable=True)):
        with pytest.raises(ClientError) as excinfo:
            call()
        assert error_code(excinfo) == "InvalidAccessException"
        assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 401
        assert f"Account {ADMIN} is not an administrator for this organization" in str(excinfo.value)
    # Once a delegated administrator is designated, only it administers the organization:
    # another administrator adds an organization account as an invitation-based member.
    emu.client("999999999999").enable_organization_admin_account(AdminAccountId=ADMIN)
    other = emu.client("222222222222")
    other.enable_security_hub()
    with pytest.raises(ClientError) as excinfo:
        other.describe_organization_configuration()
    assert error_code(excinfo) == "InvalidAccessException"
    assert emu.client(ADMIN).describe_organization_configuration()["AutoEnable"] is False
    other.create_members(AccountDetails=[{"AccountId": "444444444444"}])
    assert other.get_members(AccountIds=["444444444444"])["Members"][0]["MemberStatus"] == "Created"
    emu.client(ADMIN).create_members(AccountDetails=[{"AccountId": "555555555555"}])
    assert emu.client(ADMIN).get_members(AccountIds=["555555555555"])["Members"][0]["MemberStatus"] == "Enabled"


def test_organization_admin_accounts(emu):
    management = emu.client("999999999999")
    out = management.enable_organization_admin_account(AdminAccountId=ADMIN)
    assert out["AdminAccountId"] == ADMIN
    management.enable_organization_admin_account(AdminAccountId=MEMBER)
    first = management.list_organization_admin_accounts(MaxResults=1)
    assert first["AdminAccounts"] == [{"AccountId": ADMIN, "Status": "ENABLED"}]
    rest = management.list_organization_admin_accounts(MaxResults=1, NextToken=first["NextToken"])
    assert rest["AdminAccounts"][0]["AccountId"] == MEMBER
    with pytest.raises(ClientError) as excinfo:
        management.list_organization_admin_accounts(MaxResults=11)
    assert error_code(excinfo) == "InvalidInputException"


def test_only_management_account_designates_admin(start_emulator):
    emu = start_emulator("--rate", "0", "--management-account", "999999999999")
    with pytest.raises(ClientError) as excinfo:
        emu.client(ADMIN).enable_organization_admin_account(AdminAccountId=ADMIN)
    assert error_code(excinfo) == "AccessDeniedException" and http_status(excinfo) == 403
    emu.client("999999999999").enable_organization_admin_account(AdminAccountId=ADMIN)
