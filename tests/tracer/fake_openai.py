"""A fake OpenAI API: deterministic answers, usage and errors.

Served two ways: as an `httpx.MockTransport` (`transport`) for clients given an ``httpx``
client, and as a local HTTP server (`FakeOpenAIServer`) for clients using the SDK's own
HTTP stack (``httpx`` in openai 2.x, ``httpx2`` in 3.x).

Chat: echoes the last user message; with ``tools`` and no tool result yet, calls the first
tool instead. Streams as server-sent events, with a usage chunk when
``stream_options.include_usage`` is set. Model ``fail-500`` answers 500, ``fail-400`` 400.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

import httpx

CREATED = 1_700_000_000
PROMPT_TOKENS = 11
COMPLETION_TOKENS = 7
CACHED_TOKENS = 3
REASONING_TOKENS = 2
API_KEY = "sk-test-secret-key-123"


def _last_user_text(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
            return str(content)
    return ""


def _usage() -> dict[str, Any]:
    return {
        "prompt_tokens": PROMPT_TOKENS,
        "completion_tokens": COMPLETION_TOKENS,
        "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS,
        "prompt_tokens_details": {"cached_tokens": CACHED_TOKENS},
        "completion_tokens_details": {"reasoning_tokens": REASONING_TOKENS},
    }


def _chat_message(body: dict[str, Any]) -> tuple[dict[str, Any], str]:
    messages = body.get("messages", [])
    tools = body.get("tools") or []
    if tools and not any(m.get("role") == "tool" for m in messages):
        name = tools[0]["function"]["name"]
        call = {
            "id": "call_1",
            "type": "function",
            "function": {"name": name, "arguments": json.dumps({"city": "Paris"})},
        }
        return {"role": "assistant", "content": None, "tool_calls": [call]}, "tool_calls"
    if tools:
        tool_result = next(m["content"] for m in messages if m.get("role") == "tool")
        return {"role": "assistant", "content": f"The tool said: {tool_result}"}, "stop"
    return {"role": "assistant", "content": "Echo: " + _last_user_text(messages)}, "stop"


def _sse(events: list[dict[str, Any]], done: bool = True) -> bytes:
    lines = [f"data: {json.dumps(e)}\n\n" for e in events]
    if done:
        lines.append("data: [DONE]\n\n")
    return "".join(lines).encode()


def chat(body: dict[str, Any]) -> httpx.Response:
    message, finish = _chat_message(body)
    model = body["model"] + "-2024-01-01"
    if not body.get("stream"):
        return httpx.Response(
            200,
            json={
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "created": CREATED,
                "model": model,
                "system_fingerprint": "fp_1",
                "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                "usage": _usage(),
            },
        )
    base = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": model,
    }
    chunks = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant"}}]}]
    if message.get("tool_calls"):
        call = message["tool_calls"][0]
        args = call["function"]["arguments"]
        first = {"index": 0, "id": call["id"], "type": "function"}
        first["function"] = {"name": call["function"]["name"], "arguments": args[:5]}
        chunks.append({**base, "choices": [{"index": 0, "delta": {"tool_calls": [first]}}]})
        rest = {"index": 0, "function": {"arguments": args[5:]}}
        chunks.append({**base, "choices": [{"index": 0, "delta": {"tool_calls": [rest]}}]})
    else:
        for word in message["content"].split(" "):
            piece = {"content": word + " "}
            chunks.append({**base, "choices": [{"index": 0, "delta": piece}]})
    chunks.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
    if (body.get("stream_options") or {}).get("include_usage"):
        chunks.append({**base, "choices": [], "usage": _usage()})
    return httpx.Response(200, content=_sse(chunks), headers={"content-type": "text/event-stream"})


def embeddings(body: dict[str, Any]) -> httpx.Response:
    inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
    data = [
        {"object": "embedding", "index": i, "embedding": [0.1 * (i + 1), 0.2, 0.3, 0.4]}
        for i in range(len(inputs))
    ]
    usage = {"prompt_tokens": 3 * len(inputs), "total_tokens": 3 * len(inputs)}
    return httpx.Response(
        200, json={"object": "list", "data": data, "model": body["model"], "usage": usage}
    )


def _response_object(body: dict[str, Any], status: str = "completed") -> dict[str, Any]:
    text_in = body["input"] if isinstance(body["input"], str) else "items"
    return {
        "id": "resp_1",
        "object": "response",
        "created_at": CREATED,
        "model": body["model"] + "-2024-01-01",
        "status": status,
        "output": [
            {
                "type": "message",
                "id": "msg_1",
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": "Echo: " + text_in, "annotations": []}],
            }
        ],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": {
            "input_tokens": PROMPT_TOKENS,
            "output_tokens": COMPLETION_TOKENS,
            "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS,
            "input_tokens_details": {"cached_tokens": CACHED_TOKENS},
            "output_tokens_details": {"reasoning_tokens": REASONING_TOKENS},
        },
    }


def responses(body: dict[str, Any]) -> httpx.Response:
    final = _response_object(body)
    if not body.get("stream"):
        return httpx.Response(200, json=final)
    created = {**final, "status": "in_progress", "output": [], "usage": None}
    text = final["output"][0]["content"][0]["text"]
    events: list[dict[str, Any]] = [
        {"type": "response.created", "sequence_number": 0, "response": created}
    ]
    for i, word in enumerate(text.split(" ")):
        events.append(
            {
                "type": "response.output_text.delta",
                "sequence_number": i + 1,
                "item_id": "msg_1",
                "output_index": 0,
                "content_index": 0,
                "delta": word + " ",
                "logprobs": [],
            }
        )
    events.append({"type": "response.completed", "sequence_number": 99, "response": final})
    return httpx.Response(
        200, content=_sse(events, done=False), headers={"content-type": "text/event-stream"}
    )


def completions(body: dict[str, Any]) -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "id": "cmpl-1",
            "object": "text_completion",
            "created": CREATED,
            "model": body["model"],
            "choices": [{"index": 0, "text": "Echo: " + body["prompt"], "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 4, "completion_tokens": 3, "total_tokens": 7},
        },
    )


ROUTES = {
    "/v1/chat/completions": chat,
    "/v1/embeddings": embeddings,
    "/v1/responses": responses,
    "/v1/completions": completions,
}


def handler(request: httpx.Request) -> httpx.Response:
    """The MockTransport handler."""
    body = json.loads(request.content or b"{}")
    model = str(body.get("model", ""))
    if model.startswith("fail-"):
        status = int(model.split("-")[1])
        error = {"error": {"message": f"simulated {status}", "type": "server_error", "code": None}}
        return httpx.Response(status, json=error)
    route = ROUTES.get(request.url.path)
    if route is None:
        return httpx.Response(404, json={"error": {"message": "no such route"}})
    return route(body)


def transport() -> httpx.MockTransport:
    return httpx.MockTransport(handler)


class FakeOpenAIServer:
    """The fake API on ``http://127.0.0.1:<port>/v1``; a context manager."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                request = httpx.Request("POST", f"http://fake{self.path}", content=body)
                response = handler(request)
                content = response.read()
                self.send_response(response.status_code)
                self.send_header(
                    "content-type", response.headers.get("content-type", "application/json")
                )
                self.send_header("content-length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FakeOpenAIServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
