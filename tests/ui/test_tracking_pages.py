"""Experiments, runs, comparison, registry and evaluations in headless Chromium.

Data is seeded through the MLflow REST API of the shared demo server (`tracking_seed`), with
evaluations written the way the evaluator's contract says.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from urllib.parse import quote

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.conftest import ServerProcess
from tests.ui.conftest import screenshot
from tests.ui.otlp import TraceBuilder, send
from tests.ui.tracking_seed import Seeder

SCRIPT = "<script>window.__xss=1</script>"
IMG = '<img src=x onerror="window.__xss=2">'
HOSTILE = f"{SCRIPT}{IMG}"
COLUMNS = ["question", "prediction", "target", "rougeL", "exact_match", "trace_id"]


@dataclass
class Seeded:
    experiment: str
    name: str
    runs: dict[str, str]
    eval_a: str
    eval_b: str
    trace_id: str
    model: str


@pytest.fixture(scope="module")
def seeded(demo_server: ServerProcess) -> Seeded:
    sd = Seeder(demo_server.url)
    name = f"tracking-{uuid.uuid4().hex[:6]}"
    exp = sd.experiment(name)
    runs = {}
    for i in range(30):
        runs[f"run-{i:02d}"] = sd.run(
            exp,
            f"run-{i:02d}",
            params={"lr": str(0.01 * (i % 3 + 1)), "model": "rf", "seed": str(i)},
            metrics={"accuracy": 0.5 + i / 100,
                     "loss": [1.0 - j * 0.1 * (1 + i / 30) for j in range(6)]},
            start_ms=1_767_225_600_000 + i * 60_000,
        )  # fmt: skip
    rid = runs["run-29"]
    sd.artifact(rid, "model/model.pkl", b"pickled-model")
    sd.artifact(rid, "notes.txt", b"hello artifacts")
    sd.inputs(rid, "qa-set", "sha256:feedbeef")
    # A trace the evaluation rows point at.
    b = TraceBuilder()
    b.span("eval-row-trace", attributes={"input.value": "q0"})
    send(demo_server.url, name, b.spans)
    rows_a = [
        [f"question {i}", f"answer a{i}", f"target {i}", round(i / 120, 4), i % 2,
         b.trace_hex if i == 0 else None]
        for i in range(120)
    ]  # fmt: skip
    rows_b = [
        [f"question {i}", f"answer b{i}", f"target {i}", round((i + (5 if i % 3 else -5)) / 120, 4),
         1, None]
        for i in range(120)
    ]  # fmt: skip
    eval_a = sd.evaluation(
        exp,
        "eval-baseline",
        columns=COLUMNS,
        rows=rows_a,
        metrics={"rougeL": 0.5, "exact_match": 0.5},
    )
    eval_b = sd.evaluation(
        exp, "eval-candidate", columns=COLUMNS, rows=rows_b,
        metrics={"rougeL": 0.52, "exact_match": 1.0}, model="gpt-4o",
    )  # fmt: skip
    model = f"model-{uuid.uuid4().hex[:6]}"
    sd.model(model, {"team": "search"})
    v1 = sd.version(model, runs["run-28"])
    v2 = sd.version(model, rid, {"quality": "good"})
    sd.stage(model, v1, "Staging")
    sd.stage(model, v2, "Production")
    sd.alias(model, "champion", v1)
    sd.alias(model, "champion", v2)
    return Seeded(exp, name, runs, eval_a, eval_b, b.trace_hex, model)


def test_experiments_list_and_runs_table(
    page: Page, demo_server: ServerProcess, seeded: Seeded
) -> None:
    page.goto(demo_server.url + f"/experiments?q={seeded.name}")
    expect(page.locator("nav.nav a[aria-current=page]")).to_have_text("Experiments")
    row = page.locator("table.experiments tbody tr", has_text=seeded.name)
    expect(row.locator("td").nth(1)).to_have_text("32")
    expect(row.locator("td").nth(2)).to_have_text("2")
    row.locator("td.name a").click()
    expect(page.locator("h1")).to_contain_text(seeded.name)
    table = page.locator("table.runs")
    expect(table.locator("thead")).to_contain_text("accuracy")
    expect(table.locator("thead")).to_contain_text("lr")
    expect(table.locator("tbody tr")).to_have_count(32)
    screenshot(page, "runs")

    # MLflow search syntax, applied on the server; the state is in the URL.
    page.fill("input[name=filter]", "metrics.accuracy >= 0.75 and params.lr = '0.01'")
    page.press("input[name=filter]", "Enter")
    expect(page).to_have_url(re.compile(r"filter=metrics.accuracy"))
    names = table.locator("tbody td.name > a:first-child")
    expect(names).to_have_text(["run-27"])

    page.fill("input[name=filter]", "metrics.accuracy >")
    page.press("input[name=filter]", "Enter")
    expect(page.locator("p.error")).to_be_visible()

    # Sort by a metric column (descending first), then page with 25 a page.
    page.goto(demo_server.url + f"/experiments/{seeded.experiment}?size=25")
    page.click("thead a:has-text('accuracy')")
    expect(page).to_have_url(re.compile(r"sort=metric%3Aaccuracy"))
    expect(names.first).to_have_text("run-29")
    expect(names).to_have_count(25)
    page.click("nav.pager a[rel=next]")
    expect(page).to_have_url(re.compile(r"page=1"))
    expect(names).to_have_count(7)
    expect(names.last).to_have_text(re.compile("eval-"))


def test_run_page_shows_params_metrics_charts_tags_artifacts_inputs(
    page: Page, demo_server: ServerProcess, seeded: Seeded
) -> None:
    run_id = seeded.runs["run-29"]
    page.goto(demo_server.url + f"/runs/{run_id}")
    expect(page.locator("h1")).to_contain_text("run-29")
    expect(page.locator("[aria-label=Parameters] table")).to_contain_text("seed")
    expect(page.locator("table.metrics-table")).to_contain_text("accuracy")
    expect(page.locator("table.metrics-table")).to_contain_text("6 points")
    chart = page.locator("[data-metric-chart] .uplot canvas")
    expect(chart).to_have_count(1)
    expect(page.locator("figcaption")).to_have_text("loss")
    expect(page.locator("table.inputs")).to_contain_text("sha256:feedbeef")
    expect(page.locator("[aria-label=Tags] table")).to_contain_text("mlflow.runName")
    expect(page.locator("dl.facts")).to_contain_text(f"{seeded.model} v2")
    artifacts = page.locator("table.artifacts")
    expect(artifacts).to_contain_text("notes.txt")
    link = artifacts.locator("a", has_text="notes.txt")
    response = httpx.get(demo_server.url + (link.get_attribute("href") or ""))
    assert response.content == b"hello artifacts"
    screenshot(page, "run", full_page=True)
    artifacts.locator("a", has_text="model/").click()
    expect(page).to_have_url(re.compile(r"path=model"))
    expect(page.locator("table.artifacts")).to_contain_text("model.pkl")


def test_compare_runs_highlights_differences_and_overlays_charts(
    page: Page, demo_server: ServerProcess, seeded: Seeded
) -> None:
    page.goto(demo_server.url + f"/experiments/{seeded.experiment}?filter=params.seed+IN+('1','2')")
    boxes = page.locator("table.runs tbody input[type=checkbox]")
    expect(boxes).to_have_count(2)
    boxes.nth(0).check()
    boxes.nth(1).check()
    page.click("#compare button")
    expect(page).to_have_url(re.compile(r"/compare\?run="))
    params = page.locator("table.compare.kind-params")
    expect(params.locator("tr.differs", has_text="seed")).to_have_count(1)
    expect(params.locator("tr.differs", has_text="lr")).to_have_count(1)
    expect(params.locator("tr.same", has_text="model")).to_have_count(1)
    expect(
        page.locator("table.compare.kind-metrics tr.differs", has_text="accuracy")
    ).to_have_count(1)
    expect(page.locator(".metric-charts .uplot")).to_have_count(1)
    # One legend entry per run besides the x series: the curves are overlaid.
    expect(page.locator(".metric-charts .u-legend .u-series")).to_have_count(3)
    screenshot(page, "compare", full_page=True)
    page.click("text=Show only differences")
    expect(page.locator("table.compare.kind-params tr.same")).to_have_count(0)


def test_registry_models_versions_aliases_history(
    page: Page, demo_server: ServerProcess, seeded: Seeded
) -> None:
    page.goto(demo_server.url + f"/models?q={seeded.model}")
    row = page.locator("table.models tbody tr", has_text=seeded.model)
    expect(row).to_contain_text("@champion → v2")
    expect(row).to_contain_text("Production")
    row.locator("td.name a").click()
    expect(page.locator("h1")).to_have_text(seeded.model)
    versions = page.locator("table.versions tbody tr")
    expect(versions).to_have_count(2)
    expect(versions.first).to_contain_text("v2")
    expect(versions.first).to_contain_text("Production")
    expect(versions.first).to_contain_text("@champion")
    expect(versions.nth(1)).to_contain_text("Staging")
    history = page.locator("table.history tbody")
    expect(history).to_contain_text(re.compile(r"alias\s+@champion\s+v1\s+→\s+v2"))
    expect(history).to_contain_text(re.compile(r"stage None\s+→\s+Staging"))
    screenshot(page, "model", full_page=True)
    versions.first.locator("td.name a").click()
    expect(page.locator("h1")).to_contain_text("v2")
    expect(page.locator("table.kv")).to_contain_text("quality")
    page.click("dl.facts a:has-text('run-29')")
    expect(page.locator("h1")).to_contain_text("run-29")


def test_evaluations_list_table_and_trace_links(
    page: Page, demo_server: ServerProcess, seeded: Seeded
) -> None:
    page.goto(demo_server.url + f"/evaluations?experiment={seeded.experiment}")
    rows = page.locator("table.evaluations tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("gpt-4o")
    expect(page.locator("table.evaluations thead")).to_contain_text("rougeL")
    page.goto(demo_server.url + "/evaluations")
    expect(
        page.locator("table.evaluations tbody tr", has_text="eval-candidate").first
    ).to_be_visible()

    page.goto(demo_server.url + f"/evaluations/{seeded.eval_a}")
    expect(page.locator(".tiles")).to_contain_text("exact_match")
    table = page.locator("table.eval-rows tbody tr")
    expect(table).to_have_count(50)
    expect(page.locator("p.muted.small", has_text="of 120 rows")).to_contain_text(
        "rougeL, exact_match"
    )
    screenshot(page, "evaluation")
    page.click("nav.pager a[rel=next]")
    expect(table.first.locator("td").first).to_have_text("50")
    # Sort by a score (descending first), filter by a score condition and by text.
    page.click("thead a:has-text('rougeL')")
    expect(table.first.locator("td").first).to_have_text("119")
    page.goto(demo_server.url + f"/evaluations/{seeded.eval_a}?where=rougeL+<+0.05&q=question")
    expect(table).to_have_count(6)
    page.goto(demo_server.url + f"/evaluations/{seeded.eval_a}?where=nonsense")
    expect(page.locator("p.error")).to_contain_text("cannot read")
    # The row with a trace id links to the trace page.
    page.goto(demo_server.url + f"/evaluations/{seeded.eval_a}")
    link = page.locator("a.trace-link")
    expect(link).to_have_count(1)
    link.click()
    expect(page).to_have_url(re.compile(rf"/traces/{seeded.trace_id}\?project="))
    expect(page.locator("h1")).to_contain_text("eval-row-trace")

    page.goto(demo_server.url + f"/evaluations/{seeded.eval_a}/dataset")
    expect(page.locator("table.dataset-rows tbody tr")).to_have_count(50)
    expect(page.locator("table.dataset-rows thead")).to_contain_text("question")


def test_compare_two_evaluations_row_by_row(
    page: Page, demo_server: ServerProcess, seeded: Seeded
) -> None:
    page.goto(demo_server.url + f"/evaluations/{seeded.eval_b}")
    page.select_option("select[name=a]", seeded.eval_a)
    page.click("form.toolbar button:has-text('Compare row by row')")
    expect(page).to_have_url(re.compile(r"/evaluations/compare\?"))
    summary = page.locator("table.eval-summary tbody tr", has_text="rougeL")
    # B is 5/120 higher on two rows of three, 5/120 lower on the third.
    expect(summary.locator("td").nth(3)).to_have_text("80")
    expect(summary.locator("td").nth(4)).to_have_text("40")
    first = page.locator("table.eval-diff tbody tr").first
    expect(first).to_contain_text("answer a0")
    expect(first).to_contain_text("answer b0")
    expect(first.locator("td.delta.down").first).to_have_text("-0.0417")
    screenshot(page, "eval-compare", full_page=True)
    page.select_option("select[name=show]", "worse")
    page.click("form.filters button")
    rows = page.locator("table.eval-diff tbody tr")
    expect(rows).to_have_count(40)
    # Of those rows (i % 3 == 0), exact_match rose from 0 to 1 on the even ones.
    expect(page.locator("table.eval-diff tbody td.delta.up")).to_have_count(20)


def test_hostile_tracking_names_and_values_stay_text(
    page: Page, demo_server: ServerProcess
) -> None:
    sd = Seeder(demo_server.url)
    name = f"x{uuid.uuid4().hex[:4]} {HOSTILE}"
    exp = sd.experiment(name)
    run = sd.run(
        exp, f"run {HOSTILE}", params={f"p{IMG}": HOSTILE}, metrics={f"m{IMG}": [1.0, 2.0]},
        tags={"note": HOSTILE},
    )  # fmt: skip
    sd.artifact(run, f"dir{IMG}/file{IMG}.txt", b"x")
    other = sd.run(exp, "plain", params={f"p{IMG}": "1"}, metrics={f"m{IMG}": [3.0, 1.0]})
    cols = [f"input {IMG}", "prediction", "score", "trace_id"]
    ev = sd.evaluation(
        exp, f"eval {HOSTILE}", columns=cols, rows=[[HOSTILE, HOSTILE * 50, 0.5, HOSTILE]],
        metrics={"score": 0.5}, dataset=(HOSTILE, HOSTILE), model=HOSTILE,
    )  # fmt: skip
    model = f"m/{HOSTILE}"
    sd.model(model, {HOSTILE: HOSTILE})
    version = sd.version(model, run, {f"t{IMG}": HOSTILE})
    qm = quote(model, safe="")
    pages = {
        "/experiments": name,
        f"/experiments/{exp}": f"run {HOSTILE}",
        f"/runs/{run}": HOSTILE,
        f"/runs/{run}?path={quote(f'dir{IMG}')}": f"file{IMG}.txt",
        f"/compare?run={run}&run={other}": f"p{IMG}",
        "/evaluations": f"eval {HOSTILE}",
        f"/evaluations/{ev}": f"input {IMG}",
        f"/evaluations/{ev}/dataset": HOSTILE,
        f"/evaluations/compare?a={ev}&b={ev}": HOSTILE,
        "/models": model,
        f"/models/{qm}": model,
        f"/models/{qm}/versions/{version}": f"t{IMG}",
    }
    for path, text in pages.items():
        page.goto(demo_server.url + path)
        expect(page.locator("main")).to_contain_text(text)
        assert page.evaluate("window.__xss") is None, path
        assert page.locator("main img").count() == 0, path
        assert page.locator("main script:not([type='application/json']):not([src])").count() == 0
    # The hostile trace id is not a trace id: no link is made from it.
    page.goto(demo_server.url + f"/evaluations/{ev}")
    expect(page.locator("a.trace-link")).to_have_count(0)
