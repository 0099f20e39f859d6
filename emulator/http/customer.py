"""Control-plane routes for the customer's side of a flow (emulator/flows/customer.py): by flow, or by
phone number (the number's newest flow still waiting for its customer)."""

from __future__ import annotations

from typing import Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from emulator.flows.base import Flow
from emulator.flows.customer import REQUEST, Customer
from emulator.http.api import Operation, Param, control_api, emulator_of, json_response, read_json
from emulator.http.control import FLOW, PREFIX, TAG
from emulator.rules import validate

ACTION_REPLY = {
    "type": "object",
    "additionalProperties": False,
    "required": ["action", "correlationId", "reply", "flow"],
    "properties": {
        "action": {"type": "string"},
        "correlationId": {"type": "string"},
        "reply": {"type": "object", "description": "What the Web SDK would have got from the device channel "
                                                   "({next, data, error}); for a click, the phone's "
                                                   "{outcome, redirect}."},
        "flow": FLOW,
    },
}
SUMMARY = ("The customer acts: start possession as the Web SDK would, enter a code, tap the Instant Link, let "
           "it expire, report an error, change the number, resend, or complete the happy path in one call. "
           "Same rules as the device channel: outcomes, webhooks and verify-status are the SDK's.")
ERRORS = (400, 404, 409, 410)

BY_FLOW = Operation(
    method="POST", path=PREFIX + "/flows/{correlationId}/customer", summary=SUMMARY, tag=TAG,
    request=REQUEST, response=ACTION_REPLY, errors=ERRORS,
    params=(Param("correlationId", "path", {"type": "string"}, required=True),),
)
BY_PHONE = Operation(
    method="POST", path=PREFIX + "/phones/{phoneNumber}/customer",
    summary="The same, on the number's newest flow still waiting for its customer.", tag=TAG,
    request=REQUEST, response=ACTION_REPLY, errors=ERRORS,
    params=(Param("phoneNumber", "path", {"type": "string"}, "As the flow has it, e.g. 2025550100.",
                  required=True),),
)


FlowFinder = Callable[[Customer, "str | None"], Flow]  # (the customer, the body's project) -> the flow


async def _act(request: Request, find: FlowFinder) -> Response:
    emulator = emulator_of(request)
    body = validate(REQUEST, await read_json(request, require_content_type=False))
    flow = find(emulator.customer, body.get("project"))
    return json_response(emulator.customer.act(flow, body).as_json())


async def by_flow(request: Request) -> Response:
    correlation_id = request.path_params["correlationId"]
    return await _act(request, lambda customer, project: customer.flow(correlation_id, project))


async def by_phone(request: Request) -> Response:
    phone_number = request.path_params["phoneNumber"]
    return await _act(request, lambda customer, project: customer.flow_of_number(phone_number, project))


ROUTES: list[tuple[Operation, BaseRoute]] = [
    (BY_FLOW, control_api(BY_FLOW, by_flow)),
    (BY_PHONE, control_api(BY_PHONE, by_phone)),
]
