"""JUnit XML: one testsuite per model, one testcase per finding and one passing testcase per clean rule.

A finding that fails the run's gate is a <failure> (the gate's own verdict, not recomputed); a finding below it
passes with its message in <system-out>; suppressed and baselined findings are <skipped>; an
exceeded budget is a failed testcase of its own. Text from model files is made inert first, since
XML 1.0 cannot carry most control characters; ElementTree escapes the rest.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from typing import TYPE_CHECKING

from lrcn_advisor.result import Gate
from lrcn_advisor.rules import REGISTRY

from .text import inert

if TYPE_CHECKING:
    from . import RenderContext


def emit(documents: Sequence[dict], context: RenderContext) -> str:
    """`context.rules`: the rule ids that ran (none given: the whole registry)."""
    ran = list(context.rules) or sorted(REGISTRY)
    root = ET.Element("testsuites", name="lrcn-advise")
    for document in documents:
        root.append(_suite(document, context.gate, ran))
    for key in ("tests", "failures", "errors", "skipped"):
        root.set(key, str(sum(int(suite.get(key)) for suite in root)))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _suite(document: dict, gate: Gate, ran: list[str]) -> ET.Element:
    path = inert(document["model"]["path"])
    suite = ET.Element("testsuite", name=path)
    properties = ET.SubElement(suite, "properties")
    for key in ("params", "macs"):
        ET.SubElement(properties, "property", name=key, value=str(document["totals"][key]))
    failures = skipped = 0
    for finding in document["findings"]:
        layers = ", ".join(inert(name) for name in finding["layers"]) or "model"
        case = ET.SubElement(suite, "testcase", classname=path, name=f"{finding['rule']} {finding['name']} [{layers}]")
        text = f"{inert(finding['message'])}\nfix: {inert(finding['fix'])}"
        if finding["suppressed"] or finding["in_baseline"]:
            reason = f"suppressed: {inert(finding['suppressed'])}" if finding["suppressed"] else "in the baseline"
            ET.SubElement(case, "skipped", message=reason)
            skipped += 1
        elif gate.fails(finding["fingerprint"]):
            failure = ET.SubElement(case, "failure", type=finding["severity"], message=inert(finding["message"]))
            failure.text = text
            failures += 1
        else:
            ET.SubElement(case, "system-out").text = f"{finding['severity']}: {text}"
    found = {finding["rule"] for finding in document["findings"]}
    for rule_id in ran:
        if rule_id not in found:
            ET.SubElement(suite, "testcase", classname=path, name=f"{rule_id} {REGISTRY[rule_id].name}")
    for budget in document["budget_failures"]:
        case = ET.SubElement(suite, "testcase", classname=path, name=f"budget: {inert(budget)}")
        ET.SubElement(case, "failure", type="budget", message=inert(budget))
        failures += 1
    tests = sum(1 for child in suite if child.tag == "testcase")
    suite.attrib.update(tests=str(tests), failures=str(failures), errors="0", skipped=str(skipped))
    return suite
