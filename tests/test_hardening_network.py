"""Network hardening (issue 9): webhook deadlines and URLs, over-long WebSocket upgrades, slow
clients, and a clean shutdown on SIGINT/SIGTERM.

Everything is on loopback and bounded: request deadlines are set to a second or less, and every
socket read has a timeout, so a regression fails quickly instead of hanging.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Any, Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from emulator.projects import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from emulator.server import BackgroundServer
from emulator.service import Emulator
from tests.webhook_receiver import WebhookReceiver

READY = re.compile(r"ready at (http://127\.0\.0\.1:\d+) ")
QUICK = 1.0  # the request timeout of the servers these tests start


# -- raw sockets -------------------------------------------------------------------------------------


def open_socket(base_url: str) -> socket.socket:
    parts = urlsplit(base_url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=5)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def host_header(base_url: str) -> str:
    return f"Host: {urlsplit(base_url).netloc}\r\n"


def read_until_closed(sock: socket.socket, timeout: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes; fails if it has not closed within `timeout`.
    Returns the bytes and how long the close took."""
    started = time.monotonic()
    sock.settimeout(timeout)
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except socket.timeout:
        raise AssertionError(f"the server did not close the connection within {timeout} s; got {received!r}")
    except ConnectionResetError:
        pass  # closed, with our unread bytes discarded
    return received, time.monotonic() - started


