"""A bounded journal of the calls clients made to the emulated API (not the control plane)."""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable

from emulator.clock import rfc3339

JOURNAL_CAPACITY = 500
BODY_EXCERPT = 2048  # characters of each body kept, so the journal's memory stays bounded
# (project id, correlation id) -> why a call naming that flow went as it did, or "": the reply cannot
# say it (an evicted flow is answered 8008, as an expired one).
FlowNote = Callable[[str, str], str]


@dataclass(slots=True)  # not frozen: a frozen one's __init__ costs twice as much, once per call
class JournalEntry:
    id: int
    at: float
    method: str
    path: str
    status: int
    duration_ms: float
    project_id: str
    correlation_id: str
    request_body: str
    response_body: str
    note: str = ""  # why the call went as the reply cannot say (a refused cross-origin call, an evicted flow)

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "at": rfc3339(self.at),
            "method": self.method,
            "path": self.path,
            "status": self.status,
            "durationMs": round(self.duration_ms, 3),
            "requestBody": self.request_body,
            "responseBody": self.response_body,
        }
        if self.project_id:
            out["project"] = self.project_id
        if self.correlation_id:
            out["correlationId"] = self.correlation_id
        if self.note:
            out["note"] = self.note
        return out


class Journal:
    def __init__(self, capacity: int = JOURNAL_CAPACITY,
                 flow_note: FlowNote = lambda project_id, correlation_id: "") -> None:
        self._entries: deque[JournalEntry] = deque(maxlen=capacity)
        self._ids = itertools.count(1)
        self._flow_note = flow_note

    def record(self, **fields: Any) -> None:
        for key in ("request_body", "response_body"):
            text = fields.get(key, "")
            if len(text) > BODY_EXCERPT:
                fields[key] = text[:BODY_EXCERPT] + f"... ({len(text)} characters)"
        if not fields.get("note") and fields.get("correlation_id"):
            fields["note"] = self._flow_note(fields.get("project_id", ""), fields["correlation_id"])
        self._entries.append(JournalEntry(id=next(self._ids), **fields))

    def entries(
        self, *, project_id: str | None = None, path: str | None = None, limit: int = 100
    ) -> list[JournalEntry]:
        chosen = [
            entry
            for entry in self._entries
            if (project_id is None or entry.project_id == project_id)
            and (path is None or entry.path == path)
        ]
        return chosen[-limit:]

    def clear(self, project_id: str | None = None) -> None:
        if project_id is None:
            self._entries.clear()
            return
        kept = [entry for entry in self._entries if entry.project_id != project_id]
        self._entries.clear()
        self._entries.extend(kept)
