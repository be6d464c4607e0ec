"""Probe options (what the CLI passes) and the training budget."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError

MODES = ("on", "off", "auto")
EXECUTORS = ("local", "ray")
DEFAULT_BUDGET = {"gpu": "300steps", "cpu": "30steps"}
_TIME_UNITS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600}


@dataclass
class ProbeOptions:
    mode: str = "auto"
    data: Path | None = None
    budget: str | None = None          # per run: "200steps", "90s", "5m"; None: the device default
    seeds: int = 3
    cache_dir: Path = field(default_factory=lambda: Path(".lrcn-advise-cache"))
    from_weights: Path | None = None   # a saved model or weights file to start from
    trust_model_code: bool = False
    executor: str = "local"
    ray_address: str | None = None
    model_path: Path | None = None

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
    """A per-run training budget: a step count, or seconds of training turned into steps."""

    text: str
    steps: int | None = None
    seconds: float | None = None

    @classmethod
    def parse(cls, text: str) -> Budget:
        value = text.strip().lower()
        steps = re.fullmatch(r"(\d+)\s*steps?", value)
        if steps and int(steps.group(1)) > 0:
            return cls(text, steps=int(steps.group(1)))
        timed = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(s|sec|m|min|h)", value)
        if timed and float(timed.group(1)) > 0:
            return cls(text, seconds=float(timed.group(1)) * _TIME_UNITS[timed.group(2)])
        raise ConfigError(f"bad --probe-budget {text!r}: give a time ('90s', '5m') or a step count ('200steps')")
