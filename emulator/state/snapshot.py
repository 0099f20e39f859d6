"""The whole state as one versioned JSON document, and the way back: GET/POST /__emulator/snapshot,
`prove-emulator export`, `--import`, and what the state directory stores.

A snapshot holds, per project: its settings (webhook and secret included), its live flows with their
possession checks and deadlines, enrolled identities and reserved proveIds, Prove Keys and
outstanding challenges, domain links, SMS, webhook deliveries, runtime faults and the positions of
persona sequences. Beside them: the clock's setting, the token signing key (tokens issued before
still verify) and every persona a record names. Not in it: the request journal, rate-limit buckets,
and which flows recently went (an unknown flow is answered as an expired one either way).

Reading one is all or nothing: the document is decoded and checked whole (`SnapshotError` naming the
place) before any state changes.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from emulator import __version__
from emulator.clock import parse_rfc3339, rfc3339
from emulator.faults import RuntimeFault
from emulator.flows.base import Flow
from emulator.flows.domains import Link
from emulator.flows.prove_keys import Challenge, ProveKey
from emulator.identities import EnrolledIdentity
from emulator.outbox import Sms
from emulator.projects import Project
from emulator.service import Emulator
from emulator.state.codec import CodecError, Personas, decode, encode
from emulator.webhooks import Delivery

FORMAT = "prove-emulator-snapshot"
VERSION = 1
# Versions this emulator reads; an older one would be upgraded here, step by step, before decoding.
READABLE_VERSIONS = (1,)
MODES = ("replace", "merge")


class SnapshotError(ValueError):
    """A snapshot that cannot be read; nothing was changed. `where` is the place in the document."""

    def __init__(self, where: str, rule: str) -> None:
        super().__init__(f"{where}: {rule}" if where else rule)
        self.where = where
        self.rule = rule


@dataclass
class ProjectState:
    project: Project
    flows: list[Flow] = field(default_factory=list)
    identities: list[EnrolledIdentity] = field(default_factory=list)
    reserved_prove_ids: list[tuple[str, str]] = field(default_factory=list)  # (number's digits, proveId)
    prove_keys: list[ProveKey] = field(default_factory=list)  # least recently used first
    current_keys: list[tuple[str, str]] = field(default_factory=list)  # (number's digits, deviceId)
    challenges: list[Challenge] = field(default_factory=list)
    domain_links: list[Link] = field(default_factory=list)  # the links this project asked for
    sms: list[Sms] = field(default_factory=list)
    webhook_deliveries: list[Delivery] = field(default_factory=list)
    faults: list[RuntimeFault] = field(default_factory=list)
    persona_counts: list[tuple[str, str, str, int]] = field(default_factory=list)  # (set, persona, digits, flows)
    fault_flow_calls: list[tuple[str, str, int]] = field(default_factory=list)  # (correlationId, endpoint, calls)
    fault_start_calls: list[tuple[str, str, str, int]] = field(default_factory=list)  # (set, persona, endpoint, calls)


@dataclass
class ClockSetting:
    frozen_at: float | None
    offset: float


@dataclass
class Tokens:
    instance: str
    key: bytes


@dataclass
class Snapshot:
    taken_at: float
    clock: ClockSetting
    tokens: Tokens
    projects: dict[str, ProjectState]
    faults: list[RuntimeFault] = field(default_factory=list)  # runtime faults of every project


# -- taking ----------------------------------------------------------------------------------------


def take(emulator: Emulator) -> Snapshot:
    whole = take_head(emulator)
    whole.projects = {project.client_id: project_state(emulator, project) for project in emulator.projects.all()}
    return whole


def take_head(emulator: Emulator) -> Snapshot:
    """The snapshot without its projects: the clock, the signing key, faults of every project."""
    frozen_at, offset = emulator.clock.setting
    instance, key = emulator.tokens.identity
    return Snapshot(
        taken_at=emulator.clock.now(),
        clock=ClockSetting(frozen_at, offset),
        tokens=Tokens(instance, key),
        projects={},
        faults=[rule for rule in emulator.faults.runtime if rule.project_id is None],
    )


def project_state(emulator: Emulator, project: Project, records: bool = True) -> ProjectState:
    """The project's state; without its flows, SMS and webhook deliveries when not `records` (the
    state directory keeps each of those in a row of its own)."""
    project_id = project.client_id
    return ProjectState(
        project=project,
        flows=emulator.flows.all(project_id) if records else [],
        identities=emulator.identities.in_project(project_id),
        reserved_prove_ids=emulator.identities.reserved(project_id),
        prove_keys=emulator.prove_keys.all(project_id),
        current_keys=emulator.prove_keys.current_keys(project_id),
        challenges=emulator.prove_keys.challenges(project_id),
        domain_links=emulator.domains.links_from(project_id),
        sms=emulator.outbox.messages(project_id=project_id) if records else [],
        webhook_deliveries=emulator.webhooks.deliveries(project_id=project_id) if records else [],
        faults=[rule for rule in emulator.faults.runtime if rule.project_id == project_id],
        persona_counts=emulator.personas.counts(project_id),
        fault_flow_calls=emulator.faults.flow_calls(project_id),
        fault_start_calls=emulator.faults.start_calls(project_id),
    )


def to_json(snapshot: Snapshot, personas: Personas | None = None) -> dict[str, Any]:
    """The document; `personas` collects the personas its records name (a new table by default)."""
    personas = personas if personas is not None else Personas()
    body = encode(snapshot, personas)
    return {"format": FORMAT, "version": VERSION, "emulator": __version__,
            **body, "takenAt": rfc3339(snapshot.taken_at), "personas": personas.encoded}


def dumps(snapshot: Snapshot) -> bytes:
    return json.dumps(to_json(snapshot), separators=(",", ":"), allow_nan=False).encode()


# -- reading ---------------------------------------------------------------------------------------


def from_json(document: Any) -> Snapshot:
    """The snapshot a document holds, checked whole; SnapshotError naming the first problem."""
    if not isinstance(document, dict):
        raise SnapshotError("", "a snapshot must be a JSON object")
    if document.get("format") != FORMAT:
        raise SnapshotError("format", f"must be {FORMAT!r}: this is not a prove-emulator snapshot")
    version = document.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise SnapshotError("version", "must be the snapshot format's version, a whole number")
    if version not in READABLE_VERSIONS:
        newer = version > VERSION
        raise SnapshotError("version", f"snapshot format version {version} is {'newer than' if newer else 'older than'} "
                                       f"what this emulator ({__version__}) reads (version{'s' if len(READABLE_VERSIONS) > 1 else ''} "
                                       f"{', '.join(map(str, READABLE_VERSIONS))})"
                                       + ("; upgrade prove-emulator" if newer else "; take it again with a newer emulator"))
    raw_personas = document.get("personas", {})
    if not isinstance(raw_personas, dict):
        raise SnapshotError("personas", "must be an object")
    body = {key: value for key, value in document.items()
            if key not in ("format", "version", "emulator", "takenAt", "personas")}
    try:
        body["takenAt"] = parse_rfc3339(document.get("takenAt"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise SnapshotError("takenAt", "must be an RFC 3339 date-time") from None
    try:
        snapshot: Snapshot = decode(body, Snapshot, "", Personas(raw_personas))
    except CodecError as error:
        raise SnapshotError(error.where.lstrip("."), error.rule) from None
    _check(snapshot)
    return snapshot


def loads(data: bytes | str) -> Snapshot:
    try:
        document = json.loads(data)
    except (ValueError, RecursionError) as error:
        raise SnapshotError("", f"not JSON: {error}") from None
    return from_json(document)


def _check(snapshot: Snapshot) -> None:
    """What the types alone do not say: records belong to the project they are under, ids are unique."""
    seen_flows: set[str] = set()
    for project_id, state in snapshot.projects.items():
        where = f"projects[{project_id!r}]"
        if state.project.client_id != project_id:
            raise SnapshotError(f"{where}.project.clientId", f"must be {project_id!r}, the key it is under")
        for kind, records, attribute in (("flows", state.flows, "project_id"),
                                         ("identities", state.identities, "project_id"),
                                         ("proveKeys", state.prove_keys, "project_id"),
                                         ("challenges", state.challenges, "project_id"),
                                         ("sms", state.sms, "project_id"),
                                         ("webhookDeliveries", state.webhook_deliveries, "project_id"),
                                         ("domainLinks", state.domain_links, "from_id"),
                                         ("faults", state.faults, "project_id")):
            for index, record in enumerate(records):
                if getattr(record, attribute) != project_id:
                    raise SnapshotError(f"{where}.{kind}[{index}]", f"belongs to another project than {project_id!r}")
        for index, flow in enumerate(state.flows):
            if type(flow) is Flow:
                raise SnapshotError(f"{where}.flows[{index}].$type", "must name the flow's product (a kind of Flow)")
            if flow.correlation_id in seen_flows:
                raise SnapshotError(f"{where}.flows[{index}].correlationId", "is the id of another flow too")
            seen_flows.add(flow.correlation_id)
            for number, event in enumerate(flow.timeline):
                if (len(event) < 2 or len(event) % 2 or isinstance(event[0], bool) or not isinstance(event[0], (int, float))
                        or not all(isinstance(item, str) for item in (event[1], *event[2::2]))):
                    raise SnapshotError(f"{where}.flows[{index}].timeline[{number}]",
                                        "must be [at, event, key, value, ...]: a time, then strings naming each value")
    for index, rule in enumerate(snapshot.faults):
        if rule.project_id is not None:
            raise SnapshotError(f"faults[{index}]", "must be a fault of every project (a project's go under it)")


# -- restoring -------------------------------------------------------------------------------------


def restore(emulator: Emulator, snapshot: Snapshot, mode: str = "replace") -> None:
    """Put a snapshot's state in place. "replace": the emulator's whole state becomes the snapshot's,
    clock and signing key included. "merge": each project in the snapshot replaces that project's
    state; the other projects, the clock and the signing key stay (the snapshot's tokens then no
    longer verify)."""
    if mode not in MODES:
        raise ValueError(mode)
    since = snapshot.taken_at
    if mode == "replace":
        emulator.reset()
        emulator.clock.restore(snapshot.clock.frozen_at, snapshot.clock.offset)
        emulator.tokens.adopt(snapshot.tokens.instance, snapshot.tokens.key)
        emulator.projects.replace_all([state.project for state in snapshot.projects.values()])
        emulator.faults.restore(None, snapshot.faults)
    else:
        _check_merge(emulator, snapshot)
        for project_id, state in snapshot.projects.items():
            emulator.reset(project_id)
            emulator.projects.put(state.project)
        _renumber(emulator, snapshot)
    for project_id, state in snapshot.projects.items():
        emulator.identities.restore(state.identities, [(project_id, digits, prove_id)
                                                      for digits, prove_id in state.reserved_prove_ids])
        emulator.prove_keys.restore(state.prove_keys, [(project_id, digits, device_id)
                                                      for digits, device_id in state.current_keys], state.challenges)
        emulator.domains.restore(state.domain_links)
        emulator.outbox.restore(state.sms)
        emulator.faults.restore(project_id, state.faults, state.fault_flow_calls, state.fault_start_calls)
        emulator.personas.restore_counts(project_id, state.persona_counts)
        emulator.adopt_flows(state.flows)
        emulator.webhooks.restore(state.webhook_deliveries, state.identities, since)


def _check_merge(emulator: Emulator, snapshot: Snapshot) -> None:
    """Records merged in must not take ids that other projects' records hold (flows, identities and
    Prove Keys are found by id alone)."""
    merged = set(snapshot.projects)
    for project_id, state in snapshot.projects.items():
        where = f"projects[{project_id!r}]"
        for index, flow in enumerate(state.flows):
            live = emulator.flows.find(flow.correlation_id)
            if live is not None and live.project_id not in merged:
                raise SnapshotError(f"{where}.flows[{index}].correlationId", f"is a live flow of project {live.project_id!r}")
        for index, identity in enumerate(state.identities):
            known = emulator.identities.find(identity.identity_id)
            if known is not None and known.project_id not in merged:
                raise SnapshotError(f"{where}.identities[{index}].identityId", f"is an identity of project {known.project_id!r}")
        for index, key in enumerate(state.prove_keys):
            known_key = emulator.prove_keys.find_device(key.device_id)
            if known_key is not None and known_key.project_id not in merged:
                raise SnapshotError(f"{where}.proveKeys[{index}].deviceId", f"is a Prove Key of project {known_key.project_id!r}")


def _renumber(emulator: Emulator, snapshot: Snapshot) -> None:
    """Merged SMS and deliveries take new numbers after the emulator's own: their numbers are global."""
    next_sms = max((sms.id for sms in emulator.outbox.messages()), default=0) + 1
    for state in snapshot.projects.values():
        renumbered = []
        for sms in state.sms:
            renumbered.append(dataclasses.replace(sms, id=next_sms))
            next_sms += 1
        state.sms = renumbered
    existing = {delivery.id for delivery in emulator.webhooks.deliveries()}
    for state in snapshot.projects.values():
        names = {}
        for delivery in state.webhook_deliveries:
            if delivery.id in existing:
                names[delivery.id] = emulator.webhooks.new_delivery_id()
                delivery.id = names[delivery.id]
        for delivery in state.webhook_deliveries:
            delivery.resent_from = names.get(delivery.resent_from, delivery.resent_from)
