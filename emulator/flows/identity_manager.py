"""Identity Manager: enrol, list, look up, (de)activate and remove identities (reference §4.12), and
see the same person across linked domains: cross-domain, discover and fetch (current-generation §5).

Identities enrolled by successful Verified Users flows are the same records. Projects of the
identity-manager or verified-users product may call it; another project's identity is 8011.
"""

from __future__ import annotations

from typing import Any

from emulator.domains import issuer_id_of, pcid_of
from emulator.errors import ProveError, identity_not_found, malformed
from emulator.flows.domains import DomainLinks
from emulator.flows.kit import FlowKit
from emulator.flows.steps import require_product
from emulator.identities import MAX_ATTRIBUTES, Attribute, EnrolledIdentity
from emulator.projects import Project
from emulator.rules import PHONE_NUMBER, Array, Check, Obj, Text


PRODUCT = "identity-manager"
MAX_BATCH = 100
MAX_PAGE = 1000
MAX_BATCH_BODY_BYTES = 64 * 1024  # 100 items of the largest shape fit; Prove's 4 KB would not

_REQUEST_ID = Text("clientRequestId", max_length=128)
_ATTRIBUTE = Obj("", (  # both optional in Prove's SDK
    Text("attributeType", max_length=128, description="e.g. myWalletId"),
    Text("attributeValue", max_length=1024, description="e.g. token123"),
))
# Kept with the enrolled identity, by enrol and by the current generation's /v3/verify.
IDENTITY_ATTRIBUTES = Array("identityAttributes", _ATTRIBUTE, max_items=MAX_ATTRIBUTES,
                            description="Attributes served back by GET /v3/discover and GET /v3/fetch.")


def attributes_of(request: dict[str, Any]) -> list[tuple[str, str]]:
    """The request's identityAttributes as (type, value); an item with neither is nothing to keep."""
    return [(a.get("attributeType", ""), a.get("attributeValue", ""))
            for a in request.get("identityAttributes", ()) if a]


ENROL_REQUEST = Obj("", (
    Text("phoneNumber", required=True, pattern=PHONE_NUMBER),
    Text("clientCustomerId", max_length=128),
    Text("deviceId", max_length=128, description="The Prove Key id (Unify)."),
    Text("clientHumanId", max_length=128),
    IDENTITY_ATTRIBUTES,
    _REQUEST_ID,
))
# Two shapes share one item: Prove's guide and SDKs up to 0.13.0 send {phoneNumber, ...}; from 0.13.1
# the SDK's generator reuses the cross-domain item {clientName, identityId, pcid}, which here means
# "enrol the number of identity identityId of domain pcid" (the caller's own domain or a linked one).
_BATCH_ITEM = Obj(
    "item",
    (
        Text("phoneNumber", pattern=PHONE_NUMBER),
        Text("clientCustomerId", max_length=128),
        Text("deviceId", max_length=128),
        Text("clientName", max_length=128, description="Cross-domain shape: informational, not checked."),
        Text("identityId", max_length=128, description="Cross-domain shape: an identity of domain pcid."),
        Text("pcid", max_length=64, description="Cross-domain shape: the caller's own domain or a linked one."),
    ),
    description="Either {phoneNumber, clientCustomerId?, deviceId?} or {clientName?, identityId, pcid}.",
)


def _items_of(body: dict[str, Any]) -> tuple[str, list[dict[str, Any]]] | None:
    for key in ("items", "identities"):
        if key in body:
            return key, body[key]
    return None


def _has_items(body: dict[str, Any]) -> str | None:
    if "items" in body and "identities" in body:
        return "field 'items' and its alias 'identities' are both given: send one list"
    if _items_of(body) is not None:
        return None
    return "field 'items' (or its alias 'identities') is required in the request body"


