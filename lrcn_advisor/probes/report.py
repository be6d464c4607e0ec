"""What a probe suite returns: variants with their runs, and verdicts (JSON-ready via to_dict)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the report is built without importing the training code (and numpy)
    from .train import RunRecord


@dataclass
class VariantResult:
    id: str
    description: str
    edit: str | None
    params: int
    macs: int
    runs: list[RunRecord] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"id": self.id, "description": self.description, "edit": self.edit, "params": self.params,
                "macs": self.macs, "runs": [_run(run) for run in self.runs], "notes": self.notes}


def _run(run: RunRecord) -> dict:
    data = {"seed": run.seed, "epochs": [asdict(epoch) for epoch in run.epochs], "wall_s": run.wall_s,
            "setup_s": run.setup_s, "train_s": run.train_s, "eval_s": run.eval_s, "compiled": run.compiled,
            "step_time_s": run.step_time_s,
            "cached": run.cached, "executor": run.executor, "worker": run.worker, "attempts": run.attempts}
    if run.error:
        data["error"] = run.error
    return data


@dataclass
class Verdict:
    rule: str            # a rule id, or guide:<question> for the guide's general questions
    layers: list[str]
    variant: str | None
    verdict: str         # supported | not supported | inconclusive
    metric: str
    effect_mean: float | None
    ci_low: float | None
    ci_high: float | None
    n: int
    cost_change: dict    # params and macs: variant minus baseline; step_time_ratio: variant / baseline
    explanation: str
    confidence: float | None = None      # of the interval at the look that gave the verdict
    step_time_change: dict | None = None  # relative change: mean, ci_low, ci_high (same confidence)
    why: str = ""        # an inconclusive verdict's reason: too-few-seeds | budget | max-seeds | spans-margin | failed | not-probed
    why_text: str = ""   # the same, in words
    seeds_needed: int | None = None      # paired seeds likely to decide it, if the observed effect and spread hold
    budget_needed_s: float | None = None  # the sweep time those seeds would likely take here
    checks: list = field(default_factory=list)  # each expectation: metric, direction, margin, verdict, mean, ci

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class ProbeReport:
    status: str                          # ran | skipped | failed
    reason: str = ""
    smoke: bool = False                  # a CPU run: short training within the budget
    device: str = ""
    backend: str = ""
    data: dict | None = None             # source, description, caveat
    budget: dict | None = None
    seeds: list[int] = field(default_factory=list)
    variants: list[VariantResult] = field(default_factory=list)
    sequential: dict | None = None       # the design: seeds, looks, alpha, why the sweep stopped, wall time
    verdicts: list[Verdict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"status": self.status, "reason": self.reason, "smoke": self.smoke, "device": self.device,
                "backend": self.backend, "data": self.data, "budget": self.budget, "seeds": self.seeds,
                "sequential": self.sequential,
                "variants": [variant.to_dict() for variant in self.variants],
                "verdicts": [verdict.to_dict() for verdict in self.verdicts], "notes": self.notes}
