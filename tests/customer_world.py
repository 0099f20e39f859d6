"""An in-process emulator for the customer-action tests: one flow-starting helper per product and
method, the two customer routes, the Web SDK's device channel, and every reply checked against
/openapi.json.

The app runs inside `with TestClient(...)` so HTTP calls and status WebSockets share one event loop
(a customer action publishes to a socket that the same loop serves). The clock is frozen at T0.
"""

from __future__ import annotations

import json
import threading
import warnings
from contextlib import AbstractContextManager
from typing import Any, Callable

import httpx

from emulator.clock import rfc3339
from emulator.projects import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from emulator.service import Emulator
from tests.flow_drivers import T0, catalogue, new_test_client, spec_checker

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import WebSocketTestSession

OTHER_PROJECT = "team-b"
OTHER_SECRET = "secret-b"
TARGET = "https://app.example.com/done"
HAPPY = "2025550100"  # client-driven happy path: 1234, or a click
REJECTED = "2025550106"  # possession fails even with the right code or a click
UNDELIVERABLE = "2025550107"
HARD = "2025550108"  # hard terminal replies
RANDOM_OTP = "2025550109"
SHORT_TERM = "2001004011"  # Sheilakathryn Butrimovich: possession settles by itself
SECOND = "5551234567"  # another client-driven number (the default persona)

# Every product with a possession check, by method: (product, possessionType or flowType).
KINDS = ["verify-otp", "verify-link", "prefill-otp", "prefill-link", "unify-otp", "unify-link"]
ACTIONS = ["start", "enter-code", "click", "expire", "error", "change-number", "resend", "complete"]


def method_of(kind: str) -> str:
    return "otp" if kind.endswith("otp") else "instant-link"


def refused(response: httpx.Response, status: int, code: int) -> str:
    """A Prove error envelope with exactly this status and code; returns its message."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"code", "message"} and body["code"] == code and body["message"], body
    return body["message"]


def names(detail: dict[str, Any], *, actions: bool = False) -> list[str]:
    """The flow's timeline as event names (customer-action entries left out unless asked for)."""
    return [event["event"] for event in detail["timeline"] if actions or event["event"] != "customer-action"]


def body_for(action: str, **fields: Any) -> dict[str, Any]:
    body = {"action": action, **fields}
    if action == "change-number":
        body.setdefault("phoneNumber", SECOND)
    return body


