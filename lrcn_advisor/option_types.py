"""Range-checked parsers for the command line's number options: a bad value is one line and exit 2.

Numbers are read exactly (Decimal), so `1e400` is a number too large for the option rather than a
float overflow, and `nan`/`inf` are refused by name.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import click

from .config import COUNT_RANGE, FRAMES_RANGE, GROWTH_RANGE
from .safe_text import inert

MAX_TEXT = 40  # a number option longer than this is not a number


def _decimal(text: str, option: str) -> Decimal:
    cleaned = str(text).strip().replace("_", "").replace(",", "")
    if not cleaned or len(cleaned) > MAX_TEXT:
        raise click.BadParameter(f"{inert(text, 60)!s} is not a number", param_hint=option)
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise click.BadParameter(f"{inert(text, 60)} is not a number", param_hint=option) from None
    if not value.is_finite():
        raise click.BadParameter(f"{inert(text, 60)} is not a finite number", param_hint=option)
    return value


@dataclass(frozen=True)
class NumberOption:
    """A finite number in [low, high]; with `whole`, an integer ('1e6', '1_000_000' and '1,000,000'
    are accepted)."""

    low: int | float
    high: int | float
    whole: bool = False

    def __call__(self, ctx, param, value):
        if value is None:
            return None
        option = _option_name(param)
        number = _decimal(value, option)
        if self.whole and number != number.to_integral_value():
            raise click.BadParameter(f"{inert(value, 60)} is not a whole number", param_hint=option)
        if not Decimal(repr(self.low)) <= number <= Decimal(repr(self.high)):
            bounds = f"{self.low:,} to {self.high:,}" if self.whole else f"{self.low:g} to {self.high:g}"
            raise click.BadParameter(f"{inert(value, 60)} is out of range: must be from {bounds}", param_hint=option)
        return int(number) if self.whole else float(number)


def _option_name(param) -> str:
    names = getattr(param, "opts", None) or [getattr(param, "name", "value")]
    return max(names, key=len)


# The options' ranges, the same as the config file's (config.py).
FRAMES = NumberOption(*FRAMES_RANGE, whole=True)
COUNT = NumberOption(*COUNT_RANGE, whole=True)        # --max-params, --max-macs, --train-samples
SMALL_COUNT = NumberOption(1, 10**6, whole=True)      # --clips-per-video, --views, --batch
SECONDS = NumberOption(0.1, 86_400.0)                  # --max-seconds
GROWTH = NumberOption(*GROWTH_RANGE)                   # diff --max-params-growth / --max-macs-growth (a fraction)
