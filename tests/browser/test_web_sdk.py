"""The official Web SDK (@prove-identity/prove-auth 3.6.2) in headless Chromium, through the
example app (examples/webapp), against the emulator: every Verified Users outcome end to end.

Each test checks what the page saw (AuthFinishStep called with the flow's authId, or
authenticate() rejected with a code) and what /v3/verify-status then reports, both as the app's
backend read it and as the emulator answers now.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.app_page import AppPage

pytestmark = pytest.mark.browser

SUCCEEDED = {"success": "true", "possessionResult": "success", "verifyResult": "success"}
FAILED = {"success": "false", "possessionResult": "failed", "verifyResult": "not_applicable"}


def correlation_id(app: AppPage) -> str:
    return app.wait_for("verify")["correlationId"]


def verify_status(prove_emulator, flow_id: str, access_token: str | None = None) -> dict[str, Any]:
    """What the emulator reports now (access_token: for a project other than the default one)."""
    reply = prove_emulator.call("/v3/verify-status", {"correlationId": flow_id}, token=access_token)
    assert reply.status_code == 200, reply.text
    return {key: value for key, value in reply.json().items() if key != "identityId"}


def assert_finished(prove_emulator, page: AppPage, flow_id: str, expected: dict[str, str],
                    access_token: str | None = None, error_reports: int = 0) -> None:
    """AuthFinishStep ran once, with the flow's authId; the app's backend then read `expected`; the
    SDK reported `error_reports` failures to /v1/client/.../error (none, unless the user cancelled)."""
    status = page.wait_for("status")["status"]
    assert [event["authId"] for event in page.events("finish")] == [prove_emulator.flow(flow_id)["authId"]]
    assert page.events("rejected") == []
    assert {key: value for key, value in status.items() if key != "identityId"} == expected
    assert ("identityId" in status) == (expected["success"] == "true")
    assert verify_status(prove_emulator, flow_id, access_token) == expected
    reports = [entry for entry in prove_emulator.requests() if entry["path"].endswith("/error")]
    assert len(reports) == error_reports, reports


def assert_rejected(prove_emulator, page: AppPage, flow_id: str, code: int | None,
                    expected: dict[str, str]) -> str:
    """authenticate() rejected with `code`, AuthFinishStep never ran, the status is `expected`.
    Returns the rejection's message."""
    rejected = page.wait_for("rejected")
    status = page.wait_for("status")["status"]
    assert rejected["code"] == code, rejected
    assert page.events("finish") == []
    assert status == expected
    assert verify_status(prove_emulator, flow_id) == expected
    return rejected["message"]


def open_link_in_new_tab(page: AppPage, link: str) -> AppPage:
    """The customer taps the SMS link on the phone that runs the page (same browser, same cookies)."""
    tab = AppPage(page.page.context.new_page())
    tab.page.goto(link)
    return tab


# -- OTP (a phone: the default role, withOtpFallback) -------------------------------------------------------


def test_otp_success(prove_emulator, open_page):
    app = open_page(mobile=True)
    app.start("2025550100")
    app.wait_for("otp-prompt")
    # The page points to the emulator's phone page for this number (tests/browser/test_ui.py reads codes there).
    phone_page = app.page.get_attribute("#otp-step .phone-hint a", "href")
    assert phone_page == f"{prove_emulator.base_url}/__emulator/ui#phone/2025550100"
    outbox = prove_emulator.sms("2025550100")
    assert [sms["otp"] for sms in outbox] == ["1234"]
    app.enter_otp(outbox[0]["otp"])
    assert_finished(prove_emulator, app, correlation_id(app), SUCCEEDED)
    assert app.events("start") == [{"type": "start", "method": "otp"}]  # chosen by the user agent
    assert app.events("otp-start")[0]["phoneNumberNeeded"] is False  # the backend gave the number
    app.wait_for("resolved")


def test_wrong_otp_then_right_with_allow_otp_retry(prove_emulator, open_page):
    app = open_page(mobile=True)
    app.start("2025550100", allow_otp_retry=True)
    app.enter_otp("0000")
    error = app.wait_for("otp-prompt", 2)["error"]
    assert error["code"] == 10001 and "3 attempts left" in error["message"]
    app.enter_otp("1234", prompt=2)
    assert_finished(prove_emulator, app, correlation_id(app), SUCCEEDED)


