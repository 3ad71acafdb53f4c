"""Errors about the input a caller handed the ml layer, each with a stable ``code``.

    VideoError                  the recording cannot be analysed as asked
    ├── VideoNotFound           no such file
    ├── NotAVideo               not a media container at all (text, garbage, empty file)
    ├── NoVideoStream           a media file without a picture (audio only)
    ├── TruncatedVideo          the container or its frames are cut short or corrupt
    ├── EmptyVideo              a video stream without a single decodable frame
    └── BadTimeRange            start/end/fps that cannot describe a sampling of this video
    TranscriptError             a transcript that is not valid JSON, WebVTT or SRT

Messages name the problem, never recording content; callers (CLI, API) print ``code: message``.
"""

from __future__ import annotations

from typing import ClassVar


class VideoError(Exception):
    code: ClassVar[str] = "video_error"


class VideoNotFound(VideoError):
    code = "video_not_found"


class NotAVideo(VideoError):
    code = "not_a_video"


class NoVideoStream(VideoError):
    code = "no_video_stream"


class TruncatedVideo(VideoError):
    code = "truncated_video"


class EmptyVideo(VideoError):
    code = "empty_video"


class BadTimeRange(VideoError):
    code = "bad_time_range"


class TranscriptError(ValueError):
    code: ClassVar[str] = "bad_transcript"
