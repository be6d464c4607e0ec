"""The shared vocabulary: severities, where a number came from, guide sections, model stages,
layer kinds, and the one set of number and shape formatters every stage and report uses.

The enums are `StrEnum`s, so their values are the words the JSON contract and the config use.
"""
from __future__ import annotations

from enum import StrEnum
from typing import Iterable


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {Severity.ERROR: 3, Severity.WARNING: 2, Severity.INFO: 1}


SEVERITY_RANK: dict[str, int] = {severity.value: rank for severity, rank in _SEVERITY_RANK.items()}


class FailOn(StrEnum):
    """The lowest severity that fails the gate (`never`: nothing does)."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"
    NEVER = "never"

    @property
    def rank(self) -> int:
        return 99 if self is FailOn.NEVER else Severity(self.value).rank

    def fails(self, severity: str) -> bool:
        return Severity(severity).rank >= self.rank


class FrameSource(StrEnum):
    """Where the clip length T used for the costs came from."""

    FILE = "file"        # the model file fixes it
    OPTION = "option"    # --frames on the command line (or the API's frames=)
    CONFIG = "config"    # `frames` in lrcn-advise.toml / pyproject.toml
    DEFAULT = "default"  # the file says None and nothing set it: DEFAULT_FRAMES
    NONE = "none"        # the model has no time axis

    @property
    def label(self) -> str:
        return {FrameSource.FILE: "from the file", FrameSource.OPTION: "from --frames",
                FrameSource.CONFIG: "from the config", FrameSource.DEFAULT: "assumed default",
                FrameSource.NONE: "no time axis"}[self]


DEFAULT_FRAMES = 16


class GuideSection(StrEnum):
    """The guide section a rule encodes (`Finding.section`)."""

    CONV = "conv"
    POOLING = "pooling"
    DROPOUT = "dropout"
    LSTM = "lstm"
    MODEL = "model"


class Stage(StrEnum):
    """The model stage a layer belongs to (`Block.stage`, `LayerInfo.stage` names the block id)."""

    INPUT = "input"
    FRONTEND = "frontend"
    CONV = "conv"
    BACKBONE = "backbone"
    RECURRENT = "recurrent"
    HEAD = "head"

    @property
    def label(self) -> str:
        return {Stage.INPUT: "Input", Stage.FRONTEND: "Pre-processing", Stage.CONV: "Conv stage",
                Stage.BACKBONE: "Backbone", Stage.RECURRENT: "Recurrent stage",
                Stage.HEAD: "Classifier head"}[self]


class LayerKind(StrEnum):
    """What a layer does, for blocks and rules (`LayerInfo.kind`)."""

    INPUT = "input"
    CONV = "conv"
    POOL = "pool"
    DROPOUT = "dropout"
    NORM = "norm"
    ACTIVATION = "activation"
    RESHAPE = "reshape"
    DENSE = "dense"
    RECURRENT = "recurrent"
    MERGE = "merge"
    ATTENTION = "attention"
    MASKING = "masking"
    EMBEDDING = "embedding"
    BACKBONE = "backbone"
    OPAQUE = "opaque"
    UNKNOWN = "unknown"


class Status(StrEnum):
    """How far a layer's numbers can be trusted."""

    OK = "ok"            # exact, from the file's architecture
    OPAQUE = "opaque"    # code that is never run (Lambda): output shape declared, recovered or assumed
    UNKNOWN = "unknown"  # an unknown class: counted as 0


# ---- formatters ---------------------------------------------------------------

def fmt_shape(dims: Iterable[int | None]) -> str:
    """(None, 20, 64, 64, 3)"""
    return "(" + ", ".join("None" if d is None else str(d) for d in dims) + ")"


def fmt_int(value: int) -> str:
    """73,060"""
    return f"{value:,}"


def fmt_si(value: int) -> str:
    """68.08M: a count with an SI suffix, for tables."""
    for unit, size in (("G", 10**9), ("M", 10**6), ("K", 10**3)):
        if value >= size:
            return f"{value / size:.2f}{unit}"
    return str(value)


def fmt_macs(value: int) -> str:
    """68.08 MMACs"""
    for unit, size in (("G", 10**9), ("M", 10**6), ("K", 10**3)):
        if value >= size:
            return f"{value / size:.2f} {unit}MACs"
    return f"{value} MACs"


def pct(value: float) -> str:
    """A fraction as a percentage: 0.52 -> 52%."""
    return f"{100 * value:.0f}%"


def fmt_share(part: int, whole: int) -> str:
    """part / whole as a percentage with one decimal, '-' when whole is 0."""
    return f"{100 * part / whole:.1f}%" if whole else "-"


def fmt_delta(before: int, after: int) -> str:
    """73,060 → 195,940 (+168%)"""
    change = after - before
    sign = "+" if change > 0 else ""
    ratio = f" ({sign}{100 * change / before:.0f}%)" if before else ""
    return f"{before:,} → {after:,}{ratio}"
