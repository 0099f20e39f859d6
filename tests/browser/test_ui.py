"""The emulator's web UI (/__emulator/ui) in headless Chromium: the phone page plays the customer's
phone for the example app, the flow list follows the emulator without a reload, each page is
screenshotted (test-results/ui/), and an emulator with an admin token works once the page has it.

The server side (event stream, files, access rules) is tested without a browser in tests/test_ui_http.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest
from playwright.sync_api import Page, expect

from emulator.access import ADMIN_TOKEN_HEADER, AccessPolicy
from emulator.clock import parse_rfc3339, rfc3339
from emulator.server import BackgroundServer
from emulator.service import Emulator
from tests.browser.app_page import AppPage
from tests.browser.test_web_sdk import SUCCEEDED, assert_finished, correlation_id
from tests.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-results" / "ui"
PAGES = ("phone", "flows", "numbers", "webhooks", "clock")
WAIT_MS = 10_000
ADMIN_TOKEN = "ui-browser-admin-token"


def open_ui(tab: AppPage, base_url: str, route: str = "phone", *, live: bool = True) -> Page:
    """The UI at #route in this tab, once that page shows data (and, with `live`, its event stream is open)."""
    page = tab.page
    page.goto(f"{base_url}/__emulator/ui#{route}")
    wait_loaded(page, route.split("/")[0])
    if live:
        expect(page.locator("#live")).to_have_attribute("data-state", "live", timeout=WAIT_MS)
    return page


def wait_loaded(page: Page, name: str) -> None:
    page.wait_for_selector(f"#page-{name}[data-loaded]", state="attached", timeout=WAIT_MS)


def verify(prove_emulator, phone: str, possession: str = "mobile") -> str:
    """A backend starts a flow (no SDK involved); its correlationId."""
    body = {"firstName": "Casey", "lastName": "Client", "phoneNumber": phone, "possessionType": possession}
    if possession == "desktop":
        body["finalTargetUrl"] = "https://app.example.com/done"
    reply = prove_emulator.call("/v3/verify", body)
    assert reply.status_code == 200, reply.text
    return reply.json()["correlationId"]


def verify_status(prove_emulator, flow_id: str) -> dict[str, Any]:
    return prove_emulator.call("/v3/verify-status", {"correlationId": flow_id}).json()


# -- the phone page as the customer's phone, for the example app ----------------------------------------


def test_a_desktop_instant_link_is_tapped_on_the_phone_page(prove_emulator, open_page, new_page, webapp):
    app = open_page()  # a computer: Instant Link
    phone = open_ui(new_page(mobile=True), prove_emulator.base_url)  # the customer's phone, another device
    app.start("2025550100", method="instant-link")
    flow_id = correlation_id(app)
    tap = phone.locator(f".sms[data-correlation-id='{flow_id}'] a.tap")
    expect(tap).to_be_visible(timeout=WAIT_MS)  # pushed to the page: nobody reloaded it
    with phone.context.expect_page() as opened:
        tap.click()
    landing = AppPage(opened.value)
    landing.wait_for("landed")  # the phone's browser followed the link to finalTargetUrl
    assert landing.page.url.startswith(webapp.base_url + "/done")
    assert_finished(prove_emulator, app, flow_id, SUCCEEDED)
    expect(phone.locator(f".sms[data-correlation-id='{flow_id}'] .status")).to_have_text("possession succeeded",
                                                                                        timeout=WAIT_MS)


def test_an_otp_read_on_the_phone_page_is_typed_into_the_app(prove_emulator, open_page, new_page):
    app = open_page(mobile=True)  # a phone: OTP
    app.start("2025550109", method="otp")  # a random code per SMS: it can only be read
    app.wait_for("otp-prompt")
    # The app's hint links to the phone page, for this number.
    phone = open_ui(new_page(), prove_emulator.base_url, "phone/2025550109", live=False)
    assert phone.url == app.page.get_attribute("#otp-step .phone-hint a", "href")
    code = phone.locator(f".sms[data-correlation-id='{correlation_id(app)}'] .otp")
    expect(code).to_be_visible(timeout=WAIT_MS)
    read = code.text_content()
    assert read == prove_emulator.latest_otp("2025550109")
    app.enter_otp(read)
    assert_finished(prove_emulator, app, correlation_id(app), SUCCEEDED)


