"""What ships: requirements.lock (what the image installs and pip-audit checks) and
requirements-train.lock (training's toolchain) agree with pyproject.toml, and the image and
compose file never run the service as root. Docker itself is not run here; these read the files."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _name(requirement: str) -> str:
    return re.split(r"[\[=<>~! ;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


@pytest.mark.parametrize(("lock", "extra"), [("requirements.lock", "s3"), ("requirements-train.lock", "train")])
def test_lock_pins_every_dependency_at_the_pyproject_version(lock: str, extra: str) -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"][extra]]
    lines = (REPO / lock).read_text().splitlines()
    locked = {_name(line): line.split("==", 1)[1].strip() for line in lines if line and not line.startswith("#")}
    assert all("==" in line for line in lines if line[:1].isalnum())
    for requirement in wanted:
        version = requirement.split("==", 1)[1].strip()
        assert locked.get(_name(requirement)) == version, requirement


def test_image_runs_as_an_unprivileged_user() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    final_stage = dockerfile.rsplit("\nFROM ", 1)[1]
    users = re.findall(r"^USER\s+(\S+)", final_stage, flags=re.MULTILINE)
    assert users and users[-1] not in ("root", "0", "0:0"), users
    assert not re.search(r"^\s*user:\s*[\"']?(root|0)", (REPO / "docker-compose.yml").read_text(), re.MULTILINE)


def test_every_python_the_package_accepts_is_tested_in_ci() -> None:
    """requires-python promises only what CI runs: 3.11 (scripts/test.sh's .venv), the others
    through scripts/test-python.sh."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    bounds = re.fullmatch(r">=3\.(\d+),<3\.(\d+)", project["requires-python"].replace(" ", ""))
    assert bounds, project["requires-python"]
    accepted = [f"3.{minor}" for minor in range(int(bounds.group(1)), int(bounds.group(2)))]
    ci = (REPO / ".ci" / "run").read_text()
    tested = {"3.11"} | set(re.findall(r"scripts/test-python\.sh (3\.\d+)", ci))
    assert "bash scripts/test.sh" in ci and set(accepted) == tested, (accepted, sorted(tested))
    assert {f"Programming Language :: Python :: {version}" for version in accepted} <= set(project["classifiers"])
