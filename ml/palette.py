"""Emotion colours shared by the HTML report and the web page (``web/src/palette.json`` must match;
a test checks it). The Okabe-Ito set, which stays distinguishable under the common forms of
colour blindness; neutral is grey so that "nothing in particular" reads as background."""

from __future__ import annotations

EMOTION_COLORS: dict[str, str] = {
    "neutral": "#8C8C8C",
    "happiness": "#E69F00",
    "surprise": "#56B4E9",
    "sadness": "#0072B2",
    "anger": "#D55E00",
    "disgust": "#009E73",
    "fear": "#CC79A7",
    "contempt": "#000000",
}
