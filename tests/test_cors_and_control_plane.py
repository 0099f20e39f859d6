"""CORS as Prove has it, and a control plane for the emulator's user only (issue 9).

Only the Web SDK's /v1/client/* answer browsers; /token, /v3/* and /v1/server/* are server-to-server
at Prove, so a browser's call to them fails (the journal says why) unless --cors-api opens them. The
control plane answers only Host values that name the emulator (DNS rebinding sends another), never a
page of another origin, and with --admin-token only callers that send it.
"""

from __future__ import annotations

import socket
import textwrap
from typing import Any, Callable, Iterator

import httpx
import pytest

from emulator.access import ADMIN_TOKEN_HEADER, AccessPolicy, Surface, surface_of
from emulator.http.app import create_app
from emulator.client import EmulatorClient
from emulator.pytest_plugin import admin_token_of
from emulator.server import BackgroundServer, ThreadedServer
from emulator.service import Emulator
from tests.prove_calls import IL_START, ok, refused
from tests.spec_check import SpecChecker
from tests.test_cli import assert_one_line_failure, run

pytest_plugins = ["pytester"]

APP_ORIGIN = "http://127.0.0.1:5173"  # a web app's page, served from another origin than the emulator
EVIL = "evil.example"  # a DNS-rebinding attacker's name, resolving to 127.0.0.1
PREFLIGHT = {"Origin": APP_ORIGIN, "Access-Control-Request-Method": "POST",
             "Access-Control-Request-Headers": "authorization,content-type,pa-version"}
CREDENTIALS = {"grant_type": "client_credentials", "client_id": "sandbox-client-id",
               "client_secret": "sandbox-client-secret"}
DESKTOP_VERIFY = {"firstName": "Casey", "lastName": "Client", "phoneNumber": "2025550100",
                  "possessionType": "desktop", "finalTargetUrl": "https://app.example.com/done"}
ADMIN_TOKEN = "s3cret-admin-token"

Serve = Callable[..., EmulatorClient]


@pytest.fixture
def serve() -> Iterator[Serve]:
    """serve(admin_token=None, public_origin=None, **policy): another emulator with that access policy
    (and --public-url), its replies checked against its own /openapi.json (which documents the guard)."""
    started: list[tuple[BackgroundServer, EmulatorClient]] = []

    def start(admin_token: str | None = None, public_origin: str | None = None, **policy: Any) -> EmulatorClient:
        server = BackgroundServer(Emulator(), access=AccessPolicy(admin_token=admin_token, **policy)).start()
        server.emulator.public_origin = public_origin or server.emulator.public_origin
        handle = EmulatorClient(server.base_url, admin_token=admin_token or "")
        checker = SpecChecker(httpx.get(server.base_url + "/openapi.json").json())
        handle.http.event_hooks["response"].append(checker.check)
        started.append((server, handle))
        return handle

    yield start
    for server, handle in started:
        handle.close()
        server.stop()


def no_cors(reply: httpx.Response) -> None:
    assert not [name for name in reply.headers if name.lower().startswith("access-control-")], reply.headers


def last_entry(handle: Any, path: str) -> dict[str, Any]:
    return handle.requests(path=path)[-1]


# -- CORS on Prove's API ----------------------------------------------------------------------------------


def test_the_web_sdks_device_channel_answers_cross_origin_calls(emu):
    preflight = emu.http.options("/v1/client/mobile/otp/start", headers=PREFLIGHT)
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] in ("*", APP_ORIGIN)
    flow = emu.verify(possession="mobile")
    reply = emu.http.post("/v1/client/mobile/otp/start", json={},
                          headers={"Origin": APP_ORIGIN, "Authorization": f"Bearer {flow['authToken']}"})
    assert ok(reply) == {"next": "mobile/otp"}
    assert reply.headers["access-control-allow-origin"] in ("*", APP_ORIGIN)
    assert "note" not in last_entry(emu, "/v1/client/mobile/otp/start")


@pytest.mark.parametrize("path, area", [("/v3/verify", "/v3"), ("/token", "/token"),
                                        ("/v1/server/auth/start", "/v1/server")])
def test_a_browsers_preflight_to_the_server_api_gets_no_allowance_and_the_journal_says_why(emu, path, area):
    reply = emu.http.options(path, headers=PREFLIGHT)
    assert reply.status_code == 403 and reply.json()["code"] == 8003
    no_cors(reply)
    entry = last_entry(emu, path)
    assert (entry["method"], entry["status"]) == ("OPTIONS", 403)
    assert entry["note"].startswith("cross-origin call refused")
    assert f"{area} is server-to-server at Prove" in entry["note"] and "--cors-api" in entry["note"]


