"""The Web SDK's steps before possession, in Chromium with the npm SDK (3.6.2), through the example
app's Unify page (examples/webapp/unify.py): the Prove Key (device/passive) and Mobile Auth
(mobile/instant), against the emulator.

Each test checks what the page saw (AuthFinishStep and the backend's unify-status, or the
rejection), what the emulator reports now (unify-status), and what went over the wire (the
request journal, the SMS outbox). A browser context is one device: its IndexedDB keeps the SDK's
key between visits, and a new context is another device.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.app_page import AppPage

pytestmark = pytest.mark.browser

LORANT = "2001004014"  # Unified Auth user: the Prove Key, then OTP
INGE = "2001004016"  # Mobile Auth user: recognised by Mobile Auth
MOBILE_AUTH_FALLBACK = "2025550130"  # Mobile Auth fails, the SDK falls back to OTP
MOBILE_AUTH_FAILS = "2025550131"  # Mobile Auth fails, no fallback
KEY_REJECTED = "2025550132"  # every key the device proves is refused
WEBAUTHN = "2025550135"  # the token asks for WebAuthn (uvlvl req)


class UnifyPage:
    """The app's /unify page in one browser context (one device)."""

    def __init__(self, app: AppPage, url: str) -> None:
        self.app = app
        self.url = url

    def visit(self, phone: str, possession: str = "mobile", rebind: bool = False) -> "UnifyPage":
        """Open the page (again) in this context and start a flow: a new visit of the same device."""
        self.app.open(self.url)
        self.app.page.fill("#phone", phone)
        self.app.page.select_option("#possession", possession)
        self.app.page.set_checked("#rebind", rebind)
        self.app.page.click("#start")
        return self

    def enter_otp(self, code: str = "1234") -> None:
        self.app.wait_for("otp-prompt")
        self.app.page.fill("#otp", code)
        self.app.page.click("#otp-submit")

    def correlation_id(self) -> str:
        return self.app.wait_for("unify")["correlationId"]

    def outcome(self) -> dict[str, Any]:
        """AuthFinishStep ran once with the flow's authId; the unify-status the backend then read."""
        status = self.app.wait_for("status")["status"]
        assert len(self.app.events("finish")) == 1 and self.app.events("rejected") == []
        self.app.wait_for("device")
        return status

    def device_id(self) -> str | None:
        """The deviceId the SDK keeps in this browser after the flow (localStorage)."""
        return self.app.wait_for("device", 2)["deviceId"]


@pytest.fixture
def unify_page(new_page, webapp):
    def open_unify_page(mobile: bool = True) -> UnifyPage:
        return UnifyPage(new_page(mobile=mobile), webapp.base_url + "/unify")

    return open_unify_page


def unify_status(prove_emulator, correlation_id: str) -> dict[str, Any]:
    reply = prove_emulator.call("/v3/unify-status", {"correlationId": correlation_id})
    assert reply.status_code == 200, reply.text
    return reply.json()


def calls(prove_emulator, correlation_id: str) -> list[str]:
    """The device-channel paths the SDK called in this flow, in order (preflights left out)."""
    return [entry["path"].removeprefix("/v1/client/") for entry in prove_emulator.requests(limit=500)
            if entry.get("correlationId") == correlation_id and entry["path"].startswith("/v1/client/")
            and entry["method"] == "POST"]


def first_visit(prove_emulator, page: UnifyPage, phone: str = LORANT) -> dict[str, Any]:
    """A device without a key: it registers one, the OTP binds it. The emulator's unify-status."""
    page.visit(phone)
    page.enter_otp()
    status = page.outcome()
    flow_id = page.correlation_id()
    assert status["success"] == "true" and status["deviceId"] == page.device_id()
    assert unify_status(prove_emulator, flow_id) == status
    assert calls(prove_emulator, flow_id) == ["device/passive/register", "mobile/otp/start", "mobile/otp/finish"]
    return status


