"""Server-side redaction: rules applied to spans before they are stored.

Two kinds of rule: a value pattern (a regex; every match inside a string is replaced) and an
attribute-name pattern (the whole value of a matching attribute is replaced). They apply to span,
resource, event and link attributes and to the canonical input, output and status message.
Nothing is redacted unless rules are configured, so the ingest hot path pays nothing by default.

Rules file (JSON)::

    {"defaults": true,
     "patterns": [{"name": "employee-id", "regex": "EMP-[0-9]{6}"}],
     "attributes": ["(?i)^app\\.customer\\.ssn$"],
     "replacement": "[REDACTED]"}
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from spyglass.collector.rows import SPAN_COLUMNS, SpanBatch
from spyglass.errors import ConfigError

REPLACEMENT = "[REDACTED]"

# Common secrets and personal data. Each pattern matches no quote or backslash, so it can be
# searched in JSON text before the value is decoded.
DEFAULT_PATTERNS: dict[str, str] = {
    "email": r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}",
    "openai-key": r"\bsk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}",
    "aws-access-key": r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",
    "github-token": r"\bgh[pousr]_[A-Za-z0-9]{36,}\b",
    "bearer-token": r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{16,}",
    "card-number": r"\b(?:\d[ -]?){13,16}\b",
}
DEFAULT_ATTRIBUTES = (
    r"(?i)(^|[._-])(api[._-]?key|authorization|password|passwd|secret|access[._-]?token)$",
)

_COL = {name: i for i, name in enumerate(SPAN_COLUMNS)}


@dataclass(frozen=True)
class Redactor:
    values: tuple[re.Pattern[str], ...]
    names: tuple[re.Pattern[str], ...]
    replacement: str = REPLACEMENT

    @classmethod
    def from_rules(
        cls,
        patterns: list[str],
        attributes: list[str],
        replacement: str = REPLACEMENT,
    ) -> Redactor:
        def compiled(regexes: list[str], what: str) -> tuple[re.Pattern[str], ...]:
            try:
                return tuple(re.compile(r) for r in regexes)
            except re.error as exc:
                raise ConfigError(f"redaction {what} {exc.pattern!r}: {exc}") from None

        return cls(compiled(patterns, "pattern"), compiled(attributes, "attribute"), replacement)

    @classmethod
    def load(cls, path: Path | None, defaults: bool) -> Redactor | None:
        """Rules from a JSON file and/or the defaults; None when there are none."""
        spec: dict[str, Any] = {}
        if path is not None:
            try:
                spec = orjson.loads(path.read_bytes())
            except (OSError, orjson.JSONDecodeError) as exc:
                raise ConfigError(f"redaction rules {path}: {exc}") from None
            if not isinstance(spec, dict):
                raise ConfigError(f"redaction rules {path}: expected a JSON object")
        patterns = [p["regex"] if isinstance(p, dict) else p for p in spec.get("patterns", [])]
        names = list(spec.get("attributes", []))
        if defaults or spec.get("defaults"):
            patterns += DEFAULT_PATTERNS.values()
            names += DEFAULT_ATTRIBUTES
        if not all(isinstance(p, str) for p in patterns + names):
            raise ConfigError("redaction rules: every pattern must be a string")
        if not patterns and not names:
            return None
        replacement = spec.get("replacement", REPLACEMENT)
        if not isinstance(replacement, str):
            raise ConfigError("redaction rules: replacement must be a string")
        return cls.from_rules(patterns, names, replacement)

    # --- applying ---------------------------------------------------------------------------

    def _matches(self, text: str) -> bool:
        return any(p.search(text) for p in self.values)

    def text(self, value: str) -> str:
        for pattern in self.values:
            value = pattern.sub(self.replacement, value)
        return value

    def _walk(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self._walk(v) for v in value]
        if isinstance(value, dict):
            return {k: self._walk(v) for k, v in value.items()}
        return value

    def json_text(self, text: str) -> str:
        """A JSON-encoded value with its strings redacted (decoded only when something matches)."""
        if not text or not self._matches(text):
            return text
        try:
            return orjson.dumps(self._walk(orjson.loads(text))).decode()
        except orjson.JSONDecodeError:
            return self.text(text)

    def attributes(self, encoded: dict[str, str]) -> dict[str, str]:
        """Attribute maps as stored: values are JSON text."""
        hidden = orjson.dumps(self.replacement).decode()
        names = self.names
        return {
            k: hidden if any(n.search(k) for n in names) else self.json_text(v)
            for k, v in encoded.items()
        }

    def apply(self, batch: SpanBatch) -> None:
        """Redact every row of ``batch`` in place."""
        cols = batch.columns
        attrs = self.attributes
        for name in ("input", "output", "status_message"):
            col: list[str] = cols[_COL[name]]
            redact: Callable[[str], str] = self.json_text if name != "status_message" else self.text
            cols[_COL[name]] = [redact(v) for v in col]
        cols[_COL["attributes"]] = [attrs(a) for a in cols[_COL["attributes"]]]
        cols[_COL["resource_attributes"]] = [attrs(a) for a in cols[_COL["resource_attributes"]]]
        cols[_COL["events"]] = [
            [(t, n, attrs(a)) for t, n, a in events] for events in cols[_COL["events"]]
        ]
        cols[_COL["links"]] = [
            [(tid, sid, attrs(a)) for tid, sid, a in links] for links in cols[_COL["links"]]
        ]
