"""Tests for the trace-list filter language: parsing, errors, and real execution on chDB."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spyglass.store.filters import (
    MAX_COMPARISONS,
    MAX_DEPTH,
    MAX_LENGTH,
    And,
    Comparison,
    CompiledFilter,
    Field,
    FilterError,
    Node,
    Not,
    Or,
    compile_filter,
    parse_filter,
)

FIELDS = {
    "name": Field("name", "string"),
    "status": Field("status", "string"),
    "latency_ms": Field("latency_ms", "number"),
    "cached": Field("cached", "bool"),
    "attributes": Field("attributes", "json_map"),
}

# (name, status, latency_ms, cached, attributes with JSON-encoded values)
ROWS: list[tuple[str, str, float, bool, dict[str, str]]] = [
    ("checkout", "ERROR", 1200.0, False, {"user.tier": '"gold"', "n": "5", "beta": "true"}),
    ("Checkout-v2", "OK", 300.0, True, {"user.tier": '"silver"', "n": "12.5"}),
    ("search", "OK", 50.0, False, {"user.tier": '"gold"', "note": json.dumps('it\'s "q"')}),
    ("refund", "ERROR", 800.0, True, {}),
    ("' OR 1=1 --", "OK", 0.0, False, {"user.tier": json.dumps("' OR 1=1 --")}),
    ("café ünïcode ☃", "UNSET", 5.0, False, {"n": "-1", "user.tier": '"GOLD"'}),
]
ALL = {row[0] for row in ROWS}


def quote(value: str, q: str = '"') -> str:
    """A filter-language string literal for any text."""
    escaped = value.replace("\\", "\\\\").replace(q, "\\" + q)
    return f"{q}{escaped}{q}"


# --- ClickHouse fixtures (chdb_client, one data path per process, is in conftest.py) -------


@pytest.fixture
def db(chdb_client: Client) -> Iterator[str]:
    name = f"filters_{uuid.uuid4().hex}"
    chdb_client.command(f"CREATE DATABASE {name}")
    chdb_client.command(
        f"CREATE TABLE {name}.t (name String, status String, latency_ms Float64, cached Bool,"
        " attributes Map(String, String)) ENGINE = MergeTree ORDER BY name"
    )
    chdb_client.insert(
        f"{name}.t", ROWS, column_names=["name", "status", "latency_ms", "cached", "attributes"]
    )
    yield name
    chdb_client.command(f"DROP DATABASE {name}")


def run(client: Client, db: str, compiled: CompiledFilter) -> set[str]:
    query = f"SELECT name FROM {db}.t WHERE {compiled.sql}"
    return {row[0] for row in client.query(query, parameters=compiled.params).result_rows}


def select(client: Client, db: str, text: str, fields: Mapping[str, Field] = FIELDS) -> set[str]:
    return run(client, db, compile_filter(text, fields))


# --- parsing ------------------------------------------------------------------------------


def test_precedence_and_binds_tighter_than_or() -> None:
    assert parse_filter("a = 1 or b = 2 and c = 3") == Or(
        (Comparison("a", "=", 1), And((Comparison("b", "=", 2), Comparison("c", "=", 3))))
    )


def test_parentheses_override_precedence() -> None:
    assert parse_filter("(a = 1 or b = 2) and c = 3") == And(
        (Or((Comparison("a", "=", 1), Comparison("b", "=", 2))), Comparison("c", "=", 3))
    )


def test_not_binds_to_one_factor() -> None:
    assert parse_filter('not attributes["beta"] exists and x != -2.5') == And(
        (Not(Comparison("attributes", "exists", key="beta")), Comparison("x", "!=", -2.5))
    )
    assert parse_filter("not not a = 1") == Not(Not(Comparison("a", "=", 1)))


def test_in_list_and_value_kinds() -> None:
    assert parse_filter("model in ('gpt-4o', \"mini\", 3, 1e3, TRUE, false)") == Comparison(
        "model", "in", ("gpt-4o", "mini", 3, 1000.0, True, False)
    )


def test_all_operators_and_dotted_fields() -> None:
    for op in ["=", "!=", "<", "<=", ">", ">=", "~", "!~"]:
        assert parse_filter(f"gen_ai.usage.input_tokens{op}7") == Comparison(
            "gen_ai.usage.input_tokens", op, 7
        )


def test_string_escapes_and_quote_styles() -> None:
    node = parse_filter(r"""a = 'it\'s' or b = "say \"hi\"\n\t\\" or c = 'a"b' or d = "a'b" """)
    assert isinstance(node, Or)
    assert [c.value for c in node.operands if isinstance(c, Comparison)] == [
        "it's",
        'say "hi"\n\t\\',
        'a"b',
        "a'b",
    ]


def test_keywords_are_case_insensitive() -> None:
    assert parse_filter("NOT a = 1 AnD b IN (1) Or c EXISTS") == Or(
        (
            And((Not(Comparison("a", "=", 1)), Comparison("b", "in", (1,)))),
            Comparison("c", "exists"),
        )
    )


def test_blank_filter() -> None:
    assert parse_filter("  \n ") is None
    assert compile_filter("", FIELDS) == CompiledFilter("1", {})


def test_positions_are_recorded() -> None:
    node = parse_filter("a = 1 and  bb = 2")
    assert isinstance(node, And)
    assert [c.pos for c in node.operands if isinstance(c, Comparison)] == [0, 11]


# --- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message", "position"),
    [
        ('name = "abc', "unterminated string", 7),
        ("name = 'abc\\'", "unterminated string", 7),
        ('name = "a\\qb"', "unknown escape", 9),
        ('name = "x" garbage', "unexpected 'garbage'", 11),
        ('name = "x")', "unexpected ')'", 10),
        ('name == "x"', "expected a value", 6),
        ('name <> "x"', "expected a value", 6),
        ('name like "x"', "expected an operator", 5),
        ("name", "expected an operator", 4),
        ("name in ()", "empty 'in' list", 9),
        ("name in ('a',)", "expected a value", 13),
        ("name in ('a' 'b')", "expected ',' or ')'", 13),
        ("(name = 'a'", "expected ')'", 11),
        ("name = 'a' and", "expected a field name", 14),
        ("= 'a'", "expected a field name", 0),
        ("name = 'a'; DROP TABLE t", "unexpected character ';'", 10),
        ("name = 'a' -- comment", "unexpected character '-'", 11),
        ("attributes[k] = 1", "expected a quoted key", 11),
        ("attributes['k' = 1", "expected ']'", 15),
        ("x > 1e999", "out of range", 4),
        ("name = 'a\ud800'", "not valid text", 9),
    ],
)
def test_parse_errors_say_what_and_where(text: str, message: str, position: int) -> None:
    with pytest.raises(FilterError, match=re.escape(message)) as info:
        parse_filter(text)
    assert info.value.position == position
    assert f"(at position {position})" in str(info.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("secret = 1", "unknown field 'secret'; valid fields: attributes, cached, latency_ms"),
        ('latency_ms > "abc"', 'cannot compare with "abc"'),
        ("latency_ms ~ '5'", "no '~' operator"),
        ("latency_ms exists", "'exists' is not supported"),
        ("latency_ms in (1, 'a')", 'cannot compare with "a"'),
        ("name = 5", "cannot compare with 5"),
        ("name ~ 5", "'~' needs a quoted string"),
        ("name['k'] = 'a'", "only map fields take a [key]"),
        ("cached = 'yes'", 'cannot compare with "yes"'),
        ("cached > true", "no '>' operator"),
        ("attributes = 'a'", 'name a key, e.g. attributes["key"]'),
        ("attributes['n'] > 'a'", "'>' on a map value needs a number"),
        ("attributes['n'] ~ 5", "'~' needs a quoted string"),
    ],
)
def test_compile_errors(text: str, message: str) -> None:
    with pytest.raises(FilterError, match=re.escape(message)) as info:
        compile_filter(f"status = 'x' and {text}", FIELDS)
    assert info.value.position == len("status = 'x' and ")


def test_limits() -> None:
    deep = "(" * MAX_DEPTH + "name = 'a'" + ")" * MAX_DEPTH
    assert parse_filter(deep) == Comparison("name", "=", "a")
    with pytest.raises(FilterError, match="nested too deeply") as info:
        parse_filter("(" + deep + ")")
    assert info.value.position == MAX_DEPTH
    with pytest.raises(FilterError, match="nested too deeply"):
        parse_filter("not " * (MAX_DEPTH + 1) + "a = 1")
    with pytest.raises(FilterError, match="too long") as info:
        parse_filter("a = " + "1" * MAX_LENGTH)
    assert info.value.position == MAX_LENGTH
    many = " or ".join(["a = 1"] * MAX_COMPARISONS)
    assert isinstance(parse_filter(many), Or)
    with pytest.raises(FilterError, match="too many comparisons"):
        parse_filter(many + " or a = 1")


def test_bad_configuration_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="prefix"):
        compile_filter("name = 'a'", FIELDS, prefix="f; DROP")
    with pytest.raises(ValueError, match="wrap"):
        compile_filter("name = 'a'", {"name": Field("name", "string", wrap="x")})


# --- compiled SQL -------------------------------------------------------------------------


def test_compiled_sql_shape() -> None:
    text = 'status = "ERROR" and (name ~ "chk" or latency_ms >= 500) and not cached = true'
    assert compile_filter(text, FIELDS) == CompiledFilter(
        "((status = {f0:String}) AND ((positionCaseInsensitiveUTF8(name, {f1:String}) > 0)"
        " OR (latency_ms >= {f2:Float64})) AND (NOT (cached = {f3:Bool})))",
        {"f0": "ERROR", "f1": "chk", "f2": 500.0, "f3": True},
    )


def test_json_map_compilation() -> None:
    compiled = compile_filter(
        "attributes['t'] = 'gold' and attributes['n'] = 5 and attributes['b'] != true"
        " and attributes['t'] in ('a', 1)",
        FIELDS,
        prefix="q",
    )
    assert compiled.sql == (
        "((attributes[{q0:String}] = {q1:String}) AND (attributes[{q2:String}] = {q3:String})"
        " AND (mapContains(attributes, {q4:String}) AND attributes[{q4:String}] != {q5:String})"
        " AND (attributes[{q6:String}] IN {q7:Array(String)}))"
    )
    assert compiled.params == {
        "q0": "t",
        "q1": '"gold"',
        "q2": "n",
        "q3": "5",
        "q4": "b",
        "q5": "true",
        "q6": "t",
        "q7": ['"a"', "1"],
    }


def test_field_sql_comes_only_from_the_whitelist() -> None:
    fields = {"user": Field("user_id", "string")}
    compiled = compile_filter("user = 'u1' or user in ('secret', 'x')", fields)
    assert "user_id" in compiled.sql and "secret" not in compiled.sql and "u1" not in compiled.sql
    for text in ["user_id = 'a'", "USER = 'a'", "system.tables = 'a'", "user.x = 'a'"]:
        with pytest.raises(FilterError, match="unknown field"):
            compile_filter(text, fields)


# --- execution on ClickHouse --------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('status = "ERROR"', {"checkout", "refund"}),
        ("status != 'OK'", {"checkout", "refund", "café ünïcode ☃"}),
        ("name ~ 'CHECKOUT'", {"checkout", "Checkout-v2"}),
        ("name !~ 'checkout' and status = 'OK'", {"search", "' OR 1=1 --"}),
        ("name ~ 'CAFÉ'", {"café ünïcode ☃"}),
        ("latency_ms > 500", {"checkout", "refund"}),
        ("latency_ms <= 5 or latency_ms = 300", {"' OR 1=1 --", "café ünïcode ☃", "Checkout-v2"}),
        ("latency_ms in (50, 800.0)", {"search", "refund"}),
        ("name in ('search', 'nope')", {"search"}),
        ("cached = true", {"Checkout-v2", "refund"}),
        ("cached != true and latency_ms > 100", {"checkout"}),
        ("status = 'OK' and (latency_ms > 100 or name ~ 'sea')", {"Checkout-v2", "search"}),
        (
            "status = 'ERROR' or status = 'OK' and latency_ms < 100",
            {"checkout", "refund", "search", "' OR 1=1 --"},
        ),
        ("not (status = 'OK' or status = 'UNSET')", {"checkout", "refund"}),
        ('attributes["user.tier"] = "gold"', {"checkout", "search"}),
        ('attributes["user.tier"] ~ "gold"', {"checkout", "search", "café ünïcode ☃"}),
        ('attributes["user.tier"] != "gold"', {"Checkout-v2", "' OR 1=1 --", "café ünïcode ☃"}),
        ('attributes["user.tier"] !~ "GOLD"', {"Checkout-v2", "' OR 1=1 --"}),
        ('attributes["user.tier"] in ("silver", "GOLD")', {"Checkout-v2", "café ünïcode ☃"}),
        ('attributes["n"] = 5', {"checkout"}),
        ('attributes["n"] > 4', {"checkout", "Checkout-v2"}),
        ('attributes["n"] < 0', {"café ünïcode ☃"}),
        ('not attributes["n"] > 4', ALL - {"checkout", "Checkout-v2"}),
        ('attributes["beta"] = true', {"checkout"}),
        ('attributes["beta"] exists', {"checkout"}),
        ('attributes["user.tier"] = "gold" and not attributes["beta"] exists', {"search"}),
        ("attributes['note'] = 'it\\'s \"q\"'", {"search"}),
        ("attributes['missing'] = ''", set()),
        ("name exists", ALL),
        ("", ALL),
    ],
)
def test_filters_select_expected_rows(
    chdb_client: Client, db: str, text: str, expected: set[str]
) -> None:
    assert select(chdb_client, db, text) == expected


def test_wrap_turns_a_comparison_into_a_subquery(chdb_client: Client, db: str) -> None:
    chdb_client.command(
        f"CREATE TABLE {db}.spans (trace_id String, attributes Map(String, String))"
        " ENGINE = MergeTree ORDER BY trace_id"
    )
    spans = [("checkout", {"tool": '"search"'}), ("checkout", {}), ("refund", {"tool": '"db"'})]
    chdb_client.insert(f"{db}.spans", spans, column_names=["trace_id", "attributes"])
    fields = {
        **FIELDS,
        "span": Field(
            "attributes",
            "json_map",
            wrap=f"name IN (SELECT trace_id FROM {db}.spans WHERE {{cond}})",
        ),
    }
    assert select(chdb_client, db, "span['tool'] = 'search'", fields) == {"checkout"}
    assert select(chdb_client, db, "span['tool'] exists and status = 'ERROR'", fields) == {
        "checkout",
        "refund",
    }
    assert select(chdb_client, db, "not span['tool'] exists", fields) == ALL - {
        "checkout",
        "refund",
    }


def test_prefixes_let_filters_share_a_query(chdb_client: Client, db: str) -> None:
    a = compile_filter("status = 'OK'", FIELDS, prefix="a")
    b = compile_filter("latency_ms > 100", FIELDS, prefix="b")
    both = CompiledFilter(f"{a.sql} AND {b.sql}", {**a.params, **b.params})
    assert run(chdb_client, db, both) == {"Checkout-v2"}


# --- injection ----------------------------------------------------------------------------

HOSTILE = [
    "' OR 1=1 --",
    '"); DROP TABLE t; --',
    "\\'",
    "\\",
    "`name`",
    "{f0:String}",
    "{f1:Array(String)}",
    "a\x00b",
    "\x00",
    "ünïcode ☃ 𝄞",
    "\n\r\t",
    "'; SELECT * FROM system.tables; --",
    ")) OR ((1",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_values_match_only_literally(chdb_client: Client, db: str, value: str) -> None:
    literal = {row[0] for row in ROWS if row[0] == value}
    for q in "'\"":
        lit = quote(value, q)
        assert select(chdb_client, db, f"name = {lit}") == literal
        assert select(chdb_client, db, f"name in ({lit}, {lit})") == literal
        assert select(chdb_client, db, f"name != {lit}") == ALL - literal
        contains = {row[0] for row in ROWS if value.lower() in row[0].lower()}
        assert select(chdb_client, db, f"name ~ {lit}") == contains
        tier = {row[0] for row in ROWS if row[4].get("user.tier") == json.dumps(value)}
        assert select(chdb_client, db, f"attributes['user.tier'] = {lit}") == tier
        assert select(chdb_client, db, f"attributes[{lit}] exists") == set()
    assert chdb_client.query(f"SELECT count() FROM {db}.t").result_rows == [(len(ROWS),)]


@pytest.mark.parametrize(
    "text",
    [
        "name = 'x' OR 1=1",
        "name = 'x' or 1 = 1",
        "name = 'x'; DROP TABLE t",
        "name = 'x' --",
        "name = x",
        "name = `x`",
        "`name` = 'x'",
        "name = {f0:String}",
        "attributes[name] = 'x'",
        "name = 'x' /* c */",
        "name = '\\'' OR '1'='1",
    ],
)
def test_unquoted_sql_is_rejected(text: str) -> None:
    with pytest.raises(FilterError):
        compile_filter(text, FIELDS)


# --- properties ---------------------------------------------------------------------------

_BIND = re.compile(r"\{f\d+:(String|Float64|Bool|Array\((String|Float64|Bool)\))\}")
_SQL_WORDS = {"AND", "OR", "NOT", "IN", "ifNull", "toFloat64OrNull", "mapContains"}
_SQL_WORDS |= {"positionCaseInsensitiveUTF8", *(f.sql for f in FIELDS.values())}


def assert_only_trusted_sql(sql: str) -> None:
    rest = _BIND.sub("", sql)
    assert set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", rest)) <= _SQL_WORDS, sql
    assert re.fullmatch(r"[A-Za-z0-9_ ()\[\],!=<>']*", rest), sql
    assert "'" not in rest.replace("''", ""), sql  # the only literal is ''


def reference(node: Node, row: tuple[str, str, float, bool, dict[str, str]]) -> bool:
    """What a filter means, evaluated in Python against one row of ROWS."""
    if isinstance(node, And):
        return all(reference(n, row) for n in node.operands)
    if isinstance(node, Or):
        return any(reference(n, row) for n in node.operands)
    if isinstance(node, Not):
        return not reference(node.operand, row)
    columns: dict[str, Any] = dict(zip(FIELDS, row, strict=True))
    op, value, attrs = node.op, node.value, row[4]
    if node.field == "attributes":
        assert node.key is not None
        has, item = node.key in attrs, attrs.get(node.key, "")
        if op == "exists":
            return has
        if op in ("<", "<=", ">", ">="):
            try:
                return bool(compare(float(item), op, value))
            except ValueError:
                return False
        if op == "in":
            assert isinstance(value, tuple)
            return item in [json.dumps(v, ensure_ascii=False) for v in value]
        if op in ("~", "!~"):
            found = str(value).lower() in item.lower()
            return found if op == "~" else has and not found
        encoded = json.dumps(value, ensure_ascii=False)
        return item == encoded if op == "=" else has and item != encoded
    actual = columns[node.field]
    if op == "exists":
        return bool(actual != "")
    if op == "in":
        assert isinstance(value, tuple)
        return actual in value
    if op in ("~", "!~"):
        return (str(value).lower() in actual.lower()) == (op == "~")
    return bool(compare(actual, op, value))


def compare(a: Any, op: str, b: Any) -> Any:
    ops = {"=": a == b, "!=": a != b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}
    return ops[op]


ascii_text = st.text(st.characters(max_codepoint=127), max_size=5)
strings = (
    st.sampled_from(["checkout", "OK", "ERROR", "gold", "Check", "", "' OR 1=1 --"]) | ascii_text
)
numbers = st.sampled_from([0, 5, 12.5, 50, 300, 800, -1, 1200, 4.25])
keys = st.sampled_from(["user.tier", "n", "beta", "note", "missing"])
str_ops = st.sampled_from(["=", "!=", "<", "<=", ">", ">=", "~", "!~"])
num_ops = st.sampled_from(["=", "!=", "<", "<=", ">", ">="])


def literal(value: str | float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return quote(value) if isinstance(value, str) else repr(value)


comparisons = st.one_of(
    st.builds(
        lambda f, o, v: f"{f} {o} {quote(v)}", st.sampled_from(["name", "status"]), str_ops, strings
    ),
    st.builds(lambda o, v: f"latency_ms {o} {v}", num_ops, numbers),
    st.builds(lambda vs: f"name in ({', '.join(map(quote, vs))})", st.lists(strings, min_size=1)),
    st.builds(lambda v: f"cached = {literal(v)}", st.booleans()),
    st.builds(lambda k: f"attributes[{quote(k)}] exists", keys),
    st.builds(lambda k, o, v: f"attributes[{quote(k)}] {o} {v}", keys, num_ops, numbers),
    st.builds(
        lambda k, o, v: f"attributes[{quote(k)}] {o} {literal(v)}",
        keys,
        st.sampled_from(["=", "!="]),
        strings | numbers | st.booleans(),
    ),
    st.builds(
        lambda k, o, v: f"attributes[{quote(k)}] {o} {quote(v)}",
        keys,
        str_ops.filter(lambda o: "~" in o),
        strings,
    ),
    st.builds(
        lambda k, vs: f"attributes[{quote(k)}] in ({', '.join(map(literal, vs))})",
        keys,
        st.lists(strings | numbers, min_size=1, max_size=3),
    ),
)
filters = st.recursive(
    comparisons,
    lambda inner: st.one_of(
        st.builds(lambda a, b: f"{a} and {b}", inner, inner),
        st.builds(lambda a, b: f"{a} OR {b}", inner, inner),
        st.builds(lambda a: f"not ({a})", inner),
        st.builds(lambda a: f"({a})", inner),
    ),
    max_leaves=8,
)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=filters)
def test_valid_filters_select_what_they_mean(chdb_client: Client, db: str, text: str) -> None:
    node = parse_filter(text)
    assert node is not None
    compiled = compile_filter(text, FIELDS)
    assert_only_trusted_sql(compiled.sql)
    expected = {row[0] for row in ROWS if reference(node, row)}
    assert run(chdb_client, db, compiled) == expected
    negated = compile_filter(f"not ({text})", FIELDS)
    assert run(chdb_client, db, negated) == ALL - expected


_FRAGMENTS = [
    "name", "status", "latency_ms", "cached", "attributes", "secret", "[", "]", "(", ")", ",",
    "'a'", '"b"', "'", '"', "\\", "=", "!=", "<", "<=", ">", ">=", "~", "!~", "!", "and", "OR",
    "not", "in", "exists", "true", "false", "1", "-2.5", "1e400", "{f0:String}", ";", "--", "`",
]  # fmt: skip


def mutate(text: str, at: int, fragment: str) -> str:
    """A valid filter with one character replaced by a fragment (or deleted)."""
    at %= len(text)
    return text[:at] + fragment + text[at + 1 :]


@settings(
    max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    text=st.lists(st.sampled_from(_FRAGMENTS), max_size=12).map(" ".join)
    | st.text(max_size=40)
    | st.builds(mutate, filters, st.integers(0, 200), st.sampled_from(["", *_FRAGMENTS]))
)
def test_any_text_raises_filter_error_or_runs(chdb_client: Client, db: str, text: str) -> None:
    try:
        compiled = compile_filter(text, FIELDS)
    except FilterError as exc:
        assert 0 <= exc.position <= len(text)
        return
    assert_only_trusted_sql(compiled.sql)
    run(chdb_client, db, compiled)  # must not raise
