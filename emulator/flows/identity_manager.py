"""Identity Manager: enrol, list, look up, (de)activate and remove identities (reference §4.12).

Identities enrolled by successful Verified Users flows are the same records. Projects of the
identity-manager or verified-users product may call it; another project's identity is 8011.
"""

from __future__ import annotations

from typing import Any

from emulator.errors import ProveError, identity_not_found, malformed
from emulator.flows.kit import FlowKit
from emulator.flows.steps import require_product
from emulator.identities import EnrolledIdentity
from emulator.projects import Project
from emulator.rules import PHONE_NUMBER, Array, Check, Obj, Text


PRODUCT = "identity-manager"
MAX_BATCH = 100
MAX_PAGE = 1000

_ITEM_FIELDS = (
    Text("phoneNumber", required=True, pattern=PHONE_NUMBER),
    Text("clientCustomerId", max_length=128),
    Text("deviceId", max_length=128),
)
ENROL_REQUEST = Obj("", (*_ITEM_FIELDS, Text("clientRequestId", max_length=128)))
_BATCH_ITEM = Obj("item", _ITEM_FIELDS)


def _has_items(body: dict[str, Any]) -> str | None:
    if "items" in body or "identities" in body:
        return None
    return "field 'items' (or its alias 'identities') is required"


BATCH_REQUEST = Obj(
    "",
    (
        Text("clientRequestId", max_length=128),
        Array("items", _BATCH_ITEM, max_items=MAX_BATCH, description=f"At most {MAX_BATCH} identities."),
        Array("identities", _BATCH_ITEM, max_items=MAX_BATCH,
              description="The name Prove's guide uses for items; either is accepted."),
    ),
    checks=(Check("items (or identities) is required.", _has_items),),
)
CLIENT_REQUEST_ONLY = Obj("", (Text("clientRequestId", max_length=128),))


class IdentityManager:
    def __init__(self, kit: FlowKit) -> None:
        self.kit = kit

    def enrol(self, project: Project, request: dict[str, Any]) -> dict[str, Any]:
        require_product(project, PRODUCT, "verified-users")
        identity = self._enrol_one(project, request)
        return {"identityId": identity.identity_id, "success": True}

    def batch(self, project: Project, request: dict[str, Any]) -> dict[str, Any]:
        require_product(project, PRODUCT, "verified-users")
        results: list[dict[str, Any]] = []
        for item in request.get("items", request.get("identities", [])):
            try:
                identity = self._enrol_one(project, item)
                results.append({"identityId": identity.identity_id, "phoneNumber": item["phoneNumber"]})
            except ProveError as error:
                results.append({"phoneNumber": item["phoneNumber"], "error": error.body()})
        return {"results": results}

    def list(self, project: Project, query: dict[str, str]) -> dict[str, Any]:
        require_product(project, PRODUCT, "verified-users")
        limit = _int_query(query, "limit", 100, 1, MAX_PAGE)
        show_inactive = _bool_query(query, "showInactive")
        chosen = [i for i in self.kit.identities.in_project(project.client_id) if show_inactive or i.active]
        start = 0
        if query.get("startKey"):
            ids = [identity.identity_id for identity in chosen]
            if query["startKey"] not in ids:
                raise malformed(f"query 'startKey' must be a lastKey from an earlier page (got {query['startKey']!r})")
            start = ids.index(query["startKey"]) + 1
        page = chosen[start:start + limit]
        reply: dict[str, Any] = {"results": [{"identityId": identity.identity_id} for identity in page]}
        if start + limit < len(chosen):
            reply["lastKey"] = page[-1].identity_id
        return reply

    def get(self, project: Project, identity_id: str) -> dict[str, Any]:
        return self._identity(project, identity_id).as_json()

    def delete(self, project: Project, identity_id: str) -> dict[str, Any]:
        identity = self._identity(project, identity_id)
        self.kit.identities.remove(project.client_id, identity.identity_id)
        return {"success": True}

    def set_active(self, project: Project, identity_id: str, active: bool) -> dict[str, Any]:
        self._identity(project, identity_id).active = active
        return {"success": True}

    def lookup(self, project: Project, phone_number: str) -> dict[str, Any]:
        require_product(project, PRODUCT, "verified-users")
        if not PHONE_NUMBER.matches(phone_number):
            raise malformed(f"path 'mobileNumber' {PHONE_NUMBER.rule}")
        found = self.kit.identities.find_by_phone(project.client_id, phone_number)
        return {"items": [identity.as_json() for identity in found]}

    def _enrol_one(self, project: Project, item: dict[str, Any]) -> EnrolledIdentity:
        kit = self.kit
        persona = kit.personas.resolve(project.client_id, item["phoneNumber"], PRODUCT)
        return kit.identities.enrol(
            project.client_id,
            item["phoneNumber"],
            persona,
            kit.clock.now(),
            client_customer_id=item.get("clientCustomerId", ""),
            device_id=item.get("deviceId", ""),
        )

    def _identity(self, project: Project, identity_id: str) -> EnrolledIdentity:
        require_product(project, PRODUCT, "verified-users")
        identity = self.kit.identities.get(project.client_id, identity_id)
        if identity is None:
            raise identity_not_found(identity_id)
        return identity


def _int_query(query: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise malformed(f"query '{name}' must be a whole number from {low} to {high} (got {raw!r})")
    return int(raw)


def _bool_query(query: dict[str, str], name: str) -> bool:
    raw = query.get(name, "false")
    if raw not in ("true", "false"):
        raise malformed(f"query '{name}' must be true or false (got {raw!r})")
    return raw == "true"
