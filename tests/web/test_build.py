"""The committed build in api/static: present, current with the palette, self-contained."""

from __future__ import annotations

import re
from pathlib import Path

from ml.palette import EMOTION_COLORS

STATIC = Path(__file__).resolve().parents[2] / "api" / "static"


def _bundles() -> list[Path]:
    bundles = sorted((STATIC / "assets").glob("*.js"))
    assert (STATIC / "index.html").is_file() and bundles, "api/static is missing: run `npm run build` in web/"
    return bundles


def test_built_page_embeds_the_palette() -> None:
    """The build must be redone after a palette change, or the page drifts from the report."""
    code = "\n".join(path.read_text(encoding="utf-8") for path in _bundles())
    for color in EMOTION_COLORS.values():
        assert color in code or color.lower() in code, f"{color} not in the built page: rebuild web/"


def test_index_references_only_its_own_assets() -> None:
    html = (STATIC / "index.html").read_text(encoding="utf-8")
    referenced = re.findall(r'(?:src|href)="(/assets/[^"]+)"', html)
    assert referenced, "index.html loads no bundle"
    for url in referenced:
        assert (STATIC / url.lstrip("/")).is_file(), f"index.html refers to a missing {url}"


def test_built_page_loads_nothing_from_elsewhere() -> None:
    """Served offline from the API itself: no CDN, no font service, no analytics."""
    html = (STATIC / "index.html").read_text(encoding="utf-8")
    assert "http://" not in html and "https://" not in html
    for path in (STATIC / "assets").iterdir():
        urls = set(re.findall(r"https?://[\w./-]+", path.read_text(encoding="utf-8")))
        # The SVG namespace is an identifier, never fetched.
        assert urls <= {"http://www.w3.org/2000/svg"}, f"{path.name} refers to {sorted(urls)}"
