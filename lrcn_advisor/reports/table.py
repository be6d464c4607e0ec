"""The terminal view: layer table, block summary, totals and findings (rich)."""
from __future__ import annotations

import io
from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table
from rich.text import Text

from lrcn_advisor.vocabulary import FrameSource

from .text import delta, inert, layer_class, macs, num, pct, shape

if TYPE_CHECKING:
    from . import RenderContext

SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}


def emit(documents: Sequence[dict], context: RenderContext) -> str:
    """Every model's tables, as plain text or (context.color) with ANSI styles."""
    console = Console(record=True, width=context.width, file=io.StringIO(), highlight=False, soft_wrap=False,
                      force_terminal=context.color, color_system="auto" if context.color else None)
    for document in documents:
        render(document, console, verbose=context.verbose)
    return console.export_text(styles=context.color)


def render(data: dict, console: Console, *, verbose: bool = False) -> None:
    model, totals = data["model"], data["totals"]
    frames = f"T={model['frames']} ({FrameSource(model['frames_source']).label})" if model["frames"] else "no time axis"
    console.print(Text(f"{inert(model['path'])}", style="bold"),
                  Text(f" {model['format']} · input {shape(model['input_shape'])} · {frames}"))
    table = Table(show_lines=False, header_style="bold", pad_edge=True)
    for column, justify in (("layer", "left"), ("class", "left"), ("output shape", "left"),
                            ("params", "right"), ("MACs", "right"), ("share", "right"), ("block", "left")):
        table.add_column(column, justify=justify, overflow="fold")
    for layer in data["layers"]:
        style = "magenta" if layer["status"] != "ok" else None
        name = inert(layer["name"]) + ("  [" + layer["status"] + "]" if layer["status"] != "ok" else "")
        # numbers resting on a shape the file does not settle: "?" unknown, "~" assumed
        exact, params_exact = layer.get("exact", True), layer.get("params_exact", True)
        params_cell = Text("?", style="magenta") if not params_exact else Text(num(layer["params"]))
        macs_cell = Text("?", style="magenta") if not params_exact else \
            (Text("~" + macs(layer["macs"]), style="magenta") if not exact else Text(macs(layer["macs"])))
        shape_cell = Text(("~" if not exact else "") + shape(layer["output_shape"]))
        table.add_row(Text(name, style=style), Text(inert(layer_class(layer))), shape_cell, params_cell, macs_cell,
                      pct(layer["macs"], totals["macs"]), Text(layer["block"]))
    console.print(table)
    blocks = Table(title="Blocks", header_style="bold", title_justify="left", pad_edge=True)
    for column in ("block", "layers", "params", "MACs", "share"):
        blocks.add_column(column, justify="left" if column in ("block", "layers") else "right")
    for block in data["blocks"]:
        blocks.add_row(f"{block['id']} ({block['label']})", str(len(block["layers"])), num(block["params"]),
                       macs(block["macs"]), pct(block["macs"], totals["macs"]))
    console.print(blocks)
    at_least = "" if totals.get("params_exact", True) else "≥ "
    approx = "" if totals.get("exact", True) else "~"
    console.print(Text(
        f"Total: {at_least}{num(totals['params'])} params ({num(totals['trainable_params'])} trainable, "
        f"{num(totals['non_trainable_params'])} non-trainable) · {approx}{num(totals['macs'])} MACs · "
        f"{approx}{num(totals['flops'])} FLOPs per clip", style="bold"))
    if not totals.get("exact", True):
        console.print(Text("~ rests on a shape an opaque layer may have changed; ? unknown (counted 0); "
                           + ("params are a lower bound" if at_least else "params are exact"), style="magenta"))
    for line in data["warnings"]:
        console.print(Text("warning: " + inert(line), style="yellow"))
    for line in data["notes"]:
        console.print(Text("note: " + inert(line)))
    for layer in data["layers"]:
        if layer["note"] and layer["status"] == "ok":
            console.print(Text(f"note: `{inert(layer['name'])}`: {inert(layer['note'])}", style="dim"))
    render_findings(data, console, verbose=verbose)
    render_probes(data.get("probes"), console)


def render_probes(probes: dict | None, console: Console) -> None:
    if not probes:
        return
    if probes["status"] != "ran":
        console.print(Text(f"\nProbes {probes['status']}: {inert(probes['reason'])}", style="dim"))
        return
    label = "CPU smoke run" if probes["smoke"] else "GPU run"
    console.print(Text(f"\nProbes ({label}, {probes['device']}, {probes['backend']}, seeds {probes['seeds']}, "
                       f"{probes['budget']['steps']} steps per run; data: {probes['data']['source']})", style="bold"))
    for verdict in probes["verdicts"]:
        effect = ""
        if verdict.get("effect_mean") is not None:
            effect = f" {verdict['metric']} {verdict['effect_mean']:+.3f}"
            if verdict.get("ci_low") is not None:
                effect += f" (95% CI {verdict['ci_low']:+.3f} to {verdict['ci_high']:+.3f}, n={verdict['n']})"
        console.print(Text(f"  {verdict['verdict']:14} {verdict['rule']} via {verdict['variant']}:{effect}"))
    if probes["data"].get("caveat"):
        console.print(Text(f"  {inert(probes['data']['caveat'])}", style="dim"))


def render_findings(data: dict, console: Console, *, verbose: bool = False) -> None:
    active = [f for f in data["findings"] if not f["suppressed"] and not f["in_baseline"]]
    hidden = len(data["findings"]) - len(active)
    counts = data["counts"]
    console.print(Text(f"\nFindings: {counts['error']} error(s), {counts['warning']} warning(s), "
                       f"{counts['info']} info" + (f" ({hidden} suppressed or in baseline)" if hidden else ""),
                       style="bold"))
    for finding in active:
        where = ", ".join(f"`{inert(n)}`" for n in finding["layers"][:4]) or "model"
        if len(finding["layers"]) > 4:
            where += f", … ({len(finding['layers'])} layers)"
        head = Text(f"  {finding['severity'].upper():7} ", style=SEVERITY_STYLE[finding["severity"]])
        head.append(f"{finding['rule']} {finding['name']}", style="bold")
        head.append(f"  [{where}]")
        console.print(head)
        console.print(Text(f"    {inert(finding['message'])}"))
        console.print(Text(f"    fix: {inert(finding['fix'])}", style="green"))
        cost = finding["cost"]
        if cost:
            console.print(Text(f"    cost of the fix: params {delta(cost['params_before'], cost['params_after'])}; "
                               f"MACs {delta(cost['macs_before'], cost['macs_after'])}"
                               + (f" ({inert(cost['saving_from'])})" if cost.get("saving_from") else "")))
            for introduced in cost.get("introduces") or []:
                console.print(Text(f"    this fix makes {inert(introduced)}", style="yellow"))
        if verbose:
            console.print(Text(f"    why: {finding['rationale']}", style="dim"))
    for failure in data["budget_failures"]:
        console.print(Text(f"  BUDGET  {failure}", style="bold red"))
