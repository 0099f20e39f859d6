"""Phone numbers: one normal form, so '+12001004011', '12001004011' and '2001004011' are one person."""

from __future__ import annotations


def normalize(phone_number: str) -> str:
    """Digits only, without a leading '+' and without the '1' of a North-American +1 number."""
    digits = phone_number.strip().lstrip("+")
    if len(digits) == 11 and digits.startswith("1"):
        return digits[1:]
    return digits

