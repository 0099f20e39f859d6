"""`--path-prefix /prove`: Prove's API (/token, /v3/*, /v1/server/*) under the prefix as well as at the root.

The prefixed emulator here is its own server (the session's has no prefix), and every reply it gives
is checked against its own /openapi.json, which lists the prefixed paths.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from emulator.http.app import create_app
from emulator.http.prefix import normalize_path_prefix
from emulator.client import EmulatorClient
from emulator.server import ThreadedServer
from emulator.service import Emulator
from tests.conftest import Emu
from tests.prove_calls import auth_claims, ok, refused
from tests.spec_check import SpecChecker
from tests.prove_calls import READY
from tests.test_cli import assert_one_line_failure, run
from tests.test_server_sdk import ROOT, TIMEOUT_SECONDS, require_node_sdk

PREFIX = "/prove"
VERIFY = {"firstName": "Casey", "lastName": "Client", "phoneNumber": "2025550101", "possessionType": "none"}
FORM = {"grant_type": "client_credentials", "client_id": "sandbox-client-id", "client_secret": "sandbox-client-secret"}


@pytest.fixture(scope="module")
def prefixed_server() -> Iterator[tuple[ThreadedServer, SpecChecker]]:
    emulator = Emulator()
    server = ThreadedServer(create_app(emulator, path_prefix=PREFIX + "/")).start()  # the trailing / is dropped
    emulator.public_origin = server.base_url
    spec = httpx.get(server.base_url + "/openapi.json").json()
    yield server, SpecChecker(spec)
    server.stop()


@pytest.fixture
def pre(prefixed_server) -> Iterator[Emu]:
    """Like `emu`, on the prefixed emulator: reset, and every reply checked against its spec."""
    server, checker = prefixed_server
    handle = EmulatorClient(server.base_url, admin_token="")
    handle.reset()
    handle.http.event_hooks["response"].append(checker.check)
    yield Emu(handle)
    handle.close()


def prove_operations(spec: dict) -> list[tuple[str, str]]:
    """(method, path) of Prove's API at the root, as the spec lists them."""
    return [(method.upper(), path) for path, item in spec["paths"].items() for method in item
            if path == "/token" or path.startswith(("/v3/", "/v1/server/"))]


# -- routes and spec --------------------------------------------------------------------------------------


def test_the_spec_lists_every_prove_path_under_the_prefix_and_nothing_else(prefixed_server):
    _, checker = prefixed_server
    paths = checker.spec["paths"]
    root = {(m, p) for m, p in prove_operations(checker.spec)}
    under = {(method.upper(), path.removeprefix(PREFIX)) for path, item in paths.items() if path.startswith(PREFIX + "/")
             for method in item}
    assert len(root) > 30 and under == root
    assert not any(path.startswith(PREFIX + "/v1/client") or path.startswith(PREFIX + "/__emulator") for path in paths)
    operation_ids = [op["operationId"] for item in paths.values() for op in item.values() if isinstance(op, dict)]
    assert len(operation_ids) == len(set(operation_ids))
    assert checker.find("POST", PREFIX + "/v3/verify") == PREFIX + "/v3/verify"
    assert checker.find("GET", PREFIX + "/v3/identity/abc") == PREFIX + "/v3/identity/{proveId}"


def test_every_prove_route_answers_under_the_prefix_as_at_the_root(pre):
    token = pre.token
    for method, path in prove_operations(pre.handle.http.get("/openapi.json").json()):
        concrete = re.sub(r"\{[^}]+\}", "x", path)
        kwargs = {"data": FORM} if path == "/token" else {"json": {}, "headers": {"Authorization": f"Bearer {token}"}}
        if method in ("GET", "DELETE"):
            kwargs.pop("json", None)
        at_root = pre.http.request(method, concrete, **kwargs)
        prefixed = pre.http.request(method, PREFIX + concrete, **kwargs)
        assert prefixed.status_code == at_root.status_code, (method, path, prefixed.text, at_root.text)
        assert prefixed.status_code not in (404, 405) or "no such route" not in prefixed.text, (method, path)
        if prefixed.status_code != 200:
            assert prefixed.json()["message"] == at_root.json()["message"], (method, path)


def test_token_at_both_and_either_token_works_at_both(pre):
    from_root = ok(pre.http.post("/token", data=FORM))["access_token"]
    from_prefix = ok(pre.http.post(PREFIX + "/token", data=FORM))["access_token"]
    for token in (from_root, from_prefix):
        for base in ("", PREFIX):
            assert ok(pre.http.get(base + "/v3/domain/id", headers={"Authorization": f"Bearer {token}"}))["pcid"]
    refused(pre.http.post(PREFIX + "/token", data={**FORM, "client_secret": "wrong"}), 401, 8002)


def test_a_flow_under_the_prefix_is_the_same_flow_at_the_root(pre):
    started = ok(pre.post(PREFIX + "/v3/verify", {**VERIFY, "phoneNumber": "2025550100", "possessionType": "mobile"}))
    # The authToken keeps the bare origin: the Web SDK's device channel stays at the root.
    assert auth_claims(started["authToken"])["endp"] == pre.base_url
    assert pre.client(started["authToken"], "mobile/otp/start", {}) == {"next": "mobile/otp"}
    assert pre.client(started["authToken"], "mobile/otp/finish", {"otp": "1234"}) == {"next": "done"}
    status = {"correlationId": started["correlationId"]}
    assert ok(pre.post("/v3/verify-status", status))["success"] == "true"
    assert ok(pre.post(PREFIX + "/v3/verify-status", status))["success"] == "true"
    journal = [(entry["path"], entry["status"]) for entry in pre.requests()]
    assert (PREFIX + "/v3/verify", 200) in journal and ("/v3/verify-status", 200) in journal
    assert (PREFIX + "/v3/verify-status", 200) in journal