def test_a_simple_cross_origin_call_is_served_without_allowance_and_journaled_with_why(emu):
    # A form POST needs no preflight: Prove serves it, and the browser keeps the reply from the page.
    reply = emu.http.post("/token", data=CREDENTIALS, headers={"Origin": APP_ORIGIN})
    assert reply.status_code == 200
    no_cors(reply)
    note = last_entry(emu, "/token")["note"]
    assert "cross-origin call refused" in note and APP_ORIGIN in note and "/token is server-to-server" in note
    verify = emu.http.post("/v3/verify", json={**DESKTOP_VERIFY, "possessionType": "mobile"},
                           headers={"Origin": APP_ORIGIN, "Authorization": f"Bearer {emu.token}"})
    assert verify.status_code == 200
    no_cors(verify)
    assert "/v3 is server-to-server" in last_entry(emu, "/v3/verify")["note"]


def test_server_to_server_calls_carry_no_note(emu):
    assert emu.http.post("/token", data=CREDENTIALS).status_code == 200
    assert "note" not in last_entry(emu, "/token")
    # A page of the emulator's own origin is not cross-origin.
    assert emu.http.post("/token", data=CREDENTIALS, headers={"Origin": emu.base_url}).status_code == 200
    assert "note" not in last_entry(emu, "/token")


def test_cors_api_opens_the_server_api_to_browsers(serve):
    handle = serve(cors_api=True)
    preflight = handle.http.options("/v3/verify", headers=PREFLIGHT)
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] in ("*", APP_ORIGIN)
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
    reply = handle.http.post("/token", data=CREDENTIALS, headers={"Origin": APP_ORIGIN})
    assert reply.status_code == 200 and reply.headers["access-control-allow-origin"] in ("*", APP_ORIGIN)
    assert "note" not in last_entry(handle, "/token")
    # The control plane stays closed to other origins whatever --cors-api says.
    control = handle.http.get("/__emulator/sms", headers={"Origin": APP_ORIGIN})
    refused(control, 403, 8003)
    no_cors(control)


def test_a_path_prefixed_api_is_server_to_server_too():
    server = ThreadedServer(create_app(Emulator(), path_prefix="/prove")).start()
    try:
        reply = httpx.options(server.base_url + "/prove/v3/verify", headers=PREFLIGHT)
        assert reply.status_code == 403
        no_cors(reply)
        assert "/prove/v3 is server-to-server at Prove" in reply.json()["message"]
    finally:
        server.stop()


@pytest.mark.parametrize("path, surface", [
    ("/v1/client/mobile/otp/start", Surface.DEVICE), ("/v1/client/status", Surface.DEVICE),
    ("/v3/verify", Surface.API), ("/token", Surface.API), ("/v1/server/auth/start", Surface.API),
    ("/prove/v3/verify", Surface.API), ("/v1/clientele", Surface.API), ("/openapi.json", Surface.SPEC),
    ("/__emulator/health", Surface.HEALTH), ("/__emulator/link/abc", Surface.LINK),
    ("/__emulator/link/abc/more", Surface.CONTROL), ("/__emulator/sms", Surface.CONTROL),
    ("/__emulator", Surface.CONTROL),
])
def test_each_path_belongs_to_one_surface(path, surface):
    assert surface_of(path) is surface


def test_the_spec_is_readable_from_any_origin(emu):
    reply = emu.http.get("/openapi.json", headers={"Origin": APP_ORIGIN, "Host": EVIL})
    assert reply.status_code == 200 and reply.headers["access-control-allow-origin"] in ("*", APP_ORIGIN)


# -- the control plane: no cross-origin calls ------------------------------------------------------------


def test_the_control_plane_refuses_cross_origin_calls_with_no_cors_headers(emu):
    reply = emu.http.get("/__emulator/sms", headers={"Origin": APP_ORIGIN})
    assert "cross-origin call refused" in refused(reply, 403, 8003)
    no_cors(reply)
    # A "simple" POST (no preflight) is refused before it acts: the clock stays unfrozen.
    reply = emu.http.post("/__emulator/clock", content='{"freeze": true}',
                          headers={"Origin": "null", "Content-Type": "text/plain"})
    refused(reply, 403, 8003)
    assert emu.clock()["frozen"] is False


def test_a_preflight_to_the_control_plane_gets_no_allowance(emu):
    reply = emu.http.options("/__emulator/projects/team-x", headers={
        "Origin": APP_ORIGIN, "Access-Control-Request-Method": "PUT", "Access-Control-Request-Headers": "content-type"})
    assert reply.status_code == 403
    no_cors(reply)
    assert emu.http.get("/__emulator/projects/team-x").status_code == 404


