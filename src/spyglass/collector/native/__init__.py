"""Native OTLP ingest: ClickHouse parses, normalizes and prices the protobuf bodies itself.

Python validates and frames each request (`prepare_body`, ~1 µs/span); a batch file of framed
bodies is stored by one ``INSERT ... SELECT FROM file(..., 'Protobuf')`` (`NativeInserter`)
with the same rows as the Python path. Attribute values go through a lean encoder
(`sql_fast_json`); a file holding a value only the general one handles (`sql_json`) is stored
by the general statement. Spans whose input/output come from messages are stored with
``raw_io = 1``; `rebuild_io` gives their canonical text.

Known differences from the Python path (none occurs in the parity tests' cases):
- canonical fields read from an attribute value longer than 1,000,000 characters use the cut
  text; NaN or ±Inf inside message attributes;
- JSON that only one of the two parsers accepts (``NaN`` tokens, lone surrogates, unusual
  trailing whitespace), and duplicate keys inside MLflow JSON payloads (ClickHouse keeps the
  first, Python the last);
- Unicode case mapping of span kinds (`upperUTF8` vs `str.upper`);
- model names with non-ASCII digits in a version suffix, or more than six stacked suffixes, miss
  the price table.
"""

from spyglass.collector.native.inserter import NativeInserter
from spyglass.collector.native.prepare import PreparedBody, prepare_body, write_batch_file
from spyglass.collector.native.proto_schema import write_schema
from spyglass.collector.native.rebuild import rebuild_io
from spyglass.collector.wal import merge_windows

__all__ = [
    "NativeInserter",
    "PreparedBody",
    "merge_windows",
    "prepare_body",
    "rebuild_io",
    "write_batch_file",
    "write_schema",
]