def test_otp_retries_exhausted(prove_emulator, open_page):
    app = open_page(mobile=True)
    app.start("2025550100", allow_otp_retry=True)
    for prompt in range(1, 5):
        app.enter_otp("0000", prompt)
    # The soft terminal reply: AuthFinishStep runs, the backend learns the failure.
    assert_finished(prove_emulator, app, correlation_id(app), FAILED)
    assert [event["error"] and event["error"]["code"] for event in app.events("otp-prompt")] == [
        None, 10001, 10001, 10001]


def test_otp_resend(prove_emulator, open_page):
    app = open_page(mobile=True)
    app.start("2025550109")  # random codes
    app.wait_for("otp-prompt")
    first = prove_emulator.latest_sms("2025550109")
    app.page.click("#otp-resend")
    assert app.wait_for("otp-prompt", 2)["error"] is None
    second = prove_emulator.latest_sms("2025550109", after=first["id"])
    assert second["otp"] != first["otp"]
    app.enter_otp(second["otp"], prompt=2)
    assert_finished(prove_emulator, app, correlation_id(app), SUCCEEDED)


def test_otp_resend_keeps_the_sandbox_code(prove_emulator, open_page):
    # Issue 9: the customer asks for a new code and types 1234, as in Prove's sandbox.
    app = open_page(mobile=True)
    app.start("2025550100")
    app.wait_for("otp-prompt")
    first = prove_emulator.latest_sms("2025550100")
    app.page.click("#otp-resend")
    assert app.wait_for("otp-prompt", 2)["error"] is None
    assert prove_emulator.latest_sms("2025550100", after=first["id"])["otp"] == "1234"
    app.enter_otp("1234", prompt=2)
    assert_finished(prove_emulator, app, correlation_id(app), SUCCEEDED)


def test_phone_number_change(prove_emulator, open_page):
    app = open_page(mobile=True)
    app.start("2025550100")
    app.wait_for("otp-prompt")
    app.page.click("#otp-change")
    assert app.wait_for("otp-start", 2)["phoneNumberNeeded"] is True
    app.enter_phone("12345")
    refused = app.wait_for("otp-start", 3)["error"]  # the server's data reply: a PhoneValidationError
    assert refused["code"] == 10001 and "must be a phone number" in refused["message"]
    app.enter_phone("5551234567")
    app.enter_otp(prove_emulator.latest_otp("5551234567"), prompt=2)
    flow_id = correlation_id(app)
    assert_finished(prove_emulator, app, flow_id, SUCCEEDED)
    assert prove_emulator.flow(flow_id)["phoneNumber"] == "5551234567"


def test_otp_expired(prove_emulator, open_page):
    prove_emulator.freeze()
    app = open_page(mobile=True)
    app.start("2025550100")
    app.wait_for("otp-prompt")
    prove_emulator.advance(120)
    app.enter_otp("1234")
    assert_finished(prove_emulator, app, correlation_id(app), FAILED)


def test_user_cancels_the_otp(prove_emulator, open_page):
    app = open_page(mobile=True)
    app.start("2025550100")
    app.wait_for("otp-prompt")
    app.page.click("#otp-cancel")
    # The SDK reports the cancel to /mobile/otp/error, whose next "done" runs AuthFinishStep.
    assert_finished(prove_emulator, app, correlation_id(app), FAILED, error_reports=1)
    [report] = prove_emulator.requests(path="/v1/client/mobile/otp/error")
    assert "user cancelled otp" in report["requestBody"]


def test_hard_terminal_reply_rejects_authenticate(prove_emulator, open_page):
    app = open_page(mobile=True)
    app.start("2025550108")
    app.enter_otp("0000")
    message = assert_rejected(prove_emulator, app, correlation_id(app), 10001, FAILED)
    assert "incorrect" in message


def test_sdk_start_failing_with_http_503_rejects_authenticate(prove_emulator, open_page):
    app = open_page(mobile=True)
    app.start("2025550112")
    message = assert_rejected(prove_emulator, app, correlation_id(app), None,
                              {"success": "pending", "possessionResult": "pending", "verifyResult": "pending"})
    assert "503" in message


# -- Instant Link (a computer: the secondary role, withInstantLinkFallback) ------------------------------------


def test_instant_link_on_a_computer(prove_emulator, open_page, new_page):
    app = open_page()
    app.start("2025550100")
    app.wait_for("link-start")
    phone = new_page(mobile=True)  # another device: its own browser
    phone.page.goto(prove_emulator.latest_link("2025550100"))
    phone.wait_for("landed")  # the finalTargetUrl, without authId: the computer finishes
    assert_finished(prove_emulator, app, correlation_id(app), SUCCEEDED)
    assert app.events("start") == [{"type": "start", "method": "instant-link"}]
    assert phone.events("finish") == []


