"""Browser fixtures: Debian's headless Chromium (never a downloaded one), the example app pointed
at the session's emulator, and a fresh browser context per test (the SDK keeps state in IndexedDB
and localStorage, web-sdk-protocol §2.4)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, sync_playwright

from emulator.projects import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from examples.webapp.app import DEFAULT_NODE_MODULES, SDK_BUNDLE, create_app
from examples.webapp.prove import ProveClient
from emulator.server import ThreadedServer
from tests.browser.app_page import AppPage

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--disable-quic"]
# The SDK decides desktop vs mobile by the user agent alone (web-sdk-protocol §1).
MOBILE_USER_AGENT = ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
                     "Chrome/156.0.0.0 Mobile Safari/537.36")

NewPage = Callable[..., AppPage]
OpenPage = Callable[..., AppPage]
StartWebapp = Callable[..., ThreadedServer]


# Package scope: Playwright's sync API keeps an event loop running on this thread, so it must stop
# before the rest of the suite (asyncio.run() refuses to start inside a running loop).
@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM}")
    if not (DEFAULT_NODE_MODULES / SDK_BUNDLE).exists():
        pytest.skip("the Web SDK is not installed: run 'npm install' at the repository root")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS)
        yield browser
        browser.close()


def _webapp(emulator_url: str, client_id: str = DEFAULT_CLIENT_ID, client_secret: str = DEFAULT_CLIENT_SECRET,
            instant_link_retry: bool = False) -> ThreadedServer:
    """The example app, as `python -m examples.webapp` runs it against the emulator."""
    prove = ProveClient(emulator_url, client_id, client_secret)
    app = create_app(prove, DEFAULT_NODE_MODULES / SDK_BUNDLE, instant_link_retry=instant_link_retry,
                     phone_page=f"{emulator_url}/__emulator/ui#phone")
    return ThreadedServer(app).start()


@pytest.fixture(scope="session")
def webapp(prove_emulator_server) -> Iterator[ThreadedServer]:
    """The example app with the default project's credentials."""
    app = _webapp(prove_emulator_server.base_url)
    yield app
    app.stop()


@pytest.fixture
def start_webapp(prove_emulator_server) -> Iterator[StartWebapp]:
    """start_webapp(client_id, client_secret, instant_link_retry=False): another instance of the app,
    stopped after the test."""
    started: list[ThreadedServer] = []

    def start_webapp(client_id: str, client_secret: str, instant_link_retry: bool = False) -> ThreadedServer:
        started.append(_webapp(prove_emulator_server.base_url, client_id, client_secret, instant_link_retry))
        return started[-1]

    yield start_webapp
    for app in started:
        app.stop()


@pytest.fixture
def new_page(browser: Browser) -> Iterator[NewPage]:
    """new_page(mobile=False): a page in a fresh browser context, closed after the test."""
    contexts: list[BrowserContext] = []

    def new_page(mobile: bool = False) -> AppPage:
        context = browser.new_context(user_agent=MOBILE_USER_AGENT if mobile else None)
        contexts.append(context)
        return AppPage(context.new_page())

    yield new_page
    for context in contexts:
        context.close()


@pytest.fixture
def open_page(new_page: NewPage, webapp: ThreadedServer) -> OpenPage:
    """open_page(mobile=False, app=webapp): the app's verification page, ready for input."""

    def open_page(mobile: bool = False, app: ThreadedServer = webapp) -> AppPage:
        return new_page(mobile).open(app.base_url + "/")

    return open_page
