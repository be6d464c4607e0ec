"""The terminal view: layer table, block summary, totals and findings (rich)."""
from __future__ import annotations

import io
from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table
from rich.text import Text

from lrcn_advisor.vocabulary import FrameSource

from .text import delta, inert, inert_tree, layer_class, macs, num, pct, shape

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
    data = inert_tree(data)
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
    label = "CPU run (short training)" if probes["smoke"] else "GPU run"
    budget, design = probes.get("budget") or {}, probes.get("sequential") or {}
    spent = f", {design['wall_s']:.0f} s of {budget.get('text')}" if design.get("wall_s") is not None else ""
    console.print(Text(f"\nProbes ({label}, {probes['device']}, {probes['backend']}, {budget.get('steps')} steps per "
                       f"run, up to {design.get('max_seeds', len(probes['seeds']))} paired seeds{spent}; data: "
                       f"{probes['data']['source']})", style="bold"))
    if design and design["max_seeds"] >= design["min_seeds"]:
        console.print(Text(f"  sequential design: looks after {design['min_seeds']}..{design['max_seeds']} seeds, "
                           f"{design['alpha']:.0%} error spent evenly ({design['alpha_per_look']:.4f} per look); "
                           f"stopped: {design.get('stopped')}", style="dim"))
    elif design:
        console.print(Text(f"  no look: --seeds {design['max_seeds']} is below the {design['min_seeds']} paired seeds "
                           "a verdict needs", style="dim"))
    for verdict in probes["verdicts"]:
        console.print(Text(f"  {verdict['verdict']:14} {verdict['rule']}" +
                           (f" via {verdict['variant']}" if verdict.get("variant") else "") +
                           (f" [{', '.join(inert(n) for n in verdict['layers'][:4])}]" if verdict.get("layers") else ""),
                           style=VERDICT_STYLE.get(verdict["verdict"], "")))
        for line in _verdict_lines(verdict):
            console.print(Text(f"      {line}"))
    for note in probes.get("notes") or []:
        console.print(Text(f"  note: {inert(note)}", style="dim"))
    if probes["data"].get("caveat"):
        console.print(Text(f"  {inert(probes['data']['caveat'])}", style="dim"))


VERDICT_STYLE = {"supported": "green", "not supported": "red", "inconclusive": "yellow"}


def _verdict_lines(verdict: dict) -> list[str]:
    """Effect and interval, step-time change, seeds used, and why an inconclusive verdict stayed so."""
    lines = []
    level = f"{verdict['confidence']:.1%} CI" if verdict.get("confidence") else "CI"
    if verdict.get("effect_mean") is not None:
        effect = _signed(verdict["effect_mean"], verdict["metric"])
        if verdict.get("ci_low") is not None:
            effect += (f" ({level} {_signed(verdict['ci_low'], verdict['metric'])} to "
                       f"{_signed(verdict['ci_high'], verdict['metric'])})")
        lines.append(f"{verdict['metric']} {effect}")
    speed = verdict.get("step_time_change")
    if speed and speed.get("mean") is not None and verdict["metric"] != "step_time":
        text = f"step time {speed['mean']:+.0%}"
        if speed.get("ci_low") is not None:
            text += f" ({level} {speed['ci_low']:+.0%} to {speed['ci_high']:+.0%})"
        lines.append(text)
    if verdict.get("variant"):
        lines.append(f"paired seeds used: {verdict.get('n', 0)}")
    if verdict["verdict"] == "inconclusive" and verdict.get("why_text"):
        why = f"why inconclusive: {verdict['why_text']}"
        if verdict.get("seeds_needed") and verdict.get("budget_needed_s"):
            minutes = verdict["budget_needed_s"] / 60
            why += (f"; about {verdict['seeds_needed']} paired seeds (--seeds {verdict['seeds_needed']} "
                    f"--probe-budget {max(1, round(minutes + 0.49))}m here) would likely decide it")
        lines.append(inert(why))
    return lines


def _signed(value: float, metric: str) -> str:
    return f"{value:+.0%}" if metric == "step_time" else f"{value:+.3f}"


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
