"""`lrcn-advise diff OLD NEW`: per-block and total deltas, new and fixed findings, and the growth gate.
The comparison is data; lrcn_advisor.reports.diff renders it.

Blocks are matched by id (conv1, recurrent, head, ...). Findings are matched by rule and layer
names, not by fingerprint, because OLD and NEW are different paths.
"""
from __future__ import annotations

from dataclasses import replace

from .config import Settings
from .result import Finding, Gate, Result


def compare(before: Result, after: Result, settings: Settings) -> dict:
    old_blocks = {block.id: block for block in before.ir.blocks}
    new_blocks = {block.id: block for block in after.ir.blocks}
    blocks = []
    for block_id in [*new_blocks, *(key for key in old_blocks if key not in new_blocks)]:
        old, new = old_blocks.get(block_id), new_blocks.get(block_id)
        blocks.append({"id": block_id, "label": (new or old).label,
                       "status": "added" if old is None else "removed" if new is None else
                       "unchanged" if (old.params, old.macs) == (new.params, new.macs) else "changed",
                       "params": _change(old.params if old else 0, new.params if new else 0),
                       "macs": _change(old.macs if old else 0, new.macs if new else 0)})
    old_findings, new_findings = _keyed(before), _keyed(after)
    added = [_finding(new_findings[key]) for key in new_findings if key not in old_findings]
    fixed = [_finding(old_findings[key]) for key in old_findings if key not in new_findings]
    totals = {"params": _change(before.ir.params, after.ir.params), "macs": _change(before.ir.macs, after.ir.macs)}
    failures = []
    for key, limit in (("params", settings.max_params_growth), ("macs", settings.max_macs_growth)):
        change = totals[key]
        if limit is not None and change["delta"] > 0 and (change["ratio"] is None or change["ratio"] > limit):
            growth = f"{change['ratio']:+.1%}" if change["ratio"] is not None else "from 0"
            failures.append(f"{key} grew {growth} ({change['before']:,} -> {change['after']:,}), "
                            f"above the limit of {limit:.1%}")
    # the gate over the new findings alone (budgets are the growth limits above)
    new_only = [new_findings[key] for key in new_findings if key not in old_findings]
    gate = Gate.of([replace(after, findings=new_only, budget_failures=[])], settings.fail_on)
    where = after.display_path or after.ir.path
    failures += [f"new {f.severity} {f.rule} {f.name} at {', '.join(f.layers) or 'model'}: {f.message}"
                 for f in new_only if gate.fails(f.fingerprint(where))]
    return {"old": {"path": before.display_path, "name": before.ir.name},
            "new": {"path": after.display_path, "name": after.ir.name},
            "totals": totals, "blocks": blocks, "new_findings": added, "fixed_findings": fixed,
            "limits": {"max_params_growth": settings.max_params_growth,
                       "max_macs_growth": settings.max_macs_growth, "fail_on": settings.fail_on},
            "failures": failures}


def _change(before: int, after: int) -> dict:
    return {"before": before, "after": after, "delta": after - before,
            "ratio": round((after - before) / before, 6) if before else None}


def _keyed(result: Result) -> dict[tuple, Finding]:
    return {(f.rule, *sorted(f.layers)): f for f in result.findings if not f.suppressed}


def _finding(finding: Finding) -> dict:
    return {"rule": finding.rule, "name": finding.name, "severity": finding.severity, "section": finding.section,
            "layers": finding.layers, "message": finding.message, "fix": finding.fix}
