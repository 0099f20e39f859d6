"""The Dockerfile keeps what CI's image check (scripts/image-check.sh, run by .ci/run) and the README rely on.

The image itself is built and run by that check, not here: these are the static parts it cannot tell apart from
a broken build (the real python:3.11-slim default, which CI cannot pull) or that would fail it only later.
"""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of each line of the Dockerfile, continuations joined, comments left out."""
    lines = [line for line in DOCKERFILE.splitlines() if not line.lstrip().startswith("#")]
    text = re.sub(r"\\\n", " ", "\n".join(lines))
    found = []
    for line in text.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def test_the_base_is_a_build_argument_defaulting_to_python_slim():
    steps = instructions()
    first_from = next(i for i, (word, _) in enumerate(steps) if word == "FROM")
    assert ("ARG", "BASE=python:3.11-slim") in steps[:first_from]
    assert steps[first_from][1] in ("${BASE}", "$BASE")


def test_pip_installs_into_a_venv_on_the_path():
    # Debian's python (CI's base) refuses a system-wide pip install (PEP 668): the venv works on both bases.
    runs = " ".join(rest for word, rest in instructions() if word == "RUN")
    venv = re.search(r"python3 -m venv (\S+)", runs)
    assert venv, "no venv in the RUN steps"
    assert re.search(re.escape(venv.group(1)) + r"/bin/pip install\b", runs)
    assert not re.search(r"(^|&&\s*)pip3? install", runs), "a pip install outside the venv"
    env = " ".join(rest for word, rest in instructions() if word == "ENV")
    assert re.search(r"\bPATH=" + re.escape(venv.group(1)) + r"/bin:\$PATH\b", env)


def test_a_non_root_user_10001_runs_the_cmd():
    steps = instructions()
    runs = " ".join(rest for word, rest in steps if word == "RUN")
    user = [rest for word, rest in steps if word == "USER"]
    assert len(user) == 1 and user[0] not in ("root", "0")
    assert re.search(r"useradd\b[^&]*--uid 10001 " + re.escape(user[0]) + r"\b", runs)
    last_user = max(i for i, (word, _) in enumerate(steps) if word == "USER")
    assert not any(word == "RUN" for word, _ in steps[last_user:]), "a RUN after USER would run as the user"


def test_cmd_is_the_packaged_script_and_expose_its_port():
    steps = dict(instructions())
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert steps["CMD"].startswith("[")  # exec form: the emulator is the main process, SIGTERM reaches it
    assert eval(steps["CMD"]) == ["prove-emulator"] and "prove-emulator" in scripts  # noqa: S307 (a literal)
    port = re.search(r"\bPROVE_EMULATOR_PORT=(\d+)", steps["ENV"])
    assert port and steps["EXPOSE"] == port.group(1)
    assert re.search(r"\bPROVE_EMULATOR_HOST=0\.0\.0\.0\b", DOCKERFILE)


def test_the_healthcheck_asks_the_health_endpoint_with_the_standard_library():
    healthcheck = dict(instructions())["HEALTHCHECK"]
    options, _, command = healthcheck.partition(" CMD ")
    assert "--timeout=" in options and command
    words = shlex.split(command)
    assert words[:2] == ["python", "-c"]  # the venv's python: on the PATH on either base
    code = words[2]
    compile(code, "HEALTHCHECK", "exec")
    assert "/__emulator/health" in code and "PROVE_EMULATOR_PORT" in code


def test_dockerignore_keeps_what_the_image_copies():
    ignored = {line.strip().rstrip("/") for line in (ROOT / ".dockerignore").read_text().splitlines()}
    copied = [path for word, rest in instructions() if word == "COPY" for path in rest.split()[:-1]]
    assert copied and not ignored.intersection(copied)


def test_ci_runs_the_image_check():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "scripts/image-check.sh" in ci and (ROOT / "scripts" / "image-check.sh").exists()
