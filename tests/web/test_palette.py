"""The page draws emotions in the report's colours: web/src/palette.json must equal ml.palette."""

from __future__ import annotations

import json
import re
from pathlib import Path

from ml import EMOTIONS
from ml.palette import EMOTION_COLORS

PALETTE_JSON = Path(__file__).resolve().parents[2] / "web" / "src" / "palette.json"


def test_web_palette_equals_report_palette() -> None:
    assert json.loads(PALETTE_JSON.read_text()) == EMOTION_COLORS


def test_palette_names_every_emotion_in_order() -> None:
    assert tuple(json.loads(PALETTE_JSON.read_text())) == EMOTIONS


def test_page_emotion_order_equals_ml() -> None:
    source = (PALETTE_JSON.parent / "emotions.ts").read_text()
    block = source.split("export const EMOTIONS", 1)[1].split("];", 1)[0]
    assert tuple(re.findall(r'"([a-z]+)"', block)) == EMOTIONS