def _items_have_a_shape(body: dict[str, Any]) -> str | None:
    key, items = _items_of(body) or ("items", [])
    for index, item in enumerate(items):
        where = f"field '{key}[{index}]"
        cross = "identityId" in item or "pcid" in item
        if "phoneNumber" in item and cross:
            return (f"{where}' mixes the two item shapes: send phoneNumber (with clientCustomerId, deviceId) "
                    "or identityId and pcid, not both")
        if not cross and "phoneNumber" not in item:
            return f"{where}.phoneNumber' is required (or identityId and pcid, the item shape of SDK 0.13.1+)"
        if cross and "identityId" not in item:
            return f"{where}.identityId' is required with pcid"
        if cross and "pcid" not in item:
            return f"{where}.pcid' is required with identityId"
    return None


BATCH_REQUEST = Obj(
    "",
    (
        _REQUEST_ID,
        Array("items", _BATCH_ITEM, max_items=MAX_BATCH, description=f"At most {MAX_BATCH} identities."),
        Array("identities", _BATCH_ITEM, max_items=MAX_BATCH,
              description="The name Prove's guide uses for items; either is accepted."),
    ),
    checks=(Check("items (or identities) is required.", _has_items),
            Check("Each item is of one of the two shapes.", _items_have_a_shape)),
)
CLIENT_REQUEST_ONLY = Obj("", (_REQUEST_ID,))


class IdentityManager:
    def __init__(self, kit: FlowKit, domains: DomainLinks) -> None:
        self.kit = kit
        self.domains = domains

    def enrol(self, project: Project, request: dict[str, Any]) -> dict[str, Any]:
        require_product(project, PRODUCT, "verified-users")
        identity = self._enrol_one(project, request)
        return {**_ids(identity), "success": True}

    def batch(self, project: Project, request: dict[str, Any]) -> dict[str, Any]:
        """Each item enrolled on its own: a test-user or domain problem is that item's `error` (a
        string, as in Prove's SDK), while a malformed item refuses the whole batch (8001)."""
        require_product(project, PRODUCT, "verified-users")
        _, items = _items_of(request) or ("items", [])
        results: list[dict[str, Any]] = []
        for item in items:
            phone_number = item.get("phoneNumber", "")
            try:
                if "identityId" in item:
                    phone_number = self._linked_identity(project, item["pcid"], item["identityId"]).phone_number
                identity = self._enrol_one(project, {**item, "phoneNumber": phone_number})
                results.append({**_ids(identity), "phoneNumber": phone_number})
            except ProveError as error:
                result: dict[str, Any] = {"phoneNumber": phone_number} if phone_number else {}
                results.append({**result, "error": error.message})
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
        reply: dict[str, Any] = {"results": [_ids(identity) for identity in page]}
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

    # -- across domains -------------------------------------------------------------------------------

    def cross_domain(self, project: Project, identity_id: str) -> dict[str, Any]:
        """The same person (phone number) in the domains linked to the caller's."""
        identity = self._identity(project, identity_id)
        found = [
            {"clientName": self.domains.name_of(other.project_id), "identityId": other.identity_id,
             "pcid": pcid_of(other.project_id)}
            for other in self._in_linked_domains(identity)
        ]
        # TS SDK 0.13.1 reads the misspelled key; every other SDK ignores it.
        return {"count": len(found), "identities": found, "identites": found}

    def discover(self, project: Project, query: dict[str, str]) -> dict[str, Any]:
        require_product(project, PRODUCT, "verified-users")
        identity = self._identity(project, _required_query(query, "proveId"))
        # The value too: SDK 0.14.7 parsed discover's reply as fetch's, which requires it.
        return {"results": [_attribute_json(issuer, attribute) for issuer, attribute in self._attributes(identity)]}

    def fetch(self, project: Project, query: dict[str, str]) -> dict[str, Any]:
        require_product(project, PRODUCT, "verified-users")
        prove_id = _required_query(query, "proveId")
        attribute_id = _required_query(query, "attributeId")
        identity = self._identity(project, prove_id)
        for issuer, attribute in self._attributes(identity):
            if attribute.attribute_id == attribute_id:
                return {"results": [_attribute_json(issuer, attribute)]}
        raise ProveError(404, 8011, f"attribute not found: {attribute_id!r} is not an attribute of identity "
                                    f"{prove_id!r} or of the same person in a linked domain (see GET /v3/discover)")

    def _in_linked_domains(self, identity: EnrolledIdentity) -> list[EnrolledIdentity]:
        return [
            other
            for project_id in self.domains.linked_projects(identity.project_id)
            for other in self.kit.identities.find_by_phone(project_id, identity.phone_number)
        ]

    def _attributes(self, identity: EnrolledIdentity) -> list[tuple[str, Attribute]]:
        """(issuerId, attribute) of the identity and of the same person in linked domains."""
        holders = [identity, *self._in_linked_domains(identity)]
        return [(issuer_id_of(holder.project_id), attribute) for holder in holders for attribute in holder.attributes]

    def _linked_identity(self, project: Project, pcid: str, identity_id: str) -> EnrolledIdentity:
        """Identity `identity_id` of domain `pcid`, which must be the caller's or linked to it."""
        domain = self.domains.project_of(pcid)
        if domain is None:
            raise malformed(f"no domain has pcid {pcid!r}")
        if domain.client_id != project.client_id and domain.client_id not in self.domains.linked_projects(
                project.client_id):
            raise malformed(f"domain {pcid} is not linked to this domain (POST /v3/domain/link, then the other "
                            "domain confirms)")
        identity = self.kit.identities.get(domain.client_id, identity_id)
        if identity is None:
            raise identity_not_found(identity_id)
        return identity

    # -- helpers ----------------------------------------------------------------------------------------

    def _enrol_one(self, project: Project, item: dict[str, Any]) -> EnrolledIdentity:
        kit = self.kit
        persona = kit.personas.resolve(project.client_id, item["phoneNumber"])
        return kit.identities.enrol(
            project.client_id,
            item["phoneNumber"],
            persona,
            kit.clock.now(),
            client_customer_id=item.get("clientCustomerId", ""),
            device_id=item.get("deviceId", ""),
            attributes=attributes_of(item),
        )

    def _identity(self, project: Project, identity_id: str) -> EnrolledIdentity:
        require_product(project, PRODUCT, "verified-users")
        identity = self.kit.identities.get(project.client_id, identity_id)
        if identity is None:
            raise identity_not_found(identity_id)
        return identity


