"""How soon the web UI's first page is usable: the phone page showing its numbers, codes and buttons.

    python bench/ui_first_page.py [--rounds 15]

Starts the emulator as a separate process (`python -m emulator --port 0`) with a few SMS in its
outbox, opens http://.../__emulator/ui#phone in Debian's headless Chromium (/usr/bin/chromium), and
prints the median over the rounds of the time from navigation start to the page being usable: drawn
with the outbox's messages (the page marks it: `window.__ui.loaded.phone`), and to its event stream
being open (`window.__ui.live`), so that what arrives next is pushed. Two ways of opening it:

- cold: each round in a fresh browser context (empty cache, a new renderer process);
- warm: each round a new tab of the same context, as in a browser that is already running.

For scale it also prints Chromium's first paint of the smallest page the emulator serves (an unknown
Instant Link's HTML), cold: what the browser itself costs on this machine.

Playwright's own waiting would run its injected script inside the page while it loads, so each round
sleeps and reads the page's figures once it is done.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import httpx
from playwright.sync_api import Browser, BrowserContext, sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import FORM, start  # noqa: E402  (bench/run.py: the emulator in its own process)

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
NUMBERS = ("2025550100", "2025550109", "2025550101")


def fill_outbox(base_url: str) -> None:
    """A phone page with something on it: an OTP and an Instant Link for each of three numbers."""
    with httpx.Client(base_url=base_url) as client:
        token = client.post("/token", data=FORM).json()["access_token"]
        for number in NUMBERS:
            for possession in ("mobile", "desktop"):
                flow = client.post("/v3/verify", headers={"Authorization": f"Bearer {token}"}, json={
                    "firstName": "Casey", "lastName": "Client", "phoneNumber": number, "possessionType": possession,
                    "finalTargetUrl": "https://app.example.com/done"}).json()
                client.post(f"/__emulator/flows/{flow['correlationId']}/customer", json={"action": "start"})


def read_when_done(page, expression: str) -> object:
    deadline = time.monotonic() + 10
    while True:
        time.sleep(0.3)
        value = page.evaluate(expression)
        if value:
            return value
        if time.monotonic() > deadline:
            raise SystemExit(f"the page never got {expression!r}")


def open_phone_page(context: BrowserContext, base_url: str) -> dict:
    page = context.new_page()
    page.goto(f"{base_url}/__emulator/ui#phone", wait_until="commit")
    timings = read_when_done(page, "window.__ui && window.__ui.live && window.__ui.loaded.phone ? window.__ui : null")
    assert page.locator(".sms").count() == 2  # the newest number's OTP and Instant Link
    page.close()
    return {"usable": timings["loaded"]["phone"], "live": timings["live"]}


def first_paint(browser: Browser, base_url: str) -> float:
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{base_url}/__emulator/link/none", wait_until="commit")
    paint = read_when_done(page, "performance.getEntriesByName('first-contentful-paint')[0]?.startTime")
    context.close()
    return float(paint)  # type: ignore[arg-type]


def line(name: str, values: list[float]) -> str:
    return f"{name}: median {statistics.median(values):.0f}  min {min(values):.0f}  max {max(values):.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    process, base_url, _ = start()
    figures: dict[str, list[float]] = {"cold usable": [], "cold live": [], "warm usable": [], "warm live": [],
                                       "floor": []}
    try:
        fill_outbox(base_url)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            warm = browser.new_context()
            for round_ in range(args.rounds + 1):  # round 0 warms Chromium up and is not counted
                context = browser.new_context()
                cold = open_phone_page(context, base_url)
                context.close()
                again = open_phone_page(warm, base_url)
                paint = first_paint(browser, base_url)
                if round_:
                    for kind, measured in (("cold", cold), ("warm", again)):
                        figures[f"{kind} usable"].append(measured["usable"])
                        figures[f"{kind} live"].append(measured["live"])
                    figures["floor"].append(paint)
            browser.close()
    finally:
        process.terminate()
        process.wait(timeout=10)
    print(f"web UI, phone page, {args.rounds} rounds, ms from navigation start:")
    print("  " + line("cold (fresh context), usable", figures["cold usable"]))
    print("  " + line("cold (fresh context), live  ", figures["cold live"]))
    print("  " + line("warm (new tab), usable      ", figures["warm usable"]))
    print("  " + line("warm (new tab), live        ", figures["warm live"]))
    print("  " + line("for scale, Chromium's cold first paint of a one-line page", figures["floor"]))


if __name__ == "__main__":
    main()
