"""SARIF 2.1.0 for GitHub code scanning: one run, every rule from the registry, one result per active finding.

Suppressed findings and findings in the baseline are left out, as in every other report: the
baseline already hides them from the gate, and code scanning closes an alert whose result stops
appearing. Budget failures and model warnings are not rule results; they are reported as
tool execution notifications.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from lrcn_advisor._version import __version__
from lrcn_advisor.rules import all_rules

from .markdown import active
from .text import RULES_DOC, inert, rule_url

if TYPE_CHECKING:
    from . import RenderContext

SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
FINGERPRINT = "lrcnFinding/v1"
LEVEL = {"error": "error", "warning": "warning", "info": "note"}
PROBLEM_SEVERITY = {"error": "error", "warning": "warning", "info": "recommendation"}


def emit(documents: Sequence[dict], context: RenderContext) -> str:
    """helpUri and informationUri appear only when the docs are published (`docs-url`): never a dead link."""
    catalogue = all_rules()
    index = {rule.id: position for position, rule in enumerate(catalogue)}
    results, notifications = [], []
    for position, document in enumerate(documents):
        location = _artifact(document["model"]["path"], position)
        results += [_result(finding, document, location, index) for finding in active(document)]
        notifications += [_notification("error", text, location) for text in document["budget_failures"]]
        notifications += [_notification("warning", text, location) for text in document["warnings"]]
    driver: dict[str, Any] = {"name": "lrcn-advise", "version": __version__, "semanticVersion": __version__}
    if context.docs_url:
        driver["informationUri"] = context.docs_url.split("#")[0]
    driver["rules"] = [_rule(rule, context.docs_url) for rule in catalogue]
    run = {
        "tool": {"driver": driver},
        "invocations": [{"executionSuccessful": True, "toolExecutionNotifications": notifications}],
        "artifacts": [{"location": _artifact(d["model"]["path"]), "hashes": {"sha-256": d["model"]["sha256"]}}
                      for d in documents],
        "results": results,
    }
    return json.dumps({"$schema": SCHEMA, "version": "2.1.0", "runs": [run]}, indent=2, ensure_ascii=False) + "\n"


def _artifact(path: str, index: int | None = None) -> dict:
    """A repo-relative path under %SRCROOT%; an absolute one (outside any repository) as a file URI."""
    pure = PurePosixPath(path)
    location = {"uri": pure.as_uri()} if pure.is_absolute() else {"uri": quote(path), "uriBaseId": "%SRCROOT%"}
    return location if index is None else {**location, "index": index}


def _rule(rule, docs_url: str | None) -> dict:
    url = rule_url(rule.id, docs_url)
    more = f"[{rule.id} documentation]({url})" if url else f"{rule.id} is documented in {RULES_DOC}#{rule.id.lower()}"
    entry = {
        "id": rule.id, "name": rule.name,
        "shortDescription": {"text": rule.title},
        "fullDescription": {"text": rule.rationale},
        "help": {"text": f"{rule.rationale}\n\nFix: {rule.fix}\n\nExample: {rule.example}",
                 "markdown": f"**{rule.title}**\n\n{rule.rationale}\n\n**Fix.** {rule.fix}\n\n**Example.**\n\n"
                             f"```\n{rule.example}\n```\n\n{more}"},
        "defaultConfiguration": {"level": LEVEL[rule.severity]},
        "properties": {"tags": ["lrcn", "architecture", rule.section.value], "precision": "high",
                       "problem.severity": PROBLEM_SEVERITY[rule.severity]},
    }
    if url:
        entry["helpUri"] = url
    return entry


def _result(finding: dict, document: dict, location: dict, index: dict[str, int]) -> dict:
    model = document["model"]["name"] or "model"
    return {
        "ruleId": finding["rule"], "ruleIndex": index[finding["rule"]], "level": LEVEL[finding["severity"]],
        "message": {"text": f"{inert(finding['message'])}. Fix: {inert(finding['fix'])}."},
        "locations": [{
            "physicalLocation": {"artifactLocation": location, "region": {"startLine": 1}},
            "logicalLocations": [{"name": layer, "fullyQualifiedName": f"{model}::{layer}", "kind": "member"}
                                 for layer in finding["layers"]],
        }],
        "partialFingerprints": {FINGERPRINT: finding["fingerprint"]},
        "properties": {"section": finding["section"], "layers": finding["layers"], "severity": finding["severity"]},
    }


def _notification(level: str, text: str, location: dict) -> dict:
    return {"level": level, "message": {"text": inert(text)},
            "locations": [{"physicalLocation": {"artifactLocation": location}}]}
