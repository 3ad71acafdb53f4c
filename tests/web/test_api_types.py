"""The page's API types are generated, not kept by hand (CONTRIBUTING.md, "Regenerate the page and its types"):
the committed web/openapi.json must be the document the app serves, and web/src/api-types.ts what
`npm run types` makes of it. A schema field added without regenerating fails here."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from api.openapi import render

WEB = Path(__file__).resolve().parents[2] / "web"
REGENERATE = "`python -m api.openapi web/openapi.json`, then `npm run build` in web/"


def test_committed_openapi_document_is_the_apps() -> None:
    committed = (WEB / "openapi.json").read_text(encoding="utf-8")
    assert committed == render(), f"web/openapi.json differs from the API's document: run {REGENERATE}"


def test_committed_types_are_generated_from_the_document(tmp_path: Path) -> None:
    """Runs the page's own `npm run types` on a scratch copy, so the committed file is compared with
    what that exact command makes. Needs Node and the page's packages (`npm ci` in web/)."""
    npm = shutil.which("npm")
    if npm is None or not (WEB / "node_modules" / ".bin" / "openapi-typescript").exists():
        pytest.skip("needs Node and web/node_modules (`npm ci` in web/) to run openapi-typescript")
    for name in ("package.json", ".prettierrc.json", "openapi.json"):
        shutil.copy(WEB / name, tmp_path / name)
    (tmp_path / "node_modules").symlink_to(WEB / "node_modules", target_is_directory=True)
    (tmp_path / "src").mkdir()
    done = subprocess.run(
        [npm, "run", "--silent", "types"], cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    generated = (tmp_path / "src" / "api-types.ts").read_text(encoding="utf-8")
    committed = (WEB / "src" / "api-types.ts").read_text(encoding="utf-8")
    assert committed == generated, f"web/src/api-types.ts is not generated from web/openapi.json: run {REGENERATE}"
