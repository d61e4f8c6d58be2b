"""Browser fixtures: headless Chromium (Debian's package) driven by Playwright.

The tests skip when /usr/bin/chromium is missing on a developer machine, and fail in CI
(``CI`` set), where the browser must be installed (``apt-get install -y chromium``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.conftest import ServerProcess

CHROMIUM = Path(os.environ.get("SPYGLASS_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "ui"


def _missing_browser() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (apt-get install -y chromium)"
    return None


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    reason = _missing_browser()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"UI tests must run in CI: {reason}")
        pytest.skip(reason)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture(scope="session")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server with the sample traces (``--demo``), shared by the UI tests."""
    proc = ServerProcess(tmp_path_factory.mktemp("ui-server"), extra_args=["--demo"])
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


def screenshot(page: Page, name: str, full_page: bool = False) -> Path:
    """Save a screenshot under test-artifacts/ui/ (gitignored) for a human to look at."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path
