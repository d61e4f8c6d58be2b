"""Evaluations stored on a real Spyglass server (a subprocess), read back, used as baselines.

Every test uses its own experiment/project on the module's server.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

import spyglass
from spyglass.cli import _app
from spyglass.client import TrackingClient
from spyglass.errors import ConfigError
from spyglass.evaluator import (
    EvaluationResult,
    ServerError,
    check_gates,
    dataset_from_traces,
    evaluate,
    find_latest_evaluation,
    load_dataset,
    load_evaluation,
)
from tests.conftest import ServerProcess, free_port
from tests.evaluator.conftest import API_KEY, FakeOpenAI

QA = [
    {"question": "What is the capital of France?", "answer": "Paris is the capital of France."},
    {"question": "Who wrote Hamlet?", "answer": "Shakespeare wrote Hamlet."},
    {"question": "What is 2 + 2?", "answer": "4"},
]


def answer(question: str) -> str:
    with spyglass.start_span("lookup", span_type="RETRIEVER", inputs={"q": question}) as span:
        span.set_outputs(["doc"])
    return {"What is 2 + 2?": "4"}.get(question, f"I think: {question}")


@pytest.fixture
def traced(server: ServerProcess, project: str) -> Iterator[str]:
    """The Spyglass tracer exporting to the module's server, into ``project``."""
    spyglass.configure(tracking_uri=server.url, project=project, spool_dir=False)
    yield project
    spyglass.shutdown()


@pytest.fixture
def client(server: ServerProcess) -> Iterator[TrackingClient]:
    with_client = TrackingClient(server.url)
    yield with_client
    with_client.close()


def _tags(run: dict[str, Any]) -> dict[str, str]:
    return {t["key"]: t["value"] for t in run["data"].get("tags", [])}


