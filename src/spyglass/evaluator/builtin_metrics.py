"""The built-in metrics: BLEU, ROUGE, exact match, token F1, length, latency and token usage.

Each records its configuration and the versions of the libraries that computed it, so a score
can be reproduced: ``result.metric_info["bleu"]``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from spyglass.evaluator import _bleu, _rouge
from spyglass.evaluator._tokenize import TOKENIZERS, normalize_answer
from spyglass.evaluator.errors import MetricError
from spyglass.evaluator.metrics import Batch, ChunkMap, MetricResult, mean, register_metric

__all__ = ["BleuMetric", "RougeMetric", "bleu", "exact_match", "rouge", "token_f1"]


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _targets(batch: Batch, name: str) -> list[list[str]]:
    if batch.targets is None:
        raise MetricError(f"metric {name!r} compares with targets; pass targets=")
    return batch.targets


class BleuMetric:
    """Sentence BLEU per row (column ``bleu``), its mean and corpus BLEU (``bleu_corpus``)."""

    needs_targets = True

    def __init__(self, config: _bleu.BleuConfig, name: str = "bleu") -> None:
        self.name = name
        self.config = config

    def compute(self, batch: Batch, chunk_map: ChunkMap) -> MetricResult:
        targets = _targets(batch, self.name)
        scored = chunk_map(_bleu.score_chunk, self.config, batch.predictions, targets)
        scores = [s for s, _ in scored]
        corpus = _bleu.corpus_score(
            self.config, [st for _, st in scored], batch.predictions[-1], targets[-1]
        )
        info = {**self.config.describe(), "nltk": _version("nltk")}
        aggregates = {self.name: mean(scores), f"{self.name}_corpus": corpus}
        return MetricResult(
            columns={self.name: scores},
            aggregates=aggregates,
            info=info,
            higher_is_better=dict.fromkeys(aggregates, True),
        )


def bleu(
    *,
    max_order: int = 4,
    smoothing: str = "method1",
    epsilon: float = 0.1,
    tokenizer: str = "wordpunct",
    lowercase: bool = False,
) -> BleuMetric:
    """BLEU via nltk: uniform weights up to ``max_order``, Chen & Cherry ``smoothing``.

    Args:
        max_order: longest n-gram (BLEU-4 by default).
        smoothing: ``method0`` (none) … ``method7`` of nltk's ``SmoothingFunction``
            (``method6`` is not offered: nltk asserts in it on rows without bigram matches).
        epsilon: the count added by ``method1``.
        tokenizer: ``wordpunct`` (default), ``nltk`` (``NLTKWordTokenizer``) or ``whitespace``.
        lowercase: lowercase before tokenizing.

    Raises:
        MetricError: an unknown smoothing or tokenizer.
    """
    if smoothing not in _bleu.SMOOTHINGS:
        raise MetricError(
            f"bleu: unknown smoothing {smoothing!r}; choose one of {', '.join(_bleu.SMOOTHINGS)}"
        )
    if tokenizer not in TOKENIZERS:
        raise MetricError(
            f"bleu: unknown tokenizer {tokenizer!r}; choose one of {', '.join(TOKENIZERS)}"
        )
    if not 1 <= max_order <= 10:
        raise MetricError("bleu: max_order must be between 1 and 10")
    config = _bleu.BleuConfig(max_order, smoothing, epsilon, tokenizer, lowercase)  # type: ignore[arg-type]
    return BleuMetric(config)


class RougeMetric:
    """ROUGE F-measures per row, one column per type, and their means."""

    needs_targets = True

    def __init__(self, config: _rouge.RougeConfig, name: str = "rouge") -> None:
        self.name = name
        self.config = config

    def compute(self, batch: Batch, chunk_map: ChunkMap) -> MetricResult:
        targets = _targets(batch, self.name)
        scored = chunk_map(_rouge.score_chunk, self.config, batch.predictions, targets)
        columns = {t: [row[t] for row in scored] for t in self.config.rouge_types}
        info = {
            **self.config.describe(),
            "rouge-score": _version("rouge-score"),
            "nltk": _version("nltk"),
        }
        return MetricResult(
            columns=columns,
            aggregates={t: mean(v) for t, v in columns.items()},
            info=info,
            higher_is_better=dict.fromkeys(columns, True),
        )


def rouge(
    *, rouge_types: Sequence[str] = _rouge.ROUGE_TYPES, use_stemmer: bool = True
) -> RougeMetric:
    """ROUGE-1/2/L/Lsum F-measures as rouge-score computes them (Porter stemming on by default).

    Raises:
        MetricError: an unknown ROUGE type.
    """
    types = tuple(rouge_types)
    bad = [t for t in types if t not in ("rougeL", "rougeLsum") and not t[5:].isdigit()]
    if bad or not types or any(not t.startswith("rouge") for t in types):
        raise MetricError(
            f"rouge: unknown type(s) {types!r}; use rouge1..rouge9, rougeL, rougeLsum"
        )
    name = types[0] if len(types) == 1 else "rouge"
    return RougeMetric(_rouge.RougeConfig(types, use_stemmer), name=name)


def _token_f1(prediction: str, target: str) -> float:
    pred = normalize_answer(prediction).split()
    gold = normalize_answer(target).split()
    if not pred or not gold:
        return float(pred == gold)
    common = sum((Counter(pred) & Counter(gold)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(gold)
    return 2 * precision * recall / (precision + recall)


@dataclass
class _AnswerMetric:
    name: str
    description: str
    needs_targets: bool = True

    def score(self, prediction: str, target: str) -> float:
        if self.name == "exact_match":
            return float(normalize_answer(prediction) == normalize_answer(target))
        return _token_f1(prediction, target)

    def compute(self, batch: Batch, chunk_map: ChunkMap) -> MetricResult:  # noqa: ARG002
        targets = _targets(batch, self.name)
        values = [
            max(self.score(p, t) for t in ts)
            for p, ts in zip(batch.predictions, targets, strict=True)
        ]
        return MetricResult(
            columns={self.name: values},
            aggregates={self.name: mean(values)},
            info={
                "implementation": self.description,
                "normalization": "SQuAD: lowercase, strip punctuation and a/an/the, squeeze spaces",
                "multi_reference": "best over references",
            },
            higher_is_better={self.name: True},
        )


def exact_match() -> _AnswerMetric:
    """1.0 when the normalized prediction equals a normalized target, else 0.0."""
    return _AnswerMetric("exact_match", "SQuAD v1.1 exact match")


def token_f1() -> _AnswerMetric:
    """SQuAD token-overlap F1 between normalized prediction and target."""
    return _AnswerMetric("token_f1", "SQuAD v1.1 token F1")


class LengthMetric:
    """Characters and whitespace-separated words of each prediction."""

    name = "length"
    needs_targets = False

    def compute(self, batch: Batch, chunk_map: ChunkMap) -> MetricResult:  # noqa: ARG002
        chars = [float(len(p)) for p in batch.predictions]
        words = [float(len(p.split())) for p in batch.predictions]
        return MetricResult(
            columns={"prediction_chars": chars, "prediction_words": words},
            aggregates={"prediction_chars_mean": mean(chars), "prediction_words_mean": mean(words)},
            info={"implementation": "len(prediction); len(prediction.split())"},
            higher_is_better={"prediction_chars_mean": None, "prediction_words_mean": None},
        )


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolation percentile (numpy's default), ``q`` in [0, 100]."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


class LatencyMetric:
    """Wall time of each model call, in seconds."""

    name = "latency"
    needs_targets = False

    def compute(self, batch: Batch, chunk_map: ChunkMap) -> MetricResult:  # noqa: ARG002
        if batch.latencies is None:
            raise MetricError("metric 'latency' needs a model to call; predictions were given")
        values = batch.latencies
        aggregates = {
            "latency_mean_s": mean(values),
            "latency_p50_s": percentile(values, 50),
            "latency_p95_s": percentile(values, 95),
            "latency_max_s": max(values),
        }
        return MetricResult(
            columns={"latency_s": list(values)},
            aggregates=aggregates,
            info={
                "implementation": "time.perf_counter() around each model call",
                "percentiles": "linear interpolation",
            },
            higher_is_better=dict.fromkeys(aggregates, False),
        )


class TokenUsageMetric:
    """Input/output tokens the model reported for each call (empty when it reports none)."""

    name = "token_usage"
    needs_targets = False

    def compute(self, batch: Batch, chunk_map: ChunkMap) -> MetricResult:  # noqa: ARG002
        if batch.usage is None:
            raise MetricError("metric 'token_usage' needs a model to call; predictions were given")
        inputs = [u.input_tokens for u in batch.usage]
        outputs = [u.output_tokens for u in batch.usage]
        totals = [
            None if a is None and b is None else (a or 0) + (b or 0)
            for a, b in zip(inputs, outputs, strict=True)
        ]
        aggregates: dict[str, float] = {}
        for key, column in (
            ("input_tokens", inputs),
            ("output_tokens", outputs),
            ("total_tokens", totals),
        ):
            present = [v for v in column if v is not None]
            if present:
                aggregates[f"{key}_sum"] = float(sum(present))
                aggregates[f"{key}_mean"] = sum(present) / len(present)
        return MetricResult(
            columns={"input_tokens": inputs, "output_tokens": outputs, "total_tokens": totals},
            aggregates=aggregates,
            info={
                "implementation": "as reported by the model: OpenAI usage, LangChain usage_metadata"
            },
            higher_is_better=dict.fromkeys(aggregates, False),
        )


def _rouge_type(rouge_type: str) -> Any:
    return lambda use_stemmer=True: rouge(rouge_types=(rouge_type,), use_stemmer=use_stemmer)


register_metric("bleu", bleu)
register_metric("rouge", rouge)
for _type in _rouge.ROUGE_TYPES:
    register_metric(_type, _rouge_type(_type))
register_metric("exact_match", exact_match)
register_metric("token_f1", token_f1)
register_metric("length", LengthMetric)
register_metric("latency", LatencyMetric)
register_metric("token_usage", TokenUsageMetric)
