"""Step order for flows driven by `next` maps: a step not in the last reply's `next` gets 8003."""

from __future__ import annotations

from emulator.errors import ProveError, step_out_of_order
from emulator.projects import Project

DONE = {"done": "done"}


def next_map(*steps: str) -> dict[str, str]:
    """{"v3-validate": "/v3/validate", ...} for step names like "validate"."""
    return {f"v3-{step}": f"/v3/{step}" for step in steps}


def require_step(allowed: dict[str, str], step: str) -> None:
    if f"v3-{step}" in allowed:
        return
    if allowed == DONE:
        raise step_out_of_order(f"step not allowed: /v3/{step} was called after the flow finished")
    expected = ", ".join(allowed.values())
    raise step_out_of_order(f"step not allowed: /v3/{step} was called out of order; the next step is {expected}")


def require_product(project: Project, *products: str) -> None:
    """Credentials of a project without the product get Prove's "unauthorized access" answer."""
    if not any(project.has(product) for product in products):
        raise ProveError(
            401,
            8002,
            f"not authorized: project {project.client_id} ({project.product_label}) "
            f"does not include {' or '.join(products)}",
        )