# -- the Prove Key ----------------------------------------------------------------------------------------


def test_first_visit_registers_a_key_then_otp_and_the_second_visit_proves_it_without_an_sms(prove_emulator,
                                                                                           unify_page):
    page = unify_page()
    first = first_visit(prove_emulator, page)
    assert len(prove_emulator.sms(LORANT)) == 1
    # The same browser again: the SDK signs the new flow's challenge with its key. No SMS.
    page.visit(LORANT)
    second = page.outcome()
    flow_id = page.correlation_id()
    assert page.app.events("otp-prompt") == []
    assert second == first == unify_status(prove_emulator, flow_id)
    assert calls(prove_emulator, flow_id) == ["device/passive/verify"]
    assert len(prove_emulator.sms(LORANT)) == 1
    assert page.device_id() == first["deviceId"]


def test_another_browser_is_another_device(prove_emulator, unify_page):
    first = first_visit(prove_emulator, unify_page())
    second = first_visit(prove_emulator, unify_page())  # a new context: no key, so register and OTP
    assert second["deviceId"] != first["deviceId"] and second["proveId"] == first["proveId"]


def test_a_revoked_key_forces_possession_again(prove_emulator, unify_page):
    page = unify_page()
    first = first_visit(prove_emulator, page)
    revoked = prove_emulator.call("/v3/device/revoke", {"clientRequestId": "r-1", "deviceId": first["deviceId"]})
    assert revoked.status_code == 200 and revoked.json() == {"success": True}
    # The SDK proves its revoked key; the emulator answers 10006 with next device/passive, so the SDK
    # deletes the key, registers a new one and continues with OTP.
    page.visit(LORANT)
    page.enter_otp()
    again = page.outcome()
    flow_id = page.correlation_id()
    assert again["success"] == "true" and again["deviceId"] != first["deviceId"]
    assert again == unify_status(prove_emulator, flow_id)
    assert page.device_id() == again["deviceId"]
    assert calls(prove_emulator, flow_id) == ["device/passive/verify", "device/passive/register",
                                              "mobile/otp/start", "mobile/otp/finish"]
    assert len(prove_emulator.sms(LORANT)) == 2
    # The new key is recognised on the next visit.
    page.visit(LORANT)
    assert page.outcome() == again
    assert calls(prove_emulator, page.correlation_id()) == ["device/passive/verify"]


def test_a_rejected_key_is_replaced_and_possession_runs_again(prove_emulator, unify_page):
    page = unify_page()
    first = first_visit(prove_emulator, page, KEY_REJECTED)
    page.visit(KEY_REJECTED)
    page.enter_otp()
    again = page.outcome()
    assert again["success"] == "true" and again["deviceId"] not in (None, first["deviceId"])
    assert calls(prove_emulator, page.correlation_id())[:2] == ["device/passive/verify", "device/passive/register"]


def test_a_signed_cancel_report_after_registration_is_accepted(prove_emulator, unify_page):
    """Once the browser holds a key, the SDK signs /mobile/otp/error with a challenge of /v1/client/challenge."""
    page = unify_page()
    first_visit(prove_emulator, page)
    page.visit(LORANT, rebind=True)  # the key is proved, but rebind asks for possession again
    page.app.wait_for("otp-prompt")
    page.app.page.click("#otp-cancel")
    status = page.outcome()  # the report's next "done" runs AuthFinishStep
    flow_id = page.correlation_id()
    assert status == {"success": "false", "phoneNumber": LORANT} == unify_status(prove_emulator, flow_id)
    assert calls(prove_emulator, flow_id)[-2:] == ["challenge", "mobile/otp/error"]
    events = [event["event"] for event in prove_emulator.flow(flow_id)["timeline"]]
    assert "signed-by-device" in events and events.index("signed-by-device") < events.index("client-error-reported")


