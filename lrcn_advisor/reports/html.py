"""The HTML report: one self-contained file (inline CSS and SVG, no script, no network).

`render(document)` takes the JSON document (reports/json_report.py) and returns the page.
Strings from the model file reach the page only through Jinja2 with autoescaping on (the
diagram's SVG text included); the charts are SVG serialised by ElementTree, which escapes
their text. The output is byte-for-byte repeatable except for the one "Generated" line, which
carries the time (or $SOURCE_DATE_EPOCH, when set, for reproducible builds).
"""
from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup, escape

from lrcn_advisor.vocabulary import SEVERITY_RANK, GuideSection

from . import charts
from .diagram import compact_shape, full_shape, layout
from .text import inert_tree, layer_class

if TYPE_CHECKING:
    from . import RenderContext

TEMPLATES = Path(__file__).with_name("templates")
GUIDE_SECTIONS = tuple(section.value for section in GuideSection)
BLOCK_TITLES = {"conv": "Convolution", "pooling": "Pooling", "dropout": "Dropout",
                "lstm": "Recurrent (LSTM)", "model": "Whole model"}
KIND_COLOURS = {
    "input": ["#64748b", "#94a3b8", "#475569"],
    "frontend": ["#0d9488", "#14b8a6"],
    "conv": ["#2563eb", "#0891b2", "#4f46e5", "#0284c7", "#0e7490", "#6366f1", "#1d4ed8", "#155e75"],
    "backbone": ["#7c3aed", "#a855f7", "#6d28d9"],
    "recurrent": ["#d97706", "#ea580c", "#b45309"],
    "head": ["#16a34a", "#15803d", "#65a30d"],
}
OTHER_COLOURS = ["#db2777", "#9333ea", "#0f766e", "#a16207", "#be123c"]


def render(document: dict, *, now: datetime | None = None) -> str:
    """The report page for one model's JSON document."""
    document = inert_tree(document)
    return _environment().get_template("report.html.j2").render(**context(document, now=now))


def emit(documents: Sequence[dict], context: RenderContext) -> str:
    """The registry's entry: the page of the one model in `documents`."""
    (document,) = documents
    return render(document)


def emit_fragment(documents: Sequence[dict], run: RenderContext) -> str:
    """A notebook cell's view: the gate verdict, the findings and the block MACs chart (one <div>)."""
    (document,) = documents
    return _environment().get_template("notebook.html.j2").render(**context(inert_tree(document)), gate=run.gate)


def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=True, undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters.update(compact=compact, num=num, pct=pct, nbytes=nbytes, shape=full_shape, mono=mono,
                       signed_pct=signed_pct)
    env.globals.update(SEVERITY_RANK=SEVERITY_RANK)
    return env


def _timestamp(now: datetime | None) -> datetime:
    if now is None:
        epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
        now = datetime.fromtimestamp(int(epoch), tz=timezone.utc) if epoch.isdigit() else datetime.now(timezone.utc)
    if now.tzinfo is None:
        now = now.astimezone()
    return now.astimezone(timezone.utc).replace(microsecond=0)


# ---------------------------------------------------------------- formatting (filters)

def compact(value) -> str:
    return charts.compact(value)


def num(value) -> str:
    if value is None:
        return "–"
    return f"{value:,}" if isinstance(value, int) else f"{value:,.4g}"


def pct(part, whole=None) -> str:
    if whole is None:
        share = part
    else:
        share = part / whole if whole else 0
    if share == 0:
        return "0%"
    if share < 0.001:
        return "<0.1%"
    return f"{100 * share:.1f}%"


def signed_pct(before: int, after: int) -> str:
    if not before:
        return "new" if after else "±0%"
    change = 100 * (after - before) / before
    if abs(change) < 0.05:
        return "±0%"
    return f"{change:+.1f}%" if abs(change) < 10 else f"{change:+.0f}%"


def nbytes(value: int) -> str:
    size = float(value or 0)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size} B"


def mono(text) -> Markup:
    """Escape `text`, then show `name` spans (the messages quote layer names in backticks) as <code>."""
    parts = str(text if text is not None else "").split("`")
    if len(parts) % 2 == 0:  # unbalanced: leave it as text
        return escape(str(text))
    out = Markup("")
    for index, part in enumerate(parts):
        out += Markup("<code>{}</code>").format(part) if index % 2 else escape(part)
    return out


# ---------------------------------------------------------------- the view model