def test_the_control_plane_answers_its_own_origin_and_plain_tools(emu):
    assert emu.http.get("/__emulator/clock", headers={"Origin": emu.base_url}).status_code == 200
    assert emu.http.get("/__emulator/clock").status_code == 200


# -- the control plane: Host names the emulator ----------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.1:7768", "localhost", "LOCALHOST:1", "localhost.",
                                  "[::1]", "[::1]:7768"])
def test_loopback_hosts_reach_the_control_plane(emu, host):
    assert emu.http.get("/__emulator/clock", headers={"Host": host}).status_code == 200


@pytest.mark.parametrize("host", [EVIL, f"{EVIL}:7768", "127.0.0.1.nip.io", "localhost.evil.example", "0.0.0.0",
                                  "192.168.1.5:7768", "[::2]", "local host", "127.0.0.1:99999"])
def test_a_dns_rebinding_host_is_refused(emu, host):
    message = refused(emu.http.get("/__emulator/sms", headers={"Host": host}), 421, 8001)
    assert "does not name this emulator" in message and "--allowed-hosts" in message
    # Writes too: the project is not created.
    refused(emu.http.put("/__emulator/projects/rebound", json={"clientSecret": "x"}, headers={"Host": host}), 421, 8001)
    assert emu.http.get("/__emulator/projects/rebound").status_code == 404


def test_a_request_without_host_is_refused(emu):
    port = httpx.URL(emu.base_url).port
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(b"GET /__emulator/sms HTTP/1.0\r\n\r\n")
        head = conn.recv(4096).split(b"\r\n", 1)[0]
    assert b" 421 " in head


def test_prove_api_health_and_spec_answer_any_host(emu):
    # Prove's API answers whatever name a backend reaches it by (e.g. a Docker Compose service name).
    assert emu.http.post("/token", data=CREDENTIALS, headers={"Host": "emulator:7768"}).status_code == 200
    assert emu.http.get("/__emulator/health", headers={"Host": EVIL}).status_code == 200


def test_the_public_urls_host_and_allowed_hosts_reach_the_control_plane(serve):
    # --public-url names the emulator as browsers and phones reach it; --allowed-hosts adds e.g. a
    # Docker Compose service name. Any port, since proxies and port mappings change it.
    handle = serve(public_origin="https://emulator.example.com:8443", allowed_hosts=("emulator",))
    assert handle.http.get("/__emulator/clock", headers={"Host": "emulator.example.com"}).status_code == 200
    assert handle.http.get("/__emulator/clock", headers={"Host": "Emulator.Example.com:8443"}).status_code == 200
    assert handle.http.get("/__emulator/clock", headers={"Host": "emulator:7768"}).status_code == 200
    message = refused(handle.http.get("/__emulator/clock", headers={"Host": "emulator.example.org"}), 421, 8001)
    assert "emulator.example.com" in message and "emulator," in message


def test_an_instant_link_opened_through_a_rebinding_host_is_refused(emu):
    flow = emu.post("/v3/verify", DESKTOP_VERIFY).json()
    assert emu.client(flow["authToken"], "mobile/instantlink/start", IL_START) == {"data": {}}
    link = httpx.URL(emu.latest_link("2025550100"))
    assert emu.http.get(link.path, headers={"Host": EVIL}).status_code == 421
    assert emu.http.get(link.path, follow_redirects=False).status_code == 302  # the link still works


# -- the admin token ---------------------------------------------------------------------------------------


def test_with_an_admin_token_the_control_plane_requires_it(serve):
    handle = serve(admin_token=ADMIN_TOKEN)
    url = handle.base_url + "/__emulator/sms"
    assert "the admin token is missing" in refused(httpx.get(url), 401, 8002)
    assert "the admin token sent is wrong" in refused(httpx.get(url, headers={ADMIN_TOKEN_HEADER: "nope"}), 401, 8002)
    refused(httpx.put(handle.base_url + "/__emulator/projects/x", json={"clientSecret": "y"}), 401, 8002)
    assert httpx.get(url, headers={ADMIN_TOKEN_HEADER: ADMIN_TOKEN}).status_code == 200
    assert handle.sms() == []  # the handle sends it
    # Liveness and the spec stay public; so does Prove's API (its own credentials protect it).
    assert httpx.get(handle.base_url + "/__emulator/health").status_code == 200
    spec = httpx.get(handle.base_url + "/openapi.json").json()
    assert spec["components"]["securitySchemes"]["adminToken"]["name"] == ADMIN_TOKEN_HEADER
    assert spec["paths"]["/__emulator/sms"]["get"]["security"] == [{"adminToken": []}]
    assert httpx.post(handle.base_url + "/token", data=CREDENTIALS).status_code == 200


