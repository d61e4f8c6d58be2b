"""Sample experiments, runs, a registered model and two evaluations for ``spyglass server --demo``,
sent through the server's own MLflow-compatible API once it is up, so a newcomer's runs,
registry and evaluation views have something real in them. Seeded once per store.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time

import httpx
import orjson

from spyglass.client import TrackingClient

log = logging.getLogger("spyglass.server")

EXPERIMENT = "demo-experiments"
MODEL = "demo-support-bot"
QUESTIONS = [
    ("How do I reset my password?", "Open Settings, then Security, then Reset password."),
    ("Can I export my data?", "Yes: Settings, Data, Export downloads a ZIP of your data."),
    ("Which plans include SSO?", "Single sign-on is part of the Business and Enterprise plans."),
    ("How do I delete my account?", "Settings, Account, Delete account; it takes effect at once."),
    ("Is there an API rate limit?", "Yes, 600 requests per minute per API key."),
    ("Do you offer refunds?", "Refunds are available within 30 days of purchase."),
]
ANSWERS = {
    "small": [
        "Go to Settings and reset it.", "You can export data.", "SSO is in Business.",
        "Use the account page.", "There is a limit.", "Refunds within 30 days.",
    ],
    "large": [
        "Open Settings, then Security, and choose Reset password.",
        "Yes: Settings, Data, Export gives a ZIP of your data.",
        "Single sign-on comes with the Business and Enterprise plans.",
        "Settings, Account, Delete account; it happens at once.",
        "Yes, 600 requests per minute for each API key.",
        "Refunds are available for 30 days after purchase.",
    ],
}  # fmt: skip


def _overlap(a: str, b: str) -> float:
    """Token F1: a plain, dependency-free score for the sample tables."""
    ta, tb = a.lower().split(), b.lower().split()
    common = sum(min(ta.count(w), tb.count(w)) for w in set(ta))
    return 0.0 if not common else 2 * common / (len(ta) + len(tb))


def _training_runs(client: TrackingClient, experiment_id: str) -> list[str]:
    run_ids = []
    for i, lr in enumerate((0.001, 0.003, 0.01)):
        run = client.create_run(experiment_id, run_name=f"fine-tune-lr{lr}",
                                tags={"team": "support", "dataset": "tickets-v3"})  # fmt: skip
        run_id = run["info"]["run_id"]
        metrics = []
        for step in range(40):
            loss = 2.2 * math.exp(-step * lr * 9) + 0.25 + 0.03 * math.sin(step + i)
            metrics.append({"key": "train_loss", "value": round(loss, 4), "step": step})
            if step % 5 == 4:
                accuracy = 0.55 + 0.4 * (1 - math.exp(-step * lr * 6))
                metrics.append({"key": "val_accuracy", "value": round(accuracy, 4), "step": step})
        params = {"learning_rate": lr, "epochs": 40, "base_model": "gpt-4o-mini"}
        client.log_batch(run_id, metrics=metrics, params=params)
        client.put_artifact(
            run_id, "model/README.md", f"Demo model trained with lr={lr}\n".encode()
        )
        client.end_run(run_id)
        run_ids.append(run_id)
    return run_ids


def _evaluation(client: TrackingClient, experiment_id: str, variant: str) -> None:
    rows = [{"question": q, "answer": a} for q, a in QUESTIONS]
    dataset = b"".join(orjson.dumps(r) + b"\n" for r in rows)
    digest = hashlib.sha256(dataset).hexdigest()
    predictions = ANSWERS[variant]
    scores = [_overlap(p, r["answer"]) for p, r in zip(predictions, rows, strict=True)]
    exact = [float(p == r["answer"]) for p, r in zip(predictions, rows, strict=True)]
    run = client.create_run(experiment_id, run_name=f"eval-{variant}", tags={
        "spyglass.evaluation": "true", "spyglass.dataset.name": "support-faq",
        "spyglass.dataset.digest": digest, "spyglass.model": f"demo:{variant}"})  # fmt: skip
    run_id = run["info"]["run_id"]
    table = {
        "columns": ["question", "answer", "prediction", "token_f1", "exact_match"],
        "data": [[r["question"], r["answer"], p, round(s, 4), e]
                 for r, p, s, e in zip(rows, predictions, scores, exact, strict=True)],
    }  # fmt: skip
    client.put_artifact(run_id, "eval/eval_results_table.json", orjson.dumps(table))
    client.put_artifact(run_id, "eval/dataset.jsonl", dataset)
    client.log_input(run_id, "support-faq", digest, source="demo")
    client.log_batch(run_id, metrics=[
        {"key": "token_f1", "value": round(sum(scores) / len(scores), 4)},
        {"key": "exact_match", "value": sum(exact) / len(exact)}])  # fmt: skip
    client.end_run(run_id)


def seed_tracking(url: str, timeout_s: float = 60.0) -> bool:
    """Wait for the server at ``url``, then seed it unless the demo experiment has runs."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    client = TrackingClient(url, user="demo")
    try:
        experiment_id = client.get_or_create_experiment(EXPERIMENT)
        runs, _ = client.search_runs([experiment_id], max_results=1)
        if runs:
            return False
        run_ids = _training_runs(client, experiment_id)
        client.create_registered_model(MODEL, description="Answers support questions (demo)")
        for run_id in run_ids[1:]:
            version = client.create_model_version(MODEL, f"runs:/{run_id}/model", run_id)
        client.set_alias(MODEL, "champion", version["version"])
        for variant in ("small", "large"):
            _evaluation(client, experiment_id, variant)
    finally:
        client.close()
    log.info("loaded demo experiments, a registered model and evaluations")
    return True
