"""The command line's number options: one range-checked parser for whole and real numbers."""
from __future__ import annotations

import click
import pytest

from lrcn_advisor.option_types import COUNT, FRAMES, SECONDS


class Param:
    opts = ["--x"]


@pytest.mark.parametrize("option,text,value", [(FRAMES, "1,000", 1000), (FRAMES, "1e6", 1_000_000),
                                               (COUNT, "10", 10), (SECONDS, "0.5", 0.5)])
def test_accepted_values(option, text, value):
    parsed = option(None, Param(), text)
    assert parsed == value and type(parsed) is type(value)


@pytest.mark.parametrize("option,text,message", [
    (FRAMES, "1.5", "is not a whole number"), (FRAMES, "0", "must be from 1 to 1,000,000"),
    (FRAMES, "1e400", "must be from 1 to 1,000,000"), (SECONDS, "nan", "is not a finite number"),
    (SECONDS, "1e9", "must be from 0.1 to 86400"), (COUNT, "1e19", "to 1,000,000,000,000,000,000"),
])
def test_refused_values_say_why(option, text, message):
    with pytest.raises(click.BadParameter, match=message):
        option(None, Param(), text)
