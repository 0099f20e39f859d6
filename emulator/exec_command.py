"""`prove-emulator exec [serve options] -- CMD ...`: a fresh emulator for one command (a CI step, a test run).

The emulator runs as a child process (`python -m emulator`, given exec's serve options), so every option
reaches it as it would the main command, and a command that crashes cannot take it down. The command gets
the emulator's URL and the default project's credentials in its environment; exec exits with its status.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import IO, Callable, Sequence

from emulator.projects import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

READY_TIMEOUT_SECONDS = 30.0  # a cold start on a busy CI machine; a warm one takes well under a second
STOP_GRACE_SECONDS = 5.0  # SIGTERM stops the emulator in well under a second; then it is killed
EXPORT_TIMEOUT_SECONDS = 60.0
SNAPSHOT_PATH = "/__emulator/snapshot"
EMULATOR = (sys.executable, "-m", "emulator")
ERROR = "prove-emulator: error: "  # how the emulator's (and this command's) one-line failures begin
_READY = re.compile(r"ready at (http://[^\s)]+)")


def serve_arguments(args: argparse.Namespace, actions: Sequence[argparse.Action]) -> list[str]:
    """The serve options set in args, written back as a command line for the emulator's process.

    `--opt=value`, so that a value beginning with '-' (an admin token) stays a value; options never
    given (None) are left out, so the emulator's own environment variables and defaults apply.
    """
    argv: list[str] = []
    for action in actions:
        value = getattr(args, action.dest, None)
        if not action.option_strings or value is None:
            continue
        option = action.option_strings[-1]  # the long spelling
        if action.nargs == 0:  # a flag (store_true)
            argv += [option] if value else []
        elif isinstance(value, list):  # a repeatable option (append)
            argv += [f"{option}={item}" for item in value]
        else:
            argv.append(f"{option}={value}")
    return argv


def run(command: Sequence[str], emulator_args: Sequence[str], *, admin_token: str | None = None,
        export_to: Path | None = None, ready_timeout: float = READY_TIMEOUT_SECONDS,
        emulator: Sequence[str] = EMULATOR) -> int:
    """Start the emulator, run command against it, stop the emulator; the exit status to end with.

    A failed start-up is one line on stderr and status 2, without running the command. The emulator
    listens on 127.0.0.1 and a free port unless emulator_args say otherwise (later options win).
    """
    with _Signals() as signals:
        child = _Emulator([*emulator, "--host=127.0.0.1", "--port=0", *emulator_args])
        try:
            try:
                url = child.wait_until_ready(ready_timeout, signals)
            except _NotStarted as error:
                print(f"{ERROR}the emulator did not start: {error} (the command was not run)", file=sys.stderr)
                return 2
            if url is None or signals.first is not None:  # SIGINT/SIGTERM before the command's turn came
                return 128 + (signals.first or signal.SIGTERM)
            env = {**os.environ, "PROVE_EMULATOR_URL": url, "PROVE_CLIENT_ID": DEFAULT_CLIENT_ID,
                   "PROVE_CLIENT_SECRET": DEFAULT_CLIENT_SECRET}
            if admin_token:
                env["PROVE_EMULATOR_ADMIN_TOKEN"] = admin_token
            process = _start_command(command, env)
            if isinstance(process, int):  # it could not be run: nothing to wait for, nothing to export
                return process
            signals.forward_to(process)
            status = process.wait()
            status = 128 - status if status < 0 else status  # died of signal N: 128+N, as shells say
            if child.process.poll() is not None:  # it should outlive the command: tell why a test failed
                print(f"prove-emulator: warning: the emulator exited (status {child.process.returncode}) "
                      "while the command ran", file=sys.stderr)
            if export_to is not None:
                status = export(url, admin_token, export_to, status)
            return status
        finally:
            child.stop()


class _NotStarted(Exception):
    """Why the emulator did not become ready, as one line."""


def _start_command(command: Sequence[str], env: dict[str, str]) -> subprocess.Popen[bytes] | int:
    """The command's process, or the status a shell gives a command it cannot run."""
    try:
        return subprocess.Popen(list(command), env=env)
    except FileNotFoundError:
        print(f"{ERROR}{command[0]}: command not found", file=sys.stderr)
        return 127
    except OSError as error:  # EACCES (not executable, a directory), ENOEXEC (not a program)
        print(f"{ERROR}{command[0]}: cannot run it: {error.strerror or error}", file=sys.stderr)
        return 126


def export(url: str, admin_token: str | None, path: Path, status: int = 0, label: str = "--export-on-exit") -> int:
    """The emulator's whole state into path (--export-on-exit, `prove-emulator export`); a failure keeps
    the command's failure, else 1."""
    import httpx  # only here: exec's other paths need no HTTP client

    from emulator.files import write_atomically

    headers = {"X-Emulator-Token": admin_token} if admin_token else {}
    try:
        # trust_env=False: a CI proxy (HTTP_PROXY) must not be asked for 127.0.0.1
        reply = httpx.get(url + SNAPSHOT_PATH, headers=headers, timeout=EXPORT_TIMEOUT_SECONDS, trust_env=False)
    except httpx.HTTPError as error:
        why = f"cannot fetch {SNAPSHOT_PATH}: {error}"
    else:
        if reply.status_code != 200:
            why = f"{SNAPSHOT_PATH} answered {reply.status_code}: {reply.text.strip()[:200]}"
        else:
            try:
                write_atomically(path, reply.content)
                return status
            except OSError as error:
                why = f"cannot write {path}: {error.strerror or error}"
    print(f"{ERROR}{label}: {why}", file=sys.stderr)
    return status or 1


