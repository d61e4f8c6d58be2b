r"""A small filter language for trace lists, compiled to parameterized ClickHouse SQL.

Users type filters such as::

    status = "ERROR" and model = "gpt-4o" and latency_ms > 500
    name ~ "checkout" or (user = 'u1' and tokens >= 1000)
    attributes["user.tier"] = "gold" and not attributes["beta"] exists
    model in ("gpt-4o", "gpt-4o-mini") and cost > 0.01

Grammar (keywords ``and or not in exists true false`` are case-insensitive)::

    expr       := term ("or" term)*
    term       := factor ("and" factor)*
    factor     := "not" factor | "(" expr ")" | comparison
    comparison := field op value | field "in" "(" value ("," value)* ")" | field "exists"
    field      := IDENT ("[" STRING "]")?          IDENT = [A-Za-z_][A-Za-z0-9_.]*
    op         := "=" | "!=" | "<" | "<=" | ">" | ">=" | "~" | "!~"   (~ = contains, any case)
    value      := STRING | NUMBER | "true" | "false"
    STRING     := '...' or "..." with escapes \\ \' \" \n \t \r
    NUMBER     := -?[0-9]+(.[0-9]+)?([eE][+-]?[0-9]+)?

Meaning, by the kind of the field (see :class:`Field`):

    string    = != < <= > >= (bytewise), ~ !~ (contains, Unicode case-insensitive), in,
              exists (non-empty)
    number    = != < <= > >= in, against Float64; no ~, no exists
    bool      = != in, with true / false
    json_map  a Map(String, String) of JSON-encoded values; needs a [key]. = and in compare
              the JSON encoding of the value ("gold" matches the stored text "gold" with
              its quotes; 5 matches 5 but not 5.0); != and !~ hold only where the key
              exists; < <= > >= compare numerically (non-numbers never match); ~ searches
              the stored text; exists tests for the key.

Contract: user text never reaches SQL. Field names are looked up in a caller-supplied
whitelist of :class:`Field` (whose ``sql`` and ``wrap`` are trusted); every value, map key
included, becomes a ClickHouse server-side bind ``{<prefix><n>:<Type>}`` whose value is in
:attr:`CompiledFilter.params` (pass it as ``parameters=`` to clickhouse-connect). Anything
malformed, unknown, ill-typed or over the limits raises :class:`FilterError` naming the
0-based character position. On non-Nullable columns every comparison is true or false, so
``not X`` selects exactly the rows that ``X`` does not.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as _dc_field
from typing import Any, Literal, TypeAlias

MAX_LENGTH = 4096
MAX_DEPTH = 32
MAX_COMPARISONS = 64

Value: TypeAlias = str | int | float | bool


class FilterError(ValueError):
    """A filter that cannot be parsed or compiled; the message says what and where."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"{message} (at position {position})")
        self.position = position


@dataclass(frozen=True)
class Field:
    """A filterable field: ``sql`` and ``wrap`` are trusted SQL, never user text.

    ``wrap``, if set, must contain ``{cond}``; the compiled comparison, parenthesized, is
    put there (e.g. ``trace_id IN (SELECT trace_id FROM spans WHERE {cond})``).
    """

    sql: str
    kind: Literal["string", "number", "bool", "json_map"]
    wrap: str | None = None


@dataclass(frozen=True)
class CompiledFilter:
    """A boolean SQL expression (``"1"`` for an empty filter) and its bind values."""

    sql: str
    params: dict[str, Any]


@dataclass(frozen=True)
class Comparison:
    """``field[key] op value``; ``op`` is one of ``= != < <= > >= ~ !~ in exists``."""

    field: str
    op: str
    value: Value | tuple[Value, ...] | None = None
    key: str | None = None
    pos: int = _dc_field(default=0, compare=False)


@dataclass(frozen=True)
class Not:
    operand: Node


@dataclass(frozen=True)
class And:
    operands: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    operands: tuple[Node, ...]


Node: TypeAlias = Or | And | Not | Comparison

# --- tokenizer ---------------------------------------------------------------------------

