"""Domain linking: every project is a Prove domain, and domains link to share identities (reference §7.2).

A link is directional: A asks to link to B (a pending request), B confirms it (a link). Then A has
B in `linkedTo` and B has A in `linkedFrom`. Either direction of a confirmed link lets the two
domains see each other's identities (cross-domain, discover/fetch); scopes are kept and reported
but not enforced, as Prove's material does not say what they restrict.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from emulator.clock import Clock, rfc3339
from emulator.domains import issuer_id_of, pcid_of
from emulator.errors import malformed
from emulator.projects import Project, ProjectRegistry
from emulator.rules import Array, Check, Obj, Text

MAX_SCOPES = 20
_PCID = dict(max_length=64, description="A domain's pcid, as GET /v3/domain/id reports it.")


def _names_a_domain(body: dict[str, Any]) -> str | None:
    if "pcidFrom" in body or "pcidTo" in body:
        return None
    return "field 'pcidTo' (or 'pcidFrom') is required: it names the domain whose link or request to remove"


LINK_REQUEST = Obj("", (
    Text("pcid", required=True, **_PCID),
    Array("scopes", Text("scope", max_length=128), max_items=MAX_SCOPES,
          description="Kept and reported by GET /v3/domain/linked; the emulator does not enforce them."),
))
CONFIRM_REQUEST = Obj("", (Text("pcid", required=True, **_PCID),))
UNLINK_REQUEST = Obj(
    "",
    (
        Text("pcidFrom", max_length=64, description="Remove the link (or request) from this domain to yours."),
        Text("pcidTo", max_length=64, description="Remove the link (or request) from yours to this domain."),
    ),
    checks=(Check("pcidFrom or pcidTo is required; when both are given, one of them is your own pcid.",
                  _names_a_domain),),
)


@dataclass
class Link:
    """A link request from one project to another; confirmed once `accepted_at` is set."""

    from_id: str
    to_id: str
    scopes: tuple[str, ...]
    requested_at: float
    accepted_at: float | None = None

    @property
    def confirmed(self) -> bool:
        return self.accepted_at is not None


def domain_name(project: Project) -> str:
    return project.name or project.client_id


class DomainLinks:
    def __init__(self, clock: Clock, projects: ProjectRegistry) -> None:
        self.clock = clock
        self.projects = projects
        self._links: dict[tuple[str, str], Link] = {}  # (from client id, to client id) -> link

    # -- the API ------------------------------------------------------------------------------------

    def domain_id(self, project: Project) -> dict[str, Any]:
        return {"pcid": pcid_of(project.client_id), "name": domain_name(project),
                "issuerId": issuer_id_of(project.client_id)}

    def link(self, project: Project, request: dict[str, Any]) -> dict[str, Any]:
        """Ask to link the caller's domain to another. Asking again (pending or already linked) is a
        no-op success: the first request's scopes and time stay."""
        other = self._other_domain(project, request["pcid"], "pcid")
        key = (project.client_id, other.client_id)
        if key not in self._links:
            self._links[key] = Link(project.client_id, other.client_id, tuple(request.get("scopes", ())),
                                    self.clock.now())
        return {"success": True}

    def confirm(self, project: Project, request: dict[str, Any]) -> dict[str, Any]:
        """Confirm the pending request another domain sent the caller (confirming twice is a no-op)."""
        other = self._other_domain(project, request["pcid"], "pcid")
        link = self._links.get((other.client_id, project.client_id))
        if link is None:
            raise malformed(
                f"field 'pcid': domain {request['pcid']} has no pending link request to this domain "
                "(it must call POST /v3/domain/link with this domain's pcid first)"
            )
        if not link.confirmed:
            link.accepted_at = self.clock.now()
        return {"success": True}

    def unlink(self, project: Project, request: dict[str, Any]) -> dict[str, Any]:
        """Remove one link or pending request, named by the other end (the caller's own pcid may be
        given as the other field, or left out)."""
        own = pcid_of(project.client_id)
        given_from, given_to = request.get("pcidFrom"), request.get("pcidTo")
        if given_from is not None and given_to is not None:
            if given_from == own:
                given_from = None
            elif given_to == own:
                given_to = None
            else:
                raise malformed(
                    f"field 'pcidFrom' (or field 'pcidTo') must be this domain's own pcid ({own}) when both "
                    "are given: a domain removes only its own links"
                )
        if given_to is not None:
            field, other = "pcidTo", self._other_domain(project, given_to, "pcidTo")
            key = (project.client_id, other.client_id)
        else:
            assert given_from is not None  # UNLINK_REQUEST's check
            field, other = "pcidFrom", self._other_domain(project, given_from, "pcidFrom")
            key = (other.client_id, project.client_id)
        if key not in self._links:
            direction = "to" if field == "pcidTo" else "from"
            raise malformed(
                f"field '{field}': there is no link or pending request {direction} domain "
                f"{pcid_of(other.client_id)} to remove"
            )
        del self._links[key]
        return {"success": True}

    def linked(self, project: Project) -> dict[str, Any]:
        me = project.client_id
        out: dict[str, list[dict[str, Any]]] = {"linkedFrom": [], "linkedTo": [], "requestsFrom": [],
                                                "requestsTo": []}
        for link in self._links.values():
            if me not in (link.from_id, link.to_id):
                continue
            outgoing = link.from_id == me
            other = link.to_id if outgoing else link.from_id
            entry: dict[str, Any] = {"pcid": pcid_of(other), "name": self.name_of(other),
                                     "scopes": list(link.scopes)}
            if link.accepted_at is not None:
                entry.update(acceptedAt=int(link.accepted_at), acceptedString=rfc3339(link.accepted_at))
                out["linkedTo" if outgoing else "linkedFrom"].append(entry)
            else:
                entry.update(requestedAt=int(link.requested_at), requestedString=rfc3339(link.requested_at))
                out["requestsTo" if outgoing else "requestsFrom"].append(entry)
        return out

    # -- for other products -------------------------------------------------------------------------

    def linked_projects(self, project_id: str) -> list[str]:
        """Client ids of the projects with a confirmed link to or from this one, in link order."""
        found: list[str] = []
        for link in self._links.values():
            if not link.confirmed or project_id not in (link.from_id, link.to_id):
                continue
            other = link.to_id if link.from_id == project_id else link.from_id
            if other not in found:
                found.append(other)
        return found

    def project_of(self, pcid: str) -> Project | None:
        return next((p for p in self.projects.all() if pcid_of(p.client_id) == pcid), None)

    def name_of(self, client_id: str) -> str:
        project = self.projects.get(client_id)
        return domain_name(project) if project is not None else client_id

    def links_from(self, project_id: str) -> list[Link]:
        return [link for link in self._links.values() if link.from_id == project_id]

    def restore(self, links: list[Link]) -> None:
        for link in links:
            self._links[(link.from_id, link.to_id)] = link

    def reset(self, project_id: str | None = None) -> None:
        if project_id is None:
            self._links.clear()
        else:
            self._links = {k: v for k, v in self._links.items() if project_id not in k}

    # -- helpers ------------------------------------------------------------------------------------

    def _other_domain(self, project: Project, pcid: str, field: str) -> Project:
        if pcid == pcid_of(project.client_id):
            raise malformed(f"field '{field}' is this domain's own pcid; name another domain")
        other = self.project_of(pcid)
        if other is None:
            raise malformed(f"field '{field}': no domain has pcid {pcid!r} (GET /v3/domain/id gives a domain's pcid)")
        return other
