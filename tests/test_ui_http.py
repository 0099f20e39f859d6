"""The web UI's server side, without a browser: the change feed, the event stream, the UI's files,
`/` sending browsers there, who may fetch what, and resending a webhook delivery.

The browser tests (tests/browser/test_ui.py) drive the page itself.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import httpx
import jwt
import pytest

import emulator
from emulator.access import ADMIN_TOKEN_HEADER, AccessPolicy, Surface, surface_of
from emulator.changes import ChangeFeed, FeedClosed, TooManySubscribers
from emulator.http import events as events_module
from emulator.http.ui import ASSETS, STATIC
from emulator.server import BackgroundServer
from emulator.service import Emulator
from emulator.webhooks import EVENT_TYPES
from tests.prove_calls import refused
from tests.webhook_receiver import WebhookReceiver

ADMIN_TOKEN = "ui-admin-token"
SECRET = "whsec_ui-test-secret-0123456789abcdefghijkl"
READ_TIMEOUT = 5.0


# -- reading the stream --------------------------------------------------------------------------------


class Stream:
    """An open GET /__emulator/events, read one event at a time (a read times out after READ_TIMEOUT)."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.lines = response.iter_lines()
        self.comments: list[str] = []

    def next(self) -> tuple[str, Any] | None:
        """(event name, parsed data), or None once the stream has ended."""
        name, data = "message", ""
        for line in self.lines:
            if line == "":
                if data or name != "message":
                    return name, json.loads(data) if data else None
                continue
            if line.startswith(":"):
                self.comments.append(line)
            elif line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data += line[5:].strip()
        return None

    def until(self, wanted: str) -> Any:
        """The data of the next `wanted` event (others before it are skipped)."""
        while True:
            event = self.next()
            assert event is not None, f"the stream ended before a {wanted!r} event"
            if event[0] == wanted:
                return event[1]


@pytest.fixture
def open_stream(prove_emulator_server) -> Iterator:
    """open_stream(base_url=the session's emulator, token=None): an event stream, closed after the test."""
    clients: list[httpx.Client] = []
    contexts: list[Any] = []

    def open_stream(base_url: str = prove_emulator_server.base_url, token: str | None = None) -> Stream:
        client = httpx.Client(timeout=httpx.Timeout(READ_TIMEOUT))
        clients.append(client)
        headers = {ADMIN_TOKEN_HEADER: token} if token else {}
        context = client.stream("GET", base_url + "/__emulator/events", headers=headers)
        contexts.append(context)
        response = context.__enter__()
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
        assert response.headers["cache-control"] == "no-cache"
        return Stream(response)

    yield open_stream
    for context in contexts:
        try:
            context.__exit__(None, None, None)
        except httpx.HTTPError:
            pass
    for client in clients:
        client.close()


@pytest.fixture
def serve() -> Iterator:
    """serve(**policy): another emulator with that access policy, stopped after the test."""
    servers: list[BackgroundServer] = []

    def serve(**policy: Any) -> BackgroundServer:
        servers.append(BackgroundServer(Emulator(), access=AccessPolicy(**policy)).start())
        return servers[-1]

    yield serve
    for server in servers:
        server.stop()


