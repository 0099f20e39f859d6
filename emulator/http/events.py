"""`GET /__emulator/events`: a Server-Sent Events stream saying which part of the emulator changed.

Built on the change feed (emulator/changes.py): one event per topic that moved (`sms`, `flows`,
`webhooks`, `clock`), named after it, whose data is `{"topic", "version"}`; the reader refetches what
it shows. The web UI reads it with fetch (so it can send the admin token, which EventSource cannot);
`curl -N` and EventSource work too. A comment line every `HEARTBEAT_SECONDS` keeps proxies from
closing an idle stream, and the stream ends (after a `shutdown` event) as soon as the emulator stops.
"""

from __future__ import annotations

import asyncio
import json

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import Receive, Scope, Send

from emulator.changes import TOPICS, ChangeFeed, FeedClosed, TooManySubscribers
from emulator.errors import ProveError, shutting_down
from emulator.http.api import Operation, control_api, emulator_of, error_response
from emulator.http.control import PREFIX, TAG

HEARTBEAT_SECONDS = 15.0
RETRY_MS = 1000  # how soon an EventSource reconnects after the stream ends

EVENTS = Operation(
    method="GET",
    path=PREFIX + "/events",
    summary=("Server-Sent Events: an event named after each topic that changed (" + ", ".join(TOPICS) + "), with "
             "data {\"topic\", \"version\"}; first a `ready` event with every topic's version, a comment "
             f"every {HEARTBEAT_SECONDS:g} s, and a `shutdown` event when the emulator stops."),
    tag=TAG,
    other_responses={
        "200": {"description": "The stream (text/event-stream); it lasts until the client or the emulator leaves.",
                "content": {"text/event-stream": {"schema": {"type": "string"}}}},
        "503": {"description": "The emulator is shutting down, or too many event streams are open (8000).",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
    },
)


def sse(event: str, data: object) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


class EventStream(Response):
    """The stream as a plain ASGI response: it watches for the client's disconnect itself, so its
    subscription is dropped the moment the reader goes, whatever it was doing."""

    media_type = "text/event-stream"

    def __init__(self, feed: ChangeFeed) -> None:
        self.status_code = 200
        self.background = None
        self.init_headers({"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})  # no body: no Content-Length
        self.feed = feed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            subscription = self.feed.subscribe()
        except FeedClosed:
            await error_response(shutting_down())(scope, receive, send)
            return
        except TooManySubscribers as error:
            await error_response(ProveError(503, 8000, f"{error}; close another page of the UI first"))(
                scope, receive, send)
            return
        gone = asyncio.ensure_future(_disconnected(receive))
        waiting: asyncio.Future[list[str]] | None = None
        try:
            with subscription:
                await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
                await self._body(send, f"retry: {RETRY_MS}\n\n".encode() + sse("ready", {"versions": subscription.seen}))
                while not gone.done():
                    waiting = asyncio.ensure_future(subscription.next(HEARTBEAT_SECONDS))
                    await asyncio.wait({waiting, gone}, return_when=asyncio.FIRST_COMPLETED)
                    if not waiting.done():
                        break  # the reader left
                    try:
                        changed = waiting.result()
                    except FeedClosed:
                        await self._body(send, sse("shutdown", {}), more=False)
                        return
                    versions = subscription.seen
                    chunk = b"".join(sse(topic, {"topic": topic, "version": versions[topic]}) for topic in changed)
                    await self._body(send, chunk or b": heartbeat\n\n")
                await self._body(send, b"", more=False)
        finally:  # also when the server cancels this request: nothing is left running
            gone.cancel()
            if waiting is not None:
                waiting.cancel()

    @staticmethod
    async def _body(send: Send, chunk: bytes, more: bool = True) -> None:
        await send({"type": "http.response.body", "body": chunk, "more_body": more})


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def events(request: Request) -> Response:
    return EventStream(emulator_of(request).changes)


ROUTES: list[tuple[Operation, BaseRoute]] = [(EVENTS, control_api(EVENTS, events))]
