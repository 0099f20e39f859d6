"""Control-plane routes for webhooks: per-project settings, the "Save and Test" action, triggering
change events, and the delivery log."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from emulator.errors import ProveError, identity_not_found, malformed
from emulator.http.api import Operation, Param, control_api, emulator_of, json_response, read_json
from emulator.http.control import PREFIX, TAG
from emulator.projects import ProjectsFileError, webhook_from_json
from emulator.webhooks import DELIVERY_LOG_CAPACITY, EVENT_TYPES

CLIENT_ID = Param("clientId", "path", {"type": "string"}, required=True)
WEBHOOK = {
    "type": "object",
    "additionalProperties": False,
    "required": ["url", "secret", "timeoutSeconds", "retrySchedule"],
    "properties": {
        "url": {"type": "string"},
        "secret": {"type": "string", "pattern": "^whsec_"},
        "timeoutSeconds": {"type": "number"},
        "retrySchedule": {"type": "array", "items": {"type": "number"},
                          "description": "Delay (emulator-clock seconds) before each attempt, after the previous one."},
    },
}
DELIVERY = {
    "type": "object",
    "required": ["id", "project", "status", "test", "createdAt", "eventTypes", "payload", "attempts"],
    "properties": {
        "id": {"type": "string"},
        "project": {"type": "string"},
        "identityId": {"type": "string"},
        "status": {"enum": ["scheduled", "sending", "delivered", "failed", "suppressed"]},
        "reason": {"type": "string"},
        "test": {"type": "boolean"},
        "url": {"type": "string", "description": "The latest attempt's URL (before any: the webhook's URL)."},
        "createdAt": {"type": "string", "format": "date-time"},
        "nextAttemptAt": {"type": "string", "format": "date-time"},
        "resentFrom": {"type": "string", "description": "The delivery whose payload this one sends again."},
        "eventTypes": {"type": "array", "items": {"enum": list(EVENT_TYPES)}},
        "payload": {"type": "array", "items": {"type": "object", "required": [
            "eventId", "event", "eventType", "eventTimestamp", "identityId", "phoneNumber"]}},
        "attempts": {"type": "array", "items": {
            "type": "object", "required": ["number", "at", "correlationId", "url", "latencyMs", "outcome"],
            "properties": {"number": {"type": "integer"}, "at": {"type": "string"},
                           "correlationId": {"type": "string"}, "status": {"type": "integer"},
                           "url": {"type": "string", "description": "Where this attempt was sent."},
                           "latencyMs": {"type": "number"}, "error": {"type": "string"},
                           "signature": {"type": "string", "description": "The JWT this attempt sent as "
                                         "X-Prove-Authorization: Bearer <signature> (HS256, the webhook's secret)."},
                           "outcome": {"enum": ["success", "failure"]}}}},
    },
}
MAX_WAIT_SECONDS = 60


def _op(method: str, path: str, summary: str, response: dict[str, Any], **extra: Any) -> Operation:
    return Operation(method=method, path=PREFIX + path, summary=summary, tag=TAG, response=response,
                     errors=extra.pop("errors", (400, 404)), **extra)


PUT_WEBHOOK = _op(
    "PUT", "/projects/{clientId}/webhook",
    "Configure the project's webhook (a whsec_ secret is generated when none is given; changing an existing "
    "webhook keeps its secret). Only identities enrolled after the webhook was first configured get events.",
    WEBHOOK, params=(CLIENT_ID,),
    request_schema={"type": "object", "required": ["url"], "properties": WEBHOOK["properties"]},
)
GET_WEBHOOK = _op("GET", "/projects/{clientId}/webhook", "The project's webhook settings.", WEBHOOK,
                  params=(CLIENT_ID,))
DELETE_WEBHOOK = _op("DELETE", "/projects/{clientId}/webhook", "Remove the project's webhook.",
                     {"type": "object", "required": ["ok"]}, params=(CLIENT_ID,))
TEST_WEBHOOK = _op(
    "POST", "/projects/{clientId}/webhook/test",
    "Send a sample payload (one event of each type), like the Portal's \"Save and Test Webhook\"; "
    "answers once the first attempt has finished.",
    DELIVERY, params=(CLIENT_ID,), errors=(400, 404, 503),
)
TRIGGER_EVENT = _op(
    "POST", "/identities/{identityId}/events",
    "Trigger a change event for an enrolled identity. The reply's delivery says whether it was sent or "
    "why it was suppressed.",
    DELIVERY,
    params=(Param("identityId", "path", {"type": "string"}, required=True),),
    request_schema={"type": "object", "required": ["eventType"], "properties": {
        "eventType": {"enum": list(EVENT_TYPES)},
        "details": {"type": "object", "description": "Extra fields added to the event."}}},
)
LIST_DELIVERIES = _op(
    "GET", "/webhooks/deliveries",
    "Webhook deliveries, oldest first, each with every attempt (status, latency, error). With wait, first "
    "waits (real seconds) until no attempt is in flight.",
    {"type": "object", "required": ["deliveries"], "properties": {"deliveries": {"type": "array", "items": DELIVERY}}},
    params=(
        Param("project", "query", {"type": "string"}),
        Param("identityId", "query", {"type": "string"}),
        Param("status", "query", {"enum": ["scheduled", "sending", "delivered", "failed", "suppressed"]}),
        Param("wait", "query", {"type": "number"}),
    ),
    errors=(400, 503),  # 503: the emulator began shutting down during the wait
)
RESEND_DELIVERY = _op(
    "POST", "/webhooks/deliveries/{deliveryId}/resend",
    "Send a delivery's payload again (the same events) as a new delivery, to the project's webhook as it is now, "
    "with fresh attempts; its resentFrom names the original. Suppressed if the project has no webhook.",
    DELIVERY, params=(Param("deliveryId", "path", {"type": "string"}, required=True),), errors=(404,),
)


def _project(request: Request):
    emulator = emulator_of(request)
    project = emulator.projects.get(request.path_params["clientId"])
    if project is None:
        raise ProveError(404, 8001, f"no project with clientId {request.path_params['clientId']!r}")
    return emulator, project


def _webhook_of(request: Request):
    emulator, project = _project(request)
    if project.webhook is None:
        raise ProveError(404, 8001, f"project {project.client_id!r} has no webhook configured")
    return emulator, project


async def put_webhook(request: Request) -> Response:
    emulator, project = _project(request)
    body = await read_json(request, require_content_type=False)
    previous = project.webhook
    # Changing an existing webhook keeps its secret and its "configured since" instant.
    since = previous.configured_at if previous else emulator.clock.now()
    try:
        webhook = webhook_from_json(body, "webhook", configured_at=since, previous=previous)
    except ProjectsFileError as error:
        raise malformed(str(error)) from None
    return json_response(emulator.projects.with_webhook(project.client_id, webhook).webhook.as_json())


async def get_webhook(request: Request) -> Response:
    _, project = _webhook_of(request)
    return json_response(project.webhook.as_json())


async def delete_webhook(request: Request) -> Response:
    emulator, project = _webhook_of(request)
    emulator.projects.with_webhook(project.client_id, None)
    return json_response({"ok": True})


async def send_test_webhook(request: Request) -> Response:
    emulator, project = _webhook_of(request)
    delivery = emulator.webhooks.send_test(project.client_id)
    emulator.clock.fire_due()  # the first attempt is due now
    # Its own first attempt only: other deliveries in flight (e.g. to a slow receiver) do not count.
    await emulator.webhooks.settle(project.webhook.timeout_seconds + 1, delivery)
    return json_response(delivery.as_json())


async def trigger_event(request: Request) -> Response:
    emulator = emulator_of(request)
    identity = emulator.identities.find(request.path_params["identityId"])
    if identity is None:
        raise identity_not_found(request.path_params["identityId"])
    body = await read_json(request, require_content_type=False)
    if not isinstance(body, dict):
        raise malformed("the request body must be a JSON object")
    event_type = body.get("eventType")
    if event_type not in EVENT_TYPES:
        raise malformed(f"field 'eventType' must be one of: {', '.join(EVENT_TYPES)}")
    details = body.get("details", {})
    if not isinstance(details, dict):
        raise malformed("field 'details' must be an object")
    delivery = emulator.webhooks.emit(identity, event_type, details)
    emulator.clock.fire_due()  # a first attempt with no delay starts now
    return json_response(delivery.as_json())


async def resend_delivery(request: Request) -> Response:
    emulator = emulator_of(request)
    delivery = emulator.webhooks.resend(request.path_params["deliveryId"])
    if delivery is None:
        raise ProveError(404, 8001, f"no delivery with id {request.path_params['deliveryId']!r} (the log keeps "
                                    f"the latest {DELIVERY_LOG_CAPACITY} finished ones)")
    emulator.clock.fire_due()  # its first attempt is due now
    return json_response(delivery.as_json())


async def list_deliveries(request: Request) -> Response:
    emulator = emulator_of(request)
    query = request.query_params
    wait = query.get("wait")
    if wait is not None:
        try:
            seconds = float(wait)
        except ValueError:
            seconds = -1
        if not 0 <= seconds <= MAX_WAIT_SECONDS:
            raise malformed(f"'wait' must be a number of seconds from 0 to {MAX_WAIT_SECONDS}")
        await emulator.webhooks.settle(seconds)
    status = query.get("status")
    if status is not None and status not in ("scheduled", "sending", "delivered", "failed", "suppressed"):
        raise malformed("'status' must be one of: scheduled, sending, delivered, failed, suppressed")
    deliveries = emulator.webhooks.deliveries(
        project_id=query.get("project"), identity_id=query.get("identityId"), status=status)
    return json_response({"deliveries": [delivery.as_json() for delivery in deliveries]})


ROUTES: list[tuple[Operation, BaseRoute]] = [
    (operation, control_api(operation, handler))
    for operation, handler in (
        (PUT_WEBHOOK, put_webhook),
        (GET_WEBHOOK, get_webhook),
        (DELETE_WEBHOOK, delete_webhook),
        (TEST_WEBHOOK, send_test_webhook),
        (TRIGGER_EVENT, trigger_event),
        (LIST_DELIVERIES, list_deliveries),
        (RESEND_DELIVERY, resend_delivery),
    )
]
