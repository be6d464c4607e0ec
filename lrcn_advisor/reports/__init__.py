"""Renderers: results -> terminal table, JSON, SARIF, GitHub annotations, JUnit, Markdown, HTML.

One interface, one registry (in the manner of ruff's `Emitter`): every output format is a
`Format` entry whose renderer has the signature `render(documents, context) -> str`, where the
documents are JSON documents (json_report.result_to_dict) and `RenderContext` carries the gate
verdict, computed once per run (`lrcn_advisor.result.Gate`). Renderer modules are imported only
when their format is used, so a `--format json` run never imports rich, Jinja or pygal.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from lrcn_advisor.errors import ConfigError
from lrcn_advisor.result import Gate
from lrcn_advisor.vocabulary import FailOn

Document = dict[str, Any]


@dataclass(frozen=True)
class RenderContext:
    """What every renderer gets besides the documents."""

    gate: Gate = Gate(FailOn.ERROR)
    rules: tuple[str, ...] = ()       # ids of the rules that ran (JUnit lists the clean ones)
    docs_url: str | None = None       # where docs/rules.md is published; rule links are <docs_url>#<id>
    verbose: bool = False             # table: each finding's reasoning
    color: bool = False               # table: ANSI styles (a terminal)
    width: int = 140                  # table: console width


Renderer = Callable[[Sequence[Document], RenderContext], str]


@dataclass(frozen=True)
class Format:
    """One output format: a name, where its renderer lives (imported on first use), what it is."""

    name: str
    module: str             # under lrcn_advisor.reports
    description: str
    cli: bool = True        # offered by `--format`
    one_document: bool = False  # renders one model per call (HTML pages)
    function: str = "emit"

    @property
    def render(self) -> Renderer:
        renderer: Renderer = getattr(importlib.import_module(f"lrcn_advisor.reports.{self.module}"), self.function)
        return renderer


FORMATS: dict[str, Format] = {entry.name: entry for entry in (
    Format("table", "table", "terminal tables: layers, blocks, totals, findings"),
    Format("json", "json_report", "the versioned JSON contract (docs/json-schema.md)"),
    Format("github", "github", "GitHub Actions annotations"),
    Format("markdown", "markdown", "a pull-request comment"),
    Format("sarif", "sarif", "SARIF 2.1.0 for code scanning"),
    Format("junit", "junit", "JUnit XML"),
    Format("html", "html", "the self-contained HTML report (one model)", cli=False, one_document=True),
    Format("html-fragment", "html", "verdict, findings and block chart for a notebook cell",
           cli=False, one_document=True, function="emit_fragment"),
    Format("summary", "markdown", "the GitHub job summary ($GITHUB_STEP_SUMMARY)", cli=False,
           function="emit_summary"),
)}
CLI_FORMATS = tuple(name for name, entry in FORMATS.items() if entry.cli)


def render(name: str, documents: Sequence[Document], context: RenderContext) -> str:
    """Render `documents` in format `name` (a key of FORMATS)."""
    entry = FORMATS.get(name)
    if entry is None:
        raise ConfigError(f"unknown format {name!r} (known: {', '.join(FORMATS)})")
    if entry.one_document and len(documents) != 1:
        raise ValueError(f"format {name!r} renders one model at a time, got {len(documents)}")
    return entry.render(documents, context)
