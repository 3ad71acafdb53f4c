"""Write an analysis out: the self-contained HTML report and the per-frame CSV.

The report is one HTML file with Apache ECharts (``report_assets/``, Apache-2.0) inlined, so it
opens offline and can be mailed or archived with the case notes. The CSV writer is shared with
the job API's ``text/csv`` frames download.
"""

from __future__ import annotations

import csv
import html
import json
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from ml import EMOTIONS
from ml.aggregate import smooth
from ml.palette import EMOTION_COLORS
from ml.schema import Analysis, Frame

ASSETS = Path(__file__).resolve().parent / "report_assets"
CSV_HEADER = ("t", "face", "x", "y", "w", "h", *EMOTIONS)
PARTICIPANT_CSV_HEADER = (*CSV_HEADER, "participant")


def csv_row(frame: Frame) -> list[object]:
    box = frame.box or ("", "", "", "")
    probs = [frame.probs[name] for name in EMOTIONS] if frame.probs else [""] * len(EMOTIONS)
    return [f"{frame.t:.3f}", int(frame.face), *box, *probs]


def participant_rows(frame: Frame, participant: str | None = None) -> list[list[object]]:
    """``--faces all`` rows of one sample: one per face (of ``participant`` only, if given), or a
    single ``face`` 0 row when there is none."""
    faces = [f for f in frame.faces or [] if participant is None or f.participant == participant]
    if not faces:
        return [[*csv_row(Frame(t=frame.t, face=False)), participant or ""]]
    return [[*csv_row(Frame(t=frame.t, face=True, box=f.box, probs=f.probs)), f.participant] for f in faces]


def write_frames_csv(frames: Iterable[Frame], out: TextIO, *, participants: bool = False) -> None:
    """One row per sample (the subject's face), or with ``participants`` one per face."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(PARTICIPANT_CSV_HEADER if participants else CSV_HEADER)
    for frame in frames:
        if participants:
            writer.writerows(participant_rows(frame))
        else:
            writer.writerow(csv_row(frame))


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def _series(frames: list[Frame]) -> dict[str, list[float | None]]:
    smoothed = smooth(frames)
    return {name: [None if v is None else round(float(v[i]), 4) for v in smoothed] for i, name in enumerate(EMOTIONS)}


def _participant_frames(analysis: Analysis, participant: str) -> list[Frame]:
    """One participant's own samples, as frames (``face`` false where they were not seen)."""
    frames = []
    for frame in analysis.frames:
        own = next((f for f in frame.faces or [] if f.participant == participant), None)
        frames.append(
            Frame(t=frame.t, face=own is not None, box=own.box if own else None, probs=own.probs if own else None)
        )
    return frames


def _chart_data(analysis: Analysis) -> dict[str, object]:
    return {
        "t": [frame.t for frame in analysis.frames],
        "series": _series(analysis.frames),
        "participants": [_series(_participant_frames(analysis, p.id)) for p in analysis.participants or []],
        "colors": EMOTION_COLORS,
    }


def _participants_html(analysis: Analysis) -> str:
    if analysis.participants is None:
        return ""
    if not analysis.participants:
        return "<h2>Participants</h2><p>No face was seen.</p>"
    parts = ["<h2>Participants</h2>"]
    for n, person in enumerate(analysis.participants):
        name = f" — {html.escape(person.speaker)}" if person.speaker else ""
        parts.append(
            f'<h3 class="participant">{html.escape(person.id)}{name}</h3>'
            f"<p>Seen in {person.frames} samples ({_percent(person.face_visible_ratio)}); "
            f"mostly {html.escape(person.summary.dominant_emotion or 'no face')}.</p>"
            f'<div class="timeline" id="participant-{n}" role="img"'
            f' aria-label="Smoothed emotion probabilities of {html.escape(person.id)} over time"></div>'
        )
    return "\n".join(parts)


def _rows(cells: Iterable[Iterable[object]]) -> str:
    return "\n".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in cells)


