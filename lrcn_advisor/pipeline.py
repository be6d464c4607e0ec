"""The orchestrator: load -> analysis (shapes and cost) -> rules -> (probes). The one module that
calls the stages in order; each stage returns new values and never writes into its input."""
from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

from .analyze import analyse, reanalyse
from .config import Settings
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
                  frames_source: FrameSource = FrameSource.OPTION) -> ModelIR:
    """Shapes, parameters, MACs and blocks of a loaded model."""
    return analyse(model, frames=frames, frames_source=frames_source)


def analyse_path(path: str | Path, frames: int | None = None,
                 frames_source: FrameSource = FrameSource.OPTION) -> ModelIR:
    """Load and analyse one model file (no rules)."""
    return analyse_model(load_model(path), frames, frames_source)


def recounter(ir: ModelIR):
    """`recount(edit)` for the rule stage: the edited architecture analysed under `ir`'s options."""
    def recount(edit: Edit) -> ModelIR | None:
        try:
            return reanalyse(ir, edit(ir.graph))
        except (InputError, KeyError, ValueError):
            return None
    return recount


def check_model(model: LoadedModel, settings: Settings, *, sha256: str = "", display_path: str = "") -> Result:
    """Analyse a loaded model and run the rules: the static result, ready for probes and reports."""
    frames, source = settings.frames, settings.frames_source
    ir = analyse_model(model, frames, source)
    report = run_rules(ir, settings, recounter(ir))
    result = Result(ir=ir, findings=report.findings, sha256=sha256, display_path=display_path,
                    warnings=[*ir.warnings, *report.warnings])
    budget = []
    if settings.max_params is not None and ir.params > settings.max_params:
        budget.append(f"params {ir.params:,} exceed the budget of {settings.max_params:,}")
    if settings.max_macs is not None and ir.macs > settings.max_macs:
        budget.append(f"MACs {ir.macs:,} exceed the budget of {settings.max_macs:,}")
    return replace(result, budget_failures=budget)


def analyse_file(path: Path, settings: Settings) -> Result:
    """One model file to a Result: load, analyse, check."""
    path = Path(path)
    return check_model(load_model(path), settings, sha256=sha256_of(path), display_path=repo_relative(path))


def lint_ir(ir: ModelIR, settings: Settings) -> list[Finding]:
    """The rule stage alone on an analysed model: its findings."""
    return run_rules(ir, settings, recounter(ir)).findings
