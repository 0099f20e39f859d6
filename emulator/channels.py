"""Status channels: what the desktop WebSocket (`/v1/client/status`) is told, per authId.

A status published before any socket is connected is kept and delivered on connect; a final status
is delivered again to every later connection, so sequential connections for one flow all work.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Channel:
    message: dict[str, Any] | None = None
    close_after: bool = False
    listeners: set[asyncio.Queue[tuple[str, bool]]] = field(default_factory=set)


class StatusChannels:
    def __init__(self) -> None:
        self._channels: dict[str, Channel] = {}

    def publish(self, auth_id: str, message: dict[str, Any], close: bool = False) -> None:
        channel = self._channels.setdefault(auth_id, Channel())
        channel.message = message
        channel.close_after = close
        text = json.dumps(message, separators=(",", ":"))
        for queue in channel.listeners:
            queue.put_nowait((text, close))

    def subscribe(self, auth_id: str) -> asyncio.Queue[tuple[str, bool]]:
        """A queue of (text, close afterwards); a status already published is in it at once."""
        channel = self._channels.setdefault(auth_id, Channel())
        queue: asyncio.Queue[tuple[str, bool]] = asyncio.Queue()
        if channel.message is not None:
            queue.put_nowait((json.dumps(channel.message, separators=(",", ":")), channel.close_after))
        channel.listeners.add(queue)
        return queue

    def unsubscribe(self, auth_id: str, queue: asyncio.Queue[tuple[str, bool]]) -> None:
        channel = self._channels.get(auth_id)
        if channel is not None:
            channel.listeners.discard(queue)

    def close(self, auth_id: str) -> None:
        """The flow is gone: tell connected sockets to close and forget the channel."""
        channel = self._channels.pop(auth_id, None)
        if channel is None:
            return
        for queue in channel.listeners:
            queue.put_nowait(("", True))
