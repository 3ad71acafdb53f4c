"""A first visit, in headless Chromium: the sign-in form says where keys come from, a sign-in
link (`/#key=...`, as `emotrace serve` prints on a first start) signs in and leaves no key in
the address bar, and a queued job is cancelled from its page."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api.app import create_app
from api.server import serve_in_thread
from emotrace.queue import CeleryQueue
from emotrace.settings import Settings
from emotrace.storage import LocalStore, recording_key
from tests.api.test_api import upload

pytest.importorskip("playwright.sync_api", reason="the web tests need the `dev` extra (Python Playwright)")
from playwright.sync_api import Page, expect


def test_the_sign_in_form_says_how_to_get_a_key(page: Page, base_url: str) -> None:
    page.goto(base_url + "/")
    help_box = page.locator("#key-help")
    expect(help_box).to_be_visible()
    expect(help_box).to_contain_text("emotrace keys create NAME")
    expect(help_box).to_contain_text("emotrace serve")


def test_a_sign_in_link_signs_in_and_leaves_no_key_in_the_address_bar(page: Page, base_url: str, api_key: str) -> None:
    page.goto(f"{base_url}/#key={api_key}")
    expect(page.get_by_role("heading", name="New analysis")).to_be_visible()
    assert page.url == base_url + "/#/"
    assert api_key not in page.evaluate("() => window.location.href + document.title")
    assert page.evaluate("() => Object.values(sessionStorage)") == [api_key]
    page.reload()  # the tab's session keeps the key, the address does not
    expect(page.get_by_role("heading", name="New analysis")).to_be_visible()
    assert page.url == base_url + "/#/"


def test_a_sign_in_link_with_a_wrong_key_says_so(page: Page, base_url: str) -> None:
    wrong = "et_" + secrets.token_urlsafe(24)
    page.goto(f"{base_url}/#key={wrong}")
    expect(page.locator("#key-error")).to_contain_text("Wrong API key")
    expect(page.get_by_role("heading", name="New analysis")).to_be_hidden()
    assert wrong not in page.url
    assert page.evaluate("() => Object.keys(sessionStorage).length") == 0


@pytest.fixture
def held_base_url(idle_queue_settings: Settings, settings: Settings) -> Iterator[str]:
    """The page and API over the test database with a broker no worker reads: jobs stay queued."""
    app = create_app(
        idle_queue_settings, queue=CeleryQueue(idle_queue_settings), store=LocalStore(settings.storage_root)
    )
    with serve_in_thread(app) as url:
        yield url


def test_a_queued_job_is_cancelled_from_its_page(
    page: Page, held_base_url: str, api_key: str, settings: Settings, sample_video: Path
) -> None:
    with httpx.Client(base_url=held_base_url, headers={"Authorization": f"Bearer {api_key}"}, timeout=60) as api:
        job_id = upload(api, sample_video, external_id="to-cancel").json()["id"]
        page.goto(f"{held_base_url}/#key={api_key}")
        expect(page.get_by_role("heading", name="New analysis")).to_be_visible()
        page.goto(f"{held_base_url}/#/jobs/{job_id}")
        expect(page.locator("#job-status")).to_have_text("Queued")
        page.get_by_role("button", name="Cancel analysis").click()
        page.get_by_role("button", name="Keep running").click()  # asking first changes nothing
        expect(page.get_by_role("button", name="Cancel analysis")).to_be_focused()
        assert api.get(f"/v1/jobs/{job_id}").json()["status"] == "queued"

        page.get_by_role("button", name="Cancel analysis").click()
        page.get_by_role("button", name="Yes, cancel it").click()
        expect(page.locator("#job-status")).to_have_text("Cancelled")
        expect(page.locator("#job-state")).to_contain_text("This job was cancelled")
        expect(page.get_by_role("button", name="Cancel analysis")).to_have_count(0)
        expect(page.locator("#announcer")).to_contain_text("to-cancel: cancelled.")
        assert api.get(f"/v1/jobs/{job_id}").json()["status"] == "cancelled"
        assert not LocalStore(settings.storage_root).exists(recording_key(uuid.UUID(job_id)))

        page.goto(f"{held_base_url}/#/")
        row = page.locator("#jobs-body tr").filter(has_text="to-cancel")
        expect(row).to_have_attribute("data-status", "cancelled")
