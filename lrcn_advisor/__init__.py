"""lrcn-advise: an architecture linter and advisor for LRCN video/sequence models.

The public API (everything else is private):

- `advise(model_or_path, *, frames=None, config=None, probes="off", ...) -> Report`
- `Report`: layers, blocks, totals, findings; to_json(), to_sarif(), to_html(), exit_code(); shows
  itself in a notebook
- `lrcn_advisor.testing.assert_lrcn_ok` for your own tests

Names are loaded on first use, so `import lrcn_advisor` (and the CLI) stays cheap.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._version import __version__
__all__ = ["advise", "Report", "Totals", "Gate", "Finding", "LayerInfo", "Block", "Severity", "FailOn",
           "AdvisorError", "InputError", "ConfigError", "__version__"]

if TYPE_CHECKING:
    from .api import (AdvisorError, Block, ConfigError, FailOn, Finding, Gate, InputError, LayerInfo, Report,
                      Severity, Totals, advise)


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import api
        return getattr(api, name)
    raise AttributeError(f"module 'lrcn_advisor' has no attribute {name!r}")
