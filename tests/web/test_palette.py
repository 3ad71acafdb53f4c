"""The page draws emotions in the report's colours: web/src/palette.json must equal ml.palette."""

from __future__ import annotations

import json
from pathlib import Path

from ml import EMOTIONS
from ml.palette import EMOTION_COLORS

PALETTE_JSON = Path(__file__).resolve().parents[2] / "web" / "src" / "palette.json"


def test_web_palette_equals_report_palette() -> None:
    assert json.loads(PALETTE_JSON.read_text()) == EMOTION_COLORS


def test_palette_names_every_emotion_in_order() -> None:
    assert tuple(json.loads(PALETTE_JSON.read_text())) == EMOTIONS
