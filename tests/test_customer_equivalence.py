"""Customer actions are the Web SDK's moves: twin flows, one driven through the device channel as the
SDK drives it (otp/start, otp/finish, otp/error, instantlink/start, the link's GET, the clock running
out), the other through POST /__emulator/flows/{id}/customer, end the same.

Each twin lives in its own emulator (same clock, same scenarios). After every step the SDK's reply
must equal the action's `reply`; at the end the timelines (event by event with their details, leaving
out the customer-action entries, the status socket's own entries and the instants), the possession
state, the product's verdict (verify-status, validate, unify-status), the SMS outbox and what the
desktop status socket was told must all match.
"""

from __future__ import annotations

from typing import Any, Iterator

import httpx
import pytest

from emulator.clock import parse_rfc3339

from tests.customer_world import HAPPY, HARD, KINDS, REJECTED, SECOND, UNDELIVERABLE, World, method_of

IGNORED_EVENTS = {"customer-action", "status-socket-connected", "status-sent"}
IGNORED_DETAILS = {"at", "smsId"}
# Values that differ between any two flows whatever drove them.
OWN_IDS = {"identityId", "proveId", "deviceId"}

# Scripts: steps of (move, argument). "complete" is the customer's one call; the SDK's twin makes the
# same moves one by one (start, then the right code or the click).
OTP_SCRIPTS: dict[str, tuple[dict[str, Any], list[tuple[str, Any]]]] = {
    "right code": ({}, [("start", None), ("code", None)]),
    "complete": ({}, [("complete", None)]),
    "wrong code": ({}, [("start", None), ("code", "0000")]),
    "wrong codes then right": ({"allowOTPRetry": True}, [("start", None), ("code", "0000"), ("code", "9999"),
                                                         ("code", None)]),
    "too many wrong codes": ({"allowOTPRetry": True}, [("start", None), *[("code", "0000")] * 4]),
    "resends to the limit": ({}, [("start", None), *[("resend", None)] * 4]),
    "resend then right code": ({}, [("start", None), ("resend", None), ("code", None)]),
    "number change": ({}, [("start", None), ("change", SECOND), ("code", None)]),
    "number change to a rejecting persona": ({}, [("start", None), ("change", REJECTED), ("code", None)]),
    "bad new number": ({}, [("start", None), ("change", "12345"), ("code", None)]),
    "number changes to the limit": ({}, [("start", None), ("change", "5550000001"), ("change", "5550000002"),
                                         ("change", "5550000003"), ("change", "5550000004")]),
    "error report": ({}, [("start", None), ("error", "user cancelled otp")]),
    "error report before the start": ({}, [("error", "user cancelled")]),
    "expiry": ({}, [("start", None), ("expire", None)]),
    "resend, then expiry": ({}, [("start", None), ("resend", None), ("expire", None)]),
    "rejected": ({"phone": REJECTED}, [("complete", None)]),
    "hard persona, wrong code": ({"phone": HARD}, [("start", None), ("code", "0000")]),
    "undeliverable": ({"phone": UNDELIVERABLE}, [("complete", None)]),
}
LINK_SCRIPTS: dict[str, tuple[dict[str, Any], list[tuple[str, Any]]]] = {
    "click": ({}, [("start", None), ("click", None)]),
    "complete": ({}, [("complete", None)]),
    "same device": ({"isMobile": True}, [("start", None), ("click", None)]),
    "same device, complete": ({"isMobile": True}, [("complete", None)]),
    "same device, rejected": ({"isMobile": True, "phone": REJECTED}, [("complete", None)]),
    "resend then click": ({}, [("start", None), ("resend", None), ("click", None)]),
    "same device resend": ({"isMobile": True}, [("start", None), ("resend", None), ("click", None)]),
    "resends to the limit": ({}, [("start", None), *[("resend", None)] * 4]),
    "number change": ({}, [("start", None), ("change", SECOND), ("click", None)]),
    "error report": ({}, [("start", None), ("error", "Failed to receive secondary authentication")]),
    "expiry": ({}, [("start", None), ("expire", None)]),
    "rejected": ({"phone": REJECTED}, [("start", None), ("click", None)]),
    "hard persona error": ({"phone": HARD}, [("start", None), ("error", "closed")]),
}


