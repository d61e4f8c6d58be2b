"""The model under evaluation: a Python callable, an OpenAI-compatible chat model, or a runnable.

Each row's input is the text of its one input column, or a dict of its input columns when there
are several. A model returns text; it may also return a `ModelOutput` with token counts, a
LangChain message (``.content`` and ``.usage_metadata``) or a dict with a ``text``/``output``/
``answer``/``content`` key. Calls run in a thread pool (``concurrency``) and each is timed.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from spyglass.errors import ConfigError
from spyglass.evaluator._openai_http import ChatEndpoint
from spyglass.evaluator._tracing import RowTracer
from spyglass.evaluator.errors import ModelCallError
from spyglass.evaluator.progress import Progress

__all__ = ["ModelInput", "ModelOutput", "as_model", "predict_all"]

ModelInput = str | dict[str, Any]


@dataclass(frozen=True)
class ModelOutput:
    """A model's answer and, when known, the tokens it used."""

    text: str
    input_tokens: int | None = None
    output_tokens: int | None = None


class ModelAdapter(Protocol):
    """What the runner calls; ``predict`` must be safe to call from several threads."""

    def predict(self, model_input: ModelInput) -> ModelOutput:
        """Answer one row."""
        ...

    def describe(self) -> dict[str, Any]:
        """What was evaluated, for the result."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


def _text_from_content(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # LangChain content blocks
        return "".join(
            b if isinstance(b, str) else str(b.get("text", ""))
            for b in content
            if isinstance(b, str | dict)
        )
    return str(content)


def coerce_output(value: Any) -> ModelOutput:
    """Turn what a model returned into a `ModelOutput`.

    Raises:
        ModelCallError: the value holds no text.
    """
    if isinstance(value, ModelOutput):
        return value
    if isinstance(value, str):
        return ModelOutput(value)
    if hasattr(value, "content"):  # a LangChain message
        usage = getattr(value, "usage_metadata", None) or {}
        return ModelOutput(
            _text_from_content(value.content), usage.get("input_tokens"), usage.get("output_tokens")
        )
    if isinstance(value, dict):
        for key in ("text", "output", "answer", "content"):
            if isinstance(value.get(key), str):
                usage = value.get("usage") or {}
                return ModelOutput(
                    value[key], usage.get("input_tokens"), usage.get("output_tokens")
                )
    raise ModelCallError(
        f"the model returned {type(value).__name__} {value!r:.80}; return text, a ModelOutput, "
        "a chat message or a dict with a 'text' key"
    )


class CallableModel:
    """A Python function ``fn(model_input) -> text``."""

    def __init__(self, fn: Callable[[ModelInput], Any]) -> None:
        self.fn = fn

    def predict(self, model_input: ModelInput) -> ModelOutput:
        return coerce_output(self.fn(model_input))

    def describe(self) -> dict[str, Any]:
        name = getattr(self.fn, "__qualname__", type(self.fn).__name__)
        return {"kind": "callable", "name": f"{getattr(self.fn, '__module__', '?')}.{name}"}

    def close(self) -> None:
        pass


class RunnableModel:
    """Anything with ``.invoke(input)``: a LangChain runnable, chain or chat model."""

    def __init__(self, runnable: Any) -> None:
        self.runnable = runnable

    def predict(self, model_input: ModelInput) -> ModelOutput:
        return coerce_output(self.runnable.invoke(model_input))

    def describe(self) -> dict[str, Any]:
        return {"kind": "runnable", "name": type(self.runnable).__name__}

    def close(self) -> None:
        pass


class RegisteredModel:
    """A model from a registry (``models:/name/version``, ``models:/name@alias``), loaded with
    ``mlflow.pyfunc`` from ``registry_uri`` (a Spyglass or MLflow server)."""

    def __init__(self, uri: str, registry_uri: str | None) -> None:
        try:
            import mlflow.artifacts
            import mlflow.pyfunc
        except ImportError:
            raise ConfigError(f"evaluating {uri} needs the mlflow package") from None
        registry_uri = registry_uri or _env_uri()
        if not registry_uri:
            raise ConfigError(
                f"evaluating {uri} needs the registry's address: pass log_to=URL or set "
                "MLFLOW_TRACKING_URI"
            )
        self.uri, self.registry_uri = uri, registry_uri
        try:
            local = mlflow.artifacts.download_artifacts(artifact_uri=uri, tracking_uri=registry_uri)
            self.model = mlflow.pyfunc.load_model(local)
        except Exception as exc:  # mlflow raises many kinds; all mean "cannot load"
            raise ConfigError(f"cannot load {uri} from {registry_uri}: {exc}") from None
        self._lock = threading.Lock()  # pyfunc models are not promised to be thread-safe

    def predict(self, model_input: ModelInput) -> ModelOutput:
        batch: Any = [model_input]
        if isinstance(model_input, dict):
            import pandas as pd

            batch = pd.DataFrame([model_input])
        with self._lock:
            out = self.model.predict(batch)
        first = out.iloc[0] if hasattr(out, "iloc") else out[0]
        return coerce_output(first.item() if hasattr(first, "item") else first)

    def describe(self) -> dict[str, Any]:
        return {"kind": "registered", "name": self.uri, "registry": self.registry_uri}

    def close(self) -> None:
        pass


def _env_uri() -> str | None:
    for name in ("MLFLOW_REGISTRY_URI", "MLFLOW_TRACKING_URI", "SPYGLASS_TRACKING_URI"):
        if value := os.environ.get(name):
            return value
    return None


def render_prompt(model_input: ModelInput, template: str | None) -> str:
    """The user message for a chat model: ``template`` filled from the input, or the input."""
    values = model_input if isinstance(model_input, dict) else {"input": model_input}
    if template is not None:
        try:
            return template.format(**values)
        except (KeyError, IndexError) as exc:
            raise ConfigError(
                f"prompt template needs {exc}; inputs are {', '.join(values)}"
            ) from None
    if isinstance(model_input, str):
        return model_input
    return "\n".join(f"{k}: {v}" for k, v in model_input.items())


def _in_traced_row() -> bool:
    """True inside a row's span (see `_tracing.RowTracer`): the chat call gets a span too."""
    if "spyglass.tracer" not in sys.modules:
        return False
    from opentelemetry import trace

    return trace.get_current_span().is_recording()