class World:
    def __init__(self, emulator: Emulator | None = None, commit: Callable[[], None] | None = None) -> None:
        self.emulator = emulator or Emulator(catalogue=catalogue())
        self._client_context = new_test_client(self.emulator, commit)
        self.client = self._client_context.__enter__()
        self.checker = spec_checker()
        self._tokens: dict[str, str] = {}
        self.send("POST", "/__emulator/clock", json={"freeze": True, "set": rfc3339(T0)})

    def close(self) -> None:
        self._client_context.__exit__(None, None, None)

    # -- plumbing --------------------------------------------------------------------------------

    def send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = self.client.request(method, path, follow_redirects=False, **kwargs)
        assert response.status_code < 500, f"{method} {path} -> {response.status_code}: {response.text}"
        self.checker.check(response)
        return response

    def ok(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = self.send(method, path, **kwargs)
        assert response.status_code == 200, response.text
        return response.json()

    def token(self, project: str = DEFAULT_CLIENT_ID) -> str:
        if project not in self._tokens:
            secret = DEFAULT_CLIENT_SECRET if project == DEFAULT_CLIENT_ID else OTHER_SECRET
            self._tokens[project] = self.ok("POST", "/token", data={
                "grant_type": "client_credentials", "client_id": project, "client_secret": secret})["access_token"]
        return self._tokens[project]

    def prove(self, path: str, body: dict[str, Any], project: str = DEFAULT_CLIENT_ID) -> httpx.Response:
        return self.send("POST", path, json=body, headers={"Authorization": f"Bearer {self.token(project)}"})

    def other_project(self, **settings: Any) -> None:
        self.ok("PUT", f"/__emulator/projects/{OTHER_PROJECT}", json={"clientSecret": OTHER_SECRET, **settings})

    # -- starting flows --------------------------------------------------------------------------

    def begin(self, kind: str, phone: str | None = HAPPY, project: str = DEFAULT_CLIENT_ID,
              **fields: Any) -> dict[str, Any]:
        """Start a flow of `kind` (see KINDS); the starting call's reply (correlationId, authToken)."""
        product, method = kind.split("-")
        desktop = method == "link"
        body: dict[str, Any] = {}
        if phone is not None:
            body["phoneNumber"] = phone
        if desktop:
            body["finalTargetUrl"] = TARGET
        if product == "verify":
            body.update(firstName="Casey", lastName="Client", possessionType="desktop" if desktop else "mobile")
            path = "/v3/verify"
        elif product == "prefill":
            body["flowType"] = "desktop" if desktop else "mobile"
            path = "/v3/start"
        else:
            body["possessionType"] = "desktop" if desktop else "mobile"
            path = "/v3/unify"
        body.update(fields)
        response = self.prove(path, body, project)
        assert response.status_code == 200, response.text
        reply = response.json()
        assert reply["authToken"], reply
        return reply

    def verify(self, phone: str = HAPPY, possession: str = "mobile", project: str = DEFAULT_CLIENT_ID,
               **fields: Any) -> dict[str, Any]:
        body = {"firstName": "Casey", "lastName": "Client", "phoneNumber": phone, "possessionType": possession}
        if possession == "desktop":
            body["finalTargetUrl"] = TARGET
        body.update(fields)
        response = self.prove("/v3/verify", body, project)
        assert response.status_code == 200, response.text
        return response.json()

    def result(self, kind: str, correlation_id: str, project: str = DEFAULT_CLIENT_ID) -> str:
        """The product's own verdict: "true", "false" or "pending" (Pre-Fill's validate ends its flow)."""
        product = kind.split("-")[0]
        if product == "verify":
            return self.status(correlation_id, project)["success"]
        if product == "prefill":
            reply = self.prove("/v3/validate", {"correlationId": correlation_id}, project)
            assert reply.status_code == 200, reply.text
            return "true" if reply.json()["success"] else "false"
        reply = self.prove("/v3/unify-status", {"correlationId": correlation_id}, project)
        assert reply.status_code == 200, reply.text
        return reply.json()["success"]

    def status(self, correlation_id: str, project: str = DEFAULT_CLIENT_ID) -> dict[str, Any]:
        response = self.prove("/v3/verify-status", {"correlationId": correlation_id}, project)
        assert response.status_code == 200, response.text
        return response.json()

    # -- the customer ----------------------------------------------------------------------------

    def act(self, correlation_id: str, action: str, **fields: Any) -> httpx.Response:
        return self.send("POST", f"/__emulator/flows/{correlation_id}/customer", json=body_for(action, **fields))

    def act_on_phone(self, phone: str, action: str, **fields: Any) -> httpx.Response:
        return self.send("POST", f"/__emulator/phones/{phone}/customer", json=body_for(action, **fields))

    def acted(self, correlation_id: str, action: str, **fields: Any) -> dict[str, Any]:
        """A customer action that must be accepted; checks the reply's frame and returns it whole."""
        response = self.act(correlation_id, action, **fields)
        assert response.status_code == 200, response.text
        reply = response.json()
        assert set(reply) == {"action", "correlationId", "reply", "flow"}, reply
        assert reply["action"] == action and reply["correlationId"] == correlation_id
        now = self.flow(correlation_id)  # the flow as it is now (a status socket may have added "status-sent")
        assert {**reply["flow"], "timeline": None} == {**now, "timeline": None}
        assert reply["flow"]["timeline"] == now["timeline"][:len(reply["flow"]["timeline"])]
        assert all(event["event"] == "status-sent" for event in now["timeline"][len(reply["flow"]["timeline"]):])
        return reply

    # -- the SDK and the phone -------------------------------------------------------------------

    def device(self, auth_token: str, step: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.ok("POST", f"/v1/client/{step}", json=body or {}, headers={"Authorization": f"Bearer {auth_token}"})

    def socket(self, auth_token: str) -> AbstractContextManager[WebSocketTestSession]:
        return self.client.websocket_connect(f"/v1/client/status?token={auth_token}")

    @staticmethod
    def receive(socket: WebSocketTestSession, seconds: float = 5) -> dict[str, Any]:
        """The socket's next ASGI message, failing (not hanging) when none comes within `seconds`."""
        got: dict[str, Any] = {}
        worker = threading.Thread(target=lambda: got.update(message=socket.receive()), daemon=True)
        worker.start()
        worker.join(seconds)
        assert "message" in got, f"the status socket received nothing within {seconds} s"
        return got["message"]

    @classmethod
    def receive_json(cls, socket: WebSocketTestSession) -> Any:
        message = cls.receive(socket)
        assert message["type"] == "websocket.send" and "text" in message, message
        return json.loads(message["text"])

    def click(self, link: str) -> httpx.Response:
        return self.send("GET", httpx.URL(link).path)

    # -- reading ---------------------------------------------------------------------------------

    def flow(self, correlation_id: str) -> dict[str, Any]:
        return self.ok("GET", f"/__emulator/flows/{correlation_id}")

    def sms(self, correlation_id: str | None = None, phone: str | None = None) -> list[dict[str, Any]]:
        params = {key: value for key, value in (("correlationId", correlation_id), ("phoneNumber", phone)) if value}
        return self.ok("GET", "/__emulator/sms", params=params)["messages"]

    def advance(self, seconds: int) -> None:
        self.ok("POST", "/__emulator/clock", json={"advance": seconds})
