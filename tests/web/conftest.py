"""Fixtures for driving the page: Debian's Chromium through Python Playwright, against the real
service started by tests/services.py (Postgres, Redis, Celery workers, the API).

The browser is the system one (/usr/bin/chromium, `apt-get install chromium`); nothing is
downloaded. Without it the page tests skip with that reason.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from emotrace.devstack import Processes
from emotrace.settings import Settings
from tests import services
from tests.recordings import cut_copy, faststart_copy

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Playwright

CHROMIUM = Path(os.environ.get("EMOTRACE_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    if not CHROMIUM.is_file() and not shutil.which(str(CHROMIUM)):
        pytest.skip(f"no Chromium at {CHROMIUM}: `apt-get install chromium` (or set EMOTRACE_CHROMIUM)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs Python Playwright (the `dev` extra)")
    with sync_api.sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture(scope="session")
def camera_browser(playwright: Playwright) -> Iterator[Browser]:
    """Chromium with a synthetic camera (a moving test pattern) that asks no permission."""
    args = [*CHROMIUM_ARGS, "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=args)
    try:
        yield browser
    finally:
        browser.close()


def _open_page(browser: Browser) -> Iterator[Page]:
    """A fresh context per test: its own sessionStorage, so no key leaks from test to test.
    Uncaught script errors fail the test; failed requests the page handles (a 401) do not."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    context.set_default_timeout(20_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield page
    finally:
        context.close()
    assert not errors, f"uncaught errors on the page: {errors}"


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    yield from _open_page(browser)


@pytest.fixture
def camera_page(camera_browser: Browser) -> Iterator[Page]:
    yield from _open_page(camera_browser)


@pytest.fixture
def api(base_url: str, api_key: str) -> Iterator[httpx.Client]:
    """The API as the page sees it, with the same key: the source of what the page must show."""
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {api_key}"}, timeout=30) as client:
        yield client


@pytest.fixture(scope="session")
def cut_recording(videos_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A recording whose header is intact but whose second half is gone: accepted at upload, it
    fails while a worker decodes it, so the page has a failed job to explain."""
    folder = tmp_path_factory.mktemp("cut")
    whole = faststart_copy(videos_dir / "liveportrait_driving_d6.mp4", folder / "faststart.mp4")
    return cut_copy(whole, folder / "session-cut.mp4", 0.5)


@pytest.fixture(scope="session")
def base_url(api_url: str, workers: Processes) -> str:
    """The API serving the page, with real Celery workers behind it (tests/services.py)."""
    return api_url


@pytest.fixture
def api_key(settings: Settings) -> str:
    """A new client per test, so each test sees only its own jobs."""
    return services.new_key(settings, f"web-{uuid.uuid4().hex[:12]}")
