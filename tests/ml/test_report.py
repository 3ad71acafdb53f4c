"""The HTML report (self-contained, a live chart) and the per-frame CSV."""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

from ml import EMOTIONS
from ml.aggregate import build_analysis
from ml.palette import EMOTION_COLORS
from ml.report import CSV_HEADER, render_report, write_frames_csv
from ml.schema import Analysis, AnalysisSettings, Frame, VideoInfo
from ml.transcript import Cue

if TYPE_CHECKING:
    from playwright.sync_api import Browser

CHROMIUM = Path(os.environ.get("EMOTRACE_CHROMIUM", "/usr/bin/chromium"))
HOSTILE_TEXT = '</script><img src="https://example.invalid/x.png" onerror="alert(1)">'


def _frame(t: float, label: int | None) -> Frame:
    if label is None:
        return Frame(t=t, face=False)
    probs = np.full(len(EMOTIONS), 0.2 / (len(EMOTIONS) - 1))
    probs[label] = 0.8
    return Frame(t=t, face=True, box=(10, 20, 30, 30), probs=dict(zip(EMOTIONS, probs.tolist(), strict=True)))


@pytest.fixture(scope="module")
def analysis() -> Analysis:
    labels = [1] * 30 + [None] * 10 + [3] * 40 + [0] * 20
    frames = [_frame(i * 0.5, label) for i, label in enumerate(labels)]
    return build_analysis(
        video=VideoInfo(duration_s=50.0, fps=25.0, width=640, height=480),
        settings=AnalysisSettings(
            sample_fps=2.0, start_s=0.0, end_s=50.0, detector="haar", smoothing="centred mean", model="m"
        ),
        frames=frames,
        transcript=[Cue(0.0, 10.0, "client", HOSTILE_TEXT), Cue(20.0, 30.0, "therapist", "fine")],
    )


def test_report_is_one_self_contained_document(analysis: Analysis) -> None:
    page = render_report(analysis)
    assert page.startswith("<!doctype html>") and page.rstrip().endswith("</html>")
    markup = re.sub(r"(?s)(<script>).*?(</script>)", r"\1\2", page)  # the tags, without the inlined code
    assert markup.count("<script>") == 2
    assert not re.search(r"<[a-z]+\b[^>]*\s(src|href)=", markup), "the report loads nothing from outside"
    assert "echarts.init" in page and len(page) > 500_000  # the chart library is inlined
    assert f'id="dominant">{analysis.summary.dominant_emotion}<' in page
    assert all(color in page for color in EMOTION_COLORS.values())
    # Transcript text is data, never markup: it cannot close the script or add an element.
    assert HOSTILE_TEXT not in page and "&lt;/script&gt;&lt;img" in page


def test_frames_csv(analysis: Analysis) -> None:
    out = io.StringIO()
    write_frames_csv(analysis.frames, out)
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert tuple(rows[0]) == CSV_HEADER == ("t", "face", "x", "y", "w", "h", *EMOTIONS)
    assert len(rows) == 1 + len(analysis.frames)
    for row, frame in zip(rows[1:], analysis.frames, strict=True):
        assert float(row[0]) == frame.t and row[1] == str(int(frame.face))
        if frame.face:
            assert tuple(map(int, row[2:6])) == frame.box
            assert abs(sum(map(float, row[6:])) - 1) < 1e-4
        else:
            assert row[2:] == [""] * 12


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.is_file() and not shutil.which(str(CHROMIUM)):
        pytest.skip(f"no Chromium at {CHROMIUM}: `apt-get install chromium` (or set EMOTRACE_CHROMIUM)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs Python Playwright (the `dev` extra)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
        )
        try:
            yield browser
        finally:
            browser.close()


def test_report_chart_runs_offline_in_a_browser(analysis: Analysis, browser: Browser, tmp_path: Path) -> None:
    report = tmp_path / "report.html"
    report.write_text(render_report(analysis), encoding="utf-8")
    context = browser.new_context()
    requests: list[str] = []
    errors: list[str] = []
    context.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file:") else route.abort())
    page = context.new_page()
    page.on("request", lambda request: requests.append(request.url))
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("dialog", lambda dialog: errors.append("dialog: " + dialog.message))
    try:
        page.goto(report.as_uri())
        page.wait_for_selector("#timeline canvas")
        option = page.evaluate(
            """() => {
                const option = echarts.getInstanceByDom(document.getElementById("timeline")).getOption();
                return { names: option.series.map(s => s.name), data: option.series[0].data,
                         zoom: option.dataZoom.length };
            }"""
        )
    finally:
        context.close()
    assert errors == []
    assert [url for url in requests if not url.startswith("file:")] == []
    assert option["names"] == list(EMOTIONS)
    assert option["zoom"] >= 1  # interactive: zoom and pan over hours of recording
    times = [point[0] for point in option["data"]]
    assert times == [frame.t for frame in analysis.frames]
    gaps = [point[1] is None for point in option["data"]]
    assert gaps == [not frame.face for frame in analysis.frames]  # no line drawn where no face was seen