def test_instant_link_keep_alive(prove_emulator, new_page, webapp):
    """The SDK pings every 30 s and fails at the next tick if no text pong came (§7.3). The page's
    clock is moved, not waited for."""
    app = new_page()
    # The page's sockets, to see one open: Playwright reports a WebSocket when it is created, and a
    # ping the SDK sends while it is still connecting throws.
    app.page.add_init_script("""window.__sockets = []; window.WebSocket = new Proxy(window.WebSocket, {
        construct(Native, args) { const socket = new Native(...args); window.__sockets.push(socket); return socket; }})""")
    app.page.clock.install()
    app.open(webapp.base_url + "/")
    with app.page.expect_websocket() as opened:
        app.start("2025550100")
    app.wait_for("link-start")
    app.page.wait_for_function("() => window.__sockets.some((s) => s.readyState === 1)", polling=50)
    for _ in range(3):  # the ticks at 60 s and 90 s would report a stall had a pong been missing
        with opened.value.expect_event("framereceived", lambda payload: payload == "pong", timeout=5_000):
            app.page.clock.run_for(30_000)
    assert prove_emulator.click(prove_emulator.latest_link("2025550100")).status_code == 302
    assert_finished(prove_emulator, app, correlation_id(app), SUCCEEDED)


def test_instant_link_expired(prove_emulator, open_page):
    prove_emulator.freeze()
    app = open_page()
    app.start("2025550100")
    app.wait_for("link-start")
    link = prove_emulator.latest_link("2025550100")
    prove_emulator.advance(180)
    # The socket gets the soft error status: AuthFinishStep runs and the backend reads "failed".
    assert_finished(prove_emulator, app, correlation_id(app), FAILED)
    assert prove_emulator.click(link).status_code == 410


def test_instant_link_possession_failed(prove_emulator, open_page):
    app = open_page()
    app.start("2025550106")
    app.wait_for("link-start")
    assert prove_emulator.click(prove_emulator.latest_link("2025550106")).status_code == 302
    assert_finished(prove_emulator, app, correlation_id(app), FAILED)


def test_user_cancels_the_instant_link(prove_emulator, open_page):
    app = open_page()
    app.start("2025550100")
    app.wait_for("link-start")
    # cancel() closes the socket; the SDK reports that to /mobile/instantlink/error (§7.5).
    with app.page.expect_request_finished(lambda request: request.url.endswith("/mobile/instantlink/error")):
        app.page.click("#link-cancel")
    app.wait_for("resolved")
    assert app.events("finish") == []  # the SDK called AuthFinishStep anyway; the app ignored it
    assert len(app.events("finish-after-cancel")) == 1
    assert verify_status(prove_emulator, correlation_id(app)) == FAILED


def test_instant_link_on_a_phone_finishes_on_the_landing_page(prove_emulator, open_page):
    app = open_page(mobile=True)
    app.start("2025550100", method="instant-link")
    app.wait_for("resolved")  # the tab's authenticate() ends quietly: no socket on a phone
    assert app.events("finish") == []
    landing = open_link_in_new_tab(app, prove_emulator.latest_link("2025550100"))
    assert_finished(prove_emulator, landing, correlation_id(app), SUCCEEDED)
    assert "asc=true" in landing.page.url
    landing.wait_for("resolved")


def test_instant_link_resend_with_a_retry_step(prove_emulator, open_page, start_webapp):
    prove_emulator.put_project("with-retry", clientSecret="retry-secret", instantLinkStartReply="empty")
    app = open_page(app=start_webapp("with-retry", "retry-secret", instant_link_retry=True))
    app.start("2025550100")
    app.wait_for("link-retry")
    first = prove_emulator.latest_sms("2025550100")
    app.page.click("#link-resend")
    app.wait_for("link-retry", 2)
    second = prove_emulator.latest_sms("2025550100", after=first["id"])
    assert prove_emulator.click(first["link"]).status_code == 410  # replaced
    assert prove_emulator.click(second["link"]).status_code == 302
    access_token = prove_emulator.access_token("with-retry", "retry-secret")
    assert_finished(prove_emulator, app, correlation_id(app), SUCCEEDED, access_token)
