"""A minimal OpenAI-compatible chat client over httpx (a base dependency), with retries.

The evaluator calls any server that speaks ``POST {base_url}/chat/completions``: OpenAI, vLLM,
Ollama, LM Studio, a LiteLLM proxy, or a test's local fake. ``base_url`` and the key come from
arguments, else ``OPENAI_BASE_URL`` / ``OPENAI_API_KEY``.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from spyglass.evaluator.errors import ModelCallError

DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_TIMEOUT_S = 60.0
DEFAULT_RETRIES = 3
_RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class ChatAnswer:
    """The first choice's text and the usage the server reported."""

    text: str
    input_tokens: int | None
    output_tokens: int | None
    model: str | None


@dataclass
class ChatEndpoint:
    """An OpenAI-compatible chat endpoint; thread-safe (one shared httpx client)."""

    base_url: str | None = None
    api_key: str | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S
    retries: int = DEFAULT_RETRIES
    _client: httpx.Client | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        # The evaluator's one reading of the environment: OpenAI SDK conventions.
        self.base_url = (
            self.base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
        ).rstrip("/")
        if self.api_key is None:
            self.api_key = os.environ.get("OPENAI_API_KEY")

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            headers = {"authorization": f"Bearer {self.api_key}"} if self.api_key else {}
            self._client = httpx.Client(headers=headers, timeout=self.timeout_s)
        return self._client

    def close(self) -> None:
        """Close the HTTP connection pool."""
        if self._client is not None:
            self._client.close()
            self._client = None

    def chat(
        self, model: str, messages: list[dict[str, str]], params: dict[str, Any]
    ) -> ChatAnswer:
        """One chat completion; retries timeouts, 429 and 5xx with exponential back-off.

        Raises:
            ModelCallError: the server refused the request or kept failing.
        """
        url = f"{self.base_url}/chat/completions"
        body = {**params, "model": model, "messages": messages}
        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(min(0.5 * 2 ** (attempt - 1), 8.0))
            try:
                response = self.client.post(url, json=body)
            except httpx.HTTPError as exc:
                last = f"cannot reach {url}: {exc}"
                continue
            if response.status_code in _RETRY_STATUSES:
                last = f"{url} answered {response.status_code}: {response.text[:200]}"
                continue
            if response.status_code != 200:
                raise ModelCallError(
                    f"{url} answered {response.status_code}: {response.text[:500]}"
                )
            return _parse(response, url)
        raise ModelCallError(f"{last} (after {self.retries + 1} attempts)")


def _parse(response: httpx.Response, url: str) -> ChatAnswer:
    try:
        payload = response.json()
        message = payload["choices"][0]["message"]
    except (ValueError, KeyError, IndexError, TypeError):
        raise ModelCallError(
            f"{url} answered something that is not a chat completion: {response.text[:200]}"
        ) from None
    usage = payload.get("usage") or {}
    return ChatAnswer(
        text=message.get("content") or "",
        input_tokens=usage.get("prompt_tokens"),
        output_tokens=usage.get("completion_tokens"),
        model=payload.get("model"),
    )
