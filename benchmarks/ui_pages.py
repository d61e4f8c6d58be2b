"""Web UI speed at scale: page responses over HTTP and page readiness in headless Chromium.

Seeds a store exactly as ``query.py`` does (``--spans`` GenAI spans in 10-span traces over a
week, plus one trace of ``--big-trace`` spans), starts the server on it, then measures:
server time for each UI page; the trace list ready in Chromium (DOMContentLoaded and load);
and the big trace: first tree rows rendered, every span loaded, and a scroll through the
whole tree one screen per animation frame (total time and the slowest frame).

Tracking pages: seeds ``--tracking-runs`` runs (5 params, 3 metrics of 20 steps each) in one
experiment through the REST API, one run with a ``--history``-point metric, an evaluation with a
``--eval-rows``-row results table (and a second one to compare), and a model with 20 versions;
then times the experiments, runs, run, comparison, registry and evaluation pages.

    python benchmarks/ui_pages.py --spans 1000000 --big-trace 50000
    python benchmarks/ui_pages.py --spans 20000 --big-trace 2000 --no-browser --tracking-runs 5000
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks.query import SEED  # noqa: E402
from tests.conftest import ServerProcess  # noqa: E402
from tests.ui.tracking_seed import Seeder  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip

SCROLL_SCREENS = 4  # screens per animation frame: a fast fling; each frame draws a new screen
# Scrolls the tree to the bottom, SCROLL_SCREENS per frame; returns timings and the last row's name.
SCROLL_JS = """
async (STEP) => {
  const tree = document.getElementById("tree");
  const frame = () => new Promise((r) => requestAnimationFrame(r));
  tree.scrollTop = 0;
  await frame();
  const started = performance.now();
  let last = started, worst = 0, frames = 0;
  while (tree.scrollTop + tree.clientHeight < tree.scrollHeight - 1) {
    tree.scrollTop += tree.clientHeight * STEP;
    await frame();
    const now = performance.now();
    worst = Math.max(worst, now - last);
    last = now;
    frames++;
  }
  await frame();
  const rows = [...tree.querySelectorAll(".row:not([hidden])")];
  rows.sort((a, b) => Number(a.dataset.row) - Number(b.dataset.row));
  return {ms: performance.now() - started, frames, worst,
          last: rows.length ? rows[rows.length - 1].querySelector(".name").textContent : null};
}
"""

MARKS_JS = """
() => {
  const get = (name) => performance.getEntriesByName(name)[0]?.startTime ?? null;
  return {first: get("spyglass:first-rows"), all: get("spyglass:all-rows"),
          loaded: document.getElementById("tree").dataset.loaded};
}
"""


def pct(times: list[float], q: float) -> float:
    ordered = sorted(times)
    return ordered[max(0, int(len(ordered) * q + 0.5) - 1)]


def time_http(client: httpx.Client, path: str, runs: int) -> list[float]:
    client.get(path).raise_for_status()  # warm up
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        response = client.get(path)
        times.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    return times


def seed_tracking(url: str, runs: int, history: int, eval_rows: int) -> dict[str, str]:
    """Seed the tracking data; return the paths to time."""
    sd = Seeder(url)
    exp = sd.experiment("bench-tracking")
    ids = []
    for i in range(runs):
        ids.append(
            sd.run(
                exp, f"run-{i}",
                params={f"p{k}": str((i * 7 + k) % 13) for k in range(5)},
                metrics={m: [((i + t) % 97) / 97 for t in range(20)] for m in ("acc", "loss", "f1")},  # noqa: E501
                start_ms=1_767_225_600_000 + i * 1000,
            )
        )  # fmt: skip
    long_run = sd.run(exp, "long-history", metrics={"loss": [1 / (s + 1) for s in range(history)]})
    cols = ["question", "prediction", "target", "rougeL", "bleu", "trace_id"]
    rows = [
        [f"question {i} " * 5, f"answer {i} " * 20, f"target {i}", (i % 100) / 100,
         (i % 37) / 37, f"{i:032x}"]
        for i in range(eval_rows)
    ]  # fmt: skip
    ev_a = sd.evaluation(exp, "eval-a", columns=cols, rows=rows, metrics={"rougeL": 0.5})
    rows_b = [[*r[:3], (r[3] + 0.1) % 1, r[4], r[5]] for r in rows]
    ev_b = sd.evaluation(exp, "eval-b", columns=cols, rows=rows_b, metrics={"rougeL": 0.55})
    sd.model("bench-model")
    for i in range(20):
        sd.version("bench-model", ids[i % len(ids)])
    sd.alias("bench-model", "champion", "3")
    sd.stage("bench-model", "5", "Production")
    compare = "&".join(f"run={r}" for r in ids[:5])
    return {
        "GET /experiments": "/experiments",
        f"GET /experiments/{{id}} ({runs:,} runs, 50)": f"/experiments/{exp}",
        "GET /experiments/{id} sort metric, filter": (
            f"/experiments/{exp}?sort=metric%3Aacc&filter=params.p1+%3D+%273%27"
        ),
        "GET /experiments/{id} page 20": f"/experiments/{exp}?page=20",
        "GET /runs/{id} (3 metrics x 20 steps)": f"/runs/{ids[0]}",
        f"GET /runs/{{id}} ({history:,}-step metric)": f"/runs/{long_run}",
        "GET /compare (5 runs)": f"/compare?{compare}",
        "GET /models": "/models",
        "GET /models/{name} (20 versions)": "/models/bench-model",
        "GET /models/{name}/versions/5": "/models/bench-model/versions/5",
        "GET /evaluations": "/evaluations",
        f"GET /evaluations/{{id}} ({eval_rows:,} rows)": f"/evaluations/{ev_a}",
        "GET /evaluations/{id} sorted + filtered": (
            f"/evaluations/{ev_a}?sort=rougeL&order=desc&where=bleu+%3E+0.5&q=answer"
        ),
        "GET /evaluations/compare (worst first)": (
            f"/evaluations/compare?a={ev_a}&b={ev_b}&sort=delta&show=changed"
        ),
    }


def browser_figures(url: str, trace_id: str, runs: int) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        list_url = f"{url}/traces?project=bench"
        page.goto(list_url)
        ready, loaded = [], []
        for _ in range(runs):
            page.goto(list_url)
            nav: dict[str, Any] = page.evaluate(
                "() => performance.getEntriesByType('navigation')[0].toJSON()"
            )
            ready.append(nav["domContentLoadedEventEnd"])
            loaded.append(nav["loadEventEnd"])
        print(f"{'browser: trace list DOMContentLoaded':44} {statistics.median(ready):8.0f} "
              f"{pct(ready, 0.95):8.0f}")  # fmt: skip
        print(f"{'browser: trace list load':44} {statistics.median(loaded):8.0f} "
              f"{pct(loaded, 0.95):8.0f}")  # fmt: skip

        firsts, alls, scrolls, worst = [], [], [], []
        for _ in range(max(1, runs // 4)):
            page.goto(f"{url}/traces/{trace_id}?project=bench")
            page.wait_for_selector("#tree[data-complete='1']", timeout=120_000)
            marks = page.evaluate(MARKS_JS)
            firsts.append(marks["first"])
            alls.append(marks["all"])
            scroll = page.evaluate(SCROLL_JS, SCROLL_SCREENS)
            scrolls.append(scroll["ms"])
            worst.append(scroll["worst"])
        print(f"{'browser: big trace, first rows shown':44} {statistics.median(firsts):8.0f} "
              f"{max(firsts):8.0f}")  # fmt: skip
        print(f"{'browser: big trace, all ' + marks['loaded'] + ' spans in tree':44} "
              f"{statistics.median(alls):8.0f} {max(alls):8.0f}")  # fmt: skip
        print(f"{'browser: scroll whole tree (' + str(scroll['frames']) + ' frames)':44} "
              f"{statistics.median(scrolls):8.0f} {max(scrolls):8.0f}")  # fmt: skip
        per_frame = [s / max(1, scroll["frames"]) for s in scrolls]
        print(f"{'browser: mean frame while scrolling':44} {statistics.median(per_frame):8.1f} "
              f"{max(per_frame):8.1f}")  # fmt: skip
        print(f"{'browser: slowest frame while scrolling':44} {statistics.median(worst):8.1f} "
              f"{max(worst):8.1f}")  # fmt: skip
        print(f"last row after scrolling: {scroll['last']!r}")
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--big-trace", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--no-browser", action="store_true", help="HTTP figures only")
    parser.add_argument("--tracking-runs", type=int, default=2000)
    parser.add_argument("--history", type=int, default=100_000)
    parser.add_argument("--eval-rows", type=int, default=10_000)
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="spyglass-ui-bench-"))
    started = time.perf_counter()
    seeded = subprocess.run(
        [sys.executable, "-c", SEED, f"chdb://{data_dir / 'data'}", str(args.spans),
         str(args.big_trace), "native"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    trace_id = seeded.stdout.strip().splitlines()[-1]
    print(
        f"seeded {args.spans:,} + {args.big_trace:,} spans in {time.perf_counter() - started:.0f} s"
    )
    server = ServerProcess(data_dir)
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=120) as client:
            pages = {
                "GET /traces (50 newest)": "/traces?project=bench",
                "GET /traces status=error": "/traces?project=bench&status=error",
                "GET /traces filter language": "/traces?project=bench&filter="
                + "latency_ms%20%3E%202500%20and%20model%20~%20%22claude%22",
                "GET /traces search text": "/traces?project=bench&text=shipped&range=24h",
                "GET /sessions": "/sessions?project=bench",
                "GET /dashboard (7 days)": "/dashboard?project=bench&range=7d",
                f"GET /traces/{{big}} ({args.big_trace:,} spans)": (
                    f"/traces/{trace_id}?project=bench"
                ),
                "GET /traces/{big}/outline (50k rows)": (
                    f"/traces/{trace_id}/outline?project=bench&limit=50000"
                ),
            }
            started = time.perf_counter()
            pages |= seed_tracking(server.url, args.tracking_runs, args.history, args.eval_rows)
            print(f"seeded tracking data in {time.perf_counter() - started:.0f} s")
            print(f"{'what':44} {'p50 ms':>8} {'p95 ms':>8}")
            for name, path in pages.items():
                times = time_http(client, path, args.runs)
                print(f"{'server: ' + name:44} {statistics.median(times):8.1f} "
                      f"{pct(times, 0.95):8.1f}")  # fmt: skip
        if not args.no_browser:
            browser_figures(server.url, trace_id, args.runs)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
