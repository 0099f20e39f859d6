"""Phone numbers as Prove reads them: one normal form for look-ups, the number's region, and the
rules Prove states by region.

normalize() is the key of identities, Prove Keys, the SMS outbox and the scenario catalogue:
'+12001004011', '12001004011' and '2001004011' are one person. Those keys must not move, so it stays
a plain digit rule.

region() reads a number the way Prove's API describes `phoneNumber` (reference/current-generation.md):
ten digits, or eleven starting with 1 (with or without '+'), are North American (+1); '+' and a country
code is international. Prove also writes international test users without the '+' (447968900002), so a
longer number without '+' starts with its country code. Google's libphonenumber (`phonenumbers`) names
the region. A number it calls invalid still belongs to its country code's main region, so Prove's
sandbox ranges (200-100-xxxx, 200-555-xxxx, the 555 numbers) are US, as Prove uses them.

The rules by region (seed "Global consent" and "Webhook notifications"; reference/platform-api.md §1):
webhook notifications only for US numbers; Verified Users for Canadian numbers only with MNO consent;
Pre-Fill and Prove Identity only for US and Canadian numbers.
"""

from __future__ import annotations

import functools
from collections.abc import Collection

from emulator.errors import consent_required, malformed

US = "US"
CANADA = "CA"
# libphonenumber's UNKNOWN_REGION: an unknown country code, or a non-geographic one (+800). phonenumbers
# itself is imported where a region is read: its import is ~20 ms of start-up.
UNKNOWN_REGION = "ZZ"
NORTH_AMERICA = (US, CANADA)  # where Pre-Fill and Prove Identity are served
WEBHOOK_REGIONS = (US,)  # seed: "Webhook notifications are only available for US-based phone numbers."
CONSENT_REGIONS = (CANADA,)  # seed "Global consent": Verified Users needs MNO consent there
NORTH_AMERICAN_PRODUCTS = ("pre-fill", "prove-identity")

_NAMES = {US: "a US", CANADA: "a Canadian", UNKNOWN_REGION: "not a number of any country"}


def normalize(phone_number: str) -> str:
    """Digits only, without a leading '+' and without the '1' of a North-American +1 number."""
    digits = phone_number.strip().lstrip("+")
    if len(digits) == 11 and digits.startswith("1"):
        return digits[1:]
    return digits


def dialled(phone_number: str) -> str:
    """The number with '+' and its country code, as Prove reads the forms it accepts."""
    text = phone_number.strip()
    if text.startswith("+"):
        return text
    if len(text) == 10:  # US/CA without +1
        return "+1" + text
    return "+" + text  # 1 and ten digits, or an international number written without '+'


@functools.lru_cache(maxsize=4096)  # bounded; parsing an invalid +1 number tries all 25 NANP regions
def region(phone_number: str) -> str:
    """The number's region as an ISO 3166-1 alpha-2 code ('US', 'CA', 'GB', ...); UNKNOWN_REGION when
    its country code names no country."""
    import phonenumbers

    try:
        parsed = phonenumbers.parse(dialled(phone_number), None)
    except phonenumbers.NumberParseException:
        return UNKNOWN_REGION
    # Valid numbers get their own region (416 is Canada); invalid ones their country code's main one.
    found = (phonenumbers.region_code_for_number(parsed)
             or phonenumbers.region_code_for_country_code(parsed.country_code))
    # libphonenumber's "001" (freephone, satellite) is no country: ISO 3166 alpha-2 has no code for it.
    return UNKNOWN_REGION if found == phonenumbers.REGION_CODE_FOR_NON_GEO_ENTITY else found


def load_region_data() -> None:
    """Import libphonenumber and its North American data now (~25 ms), not in a client's first call."""
    region("+12025550100")


def is_region_code(code: object) -> bool:
    """An ISO 3166-1 alpha-2 code that libphonenumber knows (upper case, as Prove writes them)."""
    import phonenumbers

    return isinstance(code, str) and code in phonenumbers.SUPPORTED_REGIONS


def described(code: str) -> str:
    return _NAMES.get(code, f"a number of region {code}")


# -- the rules by region ---------------------------------------------------------------------------


def webhook_suppression(phone_number: str) -> str:
    """Why a change event for this number is not sent ('' when it may be)."""
    found = region(phone_number)
    if found in WEBHOOK_REGIONS:
        return ""
    return (f"webhook notifications are only available for US-based phone numbers "
            f"({phone_number} is {described(found)})")


def require_north_american(phone_number: str, field: str = "phoneNumber") -> None:
    """Pre-Fill and Prove Identity serve US and Canadian numbers only: 400/8001 naming the field."""
    found = region(phone_number)
    if found not in NORTH_AMERICA:
        raise malformed(f"field '{field}' must be a US or Canadian phone number: Pre-Fill and Prove Identity "
                        f"serve only those ({phone_number} is {described(found)})")


def require_consent(phone_number: str, consent_countries: Collection[str], project_id: str) -> None:
    """Verified Users for a number of a consent country (Canada) needs the project's MNO consent."""
    found = region(phone_number)
    if found in CONSENT_REGIONS and found not in consent_countries:
        raise consent_required(phone_number, found, project_id)
