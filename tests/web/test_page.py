"""The page served at / driven in headless Chromium against the running service and a real worker.

Each test signs in with its own key, so tests see only their own jobs. The API is queried beside
the page (same key) to know what the page must show; nothing expected is written into the test.
"""

from __future__ import annotations

import csv
import io
import json
import re
import secrets
from pathlib import Path
from typing import Any

import httpx
import pytest

from ml import EMOTIONS
from ml.aggregate import smooth
from ml.schema import Frame

pytest.importorskip("playwright.sync_api", reason="the web tests need the `dev` extra (Python Playwright)")
from playwright.sync_api import Page, expect

REPO = Path(__file__).resolve().parents[2]
SCREENSHOT = REPO / "docs" / "screenshots" / "job.png"
CLIP = "liveportrait_driving_d6.mp4"  # 34 s of changing expressions: several chunks
JOB_TIMEOUT_MS = 600_000


def sign_in(page: Page, base_url: str, key: str) -> None:
    page.goto(base_url + "/")
    page.get_by_role("textbox", name="API key").fill(key)
    page.get_by_role("button", name="Use key").click()
    expect(page.get_by_role("heading", name="New analysis")).to_be_visible()


def drop_file(page: Page, name: str, content: bytes, mime_type: str) -> None:
    """Drops a file on the drop zone the way a browser does: dragenter, dragover, drop."""
    transfer = page.evaluate_handle(
        """([name, bytes, type]) => {
            const transfer = new DataTransfer();
            transfer.items.add(new File([new Uint8Array(bytes)], name, { type }));
            return transfer;
        }""",
        [name, list(content), mime_type],
    )
    for event in ("dragenter", "dragover", "drop"):
        page.locator("#dropzone").dispatch_event(event, {"dataTransfer": transfer})


def tab_stops(page: Page, presses: int) -> list[str]:
    """What Tab reaches, in order, named by id or else by accessible text."""
    stops = []
    for _ in range(presses):
        page.keyboard.press("Tab")
        stops.append(
            page.evaluate(
                """() => { const el = document.activeElement;
                           return el.id || el.getAttribute("aria-label") || el.textContent.trim(); }"""
            )
        )
    return stops


def fetch_all_frames(api: httpx.Client, job_id: str) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 1000}
        if cursor:
            params["cursor"] = cursor
        page = api.get(f"/v1/jobs/{job_id}/frames", params=params).raise_for_status().json()
        frames.extend(page["items"])
        cursor = page["next_cursor"]
        if not cursor:
            return frames


def chart_point(page: Page, fraction: float) -> tuple[float, float]:
    """Page coordinates of a time (as a fraction of the x axis) a third of the way down the plot;
    the plot area sits inside the grid margins set in web/src/chart.ts (left 56, right 24 px)."""
    box = page.locator("#timeline-chart").bounding_box()
    assert box
    return box["x"] + 56 + fraction * (box["width"] - 80), box["y"] + box["height"] / 3


def assert_percent_text(text: str, value: float) -> None:
    """The page rounds with JavaScript's toFixed, Python with round-half-even: allow the one tie."""
    shown = float(re.search(r"(-?\d+(?:\.\d+)?)%", text).group(1))  # type: ignore[union-attr]
    assert abs(shown - value * 100) <= 0.05 + 1e-9, f"{text!r} does not show {value!r}"


def test_wrong_key_shows_an_error(page: Page, base_url: str) -> None:
    page.goto(base_url + "/")
    page.get_by_role("textbox", name="API key").fill("et_" + secrets.token_urlsafe(24))
    page.get_by_role("button", name="Use key").click()
    error = page.locator("#key-error")
    expect(error).to_contain_text("Wrong API key")
    expect(error).to_contain_text("(unauthorized)")
    expect(page.get_by_role("heading", name="New analysis")).to_be_hidden()
    assert page.evaluate("() => Object.keys(sessionStorage).length") == 0


def test_rejected_upload_shows_the_reason(page: Page, base_url: str, api_key: str, api: httpx.Client) -> None:
    not_a_video = b"these bytes are a text file, not a recording\n" * 50
    jobs_before = [job["id"] for job in api.get("/v1/jobs").raise_for_status().json()["items"]]
    direct = api.post("/v1/jobs", files={"file": ("session.mp4", not_a_video, "video/mp4")})
    assert direct.status_code in (415, 422), direct.text
    code = direct.json()["code"]

    sign_in(page, base_url, api_key)
    drop_file(page, "session.mp4", not_a_video, "video/mp4")
    expect(page.locator("#file-chosen")).to_contain_text("session.mp4")
    page.get_by_role("button", name="Analyse").click()
    error = page.locator("#submit-error")
    expect(error).to_contain_text("Upload rejected")
    expect(error).to_contain_text(f"({code})")
    expect(page.locator("#upload-progress")).to_be_hidden()
    jobs_after = [job["id"] for job in api.get("/v1/jobs").raise_for_status().json()["items"]]
    assert jobs_after == jobs_before, "a rejected upload must not create a job"