def render_report(analysis: Analysis, *, title: str = "emotrace report") -> str:
    """One self-contained HTML document: summary, interactive timeline, segments, transcript."""
    summary = analysis.summary
    share_rows = [
        (name, _percent(summary.time_share[name]), _percent(summary.mean_probs[name] if summary.mean_probs else None))
        for name in EMOTIONS
    ]
    segment_rows = [(f"{s.start:.1f}", f"{s.end:.1f}", s.emotion, s.frames) for s in analysis.segments]
    transcript_html = ""
    if analysis.transcript is not None:
        transcript_rows = [
            (f"{c.start:.1f}", f"{c.end:.1f}", c.speaker or "", c.text or "", c.dominant_emotion or "no face")
            for c in analysis.transcript
        ]
        transcript_html = (
            "<h2>Transcript</h2><table><thead><tr><th>start s</th><th>end s</th><th>speaker</th><th>text</th>"
            f"<th>dominant emotion</th></tr></thead><tbody>{_rows(transcript_rows)}</tbody></table>"
        )
    data = json.dumps(_chart_data(analysis)).replace("</", "<\\/")
    echarts = (ASSETS / "echarts.min.js").read_text(encoding="utf-8").replace("</script", "<\\/script")
    video, settings = analysis.video, analysis.analysis
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ font: 15px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; padding: 0 1rem; color: #222; }}
table {{ border-collapse: collapse; margin: .5rem 0 1.5rem; }}
td, th {{ border-bottom: 1px solid #ddd; padding: .25rem .75rem; text-align: left; }}
.cards {{ display: flex; gap: 1rem; flex-wrap: wrap; }}
.card {{ border: 1px solid #ccc; border-radius: 6px; padding: .75rem 1rem; min-width: 10rem; }}
.card b {{ display: block; font-size: 1.4rem; }}
#timeline {{ width: 100%; height: 420px; }}
.timeline {{ width: 100%; height: 300px; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<p>Video: {video.duration_s:.1f} s, {video.width}×{video.height}, {video.fps:g} fps.
Analysed {settings.start_s:.1f}–{settings.end_s:.1f} s at {settings.sample_fps:g} samples/s;
faces by {html.escape(settings.detector)}; smoothing: {html.escape(settings.smoothing)}.</p>
<div class="cards">
<div class="card">Dominant emotion<b id="dominant">{html.escape(summary.dominant_emotion or "no face seen")}</b></div>
<div class="card">Face visible<b id="face-ratio">{_percent(summary.face_visible_ratio)}</b></div>
<div class="card">Frames<b>{summary.frames}</b></div>
</div>
<h2>Timeline</h2>
<div id="timeline" role="img"
 aria-label="Smoothed emotion probabilities over time; gaps where no face was visible"></div>
<h2>Summary</h2>
<table><thead><tr><th>emotion</th><th>share of face-visible time</th><th>mean probability</th></tr></thead>
<tbody>{_rows(share_rows)}</tbody></table>
<h2>Segments</h2>
<table><thead><tr><th>start s</th><th>end s</th><th>emotion</th><th>samples</th></tr></thead>
<tbody>{_rows(segment_rows)}</tbody></table>
{_participants_html(analysis)}
{transcript_html}
<script>{echarts}</script>
<script>
const data = {data};
const charts = [];
function draw(element, series) {{
const chart = echarts.init(element);
charts.push(chart);
chart.setOption({{
  aria: {{ enabled: true }},
  tooltip: {{ trigger: "axis", valueFormatter: v => v == null ? "no face" : (100 * v).toFixed(1) + "%" }},
  legend: {{ top: 0 }},
  grid: {{ left: 50, right: 20, top: 40, bottom: 70 }},
  xAxis: {{ type: "value", name: "s", min: data.t.length ? data.t[0] : 0 }},
  yAxis: {{ type: "value", min: 0, max: 1 }},
  dataZoom: [{{ type: "inside" }}, {{ type: "slider" }}],
  series: Object.keys(series).map(name => ({{
    name, type: "line", showSymbol: false, connectNulls: false, color: data.colors[name],
    data: series[name].map((v, i) => [data.t[i], v]),
  }})),
}});
}}
draw(document.getElementById("timeline"), data.series);
data.participants.forEach((series, n) => draw(document.getElementById("participant-" + n), series));
window.addEventListener("resize", () => charts.forEach(chart => chart.resize()));
</script>
</body></html>
"""
