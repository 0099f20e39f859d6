"""The `prove-emulator` command.

    prove-emulator [--host H] [--port P] [--public-url URL] [--scenarios DIR]... [--projects FILE]
    prove-emulator scenarios check [DIR]...

Every option can also come from an environment variable PROVE_EMULATOR_<NAME> (for --scenarios, a
list separated by the OS path separator). A bad option or file stops start-up with a one-line
reason and exit status 2; never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import NoReturn, Sequence

from emulator import __version__
from emulator.projects import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, ProjectsFileError, load_projects_file
from emulator.scenarios.loader import ScenarioError, default_pack_dir, load_catalogue
from emulator.http.app import create_app
from emulator.server import bind, local_origin, normalize_origin, serve, uvicorn_server
from emulator.service import Emulator

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7768
ENV_PREFIX = "PROVE_EMULATOR_"


class StartupError(Exception):
    """A reason not to start, shown as one line."""


def _env(name: str) -> str | None:
    value = os.environ.get(ENV_PREFIX + name)
    return value if value not in (None, "") else None


def _port(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"port must be a number from 0 to 65535 (got {text!r})")
    return int(text)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, not usage + error
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="prove-emulator",
        description="An offline, local emulator of Prove Identity's sandbox.",
        epilog="Each option can also be set as PROVE_EMULATOR_<NAME>, e.g. PROVE_EMULATOR_PORT=0.",
    )
    parser.add_argument("--version", action="version", version=f"prove-emulator {__version__}")
    parser.add_argument("--host", help=f"address to listen on (default {DEFAULT_HOST}; 0.0.0.0 in containers)")
    parser.add_argument("--port", type=_port, help=f"port to listen on (default {DEFAULT_PORT}; 0 picks a free one)")
    parser.add_argument(
        "--public-url",
        help="the origin put into authTokens and SMS links, as browsers and phones reach the emulator "
        "(default: http://<host>:<port>)",
    )
    parser.add_argument(
        "--scenarios",
        action="append",
        metavar="DIR",
        help="a directory of scenario files, loaded after the embedded default pack (repeatable)",
    )
    parser.add_argument("--projects", metavar="FILE", help="a YAML/JSON file declaring more projects")
    parser.add_argument(
        "--cors-origins",
        help="comma-separated origins allowed to call the emulator from a browser (default: any)",
    )
    parser.add_argument("--log-level", choices=["debug", "info", "warning", "error"], help="default: warning")
    commands = parser.add_subparsers(dest="command")
    scenarios = commands.add_parser("scenarios", help="work with scenario files")
    scenario_commands = scenarios.add_subparsers(dest="scenarios_command", required=True)
    check = scenario_commands.add_parser("check", help="validate scenario files without serving")
    check.add_argument("directories", nargs="*", metavar="DIR", help="default: the embedded default pack")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "scenarios":
            return _check(args.directories)
        return _serve(args)
    except StartupError as error:
        print(f"prove-emulator: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0


def _check(directories: list[str]) -> int:
    paths = [Path(d) for d in directories] or [default_pack_dir()]
    try:
        catalogue = load_catalogue(paths)
    except ScenarioError as error:
        for problem in error.problems:
            print(problem, file=sys.stderr)
        print(f"{len(error.problems)} problem(s) found", file=sys.stderr)
        return 1
    print(f"ok: {len(catalogue.files)} file(s), {len(catalogue.personas())} persona(s)")
    return 0


def _serve(args: argparse.Namespace) -> int:
    host = args.host or _env("HOST") or DEFAULT_HOST
    port = args.port if args.port is not None else _env_port()
    scenario_dirs = [Path(d) for d in (args.scenarios or (_env("SCENARIOS") or "").split(os.pathsep)) if d]
    projects_file = args.projects or _env("PROJECTS")
    cors_origins = tuple(o.strip() for o in (args.cors_origins or _env("CORS_ORIGINS") or "*").split(",") if o.strip())
    log_level = args.log_level or _env("LOG_LEVEL") or "warning"
    public_url = args.public_url or _env("PUBLIC_URL")
    try:
        public_origin = normalize_origin(public_url) if public_url else None
    except ValueError as error:
        raise StartupError(str(error)) from None
    try:
        projects = load_projects_file(Path(projects_file)) if projects_file else []
    except ProjectsFileError as error:
        raise StartupError(str(error)) from None
    try:
        emulator = Emulator(scenario_dirs=scenario_dirs, projects=projects)
    except ScenarioError as error:
        more = f" (and {len(error.problems) - 1} more; run 'prove-emulator scenarios check')" if len(error.problems) > 1 else ""
        raise StartupError(f"scenario file problem: {error.problems[0]}{more}") from None
    try:
        sock = bind(host, port)
    except OSError as error:
        raise StartupError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None
    emulator.public_origin = public_origin or local_origin(sock)
    server = uvicorn_server(create_app(emulator, cors_origins), log_level)

    def ready() -> None:
        where = local_origin(sock)
        print(
            f"prove-emulator {__version__} ready at {where} "
            f"(client_id={DEFAULT_CLIENT_ID} client_secret={DEFAULT_CLIENT_SECRET}; "
            f"public URL {emulator.public_origin})",
            flush=True,
        )

    asyncio.run(serve(server, sock, ready))
    return 0


def _env_port() -> int:
    raw = _env("PORT")
    if raw is None:
        return DEFAULT_PORT
    try:
        return _port(raw)
    except argparse.ArgumentTypeError as error:
        raise StartupError(f"PROVE_EMULATOR_PORT: {error}") from None
