"""The control plane under /__emulator: health, reset, clock, SMS outbox, flows, journal, scenarios,
projects and injected faults. JSON in, JSON out, Prove's error envelope for bad input."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from emulator import __version__
from emulator.clock import RANGE_TEXT, ClockRangeError, parse_rfc3339, rfc3339
from emulator.errors import ProveError, invalid_correlation_id, malformed
from emulator.faults import FAULT_ENDPOINT_ALIASES, RUNTIME_FAULT_ENDPOINTS, canonical_fault_endpoint
from emulator.http.api import Operation, Param, control_api, emulator_of, json_response, read_json
from emulator.projects import ProjectsFileError, project_from_json
from emulator.scenarios.loader import ScenarioError, schema as scenario_schema
from emulator.scenarios.model import Fault, Persona
from emulator.service import Emulator

PREFIX = "/__emulator"
TAG = "Control plane"
MAX_WAIT_SECONDS = 60
MAX_ADVANCE_SECONDS = 10 * 365 * 24 * 3600

OK = {"type": "object", "required": ["ok"], "properties": {"ok": {"const": True}}}
CLOCK = {
    "type": "object",
    "additionalProperties": False,
    "required": ["now", "frozen", "pendingTimers"],
    "properties": {
        "now": {"type": "string", "format": "date-time"},
        "frozen": {"type": "boolean"},
        "pendingTimers": {"type": "integer", "minimum": 0},
    },
}
SMS = {
    "type": "object",
    "additionalProperties": False,
    "required": ["id", "project", "correlationId", "phoneNumber", "kind", "body", "sentAt"],
    "properties": {
        "id": {"type": "integer"},
        "project": {"type": "string"},
        "correlationId": {"type": "string"},
        "phoneNumber": {"type": "string"},
        "kind": {"enum": ["otp", "instant-link"]},
        "body": {"type": "string"},
        "otp": {"type": "string", "pattern": "^[0-9]{4,6}$"},
        "link": {"type": "string"},
        "sentAt": {"type": "string", "format": "date-time"},
    },
}
FLOW = {
    "type": "object",
    "required": ["correlationId", "authId", "project", "product", "phoneNumber", "persona", "state",
                 "createdAt", "expiresAt"],
    "properties": {
        "correlationId": {"type": "string"},
        "authId": {"type": "string"},
        "project": {"type": "string"},
        "product": {"type": "string"},
        "phoneNumber": {"type": "string"},
        "persona": {"type": "string"},
        "state": {"type": "string"},
        "createdAt": {"type": "string", "format": "date-time"},
        "expiresAt": {"type": "string", "format": "date-time"},
        "possession": {"type": "object"},
        "timeline": {
            "type": "array",
            "items": {"type": "object", "required": ["at", "event"],
                      "properties": {"at": {"type": "string"}, "event": {"type": "string"}}},
        },
    },
}
PERSONA = {
    "type": "object",
    "required": ["id", "set", "file", "possession", "dataCheck"],
    "properties": {
        "id": {"type": "string"},
        "set": {"type": "string"},
        "file": {"type": "string"},
        "phoneNumber": {"type": "string"},
        "pattern": {"type": "string"},
        "description": {"type": "string"},
        "source": {"enum": ["prove", "emulator"]},
        "products": {"type": "array", "items": {"type": "string"}},
        "name": {"type": "string"},
        "possession": {"type": "string"},
        "dataCheck": {"type": "string"},
        "otp": {"type": "string"},
    },
}
PROJECT = {
    "type": "object",
    "required": ["clientId", "products", "unknownNumbers", "scenarioSets", "instantLinkStartReply"],
    "properties": {
        "clientId": {"type": "string"},
        "name": {"type": "string"},
        "products": {"type": "array", "items": {"type": "string"}},
        "unknownNumbers": {"enum": ["reject", "default-persona"]},
        "scenarioSets": {"type": "array", "items": {"type": "string"}},
        "instantLinkStartReply": {"enum": ["data", "empty"]},
        "webhook": {"type": "object"},
        "consentCountries": {"type": "array", "items": {"type": "string", "pattern": "^[A-Z]{2}$"},
                             "description": "Countries whose MNO consent the project has (Verified Users "
                                            "for Canadian numbers needs CA)."},
        "rateLimit": {"type": ["number", "null"], "minimum": 1, "maximum": 10000,
                      "description": "Requests per second; null: no limit (the default)."},
        "maxLiveFlows": {"type": ["integer", "null"], "minimum": 1, "maximum": 1000000,
                         "description": "Live flows the project holds at most (a new one evicts the finished "
                                        "first, then the oldest); null: the emulator's --max-live-flows."},
    },
}
FAULT = {
    "type": "object",
    "required": ["endpoint", "times", "used"],
    "properties": {
        "endpoint": {"type": "string"},
        "status": {"type": "integer"},
        "latencyMs": {"type": "integer"},
        "times": {"type": "integer"},
        "used": {"type": "integer"},
        "project": {"type": "string"},
    },
}


def _list_of(key: str, item: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": [key], "properties": {key: {"type": "array", "items": item}}}


def _op(method: str, path: str, summary: str, response: dict[str, Any], **extra: Any) -> Operation:
    return Operation(method=method, path=PREFIX + path, summary=summary, tag=TAG, response=response,
                     errors=extra.pop("errors", (400,)), **extra)


# -- health, reset, clock ----------------------------------------------------------------------------

HEALTH = _op(
    "GET",
    "/health",
    "Liveness and a summary of what is loaded.",
    {
        "type": "object",
        "required": ["status", "version", "publicUrl", "now", "projects", "flows", "personas"],
        "properties": {
            "status": {"const": "ok"},
            "version": {"type": "string"},
            "publicUrl": {"type": "string"},
            "now": {"type": "string", "format": "date-time"},
            "projects": {"type": "integer"},
            "flows": {"type": "integer"},
            "personas": {"type": "integer"},
        },
    },
    errors=(),
)


async def health(request: Request) -> Response:
    emulator = emulator_of(request)
    return json_response({
        "status": "ok",
        "version": __version__,
        "publicUrl": emulator.public_origin,
        "now": rfc3339(emulator.clock.now()),
        "projects": len(emulator.projects.all()),
        "flows": len(emulator.flows),
        "personas": len(emulator.catalogue.personas()),
    })


RESET = _op(
    "POST",
    "/reset",
    "Forget state: everything (also the clock and runtime project changes), or one project's.",
    OK,
    request_schema={"type": "object", "properties": {"project": {"type": "string"}}},
)


async def reset(request: Request) -> Response:
    emulator = emulator_of(request)
    body = await _object_body(request)
    project = body.get("project")
    if project is not None and (not isinstance(project, str) or emulator.projects.get(project) is None):
        raise malformed(f"field 'project' must be the clientId of a project (got {project!r})")
    emulator.reset(project)
    return json_response({"ok": True})


GET_CLOCK = _op("GET", "/clock", "Read the emulator clock.", CLOCK, errors=())
SET_CLOCK = _op(
    "POST",
    "/clock",
    "Move the clock: freeze/unfreeze, set an instant, advance by seconds (applied in that order). "
    "Everything that falls due fires before the reply.",
    CLOCK,
    request_schema={
        "type": "object",
        "properties": {
            "freeze": {"type": "boolean"},
            "set": {"type": "string", "format": "date-time",
                    "description": f"An instant {RANGE_TEXT} (the clock's range)."},
            "advance": {"type": "number", "minimum": 0, "maximum": MAX_ADVANCE_SECONDS,
                        "description": "Seconds; the clock may not pass 9000-01-01T00:00:00Z."},
        },
    },
)


def _clock_json(emulator: Emulator) -> dict[str, Any]:
    return {
        "now": rfc3339(emulator.clock.now()),
        "frozen": emulator.clock.frozen,
        "pendingTimers": emulator.clock.pending_timers,
    }


async def get_clock(request: Request) -> Response:
    return json_response(_clock_json(emulator_of(request)))


async def set_clock(request: Request) -> Response:
    emulator = emulator_of(request)
    body = await _object_body(request, required=True)
    unknown = sorted(set(body) - {"freeze", "set", "advance"})
    if unknown or not body:
        raise malformed("the body takes 'freeze' (boolean), 'set' (RFC 3339) and/or 'advance' (seconds)"
                        + (f"; unknown: {', '.join(unknown)}" if unknown else ""))
    freeze = body.get("freeze")
    if freeze is not None and not isinstance(freeze, bool):
        raise malformed("field 'freeze' must be a boolean")
    instant = None
    if "set" in body:
        if not isinstance(body["set"], str):
            raise malformed("field 'set' must be an RFC 3339 timestamp, e.g. 2026-01-01T00:00:00Z")
        try:
            instant = parse_rfc3339(body["set"])
        except ValueError as error:
            raise malformed(f"field 'set' must be an RFC 3339 timestamp with an offset: {error}") from None
    advance = body.get("advance")
    if advance is not None and (
        isinstance(advance, bool) or not isinstance(advance, (int, float)) or not 0 <= advance <= MAX_ADVANCE_SECONDS
    ):
        raise malformed(f"field 'advance' must be a number of seconds from 0 to {MAX_ADVANCE_SECONDS}")
    try:  # all or nothing: a move past the clock's range changes nothing
        emulator.clock.move(freeze=freeze, instant=instant, advance=float(advance or 0))
    except ClockRangeError as error:
        got = f" (got {body['set'][:40]})" if error.argument == "set" else ""
        raise malformed(f"field '{error.argument}' {error.rule}{got}") from None
    return json_response(_clock_json(emulator))


# -- SMS outbox, flows, journal ------------------------------------------------------------------------

LIST_SMS = _op(
    "GET",
    "/sms",
    "The SMS outbox (oldest first). With wait, long-polls until a matching message exists.",
    _list_of("messages", SMS),
    params=(
        Param("phoneNumber", "query", {"type": "string"}),
        Param("project", "query", {"type": "string"}),
        Param("correlationId", "query", {"type": "string"}),
        Param("after", "query", {"type": "integer"}, "Only messages with a larger id."),
        Param("wait", "query", {"type": "number"}, f"Seconds to wait for one (at most {MAX_WAIT_SECONDS})."),
    ),
    errors=(400, 503),  # 503: the emulator began shutting down during the wait
)


async def list_sms(request: Request) -> Response:
    emulator = emulator_of(request)
    query = request.query_params
    filters = {
        "phone_number": query.get("phoneNumber"),
        "project_id": query.get("project"),
        "correlation_id": query.get("correlationId"),
        "after": int(_number(query.get("after"), "after", 0, 2**62, integer=True) or 0),
    }
    wait = _number(query.get("wait"), "wait", 0, MAX_WAIT_SECONDS)
    messages = await emulator.outbox.wait(wait, **filters) if wait else emulator.outbox.messages(**filters)
    return json_response({"messages": [sms.as_json() for sms in messages]})


LIST_FLOWS = _op(
    "GET",
    "/flows",
    "Live flows (expired flows are swept).",
    _list_of("flows", FLOW),
    params=(Param("project", "query", {"type": "string"}),),
)
GET_FLOW = _op(
    "GET",
    "/flows/{correlationId}",
    "One flow: its state and the timeline of what happened. A flow that expired or was evicted lately is 410.",
    FLOW,
    params=(Param("correlationId", "path", {"type": "string"}, required=True),),
    errors=(400, 410),
)


async def list_flows(request: Request) -> Response:
    emulator = emulator_of(request)
    flows = emulator.flows.all(request.query_params.get("project"))
    return json_response({"flows": [flow.summary() for flow in flows]})


async def get_flow(request: Request) -> Response:
    emulator = emulator_of(request)
    correlation_id = request.path_params["correlationId"]
    flow = emulator.flows.find(correlation_id)
    if flow is None:
        gone = emulator.flows.gone(correlation_id)
        if gone is not None:  # expired, or evicted from a full project
            raise ProveError(410, 8008, gone.explain(correlation_id))
        raise invalid_correlation_id(correlation_id)
    return json_response(flow.detail())


LIST_REQUESTS = _op(
    "GET",
    "/requests",
    "The request journal: recent calls to the emulated API (bounded; oldest dropped first).",
    _list_of("requests", {"type": "object", "required": ["id", "at", "method", "path", "status"],
                          "properties": {"note": {"type": "string", "description": "Why the call went as it did "
                                                  "when the reply cannot say (e.g. a refused cross-origin call)."}}}),
    params=(
        Param("project", "query", {"type": "string"}),
        Param("path", "query", {"type": "string"}),
        Param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 500}),
    ),
)


async def list_requests(request: Request) -> Response:
    emulator = emulator_of(request)
    query = request.query_params
    limit = int(_number(query.get("limit"), "limit", 1, 500, integer=True) or 100)
    entries = emulator.journal.entries(project_id=query.get("project"), path=query.get("path"), limit=limit)
    return json_response({"requests": [entry.as_json() for entry in entries]})


# -- scenarios ---------------------------------------------------------------------------------------

LIST_SCENARIOS = _op(
    "GET",
    "/scenarios",
    "The loaded scenario files and personas.",
    {
        "type": "object",
        "required": ["files", "personas"],
        "properties": {"files": {"type": "array", "items": {"type": "string"}},
                       "personas": {"type": "array", "items": PERSONA}},
    },
    errors=(),
)
RELOAD_SCENARIOS = _op(
    "POST",
    "/scenarios/reload",
    "Re-read the scenario directories. On any problem nothing changes and the reply lists them.",
    {"type": "object", "required": ["files", "personas"],
     "properties": {"files": {"type": "array"}, "personas": {"type": "integer"}}},
)
SCENARIO_SCHEMA = _op("GET", "/scenarios/schema", "The JSON Schema of scenario files.", {"type": "object"},
                      errors=())


def persona_json(persona: Persona) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": persona.key,
        "set": persona.scenario_set,
        "file": persona.file,
        "source": persona.source,
        "possession": persona.possession.value,
        "dataCheck": persona.data_check,
        "otp": persona.otp,
    }
    if persona.phone_number:
        out["phoneNumber"] = persona.phone_number
    else:
        out["pattern"] = persona.pattern
    if persona.description:
        out["description"] = persona.description
    if persona.products:
        out["products"] = sorted(persona.products)
    if persona.identity.first_name:
        out["name"] = f"{persona.identity.first_name} {persona.identity.last_name}"
    return out


async def list_scenarios(request: Request) -> Response:
    catalogue = emulator_of(request).catalogue
    return json_response({"files": catalogue.files, "personas": [persona_json(p) for p in catalogue.personas()]})


async def reload_scenarios(request: Request) -> Response:
    emulator = emulator_of(request)
    try:
        catalogue = emulator.reload_scenarios()
    except ScenarioError as error:
        raise malformed("scenario files have problems; nothing was reloaded: " + "; ".join(error.problems)) from None
    return json_response({"files": catalogue.files, "personas": len(catalogue.personas())})


async def get_scenario_schema(request: Request) -> Response:
    return json_response(scenario_schema())


# -- projects ------------------------------------------------------------------------------------------

LIST_PROJECTS = _op("GET", "/projects", "The projects (credentials are not shown).", _list_of("projects", PROJECT),
                    errors=())
GET_PROJECT = _op(
    "GET", "/projects/{clientId}", "One project.", PROJECT,
    params=(Param("clientId", "path", {"type": "string"}, required=True),), errors=(404,),
)
PUT_PROJECT = _op(
    "PUT",
    "/projects/{clientId}",
    "Create or replace a project at run time (same keys as the projects file). Reset restores the start-up set.",
    PROJECT,
    params=(Param("clientId", "path", {"type": "string"}, required=True),),
    request_schema={"type": "object", "required": ["clientSecret"]},
)


def _project_or_404(emulator: Emulator, client_id: str):
    project = emulator.projects.get(client_id)
    if project is None:
        raise ProveError(404, 8001, f"no project with clientId {client_id!r}")
    return project


async def list_projects(request: Request) -> Response:
    return json_response({"projects": [p.as_json() for p in emulator_of(request).projects.all()]})


async def get_project(request: Request) -> Response:
    return json_response(_project_or_404(emulator_of(request), request.path_params["clientId"]).as_json())


async def put_project(request: Request) -> Response:
    emulator = emulator_of(request)
    body = await _object_body(request, required=True)
    client_id = request.path_params["clientId"]
    if body.get("clientId", client_id) != client_id:
        raise malformed("field 'clientId' must match the clientId in the path")
    try:
        project = project_from_json({**body, "clientId": client_id}, "project", now=emulator.clock.now())
    except ProjectsFileError as error:
        raise malformed(str(error)) from None
    emulator.projects.put(project)
    return json_response(project.as_json())


# -- faults --------------------------------------------------------------------------------------------

LIST_FAULTS = _op("GET", "/faults", "Injected faults still to fire.", _list_of("faults", FAULT), errors=())
ADD_FAULT = _op(
    "POST",
    "/faults",
    "Inject a fault: an HTTP status and/or latency on an endpoint for its next N calls (optionally one project).",
    FAULT,
    request_schema={
        "type": "object",
        "required": ["endpoint"],
        "properties": {
            "endpoint": {"enum": [*RUNTIME_FAULT_ENDPOINTS, *FAULT_ENDPOINT_ALIASES],
                         "description": "An operation's path template. Aliases (e.g. /v3/identity/{identityId} for "
                                        "/v3/identity/{proveId}) are filed under the template they name."},
            "status": {"type": "integer", "minimum": 400, "maximum": 599},
            "latencyMs": {"type": "integer", "minimum": 0, "maximum": 60000},
            "times": {"type": "integer", "minimum": 1},
            "project": {"type": "string"},
        },
    },
)
CLEAR_FAULTS = _op("DELETE", "/faults", "Remove every injected fault.", OK, errors=())


async def list_faults(request: Request) -> Response:
    return json_response({"faults": [rule.as_json() for rule in emulator_of(request).faults.runtime]})


async def add_fault(request: Request) -> Response:
    emulator = emulator_of(request)
    body = await _object_body(request, required=True)
    unknown = sorted(set(body) - {"endpoint", "status", "latencyMs", "times", "project"})
    if unknown:
        raise malformed(f"unknown field(s): {', '.join(unknown)}")
    endpoint = canonical_fault_endpoint(body.get("endpoint"))  # e.g. {identityId} -> {proveId}
    if endpoint not in RUNTIME_FAULT_ENDPOINTS:
        raise malformed(f"field 'endpoint' must be one of: {', '.join(RUNTIME_FAULT_ENDPOINTS)} "
                        f"(also accepted: {', '.join(FAULT_ENDPOINT_ALIASES)})")
    status = body.get("status")
    if status is not None and (not isinstance(status, int) or isinstance(status, bool) or not 400 <= status <= 599):
        raise malformed("field 'status' must be an HTTP status from 400 to 599")
    latency = _json_int(body, "latencyMs", 0, 60000)
    times = _json_int(body, "times", 1, 10**6)
    if status is None and not latency:
        raise malformed("a fault needs 'status' or 'latencyMs' (or both)")
    project = body.get("project")
    if project is not None and (not isinstance(project, str) or emulator.projects.get(project) is None):
        raise malformed(f"field 'project' must be the clientId of a project (got {project!r})")
    fault = Fault(endpoint=endpoint, status=status, latency_ms=int(latency or 0), times=int(times or 1))
    return json_response(emulator.faults.add(fault, project).as_json())


async def clear_faults(request: Request) -> Response:
    emulator_of(request).faults.runtime.clear()
    return json_response({"ok": True})


# -- helpers -------------------------------------------------------------------------------------------


async def _object_body(request: Request, required: bool = False) -> dict[str, Any]:
    body = await read_json(request, require_content_type=False, optional=not required)
    if not isinstance(body, dict):
        raise malformed("the request body must be a JSON object")
    return body


def _json_int(body: dict[str, Any], name: str, low: int, high: int) -> int | None:
    """An integer field of a JSON body (a number written as a string is refused, as the spec says)."""
    raw = body.get(name)
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int) or not low <= raw <= high:
        raise malformed(f"field '{name}' must be an integer from {low} to {high}")
    return raw


def _number(raw: Any, name: str, low: float, high: float, integer: bool = False) -> float | None:
    if raw is None:
        return None
    try:
        value = float(raw)
        if integer and not value.is_integer():
            raise ValueError
    except (TypeError, ValueError, OverflowError):
        raise malformed(f"'{name}' must be {'an integer' if integer else 'a number'} from {low} to {high}") from None
    if isinstance(raw, bool) or not low <= value <= high:
        raise malformed(f"'{name}' must be {'an integer' if integer else 'a number'} from {low} to {high}")
    return int(value) if integer else value


ROUTES: list[tuple[Operation, BaseRoute]] = [
    (operation, control_api(operation, handler))
    for operation, handler in (
        (HEALTH, health),
        (RESET, reset),
        (GET_CLOCK, get_clock),
        (SET_CLOCK, set_clock),
        (LIST_SMS, list_sms),
        (LIST_FLOWS, list_flows),
        (GET_FLOW, get_flow),
        (LIST_REQUESTS, list_requests),
        (LIST_SCENARIOS, list_scenarios),
        (RELOAD_SCENARIOS, reload_scenarios),
        (SCENARIO_SCHEMA, get_scenario_schema),
        (LIST_PROJECTS, list_projects),
        (GET_PROJECT, get_project),
        (PUT_PROJECT, put_project),
        (LIST_FAULTS, list_faults),
        (ADD_FAULT, add_fault),
        (CLEAR_FAULTS, clear_faults),
    )
]