def _get(server: ServerProcess, endpoint: str, **params: Any) -> Any:
    response = httpx.get(server.url + endpoint, params=params, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.usefixtures("traced")
def test_a_traced_callable_is_stored_as_an_evaluation_run_and_read_back_over_rest(
    server: ServerProcess, project: str, client: TrackingClient
) -> None:
    result = evaluate(
        QA,
        model=answer,
        targets="answer",
        metrics=["rouge", "exact_match"],
        name="qa-smoke",
        log_to=server.url,
        experiment=project,
    )
    assert result.run_id and result.tracking_uri == server.url
    trace_ids = [r["trace_id"] for r in result.rows]
    assert all(isinstance(t, str) and len(t) == 32 for t in trace_ids)
    assert len(set(trace_ids)) == 3  # one trace per model call

    # The run, through the MLflow REST API.
    run = _get(server, "/api/2.0/mlflow/runs/get", run_id=result.run_id)["run"]
    assert run["info"]["status"] == "FINISHED"
    assert run["info"]["run_name"] == "qa-smoke"
    tags = _tags(run)
    assert tags["spyglass.evaluation"] == "true"
    assert tags["spyglass.dataset.name"] == "records"
    assert tags["spyglass.dataset.digest"] == result.dataset["digest"]
    assert tags["spyglass.model"] == "callable:tests.evaluator.test_server.answer"
    metrics = {m["key"]: m["value"] for m in run["data"]["metrics"]}
    assert metrics["rougeL"] == result.metrics["rougeL"]
    assert metrics["exact_match"] == pytest.approx(1 / 3)
    assert set(metrics) == set(result.metrics)
    params = {p["key"]: p["value"] for p in run["data"]["params"]}
    assert params["rouge.use_stemmer"] == "True"
    assert params["rouge.rouge-score"] == result.metric_info["rouge"]["rouge-score"]
    assert json.loads(params["rouge.rouge_types"]) == ["rouge1", "rouge2", "rougeL", "rougeLsum"]
    (dataset_input,) = run["inputs"]["dataset_inputs"]
    assert dataset_input["dataset"]["name"] == "records"
    assert dataset_input["dataset"]["digest"] == result.dataset["digest"]
    assert dataset_input["dataset"]["source_type"] == "code"
    assert json.loads(dataset_input["dataset"]["profile"]) == {"num_rows": 3}

    # The artifacts.
    listed = _get(server, "/api/2.0/mlflow/artifacts/list", run_id=result.run_id, path="eval")
    assert {f["path"] for f in listed["files"]} == {
        "eval/config.json",
        "eval/eval_results_table.json",
        "eval/dataset.jsonl",
    }
    table = json.loads(client.download_artifact(result.run_id, "eval/eval_results_table.json"))
    assert set(table) == {"columns", "data"}
    assert table["columns"][:4] == ["question", "prediction", "target", "trace_id"]
    assert [row[3] for row in table["data"]] == trace_ids
    assert [row[table["columns"].index("rougeL")] for row in table["data"]] == [
        r["rougeL"] for r in result.rows
    ]
    dataset_bytes = client.download_artifact(result.run_id, "eval/dataset.jsonl")
    assert f"sha256:{hashlib.sha256(dataset_bytes).hexdigest()}" == result.dataset["digest"]
    config = json.loads(client.download_artifact(result.run_id, "eval/config.json"))
    assert config["metric_info"]["rouge"]["use_stemmer"] is True
    assert config["higher_is_better"]["rougeL"] is True

    # Each row's trace is on the server: the evaluation's span is the root, the model's own
    # span its child.
    trace = _get(server, f"/api/traces/{trace_ids[2]}", project=project)
    by_name = {s["name"]: s for s in trace["spans"]}
    assert by_name["qa-smoke"]["parent_span_id"] is None
    assert by_name["lookup"]["parent_span_id"] == by_name["qa-smoke"]["span_id"]
    assert json.loads(by_name["qa-smoke"]["input"]) == {"question": "What is 2 + 2?"}
    assert by_name["qa-smoke"]["output"] == "4"
    assert by_name["qa-smoke"]["attributes"]["spyglass.evaluation.row"] == 2

    # Read back as a result, with its rows.
    back = load_evaluation(client, result.run_id, include_rows=True)
    assert back.metrics == result.metrics
    assert back.higher_is_better == result.higher_is_better
    assert back.rows == json.loads(json.dumps(result.rows))
    assert back.run_id == result.run_id
    assert check_gates(result, baseline=back).passed


@pytest.mark.usefixtures("traced")
def test_an_openai_compatible_model_is_compared_with_a_baseline_stored_on_the_server(
    server: ServerProcess, project: str, client: TrackingClient, fake_openai: FakeOpenAI
) -> None:
    common: dict[str, Any] = {
        "model": "fake-chat",
        "base_url": fake_openai.base_url,
        "api_key": API_KEY,
        "targets": "answer",
        "metrics": ["rouge", "token_f1"],
        "log_to": client,
        "experiment": project,
        "dataset_name": "qa",
    }
    first = evaluate(QA, **common)
    assert first.run_id
    run = client.get_run(first.run_id)
    assert _tags(run)["spyglass.model"] == f"openai-compatible:fake-chat @ {fake_openai.base_url}"
    # Each chat call is an LLM span (with its usage) under the row's trace, on the server.
    table = json.loads(client.download_artifact(first.run_id, "eval/eval_results_table.json"))
    trace_id = table["data"][0][table["columns"].index("trace_id")]
    assert trace_id == first.rows[0]["trace_id"]
    spans = _get(server, f"/api/traces/{trace_id}", project=project)["spans"]
    llm = next(s for s in spans if s["name"] == "chat fake-chat")
    assert llm["model"] == "fake-chat" and llm["output"] == "Paris is the capital of France."
    assert llm["usage"]["output"] == 6

    baseline_id = find_latest_evaluation(client, project, dataset_name="qa")
    assert baseline_id == first.run_id
    baseline = load_evaluation(client, baseline_id)
    assert baseline.metrics == first.metrics
    assert baseline.dataset["digest"] == first.dataset["digest"]

    # A different system prompt changes nothing here: the same scores pass.
    second = evaluate(QA, **common, system_prompt="Be brief.")
    assert check_gates(second, baseline=baseline).passed
    assert find_latest_evaluation(client, project, dataset_name="qa") == second.run_id
    # Worse answers regress against the stored baseline.
    worse = evaluate(QA, predictions=["no", "no", "no"], targets="answer",
                     metrics=["rouge", "token_f1"], log_to=False)  # fmt: skip
    gate = check_gates(worse, baseline=baseline, tolerance=0.01)
    assert not gate.passed
    assert {c.metric for c in gate.failures} >= {"rougeL", "token_f1"}


def test_the_real_mlflow_client_reads_an_evaluation(
    server: ServerProcess, project: str, client: TrackingClient, tmp_path: Path
) -> None:
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "true")
    mlflow = pytest.importorskip("mlflow")
    result = evaluate(
        QA, predictions=[r["answer"] for r in QA], targets="answer", metrics=["bleu"],
        log_to=client, experiment=project,
    )  # fmt: skip
    assert result.run_id
    run = mlflow.MlflowClient(tracking_uri=server.url).get_run(result.run_id)
    assert run.data.tags["spyglass.evaluation"] == "true"
    assert run.data.tags["spyglass.model"] == "predictions"
    assert run.data.metrics["bleu"] == result.metrics["bleu"]
    (dataset_input,) = run.inputs.dataset_inputs
    assert dataset_input.dataset.digest == result.dataset["digest"]
    path = mlflow.artifacts.download_artifacts(
        run_id=result.run_id,
        artifact_path="eval/eval_results_table.json",
        dst_path=str(tmp_path),
        tracking_uri=server.url,
    )
    table = json.loads(Path(path).read_text())
    assert table["columns"][:2] == ["question", "prediction"]