def read_reply(sock: socket.socket, timeout: float = 3.0) -> bytes:
    """One whole HTTP reply (head and Content-Length body) from a kept-alive connection."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"closed mid-reply: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def envelope(reply: bytes, status: int, code: int) -> str:
    """Assert an HTTP reply with this status and the error envelope; returns its message."""
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(f"HTTP/1.1 {status} ".encode()), reply
    assert b"content-type: application/json" in head.lower(), head
    parsed = json.loads(body)
    assert set(parsed) == {"code", "message"} and parsed["code"] == code, parsed
    return parsed["message"]


# -- servers -----------------------------------------------------------------------------------------


@pytest.fixture
def quick_server() -> Iterator[BackgroundServer]:
    """The emulator with a short request timeout (the default is 10 s)."""
    server = BackgroundServer(Emulator(), request_timeout=QUICK).start()
    yield server
    server.stop()


class TricklingReceiver:
    """A webhook receiver that answers 200 at once, then sends its 10-byte body a byte at a time."""

    def __init__(self, byte_every: float) -> None:
        self.byte_every = byte_every
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}/webhook"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except socket.timeout:
                continue
            with conn:
                conn.settimeout(2)
                try:
                    data = b""
                    while b"\r\n\r\n" not in data:
                        data += conn.recv(65536)
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nConnection: close\r\n\r\n")
                    for _ in range(10):
                        if self._stop.wait(self.byte_every):
                            return
                        conn.sendall(b"x")
                except OSError:
                    pass  # the emulator gave up on us: that is the point

    def __enter__(self) -> "TricklingReceiver":
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._listener.close()


# -- webhooks ----------------------------------------------------------------------------------------


def configure(emu, url: str, **settings: Any) -> None:
    reply = emu.http.put(f"/__emulator/projects/{DEFAULT_CLIENT_ID}/webhook", json={"url": url, **settings})
    assert reply.status_code == 200, reply.text


def deliveries(emu) -> list[dict[str, Any]]:
    reply = emu.http.get("/__emulator/webhooks/deliveries", params={"wait": 5})
    assert reply.status_code == 200, reply.text
    return reply.json()["deliveries"]


def enrol_and_trigger(emu, phone: str = "2025550101") -> None:
    verify = emu.post("/v3/verify", {"firstName": "Casey", "lastName": "Client", "phoneNumber": phone,
                                     "possessionType": "none"})
    assert verify.status_code == 200, verify.text
    status = emu.post("/v3/verify-status", {"correlationId": verify.json()["correlationId"]})
    identity_id = status.json()["identityId"]
    reply = emu.http.post(f"/__emulator/identities/{identity_id}/events", json={"eventType": "DISCONNECT"})
    assert reply.status_code == 200, reply.text


def test_a_receiver_trickling_its_reply_fails_at_the_timeout_not_after_it(emu):
    # Each byte comes sooner than the timeout, so only a deadline on the whole attempt stops it.
    with TricklingReceiver(byte_every=0.3) as receiver:
        configure(emu, receiver.url, timeoutSeconds=0.5, retrySchedule=[0])
        started = time.monotonic()
        reply = emu.http.post(f"/__emulator/projects/{DEFAULT_CLIENT_ID}/webhook/test")
        elapsed = time.monotonic() - started
    assert reply.status_code == 200, reply.text
    delivery = reply.json()
    [attempt] = delivery["attempts"]
    assert attempt["error"] == "timed out after 0.5 s" and "status" not in attempt
    assert 450 <= attempt["latencyMs"] < 1500
    assert delivery["status"] == "failed" and elapsed < 2.5


def test_each_attempt_names_the_url_it_was_sent_to(emu):
    with WebhookReceiver() as first, WebhookReceiver() as second:
        emu.freeze()
        configure(emu, first.url, retrySchedule=[0, 60])
        first.status = 500
        enrol_and_trigger(emu)
        [delivery] = deliveries(emu)
        assert [attempt["url"] for attempt in delivery["attempts"]] == [first.url]
        configure(emu, second.url, retrySchedule=[0, 60])  # the retry goes to the new URL
        emu.advance(60)
        [delivery] = deliveries(emu)
        assert delivery["status"] == "delivered"
        assert [attempt["url"] for attempt in delivery["attempts"]] == [first.url, second.url]
        assert delivery["url"] == second.url
        assert len(first.requests) == 1 and len(second.wait_for(1)) == 1


# -- WebSocket upgrades --------------------------------------------------------------------------------


def upgrade(base_url: str, target: str, extra_headers: str = "") -> bytes:
    return (f"GET {target} HTTP/1.1\r\n{host_header(base_url)}Upgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
            f"{extra_headers}\r\n").encode()


def test_an_over_long_upgrade_line_is_answered_414_and_closed(emu):
    with open_socket(emu.base_url) as sock:
        sock.sendall(upgrade(emu.base_url, "/v1/client/status?token=" + "a" * 9000))
        reply, took = read_until_closed(sock, timeout=3)
    assert "'token'" in envelope(reply, 414, 8001)
    assert took < 1


def test_upgrade_headers_too_large_are_answered_431_and_closed(emu):
    with open_socket(emu.base_url) as sock:
        sock.sendall(upgrade(emu.base_url, "/v1/client/status?token=abc", f"Cookie: {'c' * 9000}\r\n"))
        reply, took = read_until_closed(sock, timeout=3)
    assert "headers are too large" in envelope(reply, 431, 8001)
    assert took < 1


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(length=st.one_of(st.integers(0, 70_000), st.integers(8_100, 8_300)))
def test_an_upgrade_of_any_length_is_answered_and_closed_at_once(emu, length):
    with open_socket(emu.base_url) as sock:
        sock.sendall(upgrade(emu.base_url, "/v1/client/status?token=" + "a" * length))
        reply, took = read_until_closed(sock, timeout=3)
    status = int(reply.split(b" ", 2)[1])
    assert 400 <= status < 500 and took < 1, reply[:200]
    if length > 9_000:  # websockets refuses the line, or the server's bound on heads does first
        assert status == 414, reply[:200]


def test_a_short_refused_upgrade_is_still_answered(emu):
    with open_socket(emu.base_url) as sock:
        sock.sendall(upgrade(emu.base_url, "/v1/client/status?token=" + "a" * 8000))
        reply, _ = read_until_closed(sock, timeout=3)
    assert reply.startswith(b"HTTP/1.1 403 ")


# -- request heads -------------------------------------------------------------------------------------


def test_a_head_over_the_bound_is_answered_431_and_closed(emu):
    with open_socket(emu.base_url) as sock:
        sock.sendall(f"GET /__emulator/health HTTP/1.1\r\n{host_header(emu.base_url)}".encode())
        for number in range(40):  # 80 KB of headers, never the blank line that ends the head
            sock.sendall(f"X-Filler-{number}: {'f' * 2000}\r\n".encode())
        reply, _ = read_until_closed(sock, timeout=3)
    assert "head is over 64 KB" in envelope(reply, 431, 8001)


def test_a_request_line_over_the_bound_is_answered_414_and_closed(emu):
    with open_socket(emu.base_url) as sock:
        sock.sendall(b"GET /__emulator/health?" + b"q" * 70_000)
        reply, _ = read_until_closed(sock, timeout=3)
    assert "and the head over 64 KB" in envelope(reply, 414, 8001)


def test_a_head_over_the_bound_in_one_write_is_refused_too(emu):
    with open_socket(emu.base_url) as sock:
        sock.sendall(f"GET /__emulator/health HTTP/1.1\r\n{host_header(emu.base_url)}X-Big: {'b' * 150_000}\r\n\r\n"
                     .encode())
        reply, _ = read_until_closed(sock, timeout=3)
    assert "head is over 64 KB" in envelope(reply, 431, 8001)


def test_a_refusal_waits_for_the_reply_in_flight_which_goes_out_alone(emu):
    with open_socket(emu.base_url) as sock:  # a long-poll, then bytes that are not HTTP, pipelined
        sock.sendall(f"GET /__emulator/sms?wait=0.5 HTTP/1.1\r\n{host_header(emu.base_url)}\r\nHELLO THERE\r\n\r\n"
                     .encode())
        reply, _ = read_until_closed(sock, timeout=3)
    assert reply.startswith(b"HTTP/1.1 200 ") and reply.count(b"HTTP/1.1") == 1, reply


def test_a_request_that_is_not_http_gets_the_envelope(emu):
    with open_socket(emu.base_url) as sock:
        sock.sendall(b"HELLO THERE\r\n\r\n")
        reply, _ = read_until_closed(sock, timeout=3)
    assert "not valid HTTP/1.1" in envelope(reply, 400, 8001)


def test_a_large_head_within_the_bound_is_served(emu):
    with open_socket(emu.base_url) as sock:
        sock.sendall(f"GET /__emulator/health HTTP/1.1\r\n{host_header(emu.base_url)}X-Big: {'b' * 30_000}\r\n\r\n"
                     .encode())
        assert read_reply(sock).startswith(b"HTTP/1.1 200 ")


# -- slow clients --------------------------------------------------------------------------------------


def test_slow_headers_get_408_and_the_connection_closes(quick_server):
    base_url = quick_server.base_url
    sockets = [open_socket(base_url) for _ in range(20)]
    try:
        for sock in sockets:
            sock.sendall(f"GET /__emulator/health HTTP/1.1\r\n{host_header(base_url)}".encode())
        for _ in range(3):  # a header line now and then, never the blank line that ends the head
            time.sleep(0.2)
            for number, sock in enumerate(sockets):
                sock.sendall(f"X-Slow-{number}: yes\r\n".encode())
        for sock in sockets:
            reply, took = read_until_closed(sock, timeout=QUICK + 1)
            assert "did not arrive within 1 s" in envelope(reply, 408, 8001)
    finally:
        for sock in sockets:
            sock.close()


def test_an_idle_new_connection_is_closed_without_a_reply(quick_server):
    with open_socket(quick_server.base_url) as sock:
        reply, took = read_until_closed(sock, timeout=QUICK + 1)
    assert reply == b"" and took >= QUICK - 0.2


def test_a_trickled_body_gets_408_and_is_journaled(quick_server):
    base_url = quick_server.base_url
    with open_socket(base_url) as sock:
        sock.sendall(f"POST /token HTTP/1.1\r\n{host_header(base_url)}Content-Type: application/x-www-form-urlencoded"
                     "\r\nContent-Length: 200\r\n\r\ngrant_type=".encode())
        reply, took = read_until_closed(sock, timeout=QUICK + 1)
    assert "the request body did not arrive within 1 s" in envelope(reply, 408, 8001)
    journal = httpx.get(base_url + "/__emulator/requests", params={"path": "/token"}).json()
    assert [entry["status"] for entry in journal["requests"]] == [408]


def test_a_body_the_route_never_reads_cannot_hold_the_connection(quick_server):
    base_url = quick_server.base_url
    with open_socket(base_url) as sock:
        sock.sendall(f"GET /__emulator/health HTTP/1.1\r\n{host_header(base_url)}Content-Length: 100\r\n\r\n"
                     "12345".encode())
        assert read_reply(sock).startswith(b"HTTP/1.1 200 ")  # answered at once
        rest, took = read_until_closed(sock, timeout=QUICK + 1)  # then closed at the deadline
    assert rest == b""


def test_a_bare_line_break_between_requests_cannot_hold_the_connection(quick_server):
    base_url = quick_server.base_url
    with open_socket(base_url) as sock:
        sock.sendall(f"GET /__emulator/health HTTP/1.1\r\n{host_header(base_url)}\r\n".encode())
        assert read_reply(sock).startswith(b"HTTP/1.1 200 ")
        sock.sendall(b"\r\n")  # allowed before a request line (RFC 9112 §2.2), then nothing
        rest, _ = read_until_closed(sock, timeout=QUICK + 1.5)
    assert rest == b""


def test_the_deadline_runs_from_a_request_s_first_byte_not_from_idleness(quick_server):
    base_url = quick_server.base_url
    request = f"GET /__emulator/health HTTP/1.1\r\n{host_header(base_url)}\r\n".encode()
    with open_socket(base_url) as sock:
        sock.sendall(request)
        assert read_reply(sock).startswith(b"HTTP/1.1 200 ")
        time.sleep(QUICK + 0.3)  # idle on a kept-alive connection, longer than the request timeout
        sock.sendall(request)
        assert read_reply(sock).startswith(b"HTTP/1.1 200 ")


# -- the command: its option, and a clean shutdown -----------------------------------------------------------


def start_cli(*args: str) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen([sys.executable, "-m", "emulator", "--port", "0", *args], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env={**os.environ, "PROVE_EMULATOR_ADMIN_TOKEN": ""})
    match = READY.search(process.stdout.readline())
    if not match:
        process.kill()
        raise AssertionError(f"no ready line: {process.communicate(timeout=10)}")
    return process, match.group(1)


def test_a_bad_request_timeout_is_one_line():
    result = subprocess.run([sys.executable, "-m", "emulator", "--request-timeout", "nan"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert "the request timeout must be a number of seconds" in result.stderr


def test_the_request_timeout_option_reaches_the_server():
    process, base_url = start_cli("--request-timeout", "0.5")
    try:
        with open_socket(base_url) as sock:
            sock.sendall(b"GET /__emulator/health HTTP/1.1\r\n")
            reply, took = read_until_closed(sock, timeout=2)
        assert "within 0.5 s" in envelope(reply, 408, 8001)
    finally:
        process.terminate()
        process.communicate(timeout=10)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_answers_waiters_closes_websockets_and_exits_0_within_a_second(signum):
    process, base_url = start_cli()
    try:
        results: dict[str, Any] = {}

        def long_poll() -> None:
            results["sms"] = httpx.get(base_url + "/__emulator/sms", params={"phoneNumber": "2025550199", "wait": 30},
                                       timeout=10)

        poller = threading.Thread(target=long_poll)
        poller.start()
        token = httpx.post(base_url + "/token", data={"grant_type": "client_credentials", "client_id": DEFAULT_CLIENT_ID,
                                                      "client_secret": DEFAULT_CLIENT_SECRET}).json()["access_token"]
        flow = httpx.post(base_url + "/v3/verify", headers={"Authorization": f"Bearer {token}"}, json={
            "firstName": "Casey", "lastName": "Client", "phoneNumber": "2025550100", "possessionType": "desktop",
            "finalTargetUrl": "https://app.example.com/done"}).json()
        with connect(base_url.replace("http://", "ws://") + "/v1/client/status?token=" + flow["authToken"],
                     open_timeout=5, close_timeout=2) as websocket:
            time.sleep(0.2)  # the long-poll is waiting by now
            signalled = time.monotonic()
            process.send_signal(signum)
            with pytest.raises(ConnectionClosed) as closed:
                websocket.recv(timeout=3)
            status = process.wait(timeout=5)
            took = time.monotonic() - signalled
        poller.join(timeout=5)
        _, stderr = process.communicate(timeout=5)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=10)
    assert status == 0 and took < 1.0, (status, took, stderr)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
    sms = results["sms"]
    assert sms.status_code == 503 and sms.headers["content-type"] == "application/json"
    assert sms.json() == {"code": 8000, "message": "the emulator is shutting down; retry once it runs again"}
    assert stderr == "", stderr  # no traceback, not even a log line


def test_a_request_still_running_after_the_grace_period_is_answered_503():
    process, base_url = start_cli()
    try:
        token = httpx.post(base_url + "/token", data={"grant_type": "client_credentials", "client_id": DEFAULT_CLIENT_ID,
                                                      "client_secret": DEFAULT_CLIENT_SECRET}).json()["access_token"]
        results: dict[str, Any] = {}

        def slow_verify() -> None:  # 2025550111's starting call takes 2 s longer
            results["verify"] = httpx.post(base_url + "/v3/verify", headers={"Authorization": f"Bearer {token}"}, json={
                "firstName": "Casey", "lastName": "Client", "phoneNumber": "2025550111", "possessionType": "none"},
                timeout=10)

        caller = threading.Thread(target=slow_verify)
        caller.start()
        time.sleep(0.3)
        signalled = time.monotonic()
        process.send_signal(signal.SIGTERM)
        status = process.wait(timeout=5)
        took = time.monotonic() - signalled
        caller.join(timeout=5)
        _, stderr = process.communicate(timeout=5)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=10)
    assert status == 0 and took < 1.0, (status, took, stderr)
    verify = results["verify"]
    assert verify.status_code == 503 and verify.json()["code"] == 8000
    assert "Traceback" not in stderr and "CancelledError" not in stderr, stderr


def test_the_young_generation_is_collected_on_a_pace_not_only_by_the_allocation_count():
    """Under load a new flow's objects are offset by the evicted one's in CPython's count, so the young
    generation grew to tens of thousands and its collection held the loop for tens of milliseconds:
    the server collects it every YOUNG_COLLECTION_SECONDS too."""
    import gc

    from emulator import server

    scheduled: list[tuple[float, Any]] = []

    class Loop:
        def call_later(self, delay: float, callback: Any) -> None:
            scheduled.append((delay, callback))

    young: list[int] = []

    def seen(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            young.append(info["generation"])

    server.pace_young_collections(Loop())  # type: ignore[arg-type]
    assert [delay for delay, _ in scheduled] == [server.YOUNG_COLLECTION_SECONDS]
    gc.callbacks.append(seen)
    try:
        scheduled[0][1]()
    finally:
        gc.callbacks.remove(seen)
    assert young == [0]  # one young collection, not a full one
    assert [delay for delay, _ in scheduled] == [server.YOUNG_COLLECTION_SECONDS] * 2  # and the next is due
