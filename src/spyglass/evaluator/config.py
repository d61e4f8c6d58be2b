"""``spyglass eval run`` settings from a TOML or YAML file, overridden by command-line flags.

A file holds the keys at its top level, under ``[eval]``, or (in ``pyproject.toml``) under
``[tool.spyglass.eval]``::

    name = "qa-smoke"
    data = "qa.jsonl"                 # paths are relative to this file
    targets = "answer"
    model_type = "question-answering"
    metrics = ["exact_match", "token_f1", "rougeL"]

    [model]                           # or: predictions = "column"
    name = "gpt-4o-mini"              # an OpenAI-compatible chat model; or function = "pkg.mod:fn"
    base_url = "http://localhost:8000/v1"
    api_key_env = "OPENAI_API_KEY"    # keys come from the environment, never from the file

    [gate]
    min = { rougeL = 0.4 }
    baseline = "baseline.json"
    tolerance = 0.01

    [reports]
    json = "result.json"
    markdown = "report.md"
    junit = "junit.xml"
    html = "report.html"

    [server]                          # store the evaluation on a Spyglass server
    url = "http://127.0.0.1:6006"
    experiment = "qa"                 # baseline = "latest" or "run:<id>" reads from here
    trace = true                      # default: trace model calls into project = experiment
"""

from __future__ import annotations

import importlib
import os
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from spyglass.errors import ConfigError

__all__ = ["EvalConfig", "is_server_baseline", "load_config", "load_function"]

_SECTIONS = {
    "model": {
        "name",
        "function",
        "base_url",
        "api_key_env",
        "system_prompt",
        "prompt_template",
        "params",
        "concurrency",
    },
    "gate": {"min", "max", "baseline", "tolerance", "compare"},
    "reports": {"json", "markdown", "junit", "html"},
    "server": {"url", "experiment", "run_name", "trace"},
}
_TOP = {
    "name",
    "data",
    "targets",
    "predictions",
    "input_columns",
    "model_type",
    "metrics",
    "metric_options",
    "workers",
    *_SECTIONS,
}
_MODEL_KEYS = {"name": "model_name", "function": "model_function", "params": "model_params"}
_SERVER_KEYS = {"url": "server"}
_PATHS = {"data", "baseline", "json", "markdown", "junit", "html"}


@dataclass
class EvalConfig:
    """Everything ``spyglass eval run`` needs; fields left ``None`` fall back to defaults."""

    name: str = "evaluation"
    data: str | None = None
    targets: str | None = None
    predictions: str | None = None
    input_columns: list[str] | None = None
    model_type: str | None = None
    metrics: list[str] | None = None
    metric_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    workers: int | None = None
    model_name: str | None = None
    model_function: str | None = None
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    system_prompt: str | None = None
    prompt_template: str | None = None
    model_params: dict[str, Any] = field(default_factory=dict)
    concurrency: int = 4
    min: dict[str, float] = field(default_factory=dict)
    max: dict[str, float] = field(default_factory=dict)
    baseline: str | None = None
    tolerance: float | dict[str, float] = 0.0
    compare: list[str] | None = None
    json: str | None = None
    markdown: str | None = None
    junit: str | None = None
    html: str | None = None
    server: str | None = None
    experiment: str | None = None
    run_name: str | None = None
    trace: bool | None = None

    def override(self, **flags: Any) -> EvalConfig:
        """A copy with every flag that is not ``None`` (or empty) replacing the file's value."""
        names = {f.name for f in fields(self)}
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        for key, value in flags.items():
            if key not in names:
                raise ConfigError(f"unknown setting {key!r}")
            if value is None or value == [] or value == {}:
                continue
            if key in ("min", "max") and isinstance(value, dict):
                value = {**values[key], **value}
            values[key] = value
        return EvalConfig(**values)

    def api_key(self) -> str | None:
        """The key from the environment variable ``api_key_env``."""
        return os.environ.get(self.api_key_env)


def _read(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    if path.suffix.lower() == ".toml":
        if sys.version_info >= (3, 11):
            import tomllib
        else:  # pragma: no cover
            import tomli as tomllib
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml

        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: invalid YAML: {exc}") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: expected a mapping at the top level")
        return loaded
    raise ConfigError(f"config file {path} must end in .toml, .yaml or .yml")


def _section(raw: dict[str, Any]) -> dict[str, Any]:
    tool = raw.get("tool")
    if (
        isinstance(tool, dict)
        and isinstance(tool.get("spyglass"), dict)
        and "eval" in tool["spyglass"]
    ):
        raw = tool["spyglass"]["eval"]
    elif isinstance(raw.get("eval"), dict):
        raw = raw["eval"]
    if not isinstance(raw, dict):
        raise ConfigError("the eval settings must be a table/mapping")
    return raw


def load_config(path: str | Path) -> EvalConfig:
    """Read settings from a TOML or YAML file; relative paths resolve against the file.

    Raises:
        ConfigError: unreadable file, unknown keys, or wrong types.
    """
    path = Path(path)
    raw = _section(_read(path))
    unknown = set(raw) - _TOP
    if unknown:
        raise ConfigError(
            f"{path}: unknown key(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(_TOP))}"
        )
    flat: dict[str, Any] = {k: v for k, v in raw.items() if k not in _SECTIONS}
    for section, keys in _SECTIONS.items():
        table = raw.get(section) or {}
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: [{section}] must be a table")
        bad = set(table) - keys
        if bad:
            raise ConfigError(f"{path}: unknown key(s) in [{section}]: {', '.join(sorted(bad))}")
        for key, value in table.items():
            renames = {"model": _MODEL_KEYS, "server": _SERVER_KEYS}.get(section, {})
            renamed = renames.get(key, key)
            flat[str(renamed)] = value
    for key in _PATHS & set(flat):
        value = flat[key]
        if isinstance(value, str) and not is_server_baseline(value) and "://" not in value:
            flat[key] = (
                str((path.parent / flat[key]).resolve())
                if not Path(flat[key]).is_absolute()
                else flat[key]
            )
    try:
        return EvalConfig(**flat)
    except TypeError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def is_server_baseline(spec: str) -> bool:
    """``run:<run_id>`` or ``latest``: a baseline stored on the server, not a file."""
    return spec.startswith("run:") or spec == "latest"


def load_function(spec: str) -> Any:
    """Import ``package.module:function`` (the current directory is importable).

    Raises:
        ConfigError: not ``module:attribute``, or the import failed.
    """
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise ConfigError(f"model function {spec!r} is not MODULE:FUNCTION")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        obj: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"cannot load model function {spec!r}: {exc}") from None
    return obj
