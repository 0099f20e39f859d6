"""Prove's own server SDK (npm @prove-identity/prove-api 0.9.6) driven against the emulator.

The tests are Node files, tests/node/*.test.mjs. Each runs in its own `node --test` process (one at
a time: they share the session emulator and reset it) with the emulator's base URL in EMULATOR_URL.
The SDK comes from the repository root's node_modules (`npm ci`); it is never copied here.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NODE_TESTS = sorted((ROOT / "tests" / "node").glob("*.test.mjs"))
SDK_PACKAGE = ROOT / "node_modules" / "@prove-identity" / "prove-api" / "package.json"
TIMEOUT_SECONDS = 60

pytestmark = pytest.mark.node


def _missing_prerequisite() -> str | None:
    if shutil.which("node") is None:
        return "Node.js (20 or later) is not on PATH"
    if not SDK_PACKAGE.is_file():
        return "node_modules/@prove-identity/prove-api is missing: run `npm ci` at the repository root"
    return None


def require_node_sdk() -> None:
    """Skip without Node or the SDK on a workstation; on CI that is a failure, not a skip."""
    reason = _missing_prerequisite()
    if reason is None:
        return
    if os.environ.get("CI", "").strip().lower() not in ("", "0", "false"):
        pytest.fail(f"{reason} (required because CI is set)", pytrace=False)
    pytest.skip(reason)


def test_the_node_tests_are_found() -> None:
    assert len(NODE_TESTS) >= 4, NODE_TESTS


@pytest.mark.parametrize("script", NODE_TESTS, ids=lambda path: path.name.removesuffix(".test.mjs"))
def test_official_server_sdk(prove_emulator, script: Path) -> None:
    require_node_sdk()
    env = {
        **os.environ,
        "EMULATOR_URL": prove_emulator.base_url,
        "PROVE_CLIENT_ID": prove_emulator.client_id,
        "PROVE_CLIENT_SECRET": prove_emulator.client_secret,
        "NO_COLOR": "1",
    }
    env.pop("FORCE_COLOR", None)
    command = ["node", "--test", "--test-reporter=spec", str(script.relative_to(ROOT))]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=TIMEOUT_SECONDS)
    output = f"$ {' '.join(command)}\n{done.stdout}{done.stderr}"
    if done.returncode != 0:
        pytest.fail(f"{script.name} failed under Node:\n{output}", pytrace=False)
    passed = re.search(r"^\S* ?pass (\d+)$", done.stdout, re.MULTILINE)
    assert passed and int(passed.group(1)) > 0, f"no Node test passed:\n{output}"
