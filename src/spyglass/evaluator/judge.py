"""LLM-as-judge: a metric that asks any OpenAI-compatible chat model to grade each answer.

The judge sees the question (the row's inputs), the answer, and the reference when there is
one, and must reply with JSON ``{"score": 1-5, "reason": "..."}``. The per-row column
``<name>`` is the score scaled to 0–1 ((score − 1) / 4); ``<name>_reason`` keeps the reason.
The prompt, judge model, endpoint and parameters are recorded with the scores.
"""

from __future__ import annotations

import hashlib
import json
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from spyglass.evaluator._openai_http import ChatEndpoint
from spyglass.evaluator.errors import MetricError, ModelCallError
from spyglass.evaluator.metrics import Batch, ChunkMap, MetricResult, mean

__all__ = ["DEFAULT_CRITERIA", "LlmJudge", "llm_judge"]

DEFAULT_CRITERIA = "Is the answer correct, complete and faithful to the reference (if given)?"
SYSTEM_PROMPT = (
    "You are a strict grader. Grade the answer against the criteria on a scale of 1 (bad) to "
    '5 (excellent). Reply with JSON only: {"score": <1-5>, "reason": "<one sentence>"}.'
)
_SCORE = re.compile(r'"score"\s*:\s*([1-5])|\b([1-5])\b')


def _user_prompt(
    criteria: str, inputs: dict[str, Any], prediction: str, targets: list[str] | None
) -> str:
    parts = [
        f"Criteria: {criteria}",
        "",
        "Question:",
        json.dumps(inputs, ensure_ascii=False),
        "",
        "Answer:",
        prediction,
    ]
    if targets:
        parts += ["", "Reference:", "\n".join(targets)]
    return "\n".join(parts)


def parse_grade(text: str) -> tuple[int, str]:
    """The 1–5 score and the reason from a judge's reply.

    Raises:
        ValueError: no score in the reply.
    """
    try:
        payload = json.loads(text)
        score = int(payload["score"])
        if 1 <= score <= 5:
            return score, str(payload.get("reason", ""))
    except (ValueError, KeyError, TypeError):
        pass
    match = _SCORE.search(text)
    if match is None:
        raise ValueError(f"no 1-5 score in the judge's reply {text[:120]!r}")
    return int(match.group(1) or match.group(2)), text.strip()


class LlmJudge:
    """A metric that grades with a chat model; see `llm_judge`."""

    needs_targets = False

    def __init__(
        self,
        name: str,
        model: str,
        endpoint: ChatEndpoint,
        criteria: str,
        concurrency: int,
        params: dict[str, Any],
    ) -> None:
        self.name = name
        self.model = model
        self.endpoint = endpoint
        self.criteria = criteria
        self.concurrency = concurrency
        self.params = {"temperature": 0, **params}

    def _grade(self, batch: Batch, i: int) -> tuple[float, str]:
        targets = batch.targets[i] if batch.targets is not None else None
        messages = [
            {"role": "system", "content": SYSTEM_PROMPT},
            {
                "role": "user",
                "content": _user_prompt(
                    self.criteria, batch.inputs[i], batch.predictions[i], targets
                ),
            },
        ]
        try:
            answer = self.endpoint.chat(self.model, messages, self.params)
            score, reason = parse_grade(answer.text)
        except (ModelCallError, ValueError) as exc:
            raise MetricError(f"metric {self.name!r} row {i}: {exc}") from exc
        return (score - 1) / 4, reason

    def compute(self, batch: Batch, chunk_map: ChunkMap) -> MetricResult:  # noqa: ARG002
        try:
            with ThreadPoolExecutor(max_workers=max(1, self.concurrency)) as pool:
                graded = list(
                    pool.map(lambda i: self._grade(batch, i), range(len(batch.predictions)))
                )
        finally:
            self.endpoint.close()
        scores = [s for s, _ in graded]
        prompt_digest = hashlib.sha256((SYSTEM_PROMPT + self.criteria).encode()).hexdigest()[:16]
        return MetricResult(
            columns={self.name: scores, f"{self.name}_reason": [r for _, r in graded]},
            aggregates={self.name: mean(scores)},
            info={
                "implementation": "LLM-as-judge over an OpenAI-compatible chat endpoint",
                "judge_model": self.model,
                "base_url": self.endpoint.base_url,
                "params": self.params,
                "criteria": self.criteria,
                "system_prompt": SYSTEM_PROMPT,
                "prompt_sha256_16": prompt_digest,
                "scale": "1-5 mapped to 0-1 as (score - 1) / 4",
            },
            higher_is_better={self.name: True},
        )


def llm_judge(
    model: str,
    *,
    name: str = "judge",
    criteria: str = DEFAULT_CRITERIA,
    base_url: str | None = None,
    api_key: str | None = None,
    concurrency: int = 4,
    params: dict[str, Any] | None = None,
) -> LlmJudge:
    """A metric grading each answer 1–5 with ``model`` on any OpenAI-compatible endpoint.

    Args:
        model: the judge model's name.
        name: the metric's name and column.
        criteria: what the judge should look for.
        base_url: the endpoint (default ``OPENAI_BASE_URL``, else OpenAI).
        api_key: the key (default ``OPENAI_API_KEY``).
        concurrency: judge calls in flight at once.
        params: extra request fields (``temperature`` defaults to 0).

    Example:
        >>> judge = llm_judge("gpt-4o-mini", criteria="Is the answer polite?")
        >>> judge.name
        'judge'
    """
    return LlmJudge(
        name,
        model,
        ChatEndpoint(base_url=base_url, api_key=api_key),
        criteria,
        concurrency,
        dict(params or {}),
    )
