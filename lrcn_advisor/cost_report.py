"""The `conventions` section: every counter's number, per-frame/clip/video cost, training memory, latency floor.

Plain data for the JSON report, plus its terminal text and HTML panel.
"""
from __future__ import annotations

import html

from lrcn_advisor.conventions import conventions_table
from lrcn_advisor.ir import ModelIR
from lrcn_advisor.roofline import accelerators, roofline, scales
from lrcn_advisor.training_memory import Optimizer, training_memory


def conventions_section(ir: ModelIR, clips_per_video: int = 1, views: int = 1, batch: int = 1,
                        optimizer: str = "adam") -> dict:
    table = conventions_table(ir)
    s = scales(ir, clips_per_video, views)
    memory = training_memory(ir, batch, Optimizer(optimizer))
    return {
        "advisor": {"unit": "MACs", "total": table.advisor_macs,
                    "by_kind": {k.value: v for k, v in table.advisor_by_kind.items()}},
        "tools": [{"tool": t.tool, "name": t.name, "unit": t.unit.value, "total": t.total,
                   "by_kind": {k.value: v for k, v in t.by_kind.items()}, "differences": t.differences}
                  for t in table.tools],
        "unchecked": [{"name": u.name, "reason": u.reason} for u in table.unchecked],
        "untranslated": table.untranslated,
        "scales": {"unit": "MACs", "per_frame_cnn": s.frame_macs, "per_clip": s.clip_macs,
                   "clips_per_video": clips_per_video, "views": views, "per_video": s.video_macs},
        "training_memory": {"unit": "bytes", "batch": batch, "optimizer": optimizer, "total": memory.total,
                            "weights": memory.weights, "gradients": memory.gradients,
                            "optimizer_state": memory.optimizer_state, "input": memory.input,
                            "activations": memory.activations, "backward_transient": memory.backward_transient,
                            "activations_by_block": memory.activations_by_block},
        "latency_floor": {"note": "a roofline lower bound per clip at batch 1, not a prediction",
                          "accelerators": [_floor(ir, a) for a in accelerators()]},
    }


def _floor(ir: ModelIR, accelerator) -> dict:
    floor = roofline(ir, accelerator)
    return {"name": accelerator.name, "seconds": floor.seconds, "source": accelerator.source,
            "blocks": [{"block": b.block, "seconds": b.seconds, "bound": b.bound} for b in floor.blocks]}


def text_lines(section: dict) -> list[str]:
    adv = section["advisor"]
    lines = ["What other counters report for this model (one clip, batch 1):",
             f"  {'lrcn-advise':<58} {adv['total']:>16,} MACs"]
    for tool in section["tools"]:
        lines.append(f"  {tool['name']:<58} {tool['total']:>16,} {tool['unit']}")
        lines += [f"      {line}" for line in tool["differences"]]
    lines += [f"  {u['name']}: unchecked: {u['reason']}" for u in section["unchecked"]]
    lines += [f"  not translated (every tool's count leaves it out): {name}" for name in section["untranslated"]]
    sc = section["scales"]
    frame = f"{sc['per_frame_cnn']:,} MACs" if sc["per_frame_cnn"] is not None else "n/a"
    lines.append(f"Per frame (frame CNN): {frame} · per clip: {sc['per_clip']:,} MACs · per video "
                 f"({sc['clips_per_video']} clips x {sc['views']} views): {sc['per_video']:,} MACs")
    mem = section["training_memory"]
    lines.append(f"Training memory at batch {mem['batch']} ({mem['optimizer']}): {mem['total'] / 2**20:,.1f} MiB "
                 f"= weights {mem['weights']:,} + gradients {mem['gradients']:,} + optimiser "
                 f"{mem['optimizer_state']:,} + input {mem['input']:,} + activations {mem['activations']:,} "
                 f"+ backward peak {mem['backward_transient']:,} bytes")
    lines.append("  activations kept per block: " + ", ".join(
        f"{block} {value:,} B" for block, value in mem["activations_by_block"].items()))
    lines.append("Latency FLOOR per clip (roofline lower bound, not a prediction):")
    for acc in section["latency_floor"]["accelerators"]:
        bounds = ", ".join(f"{b['block']} {b['bound']}" for b in acc["blocks"])
        lines.append(f"  {acc['name']:<12} >= {acc['seconds'] * 1e6:,.1f} us  ({bounds})")
    return lines


def html_panel(section: dict) -> str:
    rows = "".join(f"<tr><td>{html.escape(t['name'])}</td><td class=num>{t['total']:,}</td><td>{t['unit']}</td>"
                   f"<td>{html.escape('; '.join(t['differences']) or 'same as lrcn-advise')}</td></tr>"
                   for t in section["tools"])
    unchecked = "".join(f"<li>{html.escape(u['name'])}: {html.escape(u['reason'])}</li>"
                        for u in section["unchecked"])
    rest = "".join(f"<p>{html.escape(line)}</p>" for line in text_lines(section)
                   if line.startswith(("Per frame", "Training memory", "Latency", "  activations")))
    floors = "".join(f"<li>{html.escape(line.strip())}</li>" for line in text_lines(section)
                     if any(line.strip().startswith(a["name"]) for a in section["latency_floor"]["accelerators"]))
    return (f"<section id=conventions><h2>Why other FLOP counters give other numbers</h2>"
            f"<p>lrcn-advise: {section['advisor']['total']:,} MACs per clip.</p>"
            f"<table><tr><th>tool</th><th>reports</th><th>unit</th><th>why it differs</th></tr>{rows}</table>"
            f"<ul>{unchecked}</ul>{rest}<ul>{floors}</ul></section>")
