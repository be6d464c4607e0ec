"""Calibration and power of the probes, small versions for CI (the full runs: docs/probes.md).

- A/A: the baseline against a copy of itself, really trained over many seeds on generated data;
  the sequential procedure replayed on those pairs calls the copy "supported" at most 5% of the time.
- Known answer: a pooling stack that collapses the map to 1x1, probed through the whole suite
  with its POL001 fix (to 4x4), comes out "supported"; an A/A control in the same sweep does not.
"""
from __future__ import annotations

import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from lrcn_advisor.config import Settings  # noqa: E402
from lrcn_advisor.pipeline import lint_ir  # noqa: E402
from lrcn_advisor.probes import ProbeOptions, run_probes  # noqa: E402
from lrcn_advisor.probes.calibration import false_support, train_pairs  # noqa: E402
from lrcn_advisor.probes.kinds import BETTER_ACCURACY, FASTER, Check  # noqa: E402
from lrcn_advisor.probes.options import ExtraVariant  # noqa: E402
from lrcn_advisor.probes.verdict import Plan  # noqa: E402
from test_probes import ir_of, lrcn, task_for  # noqa: E402

PAIRS = 12


@pytest.fixture(scope="module")
def aa_pairs():
    ir = ir_of(lrcn(pool=2, rate=0.25, convs=(8,)))
    return train_pairs(task_for(ir, steps=12), PAIRS)


def test_aa_copies_differ_by_initialisation_only(aa_pairs):
    baseline, copy = aa_pairs
    assert not any(run.error for run in baseline + copy)
    # a copy is a genuine null: its runs differ from the baseline's (own initialisation) ...
    assert sum(b.epochs[-1].val_loss != c.epochs[-1].val_loss for b, c in zip(baseline, copy)) >= PAIRS - 1
    # ... while the paired runs share the data order, so the same seed twice gives the same run
    again = train_pairs(task_for(ir_of(lrcn(pool=2, rate=0.25, convs=(8,))), steps=12), 1)[0][0]
    assert again.epochs[-1].val_loss == baseline[0].epochs[-1].val_loss


@pytest.mark.parametrize("check", [BETTER_ACCURACY, FASTER, Check("gap", "decrease", 0.02)],
                         ids=["accuracy", "step-time", "gap"])
def test_aa_false_support_rate_is_at_most_five_percent(aa_pairs, check):
    # the default plan (looks after 3..8 seeds) and a budget-fitted one (looks after 3 and 4)
    for plan in (Plan(8), Plan(4, limit="the budget")):
        rate = false_support(*aa_pairs, check, plan, replications=3000)
        assert rate.false_support <= 0.05, (plan, rate)


def test_known_answer_pool_collapse_is_supported_and_the_aa_control_is_not(tmp_path):
    ir = ir_of(lrcn(pool=4, rate=0.25, convs=(8, 8)))  # 16 -> 4 -> 1: the map collapses to 1x1
    findings = lint_ir(ir, Settings())
    assert any(f.rule == "POL001" for f in findings)
    options = ProbeOptions(mode="on", budget="40steps", seeds=6, cache_dir=tmp_path, only=("POL001",),
                           extra=(ExtraVariant("copy", "dropout-rate"),))
    report = run_probes(ir, findings, options)
    verdicts = {v.rule: v for v in report.verdicts}
    assert verdicts["POL001"].verdict == "supported", verdicts["POL001"].explanation
    assert verdicts["case:copy"].verdict != "supported", verdicts["case:copy"].explanation
    assert report.sequential["max_seeds"] == 6 and 3 <= verdicts["POL001"].n <= 6
