"""load -> IR -> cost -> rules (-> probes): one model file to a Result."""
from __future__ import annotations

import glob
import hashlib
from pathlib import Path

from .config import Settings
from .engine import run_rules
from .errors import InputError
from .load import SUFFIXES, load_model
from .output import repo_relative
from .result import Result

MODEL_SUFFIXES = tuple(SUFFIXES)


def expand_paths(arguments: list[str]) -> list[Path]:
    """Model paths from files, folders (searched recursively) and quoted globs, in a stable order."""
    paths: list[Path] = []
    for argument in arguments:
        if any(ch in argument for ch in "*?[") and not Path(argument).exists():
            matches = sorted(glob.glob(argument, recursive=True))
            if not matches:
                raise InputError(f"{argument}: no file matches this pattern")
            paths.extend(Path(m) for m in matches if Path(m).is_file())
        elif Path(argument).is_dir():
            found = sorted(p for p in Path(argument).rglob("*")
                           if p.is_file() and p.suffix.lower() in MODEL_SUFFIXES and ".git" not in p.parts)
            if not found:
                raise InputError(f"{argument}: folder holds no .h5, .hdf5, .keras, .json or .onnx file")
            paths.extend(found)
        else:
            paths.append(Path(argument))
    unique = list(dict.fromkeys(paths))
    return unique


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
