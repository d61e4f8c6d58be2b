from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from typer.testing import CliRunner

from spyglass.cli import _app
from tests.evaluator.conftest import API_KEY, FakeOpenAI

ROWS = [
    {
        "question": "What is the capital of France?",
        "answer": "Paris is the capital of France.",
        "prediction": "Paris is the capital of France.",
    },
    {
        "question": "<script>alert('x')</script> Who wrote Hamlet?",
        "answer": "Shakespeare wrote Hamlet.",
        "prediction": "<script>alert('x')</script> Marlowe",
    },
]


@pytest.fixture
def qa_file(tmp_path: Path) -> Path:
    path = tmp_path / "qa.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in ROWS) + "\n", encoding="utf-8")
    return path


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(_app(), list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_passing_thresholds_exit_zero_and_write_three_reports(
    qa_file: Path, tmp_path: Path
) -> None:
    code, out, err = invoke(
        "eval",
        "run",
        "--data",
        str(qa_file),
        "--targets",
        "answer",
        "--predictions",
        "prediction",
        "-m",
        "rouge",
        "-m",
        "exact_match",
        "--min",
        "rouge1=0.5",
        "--name",
        "qa <smoke>",
        "-o",
        str(tmp_path / "result.json"),
        "--markdown",
        str(tmp_path / "r.md"),
        "--junit",
        str(tmp_path / "junit.xml"),
        "--html",
        str(tmp_path / "r.html"),
    )
    assert code == 0, err
    assert "PASS  rouge1" in out and "gates passed" in out

    suite = ET.parse(tmp_path / "junit.xml").getroot().find("testsuite")
    assert suite is not None
    assert suite.get("failures") == "0" and suite.get("tests") == "1"
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == ["min:rouge1"]
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["metric.exact_match"] == "0.5000"

    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "qa &lt;smoke&gt;" in page

    markdown = (tmp_path / "r.md").read_text(encoding="utf-8")
    assert markdown.startswith("## ✅ Spyglass evaluation: qa &lt;smoke&gt; — passed")
    assert "| rouge1 " in markdown
    saved = json.loads((tmp_path / "result.json").read_text(encoding="utf-8"))
    assert saved["dataset"]["digest"].startswith("sha256:")


def test_a_missed_threshold_exits_one_with_a_failing_junit_case(
    qa_file: Path, tmp_path: Path
) -> None:
    code, out, _ = invoke(
        "eval",
        "run",
        "--data",
        str(qa_file),
        "--targets",
        "answer",
        "--predictions",
        "prediction",
        "-m",
        "exact_match",
        "--min",
        "exact_match=0.9",
        "--max",
        "prediction_chars_mean=1000",
        "-m",
        "length",
        "--junit",
        str(tmp_path / "junit.xml"),
    )
    assert code == 1
    assert "FAIL  exact_match 0.5000 >= 0.9000" in out
    suite = ET.parse(tmp_path / "junit.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "1"
    failure = suite.find("testcase[@name='min:exact_match']/failure")
    assert failure is not None and "0.9000" in (failure.get("message") or "")


def test_a_regression_against_the_baseline_exits_one_and_tolerance_forgives_it(
    qa_file: Path, tmp_path: Path
) -> None:
    base = tmp_path / "base.json"
    args = [
        "eval",
        "run",
        "--data",
        str(qa_file),
        "--targets",
        "answer",
        "--predictions",
        "prediction",
        "-m",
        "rougeL",
    ]
    assert invoke(*args, "-o", str(base))[0] == 0
    data = json.loads(base.read_text(encoding="utf-8"))
    data["metrics"]["rougeL"] += 0.05
    base.write_text(json.dumps(data), encoding="utf-8")

    code, out, _ = invoke(*args, "--baseline", str(base), "--markdown", str(tmp_path / "r.md"))
    assert code == 1
    assert "FAIL  rougeL" in out and "vs baseline" in out
    assert "**FAIL**" in (tmp_path / "r.md").read_text(encoding="utf-8")
    assert invoke(*args, "--baseline", str(base), "--tolerance", "0.06")[0] == 0
    # compare gates a saved result without re-running it
    assert invoke("eval", "compare", str(base), "--baseline", str(base))[0] == 0


def test_a_config_file_drives_an_openai_compatible_run(
    fake_openai: FakeOpenAI, qa_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVAL_TEST_KEY", API_KEY)
    toml = tmp_path / "eval.toml"
    toml.write_text(
        f"""
[eval]
name = "qa-chat"
data = "{qa_file.name}"
targets = "answer"
input_columns = ["question"]
metrics = ["rouge1", "exact_match"]

[eval.model]
name = "fake-chat"
base_url = "{fake_openai.base_url}"
api_key_env = "EVAL_TEST_KEY"

[eval.gate]
min = {{ rouge1 = 0.3 }}

[eval.reports]
json = "out/result.json"
""",
        encoding="utf-8",
    )
    code, out, err = invoke("eval", "run", "--config", str(toml))
    assert code == 0, err + out
    result = json.loads((tmp_path / "out" / "result.json").read_text(encoding="utf-8"))
    assert result["name"] == "qa-chat"
    assert result["model"]["name"] == "fake-chat"
    # flags override the file
    assert invoke("eval", "run", "--config", str(toml), "--min", "rouge1=0.99")[0] == 1

    yaml_file = tmp_path / "eval.yaml"
    yaml_file.write_text(
        f"data: {qa_file.name}\ntargets: answer\npredictions: prediction\nmetrics: [exact_match]\n"
        "gate:\n  min: {exact_match: 0.5}\n",
        encoding="utf-8",
    )
    assert invoke("eval", "run", "-c", str(yaml_file))[0] == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            [
                "--targets",
                "answer",
                "--predictions",
                "prediction",
                "--min",
                "rougeX=0.4",
                "-m",
                "rouge",
            ],
            "--min names metric 'rougeX', which this evaluation did not compute",
        ),
        (
            ["--targets", "answer", "--predictions", "prediction", "--min", "rouge1"],
            "is not NAME=NUMBER",
        ),
        (["--targets", "nope", "--predictions", "prediction"], "no column 'nope' for targets"),
        (
            ["--targets", "answer", "--predictions", "prediction", "-m", "bluu"],
            "unknown metric 'bluu'",
        ),
        (["--targets", "answer"], "nothing to evaluate"),
        (
            ["--targets", "answer", "--predictions", "prediction", "--baseline", "missing.json"],
            "result file missing.json does not exist",
        ),
    ],
)
def test_bad_runs_exit_two_with_a_message(qa_file: Path, args: list[str], message: str) -> None:
    code, _, err = invoke("eval", "run", "--data", str(qa_file), *args)
    assert code == 2
    assert message in err


