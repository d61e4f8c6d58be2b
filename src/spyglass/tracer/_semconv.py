"""Attribute keys the tracer writes: current OTel GenAI semantic conventions, plus a few more.

Non-GenAI payloads (chain or tool inputs, embedding inputs) go to ``input.value`` /
``output.value``, the keys the collector reads for plain inputs and outputs.
"""

from __future__ import annotations

OPERATION = "gen_ai.operation.name"
PROVIDER = "gen_ai.provider.name"
REQUEST_MODEL = "gen_ai.request.model"
REQUEST_TEMPERATURE = "gen_ai.request.temperature"
REQUEST_TOP_P = "gen_ai.request.top_p"
REQUEST_MAX_TOKENS = "gen_ai.request.max_tokens"
REQUEST_STOP = "gen_ai.request.stop_sequences"
REQUEST_FREQUENCY_PENALTY = "gen_ai.request.frequency_penalty"
REQUEST_PRESENCE_PENALTY = "gen_ai.request.presence_penalty"
REQUEST_SEED = "gen_ai.request.seed"
REQUEST_CHOICE_COUNT = "gen_ai.request.choice.count"
REQUEST_STREAM = "gen_ai.request.stream"
REQUEST_ENCODING_FORMATS = "gen_ai.request.encoding_formats"
OUTPUT_TYPE = "gen_ai.output.type"
RESPONSE_ID = "gen_ai.response.id"
RESPONSE_MODEL = "gen_ai.response.model"
RESPONSE_FINISH_REASONS = "gen_ai.response.finish_reasons"
RESPONSE_TTFT = "gen_ai.response.time_to_first_chunk"
USAGE_INPUT = "gen_ai.usage.input_tokens"
USAGE_OUTPUT = "gen_ai.usage.output_tokens"
USAGE_CACHE_READ = "gen_ai.usage.cache_read.input_tokens"
USAGE_CACHE_CREATION = "gen_ai.usage.cache_creation.input_tokens"
USAGE_REASONING = "gen_ai.usage.reasoning.output_tokens"
INPUT_MESSAGES = "gen_ai.input.messages"
OUTPUT_MESSAGES = "gen_ai.output.messages"
SYSTEM_INSTRUCTIONS = "gen_ai.system_instructions"
TOOL_DEFINITIONS = "gen_ai.tool.definitions"
TOOL_NAME = "gen_ai.tool.name"
TOOL_CALL_ID = "gen_ai.tool.call.id"
TOOL_CALL_ARGUMENTS = "gen_ai.tool.call.arguments"
TOOL_CALL_RESULT = "gen_ai.tool.call.result"
TOOL_DESCRIPTION = "gen_ai.tool.description"
AGENT_NAME = "gen_ai.agent.name"
EMBEDDING_DIMENSIONS = "gen_ai.embeddings.dimension.count"
DATA_SOURCE_ID = "gen_ai.data_source.id"
CONVERSATION_ID = "gen_ai.conversation.id"
ERROR_TYPE = "error.type"
SERVER_ADDRESS = "server.address"
SERVER_PORT = "server.port"
OPENAI_SERVICE_TIER = "openai.response.service_tier"
OPENAI_SYSTEM_FINGERPRINT = "openai.response.system_fingerprint"

SESSION_ID = "session.id"
USER_ID = "user.id"
INPUT_VALUE = "input.value"
OUTPUT_VALUE = "output.value"
TAGS = "spyglass.tags"
PROJECT = "spyglass.project"
FRAMEWORK = "spyglass.framework"

# gen_ai.operation.name values (the collector derives the span type from them).
OP_CHAT = "chat"
OP_TEXT_COMPLETION = "text_completion"
OP_EMBEDDINGS = "embeddings"
OP_TOOL = "execute_tool"
OP_AGENT = "invoke_agent"
OP_RETRIEVAL = "retrieval"
OP_WORKFLOW = "invoke_workflow"

FIRST_TOKEN_EVENT = "gen_ai.first_token"

# Span types accepted by `start_span(span_type=...)` and the operation each one implies.
SPAN_TYPE_OPERATIONS = {
    "LLM": OP_CHAT,
    "CHAT": OP_CHAT,
    "EMBEDDING": OP_EMBEDDINGS,
    "TOOL": OP_TOOL,
    "AGENT": OP_AGENT,
    "RETRIEVER": OP_RETRIEVAL,
    "CHAIN": OP_WORKFLOW,
}

# Attributes that carry user content: dropped when capture is off, passed through redaction.
CONTENT_KEYS = frozenset(
    {
        INPUT_MESSAGES,
        OUTPUT_MESSAGES,
        SYSTEM_INSTRUCTIONS,
        TOOL_CALL_ARGUMENTS,
        TOOL_CALL_RESULT,
        INPUT_VALUE,
        OUTPUT_VALUE,
    }
)