def test_signing_in_and_the_form_work_from_the_keyboard(page: Page, base_url: str, api_key: str) -> None:
    page.goto(base_url + "/")
    expect(page.get_by_role("textbox", name="API key")).to_be_focused()
    page.keyboard.type(api_key)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="New analysis")).to_be_visible()
    stops = tab_stops(page, 8)
    for expected in ("file-input", "camera-start", "Options", "jobs-refresh"):
        assert expected in stops, f"Tab never reaches {expected}: {stops}"
    # The key stays in this tab's session only: a fresh tab of the same browser has none.
    assert page.evaluate("() => Object.values(sessionStorage)") == [api_key]
    assert page.evaluate("() => Object.keys(localStorage).length + document.cookie.length") == 0
    page.get_by_role("button", name="Forget key").click()
    expect(page.get_by_role("textbox", name="API key")).to_be_visible()
    assert page.evaluate("() => Object.keys(sessionStorage).length") == 0


@pytest.mark.slow
def test_failed_job_shows_its_reason(
    page: Page, base_url: str, api_key: str, api: httpx.Client, cut_recording: Path
) -> None:
    sign_in(page, base_url, api_key)
    page.locator("#file-input").set_input_files(str(cut_recording))
    page.get_by_role("button", name="Analyse").click()
    row = page.locator("#jobs-body tr").first
    expect(row).to_have_attribute("data-status", re.compile("succeeded|failed"), timeout=JOB_TIMEOUT_MS)
    job_id = row.get_attribute("data-job-id")
    job = api.get(f"/v1/jobs/{job_id}").raise_for_status().json()
    assert job["status"] == "failed" and job["error"], "a recording cut in half must fail its job"
    expect(row).to_contain_text(f"Failed ({job['error']['code']})")

    row.get_by_role("link").click()
    alert = page.locator("#job-state[role=alert]")
    expect(alert).to_contain_text("The analysis failed.")
    expect(alert).to_contain_text(job["error"]["message"])
    expect(alert).to_contain_text(f"({job['error']['code']})")
    expect(page.get_by_role("button", name="Download JSON")).to_have_count(0)
    page.get_by_role("button", name="Delete job").click()
    page.get_by_role("button", name="Yes, delete it").click()
    expect(page.locator("#jobs-empty")).to_be_visible()
    assert api.get(f"/v1/jobs/{job_id}").status_code == 404


@pytest.mark.slow
def test_webcam_recording_is_submitted(camera_page: Page, base_url: str, api_key: str, api: httpx.Client) -> None:
    page = camera_page
    sign_in(page, base_url, api_key)
    page.get_by_role("button", name="Start camera").click()
    expect(page.get_by_label("Camera preview")).to_be_visible()
    page.get_by_role("button", name="Start recording").click()
    expect(page.locator("#record-clock")).to_contain_text("0:02", timeout=10_000)
    page.get_by_role("button", name="Stop recording").click()
    expect(page.locator("#file-chosen")).to_contain_text(re.compile(r"webcam-.*\.(webm|mp4)"))
    expect(page.get_by_label("Camera preview")).to_be_hidden()
    page.get_by_text("Options").click()
    page.get_by_label("Your reference (optional)").fill("web-webcam")
    page.get_by_role("button", name="Analyse").click()

    row = page.locator("#jobs-body tr").filter(has_text="web-webcam")
    expect(row).to_have_count(1)
    job_id = row.get_attribute("data-job-id")
    expect(row).to_have_attribute("data-status", re.compile("succeeded|failed"), timeout=JOB_TIMEOUT_MS)
    job = api.get(f"/v1/jobs/{job_id}").raise_for_status().json()
    assert job["status"] == "succeeded", job["error"]
    # The synthetic camera shows a test pattern, never a face.
    summary = api.get(f"/v1/jobs/{job_id}/summary").raise_for_status().json()["summary"]
    assert summary["frames"] > 0
    api.delete(f"/v1/jobs/{job_id}").raise_for_status()


