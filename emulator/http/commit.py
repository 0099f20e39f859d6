"""With a state directory: every change is written before the reply that acknowledges it is sent,
and what changes between requests (timers, webhook attempts) soon after, as the change feed tells.

`commit` is the state directory's (emulator/state/directory.py); when it fails (a full disk, say) the
request is answered 503 with the error envelope instead: its change is in memory, not on disk.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from emulator.errors import ProveError
from emulator.state.directory import StateWriteError

log = logging.getLogger("prove-emulator")

Commit = Callable[[], None]
# What is sent first of a reply, or of a WebSocket's news: the changes it tells of are written before.
COMMIT_BEFORE = frozenset({"http.response.start", "websocket.accept", "websocket.send", "websocket.close"})
# Between a change the feed reports and its write: a burst of changes is written once, and under load
# the replies' own writes have taken most of it by then.
SETTLE_SECONDS = 0.1


def not_written(error: Exception) -> ProveError:
    return ProveError(503, 8000, f"{error}; the change is in memory only, and is written with the next write that succeeds")


class GroupCommit:
    """One commit for every reply that gets ready in the same turn of the event loop, each waiting for
    it: under load, one transaction writes the changes of several replies."""

    def __init__(self, commit: Commit) -> None:
        self.commit = commit
        self._next: asyncio.Future[None] | None = None

    async def __call__(self) -> None:
        loop = asyncio.get_running_loop()
        pending = self._next
        if pending is None or pending.get_loop() is not loop:
            pending = self._next = loop.create_future()
            pending.add_done_callback(_retrieved)
            loop.call_soon(self._run, pending)
        await asyncio.shield(pending)  # a waiter cancelled (its client gone) leaves the others theirs

    def _run(self, pending: asyncio.Future[None]) -> None:
        if self._next is pending:
            self._next = None  # replies ready from now on wait for the next commit
        try:
            self.commit()
        except Exception as error:
            pending.set_exception(error)
        else:
            pending.set_result(None)


def _retrieved(done: asyncio.Future[None]) -> None:
    if not done.cancelled():
        done.exception()  # every waiter may have gone: not an "exception never retrieved"


class CommitBeforeReply:
    def __init__(self, app: ASGIApp, commit: Commit) -> None:
        self.app = app
        self.commit = GroupCommit(commit)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        replaced = False

        async def committing_send(message: Message) -> None:
            nonlocal replaced
            if replaced:  # the rest of a reply answered 503 instead
                return
            if message["type"] in COMMIT_BEFORE:
                try:
                    await self.commit()
                except Exception as error:  # what the reply tells of is not on disk
                    log.error("%s", error, exc_info=not isinstance(error, StateWriteError))
                    if scope["type"] == "websocket":
                        await send({"type": "websocket.close", "code": 1011})
                        replaced = True
                        return
                    if message["type"] == "http.response.start":
                        failure = not_written(error)
                        await send({"type": "http.response.start", "status": failure.status,
                                    "headers": [(b"content-type", b"application/json")]})
                        await send({"type": "http.response.body",
                                    "body": json.dumps(failure.body(), separators=(",", ":")).encode()})
                        replaced = True
                        return
            await send(message)

        await self.app(scope, receive, committing_send)


class CommitSoon:
    """Between requests: what timers and webhook attempts changed is written SETTLE_SECONDS after the
    change feed reports it, once per burst of changes. A change-feed listener on the server's loop."""

    def __init__(self, commit: Commit, loop: asyncio.AbstractEventLoop) -> None:
        self.commit = commit
        self.loop = loop
        self._pending: asyncio.TimerHandle | None = None

    def __call__(self) -> None:
        if self._pending is not None:
            return
        try:
            on_loop = asyncio.get_running_loop() is self.loop
        except RuntimeError:
            on_loop = False
        if on_loop:
            self._arm()
        elif not self.loop.is_closed():  # a change made from another thread (a test driving the service)
            self.loop.call_soon_threadsafe(self._arm)

    def _arm(self) -> None:
        if self._pending is None:
            self._pending = self.loop.call_later(SETTLE_SECONDS, self._run)

    def _run(self) -> None:
        self._pending = None
        try:
            self.commit()
        except Exception as error:  # tried again at the next change or reply
            log.error("%s", error, exc_info=not isinstance(error, StateWriteError))

    def cancel(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
