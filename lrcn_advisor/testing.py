"""A pytest helper for your own test suite: fail a test when the architecture breaks the guide.

    from lrcn_advisor.testing import assert_lrcn_ok

    def test_model_architecture():
        assert_lrcn_ok(build_model(), fail_on="warning", max_macs=2_000_000_000)

The assertion message lists the findings that fail, as the CLI prints them.
"""
from __future__ import annotations

from typing import Any

from .api import ConfigLike, FailLevel, Report, advise
from .result import Finding
from .vocabulary import FailOn

__all__ = ["assert_lrcn_ok"]


def assert_lrcn_ok(model: Any, *, fail_on: FailLevel = "warning", max_macs: int | None = None,
                   max_params: int | None = None, frames: int | None = None, example_input: Any = None,
                   config: ConfigLike = None, select: tuple[str, ...] = (), ignore: tuple[str, ...] = ()) -> Report:
    """Advise on `model` (a path, a Keras model, a torch.nn.Module with `example_input`) and raise
    AssertionError when a finding at or above `fail_on` is active or a budget is exceeded.

    Returns the Report when the model passes, for further checks."""
    report = advise(model, frames=frames, config=config, example_input=example_input, max_macs=max_macs,
                    max_params=max_params, select=select, ignore=ignore)
    gate = report.gate(fail_on)
    if gate.failed:
        raise AssertionError(failure_message(report, FailOn(fail_on)))
    return report


def failure_message(report: Report, fail_on: FailOn) -> str:
    """The findings that fail the gate (then the others, for context), in the CLI's layout."""
    gate = report.gate(fail_on)
    failing = [f for f in report.findings if gate.fails(f.fingerprint(report.path))]
    lines = [f"lrcn-advise: {report.path} fails the gate (fail-on: {fail_on}): "
             f"{len(failing)} finding(s), {len(report.budget_failures)} budget(s) exceeded"]
    lines += _finding_lines(failing)
    lines += [f"  BUDGET  {failure}" for failure in report.budget_failures]
    others = [f for f in report.findings if f not in failing]
    if others:
        lines.append(f"below fail-on ({len(others)}):")
        lines += _finding_lines(others)
    return "\n".join(lines)


def _finding_lines(findings: list[Finding]) -> list[str]:
    lines = []
    for finding in findings:
        where = ", ".join(f"`{name}`" for name in finding.layers[:4]) or "model"
        lines += [f"  {finding.severity.upper():7} {finding.rule} {finding.name}  [{where}]",
                  f"    {finding.message}", f"    fix: {finding.fix}"]
    return lines
