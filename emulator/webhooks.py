"""Signed webhooks: identity change events, delivered in the background, retried, and logged.

Delivery follows CONTRACT.md "Webhooks": a POST of a JSON array of events, `X-Prove-Authorization:
Bearer <HS256 JWT>` signed with the project's `whsec_...` secret (iss "Prove Identity", sub = the
project, exp 5 minutes after signing), a fresh `X-Correlation-ID` per attempt. A 2xx within the
timeout is success; otherwise the next attempt waits its delay from the retry schedule, on the
emulator clock. Every event ends visibly: delivered, failed (attempts exhausted) or suppressed (with
the reason: no webhook, identity deactivated, enrolled before the webhook, monitoring ended, not a US
number).

Which events are sent (seed "Why Am I Not Receiving Notifications?"): no retroactive events (only
identities enrolled after the webhook was configured), none for a deactivated identity, and an event
ends monitoring of its identity: no further notifications until the number is enrolled again.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import json
import ssl
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from emulator.clock import Clock, Timer, rfc3339
from emulator.errors import shutting_down
from emulator.identities import EnrolledIdentity, IdentityStore
from emulator.ids import new_id
from emulator.phone import webhook_suppression
from emulator.projects import ProjectRegistry, WebhookSettings
from emulator.tokens import sign_hs256

EVENT_TYPES = {
    "PHONE_NUMBER_CHANGE": "The phone number is no longer associated with the identity's owner.",
    "DISCONNECT": "The phone number was disconnected.",
    "PORT": "The phone number was ported to another carrier.",
    "LINE_TYPE_CHANGE": "The phone number's line type changed.",
    "MOVED_OUT_OF_COVERAGE": "The phone number moved out of Prove's coverage.",
}
JWT_LIFETIME = 5 * 60
ISSUER = "Prove Identity"
DELIVERY_LOG_CAPACITY = 1000
MAX_CONCURRENT_ATTEMPTS = 64


@dataclass
class Attempt:
    number: int
    at: float  # emulator clock
    correlation_id: str
    url: str  # where this attempt went: the webhook's URL when it started (it may change between retries)
    status: int | None = None
    latency_ms: float = 0.0
    error: str = ""
    signature: str = ""  # the X-Prove-Authorization JWT it carried, for checking a receiver's verification

    @property
    def succeeded(self) -> bool:
        return self.status is not None and 200 <= self.status < 300 and not self.error

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "number": self.number,
            "at": rfc3339(self.at),
            "correlationId": self.correlation_id,
            "url": self.url,
            "latencyMs": round(self.latency_ms, 1),
            "outcome": "success" if self.succeeded else "failure",
        }
        if self.status is not None:
            out["status"] = self.status
        if self.error:
            out["error"] = self.error
        if self.signature:
            out["signature"] = self.signature
        return out


@dataclass
class Delivery:
    id: str
    project_id: str
    identity_id: str
    events: list[dict[str, Any]]
    created_at: float
    url: str = ""  # the latest attempt's URL; before any, the webhook's URL when the event was created
    test: bool = False
    status: str = "scheduled"  # scheduled, sending, delivered, failed, suppressed
    reason: str = ""
    attempts: list[Attempt] = field(default_factory=list)
    next_attempt_at: float | None = None
    resent_from: str = ""  # the delivery whose payload this one sends again
    _timer: Timer | None = None

    @property
    def final(self) -> bool:
        return self.status in ("delivered", "failed", "suppressed")

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "project": self.project_id,
            "status": self.status,
            "test": self.test,
            "createdAt": rfc3339(self.created_at),
            "eventTypes": [event["eventType"] for event in self.events],
            "payload": self.events,
            "attempts": [attempt.as_json() for attempt in self.attempts],
        }
        if self.identity_id:
            out["identityId"] = self.identity_id
        if self.url:
            out["url"] = self.url
        if self.reason:
            out["reason"] = self.reason
        if self.resent_from:
            out["resentFrom"] = self.resent_from
        if self.next_attempt_at is not None and not self.final:
            out["nextAttemptAt"] = rfc3339(self.next_attempt_at)
        return out


@dataclass(frozen=True)
class AttemptResult:
    status: int | None
    error: str = ""


# Sends one attempt: (url, body, headers, timeout seconds) -> result. Swapped out in unit tests.
Sender = Callable[[str, bytes, dict[str, str], float], Awaitable[AttemptResult]]


@functools.cache
def _tls_context() -> ssl.SSLContext:
    # Building a client's TLS context loads the CA bundle: ~20 ms of CPU on the event loop. Done per
    # attempt, a burst of deliveries stalls every API reply, so one context serves them all.
    # httpx (~60 ms) and PyJWT (~50 ms, ~9 MiB) are imported here and below, not at the top: most runs
    # send no webhook.
    import httpx

    return httpx.create_ssl_context()


async def http_sender(url: str, body: bytes, headers: dict[str, str], timeout: float) -> AttemptResult:
    """One POST. The reply's body is read to its end (a receiver still sending has not answered yet)
    but discarded chunk by chunk, so a huge reply costs no memory. The caller bounds the whole attempt."""
    import httpx

    try:
        async with httpx.AsyncClient(timeout=timeout, verify=_tls_context()) as client:
            async with client.stream("POST", url, content=body, headers=headers) as reply:
                async for _ in reply.aiter_raw():
                    pass
        return AttemptResult(status=reply.status_code)
    except httpx.TimeoutException:
        return AttemptResult(status=None, error=timed_out(timeout))
    except httpx.HTTPError as error:
        return AttemptResult(status=None, error=f"{type(error).__name__}: {error}" if str(error) else type(error).__name__)


def timed_out(timeout: float) -> str:
    return f"timed out after {timeout:g} s"


def sign(secret: str, project_id: str) -> str:
    # Real time, not the emulator clock: the receiver checks iat/exp against its own clock, and a
    # test that moved the emulator clock forward must not produce "not yet valid" tokens.
    issued = int(time.time())
    claims = {"iss": ISSUER, "sub": project_id, "iat": issued, "exp": issued + JWT_LIFETIME, "jti": new_id()}
    return sign_hs256(secret.encode(), json.dumps(claims, separators=(",", ":")))


def event_json(identity: EnrolledIdentity, event_type: str, at: float, details: dict[str, Any]) -> dict[str, Any]:
    event: dict[str, Any] = {
        "eventId": new_id(),
        "event": EVENT_TYPES[event_type],
        "eventType": event_type,
        "eventTimestamp": rfc3339(at),
        "identityId": identity.identity_id,
        "phoneNumber": identity.phone_number,
    }
    if identity.client_customer_id:
        event["clientCustomerId"] = identity.client_customer_id
    for key, value in details.items():  # extra fields from the trigger; never the documented ones
        event.setdefault(key, value)
    return event


def sample_events(at: float) -> list[dict[str, Any]]:
    """The "Save and Test Webhook" payload: one sample event of each type."""
    return [
        {
            "eventId": new_id(),
            "event": description,
            "eventType": event_type,
            "eventTimestamp": rfc3339(at),
            "clientCustomerId": "sample-client-customer-id",
            "identityId": "00000000-0000-0000-0000-000000000000",
            "phoneNumber": "2025550100",
        }
        for event_type, description in EVENT_TYPES.items()
    ]


def _delivery_number(delivery_id: str) -> int:
    """dlv_12 -> 12: deliveries are logged in the order of their numbers."""
    digits = delivery_id.removeprefix("dlv_")
    return int(digits) if digits.isdigit() else 0


class WebhookDispatcher:
    def __init__(
        self,
        clock: Clock,
        projects: ProjectRegistry,
        identities: IdentityStore,
        sender: Sender = http_sender,
        changed: Callable[[], None] = lambda: None,
    ) -> None:
        self.clock = clock
        self.projects = projects
        self.identities = identities
        self.sender = sender
        self._changed = changed  # told when a delivery is logged, changes status or gets an attempt (the UI)
        self._log: OrderedDict[str, Delivery] = OrderedDict()
        self._ids = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()
        self._in_flight = 0
        self._waiters: set[asyncio.Event] = set()  # one per settle() call, set when an attempt ends
        self._closed = False  # shutting down: settle() answers 503 at once
        self._semaphore: asyncio.Semaphore | None = None
        self._schedules: dict[str, tuple[str, list[Timer]]] = {}  # identity -> (project, scripted event timers)
        identities.listeners.append(self._enrolled)

    # -- events --------------------------------------------------------------------------------------

    def emit(self, identity: EnrolledIdentity, event_type: str, details: dict[str, Any] | None = None) -> Delivery:
        """A change event for an identity: delivered if the rules allow, else logged as suppressed."""
        now = self.clock.now()
        event = event_json(identity, event_type, now, details or {})
        project = self.projects.get(identity.project_id)
        webhook = project.webhook if project else None
        delivery = self._new_delivery(identity.project_id, identity.identity_id, [event], webhook)
        reason = self._suppression(identity, webhook)
        if reason:
            delivery.status, delivery.reason = "suppressed", reason
        else:
            identity.monitoring_ended = True  # an event ends monitoring of its identity
            self._schedule(delivery, delay=webhook.retry_schedule[0])  # type: ignore[union-attr]
        return delivery

    def send_test(self, project_id: str) -> Delivery:
        project = self.projects.get(project_id)
        assert project is not None and project.webhook is not None
        delivery = self._new_delivery(project_id, "", sample_events(self.clock.now()), project.webhook, test=True)
        self._schedule(delivery, delay=0.0)
        return delivery

    def resend(self, delivery_id: str) -> Delivery | None:
        """The same payload (same events, same eventIds) again, as a new delivery to the project's webhook
        as it is now; like a receiver's "redeliver", the event rules are not asked again. None if unknown."""
        original = self._log.get(delivery_id)
        if original is None:
            return None
        project = self.projects.get(original.project_id)
        webhook = project.webhook if project else None
        delivery = self._new_delivery(original.project_id, original.identity_id, [dict(e) for e in original.events],
                                      webhook, test=original.test)
        delivery.resent_from = original.id
        if webhook is None or not webhook.url:
            delivery.status, delivery.reason = "suppressed", "the project has no webhook configured"
        else:
            self._schedule(delivery, delay=0.0)
        return delivery

    def _suppression(self, identity: EnrolledIdentity, webhook: WebhookSettings | None) -> str:
        if webhook is None or not webhook.url:
            return "the project has no webhook configured"
        if not identity.active:
            return "the identity is deactivated"
        if identity.monitoring_ended:
            return "an earlier event ended monitoring of this identity (enrol the number again)"
        if identity.created_at < webhook.configured_at:
            return "no retroactive events: the identity was enrolled before the webhook was configured"
        return webhook_suppression(identity.phone_number)  # US numbers only (seed "Webhook notifications")

    def _enrolled(self, identity: EnrolledIdentity) -> None:
        """Schedule the persona's scripted events, on the emulator clock, from enrolment."""
        timers = [
            self.clock.call_at(identity.created_at + scheduled.after_seconds,
                               lambda event_type=scheduled.event_type: self._scheduled_event(identity, event_type))
            for scheduled in identity.persona.events
        ]
        if timers:
            self._schedules[identity.identity_id] = (identity.project_id, timers)

    def restore(self, deliveries: list[Delivery], identities: list[EnrolledIdentity], since: float) -> None:
        """Take back a snapshot's deliveries and re-arm what was waiting on the clock: each delivery's
        next attempt (one that was being sent when the snapshot was taken is tried again, now), and
        the identities' scripted events still to come after `since`, the snapshot's instant."""
        now = self.clock.now()
        for delivery in deliveries:
            self._log[delivery.id] = delivery
            if delivery.status == "sending":
                self._schedule(delivery, delay=0.0)
            elif delivery.status == "scheduled" and delivery.next_attempt_at is not None:
                due = max(delivery.next_attempt_at, now)
                delivery._timer = self.clock.call_at(due, lambda d=delivery: self._start_attempt(d))
        self._log = OrderedDict(sorted(self._log.items(), key=lambda item: _delivery_number(item[0])))
        self._ids = itertools.count(max(map(_delivery_number, self._log), default=0) + 1)
        for identity in identities:
            timers = [
                self.clock.call_at(identity.created_at + scheduled.after_seconds,
                                   lambda event_type=scheduled.event_type, i=identity: self._scheduled_event(i, event_type))
                for scheduled in identity.persona.events if identity.created_at + scheduled.after_seconds > since
            ]
            if timers:
                self._schedules[identity.identity_id] = (identity.project_id, timers)
        self._changed()

    def _scheduled_event(self, identity: EnrolledIdentity, event_type: str) -> None:
        if self.identities.get(identity.project_id, identity.identity_id) is not None:
            self.emit(identity, event_type, {})

    # -- delivery ------------------------------------------------------------------------------------

    def new_delivery_id(self) -> str:
        return f"dlv_{next(self._ids)}"

    def _new_delivery(self, project_id: str, identity_id: str, events: list[dict[str, Any]],
                      webhook: WebhookSettings | None, test: bool = False) -> Delivery:
        delivery = Delivery(
            id=self.new_delivery_id(),
            project_id=project_id,
            identity_id=identity_id,
            events=events,
            created_at=self.clock.now(),
            url=webhook.url if webhook else "",
            test=test,
        )
        self._log[delivery.id] = delivery
        self._trim_log()
        self._changed()
        return delivery

    def _schedule(self, delivery: Delivery, delay: float) -> None:
        delivery.status = "scheduled"
        delivery.next_attempt_at = self.clock.now() + delay
        delivery._timer = self.clock.call_at(delivery.next_attempt_at, lambda: self._start_attempt(delivery))
        self._changed()

    def _start_attempt(self, delivery: Delivery) -> None:
        if delivery.final:
            return
        delivery.status = "sending"
        delivery._timer = None
        self._changed()
        self._in_flight += 1
        task = asyncio.get_running_loop().create_task(self._attempt(delivery))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _attempt(self, delivery: Delivery) -> None:
        try:
            if delivery.final:
                return
            project = self.projects.get(delivery.project_id)
            webhook = project.webhook if project else None
            if webhook is None or not webhook.url:
                delivery.status, delivery.reason = "failed", "the webhook was removed before delivery"
                return
            attempt = Attempt(number=len(delivery.attempts) + 1, at=self.clock.now(),
                              correlation_id=new_id(), url=webhook.url)
            delivery.url = webhook.url
            body = json.dumps(delivery.events).encode()
            attempt.signature = sign(webhook.secret, delivery.project_id)
            headers = {
                "Content-Type": "application/json",
                "X-Prove-Authorization": f"Bearer {attempt.signature}",
                "X-Correlation-ID": attempt.correlation_id,
            }
            if self._semaphore is None:
                self._semaphore = asyncio.Semaphore(MAX_CONCURRENT_ATTEMPTS)
            async with self._semaphore:
                started = time.perf_counter()  # the receiver's time, not the wait for a free slot
                try:
                    # The timeout is a total deadline (connect, send, headers, body), whatever the sender:
                    # a per-read timeout lets a receiver that trickles its reply last for ever.
                    async with asyncio.timeout(webhook.timeout_seconds):
                        result = await self.sender(webhook.url, body, headers, webhook.timeout_seconds)
                except TimeoutError:
                    result = AttemptResult(status=None, error=timed_out(webhook.timeout_seconds))
                except Exception as error:  # e.g. a URL httpx cannot use (port 99999): still an attempt
                    result = AttemptResult(status=None, error=f"{type(error).__name__}: {error}")
                attempt.latency_ms = (time.perf_counter() - started) * 1000
            if delivery.final:  # a reset dropped it meanwhile: no retry may reach the next test's receiver
                return
            attempt.status, attempt.error = result.status, result.error
            if attempt.status is not None and not attempt.succeeded and not attempt.error:
                attempt.error = f"HTTP {attempt.status}"
            delivery.attempts.append(attempt)
            if attempt.succeeded:
                delivery.status, delivery.next_attempt_at = "delivered", None
            elif len(delivery.attempts) < len(webhook.retry_schedule):
                self._schedule(delivery, delay=webhook.retry_schedule[len(delivery.attempts)])
            else:
                delivery.status = "failed"
                delivery.reason = f"all {len(delivery.attempts)} attempts failed"
                delivery.next_attempt_at = None
        finally:
            self._in_flight -= 1
            for waiter in self._waiters:
                waiter.set()
            self._changed()

    async def settle(self, timeout: float, delivery: Delivery | None = None) -> None:
        """Wait (real time) until no attempt is in flight (only `delivery`'s, if given), or `timeout`
        passes. Each caller waits on its own event, so concurrent callers all wake up.
        Raises ProveError 503 once the emulator is shutting down (`close`)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        busy = (lambda: delivery.status == "sending") if delivery else (lambda: self._in_flight > 0)
        while busy() and loop.time() < deadline and not self._closed:
            waiter = asyncio.Event()
            self._waiters.add(waiter)
            try:
                await asyncio.wait_for(waiter.wait(), deadline - loop.time())
            except asyncio.TimeoutError:
                break
            finally:
                self._waiters.discard(waiter)
        if self._closed:
            raise shutting_down()

    def close(self) -> None:
        """The process is stopping: wake every `settle` waiter, now and later (they raise 503)."""
        self._closed = True
        for waiter in self._waiters:
            waiter.set()

    # -- reading and resetting -----------------------------------------------------------------------

    def deliveries(self, *, project_id: str | None = None, identity_id: str | None = None,
                   status: str | None = None) -> list[Delivery]:
        return [
            d for d in self._log.values()
            if (project_id is None or d.project_id == project_id)
            and (identity_id is None or d.identity_id == identity_id)
            and (status is None or d.status == status)
        ]

    def _trim_log(self) -> None:
        # Drop the oldest finished deliveries first; unfinished ones are never dropped.
        excess = len(self._log) - DELIVERY_LOG_CAPACITY
        for delivery_id in [d.id for d in self._log.values() if d.final][:max(excess, 0)]:
            del self._log[delivery_id]

    def reset(self, project_id: str | None = None) -> None:
        for delivery in list(self._log.values()):
            if project_id is None or delivery.project_id == project_id:
                if delivery._timer is not None:
                    delivery._timer.cancel()
                if not delivery.final:
                    delivery.status, delivery.reason = "failed", "the emulator was reset"
                del self._log[delivery.id]
        for identity_id, (owner, timers) in list(self._schedules.items()):
            if project_id is None or owner == project_id:
                for timer in timers:
                    timer.cancel()
                del self._schedules[identity_id]
        self._changed()
