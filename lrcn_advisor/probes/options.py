"""Probe options (what the CLI passes) and the training budget."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError

MODES = ("on", "off", "auto")
EXECUTORS = ("local", "ray")
# the whole sweep's wall time; steps per run follow from it unless the budget names them
DEFAULT_BUDGET = {"gpu": "10m", "cpu": "5m"}
DEFAULT_SEEDS = 8          # the most paired seeds per variant; the suite starts with 3
MIN_SEEDS = 3              # a verdict needs at least this many paired seeds


def seeds_warning(seeds: int) -> str | None:
    """A line for --seeds below what can decide, else None."""
    if seeds < MIN_SEEDS:
        return (f"--seeds {seeds}: a verdict needs at least {MIN_SEEDS} paired seeds, so every verdict will be "
                f"inconclusive; use --seeds {MIN_SEEDS} or more (default {DEFAULT_SEEDS})")
    return None
_TIME_UNITS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600}


@dataclass(frozen=True)
class ExtraVariant:
    """A variant given directly (not by a rule): `edit` None makes a copy of the baseline (an A/A arm,
    trained with its own initialisation seeds); `kind` names the probe kind whose checks judge it."""

    id: str
    kind: str
    edit: object = None       # an lrcn_advisor.edits.Edit, or None
    description: str = ""


@dataclass
class ProbeOptions:
    mode: str = "auto"
    data: Path | None = None
    budget: str | None = None          # the sweep: "5m", "90s"; per run: "200steps"; both: "5m,200steps"
    seeds: int = DEFAULT_SEEDS         # the most paired seeds per variant (added only while undecided)
    cache_dir: Path = field(default_factory=lambda: Path(".lrcn-advise-cache"))
    from_weights: Path | None = None   # a saved model or weights file to start from
    trust_model_code: bool = False
    executor: str = "local"
    ray_address: str | None = None
    model_path: Path | None = None
    only: tuple[str, ...] = ()         # probe only these rule ids / guide:<question> names
    extra: tuple[ExtraVariant, ...] = ()  # variants a tool adds (known-answer controls, A/A copies)
    budget_from_process_start: bool = False  # the time budget counts from the process' start (the CLI)

    def validate(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"--probes must be one of {', '.join(MODES)}, not {self.mode!r}")
        if not isinstance(self.seeds, int) or not 1 <= self.seeds <= 50:
            raise ConfigError(f"--seeds must be between 1 and 50, not {self.seeds!r}")
        if self.executor not in EXECUTORS:
            raise ConfigError(f"--executor {self.executor!r} is not available; this version runs probes "
                              f"with: {', '.join(EXECUTORS)}")
        if self.budget is not None:
            Budget.parse(self.budget)


@dataclass(frozen=True)
class Budget:
    """The sweep's budget: a wall time for the whole sweep, and/or a step count for each run.

    A time alone: the steps per run are chosen from a short calibration so that the first three
    seeds of every variant take about half of it. Steps alone: no time limit."""

    text: str
    steps: int | None = None
    seconds: float | None = None

    @classmethod
    def parse(cls, text: str) -> Budget:
        steps = seconds = None
        parts = [part.strip() for part in re.split(r"[,+]", text.strip().lower())]
        for value in parts:
            counted = re.fullmatch(r"(\d+)\s*steps?", value)
            timed = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(s|sec|m|min|h)", value)
            if counted and int(counted.group(1)) > 0 and steps is None:
                steps = int(counted.group(1))
            elif timed and float(timed.group(1)) > 0 and seconds is None:
                seconds = float(timed.group(1)) * _TIME_UNITS[timed.group(2)]
            else:
                raise ConfigError(f"bad --probe-budget {text!r}: give the sweep's time ('90s', '5m'), the steps "
                                  "per run ('200steps'), or both ('5m,200steps')")
        return cls(text, steps=steps, seconds=seconds)