_KEYWORDS = frozenset({"and", "or", "not", "in", "exists", "true", "false"})
_ESCAPES = {"\\": "\\", "'": "'", '"': '"', "n": "\n", "t": "\t", "r": "\r"}
_TOKEN_RE = re.compile(
    r"(?P<ws>\s+)"
    r"|(?P<number>-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)"
    r"|(?P<ident>[A-Za-z_][A-Za-z0-9_.]*)"
    r"|(?P<op>!=|!~|<=|>=|[=<>~])"
    r"|(?P<punct>[()\[\],])",
    re.ASCII,
)


@dataclass(frozen=True)
class _Token:
    kind: str  # number ident keyword op punct string end
    text: str  # source text; keywords lower-cased
    pos: int
    value: Value | None = None

    def describe(self) -> str:
        return "end of filter" if self.kind == "end" else repr(self.text)


def _read_string(text: str, start: int) -> tuple[str, int]:
    quote, out, i = text[start], list[str](), start + 1
    while i < len(text):
        char = text[i]
        if char == quote:
            return "".join(out), i + 1
        if char == "\\" and i + 1 < len(text):
            if text[i + 1] not in _ESCAPES:
                raise FilterError(f"unknown escape '\\{text[i + 1]}' in string", i)
            char, i = _ESCAPES[text[i + 1]], i + 1
        out.append(char)
        i += 1
    raise FilterError("unterminated string", start)


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i = 0
    while i < len(text):
        if text[i] in "'\"":
            value, end = _read_string(text, i)
            tokens.append(_Token("string", text[i:end], i, value))
            i = end
            continue
        match = _TOKEN_RE.match(text, i)
        if match is None:
            raise FilterError(f"unexpected character {text[i]!r}", i)
        kind, raw = match.lastgroup, match.group()
        if kind == "number":
            number: float = float(raw) if any(c in raw for c in ".eE") else int(raw)
            if abs(number) > 1e300:  # also catches inf
                raise FilterError(f"number {raw} is out of range", i)
            tokens.append(_Token("number", raw, i, number))
        elif kind == "ident" and raw.lower() in _KEYWORDS:
            tokens.append(_Token("keyword", raw.lower(), i))
        elif kind != "ws":
            tokens.append(_Token(str(kind), raw, i))
        i = match.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