def test_unregister_device_forgets_the_key(prove_emulator, unify_page):
    page = unify_page()
    first = first_visit(prove_emulator, page)
    page.app.open(page.url)
    page.app.page.click("#unregister")  # unregisterDevice(): signed, without an authToken
    page.app.wait_for("unregistered")
    assert page.app.events("device")[-1]["deviceId"] is None
    revoke = prove_emulator.call("/v3/device/revoke", {"clientRequestId": "r-1", "deviceId": first["deviceId"]})
    assert revoke.status_code == 404  # the emulator forgot the key
    second = first_visit(prove_emulator, page)  # the browser registers anew
    assert second["deviceId"] != first["deviceId"]


def test_a_persona_asking_for_webauthn_gets_a_clear_error(prove_emulator, unify_page):
    page = unify_page()
    page.visit(WEBAUTHN)
    rejected = page.app.wait_for("rejected")
    assert rejected["code"] == 10001 and "WebAuthn" in rejected["message"] and "not emulated" in rejected["message"]
    flow_id = page.correlation_id()
    assert calls(prove_emulator, flow_id) == ["device/fido2/start"]
    assert page.app.events("finish") == []
    assert unify_status(prove_emulator, flow_id) == {"success": "false", "phoneNumber": WEBAUTHN}


# -- Mobile Auth ------------------------------------------------------------------------------------------


def test_mobile_auth_success(prove_emulator, unify_page):
    page = unify_page()
    page.visit(INGE)
    status = page.outcome()
    flow_id = page.correlation_id()
    assert status["success"] == "true" and status["deviceId"] and status["phoneNumber"] == INGE
    assert status == unify_status(prove_emulator, flow_id)
    assert calls(prove_emulator, flow_id) == ["mobile/instant/start", "mobile/instant/finish"]
    assert page.app.events("otp-prompt") == [] and prove_emulator.sms(INGE) == []


def test_mobile_auth_failure_falls_back_to_otp(prove_emulator, unify_page):
    page = unify_page()
    page.visit(MOBILE_AUTH_FALLBACK)
    page.enter_otp()
    status = page.outcome()
    flow_id = page.correlation_id()
    assert status["success"] == "true" and status == unify_status(prove_emulator, flow_id)
    # The fallback is finish's error with next mobile/otp: the SDK reports nothing to /error.
    assert calls(prove_emulator, flow_id) == ["mobile/instant/start", "mobile/instant/finish",
                                              "mobile/otp/start", "mobile/otp/finish"]
    assert len(prove_emulator.sms(MOBILE_AUTH_FALLBACK)) == 1


def test_mobile_auth_failure_without_fallback_ends_the_flow(prove_emulator, unify_page):
    page = unify_page()
    page.visit(MOBILE_AUTH_FAILS)
    status = page.outcome()  # the soft form: AuthFinishStep runs, the backend reads the failure
    flow_id = page.correlation_id()
    assert status == {"success": "false", "phoneNumber": MOBILE_AUTH_FAILS} == unify_status(prove_emulator, flow_id)
    assert calls(prove_emulator, flow_id) == ["mobile/instant/start", "mobile/instant/finish"]
    assert page.app.events("otp-prompt") == [] and prove_emulator.sms(MOBILE_AUTH_FAILS) == []


# -- desktop ----------------------------------------------------------------------------------------------


def test_desktop_unify_runs_instant_link_and_binds_no_key(prove_emulator, unify_page, new_page):
    page = unify_page(mobile=False)
    page.visit(LORANT, possession="desktop")
    page.app.wait_for("unify")
    phone = new_page(mobile=True)
    phone.page.goto(prove_emulator.latest_link(LORANT))
    status = page.outcome()
    flow_id = page.correlation_id()
    assert set(status) == {"success", "phoneNumber", "proveId"} and status["success"] == "true"
    assert status == unify_status(prove_emulator, flow_id)
    assert page.device_id() is None  # the Prove Key is mobile-only
