"""The fake phone's SMS outbox: every message the emulator "sent", capped, with long-poll waiting."""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable

from emulator.clock import rfc3339
from emulator.errors import shutting_down
from emulator.phone import normalize

OUTBOX_CAPACITY = 1000


@dataclass(frozen=True)
class Sms:
    id: int
    project_id: str
    correlation_id: str
    phone_number: str
    body: str
    kind: str  # "otp" or "instant-link"
    code: str = ""
    link: str = ""
    sent_at: float = 0.0

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "project": self.project_id,
            "correlationId": self.correlation_id,
            "phoneNumber": self.phone_number,
            "kind": self.kind,
            "body": self.body,
            "sentAt": rfc3339(self.sent_at),
        }
        if self.code:
            out["otp"] = self.code
        if self.link:
            out["link"] = self.link
        return out


class Outbox:
    def __init__(self, capacity: int = OUTBOX_CAPACITY, changed: Callable[[], None] = lambda: None) -> None:
        self._messages: deque[Sms] = deque(maxlen=capacity)
        self._changed = changed  # told of every message and every clear (the UI's event stream)
        self._ids = itertools.count(1)
        self._waiters: set[asyncio.Future[None]] = set()
        self._closed = False  # shutting down: waits answer 503 at once
        self.clears = 0  # how many times messages were cleared (ids may then be given again: a restore)

    def send(self, **fields: Any) -> Sms:
        sms = Sms(id=next(self._ids), **fields)
        self._messages.append(sms)
        self._wake()
        self._changed()
        return sms

    def messages(
        self,
        *,
        phone_number: str | None = None,
        project_id: str | None = None,
        correlation_id: str | None = None,
        after: int = 0,
    ) -> list[Sms]:
        if after and phone_number is None and project_id is None and correlation_id is None:
            return self._newer_than(after)
        wanted = normalize(phone_number) if phone_number else None
        return [
            sms
            for sms in self._messages
            if sms.id > after
            and (wanted is None or normalize(sms.phone_number) == wanted)
            and (project_id is None or sms.project_id == project_id)
            and (correlation_id is None or sms.correlation_id == correlation_id)
        ]

    def _newer_than(self, after: int) -> list[Sms]:
        """From the newest back: as long as the new ones (ids rise in the order messages are kept)."""
        newer = []
        for sms in reversed(self._messages):
            if sms.id <= after:
                break
            newer.append(sms)
        newer.reverse()
        return newer

    def oldest_id(self) -> int | None:
        return self._messages[0].id if self._messages else None

    def __len__(self) -> int:
        return len(self._messages)

    async def wait(self, seconds: float, **filters: Any) -> list[Sms]:
        """The matching messages; if there are none yet, wait up to `seconds` (real time) for one.
        Raises ProveError 503 once the emulator is shutting down (`close`)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while True:
            if self._closed:
                raise shutting_down()
            found = self.messages(**filters)
            remaining = deadline - loop.time()
            if found or remaining <= 0:
                return found
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters.add(waiter)
            try:
                await asyncio.wait_for(waiter, remaining)
            except asyncio.TimeoutError:
                pass
            finally:
                self._waiters.discard(waiter)

    def close(self) -> None:
        """The process is stopping: wake every waiter, now and later (they raise 503)."""
        self._closed = True
        self._wake()

    def _wake(self) -> None:
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)

    def restore(self, messages: list[Sms]) -> None:
        """Take back messages a snapshot held, in the order they were sent; new ones follow their ids."""
        merged = sorted([*self._messages, *messages], key=lambda sms: sms.id)
        self._messages.clear()
        self._messages.extend(merged)
        self._ids = itertools.count(max([sms.id for sms in merged], default=0) + 1)
        self._changed()

    def clear(self, project_id: str | None = None) -> None:
        self.clears += 1
        if project_id is None:
            self._messages.clear()
        else:
            kept = [sms for sms in self._messages if sms.project_id != project_id]
            self._messages.clear()
            self._messages.extend(kept)
        self._changed()