def wait_until(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


# -- the change feed ------------------------------------------------------------------------------------


def test_a_burst_of_changes_wakes_a_subscriber_once_with_each_topic_named():
    async def scenario() -> tuple[list[str], list[str], dict[str, int]]:
        feed = ChangeFeed()
        with feed.subscribe() as subscription:
            for _ in range(1000):
                feed.changed("sms")
            feed.notifier("clock")()
            first = await subscription.next(timeout=1)
            nothing = await subscription.next(timeout=0.05)  # nothing since: a timeout, not the same again
            return first, nothing, subscription.seen

    first, nothing, seen = asyncio.run(scenario())
    assert sorted(first) == ["clock", "sms"] and nothing == []
    assert seen == {"sms": 1000, "flows": 0, "webhooks": 0, "clock": 1}


def test_a_waiting_subscriber_wakes_on_a_change_and_on_close():
    async def scenario() -> tuple[list[str], bool]:
        feed = ChangeFeed()
        with feed.subscribe() as subscription:
            asyncio.get_running_loop().call_later(0.05, feed.changed, "flows")
            woke = await subscription.next(timeout=5)
            asyncio.get_running_loop().call_later(0.05, feed.close)
            try:
                await subscription.next(timeout=5)
            except FeedClosed:
                return woke, True
            return woke, False

    assert asyncio.run(scenario()) == (["flows"], True)


def test_a_change_from_another_thread_wakes_the_loop():
    async def scenario() -> list[str]:
        feed = ChangeFeed()
        with feed.subscribe() as subscription:
            threading.Timer(0.05, feed.changed, ("webhooks",)).start()
            return await subscription.next(timeout=5)

    started = time.monotonic()
    assert asyncio.run(scenario()) == ["webhooks"]
    assert time.monotonic() - started < 4  # woken, not timed out


def test_subscriptions_are_bounded_and_dropped_when_closed():
    async def scenario() -> None:
        feed = ChangeFeed(max_subscribers=2)
        with feed.subscribe(), feed.subscribe():
            with pytest.raises(TooManySubscribers):
                feed.subscribe()
            assert feed.subscribers == 2
        assert feed.subscribers == 0
        feed.close()
        with pytest.raises(FeedClosed):
            feed.subscribe()

    asyncio.run(scenario())
    with pytest.raises(ValueError, match="unknown topic"):
        ChangeFeed().notifier("nonsense")


def test_the_change_feed_imports_nothing_above_it():
    source = Path(emulator.__file__).with_name("changes.py").read_text()
    assert re.findall(r"^(?:from|import) (\S+)", source, re.M) == ["__future__", "asyncio", "functools", "typing"]


# -- the event stream ------------------------------------------------------------------------------------


def test_an_sms_sent_is_an_sms_event(emu, open_stream):
    stream = open_stream()
    ready = stream.until("ready")
    assert set(ready["versions"]) == {"sms", "flows", "webhooks", "clock"}
    flow = emu.verify("2025550100")
    assert stream.until("flows")["version"] > ready["versions"]["flows"]  # the flow was created
    reply = emu.http.post(f"/__emulator/flows/{flow['correlationId']}/customer", json={"action": "start"})
    assert reply.status_code == 200, reply.text
    assert stream.until("sms") == {"topic": "sms", "version": ready["versions"]["sms"] + 1}


def test_the_clock_and_webhook_deliveries_are_events(emu, open_stream):
    stream = open_stream()
    stream.until("ready")
    emu.advance(60)
    assert stream.until("clock")["topic"] == "clock"
    with WebhookReceiver() as receiver:
        emu.http.put(f"/__emulator/projects/{emu.client_id}/webhook", json={"url": receiver.url})
        assert emu.http.post(f"/__emulator/projects/{emu.client_id}/webhook/test").status_code == 200
        assert stream.until("webhooks")["topic"] == "webhooks"


def test_a_timeline_entry_is_a_flows_event(emu, open_stream):
    flow = emu.verify("2025550100")
    stream = open_stream()
    stream.until("ready")
    emu.status(flow["correlationId"])  # verify-status records an entry; nothing is created or removed
    assert stream.until("flows")["topic"] == "flows"


def test_an_idle_stream_sends_heartbeat_comments(emu, open_stream, monkeypatch):
    monkeypatch.setattr(events_module, "HEARTBEAT_SECONDS", 0.1)
    stream = open_stream()
    stream.until("ready")
    time.sleep(0.35)
    emu.advance(1)  # the event after the heartbeats shows they did not end the stream
    stream.until("clock")
    assert ": heartbeat" in stream.comments


def test_a_reader_that_leaves_is_forgotten(prove_emulator_server, open_stream):
    feed = prove_emulator_server.emulator.changes
    # An earlier test's stream is dropped when the server notices its reader left: let that settle first.
    wait_until(lambda: feed.subscribers == 0)
    before = feed.subscribers
    stream = open_stream()
    stream.until("ready")
    assert feed.subscribers == before + 1
    stream.response.close()
    wait_until(lambda: feed.subscribers == before)


def test_the_stream_ends_at_once_when_the_emulator_stops(serve, open_stream):
    server = serve()
    stream = open_stream(server.base_url)
    stream.until("ready")
    seen: list[Any] = []
    reader = threading.Thread(target=lambda: seen.extend(iter(stream.next, None)))
    reader.start()
    started = time.monotonic()
    server.stop()
    took = time.monotonic() - started
    reader.join(timeout=5)
    assert seen == [("shutdown", {})]  # then the stream ended, and the connection with it
    assert not reader.is_alive() and took < 2, took


def test_an_event_stream_is_refused_when_too_many_are_open(serve, open_stream):
    server = serve()
    server.emulator.changes.max_subscribers = 1
    stream = open_stream(server.base_url)
    stream.until("ready")
    reply = httpx.get(server.base_url + "/__emulator/events", timeout=READ_TIMEOUT)
    assert "at most 1 event streams" in refused(reply, 503, 8000)
    stream.response.close()


def test_the_event_stream_needs_the_admin_token(serve, open_stream):
    server = serve(admin_token=ADMIN_TOKEN)
    refused(httpx.get(server.base_url + "/__emulator/events"), 401, 8002)
    assert open_stream(server.base_url, token=ADMIN_TOKEN).until("ready")["versions"]


# -- the UI's files, and / ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path, content_type", [
    ("/__emulator/ui", "text/html; charset=utf-8"),
    ("/__emulator/ui/app.js", "text/javascript; charset=utf-8"),
    ("/__emulator/ui/app.css", "text/css; charset=utf-8"),
])
def test_the_ui_files_are_served_with_their_content_types(emu, path, content_type):
    reply = emu.http.get(path)
    assert reply.status_code == 200 and reply.headers["content-type"] == content_type
    assert reply.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in reply.headers["content-security-policy"]
    assert reply.headers["cache-control"] == "no-cache"
    again = emu.http.get(path, headers={"If-None-Match": reply.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


def test_the_page_comes_with_its_files_inlined_and_allowed_by_their_hashes_only(emu):
    reply = emu.http.get("/__emulator/ui")
    page, policy = reply.text, reply.headers["content-security-policy"]
    assert re.findall(r'(?:src|href)="([^"#]+)"', page) == ["data:,"]  # one request: nothing else to load
    for name, tag in (("app.js", "script"), ("app.css", "style")):
        text = emu.http.get(f"/__emulator/ui/{name}").text  # the same file, on its own
        [inlined] = re.findall(rf"<{tag}>(.*?)</{tag}>", page, re.S)
        assert inlined == text
        digest = base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()
        assert f"{tag}-src 'self' 'sha256-{digest}';" in policy
    assert "unsafe" not in policy and "style=" not in page and page.count("<script") == 1


@pytest.mark.parametrize("path", ["/__emulator/ui/index.html", "/__emulator/ui/../service.py", "/__emulator/ui/",
                                  "/__emulator/ui/app.js/x"])
def test_no_other_file_is_served(emu, path):
    reply = emu.http.get(path)
    assert reply.status_code == 404 and set(reply.json()) == {"code", "message"}, reply.text


def test_a_browser_asking_for_the_root_is_sent_to_the_ui(emu):
    browser = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
    reply = emu.http.get("/", headers=browser)
    assert reply.status_code == 307 and reply.headers["location"] == "/__emulator/ui"
    # Anything else keeps the 404 it had.
    assert refused(emu.http.get("/"), 404, 8001) == "no such route: /"
    assert emu.http.get("/", headers={"Accept": "application/json"}).status_code == 404
    assert emu.http.post("/", headers=browser).status_code == 404


def test_the_ui_files_are_in_the_package():
    package = Path(emulator.__file__).parent
    assert STATIC.is_relative_to(package)  # hatch ships everything under emulator/ in the wheel
    for name in ("index.html", *ASSETS):
        assert (STATIC / name).stat().st_size < 64_000, name  # small: the first page is usable at once


def test_the_ui_names_every_webhook_event_type():
    script = (STATIC / "app.js").read_text()
    listed = re.search(r"const EVENT_TYPES = \[([^\]]*)\]", script)
    assert listed and re.findall(r"'([A-Z_]+)'", listed.group(1)) == list(EVENT_TYPES)


# -- access ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path, surface", [
    ("/__emulator/ui", Surface.UI), ("/__emulator/ui/app.js", Surface.UI), ("/__emulator/ui/a/b", Surface.CONTROL),
    ("/__emulator/uix", Surface.CONTROL), ("/__emulator/events", Surface.CONTROL), ("/", Surface.API),
])
def test_the_ui_files_are_a_surface_of_their_own(path, surface):
    assert surface_of(path) is surface


