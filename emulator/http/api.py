"""The HTTP plumbing every route shares: operations, JSON bodies, errors, faults and the journal.

An `Operation` declares a route once: the app mounts it and /openapi.json describes it from the same
declaration. Three kinds of handler sit behind operations:

- `prove_api`: Prove's server API (`/v3/...`). Bearer access token -> project; JSON body checked
  against the operation's rules; injected faults; Prove error envelope; journaled.
- `device_api`: the Web SDK's device channel (`/v1/client/...`). The authToken -> flow; always
  HTTP 200 with `{"next","data","error"}` (web-sdk-protocol §3.3); journaled.
- `control_api`: the emulator's own control plane (`/__emulator/...`). Same error envelope.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from emulator import strict_json
from emulator.errors import ProveError, client_disconnected, internal, malformed
from emulator.faults import fault_error
from emulator.flows.base import Flow
from emulator.flows.key_signatures import SignedCall
from emulator.flows.possession import ClientReply, refused
from emulator.http.body_schema import BodySchema
from emulator.projects import Project
from emulator.rules import Choice, Obj, validate
from emulator.scenarios.model import Fault, Persona
from emulator.service import Emulator
from emulator.tokens import AuthTokenError


MAX_BODY_BYTES = 4096
# The scope extension where the server (emulator/protocols.py) puts the request's deadline:
# {"at": event-loop time by which the body must have arrived, "seconds": the request timeout,
#  "arrived": whether it has, whole}.
REQUEST_DEADLINE = "prove_emulator.request_deadline"
log = logging.getLogger("emulator")


@dataclass(frozen=True)
class Param:
    name: str
    location: str  # "query" or "path"
    schema: dict[str, Any]
    description: str = ""
    required: bool = False


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    summary: str
    tag: str
    response: dict[str, Any] | None = None  # JSON Schema of the 200 reply (None: not JSON)
    request: Obj | Choice | None = None  # rules of the JSON body
    request_schema: dict[str, Any] | None = None  # a body described by hand (forms, control plane)
    request_content_type: str = "application/json"
    request_optional: bool = False  # an empty body is allowed (e.g. deactivate's optional fields)
    max_body_bytes: int = MAX_BODY_BYTES  # Prove's 4 KB; batch endpoints take more (their item limits need it)
    params: tuple[Param, ...] = ()
    errors: tuple[int, ...] = ()
    security: str | None = None  # "bearer" (access token) or "authToken"
    other_responses: dict[str, Any] = field(default_factory=dict)  # e.g. redirects, HTML


def flow_operation(
    path: str, summary: str, tag: str, request: Obj | Choice, response: dict[str, Any], **extra: Any
) -> Operation:
    """A POST of Prove's flow API: JSON rules in, a JSON reply out, the access token required."""
    return Operation(method="POST", path=path, summary=summary, tag=tag, request=request, response=response,
                     errors=(400, 401, 403, 500), security="bearer", **extra)


class AsciiJSONResponse(JSONResponse):
    """JSON escaped to ASCII: a lone surrogate a client sent (valid JSON, not valid UTF-8) can be
    echoed in a reply without breaking its encoding."""

    def render(self, content: Any) -> bytes:
        return content if isinstance(content, bytes) else render_json(content)


def render_json(body: Any) -> bytes:
    return strict_json.dumps(body).encode("ascii")  # never NaN or Infinity, which are not JSON


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    """A JSON reply; `body` may be rendered already (render_json), as a journaled reply is."""
    return AsciiJSONResponse(body, status_code=status, headers=headers)


def retry_after(error: ProveError | None) -> dict[str, str] | None:
    """A 429's Retry-After header (whole seconds): the rate limit's own, else 1 (an injected 429)."""
    if error is None or error.status != 429:
        return None
    return {"Retry-After": str(getattr(error, "retry_after", 1))}


def error_response(error: ProveError) -> JSONResponse:
    return json_response(error.body(), error.status, retry_after(error))


