"""Hostile span content stays text; a 20,000-span trace renders fast and scrolls to its end."""

from __future__ import annotations

import json
import re
import time

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import ServerProcess
from tests.ui.conftest import screenshot
from tests.ui.otlp import TraceBuilder, big_trace, messages, send

SCRIPT = "<script>window.__xss=1</script>"
IMG = '<img src=x onerror="window.__xss=2">'
HOSTILE = f"{SCRIPT}{IMG}"


@pytest.fixture(scope="module")
def hostile_trace(demo_server: ServerProcess) -> str:
    b = TraceBuilder()
    root = b.span(
        f"agent {HOSTILE}",
        attributes={"input.value": HOSTILE, "user.id": HOSTILE, "session.id": f"s-{IMG}"},
    )
    b.span(
        f"chat {HOSTILE}",
        root,
        offset_ms=1,
        attributes={
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.input.messages": messages(("user", f"say {HOSTILE}")),
            "gen_ai.output.messages": json.dumps(
                [
                    {
                        "role": "assistant",
                        "content": f"ok {HOSTILE}",
                        "tool_calls": [
                            {
                                "id": "c1",
                                "type": "function",
                                "function": {"name": f"tool{IMG}", "arguments": HOSTILE},
                            }
                        ],
                    }
                ]
            ),
            f"attr{IMG}": HOSTILE,
        },
        error=HOSTILE,
    )
    send(demo_server.url, "hostile", b.spans)
    return b.trace_hex


def assert_inert(page: Page) -> None:
    assert page.evaluate("window.__xss") is None
    assert page.locator("main img").count() == 0
    assert page.locator("main script:not([type='application/json']):not([src])").count() == 0


def test_hostile_content_is_shown_as_text(
    page: Page, demo_server: ServerProcess, hostile_trace: str
) -> None:
    page.goto(demo_server.url + "/traces?project=hostile")
    expect(page.locator("td.name a").first).to_have_text(f"agent {HOSTILE}")
    expect(page.locator("td.who").first).to_contain_text(HOSTILE)
    assert_inert(page)

    page.goto(f"{demo_server.url}/traces/{hostile_trace}?project=hostile")
    expect(page.locator("h1")).to_contain_text(HOSTILE)
    rows = page.locator("#tree .row:not([hidden])")
    expect(rows.nth(1).locator(".name")).to_have_text(f"chat {HOSTILE}")
    rows.nth(1).click()
    panel = page.locator("#span-panel")
    expect(panel.locator(".msg.role-user")).to_contain_text(f"say {HOSTILE}")
    expect(panel.locator(".msg.role-assistant")).to_contain_text(f"ok {HOSTILE}")
    expect(panel.locator(".tool-call")).to_contain_text(f"tool{IMG}")
    expect(panel.locator(".failure")).to_contain_text(HOSTILE)
    expect(panel.locator("table.kv[aria-label=Attributes]")).to_contain_text(f"attr{IMG}")
    # Searching the tree for the markup highlights it as text too.
    page.fill("#span-search", "<script>")
    expect(page.locator("#tree mark").first).to_have_text("<script>")
    assert_inert(page)
    screenshot(page, "hostile-trace")

    page.goto(demo_server.url + "/sessions?project=hostile")
    expect(page.locator("td.name a").first).to_have_text(f"s-{IMG}")
    page.locator("td.name a").first.click()
    expect(page.locator(".role-user").first).to_contain_text(HOSTILE)
    assert_inert(page)


SPANS = 20_000


@pytest.fixture(scope="module")
def huge_trace(demo_server: ServerProcess) -> tuple[str, str]:
    b, last = big_trace(SPANS)
    send(demo_server.url, "huge", b.spans)
    return b.trace_hex, last


def test_huge_trace_renders_fast_and_scrolls_to_the_last_span(
    page: Page, demo_server: ServerProcess, huge_trace: tuple[str, str]
) -> None:
    trace_id, last = huge_trace
    started = time.perf_counter()
    page.goto(f"{demo_server.url}/traces/{trace_id}?project=huge")
    expect(page.locator("#tree .row:not([hidden])").first).to_have_text(re.compile("big-root"))
    first_rows = time.perf_counter() - started
    # Only a screenful of rows exists in the DOM, whatever the trace size.
    assert page.locator("#tree .row").count() < 120
    expect(page.locator("#tree[data-complete='1']")).to_have_count(1, timeout=30_000)
    assert page.locator("#tree").get_attribute("data-loaded") == str(SPANS)
    expect(page.locator("#tree-status")).to_contain_text("20,000 spans")
    screenshot(page, "huge-trace")

    page.focus("#tree")
    page.keyboard.press("End")
    last_row = page.locator(f"#tree .row:not([hidden]) .name:text-is('{last}')")
    expect(last_row).to_be_visible()
    # Collapsing the root hides everything else; ArrowRight brings it back.
    page.keyboard.press("Home")
    page.keyboard.press("ArrowLeft")
    expect(page.locator("#tree .row:not([hidden])")).to_have_count(1)
    page.keyboard.press("ArrowRight")
    expect(page.locator("#tree .row:not([hidden])").nth(1)).to_contain_text("step-0")
    assert first_rows < 10, f"first rows after {first_rows:.1f} s"
