"""Transcript formats the platform sends, and malformed ones."""

from __future__ import annotations

import json

import pytest

from ml.errors import TranscriptError
from ml.transcript import Cue, parse_transcript

EXPECTED = [Cue(1.0, 2.5, "A", "Hello there"), Cue(3.0, 4.25, None, "How are you?")]

VTT = """WEBVTT

NOTE a comment

1
00:00:01.000 --> 00:00:02.500
<v A>Hello there

00:00:03.000 --> 00:00:04.250 align:start
How <i>are</i> you?
"""

SRT = """1
00:00:01,000 --> 00:00:02,500
<v A>Hello there

2
00:00:03,000 --> 00:00:04,250
How are you?
"""


def test_three_formats_give_the_same_cues() -> None:
    payload = [
        {"start": 3.0, "end": 4.25, "text": "How are you?"},
        {"start": 1, "end": 2.5, "speaker": "A", "text": "Hello there"},
    ]
    assert parse_transcript(json.dumps(payload)) == EXPECTED
    assert parse_transcript(json.dumps({"segments": payload}).encode()) == EXPECTED
    assert parse_transcript(VTT, filename="call.vtt") == EXPECTED
    assert parse_transcript(SRT.encode("utf-8-sig"), filename="call.srt") == EXPECTED


@pytest.mark.parametrize(
    "content",
    [
        "",
        "just some words",
        '[{"start": 1}]',
        '[{"start": 2, "end": 1}]',
        '[{"start": "x", "end": 1}]',
        '{"segments": 3}',
        "[1, 2]",
        '[{"start": 0, "end": 1, "speaker": 5}]',
        "WEBVTT\n\n00:00:01.000 -> 00:00:02.000\nbroken arrow",
        "1\n00:00:01,000 --> 00:00:00,500\nbackwards",
        b"\xff\xfe\x00garbage",
        '[{"start": -1, "end": 1}]',
        '[{"start": NaN, "end": 1}]',
    ],
)
def test_malformed_transcripts_are_rejected(content: str | bytes) -> None:
    with pytest.raises(TranscriptError):
        parse_transcript(content)