class _Signals:
    """SIGINT and SIGTERM to exec: passed on to the command once it runs; before, they cancel start-up.

    Ctrl-C in a terminal already signals the whole foreground process group, the command included (it
    shares exec's group): a second SIGINT from here could cut its own clean-up short, so it is not sent.
    """

    def __init__(self) -> None:
        self.first: int | None = None
        self._command: subprocess.Popen[bytes] | None = None
        self._previous: dict[int, Callable[[int, FrameType | None], object] | int | None] = {}

    def __enter__(self) -> _Signals:
        self._previous = {sig: signal.signal(sig, self._handle) for sig in (signal.SIGINT, signal.SIGTERM)}
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def forward_to(self, command: subprocess.Popen[bytes]) -> None:
        self._command = command
        if self.first is not None:  # arrived while it was being started
            self._send(self.first)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.first is None:
            self.first = signum
        if self._command is not None:
            self._send(signum)

    def _send(self, signum: int) -> None:
        if self._command is not None and not (signum == signal.SIGINT and _foreground_of_a_terminal()):
            self._command.send_signal(signum)  # a no-op once it has been waited for


def _foreground_of_a_terminal() -> bool:
    try:
        fd = os.open("/dev/tty", os.O_RDONLY)  # the controlling terminal, if there is one
    except OSError:
        return False
    try:
        return os.tcgetpgrp(fd) == os.getpgrp()
    except OSError:
        return False
    finally:
        os.close(fd)


class _Emulator:
    """The emulator's process: its own process group, so a terminal's Ctrl-C reaches the command and not
    it (it must outlive the command, for --export-on-exit); stopped by exec whatever happens."""

    def __init__(self, argv: list[str]) -> None:
        ready: queue.Queue[str | None] = queue.Queue()
        self._ready = ready
        posix = os.name == "posix"
        self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, process_group=0 if posix else None,
                                        preexec_fn=_stop_with_parent() if posix else None)
        assert self.process.stdout is not None and self.process.stderr is not None
        self._outputs = (_Output(self.process.stdout, ready), _Output(self.process.stderr))

    def wait_until_ready(self, timeout: float, signals: _Signals) -> str | None:
        """Its URL, from its ready line; None if exec was signalled meanwhile. _NotStarted says why not."""
        deadline = time.monotonic() + timeout
        while signals.first is None:
            try:
                url = self._ready.get(timeout=0.1)  # short waits: a signal is seen within 0.1 s
            except queue.Empty:
                if time.monotonic() > deadline:
                    raise _NotStarted(f"not ready within {timeout:g} s") from None
                continue
            if url is not None:
                for output in self._outputs:
                    output.release()
                return url
            raise _NotStarted(self._why_it_ended())
        return None

    def _why_it_ended(self) -> str:
        # Its stdout ended before a ready line: it exited. Its stderr's last line says why.
        try:
            status: int | None = self.process.wait(timeout=STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            status = None
        self._outputs[1].join()
        line = self._outputs[1].last_line()
        if line.startswith(ERROR):  # its own one-line failure: a bad option or file, a port in use
            return line[len(ERROR):]
        return f"it exited with status {status} before it was ready" + (f": {line}" if line else "")

    def stop(self) -> None:
        """SIGTERM (a clean stop), then SIGKILL if it is still there after a few seconds."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for output in self._outputs:
            output.join()


def _stop_with_parent() -> Callable[[], None] | None:
    """On Linux, what makes the kernel send the emulator SIGTERM should exec die without stopping it
    (SIGKILL): no orphan left listening. Prepared here, since it runs in the child between fork and exec."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (ImportError, OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1
    return lambda: prctl(pr_set_pdeathsig, signal.SIGTERM)


class _Output:
    """One of the emulator's output streams, copied to exec's stderr (the command's stdout stays its own).
    Held back until the emulator is ready: a failed start-up is told in one line, not in its whole output."""

    def __init__(self, stream: IO[bytes], ready: queue.Queue[str | None] | None = None) -> None:
        self._lock = threading.Lock()
        self._held: list[str] = []
        self._released = False
        self._thread = threading.Thread(target=self._copy, args=(stream, ready), daemon=True)
        self._thread.start()

    def _copy(self, stream: IO[bytes], ready: queue.Queue[str | None] | None) -> None:
        for raw in stream:
            line = raw.decode("utf-8", "replace")
            with self._lock, contextlib.suppress(OSError, ValueError):  # a closed stderr: still drain the pipe
                if self._released:
                    sys.stderr.write(line)
                    sys.stderr.flush()
                else:
                    self._held.append(line)
            match = _READY.search(line) if ready is not None else None
            if ready is not None and match:
                ready.put(match.group(1))
                ready = None
        stream.close()
        if ready is not None:  # it ended without a ready line
            ready.put(None)

    def release(self) -> None:
        with self._lock:
            sys.stderr.writelines(self._held)
            sys.stderr.flush()
            self._held, self._released = [], True

    def last_line(self) -> str:
        with self._lock:
            lines = [line.strip() for line in self._held if line.strip()]
        return lines[-1] if lines else ""

    def join(self) -> None:
        self._thread.join(timeout=STOP_GRACE_SECONDS)
