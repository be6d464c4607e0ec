"""Formatting shared by the text renderers; strings from model files are made inert here."""
from __future__ import annotations

from lrcn_advisor.safe_text import inert, inert_tree  # noqa: F401  (the one neutraliser, re-exported)


def shape(dims) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in dims) + ")"


def num(value: int) -> str:
    return f"{value:,}"


def macs(value: int) -> str:
    for unit, size in (("G", 10**9), ("M", 10**6), ("K", 10**3)):
        if value >= size:
            return f"{value / size:.2f}{unit}"
    return str(value)


def pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def layer_class(layer) -> str:
    """'TimeDistributed(Conv2D)' for wrappers, the class otherwise."""
    return f"{layer['class']}({layer['inner_class']})" if layer.get("inner_class") else layer["class"]


def delta(before: int, after: int) -> str:
    change = after - before
    sign = "+" if change > 0 else ""
    ratio = f" ({sign}{100 * change / before:.0f}%)" if before else ""
    return f"{before:,} → {after:,}{ratio}"
