"""Formatting shared by the text renderers; strings from model files are made inert here."""
from __future__ import annotations

import re

from lrcn_advisor.vocabulary import fmt_delta as delta  # noqa: F401  (the renderers' short names)
from lrcn_advisor.vocabulary import fmt_int as num  # noqa: F401
from lrcn_advisor.vocabulary import fmt_shape as shape  # noqa: F401
from lrcn_advisor.vocabulary import fmt_share as pct  # noqa: F401
from lrcn_advisor.vocabulary import fmt_si as macs  # noqa: F401

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def inert(text: str) -> str:
    """Show control and bidi characters as escapes so names cannot drive a terminal or log."""
    return _CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", str(text))


def layer_class(layer) -> str:
    """'TimeDistributed(Conv2D)' for wrappers, the class otherwise."""
    return f"{layer['class']}({layer['inner_class']})" if layer.get("inner_class") else layer["class"]


RULES_DOC = "docs/rules.md"  # in the repository; published copies are configured with `docs-url`


def rule_url(rule_id: str, docs_url: str | None) -> str | None:
    """The link to a rule's section of docs/rules.md where it is published (`docs-url`), else None."""
    return f"{docs_url.rstrip('#')}#{rule_id.lower()}" if docs_url else None