def _attribute_json(issuer_id: str, attribute: Attribute) -> dict[str, str]:
    return {"attributeId": attribute.attribute_id, "issuerId": issuer_id, "attributeValue": attribute.attribute_value}


def _ids(identity: EnrolledIdentity) -> dict[str, str]:
    """One id under both its names: SDKs up to 0.14.6 read identityId, later ones proveId."""
    return {"identityId": identity.identity_id, "proveId": identity.identity_id}


def _required_query(query: dict[str, str], name: str) -> str:
    value = query.get(name)
    if value is None:
        # Naming what did arrive helps with a misspelt name (e.g. identityId for proveId).
        sent = f" (the query has: {', '.join(sorted(query))})" if query else ""
        raise malformed(f"query '{name}' is required{sent}")
    if not value:
        raise malformed(f"query '{name}' must not be empty")
    return value


def _int_query(query: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    # ASCII digits only ("²".isdigit() is true), and short enough for int() (Python caps digits).
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 12) or not low <= int(raw) <= high:
        raise malformed(f"query '{name}' must be a whole number from {low} to {high} (got {raw!r})")
    return int(raw)


def _bool_query(query: dict[str, str], name: str) -> bool:
    raw = query.get(name, "false")
    if raw not in ("true", "false"):
        raise malformed(f"query '{name}' must be true or false (got {raw!r})")
    return raw == "true"
