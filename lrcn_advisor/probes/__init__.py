"""Training probes: check findings by training the model and its fixed variants briefly.

Keras and the frameworks are imported only when probes actually run.
"""
from .kinds import PROBE_KINDS, ProbeKind
from .options import ProbeOptions
from .report import ProbeReport
from .suite import run_probes

__all__ = ["PROBE_KINDS", "ProbeKind", "ProbeOptions", "ProbeReport", "run_probes"]
