"""Training probes: check findings by training the model and its fixed variants briefly.

Keras, the frameworks and numpy are imported only when probes actually run: `--probes off`, and
`--probes auto` without a GPU, decide here without importing the training code.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from .gpu import NO_GPU, OFF, gpu_visible
from .kinds import PROBE_KINDS, ProbeKind
from .options import ProbeOptions
from .report import ProbeReport

if TYPE_CHECKING:
    from ..ir import ModelIR
    from ..result import Finding

__all__ = ["PROBE_KINDS", "ProbeKind", "ProbeOptions", "ProbeReport", "run_probes"]


def run_probes(ir: ModelIR, findings: list[Finding], opts: ProbeOptions,
               progress: Callable[..., Any] | None = None) -> ProbeReport:
    """Train the variants the findings and the guide's questions call for (see suite.run_probes)."""
    opts.validate()
    if opts.mode == "off":
        return ProbeReport("skipped", reason=OFF)
    if opts.mode == "auto" and not gpu_visible():
        return ProbeReport("skipped", reason=NO_GPU)
    from .suite import run_probes as run_suite

    return run_suite(ir, findings, opts, progress=progress)
