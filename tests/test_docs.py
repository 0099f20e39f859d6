"""The README cannot drift from what the emulator serves: its tables list every number and route."""

from __future__ import annotations

import re
from pathlib import Path

from emulator.http.app import all_routes
from emulator.scenarios.loader import default_pack_dir, load_catalogue

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_every_default_persona_number_is_in_the_readme():
    table_numbers = set(re.findall(r"^\| \+?(\d{10,15}) \|", README, re.M))
    pack_numbers = {p.phone_number for p in load_catalogue([default_pack_dir()]).personas() if p.phone_number}
    assert pack_numbers == table_numbers


def test_every_control_plane_route_is_in_the_readme():
    documented = {re.sub(r"\{[^}]+\}", "{}", path) for path in re.findall(r"(/__emulator/[\w/{}.-]*)", README)}
    for operation, _ in all_routes():
        path = re.sub(r"\{[^}]+\}", "{}", operation.path)
        if path.startswith("/__emulator/"):
            assert path in documented, f"{operation.method} {operation.path} is not in the README"
