"""GitHub Actions workflow commands: one annotation per active finding and per exceeded budget.

Strings from model files are made inert (control characters shown as escapes) and then escaped as
the runner requires, so a layer name can neither end the command nor start a new one.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from lrcn_advisor.vocabulary import SEVERITY_RANK

from .markdown import active
from .text import inert

if TYPE_CHECKING:
    from . import RenderContext

COMMAND = {"error": "error", "warning": "warning", "info": "notice"}


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(severity: str, path: str, title: str, message: str) -> str:
    properties = f"file={escape_property(path)},line=1,title={escape_property(title)}"
    return f"::{COMMAND[severity]} {properties}::{escape_data(message)}"


def emit(documents: Sequence[dict], context: RenderContext) -> str:
    """Annotations, errors first (budgets before findings), then warnings and notices."""
    entries = []
    for document in documents:
        path = inert(document["model"]["path"])
        entries += [((-SEVERITY_RANK["error"] - 1, path, ""),
                     annotation("error", path, "lrcn-advise budget exceeded", inert(failure)))
                    for failure in document["budget_failures"]]
        entries += [((-SEVERITY_RANK[f["severity"]], path, f["rule"]),
                     annotation(f["severity"], path, f"{f['rule']} {f['name']}: {f['title']}",
                                f"{inert(f['message'])}\nfix: {inert(f['fix'])}"))
                    for f in active(document)]
    entries.sort(key=lambda entry: entry[0])
    return "".join(line + "\n" for _, line in entries)
