"""`prove-emulator exec -- CMD`: a fresh emulator for one command, its status, its failures, its clean-up."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Callable

import httpx
import pytest

from emulator import exec_command
from emulator.files import write_atomically

posix_only = pytest.mark.skipif(os.name != "posix", reason="signals and process groups are POSIX")


def prove_emulator(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "emulator", *args], capture_output=True, text=True, timeout=90,
                          env={**os.environ, **(env or {})})


def python(code: str) -> list[str]:
    """`-- python -c CODE`: the command exec runs."""
    return ["--", sys.executable, "-c", textwrap.dedent(code)]


def assert_one_line_failure(result: subprocess.CompletedProcess[str], text: str) -> None:
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(("prove-emulator: error: ", "prove-emulator exec: error: "))  # the latter: argparse
    assert text in result.stderr
    assert "Traceback" not in result.stderr


# What a command posts to /token (urllib: the command needs nothing installed; no proxy for 127.0.0.1).
GET_TOKEN = """
    import json, os, urllib.parse, urllib.request
    url = os.environ["PROVE_EMULATOR_URL"]
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    form = urllib.parse.urlencode({"grant_type": "client_credentials", "client_id": os.environ["PROVE_CLIENT_ID"],
                                   "client_secret": os.environ["PROVE_CLIENT_SECRET"]}).encode()
    token = json.load(opener.open(url + "/token", form, timeout=10))["access_token"]
