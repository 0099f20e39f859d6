"""A Python client for the emulator's control plane, and a little of Prove's API: pytest's
`prove_emulator` fixture hands out one, and a script or a test suite of your own can make one
against a running `prove-emulator`:

    from emulator.client import EmulatorClient

    with EmulatorClient() as emulator:  # PROVE_EMULATOR_URL, else http://127.0.0.1:7768
        emulator.complete(phone_number="2025550100")  # the customer completes that number's open flow
        print(emulator.latest_otp("2025550100"))

One method per control-plane operation (`GET /openapi.json`, tag "Control plane"), each returning the
reply's JSON as plain dicts and lists (the TypedDicts below describe the main shapes). Every reply
that is not 2xx raises `EmulatorError`, carrying the HTTP status and Prove's `code` and `message`.
Needs httpx only: no pytest, no server code.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from types import TracebackType
from typing import Any, Iterator, Literal, NotRequired, TypedDict
from urllib.parse import quote

import httpx

DEFAULT_URL = "http://127.0.0.1:7768"
DEFAULT_TIMEOUT = 30.0
# The default project's credentials (emulator/projects.py), repeated so the client needs no server code.
DEFAULT_CLIENT_ID = "sandbox-client-id"
DEFAULT_CLIENT_SECRET = "sandbox-client-secret"
ADMIN_TOKEN_HEADER = "X-Emulator-Token"  # emulator/access.py
CONTROL = "/__emulator"
EVENTS_HEARTBEAT_SECONDS = 15.0  # emulator/http/events.py: a quiet stream sends a comment this often

CustomerAction = Literal["start", "enter-code", "click", "expire", "error", "change-number", "resend", "complete"]
DeliveryStatus = Literal["scheduled", "sending", "delivered", "failed", "suppressed"]
EventType = Literal["PHONE_NUMBER_CHANGE", "DISCONNECT", "PORT", "LINE_TYPE_CHANGE", "MOVED_OUT_OF_COVERAGE"]


class EmulatorError(Exception):
    """A reply that is not 2xx: its HTTP status and Prove's envelope `{"code", "message"}`.

    A reply without that envelope (not JSON, or other JSON) has `code` None and its text as `message`.
    """

    def __init__(self, status: int, code: int | None, message: str) -> None:
        super().__init__(f"HTTP {status}" + (f", code {code}" if code is not None else "") + f": {message}")
        self.status = status
        self.code = code
        self.message = message

    @classmethod
    def of(cls, reply: httpx.Response) -> "EmulatorError":
        try:
            body = reply.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and isinstance(body.get("code"), int) and isinstance(body.get("message"), str):
            return cls(reply.status_code, body["code"], body["message"])
        return cls(reply.status_code, None, reply.text)


# -- reply shapes ----------------------------------------------------------------------------------


class Health(TypedDict):
    status: str
    version: str
    publicUrl: str
    now: str
    projects: int
    flows: int
    personas: int


class Clock(TypedDict):
    now: str  # RFC 3339, UTC, milliseconds
    frozen: bool
    pendingTimers: int


class Sms(TypedDict):
    id: int
    project: str
    correlationId: str
    phoneNumber: str
    kind: Literal["otp", "instant-link"]
    body: str
    otp: NotRequired[str]
    link: NotRequired[str]
    sentAt: str


class Possession(TypedDict):
    method: Literal["otp", "instant-link"]
    status: Literal["waiting", "sent", "succeeded", "failed"]
    allowOTPRetry: bool
    wrongEntries: int
    resends: int
    numberChanges: int
    reason: NotRequired[str]
    expiresAt: NotRequired[str]


class TimelineEvent(TypedDict, total=False):
    at: str
    event: str


class Flow(TypedDict):
    correlationId: str
    authId: str
    project: str
    product: str
    phoneNumber: str
    persona: str
    state: str
    createdAt: str
    expiresAt: str
    possession: NotRequired[Possession]
    timeline: NotRequired[list[TimelineEvent]]  # in flow() and customer replies, not in flows()


class CustomerResult(TypedDict):
    action: str
    correlationId: str
    reply: dict[str, Any]  # what the Web SDK got ({next, data, error}); a click: {outcome, redirect}
    flow: Flow


class Project(TypedDict):
    clientId: str
    name: NotRequired[str]
    products: list[str]
    unknownNumbers: Literal["reject", "default-persona"]
    scenarioSets: list[str]
    instantLinkStartReply: Literal["data", "empty"]
    webhook: NotRequired[dict[str, Any]]
    consentCountries: NotRequired[list[str]]
    rateLimit: NotRequired[float | None]
    maxLiveFlows: NotRequired[int | None]  # null: the emulator's --max-live-flows


class Fault(TypedDict):
    endpoint: str
    status: NotRequired[int]
    latencyMs: NotRequired[int]
    times: int
    used: int
    project: NotRequired[str]


class Webhook(TypedDict):
    url: str
    secret: str
    timeoutSeconds: float
    retrySchedule: list[float]


class ChangeEvent(TypedDict):
    event: str  # "ready", a topic ("sms", "flows", "webhooks", "clock"), or "shutdown"
    data: dict[str, Any]  # ready: {"versions": {topic: version}}; a topic: {"topic", "version"}


class Delivery(TypedDict):
    id: str
    project: str
    identityId: NotRequired[str]
    status: DeliveryStatus
    reason: NotRequired[str]
    test: bool
    url: NotRequired[str]
    createdAt: str
    nextAttemptAt: NotRequired[str]
    resentFrom: NotRequired[str]
    eventTypes: list[str]
    payload: list[dict[str, Any]]
    attempts: list[dict[str, Any]]


# -- the client ------------------------------------------------------------------------------------


class EmulatorClient:
    """A running emulator, seen from a test or a script: its URL, credentials and control plane.

    Every argument left out comes from the environment, else the emulator's defaults: `base_url`
    from PROVE_EMULATOR_URL (else http://127.0.0.1:7768), `client_id`/`client_secret` from
    PROVE_CLIENT_ID/PROVE_CLIENT_SECRET (else the default project's), `admin_token` from
    PROVE_EMULATOR_ADMIN_TOKEN (pass "" for none). The admin token goes on every call as
    X-Emulator-Token; `timeout` is in seconds (a long-poll's wait is added to it).

    `http` is the underlying `httpx.Client` (base URL and token set), for calls of your own.
    """

    def __init__(self, base_url: str | None = None, client_id: str | None = None,
                 client_secret: str | None = None, admin_token: str | None = None,
                 timeout: float = DEFAULT_TIMEOUT) -> None:
        self.base_url = (base_url or os.environ.get("PROVE_EMULATOR_URL") or DEFAULT_URL).rstrip("/")
        self.client_id = client_id or os.environ.get("PROVE_CLIENT_ID") or DEFAULT_CLIENT_ID
        self.client_secret = client_secret or os.environ.get("PROVE_CLIENT_SECRET") or DEFAULT_CLIENT_SECRET
        if admin_token is None:
            admin_token = os.environ.get("PROVE_EMULATOR_ADMIN_TOKEN")
        self.admin_token = admin_token or None
        self.timeout = timeout
        # Sent on every call: Prove's API ignores it, and the control plane needs it when one is set.
        headers = {ADMIN_TOKEN_HEADER: self.admin_token} if self.admin_token else {}
        self.http = httpx.Client(base_url=self.base_url, timeout=timeout, headers=headers)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.base_url!r}, client_id={self.client_id!r})"

    def __enter__(self) -> "EmulatorClient":
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP connections."""
        self.http.close()

    # -- plumbing ----------------------------------------------------------------------------------

    def _request(self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None,
                 wait: float | None = None) -> Any:
        """A control-plane call: its JSON reply, or EmulatorError."""
        query = {name: value for name, value in (params or {}).items() if value is not None}
        timeout = self.timeout + wait if wait else httpx.USE_CLIENT_DEFAULT
        reply = self.http.request(method, CONTROL + path, json=json, params=query, timeout=timeout)
        if not reply.is_success:
            raise EmulatorError.of(reply)
        return reply.json()

    # -- Prove's API ---------------------------------------------------------------------------------

    def access_token(self, client_id: str | None = None, client_secret: str | None = None) -> str:
        """A fresh OAuth access token (`POST /token`) for the client's project, or the one given."""
        reply = self.http.post("/token", data={
            "grant_type": "client_credentials",
            "client_id": client_id or self.client_id,
            "client_secret": client_secret or self.client_secret,
        })
        if not reply.is_success:
            raise EmulatorError.of(reply)
        return reply.json()["access_token"]

    def call(self, path: str, body: dict[str, Any], token: str | None = None) -> httpx.Response:
        """POST a JSON body to a Prove endpoint (e.g. "/v3/verify") with an access token (a fresh one if
        not given). The reply is returned whatever its status: Prove's API is what your code tests."""
        token = token or self.access_token()
        return self.http.post(path, json=body, headers={"Authorization": f"Bearer {token}"})

    # -- health, reset -------------------------------------------------------------------------------

    def health(self) -> Health:
        """Liveness, version, public URL and counts (needs no admin token)."""
        return self._request("GET", "/health")

    def reset(self, project: str | None = None) -> None:
        """Forget everything (also the clock and runtime projects), or one project's state only."""
        self._request("POST", "/reset", json={"project": project} if project is not None else {})

    def snapshot(self) -> dict[str, Any]:
        """The whole state as one versioned JSON document (it holds secrets); `load_snapshot` takes it back."""
        return self._request("GET", "/snapshot")

    def load_snapshot(self, document: dict[str, Any], mode: str = "replace") -> dict[str, Any]:
        """Replace the whole state with a snapshot, or (mode="merge") only the state of its projects.
        A bad snapshot raises EmulatorError and changes nothing."""
        return self._request("POST", "/snapshot", json=document, params={"mode": mode})

    # -- clock ---------------------------------------------------------------------------------------

    def clock(self, *, freeze: bool | None = None, set: datetime | str | None = None,
              advance: float | None = None) -> Clock:
        """Read the emulator clock; with any argument, move it first (see `set_clock`)."""
        if freeze is None and set is None and advance is None:
            return self._request("GET", "/clock")
        return self.set_clock(freeze=freeze, set=set, advance=advance)

    def set_clock(self, *, freeze: bool | None = None, set: datetime | str | None = None,
                  advance: float | None = None) -> Clock:
        """Move the clock, applied in this order: freeze (True) or unfreeze (False), set an instant (an
        aware datetime or RFC 3339 text), advance by seconds. All or nothing; everything that falls due
        fires before the reply."""
        body: dict[str, Any] = {}
        if freeze is not None:
            body["freeze"] = freeze
        if set is not None:
            body["set"] = _instant(set)
        if advance is not None:
            body["advance"] = advance
        return self._request("POST", "/clock", json=body)

    def freeze(self) -> Clock:
        """Stop the clock: it moves only when told to."""
        return self.set_clock(freeze=True)

    def unfreeze(self) -> Clock:
        """Let the clock follow real time again (from where it stands)."""
        return self.set_clock(freeze=False)

    def advance(self, seconds: float) -> Clock:
        """Move the clock forward, firing every timer that falls due, in order."""
        return self.set_clock(advance=seconds)

    def set_time(self, when: datetime | str) -> Clock:
        """Set the clock to an instant: an aware datetime, or RFC 3339 text with an offset."""
        return self.set_clock(set=when)

    # -- the fake phone: SMS outbox and Instant Links ------------------------------------------------

    def sms(self, phone_number: str | None = None, *, project: str | None = None,
            correlation_id: str | None = None, after: int = 0, wait: float = 0) -> list[Sms]:
        """The SMS outbox, oldest first, filtered; only messages with an id above `after`. With `wait`
        (seconds, at most 60), long-polls until a matching message exists (then an empty list)."""
        params = {"phoneNumber": phone_number, "project": project, "correlationId": correlation_id,
                  "after": after, "wait": wait or None}
        return self._request("GET", "/sms", params=params, wait=wait)["messages"]

    def latest_sms(self, phone_number: str | None = None, *, project: str | None = None,
                   correlation_id: str | None = None, after: int = 0, wait: float = 5) -> Sms:
        """The newest matching SMS, waiting up to `wait` seconds for one; LookupError if none came."""
        messages = self.sms(phone_number, project=project, correlation_id=correlation_id, after=after, wait=wait)
        if not messages:
            raise LookupError(f"no SMS for {phone_number or 'any number'} within {wait} s")
        return messages[-1]

    def latest_otp(self, phone_number: str | None = None, *, project: str | None = None,
                   correlation_id: str | None = None, after: int = 0, wait: float = 5) -> str:
        """The code in the newest matching SMS (see `latest_sms`); LookupError if it carries a link."""
        return _part(self.latest_sms(phone_number, project=project, correlation_id=correlation_id,
                                     after=after, wait=wait), "otp")

    def latest_link(self, phone_number: str | None = None, *, project: str | None = None,
                    correlation_id: str | None = None, after: int = 0, wait: float = 5) -> str:
        """The Instant Link in the newest matching SMS (see `latest_sms`); LookupError if it carries a code."""
        return _part(self.latest_sms(phone_number, project=project, correlation_id=correlation_id,
                                     after=after, wait=wait), "link")

    def click(self, link: str) -> httpx.Response:
        """Open an Instant Link as the customer's phone would; redirects are not followed. The reply is
        returned whatever its status (302 to finalTargetUrl, or a page: 200, 404, 410)."""
        return self.http.get(link, follow_redirects=False)

    # -- flows and the customer ----------------------------------------------------------------------

    def flows(self, project: str | None = None) -> list[Flow]:
        """Live flows (expired ones are swept), optionally one project's."""
        return self._request("GET", "/flows", params={"project": project})["flows"]

    def flow(self, correlation_id: str) -> Flow:
        """One flow, with its possession check and its timeline."""
        return self._request("GET", f"/flows/{_segment(correlation_id)}")

    def customer(self, correlation_id: str | None, action: CustomerAction, *, phone_number: str | None = None,
                 code: str | None = None, new_number: str | None = None, is_mobile: bool | None = None,
                 message: str | None = None, error_code: int | None = None,
                 project: str | None = None) -> CustomerResult:
        """The customer acts on a flow as the Web SDK and the phone would: by `correlation_id`, or (pass
        None) on `phone_number`'s newest flow still waiting for its customer.

        `code`: enter-code's code (default: the right one). `new_number`: the number the customer types
        (change-number: required; start: when the flow has none). `is_mobile`: the SDK's isMobile for an
        Instant Link (start, complete, change-number, resend). `message`, `error_code`: what error
        reports. `project`: the flow must be this project's (else 404).
        """
        if (correlation_id is None) == (phone_number is None):
            raise TypeError("give the flow's correlation_id or a phone_number, not both")
        fields = {"action": action, "code": code, "phoneNumber": new_number, "isMobile": is_mobile,
                  "message": message, "errorCode": error_code, "project": project}
        body = {name: value for name, value in fields.items() if value is not None}
        if correlation_id is not None:
            return self._request("POST", f"/flows/{_segment(correlation_id)}/customer", json=body)
        return self._request("POST", f"/phones/{_segment(phone_number or '')}/customer", json=body)

    def customer_by_phone(self, phone_number: str, action: CustomerAction, **fields: Any) -> CustomerResult:
        """`customer()` on the number's newest flow still waiting for its customer."""
        return self.customer(None, action, phone_number=phone_number, **fields)

    def start(self, correlation_id: str | None = None, *, phone_number: str | None = None,
              new_number: str | None = None, is_mobile: bool | None = None,
              project: str | None = None) -> CustomerResult:
        """The SDK's first step: the SMS (code or Instant Link) is sent."""
        return self.customer(correlation_id, "start", phone_number=phone_number, new_number=new_number,
                             is_mobile=is_mobile, project=project)

    def enter_code(self, correlation_id: str | None = None, code: str | None = None, *,
                   phone_number: str | None = None, project: str | None = None) -> CustomerResult:
        """The customer types a code: the right one unless `code` is given (after `start`)."""
        return self.customer(correlation_id, "enter-code", phone_number=phone_number, code=code, project=project)

    def click_link(self, correlation_id: str | None = None, *, phone_number: str | None = None,
                   project: str | None = None) -> CustomerResult:
        """The customer taps the Instant Link that was sent (after `start`)."""
        return self.customer(correlation_id, "click", phone_number=phone_number, project=project)

    def expire(self, correlation_id: str | None = None, *, phone_number: str | None = None,
               project: str | None = None) -> CustomerResult:
        """The code or link that was sent lapses now."""
        return self.customer(correlation_id, "expire", phone_number=phone_number, project=project)

    def report_error(self, correlation_id: str | None = None, *, phone_number: str | None = None,
                     message: str | None = None, error_code: int | None = None,
                     project: str | None = None) -> CustomerResult:
        """The SDK reports a failure (default: the customer cancelled)."""
        return self.customer(correlation_id, "error", phone_number=phone_number, message=message,
                             error_code=error_code, project=project)

    def change_number(self, correlation_id: str | None = None, *, new_number: str,
                      phone_number: str | None = None, is_mobile: bool | None = None,
                      project: str | None = None) -> CustomerResult:
        """The customer gives another number; the SMS goes there."""
        return self.customer(correlation_id, "change-number", phone_number=phone_number, new_number=new_number,
                             is_mobile=is_mobile, project=project)

    def resend(self, correlation_id: str | None = None, *, phone_number: str | None = None,
               is_mobile: bool | None = None, project: str | None = None) -> CustomerResult:
        """The customer asks for a new SMS."""
        return self.customer(correlation_id, "resend", phone_number=phone_number, is_mobile=is_mobile,
                             project=project)

    def complete(self, correlation_id: str | None = None, *, phone_number: str | None = None,
                 is_mobile: bool | None = None, project: str | None = None) -> CustomerResult:
        """The happy path in one call: start if nothing was sent yet, then the right code or the tap."""
        return self.customer(correlation_id, "complete", phone_number=phone_number, is_mobile=is_mobile,
                             project=project)

    # -- journal, scenarios, projects ----------------------------------------------------------------

    def requests(self, *, project: str | None = None, path: str | None = None,
                 limit: int | None = None) -> list[dict[str, Any]]:
        """The request journal, oldest first (`limit`: the newest 1 to 500; default 100)."""
        return self._request("GET", "/requests", params={"project": project, "path": path, "limit": limit})["requests"]

    def scenarios(self) -> dict[str, Any]:
        """The loaded scenario files and their personas: `{"files": [...], "personas": [...]}`."""
        return self._request("GET", "/scenarios")

    def reload_scenarios(self) -> dict[str, Any]:
        """Re-read the scenario directories: `{"files": [...], "personas": <count>}`. On any problem
        nothing changes, and EmulatorError (400/8001) lists them."""
        return self._request("POST", "/scenarios/reload")

    def scenario_schema(self) -> dict[str, Any]:
        """The JSON Schema of scenario files."""
        return self._request("GET", "/scenarios/schema")

    def projects(self) -> list[Project]:
        """Every project (without credentials)."""
        return self._request("GET", "/projects")["projects"]

    def project(self, client_id: str) -> Project:
        """One project."""
        return self._request("GET", f"/projects/{_segment(client_id)}")

    def put_project(self, client_id: str, **settings: Any) -> Project:
        """Create or replace a project, with the projects file's keys (camelCase; `clientSecret` required),
        e.g. `put_project("team-a", clientSecret="s", product="verified-users")`. Reset restores the
        start-up set."""
        return self._request("PUT", f"/projects/{_segment(client_id)}", json=settings)

    # -- faults --------------------------------------------------------------------------------------

    def faults(self) -> list[Fault]:
        """Injected faults still to fire."""
        return self._request("GET", "/faults")["faults"]

    def add_fault(self, endpoint: str, *, status: int | None = None, latency_ms: int | None = None,
                  times: int | None = None, project: str | None = None) -> Fault:
        """Inject an HTTP status (400-599) and/or latency on an endpoint (a path template such as
        "/v3/verify") for its next `times` calls (default 1), optionally one project's."""
        fields = {"endpoint": endpoint, "status": status, "latencyMs": latency_ms, "times": times,
                  "project": project}
        return self._request("POST", "/faults", json={name: value for name, value in fields.items()
                                                       if value is not None})

    def clear_faults(self) -> None:
        """Remove every injected fault."""
        self._request("DELETE", "/faults")

    # -- webhooks ------------------------------------------------------------------------------------

    def webhook(self, project: str) -> Webhook:
        """A project's webhook settings (404 if it has none)."""
        return self._request("GET", f"/projects/{_segment(project)}/webhook")

    def put_webhook(self, project: str, url: str, *, secret: str | None = None,
                    timeout_seconds: float | None = None, retry_schedule: list[float] | None = None) -> Webhook:
        """Configure a project's webhook (a whsec_ secret is generated when none is given; changing a
        webhook keeps its secret). Identities enrolled from then on get events."""
        fields = {"url": url, "secret": secret, "timeoutSeconds": timeout_seconds, "retrySchedule": retry_schedule}
        return self._request("PUT", f"/projects/{_segment(project)}/webhook",
                             json={name: value for name, value in fields.items() if value is not None})

    def delete_webhook(self, project: str) -> None:
        """Remove a project's webhook."""
        self._request("DELETE", f"/projects/{_segment(project)}/webhook")

    def test_webhook(self, project: str) -> Delivery:
        """Send a sample payload (one event of each type), like the Portal's "Save and Test Webhook";
        answers once the first attempt has finished."""
        return self._request("POST", f"/projects/{_segment(project)}/webhook/test")

    def trigger_event(self, identity_id: str, event_type: EventType, details: dict[str, Any] | None = None) -> Delivery:
        """Trigger a change event for an enrolled identity; the delivery says whether it was sent or why
        it was suppressed."""
        body: dict[str, Any] = {"eventType": event_type}
        if details is not None:
            body["details"] = details
        return self._request("POST", f"/identities/{_segment(identity_id)}/events", json=body)

    def deliveries(self, *, project: str | None = None, identity_id: str | None = None,
                   status: DeliveryStatus | None = None, wait: float | None = None) -> list[Delivery]:
        """Webhook deliveries, oldest first, with every attempt. With `wait` (real seconds, at most 60),
        first waits until no attempt is in flight."""
        params = {"project": project, "identityId": identity_id, "status": status, "wait": wait}
        return self._request("GET", "/webhooks/deliveries", params=params, wait=wait)["deliveries"]

    def resend_delivery(self, delivery_id: str) -> Delivery:
        """Send a delivery's payload again as a new delivery (its `resentFrom` names the original), to the
        project's webhook as it is now."""
        return self._request("POST", f"/webhooks/deliveries/{_segment(delivery_id)}/resend")

    # -- the change stream ---------------------------------------------------------------------------

    def events(self) -> Iterator[ChangeEvent]:
        """The Server-Sent Events stream of what changed: first a `ready` event with every topic's version,
        then one event per topic that moved, and `shutdown` when the emulator stops (the stream then ends).
        The stream stays open while you iterate; leave the loop (or `close()` the iterator) to end it.

            events = emulator.events()
            next(events)  # ready
            ...  # something sends an SMS
            assert next(events)["event"] == "sms"
        """
        # A quiet stream sends a heartbeat comment every 15 s: reads may wait that long.
        timeout = httpx.Timeout(self.timeout, read=max(self.timeout, 2 * EVENTS_HEARTBEAT_SECONDS))
        with self.http.stream("GET", CONTROL + "/events", timeout=timeout) as reply:
            if not reply.is_success:
                reply.read()
                raise EmulatorError.of(reply)
            name, data = "message", []
            for line in reply.iter_lines():
                if line:
                    field, _, value = line.partition(":")
                    if field == "event":
                        name = value.removeprefix(" ")
                    elif field == "data":
                        data.append(value.removeprefix(" "))
                    continue  # comments (":") and retry
                if data:  # a blank line ends an event
                    yield {"event": name, "data": json.loads("\n".join(data))}
                name, data = "message", []


def _instant(when: datetime | str) -> str:
    if isinstance(when, str):
        return when
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"{when!r} has no time zone: the emulator clock needs an aware datetime")
    return when.isoformat()


def _part(message: Sms, key: Literal["otp", "link"]) -> str:
    value = message.get(key)
    if value is None:
        raise LookupError(f"the newest SMS to {message['phoneNumber']} is {message['kind']}, with no {key}")
    return value


def _segment(value: str) -> str:
    """A value as one path segment (a '/' or '?' in an id cannot reach another route)."""
    return quote(value, safe="")