def test_with_an_admin_token_the_ui_files_need_none_but_the_data_does(serve):
    server = serve(admin_token=ADMIN_TOKEN)
    for path in ("/__emulator/ui", "/__emulator/ui/app.js", "/__emulator/ui/app.css"):
        assert httpx.get(server.base_url + path).status_code == 200, path
    refused(httpx.get(server.base_url + "/__emulator/sms"), 401, 8002)
    # The Host check still applies (DNS rebinding), and the page's own origin may call the data.
    refused(httpx.get(server.base_url + "/__emulator/ui", headers={"Host": "evil.example"}), 421, 8001)
    same_origin = {"Origin": server.base_url, ADMIN_TOKEN_HEADER: ADMIN_TOKEN}
    assert httpx.get(server.base_url + "/__emulator/sms", headers=same_origin).status_code == 200
    spec = httpx.get(server.base_url + "/openapi.json").json()
    page = spec["paths"]["/__emulator/ui"]["get"]
    assert "security" not in page and "401" not in page["responses"] and "421" in page["responses"]
    assert spec["paths"]["/__emulator/events"]["get"]["security"] == [{"adminToken": []}]


def test_the_spec_describes_the_stream_the_ui_and_the_root(emu):
    paths = emu.http.get("/openapi.json").json()["paths"]
    assert "text/event-stream" in paths["/__emulator/events"]["get"]["responses"]["200"]["content"]
    assert "text/html" in paths["/__emulator/ui"]["get"]["responses"]["200"]["content"]
    assert paths["/__emulator/ui/{asset}"]["get"]["parameters"][0]["schema"] == {"enum": ["app.js", "app.css"]}
    assert "307" in paths["/"]["get"]["responses"]


