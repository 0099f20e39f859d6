"""Prove-style errors: an HTTP status plus the `{"code", "message"}` envelope.

The codes follow Prove's status page (reference/platform-api.md §6) and CONTRACT.md "Errors".
Business rules raise these; the HTTP layer renders them, so a rule never picks a status by hand.
"""

from __future__ import annotations


class ProveError(Exception):
    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def body(self) -> dict[str, object]:
        return {"code": self.code, "message": self.message}


def internal(message: str = "internal error at the emulator, try again") -> ProveError:
    return ProveError(500, 8000, message)


def malformed(message: str) -> ProveError:
    return ProveError(400, 8001, message)


def unauthorized(message: str = "not authorized") -> ProveError:
    return ProveError(401, 8002, message)


def step_out_of_order(message: str) -> ProveError:
    return ProveError(403, 8003, message)


def sandbox_user_not_found(phone_number: str) -> ProveError:
    return ProveError(
        400,
        8007,
        f"sandbox user not found: phone number {phone_number} is not a test user of this project",
    )


def invalid_correlation_id(correlation_id: str) -> ProveError:
    return ProveError(
        400, 8008, f"invalid correlation ID: {correlation_id!r} is unknown or its flow expired"
    )


def sandbox_user_access_denied(phone_number: str, product: str) -> ProveError:
    return ProveError(
        403,
        8009,
        f"sandbox test user access denied: {phone_number} is not a test user of the {product} product",
    )


def consent_required(phone_number: str, country: str, project_id: str) -> ProveError:
    # Prove publishes no code for it: 8009 is its "access denied" for what the credentials may not use.
    return ProveError(
        403,
        8009,
        f"access denied: Verified Users for {phone_number} ({country}) needs mobile network operator (MNO) "
        f"consent, and project {project_id!r} has none for {country} (add it to the project's consentCountries)",
    )


def identity_not_found(identity_id: str) -> ProveError:
    return ProveError(404, 8011, f"identity not found: {identity_id!r}")


def not_found(path: str) -> ProveError:
    return ProveError(404, 8001, f"no such route: {path}")


def method_not_allowed(method: str, path: str) -> ProveError:
    return ProveError(405, 8001, f"method {method} is not allowed on {path}")


# nginx's "client closed request": the journal shows that the client, not the emulator, ended the call.
CLIENT_CLOSED_REQUEST = 499


def client_disconnected() -> ProveError:
    return ProveError(CLIENT_CLOSED_REQUEST, 8001,
                      "the client closed the connection before its request body was complete; nothing was done")


def shutting_down() -> ProveError:
    # 8000 is Prove's "internal error, retry"; 503 says the retry must wait for a running emulator.
    return ProveError(503, 8000, "the emulator is shutting down; retry once it runs again")


# Prove documents 429 (25 req/s, Retry-After) but no code for it; 8012 is ours, the first after the
# documented 8011 (8004-8006 and 8010 exist at Prove but could not be read, so they are avoided).
RATE_LIMITED = 8012


class RateLimited(ProveError):
    """HTTP 429: over the project's rate limit; `retry_after` is the Retry-After header, whole seconds."""

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(429, RATE_LIMITED, message)
        self.retry_after = retry_after