def test_the_customers_phone_opens_the_instant_link_without_the_admin_token(serve):
    handle = serve(admin_token=ADMIN_TOKEN)
    flow = ok(handle.call("/v3/verify", DESKTOP_VERIFY))
    start = handle.http.post("/v1/client/mobile/instantlink/start", json=IL_START,
                             headers={"Authorization": f"Bearer {flow['authToken']}"})
    assert ok(start) == {"data": {}}
    link = handle.latest_link("2025550100")
    click = httpx.get(link, follow_redirects=False)  # the phone's browser: no token
    assert click.status_code == 302 and click.headers["location"].startswith("https://app.example.com/done")
    status = ok(handle.call("/v3/verify-status", {"correlationId": flow["correlationId"]}))
    assert status["possessionResult"] == "success"


def test_without_an_admin_token_none_is_needed(emu):
    assert emu.http.get("/__emulator/sms", headers={ADMIN_TOKEN_HEADER: "anything"}).status_code == 200


# -- the pytest plugin sends the token ---------------------------------------------------------------------

PLUGIN_TEST = textwrap.dedent("""
    import httpx

    def test_handle_sends_the_admin_token(prove_emulator):
        assert prove_emulator.admin_token == "{token}"
        assert httpx.get(prove_emulator.base_url + "/__emulator/sms").status_code == 401
        prove_emulator.reset()
        prove_emulator.freeze()
        assert prove_emulator.clock()["frozen"] is True
        assert prove_emulator.sms() == []
""")


def test_the_plugin_sends_the_admin_token_from_its_ini_option(pytester: pytest.Pytester):
    pytester.makeini(f"[pytest]\nprove_emulator_admin_token = ini-{ADMIN_TOKEN}\n")
    pytester.makepyfile(PLUGIN_TEST.replace("{token}", f"ini-{ADMIN_TOKEN}"))
    pytester.runpytest_inprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_without_the_ini_option_the_plugin_takes_the_environments_token(pytestconfig: pytest.Config,
                                                                        monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("PROVE_EMULATOR_ADMIN_TOKEN", raising=False)
    assert admin_token_of(pytestconfig) is None
    monkeypatch.setenv("PROVE_EMULATOR_ADMIN_TOKEN", ADMIN_TOKEN)
    assert admin_token_of(pytestconfig) == ADMIN_TOKEN


# -- the command line ----------------------------------------------------------------------------------


def test_the_command_line_options(serve_cli):
    base_url, _ = serve_cli("--port", "0", "--cors-api", "--allowed-hosts", "emulator, ci-runner",
                            "--admin-token", ADMIN_TOKEN)
    assert httpx.options(base_url + "/v3/verify", headers=PREFLIGHT).status_code == 200
    with_token = {ADMIN_TOKEN_HEADER: ADMIN_TOKEN}
    assert httpx.get(base_url + "/__emulator/clock", headers={**with_token, "Host": "ci-runner:7768"}).status_code == 200
    assert httpx.get(base_url + "/__emulator/clock", headers={**with_token, "Host": EVIL}).status_code == 421
    assert httpx.get(base_url + "/__emulator/clock").status_code == 401


def test_the_environment_variables(serve_cli):
    base_url, _ = serve_cli(env={"PROVE_EMULATOR_PORT": "0", "PROVE_EMULATOR_CORS_API": "true",
                                 "PROVE_EMULATOR_ADMIN_TOKEN": ADMIN_TOKEN, "PROVE_EMULATOR_ALLOWED_HOSTS": "emulator"})
    assert httpx.options(base_url + "/token", headers=PREFLIGHT).status_code == 200
    assert httpx.get(base_url + "/__emulator/clock", headers={ADMIN_TOKEN_HEADER: ADMIN_TOKEN,
                                                              "Host": "emulator"}).status_code == 200
    assert httpx.get(base_url + "/__emulator/clock").status_code == 401


def test_by_default_the_command_keeps_the_server_api_server_to_server(serve_cli):
    base_url, _ = serve_cli("--port", "0")
    assert httpx.options(base_url + "/v3/verify", headers=PREFLIGHT).status_code == 403
    assert httpx.get(base_url + "/__emulator/clock").status_code == 200  # no admin token unless set


@pytest.mark.parametrize("args, env, text", [
    (("--allowed-hosts", "http://emulator:7768"), {}, "must be a bare host name"),
    ((), {"PROVE_EMULATOR_ALLOWED_HOSTS": "emulator/x"}, "must be a bare host name"),
    (("--admin-token", "two words"), {}, "printable ASCII without spaces"),
    ((), {"PROVE_EMULATOR_CORS_API": "maybe"}, "PROVE_EMULATOR_CORS_API must be"),
])
def test_bad_access_options_are_one_line(args, env, text):
    assert_one_line_failure(run("--port", "0", *args, env=env), text)