def test_inside_an_active_run_the_evaluation_is_logged_as_its_child(
    server: ServerProcess, project: str, client: TrackingClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPYGLASS_TRACKING_URI", server.url)
    with spyglass.start_run(experiment=project, run_name="parent") as parent:
        result = evaluate(QA, predictions="answer", targets="answer", metrics=["exact_match"])
    assert result.run_id and result.run_id != parent.run_id
    assert result.experiment_id == parent.experiment_id
    assert _tags(client.get_run(result.run_id))["mlflow.parentRunId"] == parent.run_id
    # Without an active run nothing is logged unless asked.
    assert evaluate(QA, predictions="answer", targets="answer", metrics=["length"]).run_id is None


@pytest.mark.usefixtures("traced")
def test_a_dataset_is_read_from_stored_traces_and_keeps_each_row_linked(
    server: ServerProcess, project: str
) -> None:
    for question, reply in [("Who wrote Hamlet?", "Marlowe"), ("What is 2 + 2?", "4")]:
        with spyglass.start_span("answer", inputs={"question": question}) as span:
            with spyglass.start_span("llm", span_type="LLM", inputs=question) as llm:
                llm.set_outputs({"choices": [{"message": {"content": reply}}]})
            span.set_outputs(reply)
    with spyglass.start_span(
        "chat",
        span_type="LLM",
        inputs=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Capital of France?"},
        ],
    ) as span:
        span.set_outputs({"choices": [{"message": {"role": "assistant", "content": "Paris"}}]})
    spyglass.flush()

    dataset = dataset_from_traces(server.url, project, limit=10)
    assert dataset.source_type == "spyglass-traces"
    assert [{k: v for k, v in r.items() if k != "trace_id"} for r in dataset.records] == [
        {"question": "Who wrote Hamlet?", "output": "Marlowe"},
        {"question": "What is 2 + 2?", "output": "4"},
        {"input": "Capital of France?", "output": "Paris"},
    ]
    assert dataset_from_traces(server.url, project, limit=10).digest == dataset.digest

    # The same through a traces:// URI with a filter.
    host = server.url.removeprefix("http://")
    only = load_dataset(f"traces://{host}/{project}?filter=name%20%3D%20%22answer%22&limit=5")
    assert [r["output"] for r in only.records] == ["Marlowe", "4"]
    assert only.records[0]["trace_id"] == dataset.records[0]["trace_id"]

    # Scoring the stored outputs keeps every row linked to its trace.
    scored = evaluate(only, predictions="output", metrics=["length"])
    assert [r["trace_id"] for r in scored.rows] == [r["trace_id"] for r in only.records]
    # A new model against what production answered: trace_id never reaches the model.
    seen: list[Any] = []

    def model(question: str) -> str:
        seen.append(question)
        return "4"

    spyglass.shutdown()
    rescored = evaluate(only, model=model, targets="output", metrics=["exact_match"])
    assert seen == ["Who wrote Hamlet?", "What is 2 + 2?"]
    assert rescored.metrics["exact_match"] == 0.5
    assert [r["trace_id"] for r in rescored.rows] == [r["trace_id"] for r in only.records]