"""


@pytest.mark.parametrize("status", [0, 1, 3])
def test_exec_exits_with_the_commands_status(status):
    result = prove_emulator("exec", *python(f"import sys; print('from the command'); sys.exit({status})"))
    assert result.returncode == status, result.stderr
    assert result.stdout == "from the command\n"  # the emulator's lines go to stderr, not into its output
    assert "ready at http://127.0.0.1:" in result.stderr


@posix_only
def test_a_command_killed_by_a_signal_is_128_plus_its_number():
    result = prove_emulator("exec", *python("import os, signal; os.kill(os.getpid(), signal.SIGKILL)"))
    assert result.returncode == 128 + signal.SIGKILL


def test_a_command_that_cannot_be_run_is_127_or_126_like_a_shell(tmp_path):
    missing = prove_emulator("exec", "--", "no-such-command-for-prove-emulator")
    assert missing.returncode == 127
    assert "prove-emulator: error: no-such-command-for-prove-emulator: command not found\n" in missing.stderr
    script = tmp_path / "not-executable.sh"
    script.write_text("#!/bin/sh\nexit 0\n")
    if os.name == "posix":
        refused = prove_emulator("exec", "--", str(script))
        assert refused.returncode == 126
        assert f"prove-emulator: error: {script}: cannot run it: Permission denied\n" in refused.stderr


def test_the_command_reaches_the_emulator_with_the_default_projects_credentials():
    result = prove_emulator("exec", *python(GET_TOKEN + """
    import sys
    sys.exit(0 if token and url.startswith("http://127.0.0.1:") and not url.endswith(":7768") else 9)
    """))
    assert result.returncode == 0, result.stderr


def _bad_projects(tmp_path: Path) -> tuple[list[str], str]:
    (tmp_path / "projects.yaml").write_text("projects:\n  - {clientId: a, clientSecret: b, product: everything}\n")
    return ["--projects", str(tmp_path / "projects.yaml")], "projects[0].products: 'everything'"


def _bad_scenarios(tmp_path: Path) -> tuple[list[str], str]:
    (tmp_path / "bad.yaml").write_text('personas: [{phoneNumber: "2025550100", possession: maybe}]')
    return ["--scenarios", str(tmp_path)], "scenario file problem: "


def _missing_projects(tmp_path: Path) -> tuple[list[str], str]:
    return ["--projects", str(tmp_path / "nope.yaml")], "cannot be read"


def _bad_option(tmp_path: Path) -> tuple[list[str], str]:
    return ["--max-live-flows", "0"], "the live flows per project must be a whole number"


@pytest.mark.parametrize("problem", [_bad_projects, _bad_scenarios, _missing_projects, _bad_option])
@pytest.mark.parametrize("before_exec", [False, True])
def test_an_emulator_that_cannot_start_never_runs_the_command(tmp_path, problem, before_exec):
    options, reason = problem(tmp_path)
    marker = tmp_path / "the command ran"
    command = python(f"open({str(marker)!r}, 'w').close()")
    args = [*options, "exec", *command] if before_exec else ["exec", *options, *command]
    result = prove_emulator(*args)
    assert_one_line_failure(result, reason)
    assert not marker.exists()


def test_a_port_in_use_never_runs_the_command(tmp_path):
    marker = tmp_path / "the command ran"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        result = prove_emulator("exec", "--port", port, *python(f"open({str(marker)!r}, 'w').close()"))
    assert_one_line_failure(result, f"the emulator did not start: cannot listen on 127.0.0.1:{port}")
    assert not marker.exists()


def test_serve_options_before_and_after_exec_reach_the_emulator(tmp_path):
    (tmp_path / "mine.yaml").write_text('personas: [{phoneNumber: "3035550177"}]\n')
    result = prove_emulator("--admin-token=-s3cret", "--max-live-flows", "7", "exec", "--scenarios", str(tmp_path),
                            *python("""
    import json, os, sys, urllib.error, urllib.request
    url, token = os.environ["PROVE_EMULATOR_URL"], os.environ["PROVE_EMULATOR_ADMIN_TOKEN"]
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        opener.open(url + "/__emulator/scenarios", timeout=10)
        sys.exit("the control plane answered without the admin token")
    except urllib.error.HTTPError as refused:
        assert refused.code == 401, refused.code
    request = urllib.request.Request(url + "/__emulator/scenarios", headers={"X-Emulator-Token": token})
    listed = json.load(opener.open(request, timeout=10))
    assert token == "-s3cret"
    assert any(p.get("phoneNumber") == "3035550177" for p in listed["personas"]), listed["files"]
    """))
    assert result.returncode == 0, result.stderr


def _emulator_pid_file(tmp_path: Path) -> list[str]:
    """A command that writes the emulator's pid (exec's other child) and URL to tmp_path/emulator.json."""
    return python(f"""
    import json, os
    exec_pid, me = os.getppid(), os.getpid()
    siblings = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{{entry}}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if entry.isdigit() and int(fields[1]) == exec_pid and int(entry) != me:
            siblings.append(int(entry))
    with open({str(tmp_path / "emulator.json")!r}, "w") as out:
        json.dump({{"pids": siblings, "url": os.environ["PROVE_EMULATOR_URL"]}}, out)
    """)


def assert_gone(tmp_path: Path) -> None:
    seen = json.loads((tmp_path / "emulator.json").read_text())
    assert len(seen["pids"]) == 1, seen  # the emulator, and nothing else exec started
    with pytest.raises(ProcessLookupError):
        os.kill(seen["pids"][0], 0)
    with pytest.raises(httpx.TransportError):
        httpx.get(seen["url"] + "/__emulator/health", timeout=5, trust_env=False)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the emulator's process in /proc")
def test_the_emulator_is_gone_once_exec_returns(tmp_path):
    result = prove_emulator("exec", *_emulator_pid_file(tmp_path))
    assert result.returncode == 0, result.stderr
    assert_gone(tmp_path)


@posix_only
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the emulator's process in /proc")
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_to_exec_goes_to_the_command_and_the_emulator_stops(tmp_path, sig):
    # The command tells it is running (after writing the pids), then waits to be signalled; it dies of the
    # default action. A new session: no terminal, so exec passes SIGINT on (Ctrl-C would reach it directly).
    command = _emulator_pid_file(tmp_path)
    command[-1] += textwrap.dedent("""
    import signal, time
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    print("waiting", flush=True)
    time.sleep(60)
    """)
    process = subprocess.Popen([sys.executable, "-m", "emulator", "exec", *command], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert process.stdout.readline() == "waiting\n", process.stderr.read() if process.poll() is not None else ""
        process.send_signal(sig)
        assert process.wait(timeout=30) == 128 + sig
    finally:
        process.kill()
        process.wait()
    assert_gone(tmp_path)


# -- start-up failures of other kinds, with exec_command.run in this process and a stand-in emulator ----------

def test_an_emulator_not_ready_in_time_is_stopped_and_the_command_not_run(tmp_path, capsys):
    marker = tmp_path / "the command ran"
    status = exec_command.run(["touch", str(marker)], [], ready_timeout=0.5,
                              emulator=[sys.executable, "-c", "import time; time.sleep(60)"])
    assert status == 2
    assert capsys.readouterr().err == ("prove-emulator: error: the emulator did not start: not ready within 0.5 s "
                                       "(the command was not run)\n")
    assert not marker.exists()


def test_an_emulator_that_crashes_before_it_is_ready_is_named_by_its_last_line(tmp_path, capsys):
    crash = "import sys; sys.stderr.write('Traceback (most recent call last):\\nValueError: boom\\n'); sys.exit(1)"
    status = exec_command.run(["touch", str(tmp_path / "ran")], [], emulator=[sys.executable, "-c", crash])
    assert status == 2
    assert capsys.readouterr().err == ("prove-emulator: error: the emulator did not start: it exited with status 1 "
                                       "before it was ready: ValueError: boom (the command was not run)\n")
    assert not (tmp_path / "ran").exists()


# -- --export-on-exit ------------------------------------------------------------------------------------------

# A stand-in for the emulator: the ready line, then GET /__emulator/snapshot answering FAKE_SNAPSHOT_STATUS with
# what it was asked (so a test sees the admin token arrive); SIGTERM stops it.
FAKE_EMULATOR = """
import http.server, json, os, signal, sys

