"""A local OpenAI-compatible HTTP server (real sockets, real httpx) for evaluator tests.

``POST /v1/chat/completions`` answers from ``ANSWERS`` (question -> answer, else an echo),
grades with ``{"score": 4, ...}`` when the system prompt is the judge's, reports usage as word
counts, and answers 401 without the right key. Every request body is kept for assertions.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

API_KEY = "sk-eval-test"
ANSWERS = {
    "What is the capital of France?": "Paris is the capital of France.",
    "Who wrote Hamlet?": "William Shakespeare wrote Hamlet.",
    "What is 2 + 2?": "5",
}


@dataclass
class FakeOpenAI:
    base_url: str
    requests: list[dict[str, Any]] = field(default_factory=list)


def _answer(body: dict[str, Any]) -> str:
    messages = body["messages"]
    if messages[0]["role"] == "system" and "strict grader" in messages[0]["content"]:
        return json.dumps({"score": 4, "reason": "mostly right <b>"})
    question = messages[-1]["content"]
    return ANSWERS.get(question, f"I do not know: {question}")


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    state = FakeOpenAI(base_url="")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["content-length"])))
            state.requests.append(body)
            if self.headers.get("authorization") != f"Bearer {API_KEY}":
                self._send(401, {"error": {"message": "bad key"}})
            elif self.path != "/v1/chat/completions":
                self._send(404, {"error": {"message": "no route"}})
            else:
                text = _answer(body)
                prompt_words = sum(len(m["content"].split()) for m in body["messages"])
                self._send(
                    200,
                    {
                        "id": "chatcmpl-1",
                        "object": "chat.completion",
                        "model": body["model"],
                        "choices": [
                            {
                                "index": 0,
                                "finish_reason": "stop",
                                "message": {"role": "assistant", "content": text},
                            }
                        ],
                        "usage": {
                            "prompt_tokens": prompt_words,
                            "completion_tokens": len(text.split()),
                            "total_tokens": prompt_words + len(text.split()),
                        },
                    },
                )

        def _send(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def generated_pairs(count: int, seed: int = 11) -> tuple[list[str], list[str]]:
    """Noisy predictions of 1-3 sentence targets, some newline-separated, with punctuation."""
    import random

    rng = random.Random(seed)
    words = (
        "the a cat cats dog running runs ran quickly jumped over lazy fox summary model "
        "answers answered question questions paris france capital city it's don't , . !"
    ).split()

    def sentence() -> str:
        return " ".join(rng.choice(words) for _ in range(rng.randint(1, 14)))

    predictions, targets = [], []
    for _ in range(count):
        target = ("\n" if rng.random() < 0.4 else " ").join(
            sentence() for _ in range(rng.randint(1, 3))
        )
        kept = [w if rng.random() > 0.3 else rng.choice(words) for w in target.split(" ")]
        prediction = " ".join(w for w in kept if rng.random() > 0.15)
        if rng.random() < 0.2:
            prediction = prediction.replace(" ", "\n", 1)
        predictions.append(prediction)
        targets.append(target)
    return predictions, targets
