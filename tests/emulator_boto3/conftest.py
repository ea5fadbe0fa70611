"""Fixtures that run the emulator binary and talk to it through boto3.

Every emulator is started on a free loopback port (``--listen 127.0.0.1:0``); the
port is read from the one ``listening on`` line the binary prints, and the process
is stopped by the PID this file started. ``SHO_BIN`` overrides the binary path.
"""

import json
import os
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

REPO = Path(__file__).resolve().parents[2]
ADMIN = "111111111111"
MEMBER = "222222222222"
OTHER = "333333333333"
REGION = "us-east-1"

# One attempt only: tests must see every throttle and injected error.
NO_RETRY = Config(retries={"total_max_attempts": 1, "mode": "standard"})


def binary() -> str:
    return os.environ.get("SHO_BIN", str(REPO / "target" / "debug" / "securityhub-operator"))


def key_for(account: str) -> str:
    """A fake access key id whose 12 digits make the emulator act as `account`."""
    return f"AKIA{account}EXAM"


class Emulator:
    """One running emulator process plus helpers for boto3 clients and the control API."""

    def __init__(self, args):
        self.proc = subprocess.Popen(
            [binary(), "emulator", "--listen", "127.0.0.1:0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        line = self.proc.stdout.readline().strip()
        if not line.startswith("listening on "):
            self.stop()
            raise RuntimeError(f"emulator did not start: {line!r}")
        self.url = line.removeprefix("listening on ")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def client(self, account=ADMIN, region=REGION, service="securityhub", **creds):
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=region,
            aws_access_key_id=creds.get("key", key_for(account)),
            aws_secret_access_key=creds.get("secret", "fake-secret"),
            aws_session_token=creds.get("token"),
            config=NO_RETRY,
        )

    def control(self, method, path, body=None):
        """Calls the /_emulator API; returns (status, parsed JSON)."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("content-type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read() or b"null")

    def state(self):
        return self.control("GET", "/_emulator/state")[1]

    def status_of(self, member, admin=ADMIN, region=REGION):
        rows = self.state()["members"].get(admin, {}).get(region, [])
        return next((m["status"] for m in rows if m["accountId"] == member), None)


@pytest.fixture(scope="module")
def shared_emulator():
    emu = Emulator(["--rate", "0", "--org-account", "444444444444", "--org-account", "555555555555"])
    yield emu
    emu.stop()


@pytest.fixture
def emu(shared_emulator):
    """The module's emulator with fresh state for every test."""
    status, _ = shared_emulator.control("POST", "/_emulator/reset")
    assert status == 200
    return shared_emulator


@pytest.fixture
def start_emulator():
    """Starts extra emulators with custom flags; all are stopped after the test."""
    started = []

    def start(*args):
        emu = Emulator(list(args))
        started.append(emu)
        return emu

    yield start
    for emu in started:
        emu.stop()


def error_code(excinfo):
    return excinfo.value.response["Error"]["Code"]


def http_status(excinfo):
    return excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"]
