"""Reading scenario files: YAML or JSON, validated whole before anything is used.

Every problem is reported as `file: path.inside[2].it: what is wrong`, and one bad file fails the
whole load, so the emulator never serves half a catalogue.

The embedded default pack is not held to the JSON Schema at load (tests/test_scenarios.py holds it to
the schema): that and importing jsonschema were most of the emulator's start-up. Its other checks run.
"""

from __future__ import annotations

import datetime
import json
import re
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

import yaml

from emulator.faults import PERSONA_FAULT_ENDPOINTS
from emulator.phone import normalize
from emulator.scenarios.model import (
    Address,
    Catalogue,
    Fault,
    Identity,
    MobileAuthMode,
    Persona,
    Possession,
    ProveKeyMode,
    ScenarioSet,
    ScheduledEvent,
    SequenceStep,
    VERIFICATION_TYPES,
    TerminalReply,
    UnifyMode,
    VerificationOutcome,
)

if TYPE_CHECKING:
    import jsonschema

SCENARIO_SUFFIXES = (".yaml", ".yml", ".json")
# unify.userVerification -> the authToken's uvlvl claim (web-sdk-protocol §2.2)
USER_VERIFICATION_LEVELS = {"preferred": "pref", "required": "req"}
SCHEMA_PATH = Path(__file__).with_name("scenario.schema.json")
# libyaml's parser where PyYAML was built with it: ~10x faster than the pure-Python one.
_FAST_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class ScenarioError(Exception):
    """One or more problems in scenario files; str() gives one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def default_pack_dir() -> Path:
    """The embedded default pack: inside the installed package, or scenarios/ of a checkout."""
    packaged = Path(__file__).resolve().parent.parent / "default_scenarios"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent.parent / "scenarios"


@cache
def schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text())


def scenario_files(directories: Iterable[Path]) -> list[Path]:
    files: list[Path] = []
    problems: list[str] = []
    for directory in directories:
        if not directory.is_dir():
            problems.append(f"{directory}: not a directory")
            continue
        files.extend(sorted(p for p in directory.iterdir() if p.suffix in SCENARIO_SUFFIXES))
    if problems:
        raise ScenarioError(problems)
    return files


def load_catalogue(directories: Iterable[Path], *, check_embedded: bool = False) -> Catalogue:
    """Load every scenario file of the directories, in order; later files override earlier numbers.
    The embedded pack's files skip the schema unless `check_embedded` (see the module docstring)."""
    catalogue = Catalogue()
    problems: list[str] = []
    embedded = default_pack_dir()
    for path in scenario_files(directories):
        try:
            set_name, personas = read_file(path, check_schema=check_embedded or path.parent != embedded)
        except ScenarioError as error:
            problems.extend(error.problems)
            continue
        scenario_set = catalogue.sets.setdefault(set_name, ScenarioSet(name=set_name))
        for persona in personas:
            if persona.phone_number:
                scenario_set.exact[persona.phone_number] = persona
            else:
                scenario_set.patterns.append((re.compile(persona.pattern), persona))
        catalogue.files.append(str(path))
    if problems:
        raise ScenarioError(problems)
    return catalogue


