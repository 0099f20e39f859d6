"""Shared fixtures: every reply the suite receives is checked against the emulator's OpenAPI."""

from __future__ import annotations

from typing import Any, Iterator

import os
import subprocess
import sys

import httpx
import pytest

from emulator.client import EmulatorClient
from tests.spec_check import SpecChecker
from tests.prove_calls import READY

MOBILE = "mobile"
DESKTOP = "desktop"


@pytest.fixture(scope="session")
def spec_checker(prove_emulator_server) -> SpecChecker:
    spec = httpx.get(prove_emulator_server.base_url + "/openapi.json").json()
    return SpecChecker(spec)


@pytest.fixture
def emu(prove_emulator: EmulatorClient, spec_checker: SpecChecker) -> Iterator["Emu"]:
    """The emulator fixture, with every reply checked against /openapi.json."""
    prove_emulator.http.event_hooks["response"].append(spec_checker.check)
    yield Emu(prove_emulator)


class Emu:
    """Test helpers on top of the plugin's client."""

    def __init__(self, handle: EmulatorClient) -> None:
        self.handle = handle
        self.http = handle.http
        self._token: str | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.handle, name)

    @property
    def token(self) -> str:
        if self._token is None:
            self._token = self.handle.access_token()
        return self._token

    def post(self, path: str, body: Any, token: str | None = None) -> httpx.Response:
        return self.http.post(path, json=body, headers={"Authorization": f"Bearer {token or self.token}"})

    def verify(self, phone: str = "2025550100", possession: str = MOBILE, **fields: Any) -> dict[str, Any]:
        body = {"firstName": "Casey", "lastName": "Client", "phoneNumber": phone, "possessionType": possession}
        if possession == DESKTOP:
            body["finalTargetUrl"] = "https://app.example.com/done"
        body.update(fields)
        reply = self.post("/v3/verify", body)
        assert reply.status_code == 200, reply.text
        return reply.json()

    def status(self, correlation_id: str) -> dict[str, Any]:
        reply = self.post("/v3/verify-status", {"correlationId": correlation_id})
        assert reply.status_code == 200, reply.text
        return reply.json()

    def client(self, auth_token: str, step: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """Call a Web SDK device-channel endpoint as the SDK does (always HTTP 200)."""
        reply = self.http.post(f"/v1/client/{step}", json=body or {},
                               headers={"Authorization": f"Bearer {auth_token}"})
        assert reply.status_code == 200, reply.text
        return reply.json()


@pytest.fixture
def serve_cli() -> Iterator:
    """serve_cli(*args, env=None): `prove-emulator` in a subprocess; its base URL and ready line."""
    started: list[subprocess.Popen[str]] = []

    def start(*args: str, env: dict[str, str] | None = None) -> tuple[str, str]:
        process = subprocess.Popen([sys.executable, "-m", "emulator", *args], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})})
        started.append(process)
        line = process.stdout.readline()
        match = READY.search(line)
        assert match, f"no ready line: {line!r} {process.stderr.read() if process.poll() is not None else ''}"
        return match.group(1), line

    yield start
    for process in started:
        process.terminate()
        process.wait(timeout=10)