class Snapshot(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"path": self.path, "token": self.headers.get("X-Emulator-Token")}).encode()
        self.send_response(int(os.environ.get("FAKE_SNAPSHOT_STATUS", "200")))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

server = http.server.HTTPServer(("127.0.0.1", 0), Snapshot)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
print(f"prove-emulator fake ready at http://127.0.0.1:{server.server_port} (client_id=x)", flush=True)
server.serve_forever()
"""


@pytest.fixture
def export_with_a_fake(tmp_path: Path) -> Callable[..., int]:
    """export(exit_status, admin_token=None): exec_command.run against FAKE_EMULATOR, into tmp_path/state.json."""
    fake = tmp_path / "fake_emulator.py"
    fake.write_text(FAKE_EMULATOR)

    def export(exit_status: int, admin_token: str | None = None) -> int:
        return exec_command.run([sys.executable, "-c", f"import sys; sys.exit({exit_status})"], [],
                                admin_token=admin_token, export_to=tmp_path / "state.json",
                                emulator=[sys.executable, str(fake)])

    return export


def test_export_on_exit_writes_the_snapshot_with_the_admin_token(tmp_path, export_with_a_fake):
    (tmp_path / "state.json").write_text("the previous export")
    assert export_with_a_fake(0, admin_token="s3cret") == 0
    assert json.loads((tmp_path / "state.json").read_text()) == {"path": "/__emulator/snapshot", "token": "s3cret"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fake_emulator.py", "state.json"]  # no temporary left


@pytest.mark.parametrize("command_status, exit_status", [(0, 1), (3, 3)])
def test_a_failed_export_says_so_and_keeps_the_old_file(tmp_path, export_with_a_fake, monkeypatch, capsys,
                                                         command_status, exit_status):
    monkeypatch.setenv("FAKE_SNAPSHOT_STATUS", "500")
    (tmp_path / "state.json").write_text("the previous export")
    assert export_with_a_fake(command_status) == exit_status
    assert "prove-emulator: error: --export-on-exit: /__emulator/snapshot answered 500" in capsys.readouterr().err
    assert (tmp_path / "state.json").read_text() == "the previous export"


def test_an_export_into_a_missing_directory_says_so(tmp_path, capsys):
    fake = tmp_path / "fake_emulator.py"
    fake.write_text(FAKE_EMULATOR)
    status = exec_command.run([sys.executable, "-c", "pass"], [], export_to=tmp_path / "nope" / "state.json",
                              emulator=[sys.executable, str(fake)])
    assert status == 1
    assert "--export-on-exit: cannot write " in capsys.readouterr().err


def test_export_on_exit_against_the_real_emulator(tmp_path):
    path = tmp_path / "state.json"
    result = prove_emulator("exec", "--admin-token", "s3cret", "--export-on-exit", str(path), *python(GET_TOKEN))
    assert result.returncode == 0, result.stderr
    json.loads(path.read_text())  # one JSON document


# -- write_atomically -------------------------------------------------------------------------------------------

def test_write_atomically_replaces_a_file_and_keeps_its_permissions(tmp_path):
    path = tmp_path / "state.json"
    write_atomically(path, b"first")
    assert path.read_bytes() == b"first"
    if os.name == "posix":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600  # new: its owner's only (it holds client secrets)
        path.chmod(0o640)
    write_atomically(path, b"second")
    assert path.read_bytes() == b"second"
    if os.name == "posix":
        assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_write_atomically_leaves_the_old_file_whole_when_it_fails(tmp_path, monkeypatch):
    path = tmp_path / "state.json"
    path.write_bytes(b"old")

    def full_disk(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("emulator.files.os.fsync", full_disk)
    with pytest.raises(OSError, match="No space left"):
        write_atomically(path, b"new")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_an_exported_state_is_imported_by_the_next_emulator(tmp_path):
    path = tmp_path / "state.json"
    start = ("import json, os, urllib.request as u\n"
             "url = os.environ['PROVE_EMULATOR_URL']\n"
             "body = json.dumps({'clientSecret': 'kept-secret'}).encode()\n"
             "u.urlopen(u.Request(url + '/__emulator/projects/kept', body, {'Content-Type': 'application/json'}, method='PUT'))\n")
    assert prove_emulator("exec", "--export-on-exit", str(path), *python(start)).returncode == 0
    check = ("import json, os, sys, urllib.request as u\n"
             "projects = json.load(u.urlopen(os.environ['PROVE_EMULATOR_URL'] + '/__emulator/projects'))['projects']\n"
             "sys.exit(0 if any(p['clientId'] == 'kept' for p in projects) else 5)\n")
    assert prove_emulator("exec", "--import", str(path), *python(check)).returncode == 0
    assert prove_emulator("exec", *python(check)).returncode == 5  # without the import, the project is gone
    path.write_text('{"format": "prove-emulator-snapshot", "version": 99}')
    refused = prove_emulator("exec", "--import", str(path), *python("pass"))
    assert refused.returncode == 2 and "version 99" in refused.stderr


def test_export_writes_a_running_emulator_s_state(tmp_path):
    path = tmp_path / "state.json"
    command = (f"import subprocess, sys; sys.exit(subprocess.run([sys.executable, '-m', 'emulator', 'export', "
               f"{str(path)!r}]).returncode)")
    assert prove_emulator("exec", *python(command)).returncode == 0
    document = json.loads(path.read_text())
    assert document["format"] == "prove-emulator-snapshot" and "sandbox-client-id" in document["projects"]
    old = path.read_bytes()
    refused = subprocess.run([sys.executable, "-m", "emulator", "export", str(path), "--url", "http://127.0.0.1:9"],
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1 and "export: cannot fetch" in refused.stderr
    assert path.read_bytes() == old  # a failed export keeps the file it would have replaced
