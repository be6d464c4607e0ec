"""Markdown for a pull-request comment (`emit`) and the GitHub job summary (`emit_summary`).

Every string read from a model file goes through `md()`, so a layer name cannot add markup,
links, HTML, table cells or @-mentions.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from lrcn_advisor.result import Gate
from lrcn_advisor.rules import REGISTRY
from lrcn_advisor.vocabulary import SEVERITY_RANK

from .text import inert, macs, num, pct, rule_url

if TYPE_CHECKING:
    from . import RenderContext

MARKER = "<!-- lrcn-advise -->"  # lets a bot find and update its earlier comment
ICON = {"error": "🔴", "warning": "🟡", "info": "🔵"}
COUNTED = {"error": "error(s)", "warning": "warning(s)", "info": "info"}
_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~&:])")


def md(text) -> str:
    """Inline Markdown that shows `text` literally: punctuation escaped, no line breaks or mentions."""
    return _SPECIAL.sub(r"\\\1", inert(text)).replace("@", "@\u200b")


def active(document: dict) -> list[dict]:
    return [f for f in document["findings"] if not f["suppressed"] and not f["in_baseline"]]


def verdict(documents: Sequence[dict], gate: Gate) -> str:
    parts = [f"{len(documents)} model(s)",
             *(f"{sum(d['counts'][level] for d in documents)} {label}" for level, label in COUNTED.items())]
    budgets = sum(len(d["budget_failures"]) for d in documents)
    if budgets:
        parts.append(f"{budgets} budget(s) exceeded")
    head = "❌ **lrcn-advise: failed**" if gate.failed else "✅ **lrcn-advise: passed**"
    return f"{head} · {' · '.join(parts)} (fail-on: {gate.fail_on})"


def emit(documents: Sequence[dict], context: RenderContext) -> str:
    """A pull-request comment: verdict, then per model its findings and (folded) block table."""
    lines = [MARKER, f"## {verdict(documents, context.gate)}", ""]
    for document in documents:
        lines += _model(document, folded=True, docs_url=context.docs_url)
    return "\n".join(lines) + "\n"


def emit_summary(documents: Sequence[dict], context: RenderContext) -> str:
    """$GITHUB_STEP_SUMMARY: the verdict line, each model's block table and its findings."""
    lines = [verdict(documents, context.gate), ""]
    for document in documents:
        lines += _model(document, folded=False, docs_url=context.docs_url)
    return "\n".join(lines) + "\n"


def _model(document: dict, folded: bool, docs_url: str | None) -> list[str]:
    model, totals = document["model"], document["totals"]
    frames = f"T={model['frames']}" if model["frames"] else "no time axis"
    lines = [f"### {md(model['path'])}", "",
             f"{num(totals['params'])} params · {num(totals['macs'])} MACs per clip · {frames}", ""]
    blocks = ["| block | layers | params | MACs | share |", "| --- | ---: | ---: | ---: | ---: |"]
    blocks += [f"| {md(b['id'])} ({md(b['label'])}) | {len(b['layers'])} | {num(b['params'])} | {macs(b['macs'])} "
               f"| {pct(b['macs'], totals['macs'])} |" for b in document["blocks"]]
    lines += ["<details><summary>Blocks</summary>", "", *blocks, "", "</details>", ""] if folded else [*blocks, ""]
    findings = sorted(active(document), key=lambda f: -SEVERITY_RANK[f["severity"]])
    if findings:
        lines += ["| severity | rule | layers | finding | fix |", "| --- | --- | --- | --- | --- |"]
        lines += [f"| {ICON[f['severity']]} {f['severity']} | {_rule_link(f, docs_url)} | "
                  f"{', '.join(md(name) for name in f['layers']) or 'model'} | {md(f['message'])} | {md(f['fix'])} |"
                  for f in findings]
    else:
        lines.append("No findings.")
    lines.append("")
    if document["budget_failures"]:
        lines += [*(f"- ❌ **budget:** {md(failure)}" for failure in document["budget_failures"]), ""]
    hidden = len(document["findings"]) - len(findings)
    if hidden:
        lines += [f"_{hidden} finding(s) suppressed or in the baseline._", ""]
    return lines


def _rule_link(finding: dict, docs_url: str | None) -> str:
    label = f"{md(finding['rule'])} {md(finding['name'])}"
    url = rule_url(finding["rule"], docs_url) if finding["rule"] in REGISTRY else None
    return f"[{label}]({url})" if url else label