# -- webhook deliveries: signatures and resending --------------------------------------------------------------


def enrol(emu, phone: str = "2025550101") -> str:
    reply = emu.post("/v3/verify", {"firstName": "Casey", "lastName": "Client", "phoneNumber": phone,
                                    "possessionType": "none"})
    assert reply.status_code == 200, reply.text
    return emu.status(reply.json()["correlationId"])["identityId"]


def deliveries(emu) -> list[dict[str, Any]]:
    reply = emu.http.get("/__emulator/webhooks/deliveries", params={"wait": 5})
    assert reply.status_code == 200, reply.text
    return reply.json()["deliveries"]


def test_a_delivery_is_resent_with_the_same_payload_and_its_own_signed_attempts(emu):
    with WebhookReceiver() as receiver:
        emu.http.put(f"/__emulator/projects/{emu.client_id}/webhook", json={"url": receiver.url, "secret": SECRET})
        identity = enrol(emu)
        first = emu.http.post(f"/__emulator/identities/{identity}/events", json={"eventType": "PORT"}).json()
        receiver.wait_for(1)
        reply = emu.http.post(f"/__emulator/webhooks/deliveries/{first['id']}/resend")
        assert reply.status_code == 200, reply.text
        resent = reply.json()
        assert resent["id"] != first["id"] and resent["resentFrom"] == first["id"]
        received = receiver.wait_for(2)
        logged = {delivery["id"]: delivery for delivery in deliveries(emu)}
    assert received[0].json() == received[1].json() == first["payload"]  # the same events, eventIds included
    for request, delivery_id in zip(received, (first["id"], resent["id"])):
        [attempt] = logged[delivery_id]["attempts"]
        assert logged[delivery_id]["status"] == "delivered"
        # The attempt shows the signature it sent, which a receiver verifies with the secret.
        assert request.headers["x-prove-authorization"] == f"Bearer {attempt['signature']}"
        assert jwt.decode(attempt["signature"], SECRET, algorithms=["HS256"], issuer="Prove Identity")["sub"] == emu.client_id


def test_resending_without_a_webhook_is_suppressed_and_an_unknown_delivery_is_404(emu):
    with WebhookReceiver() as receiver:
        emu.http.put(f"/__emulator/projects/{emu.client_id}/webhook", json={"url": receiver.url})
        sample = emu.http.post(f"/__emulator/projects/{emu.client_id}/webhook/test").json()
    emu.http.delete(f"/__emulator/projects/{emu.client_id}/webhook")
    resent = emu.http.post(f"/__emulator/webhooks/deliveries/{sample['id']}/resend").json()
    assert resent["status"] == "suppressed" and resent["reason"] == "the project has no webhook configured"
    assert resent["test"] is True and resent["payload"] == sample["payload"]
    assert "no delivery with id 'dlv_nope'" in refused(emu.http.post("/__emulator/webhooks/deliveries/dlv_nope/resend"),
                                                        404, 8001)