def read_file(path: Path, *, check_schema: bool = True) -> tuple[str, list[Persona]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ScenarioError([f"{path}: cannot be read: {error}"]) from None
    try:
        document = json.loads(text) if path.suffix == ".json" else _parse_yaml(text)
    except (json.JSONDecodeError, yaml.YAMLError) as error:
        detail = " ".join(str(error).split())
        raise ScenarioError([f"{path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {detail}"]) from None
    if check_schema:
        _check_schema(path, document)
    problems: list[str] = []
    personas: list[Persona] = []
    numbers: dict[str, int] = {}
    set_name = document.get("set", "default")
    for index, raw in enumerate(document["personas"]):
        where = f"{path}: personas[{index}]"
        if "pattern" in raw:
            try:
                re.compile(raw["pattern"])
            except re.error as error:
                problems.append(f"{where}.pattern: not a valid regular expression: {error}")
                continue
        problems.extend(_date_problems(raw, where))
        problems.extend(_fault_problems(raw, where))
        for step_index, step in enumerate(raw.get("sequence", [])):
            # Only what the step itself says: the persona's own keys are checked above.
            step_where = f"{where}.sequence[{step_index}]"
            problems.extend(_fault_problems(step, step_where))
            if "verification" in step:
                problems.extend(_date_problems({"verification": _step_raw(raw, step)["verification"]}, step_where))
        if "phoneNumber" in raw:
            digits = normalize(raw["phoneNumber"])
            if digits in numbers:
                problems.append(f"{where}.phoneNumber: {raw['phoneNumber']} is already personas[{numbers[digits]}]")
            numbers[digits] = index
        personas.append(_persona(raw, set_name, str(path)))
    keys: dict[str, int] = {}
    for index, persona in enumerate(personas):
        if persona.key in keys:
            problems.append(f"{path}: personas[{index}].id: '{persona.key}' is already personas[{keys[persona.key]}]")
        keys.setdefault(persona.key, index)
    if problems:
        raise ScenarioError(problems)
    return set_name, personas


def _parse_yaml(text: str) -> Any:
    try:
        return yaml.load(text, Loader=_FAST_YAML_LOADER)
    except yaml.YAMLError:
        # Parsed again by the pure-Python parser, whose message also quotes the line at fault.
        return yaml.safe_load(text)


def _check_schema(path: Path, document: Any) -> None:
    import jsonschema  # ~85 ms to import: only when a file is held to the schema

    validator = jsonschema.Draft202012Validator(schema())
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    if errors:
        raise ScenarioError([f"{path}: {_location(e.absolute_path)}: {_explain(e)}" for e in errors])


def _date_problems(raw: dict[str, Any], where: str) -> list[str]:
    """What the schema's patterns cannot see: a dob that is no date, ages the wrong way round."""
    problems = []
    dob = raw.get("identity", {}).get("dob")
    if dob is not None:
        try:
            datetime.date.fromisoformat(dob)
        except ValueError:
            problems.append(f"{where}.identity.dob: {dob!r} is not a date (YYYY-MM-DD)")
    for kind, outcome in _verification_outcomes(raw.get("verification", {})).items():
        if outcome.min_age is not None and outcome.max_age is not None and outcome.min_age > outcome.max_age:
            problems.append(f"{where}.verification: for {kind}, minAge ({outcome.min_age}) is above maxAge "
                            f"({outcome.max_age})")
    return problems


def _fault_problems(raw: dict[str, Any], where: str) -> list[str]:
    return [
        f"{where}.faults[{index}].endpoint: '{fault['endpoint']}' is not an endpoint "
        f"of the emulator (one of: {', '.join(PERSONA_FAULT_ENDPOINTS)})"
        for index, fault in enumerate(raw.get("faults", []))
        if fault["endpoint"] not in PERSONA_FAULT_ENDPOINTS
    ]


def _location(path: Iterable[Any]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _explain(error: jsonschema.ValidationError) -> str:
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        unknown = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        known = ", ".join(error.schema.get("properties", {}))
        return f"unknown key(s): {', '.join(unknown)} (known: {known})"
    if error.validator == "oneOf" and "phoneNumber" in str(error.schema):
        return "a persona needs exactly one of 'phoneNumber' or 'pattern'"
    if error.validator == "anyOf" and "latencyMs" in str(error.schema):
        return "a fault needs 'status' or 'latencyMs' (or both)"
    return error.message


def _persona(raw: dict[str, Any], set_name: str, file: str) -> Persona:
    identity_raw = raw.get("identity", {})
    identity = Identity(
        first_name=identity_raw.get("firstName", ""),
        last_name=identity_raw.get("lastName", ""),
        dob=identity_raw.get("dob", ""),
        ssn=identity_raw.get("ssn", ""),
        email_addresses=tuple(identity_raw.get("emailAddresses", ())),
        addresses=tuple(
            Address(
                address=a["address"],
                extended_address=a.get("extendedAddress", ""),
                city=a["city"],
                region=a["region"],
                postal_code=a["postalCode"],
            )
            for a in identity_raw.get("addresses", ())
        ),
        carrier=identity_raw.get("carrier", Identity.carrier),
        line_type=identity_raw.get("lineType", Identity.line_type),
        country_code=identity_raw.get("countryCode", Identity.country_code),
    )
    phone_number = normalize(raw["phoneNumber"]) if "phoneNumber" in raw else ""
    has_names = bool(identity.first_name and identity.last_name)
    return Persona(
        key=raw.get("id") or _derive_key(raw, identity, phone_number),
        phone_number=phone_number,
        pattern=raw.get("pattern", ""),
        description=raw.get("description", ""),
        source=raw.get("source", "emulator"),
        products=frozenset(raw.get("products", ())),
        identity=identity,
        check_name=raw.get("checkName", has_names),
        data_check=raw.get("dataCheck", "success"),
        possession=Possession(raw.get("possession", "client")),
        otp=raw.get("otp", "1234"),
        sms_undeliverable=raw.get("smsUndeliverable", False),
        terminal_reply=TerminalReply(raw.get("terminalReply", "soft")),
        faults=tuple(
            Fault(
                endpoint=f["endpoint"],
                status=f.get("status"),
                latency_ms=f.get("latencyMs", 0),
                times=f.get("times", 1),
            )
            for f in raw.get("faults", ())
        ),
        unify_mode=UnifyMode(raw.get("unify", {}).get("mode", "prove-key")),
        prove_key=ProveKeyMode(raw.get("unify", {}).get("proveKey", "device")),
        mobile_auth=MobileAuthMode(raw["unify"]["mobileAuth"]) if "mobileAuth" in raw.get("unify", {}) else None,
        user_verification=USER_VERIFICATION_LEVELS.get(raw.get("unify", {}).get("userVerification", ""), ""),
        events=tuple(ScheduledEvent(e["eventType"], float(e["afterSeconds"])) for e in raw.get("events", ())),
        verification_types=frozenset(raw.get("verification", {}).get("types", ())),
        verification=_verification_outcomes(raw.get("verification", {})),
        scenario_set=set_name,
        file=file,
        sequence=tuple(
            SequenceStep(flows=step.get("flows", 1), persona=_persona(_step_raw(raw, step), set_name, file))
            for step in raw.get("sequence", ())
        ),
    )


def _step_raw(raw: dict[str, Any], step: dict[str, Any]) -> dict[str, Any]:
    """The persona as one step of its sequence has it: the step's keys replace the persona's, except
    that `verification` merges key by key (a step saying `{success: false}` keeps the types)."""
    merged = {key: value for key, value in raw.items() if key != "sequence"}
    merged.update({key: value for key, value in step.items() if key != "flows"})
    if "verification" in step:
        merged["verification"] = {**raw.get("verification", {}), **step["verification"]}
    return merged


def _verification_outcomes(raw: dict[str, Any]) -> dict[str, VerificationOutcome]:
    """One outcome per verification type: the persona's outcome, with its byType keys on top."""
    if not raw:
        return {}
    common = {key: value for key, value in raw.items() if key not in ("types", "byType")}
    return {kind: _outcome({**common, **raw.get("byType", {}).get(kind, {})}) for kind in VERIFICATION_TYPES}


def _outcome(raw: dict[str, Any]) -> VerificationOutcome:
    return VerificationOutcome(
        success=raw.get("success"),
        assurance_level=raw.get("assuranceLevel", ""),
        reasons=tuple(raw.get("reasons", ())),
        returns=tuple(raw["returns"]) if "returns" in raw else None,
        enrolled=raw.get("enrolled", True),
        min_age=raw.get("minAge"),
        max_age=raw.get("maxAge"),
        evaluation=raw.get("evaluation"),
        additional_identities=tuple(raw.get("additionalIdentities", ())),
        businesses=tuple(raw.get("businesses", ())),
    )


def _derive_key(raw: dict[str, Any], identity: Identity, phone_number: str) -> str:
    if identity.first_name and identity.last_name:
        name = f"{identity.first_name}-{identity.last_name}"
        return re.sub(r"[^a-z0-9]+", "-", name.casefold()).strip("-")
    return phone_number or "pattern-" + re.sub(r"[^a-z0-9]+", "-", raw["pattern"].casefold()).strip("-")
