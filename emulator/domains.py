"""Each project is a Prove domain: its pcid, name and issuerId, derived from its client id.

Derived rather than stored, so a domain keeps its identifiers across restarts and resets.
"""

from __future__ import annotations

import hashlib


def pcid_of(client_id: str) -> str:
    """A stable numeric pcid (12 digits) for a project."""
    digest = hashlib.sha256(client_id.encode("utf-8", "surrogatepass")).hexdigest()
    return str(10**11 + int(digest[:12], 16) % (9 * 10**11))


def issuer_id_of(client_id: str) -> str:
    """The issuerId of the attributes a project's identities carry (discover/fetch)."""
    return f"emulator-{pcid_of(client_id)}"