class ChatModel:
    """An OpenAI-compatible chat model, by name; inside a traced row, each call is an LLM span."""

    def __init__(
        self,
        model: str,
        endpoint: ChatEndpoint,
        *,
        system_prompt: str | None = None,
        prompt_template: str | None = None,
        params: dict[str, Any] | None = None,
    ) -> None:
        self.model = model
        self.endpoint = endpoint
        self.system_prompt = system_prompt
        self.prompt_template = prompt_template
        # Reproducible by default: greedy decoding unless the caller says otherwise.
        self.params = {"temperature": 0, **(params or {})}

    def predict(self, model_input: ModelInput) -> ModelOutput:
        messages = [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []
        messages.append(
            {"role": "user", "content": render_prompt(model_input, self.prompt_template)}
        )
        if not _in_traced_row():
            answer = self.endpoint.chat(self.model, messages, self.params)
            return ModelOutput(answer.text, answer.input_tokens, answer.output_tokens)
        from spyglass.tracer import start_span

        attributes = {"gen_ai.request.model": self.model, "gen_ai.provider.name": "openai"}
        with start_span(
            f"chat {self.model}", span_type="LLM", inputs=messages, attributes=attributes
        ) as span:
            answer = self.endpoint.chat(self.model, messages, self.params)
            span.set_outputs(answer.text)
            usage = {
                "gen_ai.usage.input_tokens": answer.input_tokens,
                "gen_ai.usage.output_tokens": answer.output_tokens,
            }
            span.set_attributes({k: v for k, v in usage.items() if v is not None})
        return ModelOutput(answer.text, answer.input_tokens, answer.output_tokens)

    def describe(self) -> dict[str, Any]:
        return {
            "kind": "openai-compatible",
            "name": self.model,
            "base_url": self.endpoint.base_url,
            "params": self.params,
            "system_prompt": self.system_prompt,
            "prompt_template": self.prompt_template,
        }

    def close(self) -> None:
        self.endpoint.close()


def as_model(
    model: Any,
    *,
    base_url: str | None = None,
    api_key: str | None = None,
    system_prompt: str | None = None,
    prompt_template: str | None = None,
    model_params: dict[str, Any] | None = None,
    registry_uri: str | None = None,
) -> ModelAdapter:
    """Wrap what the user passed as ``model=``.

    Raises:
        ConfigError: a registered model that cannot be loaded, or an unusable object.
    """
    if isinstance(model, str):
        if model.startswith("models:/"):
            return RegisteredModel(model, registry_uri)
        endpoint = ChatEndpoint(base_url=base_url, api_key=api_key)
        return ChatModel(
            model,
            endpoint,
            system_prompt=system_prompt,
            prompt_template=prompt_template,
            params=model_params,
        )
    if callable(getattr(model, "invoke", None)):
        return RunnableModel(model)
    if callable(model):
        return CallableModel(model)
    raise ConfigError(
        f"cannot evaluate a {type(model).__name__}: pass a function, an "
        "OpenAI-compatible model name or an object with .invoke()"
    )


def predict_all(
    adapter: ModelAdapter,
    inputs: Sequence[ModelInput],
    *,
    concurrency: int = 4,
    progress: bool | None = None,
    tracer: RowTracer | None = None,
) -> list[tuple[ModelOutput, float]]:
    """Call the model on every input, ``concurrency`` at a time, keeping row order.

    With a ``tracer``, each call runs in a root span of its own and its trace id is kept.

    Returns:
        (output, seconds) for each row.

    Raises:
        ModelCallError: a call failed; the message names the row.
    """
    bar = Progress(len(inputs), "calling model", enabled=progress)

    def call(index: int) -> tuple[ModelOutput, float]:
        start = time.perf_counter()
        try:
            if tracer is None:
                output = adapter.predict(inputs[index])
            else:
                output = tracer.call(index, lambda: adapter.predict(inputs[index]))
        except ModelCallError as exc:
            raise ModelCallError(f"row {index}: {exc}") from exc
        except ConfigError:
            raise
        except Exception as exc:  # the user's model: say which row broke it
            raise ModelCallError(f"row {index}: the model raised {exc!r}") from exc
        finally:
            bar.advance()
        return output, time.perf_counter() - start

    try:
        if concurrency <= 1:
            return [call(i) for i in range(len(inputs))]
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            return list(pool.map(call, range(len(inputs))))
    finally:
        bar.close()
