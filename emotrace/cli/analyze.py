"""``emotrace analyze``: run the pipeline on one file, show progress, write the requested outputs.

Progress goes to stderr, the short human summary to stdout, and bad input ends in one line
``error: <code>: <message>`` with exit code 2, so scripts can tell a bad file from a crash.
"""

from __future__ import annotations

import sys
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from emotrace.cli.exits import EXIT_BAD_INPUT, EXIT_OK
from ml import EMOTIONS
from ml.errors import TranscriptError, VideoError
from ml.schema import Analysis


def _summary_lines(analysis: Analysis) -> list[str]:
    summary = analysis.summary
    lines = [
        f"analysed {summary.duration_s:.1f} s: {summary.frames} samples, face visible {summary.face_visible_ratio:.0%}",
    ]
    if analysis.participants is not None:
        lines.append(f"{len(analysis.participants)} participants")
    if summary.dominant_emotion is None:
        lines.append("no face found: no emotions to report")
        return lines
    lines.append(f"dominant emotion: {summary.dominant_emotion}")
    shares = sorted(((summary.time_share[n], n) for n in EMOTIONS), reverse=True)
    lines.append("time share: " + ", ".join(f"{name} {share:.0%}" for share, name in shares if share > 0))
    lines.append(f"{len(analysis.segments)} segments")
    for person in analysis.participants or []:
        name = f" ({person.speaker})" if person.speaker else ""
        lines.append(
            f"{person.id}{name}: seen {person.face_visible_ratio:.0%}, mostly {person.summary.dominant_emotion}"
        )
    return lines


def run_analyze(
    video: Path,
    *,
    fps: float = 2.0,
    every_nth: int | None = None,
    start: float = 0.0,
    end: float | None = None,
    json_out: Path | None = None,
    csv_out: Path | None = None,
    report: Path | None = None,
    transcript: Path | None = None,
    detector: str | None = None,
    yunet_model: Path | None = None,
    faces: str = "subject",
) -> int:
    from ml.pipeline import analyze_file
    from ml.report import render_report, write_frames_csv
    from ml.transcript import parse_transcript

    errors = Console(stderr=True, highlight=False)
    try:
        cues = None
        if transcript is not None:
            if not transcript.is_file():
                raise TranscriptError(f"{transcript.name}: no such file")
            cues = parse_transcript(transcript.read_bytes(), filename=transcript.name)
        with Progress(
            TextColumn("analysing"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TimeRemainingColumn(),
            console=errors,
            transient=True,
            disable=not sys.stderr.isatty(),
        ) as bar:
            task = bar.add_task("analyse", total=1.0)
            analysis = analyze_file(
                video,
                fps=fps,
                every_nth=every_nth,
                start_s=start,
                end_s=end,
                detector=detector,
                yunet_model=yunet_model,
                transcript=cues,
                faces=faces,
                progress=lambda done: bar.update(task, completed=done),
            )
    except (VideoError, TranscriptError) as exc:
        print(f"error: {exc.code}: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: invalid_argument: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if json_out is not None:
        json_out.write_text(analysis.model_dump_json(indent=1) + "\n")
    if csv_out is not None:
        with csv_out.open("w", newline="") as handle:
            write_frames_csv(analysis.frames, handle, participants=analysis.participants is not None)
    if report is not None:
        report.write_text(render_report(analysis, title=f"emotrace: {video.name}"), encoding="utf-8")
    print("\n".join(_summary_lines(analysis)))
    return EXIT_OK
