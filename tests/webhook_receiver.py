"""A real webhook receiver for tests: a threaded http.server on a free loopback port.

It records every POST (headers, body, when it arrived) and answers as told: a status code, after a
delay, after `release()` (`hold`), or not at all until released (to hang past the emulator's timeout). `close()` shuts it down,
after which its port refuses connections, as a receiver that is down does; a new receiver can be
started on the same port (`WebhookReceiver(port=...)`) to bring it back.

    with WebhookReceiver() as receiver:
        ...  # configure the webhook with receiver.url
        receiver.status = 500
        requests = receiver.wait_for(2, timeout=5)
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HANG_LIMIT_SECONDS = 10.0  # a hanging answer gives up by itself, so no thread outlives a test for long


@dataclass(frozen=True)
class ReceivedRequest:
    path: str
    headers: dict[str, str]  # lower-cased names
    body: bytes
    received_at: float  # time.monotonic()

    def json(self) -> Any:
        return json.loads(self.body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128  # many concurrent deliveries must not overflow the listen backlog


class WebhookReceiver:
    def __init__(self, port: int = 0) -> None:
        self.status = 200
        self.delay = 0.0  # seconds before answering
        self.hold = False  # answer only after release() (or HANG_LIMIT_SECONDS)
        self.hang = False  # answer nothing until close() (or HANG_LIMIT_SECONDS)
        self.requests: list[ReceivedRequest] = []
        self._arrived = threading.Condition()
        self._released = threading.Event()
        self._server = _Server(("127.0.0.1", port), self._handler_class())
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/webhook"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="webhook-receiver", daemon=True)
        self._thread.start()
        self._closed = False

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                receiver._record(ReceivedRequest(
                    path=self.path,
                    headers={name.lower(): value for name, value in self.headers.items()},
                    body=body,
                    received_at=time.monotonic(),
                ))
                if receiver.hang:
                    receiver._released.wait(HANG_LIMIT_SECONDS)
                    return  # close without answering
                if receiver.hold:
                    receiver._released.wait(HANG_LIMIT_SECONDS)
                if receiver.delay:
                    time.sleep(receiver.delay)
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    def _record(self, request: ReceivedRequest) -> None:
        with self._arrived:
            self.requests.append(request)
            self._arrived.notify_all()

    def wait_for(self, count: int, timeout: float = 5.0) -> list[ReceivedRequest]:
        """Block until at least `count` requests arrived; fails after `timeout` real seconds."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self.requests) >= count, timeout):
                raise AssertionError(f"the receiver got {len(self.requests)} request(s), expected {count}")
            return list(self.requests)

    def release(self) -> None:
        """Let held answers go, and hanging ones (they close the connection without a reply)."""
        self._released.set()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._released.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> "WebhookReceiver":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
