"""Prove Auth: `/v1/server/auth/start`, `/continue`, `/finish` (current-generation §8).

Prove publishes the models of this API but nothing about its semantics, so the emulator decides
(each rule here is one of the README's decisions):

- start creates a flow (15 minutes, like every flow) and answers authId and authToken. The
  authToken is the same kind Unify hands out: the official Web SDK drives OTP and Instant Link
  through the device channel exactly as for Unify.
- The mobile subject's authenticators are tried in a fixed order, and the first that applies runs:
  passive (the number's Prove Key, not revoked, exists in the project: recognised at once, and a
  device claim must name that key), instant (Mobile Auth: the emulator has no carrier network,
  so only personas whose possession settles by itself are recognised, and not when consent is
  opted out), otp, then instantlink (possession through the device channel: "provided").
  universal is accepted, but its Prove-hosted ceremony is not emulated: universalRedirectUrl
  leads straight back to its finalTargetUrl (with authId), and finish reports 10005 unless
  another authenticator ran.
- continue binds the verified number to a Prove Key (the store Unify uses, so a later Unify is
  recognised too). The number must be the verified one.
- finish may be called as often as needed while the flow lives; it reports the state so far.
- Per-subject errors travel inside 200 bodies (the SDK declares only 400 and 500):
  10001 authentication failed, 10002 not finished yet, 10004 device authentication missing
  (Prove's own example), 10005 not emulated (user and card subjects, universal).
- Personas decide outcomes as elsewhere: possession modes through the possession machine, and
  unify mode fail makes the mobile subject fail even after a successful OTP. Short-term users
  pass and get no Prove Key. callbackUrl and delivery are accepted; nothing is pushed or called.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from emulator.errors import ProveError
from emulator.flows.base import Flow
from emulator.flows.kit import FlowKit
from emulator.flows.possession import Method, Status
from emulator.flows.prove_keys import ProveKey, ProveKeys
from emulator.flows.steps import require_product
from emulator.phone import normalize
from emulator.projects import Project
from emulator.rules import FINAL_TARGET_URL, IP_ADDRESS, PHONE_NUMBER, Array, Check, Flag, Int, Obj, Pattern, Text
from emulator.scenarios.model import DEFAULT_PERSONA, Possession as PossessionMode, UnifyMode

PRODUCT = "unify"  # the project product that may call Prove Auth
FLOW_PRODUCT = "prove-auth"  # how its flows are labelled on the control plane

AUTH_FAILED = 10001
AUTH_PENDING = 10002
DEVICE_AUTH_MISSING = 10004
NOT_EMULATED = 10005

SUBJECTS = ("mobile", "device", "user", "card")
MOBILE_AUTHENTICATORS = ("instantlink", "otp", "passive", "universal", "instant")

REQUEST_ID = Pattern(r"[A-Za-z0-9\-._+=/]+", "may only contain letters, digits and the symbols -._+=/")
USER_ID = Pattern(r"[A-Za-z0-9\-._+=/:]+", "may only contain letters, digits and the symbols -._+=/:")


def _test_mode() -> Text:
    return Text("testMode", max_length=64, description="Accepted and ignored: Prove documents no values.")


def _at_least_one(kind: str, names: tuple[str, ...]) -> Check:
    def test(body: dict[str, Any]) -> str | None:
        return None if any(name in body for name in names) else f"must name at least one {kind}: {', '.join(names)}"

    return Check(f"At least one of {', '.join(names)}.", test)


_UV_LEVEL = Text("userVerificationLevel", max_length=32,
                 description="FIDO's required, preferred or discouraged (a free string in the SDK).")
_MOBILE = Obj(
    "mobile",
    (
        Obj("claim", (Text("mobileNumber", pattern=PHONE_NUMBER,
                           description="Without it the Web SDK asks the customer for the number."),)),
        Obj(
            "authenticators",
            (
                Obj("instantlink", (
                    Text("finalTargetUrl", required=True, max_length=128, pattern=FINAL_TARGET_URL),
                    Text("messageText", required=True, max_length=160, description="The link goes where #### is."),
                    Text("sourceIp", pattern=IP_ADDRESS),
                    Text("subscriptionCustomerId", max_length=128),
                    Flag("allowMobileNumberRePrompt"),
                    _test_mode(),
                )),
                Obj("otp", (
                    Text("messageText", required=True, max_length=160,
                         description="The code goes where #### (4 to 6 '#') is."),
                    Flag("allowOtpRetry"),
                    Flag("allowMobileNumberRePrompt"),
                    _test_mode(),
                )),
                Obj("passive", (
                    Flag("cacheResult"),
                    Int("maxAge", minimum=-1, maximum=10 * 365 * 86400,
                        description="Seconds: a Prove Key older than this is not recognised; -1 forces a rebind; "
                                    "0 or absent: any age."),
                    Flag("localDomain"),
                    _test_mode(),
                )),
                Obj("universal", (
                    Text("finalTargetUrl", required=True, max_length=128, pattern=FINAL_TARGET_URL),
                    _test_mode(),
                )),
                Obj("instant", (
                    _test_mode(),
                    Obj("consent", (
                        Text("status", required=True, enum=("optedIn", "optedOut", "notCollected", "unknown")),
                        Text("collectedTimestamp", max_length=64),
                        Text("description", max_length=256),
                        Text("transactionId", max_length=128, pattern=REQUEST_ID),
                    )),
                )),
            ),
            checks=(_at_least_one("authenticator", MOBILE_AUTHENTICATORS),),
        ),
    ),
)
_DEVICE = Obj(
    "device",
    (
        Obj("claim", (Text("deviceId", max_length=128, description="A Prove Key's deviceId."),)),
        Obj("authenticators", (Obj("passive", (Flag("allowPasscodeFallback"), _UV_LEVEL)),)),
    ),
)
_USER = Obj(
    "user",
    (
        Obj("claim", (Text("userId", required=True, max_length=128, pattern=USER_ID), Flag("provided"))),
        Obj("authenticators", (Obj("passive", (_UV_LEVEL,)), Obj("docv", ()), Obj("ppb", ()), Obj("present", ()))),
    ),
    description="Accepted; not emulated (finish reports 10005).",
)
_CARD = Obj(
    "card",
    (
        Obj("authenticators", (
            Obj("airKey", (Obj("claim", (Array("puids", Text("puid", max_length=128)),)), _test_mode())),
        ), required=True),
    ),
    description="Accepted; not emulated (finish reports 10005).",
)
_NOTIFICATION = Obj(
    "notification",
    (
        Text("title", required=True, max_length=256),
        Text("body", required=True, max_length=1024),
        Text("confirmBtn", max_length=64),
        Text("denyBtn", max_length=64),
        Text("originatingDevice", max_length=128),
        Text("originatingIp", pattern=IP_ADDRESS),
    ),
    required=True,
)
START_REQUEST = Obj(
    "",
    (
        Text("requestId", required=True, max_length=128, pattern=REQUEST_ID),
        Obj("subjects", (_MOBILE, _DEVICE, _USER, _CARD), required=True,
            checks=(_at_least_one("subject", SUBJECTS),)),
        Text("callbackUrl", max_length=512, description="Accepted; the emulator does not call it: call finish."),
        Obj("delivery", (Obj("push", (_NOTIFICATION,)), Obj("scan", (_NOTIFICATION,))),
            description="Accepted; nothing is pushed."),
    ),
)
CONTINUE_REQUEST = Obj(
    "",
    (
        Text("authId", required=True, max_length=128),
        Text("requestId", required=True, max_length=128, pattern=REQUEST_ID),
        # Optional in the SDK: without a number, the mobile subject answers an error in the 200 body.
        Obj("subjects", (
            Obj("mobile", (
                Obj("claim", (Text("mobileNumber", pattern=PHONE_NUMBER,
                                   description="The number to bind: the one the authenticator verified."),)),
            )),
        )),
    ),
)
FINISH_REQUEST = Obj("", (Text("authId", required=True, max_length=128),))


def invalid_auth_id(auth_id: str) -> ProveError:
    return ProveError(400, 8008, f"invalid authId: {auth_id!r} is unknown or its flow expired")


def _error(code: int, message: str) -> dict[str, Any]:
    return {"code": code, "message": message}


@dataclass(slots=True)
class ProveAuthFlow(Flow):
    FINISHED_STATES: ClassVar[frozenset[str]] = frozenset({"verified", "failed", "unverified"})

    request_id: str = ""
    subjects: tuple[str, ...] = ()
    authenticator: str = ""  # the mobile authenticator that verified or runs ("" when none could)
    outcome: str = "pending"  # pending, verified, failed, unverified (no authenticator could run)
    reason: str = ""  # why it failed or stayed unverified
    error_code: int = DEVICE_AUTH_MISSING  # what finish reports when it stayed unverified
    authenticator_type: str = ""  # provided, passive, instant
    verified_at: float = 0.0
    key: ProveKey | None = None

    @property
    def state(self) -> str:
        return self.outcome

    def summary(self) -> dict[str, Any]:
        out = {**Flow.summary(self), "requestId": self.request_id, "subjects": list(self.subjects),
               "authenticator": self.authenticator}
        if self.key is not None:
            out["deviceId"] = self.key.device_id
        return out


class ProveAuth:
    def __init__(self, kit: FlowKit, keys: ProveKeys) -> None:
        self.kit = kit
        self.keys = keys
        self.concluded = self._possession_concluded  # one bound method for all its flows, not one each

    # -- start -------------------------------------------------------------------------------------

    def start(self, project: Project, request: dict[str, Any]) -> dict[str, Any]:
        require_product(project, PRODUCT)
        kit = self.kit
        now = kit.clock.now()
        subjects = request["subjects"]
        mobile = subjects.get("mobile", {})
        authenticators = mobile.get("authenticators", {})
        number = self.mobile_number_of(request)
        persona = kit.personas.resolve(project.client_id, number) if number else DEFAULT_PERSONA
        landing = authenticators.get("instantlink", {}).get("finalTargetUrl", "")
        flow = ProveAuthFlow(
            **kit.new_flow_fields(project, FLOW_PRODUCT, {"phoneNumber": number, "finalTargetUrl": landing}, persona),
            request_id=request["requestId"],
            subjects=tuple(name for name in SUBJECTS if name in subjects),
            on_concluded=self.concluded,
        )
        flow.record(now, "auth-start", phoneNumber=number, persona=persona.key,
                    subjects=",".join(flow.subjects), authenticators=",".join(sorted(authenticators)))
        kit.flows.add(flow)
        method = self._choose(flow, authenticators, subjects.get("device", {}), now)
        first_step = method.first_step if method is not None else "done"
        reply: dict[str, Any] = {
            "authId": flow.auth_id,
            "authToken": kit.issue_auth_token(flow, first_step, phone_known=bool(number)),
        }
        if "universal" in authenticators:
            reply["universalRedirectUrl"] = _with_query(authenticators["universal"]["finalTargetUrl"],
                                                        authId=flow.auth_id)
        if method is not None:
            settings = authenticators[flow.authenticator]
            kit.possession.begin(flow, method, settings.get("allowOtpRetry", False), settings["messageText"])
        return reply

    @staticmethod
    def mobile_number_of(request: dict[str, Any]) -> str:
        return request.get("subjects", {}).get("mobile", {}).get("claim", {}).get("mobileNumber", "")

    def _choose(self, flow: ProveAuthFlow, authenticators: dict[str, Any], device: dict[str, Any],
                now: float) -> Method | None:
        """Run the first authenticator that applies; the possession method when it is OTP or Instant Link."""
        number = flow.phone_number
        device_claim = device.get("claim", {}).get("deviceId", "")
        if "passive" in device.get("authenticators", {}) and device_claim:
            key = self.keys.by_device(flow.project_id, device_claim)
            if key is not None and self._is_current(key) and (not number or _same(key.phone_number, number)):
                flow.key = key
                flow.record(now, "prove-key-recognised", deviceId=key.device_id)
        if "passive" in authenticators:
            key = self.keys.current(flow.project_id, number) if number else None
            max_age = authenticators["passive"].get("maxAge", 0)
            if key is not None and (max_age == -1 or 0 < max_age < now - key.created_at):
                flow.record(now, "prove-key-too-old", deviceId=key.device_id, maxAge=max_age)
                key = None
            if key is not None and (not device_claim or key.device_id == device_claim):
                flow.key = key
                flow.authenticator = "passive"
                flow.record(now, "prove-key-recognised", deviceId=key.device_id)
                self._verify(flow, "passive", now)
                return None
            flow.error_code = DEVICE_AUTH_MISSING
            flow.reason = "device authentication missing: no Prove Key of this device is bound to the number"
        if "instant" in authenticators:
            consent = authenticators["instant"].get("consent", {}).get("status", "")
            if number and consent != "optedOut" and flow.persona.possession is PossessionMode.AUTO_SUCCESS:
                flow.authenticator = "instant"
                self._verify(flow, "instant", now)
                return None
            flow.error_code = AUTH_FAILED
            flow.reason = ("Mobile Auth did not recognise the number (the emulator has no carrier network: it "
                           "recognises personas whose possession settles by itself, unless consent is optedOut)")
            flow.record(now, "mobile-auth-not-recognised")
        for name, method in (("otp", Method.OTP), ("instantlink", Method.INSTANT_LINK)):
            if name in authenticators:
                flow.authenticator = name
                return method
        if "universal" in authenticators:
            flow.error_code = NOT_EMULATED
            flow.reason = "the universal authenticator (the Universal Prove Key ceremony) is not emulated"
        if flow.subjects == ("device",) and flow.key is not None:
            flow.outcome = "verified"  # only the device was asked, and its key was recognised
            return None
        flow.outcome = "unverified"
        if not flow.reason:
            flow.reason = "device authentication missing: no authenticator could verify the number"
        flow.record(now, "auth-unverified", reason=flow.reason)
        return None

    def _is_current(self, key: ProveKey) -> bool:
        current = self.keys.current(key.project_id, key.phone_number)
        return current is not None and current.device_id == key.device_id

    def _possession_concluded(self, flow: Flow, at: float) -> None:
        assert isinstance(flow, ProveAuthFlow) and flow.possession is not None
        if flow.possession.status is Status.SUCCEEDED:
            self._verify(flow, "provided", at)
        else:
            flow.outcome, flow.reason = "failed", flow.possession.reason

    def _verify(self, flow: ProveAuthFlow, authenticator_type: str, at: float) -> None:
        """The number was verified by an authenticator; the persona has the last word."""
        if flow.persona.unify_mode is UnifyMode.FAIL:
            flow.outcome, flow.reason = "failed", "authentication failed (scenario: unify mode fail)"
        else:
            flow.outcome, flow.authenticator_type, flow.verified_at = "verified", authenticator_type, at
        flow.record(at, "auth-" + flow.outcome, authenticatorType=authenticator_type)

    # -- continue ----------------------------------------------------------------------------------

    def continue_(self, project: Project, request: dict[str, Any]) -> dict[str, Any]:
        flow = self._flow(project, request["authId"])
        number = request.get("subjects", {}).get("mobile", {}).get("claim", {}).get("mobileNumber", "")
        result = self._bind(flow, number) if number else {"success": False, "error": _error(
            DEVICE_AUTH_MISSING, "device authentication missing: continue names no subjects.mobile.claim.mobileNumber "
                                 "to bind")}
        flow.record(self.kit.clock.now(), "auth-continue", phoneNumber=number, success=result["success"])
        return {"subjects": {"mobile": result}}

    def _bind(self, flow: ProveAuthFlow, number: str) -> dict[str, Any]:
        if flow.outcome != "verified" or "mobile" not in flow.subjects:
            return {"success": False, "error": self._mobile_error(flow)}
        if not _same(number, flow.phone_number):
            return {"success": False, "error": _error(
                DEVICE_AUTH_MISSING,
                f"device authentication missing: the authenticator verified {flow.phone_number}, not {number}")}
        if flow.key is not None and not _same(flow.key.phone_number, flow.phone_number):
            flow.key = None  # the device claimed another number's key: it holds none for this one
        if flow.key is None and flow.persona.unify_mode is not UnifyMode.SHORT_TERM:
            now = self.kit.clock.now()
            flow.key = self.keys.bind(flow.project_id, flow.phone_number, now)
            flow.record(now, "prove-key-bound", deviceId=flow.key.device_id)
        return {"success": True}

    # -- finish ------------------------------------------------------------------------------------

    def finish(self, project: Project, request: dict[str, Any]) -> dict[str, Any]:
        flow = self._flow(project, request["authId"])
        subjects: dict[str, Any] = {}
        if "mobile" in flow.subjects:
            subjects["mobile"] = self._mobile_result(flow)
        if "device" in flow.subjects or flow.key is not None:
            subjects["device"] = self._device_result(flow)
        for name in ("user", "card"):
            if name in flow.subjects:
                subjects[name] = {"error": _error(NOT_EMULATED, f"the {name} subject is not emulated")}
        flow.record(self.kit.clock.now(), "auth-finish", outcome=flow.outcome)
        return {"authId": flow.auth_id, "appNamespace": self.kit.tokens.namespace, "subjects": subjects}

    def _mobile_result(self, flow: ProveAuthFlow) -> dict[str, Any]:
        if flow.outcome != "verified":
            return {"error": self._mobile_error(flow)}
        extras: dict[str, Any] = {"phoneMatch": "success", "mobileOperatorName": flow.persona.identity.carrier}
        if flow.authenticator == "instantlink":
            extras["linkClicked"] = True
        return {"success": {
            "authenticatorType": flow.authenticator_type,
            "claim": {"mobileNumber": flow.phone_number},
            "createdAt": int(flow.verified_at),
            "extras": extras,
        }}

    @staticmethod
    def _mobile_error(flow: ProveAuthFlow) -> dict[str, Any]:
        if flow.outcome == "failed":
            return _error(AUTH_FAILED, flow.reason)
        if flow.outcome == "pending":
            possession = flow.possession
            step = "the code has not been entered" if possession and possession.method is Method.OTP \
                else "the link has not been clicked"
            return _error(AUTH_PENDING, f"authentication not finished: the {flow.authenticator} authenticator "
                                        f"is still waiting ({step})")
        return _error(flow.error_code, flow.reason or "device authentication missing")

    @staticmethod
    def _device_result(flow: ProveAuthFlow) -> dict[str, Any]:
        if flow.key is None:
            return {"error": _error(DEVICE_AUTH_MISSING, "device authentication missing: no Prove Key is bound")}
        return {"success": {"claim": {"deviceId": flow.key.device_id}, "createdAt": int(flow.key.created_at)}}

    def _flow(self, project: Project, auth_id: str) -> ProveAuthFlow:
        require_product(project, PRODUCT)
        flow = self.kit.flows.by_auth_id(auth_id)
        if not isinstance(flow, ProveAuthFlow) or flow.project_id != project.client_id:
            raise invalid_auth_id(auth_id)
        return flow


def _same(one: str, other: str) -> bool:
    return normalize(one) == normalize(other)


def _with_query(url: str, **params: str) -> str:
    scheme, netloc, path, query, fragment = urlsplit(url)
    return urlunsplit((scheme, netloc, path, urlencode(parse_qsl(query, keep_blank_values=True) + list(params.items())),
                       fragment))
