"""pytest plugin: the `prove_emulator` fixture, an emulator running in-process on a free port.

    def test_signup(prove_emulator):
        verify = prove_emulator.call("/v3/verify", {"phoneNumber": "2025550100", "possessionType": "mobile",
                                                    "firstName": "Casey", "lastName": "Client"}).json()
        prove_emulator.complete(verify["correlationId"])  # the customer: SMS sent, the right code typed
        ...  # point your code at prove_emulator.base_url, with prove_emulator.client_id / client_secret
        prove_emulator.advance(121)  # move the emulator clock instead of sleeping

The fixture is an `emulator.client.EmulatorClient` (the whole control plane, one method per operation;
errors raise `EmulatorError`). One emulator serves the whole session; each test starts from a reset
(state, clock, projects). Options (pytest.ini / pyproject): `prove_emulator_scenarios` (directories, one
per line), `prove_emulator_projects` (a projects file) and `prove_emulator_admin_token` (else the
environment's PROVE_EMULATOR_ADMIN_TOKEN): the session's emulator then requires that token on its
control plane, and the client sends it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pytest

from emulator.access import AccessPolicy
from emulator.client import EmulatorClient
from emulator.projects import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, load_projects_file
from emulator.server import BackgroundServer
from emulator.service import Emulator


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
def prove_emulator(prove_emulator_server: BackgroundServer) -> Iterator[EmulatorClient]:
    """A client of the session's emulator, freshly reset for this test (the default project's credentials)."""
    client = EmulatorClient(prove_emulator_server.base_url, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET,
                            admin_token=prove_emulator_server.access.admin_token or "")
    client.reset()
    yield client
    client.close()
