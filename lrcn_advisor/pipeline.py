"""load -> IR -> cost -> rules (-> probes): one model file to a Result."""
from __future__ import annotations

import hashlib
from pathlib import Path

from .config import Settings
from .engine import run_rules
from .load import load_model
from .output import repo_relative
from .result import Result


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def analyse_file(path: Path, settings: Settings, frames: int | None = None) -> Result:
    ir = load_model(path, frames=frames or settings.frames)
    findings = run_rules(ir, settings)
    result = Result(ir=ir, findings=findings, sha256=sha256_of(path), display_path=repo_relative(path))
    if settings.max_params is not None and ir.params > settings.max_params:
        result.budget_failures.append(f"params {ir.params:,} exceed the budget of {settings.max_params:,}")
    if settings.max_macs is not None and ir.macs > settings.max_macs:
        result.budget_failures.append(f"MACs {ir.macs:,} exceed the budget of {settings.max_macs:,}")
    return result
