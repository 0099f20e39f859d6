"""GET and POST /__emulator/snapshot: the whole state as one JSON document, and back
(emulator/state/snapshot.py)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from emulator.errors import malformed
from emulator.http.api import Operation, Param, control_api, emulator_of, json_response, read_json
from emulator.state import snapshot
from emulator.state.snapshot import SnapshotError

PATH = "/__emulator/snapshot"
TAG = "Control plane"
# A snapshot of a full project (10,000 live flows) is some 15 MiB of JSON; anything much bigger is no
# snapshot this emulator took.
MAX_SNAPSHOT_BYTES = 64 * 1024 * 1024

DOCUMENT = {
    "type": "object",
    "required": ["format", "version", "takenAt", "clock", "tokens", "projects", "personas"],
    "properties": {
        "format": {"const": snapshot.FORMAT},
        "version": {"type": "integer", "description": "The snapshot format's version."},
        "emulator": {"type": "string", "description": "The version of the emulator that took it."},
        "takenAt": {"type": "string", "format": "date-time"},
        "clock": {"type": "object"},
        "tokens": {"type": "object", "description": "The signing key: tokens issued before still verify."},
        "projects": {"type": "object", "description": "Per clientId: the project's settings and its state."},
        "faults": {"type": "array"},
        "personas": {"type": "object", "description": "The personas the records name, by digest."},
    },
}
RESTORED = {
    "type": "object",
    "required": ["ok", "mode", "projects", "flows"],
    "properties": {
        "ok": {"const": True},
        "mode": {"enum": list(snapshot.MODES)},
        "projects": {"type": "array", "items": {"type": "string"}, "description": "The projects restored."},
        "flows": {"type": "integer", "description": "Live flows restored."},
    },
}

GET_SNAPSHOT = Operation(
    method="GET", path=PATH, tag=TAG, response=DOCUMENT, errors=(),
    summary="The whole state as one versioned JSON document (it holds client and webhook secrets).",
)
POST_SNAPSHOT = Operation(
    method="POST", path=PATH, tag=TAG, response=RESTORED, errors=(400,), request_schema=DOCUMENT,
    max_body_bytes=MAX_SNAPSHOT_BYTES,
    summary="Load a snapshot: replace the whole state (the default), or merge: each project in the "
            "snapshot replaces that project's state and the rest stays. A bad snapshot changes nothing.",
    params=(Param("mode", "query", {"enum": list(snapshot.MODES)}, "replace (default) or merge"),),
)


async def get_snapshot(request: Request) -> Response:
    return Response(snapshot.dumps(snapshot.take(emulator_of(request))), media_type="application/json")


async def post_snapshot(request: Request) -> Response:
    emulator = emulator_of(request)
    mode = request.query_params.get("mode", "replace")
    if mode not in snapshot.MODES:
        raise malformed(f"query parameter 'mode' must be one of: {', '.join(snapshot.MODES)} (got {mode!r})")
    document = await read_json(request, require_content_type=False, limit=MAX_SNAPSHOT_BYTES)
    try:
        loaded = snapshot.from_json(document)
        snapshot.restore(emulator, loaded, mode)
    except SnapshotError as error:
        raise malformed(f"not a snapshot this emulator can load: {error}") from None
    return json_response({"ok": True, "mode": mode, "projects": list(loaded.projects),
                          "flows": sum(len(state.flows) for state in loaded.projects.values())})


ROUTES: list[tuple[Operation, BaseRoute]] = [
    (GET_SNAPSHOT, control_api(GET_SNAPSHOT, get_snapshot)),
    (POST_SNAPSHOT, control_api(POST_SNAPSHOT, post_snapshot)),
]
