"""The example app's page as a test drives it, and what it recorded in `window.__events`."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Error as PlaywrightError, Page

WAIT_MS = 10_000


class AppPage:
    def __init__(self, page: Page) -> None:
        self.page = page
        self.console: list[str] = []
        page.on("console", lambda message: self.console.append(f"{message.type}: {message.text}"))
        page.on("pageerror", lambda error: self.console.append(f"pageerror: {error}"))

    def open(self, url: str) -> "AppPage":
        """The verification page, ready for input."""
        self.page.goto(url)
        self.wait_for("ready")
        return self

    # -- what the customer does ------------------------------------------------------------------

    def start(self, phone: str, *, method: str = "auto", allow_otp_retry: bool = False) -> None:
        self.page.fill("#phone", phone)
        self.page.select_option("#method", method)
        self.page.set_checked("#allow-otp-retry", allow_otp_retry)
        self.page.click("#start")

    def enter_otp(self, code: str, prompt: int = 1) -> None:
        """Type a code at the `prompt`-th OTP prompt (1: the first)."""
        self.wait_for("otp-prompt", prompt)
        self.page.fill("#otp", code)
        self.page.click("#otp-submit")

    def enter_phone(self, number: str) -> None:
        self.page.fill("#new-phone", number)
        self.page.click("#phone-submit")

    # -- what the page saw ------------------------------------------------------------------------

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = self.page.evaluate("window.__events")
        return [event for event in events if kind is None or event["type"] == kind]

    def wait_for(self, kind: str, count: int = 1) -> dict[str, Any]:
        """The `count`-th event of this kind, once the page has recorded it."""
        try:
            self.page.wait_for_function(
                "([kind, count]) => (window.__events || []).filter((e) => e.type === kind).length >= count",
                arg=[kind, count], timeout=WAIT_MS)
        except PlaywrightError as error:
            raise AssertionError(f"the page never recorded {count} {kind!r} event(s); it recorded "
                                 f"{self._recorded()}\nconsole:\n" + "\n".join(self.console)) from error
        return self.events(kind)[count - 1]

    def _recorded(self) -> list[dict[str, Any]] | str:
        try:
            return self.events()
        except PlaywrightError as error:
            return f"(unreadable: {error})"
