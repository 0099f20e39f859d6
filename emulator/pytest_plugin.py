"""pytest plugin: the `prove_emulator` fixture, an emulator running in-process on a free port.

    def test_signup(prove_emulator):
        token = prove_emulator.access_token()
        ...  # point your code at prove_emulator.base_url
        code = prove_emulator.latest_otp("2025550100")
        prove_emulator.advance(121)  # move the emulator clock instead of sleeping

One emulator serves the whole session; each test starts from a reset (state, clock, projects).
Options (pytest.ini / pyproject): `prove_emulator_scenarios` (directories, one per line),
`prove_emulator_projects` (a projects file) and `prove_emulator_admin_token` (else the environment's
PROVE_EMULATOR_ADMIN_TOKEN): the session's emulator then requires that token on its control plane, and
the handle sends it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

from emulator.access import ADMIN_TOKEN_HEADER, AccessPolicy
from emulator.projects import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, load_projects_file
from emulator.server import BackgroundServer
from emulator.service import Emulator


class EmulatorHandle:
    """A running emulator, seen from a test: its URL, credentials and control-plane helpers."""

    def __init__(self, base_url: str, client_id: str = DEFAULT_CLIENT_ID,
                 client_secret: str = DEFAULT_CLIENT_SECRET, admin_token: str | None = None) -> None:
        self.base_url = base_url
        self.client_id = client_id
        self.client_secret = client_secret
        self.admin_token = admin_token
        # Sent on every call: Prove's API ignores it, and the control plane needs it when one is set.
        headers = {ADMIN_TOKEN_HEADER: admin_token} if admin_token else {}
        self.http = httpx.Client(base_url=base_url, timeout=30.0, headers=headers)

    # -- Prove's API -----------------------------------------------------------------------------

    def access_token(self, client_id: str | None = None, client_secret: str | None = None) -> str:
        reply = self.http.post("/token", data={
            "grant_type": "client_credentials",
            "client_id": client_id or self.client_id,
            "client_secret": client_secret or self.client_secret,
        })
        reply.raise_for_status()
        return reply.json()["access_token"]

    def call(self, path: str, body: dict[str, Any], token: str | None = None) -> httpx.Response:
        """POST a JSON body to a Prove endpoint with an access token (a fresh one if not given)."""
        token = token or self.access_token()
        return self.http.post(path, json=body, headers={"Authorization": f"Bearer {token}"})

    # -- the fake phone ------------------------------------------------------------------------------

    def sms(self, phone_number: str | None = None, *, wait: float = 0, after: int = 0,
            correlation_id: str | None = None) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"after": after}
        if phone_number:
            params["phoneNumber"] = phone_number
        if correlation_id:
            params["correlationId"] = correlation_id
        if wait:
            params["wait"] = wait
        reply = self.http.get("/__emulator/sms", params=params)
        reply.raise_for_status()
        return reply.json()["messages"]

    def latest_sms(self, phone_number: str | None = None, *, wait: float = 5, after: int = 0,
                   correlation_id: str | None = None) -> dict[str, Any]:
        messages = self.sms(phone_number, wait=wait, after=after, correlation_id=correlation_id)
        if not messages:
            raise AssertionError(f"no SMS for {phone_number or 'any number'} within {wait} s")
        return messages[-1]

    def latest_otp(self, phone_number: str | None = None, **kwargs: Any) -> str:
        return self.latest_sms(phone_number, **kwargs)["otp"]

    def latest_link(self, phone_number: str | None = None, **kwargs: Any) -> str:
        return self.latest_sms(phone_number, **kwargs)["link"]

    def click(self, link: str) -> httpx.Response:
        """Open an Instant Link as the customer's phone would (redirects are not followed)."""
        return self.http.get(link, follow_redirects=False)

    # -- clock, state ------------------------------------------------------------------------------

    def clock(self, **change: Any) -> dict[str, Any]:
        reply = self.http.post("/__emulator/clock", json=change) if change else self.http.get("/__emulator/clock")
        reply.raise_for_status()
        return reply.json()

    def advance(self, seconds: float) -> dict[str, Any]:
        return self.clock(advance=seconds)

    def freeze(self) -> dict[str, Any]:
        return self.clock(freeze=True)

    def unfreeze(self) -> dict[str, Any]:
        return self.clock(freeze=False)

    def reset(self, project: str | None = None) -> None:
        self.http.post("/__emulator/reset", json={"project": project} if project else {}).raise_for_status()

    def flow(self, correlation_id: str) -> dict[str, Any]:
        reply = self.http.get(f"/__emulator/flows/{correlation_id}")
        reply.raise_for_status()
        return reply.json()

    def requests(self, **params: Any) -> list[dict[str, Any]]:
        reply = self.http.get("/__emulator/requests", params=params)
        reply.raise_for_status()
        return reply.json()["requests"]

    def put_project(self, client_id: str, **settings: Any) -> dict[str, Any]:
        reply = self.http.put(f"/__emulator/projects/{client_id}", json=settings)
        reply.raise_for_status()
        return reply.json()

    def close(self) -> None:
        self.http.close()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("prove_emulator_scenarios", "scenario directories for the prove_emulator fixture",
                  type="paths", default=[])
    parser.addini("prove_emulator_projects", "a projects file for the prove_emulator fixture", default="")
    parser.addini("prove_emulator_admin_token",
                  "the control plane's admin token for the prove_emulator fixture (default: the environment's "
                  "PROVE_EMULATOR_ADMIN_TOKEN, else none)", default="")


def admin_token_of(config: pytest.Config) -> str | None:
    """The admin token the session's emulator requires: the ini option, else the environment's."""
    return config.getini("prove_emulator_admin_token") or os.environ.get("PROVE_EMULATOR_ADMIN_TOKEN") or None


@pytest.fixture(scope="session")
def prove_emulator_server(pytestconfig: pytest.Config) -> Iterator[BackgroundServer]:
    """The session's emulator, on a free loopback port (its `emulator` attribute is the service)."""
    projects_file = pytestconfig.getini("prove_emulator_projects")
    projects = load_projects_file(Path(pytestconfig.rootpath, projects_file)) if projects_file else []
    emulator = Emulator(scenario_dirs=pytestconfig.getini("prove_emulator_scenarios"), projects=projects)
    server = BackgroundServer(emulator, access=AccessPolicy(admin_token=admin_token_of(pytestconfig))).start()
    yield server
    server.stop()


@pytest.fixture
def prove_emulator(prove_emulator_server: BackgroundServer) -> Iterator[EmulatorHandle]:
    """A freshly reset emulator for this test."""
    handle = EmulatorHandle(prove_emulator_server.base_url, admin_token=prove_emulator_server.access.admin_token)
    handle.reset()
    yield handle
    handle.close()