@pytest.mark.slow
def test_finished_job_page_shows_the_analysis(
    page: Page, base_url: str, api_key: str, api: httpx.Client, videos_dir: Path, tmp_path: Path
) -> None:
    transcript = tmp_path / "session.vtt"
    transcript.write_text(
        "WEBVTT\n\n00:00:00.000 --> 00:00:02.000\n<v Client>How was the week?\n\n"
        "00:00:02.000 --> 00:00:04.500\n<v Therapist>Tell me more about that.\n",
        encoding="utf-8",
    )
    # Playwright intercepts file choosers only once a listener exists, and turning that on is
    # asynchronous: a listener added well before the key press leaves no race.
    page.on("filechooser", lambda _chooser: None)
    sign_in(page, base_url, api_key)

    # Chosen from the keyboard: the drop zone's file input opens the file chooser on Space.
    page.locator("#file-input").focus()
    with page.expect_file_chooser() as chooser:
        page.keyboard.press("Space")
    chooser.value.set_files(str(videos_dir / CLIP))
    expect(page.locator("#file-chosen")).to_contain_text(CLIP)
    page.get_by_text("Options").click()
    page.get_by_label("Transcript (optional)").set_input_files(str(transcript))
    page.get_by_label("Your reference (optional)").fill("web-e2e")
    page.get_by_role("button", name="Analyse").click()

    row = page.locator("#jobs-body tr").filter(has_text="web-e2e")
    expect(row).to_have_count(1)
    job_id = row.get_attribute("data-job-id")
    assert job_id
    # The list updates itself: the page is never reloaded while the worker runs.
    expect(row).to_have_attribute("data-status", re.compile("succeeded|failed"), timeout=JOB_TIMEOUT_MS)
    job = api.get(f"/v1/jobs/{job_id}").raise_for_status().json()
    assert job["status"] == "succeeded", job["error"]
    expect(row.locator(".progress-text")).to_have_text("100%")

    row.get_by_role("link").click()
    expect(page).to_have_url(re.compile(rf"#/jobs/{job_id}$"))
    chart = page.locator("#timeline-chart")
    expect(chart.locator("canvas").first).to_be_visible()

    analysis = api.get(f"/v1/jobs/{job_id}/summary").raise_for_status().json()
    frames = fetch_all_frames(api, job_id)
    summary = analysis["summary"]
    assert frames, "a finished job has frames"

    # The chart holds one point per frame of the job, gaps included.
    expect(chart).to_have_attribute("data-points", str(len(frames)))
    expect(chart).to_have_attribute("data-face-points", str(sum(f["face"] for f in frames)))

    # Summary cards show the API's summary.
    dominant = page.locator("#summary-dominant")
    expect(dominant).to_have_attribute("data-value", summary["dominant_emotion"] or "")
    if summary["dominant_emotion"]:
        expect(dominant).to_contain_text(summary["dominant_emotion"].capitalize())
    face = page.locator("#summary-face")
    assert float(face.get_attribute("data-value") or "nan") == summary["face_visible_ratio"]
    assert_percent_text(face.locator(".card-value").inner_text(), summary["face_visible_ratio"])
    expect(face).to_contain_text(f"{summary['face_frames']} of {summary['frames']} sampled frames")
    shares = page.locator("#summary-share li")
    expect(shares).to_have_count(len(EMOTIONS))
    for emotion in EMOTIONS:
        item = page.locator(f'#summary-share li[data-emotion="{emotion}"]')
        assert float(item.get_attribute("data-value") or "nan") == summary["time_share"][emotion]
        assert_percent_text(item.locator(".share-value").inner_text(), summary["time_share"][emotion])

    # The chart's values, read through its text alternative, are the smoothed frame probabilities.
    page.get_by_text("Timeline values as a table").click()
    value_rows = page.locator("#timeline-table tbody tr")
    expect(value_rows).to_have_count(len(frames))
    shown_rows = value_rows.evaluate_all(
        "rows => rows.map(r => [r.dataset.t, Array.from(r.querySelectorAll('td'), c => c.textContent)])"
    )
    expected = smooth([Frame.model_validate(frame) for frame in frames])
    for frame, smoothed, (t, cells) in zip(frames, expected, shown_rows, strict=True):
        assert float(t) == frame["t"]
        if smoothed is None:
            assert cells == ["no face"], f"t={t}: a frame without a face must be a gap"
        else:
            assert len(cells) == len(EMOTIONS)
            for cell, value in zip(cells, smoothed, strict=True):
                assert_percent_text(cell, value)

    # Hovering over a sample with a face shows its values.
    x_max = max(summary["duration_s"] or analysis["video"]["duration_s"], frames[-1]["t"])
    steady = [f["t"] for i, f in enumerate(frames[2:-2], start=2) if all(g["face"] for g in frames[i - 2 : i + 3])]
    if steady:
        t = min(steady, key=lambda t: abs(t - 0.45 * x_max))
        hover_at = chart_point(page, t / x_max)
        page.mouse.move(*hover_at)
        page.mouse.move(hover_at[0] + 1, hover_at[1])
        tooltip = chart.locator(".timeline-tooltip")
        expect(tooltip).to_be_visible()
        expect(tooltip).to_contain_text("%")
        for emotion in EMOTIONS:
            expect(tooltip).to_contain_text(emotion.capitalize())

    # Keyboard zoom controls exist and act on the chart without errors.
    page.get_by_role("button", name="Zoom in").click()
    page.get_by_role("button", name="Show later").click()
    page.get_by_role("button", name="Show all").click()
    page.get_by_role("checkbox", name="Neutral").uncheck()
    page.get_by_role("checkbox", name="Neutral").check()

    expect(page.locator("#segments-table tbody tr")).to_have_count(len(analysis["segments"]))
    assert analysis["transcript"], "the transcript was given, so the summary aligns it"
    transcript_rows = page.locator("#transcript-table tbody tr")
    expect(transcript_rows).to_have_count(len(analysis["transcript"]))
    for i, segment in enumerate(analysis["transcript"]):
        if segment["text"]:
            expect(transcript_rows.nth(i)).to_contain_text(segment["text"])
        if segment["dominant_emotion"]:
            expect(transcript_rows.nth(i)).to_contain_text(segment["dominant_emotion"].capitalize())

    # Downloads carry the job's data, fetched with the key in a header.
    with page.expect_download() as json_download:
        page.get_by_role("button", name="Download JSON").click()
    downloaded = json.loads(Path(json_download.value.path()).read_text(encoding="utf-8"))
    assert downloaded["frames"] == frames
    assert {k: v for k, v in downloaded.items() if k != "frames"} == analysis
    with page.expect_download() as csv_download:
        page.get_by_role("button", name="Download CSV").click()
    csv_rows = list(csv.reader(io.StringIO(Path(csv_download.value.path()).read_text(encoding="utf-8"))))
    assert len(csv_rows) == len(frames) + 1
    assert all(emotion in csv_rows[0] for emotion in EMOTIONS)

    # The screenshot README shows: the whole results page with a tooltip open. The viewport takes
    # the page's height first, since a full-page capture resizes the chart and hides its tooltip.
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.locator("#timeline-table").evaluate("details => { details.open = false; }")
    height = page.evaluate("() => document.documentElement.scrollHeight")
    page.set_viewport_size({"width": 1280, "height": min(int(height), 4000)})
    page.evaluate("() => window.scrollTo(0, 0)")
    if steady:
        hover_at = chart_point(page, t / x_max)
        page.mouse.move(*hover_at)
        page.mouse.move(hover_at[0] + 1, hover_at[1])
        expect(chart.locator(".timeline-tooltip")).to_contain_text("%")
    page.screenshot(path=str(SCREENSHOT))

    page.get_by_role("button", name="Delete job").click()
    page.get_by_role("button", name="Yes, delete it").click()
    expect(page).to_have_url(re.compile(r"#/$"))
    expect(page.locator(f'#jobs-body tr[data-job-id="{job_id}"]')).to_have_count(0)
    assert api.get(f"/v1/jobs/{job_id}").status_code == 404