def emulator_of(request: Request) -> Emulator:
    return request.app.state.emulator


def journal_call(
    emulator: Emulator,
    request: Request,
    started: float,
    status: int,
    reply: bytes,
    project_id: str,
    correlation_id: str,
    request_body: str,
) -> None:
    """Journal a call with its reply as sent (rendered once, for the client and the journal)."""
    emulator.journal.record(
        at=emulator.clock.now(),
        method=request.method,
        path=request.scope["path"],
        status=status,
        duration_ms=(time.perf_counter() - started) * 1000,
        project_id=project_id,
        correlation_id=correlation_id,
        request_body=request_body,
        response_body=reply.decode("ascii"),
        # Set by the access guard, e.g. a browser's cross-origin call to a server-to-server endpoint.
        note=request.scope.get("state", {}).get("journal_note", ""),
    )


# -- request bodies ------------------------------------------------------------------------------


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The raw body, refusing (8001) anything over `limit` bytes without reading it all."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise malformed(f"the request body is {declared} bytes; it must be at most {_size(limit)}")
    deadline = request.scope.get("extensions", {}).get(REQUEST_DEADLINE)
    try:
        if deadline is None or deadline["arrived"]:  # all here (a small request comes in one read)
            return await _chunks(request, limit)
        # A total deadline, so a client trickling its body cannot hold the request (and a slot) for ever.
        async with asyncio.timeout_at(deadline["at"]):
            return await _chunks(request, limit)
    except TimeoutError:
        raise ProveError(408, 8001, f"the request body did not arrive within {deadline['seconds']:g} s "
                                    "of the request's first byte (the request timeout)") from None
    except ClientDisconnect:  # the client's doing, not ours: journaled as such, nothing done
        raise client_disconnected() from None


