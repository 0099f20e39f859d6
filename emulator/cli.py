"""The `prove-emulator` command.

    prove-emulator [--host H] [--port P] [--public-url URL] [--scenarios DIR]... [--projects FILE]
    prove-emulator scenarios check [DIR]...
    prove-emulator export FILE [--url URL]
    prove-emulator [OPTIONS] exec [OPTIONS] [--export-on-exit FILE] -- CMD [ARG]...

Every option can also come from an environment variable PROVE_EMULATOR_<NAME> (for --scenarios, a
list separated by the OS path separator). A bad option or file stops start-up with a one-line
reason and exit status 2; never a traceback.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Callable, NoReturn, Sequence, TypeVar

from emulator import __version__
from emulator.access import AccessPolicy, check_host_names
from emulator.projects import (DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_MAX_LIVE_FLOWS, MAX_LIVE_FLOWS_RANGE,
                               ProjectsFileError, load_projects_file)
from emulator.scenarios.loader import ScenarioError, default_pack_dir, load_catalogue
from emulator.http.app import create_app
from emulator.http.prefix import normalize_path_prefix
from emulator.protocols import REQUEST_TIMEOUT_SECONDS
from emulator.server import bind, local_origin, normalize_origin, run_in_foreground, uvicorn_server
from emulator.service import Emulator
from emulator.state import snapshot
from emulator.state.directory import StateDirectory, StateDirectoryError, StateWriteError

if TYPE_CHECKING:
    import socket

    from starlette.types import ASGIApp

T = TypeVar("T")

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
    _add_serve_options(parser)
    _add_commands(parser)
    return parser


def _add_serve_options(parser: argparse.ArgumentParser) -> None:
    """The options of serving: on the main command, and again on exec (so they go before or after it)."""
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
        help="comma-separated origins whose pages may call the Web SDK's /v1/client/* (and, with --cors-api, "
        "Prove's API) from a browser (default: any)",
    )
    parser.add_argument(
        "--cors-api",
        action="store_true",
        default=None,
        help="let browsers call /token, /v3/* and /v1/server/* cross-origin too (server-to-server at Prove, "
        "so refused by default); env PROVE_EMULATOR_CORS_API=1",
    )
    parser.add_argument(
        "--allowed-hosts",
        metavar="NAMES",
        help="comma-separated host names the control plane also answers to (besides 127.0.0.1, localhost, "
        "[::1] and the public URL's host), e.g. a Docker Compose service name",
    )
    parser.add_argument(
        "--admin-token",
        metavar="TOKEN",
        help="require this token (header X-Emulator-Token) on the control plane, except health and Instant "
        "Link clicks; prefer the env PROVE_EMULATOR_ADMIN_TOKEN, which other users cannot see in ps",
    )
    parser.add_argument(
        "--path-prefix",
        metavar="PATH",
        help="also serve Prove's API (/token, /v3/*, /v1/server/*) under this path, for an SDK serverURL "
        "such as http://127.0.0.1:7768/prove (default: the root only)",
    )
    parser.add_argument(
        "--request-timeout",
        type=_timeout,
        metavar="SECONDS",
        help=f"a request's head and body must arrive within this many seconds of its first byte, else 408 "
        f"(default {REQUEST_TIMEOUT_SECONDS:g})",
    )
    parser.add_argument(
        "--max-live-flows",
        type=_max_live_flows,
        metavar="N",
        help="the live flows a project holds at most, unless its maxLiveFlows says otherwise; a new flow in a "
        f"full project evicts the finished ones first, then the oldest (default {DEFAULT_MAX_LIVE_FLOWS})",
    )
    parser.add_argument("--log-level", choices=["debug", "info", "warning", "error"], help="default: warning")
    parser.add_argument("--import", dest="import_file", metavar="FILE",
                        help="start from a snapshot (GET /__emulator/snapshot, exec --export-on-exit); with "
                        "--state-dir, it replaces what the directory held")
    parser.add_argument("--state-dir", metavar="DIR",
                        help="keep the state in DIR (SQLite), written before each reply, and start from it again "
                        "after a restart; one emulator per directory (default: in memory only, gone at exit)")


def _add_commands(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="command")
    scenarios = commands.add_parser("scenarios", help="work with scenario files")
    scenario_commands = scenarios.add_subparsers(dest="scenarios_command", required=True)
    check = scenario_commands.add_parser("check", help="validate scenario files without serving")
    check.add_argument("directories", nargs="*", metavar="DIR", help="default: the embedded default pack")
    run = commands.add_parser(
        "exec",
        usage="prove-emulator [OPTIONS] exec [OPTIONS] [--export-on-exit FILE] -- CMD [ARG]...",
        help="run a command against a fresh emulator on a free port, then stop it",
        description="Start the emulator (127.0.0.1, a free port) with the serve options given before or after "
        "exec, run CMD with PROVE_EMULATOR_URL, PROVE_CLIENT_ID and PROVE_CLIENT_SECRET (and "
        "PROVE_EMULATOR_ADMIN_TOKEN, with an admin token) in its environment, stop the emulator, and exit with "
        "CMD's status.",
    )
    _add_serve_options(run)
    for action in run._actions:  # noqa: SLF001 (argparse lists actions nowhere else)
        # Unset here, an option given before `exec` keeps its value (argparse copies every default of a
        # subcommand over the main command's values).
        action.default = argparse.SUPPRESS
    run.add_argument("--export-on-exit", metavar="FILE", type=Path,
                     help="once CMD ends, write the emulator's whole state (GET /__emulator/snapshot) to FILE, "
                     "atomically")
    run.add_argument("argv", nargs="+", metavar="CMD", help="the command and its arguments, after --")
    export = commands.add_parser("export", help="write a running emulator's whole state to a file (a snapshot)")
    export.add_argument("file", metavar="FILE", type=Path, help="written atomically: an old FILE is replaced whole")
    export.add_argument("--url", help="the emulator's origin (default: PROVE_EMULATOR_URL, else http://127.0.0.1:7768)")


def _serve_option_actions() -> list[argparse.Action]:
    """The serve options, for exec to hand the ones set on to the emulator's process."""
    parser = argparse.ArgumentParser(add_help=False)
    _add_serve_options(parser)
    return parser._actions  # noqa: SLF001


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "scenarios":
            return _check(args.directories)
        if args.command == "exec":
            from emulator import exec_command  # here: serving, the common case, starts without it

            return exec_command.run(args.argv, exec_command.serve_arguments(args, _serve_option_actions()),
                                    admin_token=args.admin_token or _env("ADMIN_TOKEN"), export_to=args.export_on_exit)
        if args.command == "export":
            from emulator import exec_command

            url = (args.url or os.environ.get("PROVE_EMULATOR_URL") or f"http://{DEFAULT_HOST}:{DEFAULT_PORT}").rstrip("/")
            return exec_command.export(url, args.admin_token or _env("ADMIN_TOKEN"), args.file, label="export")
        return _serve(args)
    except StartupError as error:
        print(f"prove-emulator: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0


def _check(directories: list[str]) -> int:
    paths = [Path(d) for d in directories] or [default_pack_dir()]
    try:
        catalogue = load_catalogue(paths, check_embedded=True)  # a check holds every file to the schema
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
    access = _access(args)
    request_timeout = _request_timeout(args)
    max_live_flows = (args.max_live_flows if args.max_live_flows is not None
                      else _parsed_env("MAX_LIVE_FLOWS", _max_live_flows, DEFAULT_MAX_LIVE_FLOWS))
    try:
        path_prefix = normalize_path_prefix(args.path_prefix or _env("PATH_PREFIX") or "")
    except ValueError as error:
        raise StartupError(str(error)) from None
    try:
        projects = load_projects_file(Path(projects_file)) if projects_file else []
    except ProjectsFileError as error:
        raise StartupError(str(error)) from None
    try:
        emulator = Emulator(scenario_dirs=scenario_dirs, projects=projects, max_live_flows=max_live_flows)
    except ScenarioError as error:
        more = f" (and {len(error.problems) - 1} more; run 'prove-emulator scenarios check')" if len(error.problems) > 1 else ""
        raise StartupError(f"scenario file problem: {error.problems[0]}{more}") from None
    state_dir = args.state_dir or _env("STATE_DIR")
    import_file = args.import_file or _env("IMPORT")
    # With --import, what the directory held is replaced: not read (it may be what cannot be read).
    directory = _open_state_directory(emulator, Path(state_dir), read=not import_file) if state_dir else None
    closed_cleanly = True
    try:
        if import_file:
            _import(emulator, Path(import_file))
        if directory is not None:
            _attach(directory, emulator)
        try:
            sock = bind(host, port)
        except OSError as error:
            raise StartupError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None
        emulator.public_origin = public_origin or local_origin(sock)
        app = create_app(emulator, cors_origins, access, path_prefix=path_prefix,
                         commit=directory.commit if directory is not None else None)
        _run(app, emulator, sock, log_level, request_timeout, access, path_prefix)
    finally:
        if directory is not None:
            closed_cleanly = _close(directory)
    return 0 if closed_cleanly else 1


def _run(app: ASGIApp, emulator: Emulator, sock: socket.socket, log_level: str, request_timeout: float, access: AccessPolicy,
         path_prefix: str) -> None:
    server = uvicorn_server(app, log_level, on_shutdown=emulator.shut_down, request_timeout=request_timeout)

    def ready() -> None:
        where = local_origin(sock)
        print(
            f"prove-emulator {__version__} ready at {where} "
            f"(client_id={DEFAULT_CLIENT_ID} client_secret={DEFAULT_CLIENT_SECRET}; "
            f"public URL {emulator.public_origin}"
            + (f"; Prove's API also under {path_prefix})" if path_prefix else ")")
            # The page a developer opens: the phone's SMS, the flows, the test numbers.
            + f"\nweb UI (the customer's phone, flows, test numbers): {where}/__emulator/ui"
            + (" (give it the admin token: append #token=<the token>)" if access.admin_token else ""),
            flush=True,
        )

    run_in_foreground(server, sock, ready)  # until SIGINT/SIGTERM; then a clean stop, exit status 0


def _open_state_directory(emulator: Emulator, path: Path, read: bool) -> StateDirectory:
    """The locked state directory; when `read`, its state (if any) in place, and the declared projects
    it lacks added."""
    try:
        state_dir = StateDirectory(path)
    except StateDirectoryError as error:
        raise StartupError(str(error)) from None
    try:
        held = state_dir.load() if read else None
    except StateDirectoryError as error:
        state_dir.close()  # nothing attached: nothing is written, the lock goes
        raise StartupError(f"{error} (start with --import FILE to replace it, or delete the directory)") from None
    if held is not None:
        snapshot.restore(emulator, held)
        for project in emulator.projects.declared:  # a project the projects file declares since
            if emulator.projects.get(project.client_id) is None:
                emulator.projects.put(project)
    return state_dir


def _attach(state_dir: StateDirectory, emulator: Emulator) -> None:
    try:
        state_dir.attach(emulator)
    except StateWriteError as error:
        raise StartupError(str(error)) from None


def _close(state_dir: StateDirectory) -> bool:
    """The last write and the lock let go; False (said on stderr) when the last write failed."""
    try:
        state_dir.close()
    except StateWriteError as error:
        print(f"prove-emulator: error: {error}; the last changes are not on disk", file=sys.stderr)
        return False
    return True


def _import(emulator: Emulator, path: Path) -> None:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise StartupError(f"--import {path}: cannot be read: {error.strerror or error}") from None
    try:
        snapshot.restore(emulator, snapshot.loads(data))
    except snapshot.SnapshotError as error:
        raise StartupError(f"--import {path}: not a snapshot this emulator can load: {error}") from None


def _access(args: argparse.Namespace) -> AccessPolicy:
    admin_token = args.admin_token or _env("ADMIN_TOKEN")
    if admin_token is not None and not re.fullmatch(r"[!-~]+", admin_token):
        raise StartupError("the admin token must be printable ASCII without spaces (it is sent as a header)")
    try:
        allowed_hosts = check_host_names((args.allowed_hosts or _env("ALLOWED_HOSTS") or "").split(","))
    except ValueError as error:
        raise StartupError(str(error)) from None
    cors_api = args.cors_api if args.cors_api is not None else _env_flag("CORS_API")
    return AccessPolicy(cors_api=cors_api, admin_token=admin_token, allowed_hosts=allowed_hosts)


def _env_flag(name: str) -> bool:
    raw = (_env(name) or "0").strip().lower()
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise StartupError(f"{ENV_PREFIX}{name} must be 1/true/yes/on or 0/false/no/off (got {raw!r})")


def _timeout(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds <= 3600:  # also refuses nan and inf
        raise argparse.ArgumentTypeError(f"the request timeout must be a number of seconds, over 0 and at most "
                                         f"3600 (got {text!r})")
    return seconds


def _max_live_flows(text: str) -> int:
    low, high = MAX_LIVE_FLOWS_RANGE
    if not (text.isascii() and text.isdigit()) or not low <= int(text) <= high:
        raise argparse.ArgumentTypeError(f"the live flows per project must be a whole number from {low} to {high} "
                                         f"(got {text!r})")
    return int(text)


def _request_timeout(args: argparse.Namespace) -> float:
    if args.request_timeout is not None:
        return args.request_timeout
    return _parsed_env("REQUEST_TIMEOUT", _timeout, REQUEST_TIMEOUT_SECONDS)


def _env_port() -> int:
    return _parsed_env("PORT", _port, DEFAULT_PORT)


def _parsed_env(name: str, parse: Callable[[str], T], default: T) -> T:
    """A PROVE_EMULATOR_* variable read with its option's parser; a bad value stops start-up."""
    raw = _env(name)
    if raw is None:
        return default
    try:
        return parse(raw)
    except argparse.ArgumentTypeError as error:
        raise StartupError(f"{ENV_PREFIX}{name}: {error}") from None