def test_a_faces_all_job_shows_one_timeline_per_person(
    page: Page, base_url: str, api_key: str, api: httpx.Client, speaker_view: Any, tmp_path: Path
) -> None:
    transcript = tmp_path / "call.json"
    transcript.write_text(json.dumps(speaker_view.cues), encoding="utf-8")
    sign_in(page, base_url, api_key)
    page.locator("#file-input").set_input_files(str(speaker_view.path))
    page.get_by_text("Options").click()
    page.get_by_label("Transcript (optional)").set_input_files(str(transcript))
    page.get_by_label("Your reference (optional)").fill("web-people")
    page.get_by_label("Follow every person in the call").check()
    page.get_by_role("button", name="Analyse").click()

    row = page.locator("#jobs-body tr").filter(has_text="web-people")
    expect(row).to_have_count(1)
    job_id = row.get_attribute("data-job-id")
    expect(row).to_have_attribute("data-status", re.compile("succeeded|failed"), timeout=JOB_TIMEOUT_MS)
    job = api.get(f"/v1/jobs/{job_id}").raise_for_status().json()
    assert job["status"] == "succeeded" and job["faces"] == "all", job
    row.get_by_role("link").click()
    chart = page.locator("#timeline-chart")
    expect(chart.locator("canvas").first).to_be_visible()

    people = api.get(f"/v1/jobs/{job_id}/summary").raise_for_status().json()["participants"]
    picker = page.get_by_label("Person", exact=True)
    expect(picker.locator("option")).to_have_count(len(people) + 1)
    for person in people:
        picker.select_option(person["id"])
        expect(page.locator("#summary-face")).to_have_attribute("data-value", str(person["face_visible_ratio"]))
        expect(chart).to_have_attribute("data-face-points", str(person["frames"]))
        assert person["speaker"] in picker.locator(f'option[value="{person["id"]}"]').inner_text()
    picker.select_option("")
    frames = fetch_all_frames(api, str(job_id))
    expect(chart).to_have_attribute("data-face-points", str(sum(f["face"] for f in frames)))
