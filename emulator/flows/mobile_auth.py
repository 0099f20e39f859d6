"""Mobile Auth: the Web SDK's `mobile/instant` step, for personas whose mobile tokens start there.

HTTP-free; each call returns a `ClientReply` (web-sdk-protocol §3.3, §4, §8.3). What the SDK 3.6.2
does, verified in Chromium:

1. POST `/v1/client/mobile/instant/start` `{"cellularIp": null, "implementation": "fetch"}` (or
   "pixel"); it needs `data.redirectUrl`.
2. Its mobile-auth library (3.2.5) visits that URL. It refuses `http:` URLs ("Web SDK cannot make
   http request"), so over http the emulator's URL carries the library's own test hook `testVfp`
   and the library hands that value back without a request. Over https the library fetches the
   URL (`&r=f&sdkVersion=…`, JSON `{"vfp"}` expected) or, with the pixel implementation, loads it
   as an image; the emulator serves both (`carrier`).
3. POST `/v1/client/mobile/instant/finish` `{"vfp"}`: the persona decides. Success: `next: "done"`.
   A failure with fallback: `{"error", "next": "mobile/otp"}`, and the SDK runs OTP without
   reporting the error. A failure without: the persona's terminal reply (soft: `next: "done"`,
   AuthFinishStep runs and the backend reads the failure; hard: no `next`, authenticate() rejects).
4. A failure inside the library (10002) is reported to `/v1/client/mobile/instant/error`, signed
   if the browser holds a key: OTP goes on, unless the persona has no fallback.

A session is single-use: a finish with another vfp, or after the session ended, is refused; its
redirectUrl then answers 410. A flow keeps at most one session (a new start voids the earlier one),
dropped when the flow expires.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Any, Callable

from emulator.clock import Clock
from emulator.flows.base import Flow
from emulator.flows.possession import ClientReply, PossessionService, refused
from emulator.scenarios.model import MobileAuthMode, TerminalReply

FIRST_STEP = "mobile/instant"
CARRIER_PATH = "/v1/client/mobile/instant/auth"  # + "/{sessionId}": the emulator's stand-in for the carrier
AUTHENTICATION_FAILED = 10001


@dataclass(slots=True)
class MobileAuthStep:
    mode: MobileAuthMode
    session_id: str = ""
    vfp: str = ""
    implementation: str = ""
    fetched: bool = False  # the library visited the redirectUrl (https only)
    state: str = "waiting"  # waiting, started, succeeded, fallback, failed


class MobileAuth:
    def __init__(self, clock: Clock, possession: PossessionService, public_origin: Callable[[], str]) -> None:
        self.clock = clock
        self.possession = possession
        self.public_origin = public_origin
        self.sessions: dict[str, Flow] = {}  # one per flow at most; dropped when the flow expires

    def start(self, flow: Flow, body: dict[str, Any]) -> ClientReply:
        step = flow.mobile_auth
        if step is None or flow.possession is None:
            return refused("this flow's authToken has no Mobile Auth step (mobile/instant)")
        if flow.possession.final:
            return self.possession.final_reply(flow)
        if step.state not in ("waiting", "started"):
            return refused(f"this flow's Mobile Auth step has ended ({step.state})")
        self.sessions.pop(step.session_id, None)  # the step ran again: the earlier session is void
        step.session_id, step.vfp = secrets.token_hex(16), secrets.token_hex(16)
        step.implementation, step.fetched, step.state = body.get("implementation", ""), False, "started"
        origin = self.public_origin()
        url = f"{origin}{CARRIER_PATH}/{step.session_id}"
        if origin.startswith("http:"):  # the library never requests http URLs: its test hook instead
            url += f"?testVfp={step.vfp}"
        self.sessions[step.session_id] = flow
        flow.record(self.clock.now(), "mobile-auth-started", implementation=step.implementation,
                    cellularIp=body.get("cellularIp"))
        return ClientReply(data={"redirectUrl": url})

    def carrier(self, session_id: str) -> tuple[str, str]:
        """The library visits the redirectUrl: ("ok", vfp), or ("unknown" | "ended", "")."""
        flow = self.sessions.get(session_id)
        if flow is None or flow.mobile_auth is None:
            return "unknown", ""
        step = flow.mobile_auth
        if step.state != "started":
            return "ended", ""
        step.fetched = True
        flow.record(self.clock.now(), "mobile-auth-redirect-visited")
        return "ok", step.vfp

    def finish(self, flow: Flow, body: dict[str, Any]) -> ClientReply:
        step = flow.mobile_auth
        if step is None or flow.possession is None:
            return refused("this flow's authToken has no Mobile Auth step (mobile/instant)")
        if flow.possession.final:
            return self.possession.final_reply(flow)
        if step.state != "started":
            return refused("no Mobile Auth session is open in this flow: /v1/client/mobile/instant/start first"
                           if step.state == "waiting" else f"this flow's Mobile Auth step has ended ({step.state})")
        vfp = body["vfp"]
        pixel = vfp == "" and step.fetched and step.implementation == "pixel"  # the pixel gives back no value
        if not (pixel or hmac.compare_digest(vfp.encode("utf-8", "surrogatepass"), step.vfp.encode())):
            return refused("field 'vfp' is not the value this flow's Mobile Auth session gave")
        now = self.clock.now()
        if step.mode is MobileAuthMode.SUCCESS:
            step.state = "succeeded"
            flow.record(now, "mobile-auth-succeeded")
            self.possession.settle(flow, success=True, reason="")
            return self.possession.final_reply(flow)
        reason = "Mobile Auth could not verify the number: the carrier did not recognise the device (scenario: " \
                 f"mobileAuth {step.mode.value})"
        flow.record(now, "mobile-auth-failed", fallback="otp" if step.mode is MobileAuthMode.OTP_FALLBACK else "none")
        if step.mode is MobileAuthMode.OTP_FALLBACK:
            step.state = "fallback"
            return ClientReply(error={"code": AUTHENTICATION_FAILED, "message": f"{reason}; continue with OTP"},
                               next="mobile/otp")
        step.state = "failed"
        self.possession.settle(flow, success=False, reason=reason)
        return self.possession.final_reply(flow)

    def step_error(self, flow: Flow, body: dict[str, Any]) -> ClientReply:
        """/mobile/instant/error: the library failed in the browser (only `next` is read, §3.4)."""
        message = body.get("message") if isinstance(body.get("message"), str) else "no message"
        flow.record(self.clock.now(), "client-error-reported", step=FIRST_STEP, code=body.get("code"), message=message)
        step = flow.mobile_auth
        if step is None or flow.possession is None:
            return refused("this flow's authToken has no Mobile Auth step (mobile/instant)")
        hard = flow.persona.terminal_reply is TerminalReply.HARD
        if flow.possession.final:
            return ClientReply(next="done" if flow.possession.result == "success" or not hard else "")
        if step.mode is MobileAuthMode.FAILED:
            step.state = "failed"
            self.possession.settle(flow, success=False, reason=f"Mobile Auth failed in the browser: {message}")
            return ClientReply(next="" if hard else "done")
        step.state = "fallback"
        return ClientReply(next="mobile/otp")

    def adopt(self, flow: Flow) -> None:
        """A flow restored from a snapshot: its Mobile Auth session finds it again."""
        if flow.mobile_auth is not None and flow.mobile_auth.session_id:
            self.sessions[flow.mobile_auth.session_id] = flow

    def forget(self, flow: Flow) -> None:
        if flow.mobile_auth is not None:
            self.sessions.pop(flow.mobile_auth.session_id, None)
