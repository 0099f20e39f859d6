"""Possession: proving the customer holds the phone, by OTP or by Instant Link.

This is the state machine behind the device channel the Web SDK talks to (`/v1/client/...`). It
knows nothing of HTTP: each client call returns a `ClientReply` (the `{"next","data","error"}`
envelope of web-sdk-protocol §3.3), and status messages for the desktop WebSocket go to
`StatusChannels`. Every deadline is a timer on the emulator clock.

Policy (CONTRACT.md "Possession"):
- OTP lives 2 minutes from the SMS, an Instant Link 3 minutes.
- allowOTPRetry=true allows 3 re-entries after a wrong code (4 entries in all); false ends at the
  first wrong code. A wrong entry with entries left gets a `data` reply (the SDK re-prompts).
- A resend sends a new SMS and restarts the window (3 resends at most). The OTP stays the persona's
  code (1234 by default), as in Prove's sandbox; a persona with `otp: random` gets a fresh code per
  send, and the old one stops working. An Instant Link is new per send; the old one is "replaced".
- A number change follows the new number's persona (its code too), and counts as one of its flows.
- A failure reaches the SDK in the persona's terminal form: soft = error + next "done" (the app's
  AuthFinishStep runs and its backend reads the failure), hard = error alone (authenticate() rejects).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from enum import Enum
from typing import Any, Callable
from urllib.parse import urlencode, urlsplit, urlunsplit, parse_qsl

from emulator.channels import StatusChannels
from emulator.clock import Clock, Timer, rfc3339
from emulator.errors import ProveError
from emulator.flows.base import Flow
from emulator.outbox import Outbox
from emulator.phone import NORTH_AMERICAN_PRODUCTS, require_north_american
from emulator.rules import PHONE_NUMBER
from emulator.scenarios.model import Persona, Possession as PossessionMode, TerminalReply

OTP_LIFETIME = 2 * 60
INSTANT_LINK_LIFETIME = 3 * 60
MAX_OTP_REENTRIES = 3
MAX_RESENDS = 3
MAX_NUMBER_CHANGES = 3

# Codes in client-channel replies. The SDK passes them through to the app unchanged (§3.5).
POSSESSION_FAILED = 10001
TOKEN_REFUSED = 10003

DEFAULT_OTP_SMS = (
    "#### is your temporary code to continue your application. "
    "Caution: for your security, don't share this code with anyone."
)
DEFAULT_INSTANT_LINK_SMS = (
    "Complete your verification. If you did not make this request, do not click the link. ####"
)

# Resolves the persona for a new phone number in the flow's project (may raise 8007/8009).
PersonaResolver = Callable[[str, str], Persona]  # (project id, phone number)
# Counts a flow of a number whose persona it takes (its outcome sequence moves on).
FlowCounter = Callable[[str, str, Persona], None]  # (project id, phone number, persona)


class Method(str, Enum):
    OTP = "otp"
    INSTANT_LINK = "instant-link"

    @property
    def first_step(self) -> str:
        return "mobile/otp" if self is Method.OTP else "mobile/instantlink"


class Status(str, Enum):
    WAITING = "waiting"  # nothing sent yet: the client has not started
    SENT = "sent"  # SMS sent: waiting for the code or the click
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass
class ClientReply:
    next: str | None = None
    data: dict[str, Any] | None = None
    error: dict[str, Any] | None = None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.error is not None:
            out["error"] = self.error
        if self.data is not None:
            out["data"] = self.data
        if self.next is not None:
            out["next"] = self.next
        return out


def reprompt(message: str) -> ClientReply:
    return ClientReply(data={"code": POSSESSION_FAILED, "message": message})


def refused(message: str) -> ClientReply:
    """A hard refusal: authenticate() rejects with this code and message."""
    return ClientReply(error={"code": TOKEN_REFUSED, "message": message})


@dataclass(slots=True)
class Possession:
    method: Method
    allow_otp_retry: bool = False
    sms_template: str = ""
    status: Status = Status.WAITING
    reason: str = ""
    code: str = ""
    link_id: str = ""
    sent_at: float | None = None
    expires_at: float | None = None
    wrong_entries: int = 0
    resends: int = 0
    number_changes: int = 0
    device_is_mobile: bool = False
    expired: bool = False
    sends: int = 0
    # Tuples, not a set and a list: a flow sends at most a few SMS, and most flows hold none.
    _used_codes: tuple[str, ...] = ()
    _sent_links: tuple[str, ...] = ()  # replaced ones too: they answer "replaced"
    _timer: Timer | None = None

    @property
    def final(self) -> bool:
        return self.status in (Status.SUCCEEDED, Status.FAILED)

    @property
    def result(self) -> str:
        """possessionResult as Prove spells it."""
        return {Status.SUCCEEDED: "success", Status.FAILED: "failed"}.get(self.status, "pending")

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "method": self.method.value,
            "status": self.status.value,
            "allowOTPRetry": self.allow_otp_retry,
            "wrongEntries": self.wrong_entries,
            "resends": self.resends,
            "numberChanges": self.number_changes,
        }
        if self.reason:
            out["reason"] = self.reason
        if self.expires_at is not None:
            out["expiresAt"] = rfc3339(self.expires_at)
        return out


class PossessionService:
    def __init__(
        self,
        *,
        clock: Clock,
        outbox: Outbox,
        channels: StatusChannels,
        resolve_persona: PersonaResolver,
        public_origin: Callable[[], str],
        count_flow: FlowCounter = lambda project_id, number, persona: None,
    ) -> None:
        self.clock = clock
        self.outbox = outbox
        self.channels = channels
        self.resolve_persona = resolve_persona
        self.count_flow = count_flow
        self.public_origin = public_origin
        self.links: dict[str, Flow] = {}

    # -- starting --------------------------------------------------------------------------------

    def begin(self, flow: Flow, method: Method, allow_otp_retry: bool, sms_template: str) -> None:
        flow.possession = Possession(method=method, allow_otp_retry=allow_otp_retry, sms_template=sms_template)
        mode = flow.persona.possession
        if not mode.automatic:
            return
        # Backend-only personas: the emulator plays the customer's phone itself.
        if not self._send(flow):
            return
        if mode is PossessionMode.AUTO_SUCCESS:
            self._conclude(flow, success=True, reason="")
        elif mode is PossessionMode.AUTO_FAILED:
            self._conclude(flow, success=False, reason="possession failed (scenario: auto-failed)")
        # AUTO_TIMEOUT: the expiry timer set by _send concludes it.

    # -- OTP ---------------------------------------------------------------------------------------

    def otp_start(self, flow: Flow, body: dict[str, Any]) -> ClientReply:
        possession = self._expect(flow, Method.OTP)
        if isinstance(possession, ClientReply):
            return possession
        if possession.final:
            return self._final_reply(flow)
        number = body.get("mobileNumber")
        if number not in (None, ""):
            return self._change_number(flow, number, success=ClientReply(next="mobile/otp"))
        if possession.status is Status.WAITING:
            if not flow.phone_number:
                return reprompt("a phone number is needed to send the code")
            return ClientReply(next="mobile/otp") if self._send(flow) else self._final_reply(flow)
        return self._resend(flow, success=ClientReply(next="mobile/otp"))

    def otp_finish(self, flow: Flow, body: dict[str, Any]) -> ClientReply:
        possession = self._expect(flow, Method.OTP)
        if isinstance(possession, ClientReply):
            return possession
        if possession.final:
            return self._final_reply(flow)
        if possession.status is Status.WAITING:
            return reprompt("no code has been sent yet")
        entered = body.get("otp")
        if not isinstance(entered, str):
            return reprompt("the code must be a string of digits")
        flow.record(self.clock.now(), "otp-entered", correct=entered == possession.code)
        if entered == possession.code:
            if flow.persona.possession is PossessionMode.CLIENT_REJECTED:
                self._conclude(flow, success=False, reason="possession failed (scenario: client-rejected)")
            else:
                self._conclude(flow, success=True, reason="")
            return self._final_reply(flow)
        possession.wrong_entries += 1
        left = MAX_OTP_REENTRIES - possession.wrong_entries + 1
        if possession.allow_otp_retry and possession.wrong_entries <= MAX_OTP_REENTRIES:
            return reprompt(f"the code is incorrect; {left} attempt{'s' if left != 1 else ''} left")
        reason = "too many incorrect codes" if possession.allow_otp_retry else "the code is incorrect"
        self._conclude(flow, success=False, reason=reason)
        return self._final_reply(flow)

    # -- Instant Link ----------------------------------------------------------------------------

    def instant_link_start(self, flow: Flow, body: dict[str, Any], start_reply: str) -> ClientReply:
        possession = self._expect(flow, Method.INSTANT_LINK)
        if isinstance(possession, ClientReply):
            return possession
        if possession.final:
            return self._final_reply(flow)
        possession.device_is_mobile = body.get("isMobile") is True
        success = self._instant_link_sent_reply(possession.device_is_mobile, start_reply)
        number = body.get("mobileNumber")
        if number is None:
            if possession.status is Status.SENT:
                return success  # the step ran again (page reload, WS status): the link stays valid
            if not flow.phone_number:
                return reprompt("a phone number is needed to send the link")
            return success if self._send(flow) else self._final_reply(flow)
        if number == "":
            return self._resend(flow, success=success)
        return self._change_number(flow, number, success=success)

    @staticmethod
    def _instant_link_sent_reply(device_is_mobile: bool, start_reply: str) -> ClientReply:
        if start_reply == "empty":  # apps with a retry step: the SDK calls it, offering resend
            return ClientReply()
        if device_is_mobile:  # the tab ends quietly; the landing page finishes the flow
            return ClientReply(next="")
        return ClientReply(data={})  # desktop: wait for the WebSocket status

    def click(self, link_id: str) -> tuple[str, Flow | None, str]:
        """The customer opened the link. Returns (outcome, flow, redirect URL or "")."""
        flow = self.links.get(link_id)
        if flow is None or flow.possession is None:
            return "unknown", None, ""
        possession = flow.possession
        if possession.link_id != link_id:
            return "replaced", flow, ""
        if possession.final:
            return ("expired" if possession.expired else "used"), flow, ""
        flow.record(self.clock.now(), "link-clicked")
        if flow.persona.possession is PossessionMode.CLIENT_REJECTED:
            self._conclude(flow, success=False, reason="possession failed (scenario: client-rejected)")
        else:
            self._conclude(flow, success=True, reason="")
        return ("succeeded" if possession.status is Status.SUCCEEDED else "failed"), flow, self._landing_url(flow)

    def _landing_url(self, flow: Flow) -> str:
        if not flow.final_target_url:
            return ""
        possession = flow.possession
        assert possession is not None
        if not possession.device_is_mobile:
            return flow.final_target_url
        # Same-device Instant Link: the landing page calls finishInstantLink(location.href). asc=true
        # makes the SDK call AuthFinishStep, so a failure takes the soft path like every other
        # (the app's backend reads it from the status call); asc=false makes it reject (hard).
        hard_failure = possession.status is Status.FAILED and flow.persona.terminal_reply is TerminalReply.HARD
        asc = "false" if hard_failure else "true"
        scheme, netloc, path, query, fragment = urlsplit(flow.final_target_url)
        params = parse_qsl(query, keep_blank_values=True) + [("authId", flow.auth_id), ("asc", asc)]
        return urlunsplit((scheme, netloc, path, urlencode(params), fragment))

    # -- both --------------------------------------------------------------------------------------

    def client_error(self, flow: Flow, body: dict[str, Any], method: Method) -> ClientReply:
        """The SDK reports a failure (user cancel, channel trouble). Only `next` is read (§3.4)."""
        message = body.get("message") if isinstance(body.get("message"), str) else "no message"
        flow.record(self.clock.now(), "client-error-reported", code=body.get("code"), message=message)
        possession = flow.possession
        if possession is not None and possession.method is method and not possession.final:
            self._conclude(flow, success=False, reason=f"the client reported: {message}")
        return ClientReply(next="" if flow.persona.terminal_reply is TerminalReply.HARD else "done")

    def settle(self, flow: Flow, *, success: bool, reason: str) -> None:
        """Possession decided without a code or a click: a Prove Key proved, Mobile Auth answered."""
        self._conclude(flow, success=success, reason=reason)

    def final_reply(self, flow: Flow) -> ClientReply:
        """What the SDK gets once possession is decided: next "done", or the persona's failure form."""
        return self._final_reply(flow)

    def _expect(self, flow: Flow, method: Method) -> Possession | ClientReply:
        possession = flow.possession
        if possession is None:
            # possessionType none, or a Unify flow whose bound Prove Key already settled possession
            return refused("this flow needs no possession check from the client")
        if possession.method is not method:
            return refused(f"this flow's possession check is {possession.method.value}, not {method.value}")
        return possession

    def _final_reply(self, flow: Flow) -> ClientReply:
        possession = flow.possession
        assert possession is not None and possession.final
        if possession.status is Status.SUCCEEDED:
            return ClientReply(next="done")
        return self._failure_reply(flow, possession.reason)

    @staticmethod
    def _failure_reply(flow: Flow, reason: str) -> ClientReply:
        error = {"code": POSSESSION_FAILED, "message": reason}
        if flow.persona.terminal_reply is TerminalReply.HARD:
            return ClientReply(error=error)
        return ClientReply(error=error, next="done")

    def _resend(self, flow: Flow, success: ClientReply) -> ClientReply:
        possession = flow.possession
        assert possession is not None
        if possession.resends >= MAX_RESENDS:
            self._conclude(flow, success=False, reason=f"resend limit reached ({MAX_RESENDS} resends)")
            return self._final_reply(flow)
        possession.resends += 1
        return success if self._send(flow) else self._final_reply(flow)

    def _change_number(self, flow: Flow, number: Any, success: ClientReply) -> ClientReply:
        possession = flow.possession
        assert possession is not None
        if not isinstance(number, str) or not PHONE_NUMBER.matches(number):
            return reprompt(f"the phone number {PHONE_NUMBER.rule}")
        try:
            persona = self.resolve_persona(flow.project_id, number)
            if flow.product in NORTH_AMERICAN_PRODUCTS:  # Pre-Fill, Prove Identity: US and CA only
                require_north_american(number, "mobileNumber")
        except ProveError as error:
            return reprompt(error.message)
        changing = possession.status is Status.SENT
        if changing and possession.number_changes >= MAX_NUMBER_CHANGES:
            self._conclude(flow, success=False, reason=f"number change limit reached ({MAX_NUMBER_CHANGES})")
            return self._final_reply(flow)
        if changing:
            possession.number_changes += 1
        # The flow is now one of the new number's (after every refusal, so a refused one counts nothing).
        self.count_flow(flow.project_id, number, persona)
        flow.record(self.clock.now(), "phone-number-changed" if changing else "phone-number-given",
                    phoneNumber=number, persona=persona.key)
        flow.phone_number = number
        flow.persona = persona
        return success if self._send(flow) else self._final_reply(flow)

    # -- sending and concluding --------------------------------------------------------------------

    def _send(self, flow: Flow) -> bool:
        """Send (or resend) the SMS; False when it could not be delivered (possession then failed)."""
        possession = flow.possession
        assert possession is not None
        now = self.clock.now()
        if flow.persona.sms_undeliverable:
            flow.record(now, "sms-undeliverable", phoneNumber=flow.phone_number)
            self._conclude(flow, success=False, reason="the SMS could not be delivered")
            return False
        if possession._timer is not None:
            possession._timer.cancel()
        possession.sends += 1
        possession.wrong_entries = 0
        possession.sent_at = now
        template = possession.sms_template
        if possession.method is Method.OTP:
            body, digits = _fill_otp_template(template or DEFAULT_OTP_SMS)
            possession.code = self._new_code(flow.persona, digits, possession)
            body = body.replace(_PLACEHOLDER, possession.code)
            link = ""
            lifetime = OTP_LIFETIME
        else:
            possession.link_id = secrets.token_urlsafe(18)
            possession._sent_links += (possession.link_id,)
            self.links[possession.link_id] = flow
            link = f"{self.public_origin()}/__emulator/link/{possession.link_id}"
            body, _ = _fill_otp_template(template or DEFAULT_INSTANT_LINK_SMS)
            body = body.replace(_PLACEHOLDER, link)
            lifetime = INSTANT_LINK_LIFETIME
        possession.expires_at = now + lifetime
        possession.status = Status.SENT
        send_number = possession.sends
        possession._timer = self.clock.call_at(possession.expires_at, lambda: self._expire(flow, send_number))
        sms = self.outbox.send(
            project_id=flow.project_id,
            correlation_id=flow.correlation_id,
            phone_number=flow.phone_number,
            body=body,
            kind=possession.method.value,
            code=possession.code if possession.method is Method.OTP else "",
            link=link,
            sent_at=now,
        )
        flow.record(now, "sms-sent", kind=sms.kind, smsId=sms.id, phoneNumber=flow.phone_number,
                    expiresAt=rfc3339(possession.expires_at))
        return True

    @staticmethod
    def _new_code(persona: Persona, digits: int, possession: Possession) -> str:
        if persona.otp != "random":
            # Every send carries the persona's code, so the sandbox's 1234 stays right across resends.
            code = persona.otp if len(persona.otp) == digits else "123456"[:digits]
        else:
            # A fresh code per send, never one this flow sent before: an old code cannot come back.
            while True:
                code = "".join(secrets.choice("0123456789") for _ in range(digits))
                if code not in possession._used_codes:
                    break
        possession._used_codes += (code,)
        return code

    def expire_now(self, flow: Flow) -> None:
        """The customer lets the code or link lapse: what the expiry timer does, without moving the clock."""
        possession = flow.possession
        assert possession is not None and possession.status is Status.SENT
        self._expire(flow, possession.sends)

    def _expire(self, flow: Flow, send_number: int) -> None:
        possession = flow.possession
        if possession is None or possession.final or possession.sends != send_number:
            return
        what = "code" if possession.method is Method.OTP else "Instant Link"
        possession.expired = True
        self._conclude(flow, success=False, reason=f"the {what} expired", close_channel=True)

    def _conclude(self, flow: Flow, *, success: bool, reason: str, close_channel: bool = False) -> None:
        possession = flow.possession
        assert possession is not None and not possession.final
        now = self.clock.now()
        possession.status = Status.SUCCEEDED if success else Status.FAILED
        possession.reason = reason
        if possession._timer is not None:
            possession._timer.cancel()
            possession._timer = None
        flow.record(now, "possession-succeeded" if success else "possession-failed", reason=reason)
        if possession.method is Method.INSTANT_LINK:
            message = {"next": "done"} if success else self._failure_reply(flow, reason).as_json()
            self.channels.publish(flow.auth_id, message, close=close_channel)
        if flow.on_concluded is not None:
            flow.on_concluded(flow, now)

    def adopt(self, flow: Flow) -> None:
        """A flow restored from a snapshot: its links lead to it again, and a code or link still out
        expires on the clock as it would have."""
        possession = flow.possession
        if possession is None:
            return
        for link_id in possession._sent_links:
            self.links[link_id] = flow
        if possession.status is Status.SENT and possession.expires_at is not None:
            send_number = possession.sends
            possession._timer = self.clock.call_at(possession.expires_at, lambda: self._expire(flow, send_number))

    def forget(self, flow: Flow) -> None:
        """The flow expired: drop its links and timer."""
        possession = flow.possession
        if possession is None:
            return
        if possession._timer is not None:
            possession._timer.cancel()
            possession._timer = None
        for link_id in possession._sent_links:
            self.links.pop(link_id, None)


_PLACEHOLDER = "\x00code\x00"


def _fill_otp_template(template: str) -> tuple[str, int]:
    """Mark the first run of 4-6 '#' as the code's place; returns (text, digits wanted)."""
    for digits in (6, 5, 4):
        marker = "#" * digits
        if marker in template:
            return template.replace(marker, _PLACEHOLDER, 1), digits
    return f"{template} {_PLACEHOLDER}", 4