def test_faults_and_the_rate_limit_see_one_endpoint_at_both_paths(pre):
    ok(pre.http.post("/__emulator/faults", json={"endpoint": "/v3/verify", "status": 503, "times": 2}))
    refused(pre.post(PREFIX + "/v3/verify", VERIFY), 503, 8000)
    refused(pre.post("/v3/verify", VERIFY), 503, 8000)
    ok(pre.post(PREFIX + "/v3/verify", VERIFY))

    pre.put_project("limited", clientSecret="s", rateLimit=2)
    token = pre.access_token("limited", "s")
    pre.freeze()
    auth = {"Authorization": f"Bearer {token}"}
    assert [pre.http.get(path, headers=auth).status_code
            for path in ("/v3/domain/id", PREFIX + "/v3/domain/id", PREFIX + "/v3/domain/id")] == [200, 200, 429]


@pytest.mark.parametrize("path", [
    PREFIX, PREFIX + "/", PREFIX + "/v3/nope", PREFIX + "/v1/client/mobile/otp/start", PREFIX + "/__emulator/health",
    PREFIX + "/openapi.json", PREFIX + "/prove/v3/verify", "/prov/v3/verify",
])
def test_only_prove_s_api_is_under_the_prefix(pre, path):
    reply = pre.http.post(path, json={})
    assert reply.status_code == 404 and reply.json()["code"] == 8001, reply.text


def test_without_a_prefix_nothing_is_added(emu):
    spec = ok(emu.http.get("/openapi.json"))
    assert not [path for path in spec["paths"] if path.startswith(PREFIX)]
    assert emu.http.post(PREFIX + "/token", data=FORM).status_code == 404


# -- the option -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("given, normalized", [
    ("", ""), ("  ", ""), ("/prove", "/prove"), ("/prove/", "/prove"), ("/prefix/api", "/prefix/api"),
    (" /a-b_c~.d ", "/a-b_c~.d"), ("/V3x", "/V3x"),
])
def test_good_prefixes(given, normalized):
    assert normalize_path_prefix(given) == normalized


@pytest.mark.parametrize("given, reason", [
    ("prove", "must start with /"), ("/", "must start with /"), ("//", "must start with /"),
    ("/a//b", "segment ''"), ("/a/../b", "segment '..'"), ("/.", "segment '.'"), ("/a%20b", "segment 'a%20b'"),
    ("/a b", "segment 'a b'"), ("/é", "segment 'é'"), ("/p?x=1", "segment 'p?x=1'"), ("/p#x", "segment 'p#x'"),
    ("/" + "a" * 100, "at most 100"), ("/v3", "must not start with"), ("/v1/client", "must not start with"),
    ("/__emulator", "must not start with"), ("/token", "must not start with"), ("/openapi.json", "must not start with"),
])
def test_bad_prefixes(given, reason):
    with pytest.raises(ValueError, match=re.escape(reason)):
        normalize_path_prefix(given)
    with pytest.raises(ValueError):
        create_app(Emulator(), path_prefix=given)


def test_the_command_serves_the_prefix_from_the_flag_and_from_the_environment():
    for args, env in (((("--path-prefix", "/prove"), {})), ((), {"PROVE_EMULATOR_PATH_PREFIX": "/prove"})):
        process = subprocess.Popen([sys.executable, "-m", "emulator", "--port", "0", *args], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True, env={**os.environ, **env})
        try:
            line = process.stdout.readline()
            match = READY.search(line)
            assert match and "Prove's API also under /prove" in line, line
            base_url = match.group(1)
            token = httpx.post(base_url + "/prove/token", data=FORM).json()["access_token"]
            reply = httpx.post(base_url + "/prove/v3/verify", json=VERIFY, headers={"Authorization": f"Bearer {token}"})
            assert reply.status_code == 200 and reply.json()["success"] == "true"
        finally:
            process.terminate()
            process.wait(timeout=10)


@pytest.mark.parametrize("prefix, reason", [("prove", "must start with /"), ("/__emulator", "must not start with")])
def test_a_bad_prefix_stops_start_up_in_one_line(prefix, reason):
    assert_one_line_failure(run("--port", "0", "--path-prefix", prefix), reason)
    assert_one_line_failure(run("--port", "0", env={"PROVE_EMULATOR_PATH_PREFIX": prefix}), reason)


# -- Prove's SDK with serverURL http://127.0.0.1:PORT/prove ------------------------------------------------


@pytest.mark.node
def test_official_server_sdk_with_a_prefixed_server_url(pre) -> None:
    require_node_sdk()
    script = Path(ROOT, "tests", "node", "path_prefix.mjs")
    env = {**os.environ, "EMULATOR_URL": pre.base_url, "PATH_PREFIX": PREFIX, "NO_COLOR": "1",
           "PROVE_CLIENT_ID": pre.client_id, "PROVE_CLIENT_SECRET": pre.client_secret}
    env.pop("FORCE_COLOR", None)
    command = ["node", "--test", "--test-reporter=spec", str(script.relative_to(ROOT))]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=TIMEOUT_SECONDS)
    output = f"$ {' '.join(command)}\n{done.stdout}{done.stderr}"
    assert done.returncode == 0, f"path_prefix.mjs failed under Node:\n{output}"
    passed = re.search(r"^\S* ?pass (\d+)$", done.stdout, re.MULTILINE)
    assert passed and int(passed.group(1)) == 4, f"not every Node test passed:\n{output}"