def test_a_bad_config_file_exits_two(tmp_path: Path) -> None:
    path = tmp_path / "eval.toml"
    path.write_text('data = "x.jsonl"\nmetric = ["bleu"]\n', encoding="utf-8")
    code, _, err = invoke("eval", "run", "-c", str(path))
    assert code == 2 and "unknown key(s) metric" in err


def test_the_installed_command_exits_one_on_a_failed_gate(qa_file: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "spyglass.cli",
            "eval",
            "run",
            "--data",
            str(qa_file),
            "--targets",
            "answer",
            "--predictions",
            "prediction",
            "-m",
            "exact_match",
            "--min",
            "exact_match=1",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr == ""  # no progress bar when stderr is not a terminal


def test_metric_names_are_listed() -> None:
    code, out, _ = invoke("eval", "metrics")
    assert code == 0
    assert {"bleu", "rouge", "rougeLsum", "exact_match", "token_f1", "latency"} <= set(out.split())


def test_the_progress_bar_draws_only_when_enabled() -> None:
    import io

    from spyglass.evaluator.progress import Progress

    quiet = io.StringIO()
    bar = Progress(3, "scoring", stream=quiet)  # not a TTY: off
    bar.advance(3)
    bar.close()
    assert quiet.getvalue() == ""

    shown = io.StringIO()
    bar = Progress(4, "scoring", stream=shown, enabled=True)
    bar.advance(2)
    bar.advance(2)
    bar.close()
    assert "\rscoring [" in shown.getvalue()
    assert "4/4" in shown.getvalue() and shown.getvalue().endswith("\n")


def test_a_config_file_names_the_server_and_keeps_uris_and_run_baselines_as_given(
    tmp_path: Path,
) -> None:
    from spyglass.evaluator.config import load_config

    path = tmp_path / "eval.toml"
    path.write_text(
        'data = "traces://127.0.0.1:6006/support?limit=5"\n'
        '[gate]\nbaseline = "run:abc123"\n'
        '[server]\nurl = "http://127.0.0.1:6006"\nexperiment = "qa"\nrun_name = "nightly"\n'
        "trace = false\n"
    )
    config = load_config(path)
    assert config.data == "traces://127.0.0.1:6006/support?limit=5"
    assert config.baseline == "run:abc123"
    assert (config.server, config.experiment, config.run_name, config.trace) == (
        "http://127.0.0.1:6006", "qa", "nightly", False,
    )  # fmt: skip
    path.write_text('[gate]\nbaseline = "base.json"\n')
    assert load_config(path).baseline == str(tmp_path / "base.json")