# --- parser ------------------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.i = self.depth = self.comparisons = 0

    def peek(self, kind: str, text: str | None = None) -> bool:
        tok = self.tokens[self.i]
        return tok.kind == kind and (text is None or tok.text == text)

    def next(self) -> _Token:
        tok = self.tokens[self.i]
        self.i += min(1, len(self.tokens) - 1 - self.i)  # stay on "end"
        return tok

    def expect(self, kind: str, text: str, what: str) -> _Token:
        if not self.peek(kind, text):
            tok = self.tokens[self.i]
            raise FilterError(f"expected {what}, found {tok.describe()}", tok.pos)
        return self.next()

    def parse(self) -> Node | None:
        if self.peek("end"):
            return None
        node = self.expr()
        if not self.peek("end"):
            tok = self.tokens[self.i]
            raise FilterError(
                f"unexpected {tok.describe()}; expected 'and', 'or' or the end", tok.pos
            )
        return node

    def expr(self) -> Node:
        parts = [self.term()]
        while self.peek("keyword", "or"):
            self.next()
            parts.append(self.term())
        return parts[0] if len(parts) == 1 else Or(tuple(parts))

    def term(self) -> Node:
        parts = [self.factor()]
        while self.peek("keyword", "and"):
            self.next()
            parts.append(self.factor())
        return parts[0] if len(parts) == 1 else And(tuple(parts))

    def factor(self) -> Node:
        if not (self.peek("keyword", "not") or self.peek("punct", "(")):
            return self.comparison()
        tok = self.next()
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise FilterError(f"filter is nested too deeply (at most {MAX_DEPTH} levels)", tok.pos)
        node: Node = Not(self.factor()) if tok.text == "not" else self.expr()
        if tok.text == "(":
            self.expect("punct", ")", "')'")
        self.depth -= 1
        return node

    def comparison(self) -> Comparison:
        tok = self.next()
        if tok.kind != "ident":
            raise FilterError(f"expected a field name, found {tok.describe()}", tok.pos)
        self.comparisons += 1
        if self.comparisons > MAX_COMPARISONS:
            raise FilterError(f"too many comparisons (at most {MAX_COMPARISONS})", tok.pos)
        key = None
        if self.peek("punct", "["):
            self.next()
            key_tok = self.next()
            if key_tok.kind != "string":
                raise FilterError(f"expected a quoted key, found {key_tok.describe()}", key_tok.pos)
            key = str(key_tok.value)
            self.expect("punct", "]", "']'")
        op = self.next()
        if op.kind == "op":
            return Comparison(tok.text, op.text, self.value(), key, tok.pos)
        if op.text == "exists" and op.kind == "keyword":
            return Comparison(tok.text, "exists", None, key, tok.pos)
        if op.text == "in" and op.kind == "keyword":
            self.expect("punct", "(", "'(' after 'in'")
            if self.peek("punct", ")"):
                raise FilterError("empty 'in' list", self.next().pos)
            values = [self.value()]
            while self.peek("punct", ","):
                self.next()
                values.append(self.value())
            self.expect("punct", ")", "',' or ')'")
            return Comparison(tok.text, "in", tuple(values), key, tok.pos)
        ops = "= != < <= > >= ~ !~ in exists"
        raise FilterError(f"expected an operator ({ops}), found {op.describe()}", op.pos)

    def value(self) -> Value:
        tok = self.next()
        if tok.kind in ("string", "number") and tok.value is not None:
            return tok.value
        if tok.kind == "keyword" and tok.text in ("true", "false"):
            return tok.text == "true"
        msg = f"expected a value (quoted string, number, true or false), found {tok.describe()}"
        raise FilterError(msg, tok.pos)


def parse_filter(text: str) -> Node | None:
    """Parse filter text into an AST; ``None`` for blank text. Raises :class:`FilterError`."""
    if len(text) > MAX_LENGTH:
        raise FilterError(f"filter is too long ({len(text)} > {MAX_LENGTH} characters)", MAX_LENGTH)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise FilterError("filter is not valid text", exc.start) from None
    return _Parser(text).parse()


# --- compiler ----------------------------------------------------------------------------

_ORDER_OPS = frozenset({"<", "<=", ">", ">="})
_KIND_OPS = {
    "string": {"=", "!=", "<", "<=", ">", ">=", "~", "!~", "in", "exists"},
    "number": {"=", "!=", "<", "<=", ">", ">=", "in"},
    "bool": {"=", "!=", "in"},
    "json_map": {"=", "!=", "<", "<=", ">", ">=", "~", "!~", "in", "exists"},
}


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _fits(kind: str, value: Value) -> bool:
    if kind == "number":
        return _is_number(value)
    return isinstance(value, {"string": str, "bool": bool}.get(kind, object))


def _json(value: Value) -> str:
    return json.dumps(value, ensure_ascii=False)