def test_the_phone_page_buttons_act_on_the_numbers_open_flow(prove_emulator, new_page):
    phone = open_ui(new_page(), prove_emulator.base_url)
    flow_id = verify(prove_emulator, "2025550100")  # no SDK: nothing sent yet, the flow waits
    expect(phone.locator("#phone-numbers a[data-phone='2025550100']")).to_be_visible(timeout=WAIT_MS)
    phone.click("#phone-numbers a[data-phone='2025550100']")
    expect(phone.locator("#phone-flow")).to_contain_text(flow_id[:8], timeout=WAIT_MS)
    phone.fill("#phone-code", "0000")
    phone.click("#phone-actions [data-action='enter-code']")  # before any SMS: the emulator refuses
    expect(phone.locator("#notice")).to_contain_text("enter-code", timeout=WAIT_MS)
    phone.click("#phone-actions [data-action='resend']")
    expect(phone.locator("#notice")).to_contain_text("resend", timeout=WAIT_MS)
    phone.click("#phone-actions [data-action='complete']")  # start (the SMS), then the right code
    expect(phone.locator(".sms .status").first).to_have_text("possession succeeded", timeout=WAIT_MS)
    expect(phone.locator("#phone-actions")).to_be_hidden()  # the flow no longer waits for its customer
    assert verify_status(prove_emulator, flow_id)["success"] == "true"
    assert phone.locator(".sms .otp").first.text_content() == "1234"


# -- the flow list, live ----------------------------------------------------------------------------------


def test_the_flow_list_updates_without_a_reload(prove_emulator, new_page):
    flows = open_ui(new_page(), prove_emulator.base_url, "flows")
    flows.evaluate("window.__sameDocument = true")
    flow_id = verify(prove_emulator, "2025550100")  # started over HTTP while the page is open
    entry = flows.locator(f"#flow-list a[data-correlation-id='{flow_id}']")
    expect(entry).to_be_visible(timeout=WAIT_MS)
    expect(entry).to_contain_text("otp waiting")
    entry.click()
    expect(flows.locator("#flow-timeline tr[data-event='verify']")).to_be_visible(timeout=WAIT_MS)
    flows.click("#flow-actions [data-action='complete']")
    expect(flows.locator("#flow-timeline tr[data-event='identity-enrolled']")).to_be_visible(timeout=WAIT_MS)
    expect(entry).to_contain_text("otp succeeded")
    expect(flows.locator("#flow-actions [data-action='complete']")).to_be_disabled()
    # A second project's flow appears in its own group.
    prove_emulator.put_project("team-ui", clientSecret="team-ui-secret")
    token = prove_emulator.access_token("team-ui", "team-ui-secret")
    other = prove_emulator.call("/v3/verify", {"firstName": "Casey", "lastName": "Client", "phoneNumber": "2025550101",
                                               "possessionType": "mobile"}, token=token).json()["correlationId"]
    expect(flows.locator(f".project:has(h3:text-is('team-ui')) a[data-correlation-id='{other}']")).to_be_visible(
        timeout=WAIT_MS)
    # A reset empties the list.
    prove_emulator.reset()
    expect(flows.locator("#flow-list a")).to_have_count(0, timeout=WAIT_MS)
    expect(flows.locator("#flow-title")).to_have_text("This flow is gone (expired or reset)")
    assert flows.evaluate("window.__sameDocument") is True


# -- the other pages, and a screenshot of each ---------------------------------------------------------------


def test_the_clock_page_freezes_and_advances_the_clock(prove_emulator, new_page):
    clock = open_ui(new_page(), prove_emulator.base_url, "clock")
    clock.click("#clock-freeze")
    expect(clock.locator("#page-clock")).to_have_attribute("data-frozen", "true", timeout=WAIT_MS)
    before = prove_emulator.clock()["now"]
    expect(clock.locator("#clock-now")).to_have_text(before)
    clock.click("#clock-presets [data-seconds='300']")
    five_minutes_later = rfc3339(parse_rfc3339(before) + 300)
    expect(clock.locator("#clock-now")).to_have_text(five_minutes_later, timeout=WAIT_MS)
    assert prove_emulator.clock() == {"now": five_minutes_later, "frozen": True, "pendingTimers": 0}
    prove_emulator.unfreeze()  # moved by someone else: the page follows
    expect(clock.locator("#page-clock")).to_have_attribute("data-frozen", "false", timeout=WAIT_MS)


def test_the_webhooks_page_triggers_and_resends(prove_emulator, new_page):
    with WebhookReceiver() as receiver:
        prove_emulator.http.put(f"/__emulator/projects/{prove_emulator.client_id}/webhook", json={"url": receiver.url})
        identity = _enrol(prove_emulator)
        hooks = open_ui(new_page(), prove_emulator.base_url, "webhooks")
        hooks.fill("#trigger-identity", identity)
        hooks.select_option("#trigger-type", "PORT")
        hooks.click("#trigger-form button[type='submit']")
        first = hooks.locator(".delivery[data-status='delivered']")
        expect(first).to_have_count(1, timeout=WAIT_MS)
        expect(first.locator(".signature code")).to_be_visible()
        first.locator("button.resend").click()
        expect(hooks.locator(".delivery[data-status='delivered']")).to_have_count(2, timeout=WAIT_MS)
        expect(hooks.locator(".delivery").first).to_contain_text("resent from")
        received = receiver.wait_for(2)
    assert received[0].json() == received[1].json()


