"""Status channels: what the desktop WebSocket (`/v1/client/status`) is told, per authId.

A status published before any socket is connected is kept and delivered on connect; a final status
is delivered again to every later connection, so sequential connections for one flow all work.
A connected socket listens with a plain callback rather than a queue of its own: thousands of them sit
idle for minutes, and an asyncio.Queue is about 3 KiB each.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable

Listener = Callable[[str, bool], None]  # (the text to send, "" for none; close the socket afterwards)


@dataclass(slots=True)
class Channel:
    message: dict[str, Any] | None = None
    close_after: bool = False
    listeners: list[Listener] = field(default_factory=list)  # usually one socket, so no set


class StatusChannels:
    def __init__(self) -> None:
        self._channels: dict[str, Channel] = {}

    def publish(self, auth_id: str, message: dict[str, Any], close: bool = False) -> None:
        channel = self._channels.setdefault(auth_id, Channel())
        channel.message = message
        channel.close_after = close
        text = json.dumps(message, separators=(",", ":"))
        for listener in list(channel.listeners):  # a listener may unsubscribe as it is told
            listener(text, close)

    def subscribe(self, auth_id: str, listener: Listener) -> None:
        """`listener` is told every status from now on; a status already published, at once."""
        channel = self._channels.setdefault(auth_id, Channel())
        channel.listeners.append(listener)
        if channel.message is not None:
            listener(json.dumps(channel.message, separators=(",", ":")), channel.close_after)

    def unsubscribe(self, auth_id: str, listener: Listener) -> None:
        channel = self._channels.get(auth_id)
        if channel is not None and listener in channel.listeners:
            channel.listeners.remove(listener)

    def close(self, auth_id: str) -> None:
        """The flow is gone: tell connected sockets to close and forget the channel."""
        channel = self._channels.pop(auth_id, None)
        if channel is None:
            return
        for listener in channel.listeners:
            listener("", True)