class _Compiler:
    def __init__(self, fields: Mapping[str, Field], prefix: str) -> None:
        self.fields, self.prefix = fields, prefix
        self.params: dict[str, Any] = {}

    def bind(self, value: Any, sql_type: str) -> str:
        name = f"{self.prefix}{len(self.params)}"
        self.params[name] = value
        return f"{{{name}:{sql_type}}}"

    def compile(self, node: Node) -> str:
        if isinstance(node, (And, Or)):
            joiner = " AND " if isinstance(node, And) else " OR "
            return "(" + joiner.join(self.compile(n) for n in node.operands) + ")"
        if isinstance(node, Not):
            return f"(NOT {self.compile(node.operand)})"
        spec = self.fields.get(node.field)
        if spec is None:
            valid = ", ".join(sorted(self.fields)) or "none"
            raise FilterError(f"unknown field {node.field!r}; valid fields: {valid}", node.pos)
        cond = self.comparison(node, spec)
        return f"({spec.wrap.replace('{cond}', f'({cond})') if spec.wrap else cond})"

    def comparison(self, c: Comparison, spec: Field) -> str:
        def fail(why: str) -> FilterError:
            return FilterError(f"field {c.field!r} ({spec.kind}): {why}", c.pos)

        if c.op not in _KIND_OPS[spec.kind]:
            raise fail("'exists' is not supported" if c.op == "exists" else f"no {c.op!r} operator")
        if spec.kind == "json_map" and c.key is None:
            raise fail(f'name a key, e.g. {c.field}["key"]')
        if spec.kind != "json_map" and c.key is not None:
            raise fail("only map fields take a [key]")
        values = c.value if isinstance(c.value, tuple) else () if c.value is None else (c.value,)
        if c.op in ("~", "!~") and not isinstance(c.value, str):
            raise fail(f"{c.op!r} needs a quoted string")
        if c.op in _ORDER_OPS and spec.kind == "json_map" and not _is_number(c.value):
            raise fail(f"{c.op!r} on a map value needs a number")
        for v in values:
            if not _fits(spec.kind, v):
                raise fail(f"cannot compare with {_json(v)}")
        if spec.kind == "json_map":
            return self.map_comparison(c, spec.sql, values)
        sql, op = spec.sql, c.op
        if op == "exists":
            return f"{sql} != ''"
        sql_type = {"string": "String", "number": "Float64", "bool": "Bool"}[spec.kind]
        bound = [float(v) for v in values] if spec.kind == "number" else list(values)
        if op == "in":
            return f"{sql} IN {self.bind(bound, f'Array({sql_type})')}"
        if op in ("~", "!~"):
            found = ">" if op == "~" else "="
            return f"positionCaseInsensitiveUTF8({sql}, {self.bind(bound[0], 'String')}) {found} 0"
        return f"{sql} {op} {self.bind(bound[0], sql_type)}"

    def map_comparison(self, c: Comparison, sql: str, values: tuple[Value, ...]) -> str:
        key = self.bind(c.key, "String")
        has, item, op = f"mapContains({sql}, {key})", f"{sql}[{key}]", c.op
        if op == "exists":
            return has
        if op == "in":
            return f"{item} IN {self.bind([_json(v) for v in values], 'Array(String)')}"
        if op == "=":
            return f"{item} = {self.bind(_json(values[0]), 'String')}"
        if op == "!=":
            return f"{has} AND {item} != {self.bind(_json(values[0]), 'String')}"
        if op in _ORDER_OPS:
            bound = self.bind(float(values[0]), "Float64")
            return f"ifNull(toFloat64OrNull({item}) {op} {bound}, 0)"
        found = self.bind(values[0], "String")
        if op == "~":
            return f"positionCaseInsensitiveUTF8({item}, {found}) > 0"
        return f"{has} AND positionCaseInsensitiveUTF8({item}, {found}) = 0"


_PREFIX_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*", re.ASCII)


def compile_node(node: Node, fields: Mapping[str, Field], *, prefix: str) -> CompiledFilter:
    """Compile one parsed (sub)expression, e.g. a conjunct of `parse_filter`'s result."""
    compiler = _Compiler(fields, prefix)
    return CompiledFilter(compiler.compile(node), compiler.params)


def compile_filter(text: str, fields: Mapping[str, Field], *, prefix: str = "f") -> CompiledFilter:
    """Compile filter text against a whitelist of fields into SQL plus server-side binds.

    Bind names are ``prefix`` followed by a counter (``f0``, ``f1``, ...); use distinct
    prefixes to combine several compiled filters in one query.
    """
    if not _PREFIX_RE.fullmatch(prefix):
        raise ValueError(f"bind prefix must be an identifier, got {prefix!r}")
    for name, spec in fields.items():
        if spec.wrap is not None and "{cond}" not in spec.wrap:
            raise ValueError(f"Field {name!r}: wrap must contain '{{cond}}'")
    node = parse_filter(text)
    if node is None:
        return CompiledFilter("1", {})
    compiler = _Compiler(fields, prefix)
    return CompiledFilter(compiler.compile(node), compiler.params)
