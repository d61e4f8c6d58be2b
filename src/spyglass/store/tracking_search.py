r"""MLflow's search filter and order-by syntax, parsed and compiled to bound ClickHouse SQL.

Filters as MLflow clients write them::

    metrics.rmse < 0.8 and params.model = 'rf' and tags.team = "x"
    attributes.status = 'FINISHED' and metrics.`val loss` <= 1e-3
    params.model IN ('rf', 'xgb') and tags.note ILIKE '%good%' and tags.owner IS NULL
    (metrics.acc > 0.9 OR metrics.f1 > 0.9) AND datasets.digest = 'abc123'

Grammar (keywords case-insensitive; ``OR`` and parentheses are Spyglass additions)::

    expr       := term ("OR" term)*
    term       := factor ("AND" factor)*
    factor     := "(" expr ")" | comparison
    comparison := ident op value | ident ["NOT"] "IN" "(" value ("," value)* ")"
                | ident ("LIKE" | "ILIKE") STRING | ident "IS" ["NOT"] "NULL"
    ident      := [prefix "."] key        prefix: metric(s) param(s) parameter(s) tag(s)
                                                  attribute(s) attr run dataset(s)
    key        := WORD ("." WORD)* | `backticked` | "double quoted"
    op         := "=" | "!=" | "<>" | "<" | "<=" | ">" | ">="
    value      := 'string' | "string" | NUMBER

Contract: user text never reaches SQL. Keys and values are server-side binds
``{<prefix><n>:<Type>}`` (their values in `CompiledSearch.params`); attribute names are looked up
in a whitelist. Anything malformed or unknown raises `SearchError` (MLflow's
``INVALID_PARAMETER_VALUE``) naming the position.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

MAX_LENGTH = 8192
MAX_COMPARISONS = 64
MAX_DEPTH = 16

Value: TypeAlias = str | float | tuple[str, ...] | None
Kind = Literal["metric", "param", "tag", "attribute", "dataset"]

_PREFIXES: dict[str, Kind] = {
    "metric": "metric", "metrics": "metric",
    "param": "param", "params": "param", "parameter": "param", "parameters": "param",
    "tag": "tag", "tags": "tag",
    "attribute": "attribute", "attributes": "attribute", "attr": "attribute", "run": "attribute",
    "dataset": "dataset", "datasets": "dataset",
}  # fmt: skip


class SearchError(ValueError):
    """A filter or order-by clause that cannot be parsed; the message says what and where."""


@dataclass(frozen=True)
class Comparison:
    kind: Kind
    key: str
    op: str  # = != < <= > >= LIKE ILIKE IN NOT IN IS NULL IS NOT NULL
    value: Value
    pos: int


@dataclass(frozen=True)
class BoolOp:
    op: Literal["AND", "OR"]
    operands: tuple[Node, ...]


Node: TypeAlias = BoolOp | Comparison

_TOKEN = re.compile(
    r"(?P<ws>\s+)"
    r"|(?P<number>[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?)"
    r"|(?P<ident>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op>!=|<>|<=|>=|[=<>])"
    r"|(?P<punct>[().,])",
    re.ASCII,
)
_KEYWORDS = frozenset({"and", "or", "not", "in", "like", "ilike", "is", "null", "asc", "desc"})


@dataclass(frozen=True)
class _Tok:
    kind: str  # ident keyword number string quoted op punct end
    text: str
    pos: int

    def describe(self) -> str:
        return "the end" if self.kind == "end" else repr(self.text)


def _tokenize(text: str) -> list[_Tok]:
    if len(text) > MAX_LENGTH:
        raise SearchError(f"search expression is too long (over {MAX_LENGTH} characters)")
    toks: list[_Tok] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch in "'\"`":
            end = i + 1
            out: list[str] = []
            while end < len(text):
                if text[end] == "\\" and end + 1 < len(text) and ch != "`":
                    out.append(text[end + 1])
                    end += 2
                    continue
                if text[end] == ch:
                    if end + 1 < len(text) and text[end + 1] == ch:  # SQL-style doubled quote
                        out.append(ch)
                        end += 2
                        continue
                    break
                out.append(text[end])
                end += 1
            else:
                raise SearchError(f"unterminated quote {ch} at position {i}")
            kind = {"'": "string", '"': "quoted", "`": "backtick"}[ch]
            toks.append(_Tok(kind, "".join(out), i))
            i = end + 1
            continue
        m = _TOKEN.match(text, i)
        if m is None:
            raise SearchError(f"unexpected character {ch!r} at position {i}")
        kind = str(m.lastgroup)
        if kind == "ident" and m.group().lower() in _KEYWORDS:
            toks.append(_Tok("keyword", m.group().lower(), i))
        elif kind != "ws":
            toks.append(_Tok(kind, m.group(), i))
        i = m.end()
    toks.append(_Tok("end", "", len(text)))
    return toks


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks = _tokenize(text)
        self.i = self.depth = self.count = 0

    def peek(self, kind: str, text: str | None = None) -> bool:
        tok = self.toks[self.i]
        return tok.kind == kind and (text is None or tok.text == text)

    def take(self) -> _Tok:
        tok = self.toks[self.i]
        self.i = min(self.i + 1, len(self.toks) - 1)
        return tok

    def fail(self, what: str) -> SearchError:
        tok = self.toks[self.i]
        return SearchError(f"expected {what}, found {tok.describe()} at position {tok.pos}")

    def expect(self, kind: str, text: str, what: str) -> None:
        if not self.peek(kind, text):
            raise self.fail(what)
        self.take()

    def expr(self) -> Node:
        parts = [self.term()]
        while self.peek("keyword", "or"):
            self.take()
            parts.append(self.term())
        return parts[0] if len(parts) == 1 else BoolOp("OR", tuple(parts))

    def term(self) -> Node:
        parts = [self.factor()]
        while self.peek("keyword", "and"):
            self.take()
            parts.append(self.factor())
        return parts[0] if len(parts) == 1 else BoolOp("AND", tuple(parts))

    def factor(self) -> Node:
        if not self.peek("punct", "("):
            return self.comparison()
        self.take()
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise SearchError(f"search expression is nested too deeply (at most {MAX_DEPTH})")
        node = self.expr()
        self.expect("punct", ")", "')'")
        self.depth -= 1
        return node

    def identifier(self) -> tuple[Kind, str, int]:
        tok = self.toks[self.i]
        if tok.kind not in ("quoted", "backtick", "ident"):
            raise self.fail("an identifier such as metrics.rmse, params.x or attributes.status")
        self.take()
        if tok.kind in ("quoted", "backtick"):
            return "attribute", tok.text, tok.pos
        if not self.peek("punct", "."):
            return "attribute", tok.text, tok.pos
        self.take()
        prefix = _PREFIXES.get(tok.text.lower())
        if prefix is None:
            valid = "metrics, params, tags, attributes, datasets"
            raise SearchError(
                f"invalid entity type {tok.text!r} at position {tok.pos}; expected one of {valid}"
            )
        if self.peek("backtick") or self.peek("quoted"):
            return prefix, self.take().text, tok.pos
        parts: list[str] = []
        while True:
            if self.toks[self.i].kind not in ("ident", "keyword", "number"):
                raise self.fail(f"a key after '{tok.text}.'")
            parts.append(self.take().text)
            if not self.peek("punct", "."):
                break
            self.take()
        return prefix, ".".join(parts), tok.pos

    def value(self) -> str | float:
        tok = self.toks[self.i]
        if tok.kind in ("string", "quoted"):
            return self.take().text
        if tok.kind == "number":
            return float(self.take().text)
        raise self.fail("a quoted string or a number")

    def comparison(self) -> Comparison:
        self.count += 1
        if self.count > MAX_COMPARISONS:
            raise SearchError(f"too many comparisons (at most {MAX_COMPARISONS})")
        kind, key, pos = self.identifier()
        if self.peek("end"):
            raise self.fail("a comparison operator (=, !=, <, <=, >, >=, LIKE, ILIKE, IN, IS)")
        tok = self.take()
        if tok.kind == "op":
            op = "!=" if tok.text == "<>" else tok.text
            return Comparison(kind, key, op, self.value(), pos)
        if tok.kind == "keyword" and tok.text in ("like", "ilike"):
            return Comparison(kind, key, tok.text.upper(), self.value(), pos)
        if tok.kind == "keyword" and tok.text == "is":
            negate = self.peek("keyword", "not") and bool(self.take())
            self.expect("keyword", "null", "NULL")
            return Comparison(kind, key, "IS NOT NULL" if negate else "IS NULL", None, pos)
        negate = tok.kind == "keyword" and tok.text == "not"
        if negate:
            tok = self.take()
        if tok.kind == "keyword" and tok.text == "in":
            self.expect("punct", "(", "'(' after IN")
            values = [self.value()]
            while self.peek("punct", ","):
                self.take()
                values.append(self.value())
            self.expect("punct", ")", "',' or ')'")
            if not all(isinstance(v, str) for v in values):
                raise SearchError(f"IN takes quoted strings (at position {pos})")
            return Comparison(
                kind, key, "NOT IN" if negate else "IN", tuple(str(v) for v in values), pos
            )
        self.i -= 1
        raise self.fail("a comparison operator (=, !=, <, <=, >, >=, LIKE, ILIKE, IN, IS)")


def parse_search(text: str) -> Node | None:
    """Parse a filter string; None when it is blank. Raises `SearchError`."""
    parser = _Parser(text or "")
    if parser.peek("end"):
        return None
    node = parser.expr()
    if not parser.peek("end"):
        raise parser.fail("AND, OR or the end of the filter")
    return node


@dataclass(frozen=True)
class OrderBy:
    kind: Kind
    key: str
    ascending: bool


def parse_order_by(text: str) -> OrderBy:
    """Parse one ``order_by`` clause such as ``metrics.rmse DESC`` or ``start_time``."""
    parser = _Parser(text)
    kind, key, _ = parser.identifier()
    ascending = True
    if parser.peek("keyword", "asc") or parser.peek("keyword", "desc"):
        ascending = parser.take().text == "asc"
    if not parser.peek("end"):
        raise parser.fail("ASC, DESC or the end of the order_by clause")
    return OrderBy(kind, key, ascending)


# --- compiling ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Attribute:
    """A column of the searched row: ``sql`` is trusted SQL; ``type`` picks the operators."""

    sql: str
    type: Literal["string", "number"]


@dataclass(frozen=True)
class Keyed:
    """Metrics/params/tags/datasets: ``template`` is a trusted condition with ``{key}`` (the
    bound key) and ``{cond}`` (the compiled comparison on ``value_sql``). ``columns``, if set,
    maps the allowed keys to columns instead (``value_sql`` is then the column)."""

    template: str
    value_sql: str
    type: Literal["string", "number"]
    columns: Mapping[str, str] | None = None
    # ``!=``/``NOT IN`` also match rows without the key (MLflow's registry semantics).
    missing_is_unequal: bool = False


@dataclass(frozen=True)
class SearchSpec:
    attributes: Mapping[str, Attribute]
    keyed: Mapping[str, Keyed]


@dataclass(frozen=True)
class CompiledSearch:
    sql: str
    params: dict[str, Any]


_OPS = {
    "number": {"=", "!=", "<", "<=", ">", ">="},
    "string": {"=", "!=", "LIKE", "ILIKE", "IN", "NOT IN"},
}


class _Compiler:
    def __init__(self, spec: SearchSpec, prefix: str) -> None:
        self.spec, self.prefix = spec, prefix
        self.params: dict[str, Any] = {}

    def bind(self, value: Any, sql_type: str) -> str:
        name = f"{self.prefix}{len(self.params)}"
        self.params[name] = value
        return f"{{{name}:{sql_type}}}"

    def node(self, node: Node) -> str:
        if isinstance(node, BoolOp):
            return "(" + f" {node.op} ".join(self.node(n) for n in node.operands) + ")"
        if node.kind == "attribute":
            attr = self.spec.attributes.get(node.key)
            if attr is None:
                valid = ", ".join(sorted(self.spec.attributes))
                raise SearchError(f"invalid attribute key {node.key!r}; valid keys: {valid}")
            return self.cond(node, attr.sql, attr.type)
        keyed = self.spec.keyed.get(node.kind)
        if keyed is None:
            raise SearchError(f"{node.kind} filters are not supported here")
        value_sql = keyed.value_sql
        if keyed.columns is not None:
            if node.key not in keyed.columns:
                valid = ", ".join(sorted(keyed.columns))
                raise SearchError(f"invalid {node.kind} key {node.key!r}; valid keys: {valid}")
            value_sql = keyed.columns[node.key]
        key = self.bind(node.key, "String")
        if node.op in ("IS NULL", "IS NOT NULL"):
            found = keyed.template.replace("{key}", key).replace("{cond}", "1")
            return found if node.op == "IS NOT NULL" else f"(NOT {found})"
        negate = keyed.missing_is_unequal and node.op in ("!=", "NOT IN")
        if negate:
            node = Comparison(node.kind, node.key, node.op.replace("!=", "=").replace("NOT ", ""),
                              node.value, node.pos)  # fmt: skip
        cond = self.cond(node, value_sql, keyed.type)
        sql = keyed.template.replace("{key}", key).replace("{cond}", cond)
        return f"(NOT ({sql}))" if negate else f"({sql})"

    def cond(self, c: Comparison, sql: str, type_: str) -> str:
        where = f"{c.kind} {c.key!r} (at position {c.pos})"
        if c.op not in _OPS[type_]:
            raise SearchError(f"operator {c.op} is not supported for {where}")
        if type_ == "number":
            if not isinstance(c.value, float):
                raise SearchError(f"expected a numeric value for {where}")
            return f"{sql} {c.op} {self.bind(c.value, 'Float64')}"
        if c.op in ("IN", "NOT IN"):
            values = list(c.value) if isinstance(c.value, tuple) else []
            return f"{sql} {c.op} {self.bind(values, 'Array(String)')}"
        if not isinstance(c.value, str):
            raise SearchError(f"expected a quoted string value for {where}")
        return f"{sql} {c.op} {self.bind(c.value, 'String')}"


def compile_search(text: str, spec: SearchSpec, *, prefix: str = "s") -> CompiledSearch:
    """Compile an MLflow filter string against ``spec`` into SQL plus bind values."""
    node = parse_search(text)
    if node is None:
        return CompiledSearch("1", {})
    compiler = _Compiler(spec, prefix)
    return CompiledSearch(compiler.node(node), compiler.params)


# --- paging ------------------------------------------------------------------------------


def encode_page_token(offset: int) -> str:
    """An opaque page token (MLflow's own shape: base64 of ``{"offset": n}``)."""
    return base64.b64encode(json.dumps({"offset": offset}).encode()).decode()


def decode_page_token(token: str | None) -> int:
    """The offset inside a page token; 0 for none. Raises `SearchError` for a foreign token."""
    if not token:
        return 0
    try:
        offset = json.loads(base64.b64decode(token.encode(), validate=True))["offset"]
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise SearchError("invalid page token") from None
    if not isinstance(offset, int) or isinstance(offset, bool) or not 0 <= offset < 2**62:
        raise SearchError("invalid page token")
    return offset
