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


def identity_not_found(identity_id: str) -> ProveError:
    return ProveError(404, 8011, f"identity not found: {identity_id!r}")


def not_found(path: str) -> ProveError:
    return ProveError(404, 8001, f"no such route: {path}")


def method_not_allowed(method: str, path: str) -> ProveError:
    return ProveError(405, 8001, f"method {method} is not allowed on {path}")
