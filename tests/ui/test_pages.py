"""Each page in headless Chromium against a server holding the sample traces."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.conftest import ServerProcess
from tests.ui.conftest import screenshot


def test_root_redirects_to_the_trace_list(page: Page, demo_server: ServerProcess) -> None:
    page.goto(demo_server.url + "/")
    expect(page).to_have_url(re.compile(r"/traces$"))
    expect(page.locator("table.traces tbody tr")).to_have_count(50)
    expect(page.locator("nav.pager a[rel=next]")).to_be_visible()
    screenshot(page, "traces")


def test_status_filter_changes_the_url_and_the_rows(page: Page, demo_server: ServerProcess) -> None:
    page.goto(demo_server.url + "/traces")
    page.select_option("select[name=status]", "error")
    expect(page).to_have_url(re.compile(r"status=error"))
    rows = page.locator("table.traces tbody tr")
    expect(rows.first.locator(".badge")).to_have_text("ERROR")
    assert rows.count() < 50
    for badge in rows.locator(".badge").all_inner_texts():
        assert badge == "ERROR"
    # The URL alone reproduces the view (shareable links).
    page.goto(page.url)
    expect(page.locator("select[name=status]")).to_have_value("error")
    expect(rows.first.locator(".badge")).to_have_text("ERROR")


def test_search_text_and_filter_language(page: Page, demo_server: ServerProcess) -> None:
    page.goto(demo_server.url + "/traces")
    page.fill("input[name=text]", "Quarterly report")
    expect(page).to_have_url(re.compile(r"text=Quarterly"))
    names = page.locator("table.traces tbody td.name")
    expect(names.first).to_have_text("summarize")
    assert set(names.all_inner_texts()) == {"summarize"}

    page.goto(demo_server.url + "/traces")
    page.fill("input[name=filter]", 'name = "rag-chat" and latency_ms > 0')
    page.press("input[name=filter]", "Enter")
    expect(page).to_have_url(re.compile(r"filter=name"))
    expect(names.first).to_have_text("rag-chat")
    assert set(names.all_inner_texts()) == {"rag-chat"}

    page.fill("input[name=filter]", "latency_ms >")
    page.press("input[name=filter]", "Enter")
    expect(page.locator("#results .error")).to_contain_text("invalid filter")


def test_sorting_and_paging(page: Page, demo_server: ServerProcess) -> None:
    page.goto(demo_server.url + "/traces?limit=25")
    page.click("thead a:has-text('Latency')")
    expect(page).to_have_url(re.compile(r"sort=latency"))
    cells = page.locator("table.traces tbody tr td:nth-child(6)")
    expect(cells).to_have_count(25)

    def seconds(text: str) -> float:
        value, unit = text.split()
        return float(value) / (1000 if unit == "ms" else 1)

    latencies = [seconds(t) for t in cells.all_inner_texts()]
    assert latencies == sorted(latencies, reverse=True)
    first_page = page.locator("td.name a").first.get_attribute("href")
    page.click("a[rel=next]")
    expect(page).to_have_url(re.compile(r"cursor="))
    assert page.locator("td.name a").first.get_attribute("href") != first_page
    page.click("a[rel=prev]")
    expect(page.locator("td.name a").first).to_have_attribute("href", first_page or "")


def test_live_tail_polls_for_new_traces(page: Page, demo_server: ServerProcess) -> None:
    page.goto(demo_server.url + "/traces")
    page.check("input[name=tail]")
    expect(page).to_have_url(re.compile(r"tail=1"))
    expect(page.locator("#results[data-tail=on]")).to_have_count(1)
    with page.expect_request(re.compile(r"/traces\?.*tail=1"), timeout=10_000):
        pass
    page.uncheck("input[name=tail]")
    expect(page.locator("#results[data-tail=on]")).to_have_count(0)


def test_trace_tree_expands_collapses_and_opens_a_conversation(
    page: Page, demo_server: ServerProcess
) -> None:
    page.goto(demo_server.url + "/traces?name=rag-chat")
    page.locator("td.name a").first.click()
    rows = page.locator("#tree .row:not([hidden])")
    expect(rows).to_have_count(4)
    root = rows.first
    expect(root).to_have_attribute("aria-expanded", "true")
    root.locator(".toggle").click()
    expect(rows).to_have_count(1)
    expect(root).to_have_attribute("aria-expanded", "false")
    # Keyboard: focus the tree, expand with ArrowRight, move down, open with Enter.
    page.focus("#tree")
    page.keyboard.press("ArrowRight")
    expect(rows).to_have_count(4)
    page.keyboard.press("End")
    page.keyboard.press("Enter")
    panel = page.locator("#span-panel")
    expect(panel.locator(".conversation")).to_be_visible()
    expect(panel.locator(".msg.role-system")).to_contain_text("Answer from the docs.")
    expect(panel.locator(".msg.role-user")).to_be_visible()
    expect(panel.locator(".msg.role-assistant")).to_contain_text("Here is how")
    expect(panel.locator("table.kv[aria-label=Attributes]")).to_contain_text("gen_ai.request.model")
    expect(page).to_have_url(re.compile(r"span=[0-9a-f]{16}"))
    # A shared link with ?span= reopens the same span.
    page.goto(page.url)
    expect(page.locator("#span-panel .conversation")).to_be_visible()
    screenshot(page, "trace")


def test_span_search_highlights_and_filters(page: Page, demo_server: ServerProcess) -> None:
    page.goto(demo_server.url + "/traces?name=rag-chat")
    page.locator("td.name a").first.click()
    page.fill("#span-search", "retrieve")
    expect(page.locator("#tree .row:not([hidden]) mark")).to_have_text("retrieve")
    page.check("#only-matches")
    expect(page.locator("#tree .row:not([hidden])")).to_have_count(2)  # the match and its root
    expect(page.locator("#tree-status")).to_contain_text("1 match")


def test_error_span_shows_the_exception(page: Page, demo_server: ServerProcess) -> None:
    page.goto(demo_server.url + "/traces?status=error")
    page.locator("td.name a").first.click()
    page.locator("#tree .row.err").first.click()
    failure = page.locator("#span-panel .failure")
    expect(failure).to_contain_text("RateLimitError")
    expect(failure).to_contain_text("Rate limit reached")


def test_sessions_list_and_conversation(page: Page, demo_server: ServerProcess) -> None:
    page.goto(demo_server.url + "/sessions")
    rows = page.locator("table.sessions tbody tr")
    expect(rows.first.locator("td.name a")).to_have_text(re.compile(r"session-\d+"))
    screenshot(page, "sessions")
    rows.first.locator("td.name a").click()
    expect(page).to_have_url(re.compile(r"/sessions/session-\d+"))
    turns = page.locator("ol.chat li.turn")
    assert turns.count() >= 1
    expect(turns.first.locator(".role-user")).to_be_visible()
    expect(turns.first.locator(".role-assistant")).to_contain_text("Here is how")
    screenshot(page, "session")


def test_dashboard_draws_charts(page: Page, demo_server: ServerProcess) -> None:
    page.goto(demo_server.url + "/dashboard")
    canvases = page.locator(".chart canvas")
    expect(canvases).to_have_count(4)
    for box in (canvases.nth(i).bounding_box() for i in range(4)):
        assert box is not None and box["width"] > 100 and box["height"] > 50
    expect(page.locator(".tile-value").first).to_have_text("60")
    expect(page.locator("table.by-model tbody tr")).to_have_count(5)
    screenshot(page, "dashboard", full_page=True)
    page.emulate_media(color_scheme="dark")
    screenshot(page, "dashboard-dark", full_page=True)


def test_unknown_trace_is_a_404_page(page: Page, demo_server: ServerProcess) -> None:
    response = page.goto(demo_server.url + "/traces/" + "ab" * 16)
    assert response is not None and response.status == 404
    expect(page.locator("h1")).to_have_text("Trace not found")
