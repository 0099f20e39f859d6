"""The prove-emulator command: start-up, options and environment variables, one-line failures."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest




def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "emulator", *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})


def assert_one_line_failure(result: subprocess.CompletedProcess[str], text: str) -> None:
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("prove-emulator: error: ")
    assert text in result.stderr
    assert "Traceback" not in result.stderr


def test_port_zero_picks_a_free_port_and_prints_one_ready_line(serve_cli):
    base_url, line = serve_cli("--port", "0")
    assert line.count("\n") == 1
    health = httpx.get(base_url + "/__emulator/health").json()
    assert health["status"] == "ok" and health["publicUrl"] == base_url
    token = httpx.post(base_url + "/token", data={
        "grant_type": "client_credentials", "client_id": "sandbox-client-id",
        "client_secret": "sandbox-client-secret"})
    assert token.status_code == 200


def test_options_come_from_environment_variables(serve_cli, tmp_path):
    (tmp_path / "projects.yaml").write_text(
        "projects:\n  - {clientId: team-a, clientSecret: secret-a, product: verified-users}\n")
    base_url, _ = serve_cli(env={"PROVE_EMULATOR_PORT": "0", "PROVE_EMULATOR_PUBLIC_URL": "http://LOCALHOST:8080/",
                             "PROVE_EMULATOR_PROJECTS": str(tmp_path / "projects.yaml")})
    assert httpx.get(base_url + "/__emulator/health").json()["publicUrl"] == "http://localhost:8080"
    token = httpx.post(base_url + "/token", data={
        "grant_type": "client_credentials", "client_id": "team-a", "client_secret": "secret-a"})
    assert token.status_code == 200


def test_a_bad_port_is_one_line():
    assert_one_line_failure(run("--port", "99999"), "port must be a number from 0 to 65535")
    assert_one_line_failure(run(env={"PROVE_EMULATOR_PORT": "abc"}), "PROVE_EMULATOR_PORT")


def test_a_public_url_with_a_path_is_refused():
    assert_one_line_failure(run("--port", "0", "--public-url", "http://localhost:7768/prove"), "bare origin")


def test_a_missing_projects_file_is_one_line(tmp_path):
    assert_one_line_failure(run("--port", "0", "--projects", str(tmp_path / "nope.yaml")), "cannot be read")


def test_a_bad_projects_file_names_the_problem(tmp_path):
    path = tmp_path / "projects.yaml"
    path.write_text("projects:\n  - {clientId: a, clientSecret: b, product: everything}\n")
    assert_one_line_failure(run("--port", "0", "--projects", str(path)), "projects[0].products: 'everything'")


def test_a_bad_bound_on_live_flows_is_one_line():
    rule = "the live flows per project must be a whole number from 1 to 1000000"
    assert_one_line_failure(run("--port", "0", "--max-live-flows", "0"), rule)
    assert_one_line_failure(run("--port", "0", env={"PROVE_EMULATOR_MAX_LIVE_FLOWS": "lots"}),
                            f"PROVE_EMULATOR_MAX_LIVE_FLOWS: {rule} (got 'lots')")


@pytest.mark.parametrize("args, env", [(("--max-live-flows", "1"), None), ((), {"PROVE_EMULATOR_MAX_LIVE_FLOWS": "1"})])
def test_the_bound_on_live_flows_comes_from_the_option_or_the_environment(serve_cli, args, env):
    base_url, _ = serve_cli("--port", "0", *args, env=env)
    token = httpx.post(base_url + "/token", data={
        "grant_type": "client_credentials", "client_id": "sandbox-client-id",
        "client_secret": "sandbox-client-secret"}).json()["access_token"]
    body = {"firstName": "Casey", "lastName": "Client", "phoneNumber": "2025550101", "possessionType": "none"}
    first, second = (httpx.post(base_url + "/v3/verify", json=body, headers={"Authorization": f"Bearer {token}"})
                     .json()["correlationId"] for _ in range(2))
    gone = httpx.get(f"{base_url}/__emulator/flows/{first}")
    assert gone.status_code == 410 and "holds at most 1 live flows (the emulator's default, --max-live-flows)" in (
        gone.json()["message"])
    assert httpx.get(f"{base_url}/__emulator/flows/{second}").status_code == 200


def test_a_bad_scenario_file_stops_start_up(tmp_path):
    (tmp_path / "bad.yaml").write_text('personas: [{phoneNumber: "2025550100", possession: maybe}]')
    assert_one_line_failure(run("--port", "0", "--scenarios", str(tmp_path)), "personas[0].possession")


def test_a_port_in_use_is_one_line():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        assert_one_line_failure(run("--port", port), f"cannot listen on 127.0.0.1:{port}")


def test_module_and_console_script_agree():
    assert run("--version").stdout.strip() == "prove-emulator 0.1.0"
    script = Path(sys.executable).with_name("prove-emulator")
    if script.exists():
        result = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=60)
        assert result.stdout.strip() == "prove-emulator 0.1.0"


def test_start_up_leaves_the_heavy_libraries_for_when_they_are_needed():
    # Start-up time and idle memory (bench/startup.py): each of these loads where it is first used
    # (a user's scenario file, a device key, a webhook, a number's region), not at start.
    code = ("import sys, emulator.cli as cli; cli.create_app(cli.Emulator()); "
            "print(' '.join(m for m in ('jsonschema', 'cryptography', 'httpx', 'jwt', 'phonenumbers') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
