"""``spyglass eval``: run an evaluation, gate it, and write reports.

Exit codes: 0 all gates passed; 1 a threshold or a regression failed; 2 the evaluation could
not run (bad config, bad data, unknown metric, model errors). Importing this module loads
only Typer; the evaluator loads when a command runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from spyglass.client import TrackingClient
    from spyglass.evaluator.config import EvalConfig
    from spyglass.evaluator.datasets import Dataset
    from spyglass.evaluator.gate import GateReport
    from spyglass.evaluator.result import EvaluationResult

EXIT_GATE_FAILED = 1
EXIT_ERROR = 2

MinOpt = Annotated[
    list[str] | None, typer.Option("--min", help="Lowest value: METRIC=NUMBER (repeatable)")
]
MaxOpt = Annotated[
    list[str] | None, typer.Option("--max", help="Highest value: METRIC=NUMBER (repeatable)")
]
BaselineOpt = Annotated[
    str | None,
    typer.Option(
        help="A previous result to compare with: a result JSON file, run:<RUN_ID> (an "
        "evaluation on --server), or latest (the newest on the same dataset in --experiment)"
    ),
]
ServerOpt = Annotated[
    str | None,
    typer.Option(help="Spyglass server URL: store the evaluation there, read run: baselines"),
]
ExperimentOpt = Annotated[
    str | None, typer.Option(help="Experiment to log into and to find 'latest' in")
]
ToleranceOpt = Annotated[
    float | None, typer.Option(help="Allowed drop versus the baseline (absolute)")
]
MarkdownOpt = Annotated[Path | None, typer.Option(help="Write a Markdown report (PR comment)")]
JunitOpt = Annotated[Path | None, typer.Option(help="Write a JUnit XML report")]
HtmlOpt = Annotated[Path | None, typer.Option(help="Write an HTML report")]


def _summary(result: EvaluationResult, gate: GateReport) -> str:
    lines = [f"{name:<28} {value:.4f}" for name, value in result.metrics.items()]
    lines.append(
        f"dataset {result.dataset.get('name')} ({result.dataset.get('rows')} rows) "
        f"{result.dataset.get('digest')}"
    )
    for check in gate.checks:
        lines.append(f"{'PASS' if check.passed else 'FAIL'}  {check.description}")
    lines += [f"note: {n}" for n in gate.notes]
    if gate.checks:
        lines.append(
            "gates passed"
            if gate.passed
            else f"gates FAILED: {len(gate.failures)} of {len(gate.checks)}"
        )
    return "\n".join(lines)


def _write_reports(result: EvaluationResult, gate: GateReport, config: EvalConfig) -> None:
    from spyglass.evaluator.report import to_html, to_junit_xml, to_markdown

    for path in (config.json, config.markdown, config.junit, config.html):
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    if config.json:
        result.save(config.json)
    for path, render in (
        (config.markdown, to_markdown),
        (config.junit, to_junit_xml),
        (config.html, to_html),
    ):
        if path:
            Path(path).write_text(render(result, gate), encoding="utf-8")


def _client(config: EvalConfig, what: str) -> TrackingClient:
    from spyglass.client import TrackingClient
    from spyglass.errors import ConfigError

    if not config.server:
        raise ConfigError(f"{what} needs a Spyglass server: pass --server URL")
    return TrackingClient(config.server)


def _baseline(
    config: EvalConfig, result: EvaluationResult
) -> tuple[EvaluationResult | None, str | None]:
    """The baseline named by ``config.baseline``, and a note when there is none yet."""
    from spyglass.evaluator.result import EvaluationResult as Result
    from spyglass.evaluator.tracking import find_latest_evaluation, load_evaluation

    spec = config.baseline
    if not spec:
        return None, None
    if spec != "latest" and not spec.startswith("run:"):
        return Result.load(spec), None
    client = _client(config, f"--baseline {spec}")
    try:
        if spec.startswith("run:"):
            return load_evaluation(client, spec[4:]), None
        experiment = config.experiment or "default"
        dataset_name = str(result.dataset.get("name", ""))
        run_id = find_latest_evaluation(client, experiment, dataset_name=dataset_name)
        if run_id is None:
            return None, (
                f"no earlier evaluation of dataset {dataset_name!r} in experiment "
                f"{experiment!r}: nothing to compare with"
            )
        return load_evaluation(client, run_id), None
    finally:
        client.close()


def _log(
    result: EvaluationResult,
    gate: GateReport,
    baseline: EvaluationResult | None,
    config: EvalConfig,
    dataset: Dataset | None,
) -> None:
    from spyglass.evaluator.tracking import log_evaluation

    tags = {"spyglass.gate": "passed" if gate.passed else "failed"}
    if baseline is not None and baseline.run_id:
        tags["spyglass.baseline.run_id"] = baseline.run_id
    client = _client(config, "logging")
    try:
        log_evaluation(
            result,
            client,
            experiment=config.experiment,
            run_name=config.run_name or result.name,
            dataset=dataset,
            tags=tags,
        )
    finally:
        client.close()


def _gate_and_report(
    result: EvaluationResult,
    config: EvalConfig,
    *,
    log: bool = False,
    dataset: Dataset | None = None,
) -> None:
    from spyglass.evaluator.gate import GateReport, check_gates

    baseline, note = _baseline(config, result)
    gate = check_gates(
        result,
        min=config.min,
        max=config.max,
        baseline=baseline,
        tolerance=config.tolerance,
        compare=config.compare,
    )
    if note:
        gate = GateReport(gate.checks, (*gate.notes, note))
    if log and config.server:
        _log(result, gate, baseline, config, dataset)
    _write_reports(result, gate, config)
    typer.echo(_summary(result, gate))
    if result.run_id and log:
        typer.echo(
            f"logged as run {result.run_id} (experiment {result.experiment_id}) at "
            f"{result.tracking_uri}"
        )
    if not gate.passed:
        raise typer.Exit(EXIT_GATE_FAILED)


def _run(config: EvalConfig, progress: bool | None) -> tuple[EvaluationResult, Dataset]:
    from spyglass.errors import ConfigError
    from spyglass.evaluator.config import load_function
    from spyglass.evaluator.datasets import load_dataset
    from spyglass.evaluator.runner import evaluate

    if config.data is None:
        raise ConfigError("no data: pass --data or set data in the config file")
    if config.model_name and config.model_function:
        raise ConfigError("set a model name or a model function, not both")
    model: Any = config.model_name or (
        load_function(config.model_function) if config.model_function else None
    )
    if model is None and config.predictions is None:
        raise ConfigError(
            "nothing to evaluate: give a model (--model/--model-function) or --predictions"
        )
    dataset = load_dataset(config.data)
    trace = bool(config.server) and model is not None and config.trace is not False
    if trace:
        from spyglass.tracer import configure

        assert config.server is not None
        configure(tracking_uri=config.server, project=config.experiment or "default")
    result = evaluate(
        dataset,
        model=model,
        predictions=config.predictions if model is None else None,
        targets=config.targets,
        model_type=config.model_type,
        metrics=config.metrics,
        metric_options=config.metric_options,
        input_columns=config.input_columns,
        name=config.name,
        base_url=config.base_url,
        api_key=config.api_key(),
        system_prompt=config.system_prompt,
        prompt_template=config.prompt_template,
        model_params=config.model_params,
        concurrency=config.concurrency,
        workers=config.workers,
        progress=progress,
        log_to=False,  # logged after gating, with the outcome (see _gate_and_report)
        trace=trace,
    )
    return result, dataset


def _guarded(action: Any) -> None:
    """Run ``action``; Spyglass errors become a message and exit code 2."""
    from spyglass.errors import SpyglassError

    try:
        action()
    except SpyglassError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_ERROR) from None


def eval_app() -> typer.Typer:
    """The ``spyglass eval`` command group."""
    app = typer.Typer(
        help="Evaluate models and predictions; gate CI on the scores.", no_args_is_help=True
    )

    @app.command("run")
    def run(
        config_file: Annotated[
            Path | None, typer.Option("--config", "-c", help="TOML or YAML settings")
        ] = None,
        data: Annotated[str | None, typer.Option(help="Dataset: .jsonl, .json or .csv")] = None,
        targets: Annotated[str | None, typer.Option(help="Column with the expected text")] = None,
        predictions: Annotated[
            str | None, typer.Option(help="Column with ready-made predictions")
        ] = None,
        model: Annotated[str | None, typer.Option(help="OpenAI-compatible chat model name")] = None,
        model_function: Annotated[
            str | None, typer.Option(help="Python model: MODULE:FUNCTION")
        ] = None,
        base_url: Annotated[
            str | None, typer.Option(help="Chat endpoint (else OPENAI_BASE_URL)")
        ] = None,
        model_type: Annotated[
            str | None,
            typer.Option(help="question-answering, text-summarization, translation, text"),
        ] = None,
        metric: Annotated[
            list[str] | None, typer.Option("--metric", "-m", help="Metric name (repeatable)")
        ] = None,
        min_: MinOpt = None,
        max_: MaxOpt = None,
        baseline: BaselineOpt = None,
        tolerance: ToleranceOpt = None,
        output: Annotated[
            Path | None, typer.Option("--output", "-o", help="Write the result JSON")
        ] = None,
        markdown: MarkdownOpt = None,
        junit: JunitOpt = None,
        html: HtmlOpt = None,
        name: Annotated[str | None, typer.Option(help="Name of the evaluation in reports")] = None,
        server: ServerOpt = None,
        experiment: ExperimentOpt = None,
        run_name: Annotated[
            str | None, typer.Option(help="Name of the run on the server (default: --name)")
        ] = None,
        trace: Annotated[
            bool | None,
            typer.Option(
                "--trace/--no-trace",
                help="Trace each model call to --server, project --experiment (default: on)",
            ),
        ] = None,
        workers: Annotated[int | None, typer.Option(min=1, help="Processes for BLEU/ROUGE")] = None,
        progress: Annotated[
            bool | None,
            typer.Option("--progress/--no-progress", help="Progress bars (default: on a TTY)"),
        ] = None,
    ) -> None:
        """Evaluate a dataset; exit 1 if a threshold or the baseline comparison fails."""

        def action() -> None:
            from spyglass.evaluator.config import EvalConfig, load_config
            from spyglass.evaluator.gate import parse_thresholds

            config = load_config(config_file) if config_file else EvalConfig()
            config = config.override(
                data=data,
                targets=targets,
                predictions=predictions,
                model_name=model,
                model_function=model_function,
                base_url=base_url,
                model_type=model_type,
                metrics=metric,
                min=parse_thresholds(min_ or []),
                max=parse_thresholds(max_ or []),
                baseline=baseline,
                tolerance=tolerance,
                json=str(output) if output else None,
                markdown=str(markdown) if markdown else None,
                junit=str(junit) if junit else None,
                html=str(html) if html else None,
                name=name,
                workers=workers,
                server=server,
                experiment=experiment,
                run_name=run_name,
                trace=trace,
            )
            result, dataset = _run(config, progress)
            _gate_and_report(result, config, log=True, dataset=dataset)

        _guarded(action)

    @app.command("compare")
    def compare(
        result_file: Annotated[
            str, typer.Argument(help="A result JSON (spyglass eval run -o), or run:<RUN_ID>")
        ],
        baseline: BaselineOpt = None,
        server: ServerOpt = None,
        experiment: ExperimentOpt = None,
        min_: MinOpt = None,
        max_: MaxOpt = None,
        tolerance: ToleranceOpt = None,
        markdown: MarkdownOpt = None,
        junit: JunitOpt = None,
        html: HtmlOpt = None,
    ) -> None:
        """Gate a saved result against thresholds and a baseline, without re-running it."""

        def action() -> None:
            from spyglass.evaluator.config import EvalConfig
            from spyglass.evaluator.gate import parse_thresholds
            from spyglass.evaluator.result import EvaluationResult as Result

            config = EvalConfig().override(
                min=parse_thresholds(min_ or []),
                max=parse_thresholds(max_ or []),
                baseline=baseline,
                tolerance=tolerance,
                markdown=str(markdown) if markdown else None,
                junit=str(junit) if junit else None,
                html=str(html) if html else None,
                server=server,
                experiment=experiment,
            )
            if result_file.startswith("run:"):
                from spyglass.evaluator.tracking import load_evaluation

                client = _client(config, result_file)
                try:
                    result = load_evaluation(client, result_file[4:], include_rows=True)
                finally:
                    client.close()
            else:
                result = Result.load(result_file)
            _gate_and_report(result, config)

        _guarded(action)

    @app.command("metrics")
    def list_metrics() -> None:
        """List the metric names that --metric accepts (built-ins and plugins)."""

        def action() -> None:
            from spyglass.evaluator.metrics import available_metrics

            typer.echo("\n".join(available_metrics()))

        _guarded(action)

    return app
