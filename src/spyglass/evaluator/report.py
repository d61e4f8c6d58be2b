"""Reports of an evaluation and its gates: Markdown (PR comments), JUnit XML (CI), HTML.

Every piece of user text (dataset rows, names, predictions) is escaped for its format.
"""

from __future__ import annotations

import html
import json
import math
import xml.etree.ElementTree as ET
from typing import Any

from spyglass.evaluator.gate import GateReport
from spyglass.evaluator.result import EvaluationResult

__all__ = ["to_html", "to_junit_xml", "to_markdown"]

HTML_MAX_ROWS = 500


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "n/a" if math.isnan(value) else f"{value:.4f}"
    if value is None:
        return ""
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _md(text: Any) -> str:
    """Escape text for a Markdown table cell (GitHub renders inline HTML, so escape it too)."""
    escaped = html.escape(_fmt(text), quote=False)
    return escaped.replace("|", "\\|").replace("\n", " ").replace("`", "\\`")


def _status(gate: GateReport | None) -> str:
    if gate is None or not gate.checks:
        return "no gates"
    return (
        "passed" if gate.passed else f"FAILED ({len(gate.failures)} of {len(gate.checks)} checks)"
    )


def _baseline_of(gate: GateReport | None) -> dict[str, float]:
    if gate is None:
        return {}
    return {c.metric: c.baseline for c in gate.checks if c.baseline is not None}


def to_markdown(result: EvaluationResult, gate: GateReport | None = None) -> str:
    """A Markdown summary: status, failed and passed checks, metrics, data and model."""
    icon = "" if gate is None or not gate.checks else ("✅ " if gate.passed else "❌ ")
    lines = [f"## {icon}Spyglass evaluation: {_md(result.name)} — {_status(gate)}", ""]
    if gate is not None and gate.checks:
        lines += ["| check | result |", "| --- | --- |"]
        for c in sorted(gate.checks, key=lambda c: c.passed):
            lines.append(f"| {_md(c.description)} | {'pass' if c.passed else '**FAIL**'} |")
        lines.append("")
    baselines = _baseline_of(gate)
    header = "| metric | value | baseline | change |" if baselines else "| metric | value |"
    lines += [header, "| --- | --- | --- | --- |" if baselines else "| --- | --- |"]
    for metric, value in result.metrics.items():
        if baselines:
            before = baselines.get(metric)
            change = "" if before is None else f"{value - before:+.4f}"
            lines.append(f"| {_md(metric)} | {_fmt(value)} | {_fmt(before)} | {change} |")
        else:
            lines.append(f"| {_md(metric)} | {_fmt(value)} |")
    lines.append("")
    for note in gate.notes if gate is not None else ():
        lines.append(f"> note: {_md(note)}")
    ds = result.dataset
    lines.append(
        f"Dataset `{_md(ds.get('name'))}` ({ds.get('rows')} rows, `{_md(ds.get('digest'))}`)"
        + (f"; model `{_md((result.model or {}).get('name'))}`" if result.model else "")
        + f"; {result.duration_s:.1f} s."
    )
    lines += [
        "",
        "<details><summary>How the scores were computed</summary>",
        "",
        "```text",
        *(  # no backticks, so user text (a judge's criteria) cannot close the fence
            f"{name}: {json.dumps(info, ensure_ascii=False)}".replace("`", "'")
            for name, info in result.metric_info.items()
        ),
        "```",
        "",
        "</details>",
        "",
    ]
    return "\n".join(lines)


def to_junit_xml(result: EvaluationResult, gate: GateReport | None = None) -> str:
    """JUnit XML: one test case per check (or one for the evaluation when there are none)."""
    checks = list(gate.checks) if gate is not None else []
    suite = ET.Element(
        "testsuite",
        name=f"spyglass.eval.{result.name}",
        tests=str(max(len(checks), 1)),
        failures=str(sum(not c.passed for c in checks)),
        errors="0",
        skipped="0",
        time=f"{result.duration_s:.3f}",
    )
    props = ET.SubElement(suite, "properties")
    ET.SubElement(
        props, "property", name="dataset.digest", value=str(result.dataset.get("digest", ""))
    )
    for metric, value in result.metrics.items():
        ET.SubElement(props, "property", name=f"metric.{metric}", value=_fmt(value))
    classname = f"spyglass.eval.{result.name}"
    if not checks:
        ET.SubElement(suite, "testcase", classname=classname, name="evaluation", time="0")
    for c in checks:
        case = ET.SubElement(
            suite, "testcase", classname=classname, name=f"{c.kind}:{c.metric}", time="0"
        )
        if not c.passed:
            failure = ET.SubElement(
                case, "failure", message=c.description, type=f"spyglass.{c.kind}"
            )
            failure.text = c.description
    out = ET.SubElement(suite, "system-out")
    out.text = to_markdown(result, gate)
    suites = ET.Element(
        "testsuites",
        name="spyglass",
        tests=suite.get("tests", "0"),
        failures=suite.get("failures", "0"),
    )
    suites.append(suite)
    ET.indent(suites)
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
    )


_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;
vertical-align:top;text-align:left}th{background:#f4f4f4}.fail{color:#b00;font-weight:bold}
.pass{color:#070}.rows td{max-width:32em;white-space:pre-wrap;word-break:break-word}
pre{background:#f8f8f8;padding:1em;overflow:auto}
"""


def _e(value: Any) -> str:
    return html.escape(_fmt(value), quote=True)


def to_html(result: EvaluationResult, gate: GateReport | None = None) -> str:
    """A standalone HTML page with checks, metrics, provenance and the per-row table."""
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>Spyglass evaluation: {_e(result.name)}</title><style>{_CSS}</style></head><body>",
        f"<h1>Spyglass evaluation: {_e(result.name)}</h1>",
        f"<p>Status: <b>{_e(_status(gate))}</b>. Dataset {_e(result.dataset.get('name'))} "
        f"({_e(result.dataset.get('rows'))} rows, <code>{_e(result.dataset.get('digest'))}</code>)"
        + (f", model <code>{_e((result.model or {}).get('name'))}</code>" if result.model else "")
        + "</p>",
    ]
    if gate is not None and gate.checks:
        parts.append("<h2>Checks</h2><table><tr><th>check</th><th>result</th></tr>")
        for c in gate.checks:
            cls = "pass" if c.passed else "fail"
            parts.append(f"<tr><td>{_e(c.description)}</td><td class='{cls}'>{cls}</td></tr>")
        parts.append("</table>")
        parts += [f"<p>note: {_e(n)}</p>" for n in gate.notes]
    parts.append("<h2>Metrics</h2><table><tr><th>metric</th><th>value</th></tr>")
    parts += [f"<tr><td>{_e(k)}</td><td>{_e(v)}</td></tr>" for k, v in result.metrics.items()]
    parts.append("</table>")
    rows = result.rows[:HTML_MAX_ROWS]
    columns = list(dict.fromkeys(k for row in rows for k in row))
    parts.append(
        f"<h2>Rows</h2><p>{len(rows)} of {len(result.rows)} shown.</p><table class='rows'><tr>"
    )
    parts += [f"<th>{_e(c)}</th>" for c in columns]
    parts.append("</tr>")
    for row in rows:
        parts.append("<tr>" + "".join(f"<td>{_e(row.get(c))}</td>" for c in columns) + "</tr>")
    parts.append("</table><h2>How the scores were computed</h2>")
    parts.append(f"<pre>{_e(json.dumps(result.metric_info, indent=1, ensure_ascii=False))}</pre>")
    parts.append("</body></html>\n")
    return "\n".join(parts)
