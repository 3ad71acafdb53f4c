"""What ships: requirements.lock (what the image installs and pip-audit checks) agrees with
pyproject.toml, and the image and compose file never run the service as root. Docker itself is
not run here; these read the files."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _name(requirement: str) -> str:
    return re.split(r"[\[=<>~! ;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_lock_pins_every_service_dependency_at_the_pyproject_version() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"]["s3"]]
    locked = {
        _name(line): line.split("==", 1)[1].strip()
        for line in (REPO / "requirements.lock").read_text().splitlines()
        if line and not line.startswith("#")
    }
    assert all("==" in line for line in (REPO / "requirements.lock").read_text().splitlines() if line[:1].isalnum())
    for requirement in wanted:
        version = requirement.split("==", 1)[1].strip()
        assert locked.get(_name(requirement)) == version, requirement


def test_image_runs_as_an_unprivileged_user() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    final_stage = dockerfile.rsplit("\nFROM ", 1)[1]
    users = re.findall(r"^USER\s+(\S+)", final_stage, flags=re.MULTILINE)
    assert users and users[-1] not in ("root", "0", "0:0"), users
    assert not re.search(r"^\s*user:\s*[\"']?(root|0)", (REPO / "docker-compose.yml").read_text(), re.MULTILINE)
