"""Render a model comparison (lrcn_advisor.diff.compare) as a table, Markdown or JSON."""
from __future__ import annotations

import json

from .markdown import md
from .text import delta, inert


def render_diff(report: dict, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(report, indent=2, ensure_ascii=False) + "\n"
    return _markdown(report) if fmt == "markdown" else _table(report)


def _rows(report: dict) -> list[tuple[str, str, str]]:
    rows = [(f"{block['id']} ({block['label']})" + ("" if block["status"] in ("changed", "unchanged")
                                                     else f" [{block['status']}]"),
             delta(block["params"]["before"], block["params"]["after"]),
             delta(block["macs"]["before"], block["macs"]["after"])) for block in report["blocks"]]
    totals = report["totals"]
    return rows + [("total", delta(totals["params"]["before"], totals["params"]["after"]),
                    delta(totals["macs"]["before"], totals["macs"]["after"]))]


def _finding_line(finding: dict, escape) -> str:
    layers = ", ".join(escape(name) for name in finding["layers"]) or "model"
    return f"{finding['severity']} {finding['rule']} {finding['name']} [{layers}]: {escape(finding['message'])}"


def _table(report: dict) -> str:
    rows = [("block", "params", "MACs"), *_rows(report)]
    widths = [max(len(row[column]) for row in rows) for column in range(3)]
    lines = [f"lrcn-advise diff: {inert(report['old']['path'])} -> {inert(report['new']['path'])}", ""]
    lines += ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    for title, key in (("New findings", "new_findings"), ("Fixed findings", "fixed_findings")):
        lines += ["", f"{title} ({len(report[key])}):"]
        lines += [f"  {_finding_line(finding, inert)}" for finding in report[key]]
    lines.append("")
    lines += [f"FAIL: {inert(failure)}" for failure in report["failures"]] or ["PASS"]
    return "\n".join(lines) + "\n"


def _markdown(report: dict) -> str:
    verdict = "❌ **failed**" if report["failures"] else "✅ **passed**"
    lines = [f"## lrcn-advise diff: {verdict}", "",
             f"{md(report['old']['path'])} → {md(report['new']['path'])}", "",
             "| block | params | MACs |", "| --- | ---: | ---: |"]
    lines += [f"| {md(block)} | {params} | {macs} |" for block, params, macs in _rows(report)]
    for title, key in (("New findings", "new_findings"), ("Fixed findings", "fixed_findings")):
        lines += ["", f"**{title} ({len(report[key])})**"]
        if report[key]:
            lines += ["", *(f"- {_finding_line(finding, md)}" for finding in report[key])]
    if report["failures"]:
        lines += ["", *(f"- ❌ {md(failure)}" for failure in report["failures"])]
    return "\n".join(lines) + "\n"
