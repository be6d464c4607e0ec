"""The orchestrator: load -> analysis (shapes and cost) -> rules -> (probes). The one module that
calls the stages in order; each stage returns new values and never writes into its input."""
from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

from .analyze import RecountBudget, analyse, reanalyse
from .config import Settings
from .cost import DEFAULT_COST_MODEL, CostModel
from .edits import Edit
from .errors import InputError
from .ir import LoadedModel, ModelIR
from .load import load_model
from .output import repo_relative
from .result import Finding, Result
from .rules.engine import run_rules
from .vocabulary import FrameSource


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def analyse_model(model: LoadedModel, frames: int | None = None,
                  frames_source: FrameSource = FrameSource.OPTION,
                  cost_model: CostModel = DEFAULT_COST_MODEL) -> ModelIR:
    """Shapes, parameters, MACs and blocks of a loaded model."""
    return analyse(model, frames=frames, frames_source=frames_source, cost_model=cost_model)


def analyse_path(path: str | Path, frames: int | None = None,
                 frames_source: FrameSource = FrameSource.OPTION) -> ModelIR:
    """Load and analyse one model file (no rules)."""
    return analyse_model(load_model(path), frames, frames_source)


def recounter(ir: ModelIR, budget: RecountBudget | None = None, cost_model: CostModel = DEFAULT_COST_MODEL):
    """`recount(edit)` for the rule stage: the edited architecture analysed under `ir`'s options
    and the run's cost model (a fix's cost uses the same convention as the model's).

    Recounts share a work budget (N findings on an N-layer model would cost N² otherwise); past it,
    recount answers None and the budget's warning says how many it skipped.
    """
    budget = budget or RecountBudget(ir)

    def recount(edit: Edit) -> ModelIR | None:
        if not budget.take():
            return None
        try:
            return reanalyse(ir, edit(ir.graph), cost_model)
        except (InputError, KeyError, ValueError):
            return None
    return recount


def check_model(model: LoadedModel, settings: Settings, *, sha256: str = "", display_path: str = "",
                cost_model: CostModel = DEFAULT_COST_MODEL) -> Result:
    """Analyse a loaded model and run the rules: the static result, ready for probes and reports.
    `cost_model`: the run's cost-handler table, used for the model and for every fix's recount."""
    frames, source = settings.frames, settings.frames_source
    ir = analyse_model(model, frames, source, cost_model)
    budget = RecountBudget(ir)
    report = run_rules(ir, settings, recounter(ir, budget, cost_model))
    result = Result(ir=ir, findings=report.findings, sha256=sha256, display_path=display_path,
                    warnings=[*ir.warnings, *report.warnings, *filter(None, [budget.warning()])])
    budget = []
    if settings.max_params is not None and ir.params > settings.max_params:
        budget.append(f"params {ir.params:,} exceed the budget of {settings.max_params:,}")
    if settings.max_macs is not None and ir.macs > settings.max_macs:
        budget.append(f"MACs {ir.macs:,} exceed the budget of {settings.max_macs:,}")
    return replace(result, budget_failures=budget)


def analyse_file(path: Path, settings: Settings, cost_model: CostModel = DEFAULT_COST_MODEL) -> Result:
    """One model file to a Result: load, analyse, check."""
    path = Path(path)
    return check_model(load_model(path), settings, sha256=sha256_of(path), display_path=repo_relative(path),
                       cost_model=cost_model)


def lint_ir(ir: ModelIR, settings: Settings) -> list[Finding]:
    """The rule stage alone on an analysed model: its findings."""
    return run_rules(ir, settings, recounter(ir)).findings