async def _chunks(request: Request, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise malformed(f"the request body is over {_size(limit)}; it must be at most {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def sent_text(raw: bytes) -> str:
    """A body as the client sent it, for the journal (which keeps an excerpt)."""
    return raw.decode("utf-8", "replace")


def _size(limit: int) -> str:
    return f"{limit // 1024} KB ({limit} bytes)"


async def read_json(
    request: Request, *, require_content_type: bool = True, optional: bool = False, limit: int = MAX_BODY_BYTES
) -> Any:
    """The parsed JSON body (8001 for a wrong content type, an empty body, invalid JSON or a number
    that is not a finite double, such as NaN or 1e400).

    With `optional`, an empty body reads as {} whatever its content type.
    """
    raw = await read_body(request, limit)
    return parse_json(raw, request.headers.get("content-type", ""), require_content_type=require_content_type,
                      optional=optional)


def parse_json(raw: bytes, content_type: str, *, require_content_type: bool = True, optional: bool = False) -> Any:
    """A body read whole, parsed as read_json does (8001 for anything but the JSON it expects)."""
    if not raw.strip():
        if optional:
            return {}
        raise malformed("the request body is empty; a JSON object is expected")
    if require_content_type and content_type.split(";")[0].strip().lower() != "application/json":
        raise malformed(f"the Content-Type must be application/json (got {content_type or 'none'})")
    try:
        return strict_json.loads(raw)
    except strict_json.NumberOutOfRange as error:
        raise malformed(str(error)) from None
    except (ValueError, UnicodeDecodeError) as error:  # JSONDecodeError is a ValueError
        raise malformed(f"the request body is not valid JSON: {error}") from None
    except RecursionError:
        raise malformed("the request body is nested too deeply") from None


# -- Prove's server API ----------------------------------------------------------------------------


@dataclass
class Call:
    """What a Prove API handler gets: the emulator, the caller's project and the checked request."""

    emulator: Emulator
    project: Project
    body: dict[str, Any]
    path_params: dict[str, str]
    query: dict[str, str]


ApiHandler = Callable[[Call], dict[str, Any]]
# What a call is about, for its persona's faults: the live flow it names (faults count per flow), or
# the persona of the number a starting call names.
PersonaOf = Callable[[Call], Persona | Flow | None]


def prove_api(operation: Operation, handler: ApiHandler, persona_of: PersonaOf | None = None) -> Route:
    async def endpoint(request: Request) -> Response:
        emulator = emulator_of(request)
        started = time.perf_counter()
        raw_body = ""
        project_id = ""
        correlation_id = ""
        refusal: ProveError | None = None
        try:
            client_id = emulator.tokens.client_id_of(request.headers.get("authorization"))
            project = emulator.projects.get(client_id)
            if project is None:
                raise ProveError(401, 8002, "not authorized: the access token's project no longer exists")
            project_id = project.client_id
            # Before the body is read: a refused call costs nothing and changes nothing.
            emulator.rate_limits.admit(project_id, project.rate_limit)
            body: dict[str, Any] = {}
            if operation.request is not None:
                raw = await read_body(request, operation.max_body_bytes)
                raw_body = sent_text(raw)
                parsed = parse_json(raw, request.headers.get("content-type", ""), optional=operation.request_optional)
                if isinstance(parsed, dict):
                    correlation_id = str(parsed.get("correlationId", ""))[:64]
                body = validate(operation.request, parsed)
            call = Call(emulator, project, body, request.path_params,
                        dict(request.query_params) if request.scope["query_string"] else {})
            subject = _subject_of(persona_of, call)
            flow = subject if isinstance(subject, Flow) else None
            persona = flow.persona if flow is not None else subject
            await apply_fault(emulator.faults.take(operation.path, project_id, persona,
                                                   flow.correlation_id if flow is not None else None))
            if flow is not None:
                emulator.flows.changing(flow)
            reply = handler(call)
            if flow is None and persona is not None:  # a starting call: its flow has started
                emulator.faults.flow_started(operation.path, project_id, persona)
            status, payload = 200, reply
            correlation_id = correlation_id or str(reply.get("correlationId", ""))
        except ProveError as error:
            refusal = error
            status, payload = error.status, error.body()
        except Exception:  # a bug: answer like Prove's 8000 rather than dropping the connection
            log.exception("unexpected error in %s %s", operation.method, operation.path)
            status, payload = 500, internal().body()
        reply = render_json(payload)
        journal_call(emulator, request, started, status, reply, project_id, correlation_id, raw_body)
        return json_response(reply, status, retry_after(refusal))

    return Route(operation.path, endpoint, methods=[operation.method])


def persona_of_flow(call: Call) -> Flow | None:
    """For endpoints that name a flow by correlationId: the flow, if it is live (its persona decides)."""
    return call.emulator.flows.get(call.project.client_id, call.body["correlationId"])


def _subject_of(persona_of: PersonaOf | None, call: Call) -> Persona | Flow | None:
    if persona_of is None:
        return None
    try:
        return persona_of(call)
    except ProveError:
        return None


async def apply_fault(fault: Fault | None) -> None:
    if fault is None:
        return
    if fault.latency_ms:
        await asyncio.sleep(fault.latency_ms / 1000)
    error = fault_error(fault)
    if error is not None:
        raise error


# -- the Web SDK's device channel ------------------------------------------------------------------

DeviceHandler = Callable[[Emulator, Flow, dict[str, Any]], ClientReply]
# A handler that also reads the request's signature (PA-* headers, web-sdk-protocol §3.2), and may
# run without an authToken (flow None). It may answer a bare object (the challenge's).
SignedDeviceHandler = Callable[[Emulator, "Flow | None", dict[str, Any], SignedCall], "ClientReply | dict[str, Any]"]


def flow_of_auth_token(emulator: Emulator, token: str | None) -> Flow:
    """The live flow an authToken belongs to; AuthTokenError when there is none."""
    claims = emulator.tokens.check_auth_token(token)
    flow = emulator.flows.by_auth_id(claims.auth_id)
    if flow is None or flow.correlation_id != claims.flow_id:
        raise AuthTokenError("the authToken's flow is unknown or has expired", flow_id=claims.flow_id)
    if flow.auth_token and flow.auth_token != token:
        raise AuthTokenError("the authToken does not belong to this flow")
    return flow


def bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def device_api(operation: Operation, handler: DeviceHandler) -> Route:
    return signed_device_api(operation, lambda emulator, flow, body, call: handler(emulator, flow, body))


def signed_device_api(operation: Operation, handler: SignedDeviceHandler, *, token: str = "required") -> Route:
    """A device-channel route. `token`: "required" (the flow's authToken), "optional" (a flow when an
    Authorization header is sent; the SDK's unregister sends none) or "none" (never read)."""
    # The SDK always sends the documented types; anything else is refused before it can act.
    body_rules = BodySchema(operation.request_schema or {"type": "object"})

    async def endpoint(request: Request) -> Response:
        emulator = emulator_of(request)
        started = time.perf_counter()
        raw_body = ""
        flow: Flow | None = None
        journaled_as = ("", "")  # (project id, correlation id)
        status = 200
        try:
            sent = bearer(request) if token != "none" else None
            if token == "required" or (token == "optional" and request.headers.get("authorization") is not None):
                flow = flow_of_auth_token(emulator, sent)
            raw = await read_body(request)
            content_type = request.headers.get("content-type", "")
            raw_body = sent_text(raw)
            parsed = parse_json(raw, content_type, require_content_type=False, optional=True)
            if not isinstance(parsed, dict):
                raise malformed("the request body must be a JSON object")
            problem = body_rules.first_problem(parsed)
            if problem is not None:
                where = ".".join(str(part) for part in problem.absolute_path) or "the request body"
                raise malformed(f"field '{where}': {problem.message}")
            if flow is not None:
                await apply_fault(emulator.faults.take(operation.path, flow.project_id, flow.persona,
                                                       flow.correlation_id))
            headers = request.headers
            # The scope's path is the route's (a fixed one); request.url would be built only to be split again.
            call = SignedCall(method=request.method, path=request.scope["path"],
                              query=request.scope["query_string"].decode("latin-1"),
                              content_type=content_type, body=raw, sig_version=headers.get("pa-sig-version"),
                              key_id=headers.get("pa-kid"), challenge=headers.get("pa-challenge"),
                              signature=headers.get("pa-signature"))
            if flow is not None:
                emulator.flows.changing(flow)
            reply = handler(emulator, flow, parsed, call)
            payload = reply.as_json() if isinstance(reply, ClientReply) else reply
        except AuthTokenError as error:
            payload = refused(f"authToken refused: {error}").as_json()
            gone = emulator.flows.gone(error.flow_id) if error.flow_id else None
            if gone is not None:  # journaled under the flow, so the journal says why it went
                journaled_as = (gone.project_id, error.flow_id)
        except ProveError as error:
            if error.code == 8001 and error.status == 400:  # a malformed body: the SDK never sends one
                payload = refused(error.message).as_json()
            else:  # an injected fault: the real HTTP status, which the SDK reports as such
                status, payload = error.status, error.body()
        except Exception:
            log.exception("unexpected error in %s %s", operation.method, operation.path)
            status, payload = 500, internal().body()
        reply = render_json(payload)
        if flow is not None:
            journaled_as = (flow.project_id, flow.correlation_id)
        journal_call(emulator, request, started, status, reply, *journaled_as, raw_body)
        return json_response(reply, status)

    return Route(operation.path, endpoint, methods=[operation.method])


# -- the control plane -------------------------------------------------------------------------------

ControlHandler = Callable[[Request], Awaitable[Response]]


def control_api(operation: Operation, handler: ControlHandler) -> BaseRoute:
    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except ProveError as error:
            return error_response(error)

    return Route(operation.path, endpoint, methods=[operation.method])
