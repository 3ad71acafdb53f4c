"""Parse the transcripts the calling platform already has: JSON segments, WebVTT or SRT.

The format is sniffed from the content (a filename extension only breaks ties), because uploads
arrive with arbitrary names. Errors say which cue is wrong and why, never what it says.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass

from ml.errors import TranscriptError

MAX_CUES = 100_000
MAX_TRANSCRIPT_BYTES = 20 * 1024 * 1024

_TIMING = re.compile(
    r"^\s*(?P<start>(?:\d+:)?\d{1,2}:\d{2}[.,]\d{1,3})\s*-->\s*(?P<end>(?:\d+:)?\d{1,2}:\d{2}[.,]\d{1,3})"
)
_VOICE = re.compile(r"^<v(?:\.[^ >]*)?\s+([^>]+)>")
_TAG = re.compile(r"<[^>]+>")


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    speaker: str | None = None
    text: str | None = None


def _timestamp(value: str) -> float:
    parts = value.replace(",", ".").split(":")
    seconds = float(parts[-1])
    minutes = int(parts[-2])
    hours = int(parts[-3]) if len(parts) == 3 else 0
    if minutes >= 60 or seconds >= 60:
        raise TranscriptError(f"invalid timestamp {value!r}")
    return round(hours * 3600 + minutes * 60 + seconds, 3)


def _checked(cue: Cue, index: int) -> Cue:
    if not (math.isfinite(cue.start) and math.isfinite(cue.end)) or cue.start < 0 or cue.end <= cue.start:
        raise TranscriptError(f"segment {index}: end must be after start, both non-negative seconds")
    return cue


def _parse_json(text: str) -> list[Cue]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TranscriptError(f"invalid JSON at line {exc.lineno}") from exc
    except RecursionError as exc:
        raise TranscriptError("JSON nested too deeply") from exc
    if isinstance(data, dict) and isinstance(data.get("segments"), list):
        data = data["segments"]
    if not isinstance(data, list):
        raise TranscriptError('JSON transcript must be a list of {"start", "end", "speaker"?, "text"?}')
    cues = []
    for index, item in enumerate(data):
        if not isinstance(item, dict):
            raise TranscriptError(f"segment {index}: expected an object")
        try:
            start, end = float(item["start"]), float(item["end"])
        except (KeyError, TypeError, ValueError) as exc:
            raise TranscriptError(f"segment {index}: numeric 'start' and 'end' are required") from exc
        speaker, words = item.get("speaker"), item.get("text")
        if speaker is not None and not isinstance(speaker, str):
            raise TranscriptError(f"segment {index}: 'speaker' must be a string")
        if words is not None and not isinstance(words, str):
            raise TranscriptError(f"segment {index}: 'text' must be a string")
        cues.append(_checked(Cue(start, end, speaker, words), index))
    return cues


def _parse_cues(text: str, *, webvtt: bool) -> list[Cue]:
    blocks = re.split(r"\n\s*\n", text.replace("\r\n", "\n").replace("\r", "\n").strip())
    if webvtt:
        if not blocks[0].startswith("WEBVTT"):
            raise TranscriptError("WebVTT must start with 'WEBVTT'")
        blocks = blocks[1:]
    cues: list[Cue] = []
    for block in blocks:
        lines = [line for line in block.split("\n") if line.strip()]
        if not lines or (webvtt and lines[0].startswith(("NOTE", "STYLE", "REGION"))):
            continue
        timing_at = next((i for i, line in enumerate(lines[:2]) if "-->" in line), None)
        if timing_at is None:
            raise TranscriptError(f"cue {len(cues)}: no 'start --> end' timing line")
        match = _TIMING.match(lines[timing_at])
        if match is None:
            raise TranscriptError(f"cue {len(cues)}: malformed timing line")
        body = " ".join(lines[timing_at + 1 :]).strip()
        speaker: str | None = None
        voice = _VOICE.match(body)
        if voice:
            speaker = voice.group(1).strip()
        body = _TAG.sub("", body).strip()
        cue = Cue(_timestamp(match["start"]), _timestamp(match["end"]), speaker, body or None)
        cues.append(_checked(cue, len(cues)))
    return cues


def parse_transcript(content: str | bytes, *, filename: str | None = None) -> list[Cue]:
    """Cues sorted by start time; raises :class:`TranscriptError` on anything malformed."""
    if isinstance(content, bytes):
        if len(content) > MAX_TRANSCRIPT_BYTES:
            raise TranscriptError(f"transcript larger than {MAX_TRANSCRIPT_BYTES // (1024 * 1024)} MB")
        try:
            content = content.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise TranscriptError("transcript is not UTF-8 text") from exc
    text = content.lstrip("\ufeff").strip()
    if not text:
        raise TranscriptError("transcript is empty")
    suffix = (filename or "").lower().rsplit(".", 1)[-1] if filename and "." in filename else ""
    if text[0] in "[{" or suffix == "json":
        cues = _parse_json(text)
    elif text.startswith("WEBVTT") or suffix == "vtt":
        cues = _parse_cues(text, webvtt=True)
    elif "-->" in text:
        cues = _parse_cues(text, webvtt=False)
    else:
        raise TranscriptError("unrecognised transcript format: expected JSON, WebVTT or SRT")
    if len(cues) > MAX_CUES:
        raise TranscriptError(f"more than {MAX_CUES} transcript segments")
    return sorted(cues, key=lambda cue: (cue.start, cue.end))
