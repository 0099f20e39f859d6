"""Projects: client credentials narrowed to a product, the way Prove's Portal does it.

The default project enables every product, so a fresh install serves any flow with one pair of
credentials. A projects file (YAML or JSON) declares more; each project's state is isolated.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from emulator.phone import CONSENT_REGIONS, is_region_code

PRODUCTS = ("verified-users", "pre-fill", "prove-identity", "unify", "identity-manager")
UNKNOWN_NUMBER_POLICIES = ("reject", "default-persona")
INSTANT_LINK_START_REPLIES = ("data", "empty")
# rateLimit: requests per second per project (Prove's is 25); bounded so a bucket stays meaningful.
RATE_LIMIT_RANGE = (1, 10_000)
# maxLiveFlows: the live flows a project holds at most; a new flow in a full project evicts one.
MAX_LIVE_FLOWS_RANGE = (1, 1_000_000)
# The bound of a project that sets none (--max-live-flows). A live flow takes about 1 KiB
# (bench/flow_memory.py), so 10,000 are ~10 MiB per busy project and the process stays well under
# 150 MiB at thousands of verify/s, where the 15-minute lifetime alone would keep 1.8 million flows
# (2,000/s, gigabytes). It is still far more than a test suite or a demo has live at once.
DEFAULT_MAX_LIVE_FLOWS = 10_000

DEFAULT_CLIENT_ID = "sandbox-client-id"
DEFAULT_CLIENT_SECRET = "sandbox-client-secret"


class ProjectsFileError(Exception):
    pass


@dataclass(frozen=True)
class WebhookSettings:
    url: str = ""
    secret: str = ""
    timeout_seconds: float = 5.0
    retry_schedule: tuple[float, ...] = (0.0, 60.0, 300.0)  # delay before each attempt
    configured_at: float = 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "secret": self.secret,
            "timeoutSeconds": self.timeout_seconds,
            "retrySchedule": list(self.retry_schedule),
        }


def new_webhook_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(24)


@dataclass(frozen=True)
class Project:
    client_id: str
    client_secret: str
    name: str = ""
    products: frozenset[str] = frozenset(PRODUCTS)
    unknown_numbers: str = "reject"
    scenario_sets: tuple[str, ...] = ("default",)
    # Reply to a successful Instant Link start (web-sdk-protocol §6.2): "data" ({"data":{}}) suits
    # apps without a retry step, like Prove's samples; "empty" ({}) suits apps that supply one.
    instant_link_start_reply: str = "data"
    webhook: WebhookSettings | None = None
    # Countries whose MNO consent the project has (seed "Global consent"): Verified Users for a
    # Canadian number needs CA here.
    consent_countries: frozenset[str] = frozenset()
    rate_limit: float | None = None  # requests per second; None: no limit (the default)
    max_live_flows: int | None = None  # None: the emulator's default (--max-live-flows)

    def has(self, product: str) -> bool:
        return product in self.products

    @property
    def product_label(self) -> str:
        return ", ".join(p for p in PRODUCTS if p in self.products)

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "clientId": self.client_id,
            "name": self.name,
            "products": [p for p in PRODUCTS if p in self.products],
            "unknownNumbers": self.unknown_numbers,
            "scenarioSets": list(self.scenario_sets),
            "instantLinkStartReply": self.instant_link_start_reply,
            "consentCountries": sorted(self.consent_countries),
            "rateLimit": self.rate_limit,
            "maxLiveFlows": self.max_live_flows,
        }
        if self.webhook and self.webhook.url:
            out["webhook"] = self.webhook.as_json()
        return out


DEFAULT_PROJECT = Project(
    client_id=DEFAULT_CLIENT_ID,
    client_secret=DEFAULT_CLIENT_SECRET,
    name="Default sandbox project (every product)",
)


def project_from_json(raw: Any, where: str, now: float = 0.0) -> Project:
    """Build a project from its file/control-plane form; `where` prefixes every error message."""
    if not isinstance(raw, dict):
        raise ProjectsFileError(f"{where}: must be an object")
    known = {"clientId", "clientSecret", "name", "product", "products", "unknownNumbers",
             "scenarioSets", "instantLinkStartReply", "webhook", "rateLimit", "consentCountries", "maxLiveFlows"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ProjectsFileError(f"{where}: unknown key(s): {', '.join(unknown)}")
    for key in ("clientId", "clientSecret"):
        if not isinstance(raw.get(key), str) or not raw[key]:
            raise ProjectsFileError(f"{where}.{key}: is required and must be a non-empty string")
    if "product" in raw and "products" in raw:
        raise ProjectsFileError(f"{where}: give 'product' or 'products', not both")
    products = raw.get("products", [raw["product"]] if "product" in raw else list(PRODUCTS))
    if not isinstance(products, list) or not products:
        raise ProjectsFileError(f"{where}.products: must be a non-empty list")
    for product in products:
        if product not in PRODUCTS:
            raise ProjectsFileError(f"{where}.products: '{product}' is not one of: {', '.join(PRODUCTS)}")
    unknown_numbers = raw.get("unknownNumbers", "reject")
    if unknown_numbers not in UNKNOWN_NUMBER_POLICIES:
        raise ProjectsFileError(
            f"{where}.unknownNumbers: must be one of: {', '.join(UNKNOWN_NUMBER_POLICIES)}"
        )
    scenario_sets = raw.get("scenarioSets", ["default"])
    if not isinstance(scenario_sets, list) or not all(isinstance(s, str) and s for s in scenario_sets):
        raise ProjectsFileError(f"{where}.scenarioSets: must be a list of set names")
    reply = raw.get("instantLinkStartReply", "data")
    if reply not in INSTANT_LINK_START_REPLIES:
        raise ProjectsFileError(
            f"{where}.instantLinkStartReply: must be one of: {', '.join(INSTANT_LINK_START_REPLIES)}"
        )
    if not isinstance(raw.get("name", ""), str):
        raise ProjectsFileError(f"{where}.name: must be a string")
    webhook = webhook_from_json(raw["webhook"], f"{where}.webhook", configured_at=now) if "webhook" in raw else None
    return Project(
        client_id=raw["clientId"],
        client_secret=raw["clientSecret"],
        name=raw.get("name", ""),
        products=frozenset(products),
        unknown_numbers=unknown_numbers,
        scenario_sets=tuple(scenario_sets),
        instant_link_start_reply=reply,
        webhook=webhook,
        consent_countries=consent_countries_from_json(raw.get("consentCountries", []), f"{where}.consentCountries"),
        rate_limit=rate_limit_from_json(raw.get("rateLimit"), f"{where}.rateLimit"),
        max_live_flows=max_live_flows_from_json(raw.get("maxLiveFlows"), f"{where}.maxLiveFlows"),
    )


def rate_limit_from_json(raw: Any, where: str) -> float | None:
    """A project's rateLimit: absent or null is off; else a finite number of requests per second."""
    if raw is None:
        return None
    low, high = RATE_LIMIT_RANGE
    if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not low <= raw <= high:  # NaN fails too
        raise ProjectsFileError(
            f"{where}: must be a number of requests per second from {low} to {high}, or null (no limit)"
        )
    return raw