def context(document: dict, *, now: datetime | None = None) -> dict:
    model = document.get("model") or {}
    totals = document.get("totals") or {}
    blocks = document.get("blocks") or []
    layers = document.get("layers") or []
    colours = block_colours(blocks)
    findings = [_finding(f, index) for index, f in enumerate(document.get("findings") or [])]
    probes = document.get("probes")
    verdicts = list((probes or {}).get("verdicts") or []) if isinstance(probes, dict) else []
    for finding in findings:
        finding["verdicts"] = [_verdict(v) for v in verdicts if _matches(v, finding)]
    active = [f for f in findings if f["active"]]
    hidden = [f for f in findings if not f["active"]]
    groups = []
    for key in GUIDE_SECTIONS + tuple(sorted({f["section"] for f in active} - set(GUIDE_SECTIONS))):
        items = [f for f in active if f["section"] == key]
        groups.append({"key": key, "title": BLOCK_TITLES.get(key, key), "findings": items,
                       "worst": max((f["severity"] for f in items), key=SEVERITY_RANK.get, default=None)})
    counts = document.get("counts") or {s: sum(f["severity"] == s for f in active) for s in SEVERITY_RANK}
    top = sorted(active, key=lambda f: (-SEVERITY_RANK.get(f["severity"], 0), -_verdict_weight(f), f["index"]))[:3]

    total_macs = totals.get("macs") or 0
    diagram = layout(document)
    fmap = charts.feature_map_chart(layers, model.get("frames"), "feature-maps", model.get("input_shape"))
    block_rows = [dict(b, colour=colours.get(b["id"], "#64748b"), share=(b.get("macs") or 0) / total_macs
                       if total_macs else 0) for b in blocks]
    time = _timestamp(now)
    return {
        "doc": document,
        "model": model,
        "title": model.get("name") or Path(str(model.get("path") or "model")).name,
        "tool": document.get("tool") or {"name": "lrcn-advise", "version": "?"},
        "totals": totals,
        "counts": {s: int(counts.get(s, 0)) for s in ("error", "warning", "info")},
        "status": _status(counts, document.get("budget_failures") or []),
        "top_fixes": top,
        "groups": groups,
        "hidden": hidden,
        "findings_total": len(findings),
        "warnings": document.get("warnings") or [],
        "notes": document.get("notes") or [],
        "budget_failures": document.get("budget_failures") or [],
        "blocks": block_rows,
        "blocks_by_macs": sorted(block_rows, key=lambda b: (-(b.get("macs") or 0), b["id"])),
        "colours": colours,
        "layers": [_layer(layer, total_macs, colours) for layer in layers],
        "nested_total": sum(_count_nested(layer) for layer in layers),
        "diagram": diagram,
        "charts": {
            "macs": charts.block_bars(blocks, colours, "macs", "block-macs", "MACs") if blocks else None,
            "params": charts.block_bars(blocks, colours, "params", "block-params", "Params") if blocks else None,
            "fmap": fmap,
        },
        "input_shapes": [full_shape(s) for s in model.get("input_shapes") or []],
        "input_shapes_compact": [compact_shape(s) for s in model.get("input_shapes") or []],
        "probes": _probes(probes, findings),
        "convention": document.get("convention") or "",
        "generated_iso": time.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "generated_text": time.strftime("%Y-%m-%d %H:%M UTC"),
    }


def block_colours(blocks: list[dict]) -> dict[str, str]:
    used: dict[str, int] = {}
    colours: dict[str, str] = {}
    other = 0
    for block in blocks:
        palette = KIND_COLOURS.get(block.get("stage", ""))
        if palette:
            index = used.get(block["stage"], 0)
            colours[block["id"]] = palette[index % len(palette)]
            used[block["stage"]] = index + 1
        else:
            colours[block["id"]] = OTHER_COLOURS[other % len(OTHER_COLOURS)]
            other += 1
    return colours


def _status(counts: dict, budget_failures: list) -> dict:
    errors, warnings, infos = (int(counts.get(s, 0)) for s in ("error", "warning", "info"))
    if errors or budget_failures:
        parts = []
        if errors:
            parts.append(f"{errors} error{'s' if errors != 1 else ''}")
        if budget_failures:
            parts.append(f"{len(budget_failures)} budget{'s' if len(budget_failures) != 1 else ''} exceeded")
        return {"level": "error", "headline": "Fix before training: " + " and ".join(parts) + "."}
    if warnings:
        return {"level": "warning", "headline": f"No errors; {warnings} warning{'s' if warnings != 1 else ''} "
                                                "worth fixing before you train."}
    if infos:
        return {"level": "info", "headline": "No errors or warnings; "
                                             f"{infos} suggestion{'s' if infos != 1 else ''} to consider."}
    return {"level": "ok", "headline": "No findings: the architecture follows the guide."}


