"""Scenario files: whole-file validation with file/path/problem, precedence, the CLI check."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from emulator.scenarios import loader
from emulator.scenarios.loader import ScenarioError, default_pack_dir, load_catalogue
from emulator.scenarios.model import Possession


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text)
    return path


def problems(directory: Path) -> list[str]:
    with pytest.raises(ScenarioError) as caught:
        load_catalogue([directory])
    return caught.value.problems


def test_default_pack_loads_and_covers_every_possession_mode():
    catalogue = load_catalogue([default_pack_dir()])
    modes = {persona.possession for persona in catalogue.personas()}
    assert modes == set(Possession)
    assert catalogue.find("+12001004011", ("default",)).identity.first_name == "Sheilakathryn"


def test_the_embedded_pack_meets_the_schema():
    # The emulator loads its embedded pack without the schema (start-up time): this holds it to it.
    catalogue = load_catalogue([default_pack_dir()], check_embedded=True)
    assert len(catalogue.files) == 2


def test_only_the_embedded_pack_skips_the_schema(tmp_path, monkeypatch):
    write(tmp_path, "pack.yaml", 'personas: [{phoneNumber: "3035550100", colour: blue}]')
    with pytest.raises(ScenarioError):
        load_catalogue([tmp_path])  # a user's directory: held to the schema
    monkeypatch.setattr(loader, "default_pack_dir", lambda: tmp_path)
    assert load_catalogue([tmp_path]).find("3035550100", ("default",)) is not None
    with pytest.raises(ScenarioError) as caught:
        load_catalogue([tmp_path], check_embedded=True)  # as `prove-emulator scenarios check` loads it
    (problem,) = caught.value.problems
    assert problem.startswith(f"{tmp_path / 'pack.yaml'}: personas[0]: unknown key(s): colour (known: id,")


def test_problems_name_the_file_the_path_and_what_is_wrong(tmp_path):
    write(tmp_path, "bad.yaml", """
personas:
  - phoneNumber: "2025550100"
    possession: sometimes
  - pattern: "(("
  - phoneNumber: "2025550101"
    faults: [{endpoint: /v9/nothing, status: 500}]
  - phoneNumber: "2025550102"
    colour: blue
""")
    found = problems(tmp_path)
    path = str(tmp_path / "bad.yaml")
    assert any(p.startswith(f"{path}: personas[0].possession: 'sometimes' is not one of") for p in found)
    assert any(p.startswith(f"{path}: personas[3]: unknown key(s): colour (known: id,") for p in found)
    assert all(p.startswith(path) for p in found)


def test_semantic_problems_are_reported(tmp_path):
    write(tmp_path, "bad.yaml", """
personas:
  - pattern: "(("
  - phoneNumber: "2025550101"
    faults: [{endpoint: /v9/nothing, status: 500}]
  - phoneNumber: "+12025550101"
""")
    found = "\n".join(problems(tmp_path))
    assert "personas[0].pattern: not a valid regular expression" in found
    assert "personas[1].faults[0].endpoint: '/v9/nothing' is not an endpoint" in found
    assert "personas[2].phoneNumber: +12025550101 is already personas[1]" in found


def test_a_persona_needs_exactly_one_of_number_or_pattern(tmp_path):
    write(tmp_path, "bad.json", json.dumps({"personas": [{"description": "nobody"}]}))
    assert problems(tmp_path) == [f"{tmp_path / 'bad.json'}: personas[0]: a persona needs exactly one of 'phoneNumber' or 'pattern'"]


def test_invalid_yaml_is_one_clear_line(tmp_path):
    write(tmp_path, "broken.yaml", "personas: [unclosed")
    (problem,) = problems(tmp_path)
    assert problem.startswith(f"{tmp_path / 'broken.yaml'}: not valid YAML:")


def test_a_yaml_mistake_is_shown_by_line_and_quoted(tmp_path):
    write(tmp_path, "broken.yaml", 'personas:\n  - phoneNumber: "2025550100"\n    otp: "1234\n')
    (problem,) = problems(tmp_path)
    assert problem == (f"{tmp_path / 'broken.yaml'}: not valid YAML: while scanning a quoted scalar in "
                       '"<unicode string>", line 3, column 10: otp: "1234 ^ found unexpected end of stream in '
                       '"<unicode string>", line 4, column 1: ^')


def test_one_bad_file_fails_the_whole_load(tmp_path):
    write(tmp_path, "a-good.yaml", 'personas: [{phoneNumber: "3035550100"}]')
    write(tmp_path, "b-bad.yaml", 'personas: [{phoneNumber: "303"}]')
    assert len(problems(tmp_path)) == 1


def test_later_directories_override_numbers_and_exact_beats_pattern(tmp_path):
    write(tmp_path, "mine.yaml", """
personas:
  - {id: mine, phoneNumber: "2025550100", possession: auto-failed}
  - {id: catch-all, pattern: "[0-9]+"}
""")
    catalogue = load_catalogue([default_pack_dir(), tmp_path])
    assert catalogue.find("2025550100", ("default",)).key == "mine"
    assert catalogue.find("2001004011", ("default",)).key == "sheilakathryn-butrimovich"
    assert catalogue.find("3035550199", ("default",)).key == "catch-all"


def test_sets_are_chosen_by_projects(tmp_path):
    write(tmp_path, "team.yaml", 'set: team-a\npersonas: [{id: team-only, phoneNumber: "3035550100"}]')
    catalogue = load_catalogue([tmp_path])
    assert catalogue.find("3035550100", ("default",)) is None
    assert catalogue.find("3035550100", ("team-a",)).key == "team-only"


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "emulator", *args], capture_output=True, text=True, timeout=60)


def test_cli_scenarios_check_accepts_the_default_pack():
    result = run_cli("scenarios", "check")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok: 2 file(s)")


def test_cli_scenarios_check_lists_problems_and_fails(tmp_path):
    write(tmp_path, "bad.yaml", 'personas: [{phoneNumber: "2025550100", otp: "12"}]')
    result = run_cli("scenarios", "check", str(tmp_path))
    assert result.returncode == 1
    assert f"{tmp_path / 'bad.yaml'}: personas[0].otp:" in result.stderr
    assert "Traceback" not in result.stderr


def test_dates_and_age_ranges_are_checked_beyond_their_patterns(tmp_path):
    write(tmp_path, "bad.yaml", """
personas:
  - phoneNumber: "3035550100"
    identity: {dob: "1990-02-30"}
  - phoneNumber: "3035550101"
    verification: {minAge: 30, byType: {humanAssurance: {maxAge: 20}}}
""")
    found = problems(tmp_path)
    assert any("personas[0].identity.dob: '1990-02-30' is not a date" in line for line in found), found
    assert any("personas[1].verification: for humanAssurance, minAge (30) is above maxAge (20)" in line
               for line in found), found