def max_live_flows_from_json(raw: Any, where: str) -> int | None:
    """A project's maxLiveFlows: absent or null is the emulator's default; else a whole number of flows."""
    if raw is None:
        return None
    low, high = MAX_LIVE_FLOWS_RANGE
    if isinstance(raw, bool) or not isinstance(raw, int) or not low <= raw <= high:
        raise ProjectsFileError(f"{where}: must be a whole number of flows from {low} to {high}, or null "
                                "(the emulator's --max-live-flows)")
    return raw


def consent_countries_from_json(raw: Any, where: str) -> frozenset[str]:
    """consentCountries: ISO 3166-1 alpha-2 codes; only the countries that need consent (CA) matter."""
    if not isinstance(raw, list) or not all(is_region_code(code) for code in raw):
        raise ProjectsFileError(
            f"{where}: must be a list of ISO 3166-1 alpha-2 country codes in upper case, such as "
            f"[{', '.join(CONSENT_REGIONS)}] (the countries whose MNO consent the project has)"
        )
    return frozenset(raw)


MAX_RETRY_DELAY_SECONDS = 86400  # a day between two attempts


def webhook_from_json(
    raw: Any, where: str, configured_at: float = 0.0, previous: WebhookSettings | None = None
) -> WebhookSettings:
    """Webhook settings; changing an existing webhook keeps its secret (unless a new one is given)."""
    if not isinstance(raw, dict):
        raise ProjectsFileError(f"{where}: must be an object")
    unknown = sorted(set(raw) - {"url", "secret", "timeoutSeconds", "retrySchedule"})
    if unknown:
        raise ProjectsFileError(f"{where}: unknown key(s): {', '.join(unknown)}")
    url = raw.get("url")
    if not isinstance(url, str) or not _is_http_url(url):
        raise ProjectsFileError(f"{where}.url: is required and must be an http:// or https:// URL with a host")
    secret = raw.get("secret") or (previous.secret if previous else new_webhook_secret())
    if not isinstance(secret, str) or not secret.startswith("whsec_"):
        raise ProjectsFileError(f"{where}.secret: must be a string starting with 'whsec_'")
    timeout = raw.get("timeoutSeconds", WebhookSettings.timeout_seconds)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout <= 60:
        raise ProjectsFileError(f"{where}.timeoutSeconds: must be a number above 0 and at most 60")
    schedule = raw.get("retrySchedule", list(WebhookSettings.retry_schedule))
    if (
        not isinstance(schedule, list)
        or not 1 <= len(schedule) <= 10
        # Bounded (a YAML .inf or a 1e300 would schedule past every clock and every reply's timestamp).
        or not all(isinstance(s, (int, float)) and not isinstance(s, bool) and 0 <= s <= MAX_RETRY_DELAY_SECONDS
                   for s in schedule)
    ):
        raise ProjectsFileError(
            f"{where}.retrySchedule: must be a list of 1 to 10 delays in seconds (0 to {MAX_RETRY_DELAY_SECONDS}), "
            "one per attempt"
        )
    return WebhookSettings(
        url=url,
        secret=secret,
        timeout_seconds=float(timeout),
        retry_schedule=tuple(float(s) for s in schedule),
        configured_at=configured_at,
    )