class Twin:
    """One flow and the emulator it lives in; `sdk` says which side drives it."""

    def __init__(self, kind: str, sdk: bool, fields: dict[str, Any]) -> None:
        self.world = World()
        self.kind = kind
        self.sdk = sdk
        self.is_mobile = fields.get("isMobile", False)
        flow_fields = {key: value for key, value in fields.items() if key not in ("phone", "isMobile")}
        self.flow = self.world.begin(kind, fields.get("phone", HAPPY), **flow_fields)
        self.correlation_id = self.flow["correlationId"]
        self.auth_id = self.world.flow(self.correlation_id)["authId"]
        self.otp = method_of(kind) == "otp"
        self.socket: Any = None
        self._socket_context: Any = None
        if not self.otp and not self.is_mobile:  # a desktop waits on its status socket
            self._socket_context = self.world.socket(self.flow["authToken"])
            self.socket = self._socket_context.__enter__()

    def close(self) -> None:
        if self._socket_context is not None:
            self._socket_context.__exit__(None, None, None)
        self.world.close()

    # -- the moves -------------------------------------------------------------------------------

    def move(self, move: str, argument: Any) -> Any:
        """Make one move; what the SDK (or the phone's browser) got back, in a comparable form."""
        return self._sdk(move, argument) if self.sdk else self._customer(move, argument)

    def _sdk_call(self, step: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.world.device(self.flow["authToken"], step, body)

    def _link_body(self, **extra: Any) -> dict[str, Any]:
        return {"sourceIp": None, "isMobile": self.is_mobile, **extra}

    def _sdk(self, move: str, argument: Any) -> Any:
        if move == "complete":  # the app's steps: start; then, if the SMS went out, the code or the click
            started = self._sdk("start", None)
            if self.world.flow(self.correlation_id)["possession"]["status"] != "sent":
                return started
            return self._sdk("code" if self.otp else "click", None)
        if move == "start":
            return self._sdk_call("mobile/otp/start", {}) if self.otp else \
                self._sdk_call("mobile/instantlink/start", self._link_body())
        if move == "resend":
            return self._sdk_call("mobile/otp/start", {}) if self.otp else \
                self._sdk_call("mobile/instantlink/start", self._link_body(mobileNumber=""))
        if move == "change":
            return self._sdk_call("mobile/otp/start", {"mobileNumber": argument}) if self.otp else \
                self._sdk_call("mobile/instantlink/start", self._link_body(mobileNumber=argument))
        if move == "code":  # the SDK's customer reads the code from the SMS
            code = argument if argument is not None else self.world.sms(self.correlation_id)[-1]["otp"]
            return self._sdk_call("mobile/otp/finish", {"otp": code})
        if move == "error":
            return self._sdk_call("mobile/otp/error" if self.otp else "mobile/instantlink/error", {"message": argument})
        if move == "click":
            clicked = self.world.click(self.world.sms(self.correlation_id)[-1]["link"])
            return self._landing(clicked)
        if move == "expire":  # the clock runs out
            expires_at = self.world.flow(self.correlation_id)["possession"]["expiresAt"]
            self.world.advance(self._seconds_until(expires_at))
            return None
        raise AssertionError(move)

    def _customer(self, move: str, argument: Any) -> Any:
        fields: dict[str, Any] = {}
        if not self.otp and move in ("start", "resend", "change", "complete"):
            fields["isMobile"] = self.is_mobile
        action = {"code": "enter-code", "change": "change-number"}.get(move, move)
        if move == "code" and argument is not None:
            fields["code"] = argument
        if move == "change":
            fields["phoneNumber"] = argument
        if move == "error":
            fields["message"] = argument
        if move == "expire":
            expires_at = self.world.flow(self.correlation_id)["possession"]["expiresAt"]
            seconds = self._seconds_until(expires_at)
        reply = self.world.acted(self.correlation_id, action, **fields)["reply"]
        if move == "expire":
            self.world.advance(seconds)  # keep the twins' clocks together
            return None
        if "outcome" in reply:  # a click: what the phone's browser got
            return {"decided": reply["outcome"] in ("succeeded", "failed"),
                    "redirect": reply["redirect"].replace(self.auth_id, "<authId>")}
        return reply

    def _landing(self, clicked: httpx.Response) -> dict[str, Any]:
        return {"decided": clicked.status_code in (200, 302),
                "redirect": clicked.headers.get("location", "").replace(self.auth_id, "<authId>")}

    def _seconds_until(self, instant: str) -> int:
        return round(parse_rfc3339(instant) - self.world.emulator.clock.now())

    # -- what came of it -------------------------------------------------------------------------

    def outcome(self) -> dict[str, Any]:
        status_message = None
        detail = self.world.flow(self.correlation_id)
        if self.socket is not None and detail["possession"]["status"] in ("succeeded", "failed"):
            status_message = World.receive_json(self.socket)
        verdict = self._verdict()
        detail = self.world.flow(self.correlation_id)
        return {
            "timeline": [
                {key: ("<own id>" if key in OWN_IDS else value) for key, value in event.items()
                 if key not in IGNORED_DETAILS}
                for event in detail["timeline"] if event["event"] not in IGNORED_EVENTS
            ],
            "state": detail["state"],
            "phoneNumber": detail["phoneNumber"],
            "persona": detail["persona"],
            "possession": detail["possession"],
            "verdict": verdict,
            "sms": [
                {"phoneNumber": sms["phoneNumber"], "kind": sms["kind"], "otp": sms.get("otp"),
                 "sentAt": sms["sentAt"], "body": sms["body"].replace(sms.get("link", "") or "\0", "<link>")}
                for sms in self.world.sms(self.correlation_id)
            ],
            "status socket": status_message,
        }

    def _verdict(self) -> dict[str, Any]:
        product = self.kind.split("-")[0]
        path = {"verify": "/v3/verify-status", "prefill": "/v3/validate", "unify": "/v3/unify-status"}[product]
        reply = self.world.prove(path, {"correlationId": self.correlation_id})
        assert reply.status_code == 200, reply.text
        return {key: ("<own id>" if key in OWN_IDS else value) for key, value in reply.json().items()}


@pytest.fixture
def twins() -> Iterator[Any]:
    made: list[Twin] = []

    def make(kind: str, fields: dict[str, Any]) -> tuple[Twin, Twin]:
        pair = Twin(kind, True, fields), Twin(kind, False, fields)
        made.extend(pair)
        return pair

    yield make
    for twin in made:
        twin.close()


def run(sdk: Twin, customer: Twin, script: list[tuple[str, Any]]) -> None:
    for index, (move, argument) in enumerate(script):
        expected = sdk.move(move, argument)
        got = customer.move(move, argument)
        assert got == expected, f"step {index} ({move} {argument}): the SDK got {expected}, the action {got}"
    assert customer.outcome() == sdk.outcome()


CASES = [
    *((kind, name) for kind in KINDS if kind.endswith("otp") for name in OTP_SCRIPTS),
    *((kind, name) for kind in KINDS if kind.endswith("link") for name in LINK_SCRIPTS),
]


@pytest.mark.parametrize(("kind", "script"), CASES, ids=[f"{kind}: {name}" for kind, name in CASES])
def test_customer_actions_end_as_the_sdk_s_moves_do(twins, kind, script):
    fields, steps = (OTP_SCRIPTS if kind.endswith("otp") else LINK_SCRIPTS)[script]
    sdk, customer = twins(kind, fields)
    run(sdk, customer, steps)


@pytest.mark.parametrize("kind", ["prefill-otp", "prefill-link"])
def test_a_numberless_pre_fill_flow_gets_its_number_alike(twins, kind):
    sdk, customer = twins(kind, {"phone": None})
    # The SDK sends the number the customer typed with its first start.
    first = sdk._sdk_call("mobile/otp/start", {"mobileNumber": SECOND}) if sdk.otp else \
        sdk._sdk_call("mobile/instantlink/start", sdk._link_body(mobileNumber=SECOND))
    assert customer.world.acted(customer.correlation_id, "start", phoneNumber=SECOND)["reply"] == first
    run(sdk, customer, [("code", None)] if sdk.otp else [("click", None)])


def test_the_twins_differ_when_their_moves_do(twins):
    """The comparison can tell: a wrong code against the right one."""
    sdk, customer = twins("verify-otp", {})
    sdk.move("start", None)
    customer.move("start", None)
    assert sdk.move("code", "0000") != customer.move("code", None)
    assert sdk.outcome() != customer.outcome()

