"""Fixtures: start `spoke-sandbox` binaries, point HubSpot's official client at them, record traffic."""

import json
import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from recorder import RECORDER  # noqa: E402

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))


def sandbox_binary():
    explicit = os.environ.get("SPOKE_SANDBOX_BIN")
    if explicit:
        return explicit
    dirs = [os.environ.get("CARGO_TARGET_DIR"), os.path.join(ROOT, "target")]
    for d in filter(None, dirs):
        for profile in ("release", "debug"):
            p = os.path.join(d, profile, "spoke-sandbox")
            if os.path.exists(p):
                return p
    pytest.exit("spoke-sandbox binary not found: build it (cargo build -p spoke-sandbox) or set SPOKE_SANDBOX_BIN", 2)


class Running:
    def __init__(self, args):
        self.proc = subprocess.Popen([sandbox_binary(), "--port", "0", "--json", *args], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("spoke-sandbox exited before printing its configuration")
        self.info = json.loads(line)
        self.base_url = self.info["baseUrl"]
        self.token = self.info["privateAppToken"]

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


BASE_URLS = []


@pytest.fixture(scope="session", autouse=True)
def recorder():
    RECORDER.install()
    yield RECORDER
    RECORDER.uninstall()


@pytest.fixture(scope="session")
def portal():
    """A portal with >10k contacts (for the search cap) and no 429s."""
    s = Running(["--contacts", "10300", "--no-rate-limits", "--seed", "7"])
    BASE_URLS.append(s.base_url)
    yield s
    s.stop()


@pytest.fixture(scope="session")
def free_portal():
    """A Free-tier portal with rate limits enforced."""
    s = Running(["--tier", "free", "--contacts", "200"])
    BASE_URLS.append(s.base_url)
    yield s
    s.stop()


def client_for(base_url, token):
    from hubspot import HubSpot

    return HubSpot(access_token=token, host=base_url)


@pytest.fixture(scope="session")
def hs(portal):
    return client_for(portal.base_url, portal.token)
