"""Native OTLP ingest: ClickHouse parses, normalizes and prices the protobuf bodies itself.

Python validates and frames each request (`prepare_body`, ~1 µs/span); a batch file of framed
bodies is stored by one ``INSERT ... SELECT FROM file(..., 'Protobuf')`` (`NativeInserter`)
with the same rows as the Python path. Spans whose input/output come from messages are stored
with ``raw_io = 1``; `rebuild_io` gives their canonical text.
"""

from spyglass.collector.native.inserter import NativeInserter
from spyglass.collector.native.prepare import PreparedBody, prepare_body
from spyglass.collector.native.proto_schema import write_schema
from spyglass.collector.native.rebuild import rebuild_io

__all__ = ["NativeInserter", "PreparedBody", "prepare_body", "rebuild_io", "write_schema"]