def _is_http_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
        port_ok = parts.port is None or parts.port > 0  # .port raises ValueError when out of range
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and port_ok and " " not in url


def load_projects_file(path: Path) -> list[Project]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ProjectsFileError(f"{path}: cannot be read: {error.strerror}") from None
    try:
        document = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as error:
        raise ProjectsFileError(f"{path}: not valid YAML/JSON: {' '.join(str(error).split())}") from None
    if not isinstance(document, dict) or not isinstance(document.get("projects"), list):
        raise ProjectsFileError(f"{path}: must be an object with a 'projects' list")
    projects: list[Project] = []
    seen: set[str] = set()
    for index, raw in enumerate(document["projects"]):
        project = project_from_json(raw, f"{path}: projects[{index}]")
        if project.client_id in seen:
            raise ProjectsFileError(f"{path}: projects[{index}].clientId: '{project.client_id}' is declared twice")
        seen.add(project.client_id)
        projects.append(project)
    return projects


@dataclass
class ProjectRegistry:
    """The projects the emulator serves, by client id. The default project is always there."""

    declared: list[Project] = field(default_factory=list)
    _by_id: dict[str, Project] = field(default_factory=dict)
    default_max_live_flows: int = DEFAULT_MAX_LIVE_FLOWS  # for a project without maxLiveFlows

    def __post_init__(self) -> None:
        self.restore()

    def restore(self) -> None:
        """Back to the start-up projects (as declared), dropping runtime changes."""
        self._by_id = {DEFAULT_PROJECT.client_id: DEFAULT_PROJECT}
        for project in self.declared:
            self._by_id[project.client_id] = project

    def replace_all(self, projects: list[Project]) -> None:
        """The projects a snapshot held (the default one stays, unless the snapshot has it too)."""
        self._by_id = {DEFAULT_PROJECT.client_id: DEFAULT_PROJECT}
        for project in projects:
            self._by_id[project.client_id] = project

    def get(self, client_id: str) -> Project | None:
        return self._by_id.get(client_id)

    def put(self, project: Project) -> None:
        self._by_id[project.client_id] = project

    def all(self) -> list[Project]:
        return list(self._by_id.values())

    def live_flow_limit(self, client_id: str) -> tuple[int, str]:
        """How many live flows the project holds at most, and the setting that says so."""
        project = self._by_id.get(client_id)
        if project is not None and project.max_live_flows is not None:
            return project.max_live_flows, "maxLiveFlows"
        return self.default_max_live_flows, "the emulator's default, --max-live-flows"

    def authenticate(self, client_id: str, client_secret: str) -> Project | None:
        project = self._by_id.get(client_id)
        if project is None or not secrets.compare_digest(project.client_secret, client_secret):
            return None
        return project

    def with_webhook(self, client_id: str, webhook: WebhookSettings | None) -> Project:
        project = replace(self._by_id[client_id], webhook=webhook)
        self._by_id[client_id] = project
        return project
