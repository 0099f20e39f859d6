"""Two ways to drive the emulator in property tests: straight into the service, or through HTTP.

Both expose the same small surface (verify, verify-status, a device-channel call, an Instant Link
click, the SMS outbox, the clock), so one state machine can run against either. `ServiceDriver`
calls the `Emulator` object as the route handlers do, which makes it fast enough for long runs;
`HttpDriver` goes through the ASGI app and checks every reply against /openapi.json.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass
from typing import Any, Callable

import httpx
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():  # starlette's notice about httpx2 is not ours to act on
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

from emulator.clock import rfc3339
from emulator.errors import ProveError
from emulator.flows.possession import Method, refused
from emulator.flows.verified_users import VERIFY_REQUEST, VERIFY_STATUS_REQUEST
from emulator.http.api import flow_of_auth_token
from emulator.http.app import create_app
from emulator.projects import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, project_from_json
from emulator.rules import validate
from emulator.scenarios.loader import default_pack_dir, load_catalogue
from emulator.service import Emulator
from emulator.tokens import AuthTokenError
from tests.spec_check import SpecChecker

# A whole second, so that every deadline the model computes is exactly the emulator's.
T0 = 1_900_000_000
OTHER_PROJECT = "team-b"
OTHER_SECRET = "secret-b"
# The second project answers a desktop Instant Link start with {} (apps with a retry step).
OTHER_PROJECT_JSON = {"clientId": OTHER_PROJECT, "clientSecret": OTHER_SECRET, "instantLinkStartReply": "empty"}
SECRETS = {DEFAULT_CLIENT_ID: DEFAULT_CLIENT_SECRET, OTHER_PROJECT: OTHER_SECRET}
ACCESS_TOKEN_REFRESH = 3000  # seconds on the emulator clock; tokens live 3600


@functools.cache
def catalogue() -> Any:
    """The default scenario pack, loaded once: every emulator in a run shares it (it is read-only)."""
    return load_catalogue([default_pack_dir()])


def new_test_client(emulator: Emulator, commit: Callable[[], None] | None = None) -> TestClient:
    # A loopback Host: the control plane refuses TestClient's default "testserver" (DNS rebinding guard).
    return TestClient(create_app(emulator, commit=commit), base_url="http://127.0.0.1")


@functools.cache
def spec_checker() -> SpecChecker:
    return SpecChecker(new_test_client(Emulator(catalogue=catalogue())).get("/openapi.json").json())


@dataclass(frozen=True)
class Reply:
    status: int
    body: dict[str, Any]


class ServiceDriver:
    """Calls the service the way the route handlers do, without HTTP (moto's "backend" level)."""

    def __init__(self) -> None:
        self.emulator = Emulator(catalogue=catalogue())
        self.emulator.clock.freeze()
        self.emulator.clock.set(T0)
        self.emulator.projects.put(project_from_json(OTHER_PROJECT_JSON, "test"))

    def verify(self, project_id: str, body: dict[str, Any]) -> Reply:
        project = self.emulator.projects.get(project_id)
        assert project is not None
        try:
            return Reply(200, self.emulator.verified_users.verify(project, validate(VERIFY_REQUEST, body)))
        except ProveError as error:
            return Reply(error.status, error.body())

    def verify_status(self, project_id: str, correlation_id: str) -> Reply:
        project = self.emulator.projects.get(project_id)
        assert project is not None
        body = validate(VERIFY_STATUS_REQUEST, {"correlationId": correlation_id})
        try:
            return Reply(200, self.emulator.verified_users.verify_status(project, body))
        except ProveError as error:
            return Reply(error.status, error.body())

    def device(self, step: str, auth_token: str | None, body: dict[str, Any]) -> Reply:
        """POST /v1/client/<step>, e.g. step "mobile/otp/start"."""
        try:
            flow = flow_of_auth_token(self.emulator, auth_token)
        except AuthTokenError as error:
            return Reply(200, refused(f"authToken refused: {error}").as_json())
        possession = self.emulator.possession
        if step == "mobile/otp/start":
            reply = possession.otp_start(flow, body)
        elif step == "mobile/otp/finish":
            reply = possession.otp_finish(flow, body)
        elif step == "mobile/otp/error":
            reply = possession.client_error(flow, body, Method.OTP)
        elif step == "mobile/instantlink/start":
            project = self.emulator.projects.get(flow.project_id)
            assert project is not None
            reply = possession.instant_link_start(flow, body, project.instant_link_start_reply)
        elif step == "mobile/instantlink/error":
            reply = possession.client_error(flow, body, Method.INSTANT_LINK)
        else:
            raise AssertionError(f"no device step {step}")
        return Reply(200, reply.as_json())

    def click(self, link: str) -> tuple[bool, str]:
        """Open an Instant Link: (whether it decided possession, the redirect or "")."""
        outcome, _, landing = self.emulator.possession.click(link.rsplit("/", 1)[-1])
        return outcome in ("succeeded", "failed"), landing

    def sms(self, correlation_id: str) -> list[dict[str, Any]]:
        return [sms.as_json() for sms in self.emulator.outbox.messages(correlation_id=correlation_id)]

    def advance(self, seconds: int) -> None:
        self.emulator.clock.advance(seconds)


class HttpDriver:
    """The same calls through the ASGI app; every reply must match /openapi.json and be below 500."""

    def __init__(self) -> None:
        self.emulator = Emulator(catalogue=catalogue())
        self.client = new_test_client(self.emulator)
        self.checker = spec_checker()
        self._tokens: dict[str, tuple[str, float]] = {}
        self._send("POST", "/__emulator/clock", json={"freeze": True, "set": rfc3339(T0)})
        self._send("PUT", f"/__emulator/projects/{OTHER_PROJECT}", json=OTHER_PROJECT_JSON)

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = self.client.request(method, path, follow_redirects=False, **kwargs)
        assert response.status_code < 500, f"{method} {path} -> {response.status_code}: {response.text}"
        self.checker.check(response)
        return response

    def _access_token(self, project_id: str) -> str:
        now = self.emulator.clock.now()
        token, issued = self._tokens.get(project_id, ("", -ACCESS_TOKEN_REFRESH))
        if now - issued >= ACCESS_TOKEN_REFRESH:
            form = {"grant_type": "client_credentials", "client_id": project_id, "client_secret": SECRETS[project_id]}
            response = self._send("POST", "/token", data=form)
            assert response.status_code == 200, response.text
            token = response.json()["access_token"]
            self._tokens[project_id] = (token, now)
        return token

    def _prove(self, project_id: str, path: str, body: dict[str, Any]) -> Reply:
        headers = {"Authorization": f"Bearer {self._access_token(project_id)}"}
        response = self._send("POST", path, json=body, headers=headers)
        return Reply(response.status_code, response.json())

    def verify(self, project_id: str, body: dict[str, Any]) -> Reply:
        return self._prove(project_id, "/v3/verify", body)

    def verify_status(self, project_id: str, correlation_id: str) -> Reply:
        return self._prove(project_id, "/v3/verify-status", {"correlationId": correlation_id})

    def device(self, step: str, auth_token: str | None, body: dict[str, Any]) -> Reply:
        headers = {"Authorization": f"Bearer {auth_token}"} if auth_token else {}
        response = self._send("POST", f"/v1/client/{step}", json=body, headers=headers)
        return Reply(response.status_code, response.json())

    def click(self, link: str) -> tuple[bool, str]:
        response = self._send("GET", httpx.URL(link).path)
        assert response.status_code in (200, 302, 404, 410), response.status_code
        return response.status_code in (200, 302), response.headers.get("location", "")

    def sms(self, correlation_id: str) -> list[dict[str, Any]]:
        response = self._send("GET", "/__emulator/sms", params={"correlationId": correlation_id})
        assert response.status_code == 200, response.text
        return response.json()["messages"]

    def advance(self, seconds: int) -> None:
        response = self._send("POST", "/__emulator/clock", json={"advance": seconds})
        assert response.status_code == 200, response.text