def test_an_empty_trace_query_and_an_unreachable_server_are_clear_errors(
    server: ServerProcess, project: str
) -> None:
    with pytest.raises(Exception, match="is empty: no trace with a root span"):
        dataset_from_traces(server.url, project)
    dead = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ServerError, match="cannot reach the Spyglass server"):
        dataset_from_traces(dead, project)
    with pytest.raises(ServerError, match="cannot reach the Spyglass server"):
        evaluate(QA, predictions="answer", targets="answer", metrics=["length"], log_to=dead)
    with pytest.raises(ConfigError, match="unknown option"):
        load_dataset("traces://127.0.0.1:1/p?colour=red")


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(_app(), list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_the_cli_logs_to_the_server_and_gates_on_the_latest_or_a_named_run(
    server: ServerProcess, project: str, client: TrackingClient, tmp_path: Path
) -> None:
    good = tmp_path / "qa.jsonl"
    good.write_text("".join(json.dumps({**r, "pred": r["answer"]}) + "\n" for r in QA))
    bad = tmp_path / "bad" / "qa.jsonl"
    bad.parent.mkdir()
    bad.write_text("".join(json.dumps({**r, "pred": "nothing"}) + "\n" for r in QA))
    base = ["eval", "run", "--targets", "answer", "--predictions", "pred", "-m", "rouge",
            "--server", server.url, "--experiment", project]  # fmt: skip

    code, out, err = invoke(*base, "--data", str(good), "--baseline", "latest")
    assert code == 0, err
    assert "nothing to compare with" in out and "logged as run" in out
    first = find_latest_evaluation(client, project, dataset_name="qa.jsonl")
    assert first is not None
    assert _tags(client.get_run(first))["spyglass.gate"] == "passed"

    code, out, err = invoke(*base, "--data", str(bad), "--baseline", "latest",
                            "-o", str(tmp_path / "r.json"))  # fmt: skip
    assert code == 1, err
    assert "FAIL  rougeL" in out and "vs baseline 1.0000" in out
    saved = EvaluationResult.load(tmp_path / "r.json")
    assert saved.run_id is not None and saved.run_id != first
    tags = _tags(client.get_run(saved.run_id))
    assert tags["spyglass.gate"] == "failed"
    assert tags["spyglass.baseline.run_id"] == first

    code, out, err = invoke(*base, "--data", str(good), "--baseline", f"run:{first}")
    assert code == 0, err
    # compare: a stored run against another stored run, without re-running.
    code, out, err = invoke("eval", "compare", f"run:{saved.run_id}", "--baseline",
                            f"run:{first}", "--server", server.url)  # fmt: skip
    assert code == 1 and "FAIL  rouge1" in out
    # Errors: a run baseline without a server, an unknown run, an unreachable server.
    code, out, err = invoke("eval", "compare", str(tmp_path / "r.json"), "--baseline", "run:x")
    assert code == 2 and "needs a Spyglass server" in err
    code, out, err = invoke("eval", "compare", str(tmp_path / "r.json"), "--baseline",
                            "run:0123abc", "--server", server.url)  # fmt: skip
    assert code == 2 and "refused" in err
    dead = f"http://127.0.0.1:{free_port()}"
    code, out, err = invoke(*base[:-4], "--data", str(good), "--server", dead)
    assert code == 2 and "cannot reach the Spyglass server" in err


def test_the_cli_traces_each_model_call_into_the_experiments_project(
    server: ServerProcess, project: str, client: TrackingClient, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    module = f"evalmodel_{project.replace('-', '_')}"
    (tmp_path / f"{module}.py").write_text("def answer(q):\n    return 'Paris'\n")
    data = tmp_path / "qa.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in QA[:2]))
    monkeypatch.chdir(tmp_path)
    try:
        code, out, err = invoke("eval", "run", "--data", str(data), "--targets", "answer",
                                "--model-function", f"{module}:answer", "-m", "token_f1",
                                "--server", server.url, "--experiment", project,
                                "-o", str(tmp_path / "r.json"))  # fmt: skip
    finally:
        spyglass.shutdown()
    assert code == 0, err
    saved = EvaluationResult.load(tmp_path / "r.json")
    assert saved.run_id
    trace_ids = [r["trace_id"] for r in saved.rows]
    for trace_id in trace_ids:
        (root,) = _get(server, f"/api/traces/{trace_id}", project=project)["spans"]
        assert root["output"] == "Paris"
    table = json.loads(client.download_artifact(saved.run_id, "eval/eval_results_table.json"))
    assert [row[table["columns"].index("trace_id")] for row in table["data"]] == trace_ids


def test_a_registered_model_is_loaded_from_the_server_and_evaluated(
    server: ServerProcess, project: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow

    class Answers(mlflow.pyfunc.PythonModel):  # type: ignore[misc]  # mlflow is untyped here
        def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]  # noqa: ARG002
            return ["4" if "2 + 2" in str(q) else "no idea" for q in model_input]

    mlflow.set_tracking_uri(server.url)
    mlflow.set_experiment(project)
    name = f"answers-{project}"
    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(name="answers", python_model=Answers())
    mlflow.register_model(info.model_uri, name)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    result = evaluate(QA, model=f"models:/{name}/1", targets="answer",
                      metrics=["exact_match"], log_to=server.url, experiment=project)  # fmt: skip
    table = result.tables["eval_results_table"]
    assert list(table["prediction"]) == ["no idea", "no idea", "4"]
    assert result.metrics["exact_match"] == pytest.approx(1 / 3)
    assert result.model["kind"] == "registered"
    run = httpx.get(f"{server.url}/api/2.0/mlflow/runs/get", params={"run_id": result.run_id})
    tags = {t["key"]: t["value"] for t in run.json()["run"]["data"]["tags"]}
    assert tags["spyglass.model"] == f"registered:models:/{name}/1"
    with pytest.raises(ConfigError, match="cannot load"):
        evaluate(QA, model="models:/no-such-model/1", targets="answer", log_to=server.url)
