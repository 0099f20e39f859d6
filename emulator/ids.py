"""Random ids in UUID version 4 form, such as 3f2b8c1e-5d4a-4e7f-9b21-0c6d8e4f1a23.

str(uuid.uuid4()) builds a UUID object and its integer on every call, and a verify makes several
ids (a profile put them at 5 % of its time); this writes the same text straight from 16 random
bytes: 122 random bits, version nibble 4, variant 10xx (RFC 9562 §5.4).
"""

from __future__ import annotations

from os import urandom

# The variant's hex digit: its top two bits 10, its low two bits random (any random digit, mapped).
_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


def new_id() -> str:
    """A fresh random id, as str(uuid.uuid4()) writes one."""
    h = urandom(16).hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"