FINDING_DEFAULTS = {"rule": "", "name": "", "title": "", "severity": "info", "section": "model", "layers": [],
                    "message": "", "fix": "", "evidence": {}, "rationale": "", "guide": "", "probe": None,
                    "edit": None, "cost": None, "fingerprint": "", "suppressed": None, "in_baseline": False}


def _finding(finding: dict, index: int) -> dict:
    finding = {**FINDING_DEFAULTS, **{k: v for k, v in finding.items() if v is not None or k in ("cost", "edit")}}
    cost = finding.get("cost")
    evidence = finding.get("evidence") or {}
    return dict(
        finding,
        index=index,
        anchor="f-" + str(finding.get("fingerprint") or index),
        active=not finding.get("suppressed") and not finding.get("in_baseline"),
        severity_rank=SEVERITY_RANK.get(finding.get("severity", ""), 0),
        evidence_items=[(str(key).replace("_", " "), _evidence_value(value)) for key, value in evidence.items()],
        cost_view=_cost(cost) if cost else None,
    )


def _evidence_value(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.4g}"
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, int) for v in value):
        return "×".join(str(v) for v in value) if len(value) <= 3 else full_shape(value)
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=False)


def _cost(cost: dict) -> dict:
    rows = []
    for label, key in (("params", "params"), ("MACs", "macs")):
        before, after = int(cost.get(f"{key}_before") or 0), int(cost.get(f"{key}_after") or 0)
        rows.append({"label": label, "before": before, "after": after, "change": signed_pct(before, after),
                     "direction": "up" if after > before else "down" if after < before else "same"})
    return {"rows": rows}


def _matches(verdict: dict, finding: dict) -> bool:
    if verdict.get("rule") != finding.get("rule"):
        return False
    layers = verdict.get("layers")
    if layers is None:
        return True
    return set(map(str, finding.get("layers") or [])) <= set(map(str, layers))  # a rule's fix covers all its layers


VERDICT_KEYS = ("rule", "layers", "variant", "verdict", "metric", "effect_mean", "ci_low", "ci_high", "n",
                "cost_change", "explanation", "confidence", "step_time_change", "why", "why_text", "seeds_needed",
                "budget_needed_s")


def _verdict(verdict: dict) -> dict:
    view = {key: verdict.get(key) for key in VERDICT_KEYS}
    for key in ("effect_mean", "ci_low", "ci_high"):
        if not isinstance(view[key], (int, float)) or isinstance(view[key], bool):
            view[key] = None
    view["layers"] = [str(name) for name in view["layers"] or []]
    for key in ("rule", "variant", "verdict", "metric", "explanation"):
        view[key] = "" if view[key] is None else str(view[key])
    view["cost_change"] = _cost_change(view["cost_change"])
    view["tone"] = verdict_tone(view["verdict"])
    speed = view["step_time_change"] if isinstance(view["step_time_change"], dict) else {}
    view["step_time"] = _speed(speed)
    view["level"] = (f"{view['confidence']:.1%} CI" if isinstance(view["confidence"], (int, float))
                     and not isinstance(view["confidence"], bool) else "CI")
    view["why_text"] = str(view["why_text"] or "")
    needed, seconds = view["seeds_needed"], view["budget_needed_s"]
    view["needed"] = (f"about {needed} paired seeds (~{seconds / 60:.0f} min here) would likely decide it"
                      if isinstance(needed, int) and isinstance(seconds, (int, float)) else "")
    return view


def _speed(change: dict) -> str:
    """'-34% (-40% to -28%)' from a verdict's step_time_change."""
    mean, low, high = (change.get(key) for key in ("mean", "ci_low", "ci_high"))
    if not isinstance(mean, (int, float)):
        return "–"
    text = f"{mean:+.0%}"
    if isinstance(low, (int, float)) and isinstance(high, (int, float)):
        text += f" ({low:+.0%} to {high:+.0%})"
    return text


def _cost_change(cost) -> str:
    """'params +122,880 · MACs +205,946,880 · step time ×2.70' from the verdict's cost_change."""
    if not cost:
        return ""
    if not isinstance(cost, dict):
        return _evidence_value(cost)
    parts = []
    for key, label in (("params", "params"), ("macs", "MACs")):
        if isinstance(cost.get(key), int):
            parts.append(f"{label} {cost[key]:+,}")
    if isinstance(cost.get("step_time_ratio"), (int, float)):
        parts.append(f"step time ×{cost['step_time_ratio']:.2f}")
    return " · ".join(parts) or _evidence_value(cost)


def verdict_tone(verdict) -> str:
    """good | bad | neutral, from the verdict's wording (the colour of its pill)."""
    text = " ".join(str(verdict or "").lower().replace("-", " ").replace("_", " ").split())
    if "not worse" in text or "no worse" in text:
        return "good"
    if any(word in text for word in ("not confirm", "unconfirm", "not support", "refut", "reject", "worse",
                                     "no effect", "contradict", "fail")):
        return "bad"
    if any(word in text for word in ("confirm", "support", "improv", "better", "helps", "pass", "faster")):
        return "good"
    return "neutral"