def _enrol(prove_emulator, phone: str = "2025550101") -> str:
    flow_id = verify(prove_emulator, phone, possession="none")
    return verify_status(prove_emulator, flow_id)["identityId"]


def test_a_screenshot_of_each_page(prove_emulator, new_page):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with WebhookReceiver() as receiver:
        prove_emulator.http.put(f"/__emulator/projects/{prove_emulator.client_id}/webhook", json={"url": receiver.url})
        identity = _enrol(prove_emulator)
        prove_emulator.http.post(f"/__emulator/identities/{identity}/events", json={"eventType": "DISCONNECT"})
        receiver.wait_for(1)
    for phone, possession in (("2025550100", "mobile"), ("2025550109", "mobile"), ("2025550100", "desktop")):
        flow_id = verify(prove_emulator, phone, possession)
        prove_emulator.http.post(f"/__emulator/flows/{flow_id}/customer", json={"action": "start"})
    tab = new_page()
    shown = {"phone": ".sms", "flows": "#flow-timeline tr[data-event]", "numbers": "#numbers tbody tr",
             "webhooks": ".delivery .attempts", "clock": "#clock-now"}
    for name in PAGES:
        route = f"flows/{flow_id}" if name == "flows" else name
        page = open_ui(tab, prove_emulator.base_url, route, live=False)
        expect(page.locator(shown[name]).first).to_be_visible(timeout=WAIT_MS)
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 10_000, path
    assert tab.console == [], tab.console  # no script error, no failed load on any page


# -- with an admin token -------------------------------------------------------------------------------


@pytest.fixture
def guarded() -> Iterator[BackgroundServer]:
    """An emulator whose control plane requires ADMIN_TOKEN, with an SMS in its outbox."""
    server = BackgroundServer(Emulator(), access=AccessPolicy(admin_token=ADMIN_TOKEN)).start()
    http = httpx.Client(base_url=server.base_url, headers={ADMIN_TOKEN_HEADER: ADMIN_TOKEN})
    token = http.post("/token", data={"grant_type": "client_credentials", "client_id": "sandbox-client-id",
                                      "client_secret": "sandbox-client-secret"}).json()["access_token"]
    flow = http.post("/v3/verify", headers={"Authorization": f"Bearer {token}"}, json={
        "firstName": "Casey", "lastName": "Client", "phoneNumber": "2025550100", "possessionType": "mobile"}).json()
    assert http.post(f"/__emulator/flows/{flow['correlationId']}/customer", json={"action": "start"}).status_code == 200
    http.close()
    yield server
    server.stop()


def test_with_an_admin_token_the_page_asks_for_it_then_works(guarded, new_page):
    tab = new_page()
    page = tab.page
    page.goto(guarded.base_url + "/__emulator/ui#phone")
    expect(page.locator("#token-form")).to_be_visible(timeout=WAIT_MS)
    expect(page.locator("#live")).to_have_attribute("data-state", "token")
    page.fill("#token-input", "not-the-token")
    page.click("#token-form button[type='submit']")
    expect(page.locator("#token-error")).to_contain_text("the admin token sent is wrong", timeout=WAIT_MS)
    page.fill("#token-input", ADMIN_TOKEN)
    page.click("#token-form button[type='submit']")
    expect(page.locator("#token-form")).to_be_hidden(timeout=WAIT_MS)
    expect(page.locator("#live")).to_have_attribute("data-state", "live", timeout=WAIT_MS)  # the stream sends it too
    expect(page.locator(".sms .otp")).to_have_text("1234", timeout=WAIT_MS)
    # Kept for the tab's session: a reload needs no new prompt.
    page.reload()
    wait_loaded(page, "phone")
    assert page.locator("#token-form").is_hidden()


def test_with_an_admin_token_in_the_fragment_the_page_needs_no_prompt(guarded, new_page):
    page = new_page().page
    page.goto(f"{guarded.base_url}/__emulator/ui#phone&token={ADMIN_TOKEN}")
    wait_loaded(page, "phone")
    expect(page.locator(".sms .otp")).to_have_text("1234", timeout=WAIT_MS)
    expect(page.locator("#live")).to_have_attribute("data-state", "live", timeout=WAIT_MS)
    assert page.locator("#token-form").is_hidden()
    assert page.url == f"{guarded.base_url}/__emulator/ui#phone"  # taken out of the address bar (and history)
    assert page.evaluate("sessionStorage.getItem('prove-emulator-admin-token')") == ADMIN_TOKEN
