"""What changed, for whoever watches: a version counter per topic, and wake-ups for subscribers.

The stores (SMS outbox, flows, webhook deliveries, the clock) call a topic's notifier when their state
changes; the control plane's event stream (emulator/http/events.py) subscribes and tells the web UI
which topics moved, and the page refetches what it shows. Nothing is queued per change: a subscriber
only remembers the versions it last saw, so a burst of a thousand SMS wakes it once and costs no
memory, and a slow reader can never fall behind.

Everything runs on the server's event loop; a notifier called from another thread (a test driving the
service directly) hands the wake-up to the subscriber's loop.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Callable

TOPICS = ("sms", "flows", "webhooks", "clock")
MAX_SUBSCRIBERS = 64  # each is an open event stream; a page holds one


class FeedClosed(Exception):
    """The emulator is shutting down: subscriptions end."""


class TooManySubscribers(Exception):
    pass


class ChangeFeed:
    def __init__(self, topics: tuple[str, ...] = TOPICS, max_subscribers: int = MAX_SUBSCRIBERS) -> None:
        self._versions = dict.fromkeys(topics, 0)
        self._subscribers: set[Subscription] = set()
        self.max_subscribers = max_subscribers
        # Told of every change, on the thread it happened on (the state directory's writer): not
        # subscribers, so not counted against max_subscribers.
        self.listeners: list[Callable[[], None]] = []
        self._closed = False

    def versions(self) -> dict[str, int]:
        return dict(self._versions)

    def notifier(self, topic: str) -> Callable[[], None]:
        """What a store calls when its state changed."""
        if topic not in self._versions:
            raise ValueError(f"unknown topic {topic!r}; the topics are {', '.join(self._versions)}")
        return functools.partial(self.changed, topic)

    def changed(self, topic: str) -> None:
        """Called on every flow event: with no stream open (as under load), one increment."""
        self._versions[topic] += 1
        if self._subscribers:
            for subscription in tuple(self._subscribers):  # a copy: a reader may leave meanwhile
                subscription._wake()
        for listener in self.listeners:
            listener()

    def subscribe(self) -> "Subscription":
        """A subscription from the current versions; use it as a context manager, so it is dropped when
        its reader goes away. Raises TooManySubscribers, or FeedClosed once shutting down."""
        if self._closed:
            raise FeedClosed()
        if len(self._subscribers) >= self.max_subscribers:
            raise TooManySubscribers(f"at most {self.max_subscribers} event streams may be open at once")
        subscription = Subscription(self)
        self._subscribers.add(subscription)
        return subscription

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """The process is stopping: every subscription's wait raises FeedClosed, now and later."""
        self._closed = True
        for subscription in tuple(self._subscribers):
            subscription._wake()

    def _drop(self, subscription: "Subscription") -> None:
        self._subscribers.discard(subscription)


class Subscription:
    def __init__(self, feed: ChangeFeed) -> None:
        self._feed = feed
        self._loop = asyncio.get_running_loop()
        self._event = asyncio.Event()
        self.seen = feed.versions()

    async def next(self, timeout: float) -> list[str]:
        """The topics that changed since the last call (or the subscription), waiting up to `timeout`
        seconds for one; [] when none did in that time. Raises FeedClosed once the feed is closed."""
        changed = self._changed()
        if not changed:
            self._event.clear()
            changed = self._changed()  # a change between the check and the clear is not lost
            if not changed and not self._feed.closed:
                try:
                    await asyncio.wait_for(self._event.wait(), timeout)
                except asyncio.TimeoutError:
                    pass
                changed = self._changed()
        if self._feed.closed:
            raise FeedClosed()
        return changed

    def _changed(self) -> list[str]:
        now = self._feed.versions()
        changed = [topic for topic, version in now.items() if version != self.seen[topic]]
        self.seen = now
        return changed

    def _wake(self) -> None:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            self._event.set()
        elif not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._event.set)

    def close(self) -> None:
        self._feed._drop(self)

    def __enter__(self) -> "Subscription":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