def _verdict_weight(finding: dict) -> int:
    return max((1 if verdict_tone(v.get("verdict")) == "good" else 0 for v in finding.get("verdicts") or []),
               default=0)


def _layer(layer: dict, total_macs: int, colours: dict, depth: int = 0) -> dict:
    children = layer.get("children") or []
    return {
        "name": layer.get("name", ""), "cls": layer_class(layer), "kind": layer.get("kind", ""),
        "shape": full_shape(layer.get("output_shape") or []),
        "shape_compact": compact_shape(layer.get("output_shape") or []),
        "params": int(layer.get("params") or 0), "trainable": int(layer.get("trainable_params") or 0),
        "non_trainable": int(layer.get("non_trainable_params") or 0), "macs": int(layer.get("macs") or 0),
        "share": (layer.get("macs") or 0) / total_macs if total_macs else 0,
        "block": layer.get("block") or "", "colour": colours.get(layer.get("block") or "", "#94a3b8"),
        "status": layer.get("status") or "ok", "note": layer.get("note") or "",
        "inputs": layer.get("inputs") or [],
        "children": [_layer(child, total_macs, colours, depth + 1) for child in children],
        "nested_count": sum(_count_nested(child) + 1 for child in children),
    }


def _count_nested(layer: dict) -> int:
    return sum(1 + _count_nested(child) for child in layer.get("children") or [])


# ---------------------------------------------------------------- probes

def _probes(probes, findings: list[dict]) -> dict:
    if probes is None:
        return {"ran": False, "status": "not run", "reason": "Probes were not run for this report "
                "(--probes off, or --probes auto found no GPU)."}
    if not isinstance(probes, dict):
        return {"ran": False, "status": "unknown", "reason": "The probe results could not be read."}
    status = str(probes.get("status") or "unknown")
    data = probes.get("data") or {}
    variants = []
    for variant in probes.get("variants") or []:
        runs = variant.get("runs") or []
        finals = [run["epochs"][-1] for run in runs if run.get("epochs")]
        variants.append({
            "id": str(variant.get("id", "?")), "description": variant.get("description") or "",
            "params": variant.get("params"), "macs": variant.get("macs"), "seeds": len(runs),
            "failed": [str(run.get("error")) for run in runs if run.get("error")],
            "epochs": max((len(run.get("epochs") or []) for run in runs), default=0),
            "final_val_accuracy": _mean([e.get("val_accuracy") for e in finals]),
            "final_val_loss": _mean([e.get("val_loss") for e in finals]),
            "gap": _mean([e.get("gap") for e in finals]),
            "step_time": _mean([e.get("step_time_s") for run in runs for e in run.get("epochs") or []]),
        })
    raw_variants = probes.get("variants") or []
    verdicts = []
    for verdict in probes.get("verdicts") or []:
        matched = next((f for f in findings if _matches(verdict, f)), None)
        verdicts.append(dict(_verdict(verdict), anchor=matched["anchor"] if matched else None))
    return {
        "ran": status not in ("skipped", "not run"),
        "status": status, "reason": probes.get("reason") or "", "smoke": bool(probes.get("smoke")),
        "device": probes.get("device") or "", "backend": probes.get("backend") or "",
        "data": {"source": data.get("source") or "", "description": data.get("description") or "",
                 "caveat": data.get("caveat") or ""},
        "variants": variants, "verdicts": verdicts, "design": _design(probes),
        "curves": {
            "val_accuracy": charts.learning_curves(raw_variants, "val_accuracy", "curve-val-acc",
                                                   "validation accuracy"),
            "val_loss": charts.learning_curves(raw_variants, "val_loss", "curve-val-loss", "validation loss"),
        },
    }


def _design(probes: dict) -> str:
    """One sentence on the sequential design and how the sweep ended."""
    design, budget = probes.get("sequential"), probes.get("budget") or {}
    if not isinstance(design, dict):
        return ""
    try:
        return (f"up to {design['max_seeds']} paired seeds, looks after {design['min_seeds']}..{design['max_seeds']}, "
                f"{design['alpha']:.0%} error spent evenly over {design['looks']} looks; {budget.get('steps')} steps "
                f"per run; stopped: {design.get('stopped')} after {design.get('wall_s')} s of the budget "
                f"{budget.get('text')}.")
    except (KeyError, TypeError, ValueError):
        return ""


def _mean(values) -> float | None:
    numbers = [float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return sum(numbers) / len(numbers) if numbers else None
