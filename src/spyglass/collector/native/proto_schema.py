"""The ``.proto`` format schema ClickHouse needs to read OTLP export requests itself.

ClickHouse's ``Protobuf`` input format reads messages by a ``.proto`` file (``format_schema``).
The text is rebuilt at run time from the descriptors of the installed ``opentelemetry-proto``
package, so it always matches the messages the receiver parses, and no OTLP files are vendored.

Two non-OTLP fields are added (both ignored by OTLP parsers, which skip unknown fields):
- ``ExportTraceServiceRequest.x_spyglass_project = 1000``: a project override appended to a
  body by `prepare_body` (empty = resolve the project from the resource attributes).
- ``AnyValue.x_spyglass_json = 1000``: an attribute value already JSON-encoded by Python. The
  inserter writes it only for values nested deeper than the SQL decoder reads (see
  `inserter.py`); it is not part of the ``value`` oneof.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from google.protobuf import descriptor_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

__all__ = ["PROJECT_FIELD", "VALUE_JSON_FIELD", "write_schema"]

PROJECT_FIELD = 1000  # ExportTraceServiceRequest.x_spyglass_project
VALUE_JSON_FIELD = 1000  # AnyValue.x_spyglass_json
ROOT_MESSAGE = "ExportTraceServiceRequest"
_ENTRY_FILE = "trace_service.proto"
# Extra fields per message name: (declaration line).
_EXTRA_FIELDS = {
    "ExportTraceServiceRequest": f"string x_spyglass_project = {PROJECT_FIELD};",
    "AnyValue": f"string x_spyglass_json = {VALUE_JSON_FIELD};",
}

_F = descriptor_pb2.FieldDescriptorProto
_SCALARS = {
    _F.TYPE_DOUBLE: "double", _F.TYPE_FLOAT: "float", _F.TYPE_INT64: "int64",
    _F.TYPE_UINT64: "uint64", _F.TYPE_INT32: "int32", _F.TYPE_FIXED64: "fixed64",
    _F.TYPE_FIXED32: "fixed32", _F.TYPE_BOOL: "bool", _F.TYPE_STRING: "string",
    _F.TYPE_BYTES: "bytes", _F.TYPE_UINT32: "uint32", _F.TYPE_SFIXED32: "sfixed32",
    _F.TYPE_SFIXED64: "sfixed64", _F.TYPE_SINT32: "sint32", _F.TYPE_SINT64: "sint64",
}  # fmt: skip
_MODULES = (common_pb2, resource_pb2, trace_pb2, trace_service_pb2)


def _type(field: Any) -> str:
    if field.type in (_F.TYPE_MESSAGE, _F.TYPE_ENUM):
        return str(field.type_name)  # fully qualified, leading dot
    return _SCALARS[field.type]


def _enum(enum: Any, indent: str) -> list[str]:
    lines = [f"{indent}enum {enum.name} {{"]
    lines += [f"{indent}  {v.name} = {v.number};" for v in enum.value]
    return [*lines, f"{indent}}}"]


def _message(message: Any, indent: str) -> list[str]:
    lines = [f"{indent}message {message.name} {{"]
    for enum in message.enum_type:
        lines += _enum(enum, indent + "  ")
    for nested in message.nested_type:
        lines += _message(nested, indent + "  ")
    oneofs: dict[int, list[Any]] = {}
    for field in message.field:
        if field.HasField("oneof_index") and not field.proto3_optional:
            oneofs.setdefault(field.oneof_index, []).append(field)
    emitted: set[int] = set()
    for field in message.field:
        if field.HasField("oneof_index") and not field.proto3_optional:
            index = field.oneof_index
            if index not in emitted:
                emitted.add(index)
                lines.append(f"{indent}  oneof {message.oneof_decl[index].name} {{")
                lines += [f"{indent}    {_type(g)} {g.name} = {g.number};" for g in oneofs[index]]
                lines.append(f"{indent}  }}")
            continue
        label = "repeated " if field.label == _F.LABEL_REPEATED else ""
        label = "optional " if field.proto3_optional else label
        lines.append(f"{indent}  {label}{_type(field)} {field.name} = {field.number};")
    extra = _EXTRA_FIELDS.get(message.name)
    if extra and not indent:
        lines.append(f"{indent}  {extra}")
    return [*lines, f"{indent}}}"]


def _file_text(module: Any) -> tuple[str, str]:
    """(file name without directories, .proto text) of one generated module."""
    fd = descriptor_pb2.FileDescriptorProto.FromString(module.DESCRIPTOR.serialized_pb)
    lines = [
        f"// Rebuilt from the descriptor of {fd.name} (opentelemetry-proto) by spyglass.",
        f'syntax = "{fd.syntax or "proto2"}";',
        f"package {fd.package};",
    ]
    # Flat imports: all four files sit in one directory.
    lines += [f'import "{Path(dep).name}";' for dep in fd.dependency]
    for enum in fd.enum_type:
        lines += _enum(enum, "")
    for message in fd.message_type:
        lines += _message(message, "")
    return Path(fd.name).name, "\n".join(lines) + "\n"


def schema_files() -> dict[str, str]:
    """File name → ``.proto`` text of every file the format schema needs."""
    return dict(_file_text(module) for module in _MODULES)


def write_schema(directory: str | Path) -> str:
    """Write the format schema into ``directory`` (created if needed) and return the
    ``format_schema`` setting value (``<abs path>/trace_service.proto:ExportTraceServiceRequest``).

    Idempotent: files whose text is unchanged are not rewritten, so concurrent readers never
    see a half-written file from a later call. A changed file is replaced atomically.
    """
    root = Path(directory).resolve()
    root.mkdir(parents=True, exist_ok=True)
    for name, text in schema_files().items():
        path = root / name
        try:
            if path.read_text(encoding="utf-8") == text:
                continue
        except OSError:
            pass
        tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    return f"{root / _ENTRY_FILE}:{ROOT_MESSAGE}"
