"""Charts for the HTML report, drawn by pygal as inline SVG.

Every chart is made self-contained and repeatable by `_render`:
- no script: pygal's tooltips need JavaScript, so `js=[]` and the config <script> it always
  writes are dropped; each bar and dot gets an SVG <title> instead (a native hover tooltip);
- no URLs: pygal's comments (links and today's date) are dropped, so the only URL left is the
  SVG namespace;
- a fixed chart id (pygal picks a random uuid4 per chart and scopes its CSS with it);
- text (labels, titles) is escaped by ElementTree when the tree is serialised.
"""
from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import pygal
from markupsafe import Markup
from pygal.style import Style

FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif'
SERIES_COLOURS = ("#2563eb", "#d97706", "#16a34a", "#9333ea", "#dc2626", "#0891b2", "#64748b", "#db2777")


def style(colours=SERIES_COLOURS) -> Style:
    return Style(
        background="transparent", plot_background="transparent",
        foreground="#475569", foreground_strong="#0f172a", foreground_subtle="#e2e8f0",
        opacity="0.9", opacity_hover="1", transition="0ms", colors=tuple(colours),
        font_family=FONT, label_font_size=11, major_label_font_size=11, value_font_size=10,
        value_label_font_size=10, title_font_size=13, legend_font_size=11, tooltip_font_size=11,
        no_data_font_size=14, guide_stroke_dasharray="2,3", major_guide_stroke_dasharray="2,3",
        stroke_opacity="1", stroke_opacity_hover="1",
    )


def _config(**extra) -> dict:
    config = dict(disable_xml_declaration=True, js=[], style=style(), explicit_size=True,
                  show_legend=False, margin=6, spacing=8, tooltip_border_radius=0, print_zeroes=True,
                  pretty_print=False, truncate_label=-1, no_data_text="no data")
    config.update(extra)
    return config


def compact(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float) and not value.is_integer():
        if abs(value) < 1000:
            return f"{value:.3g}"
    value = float(value)
    for unit, size in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(value) >= size:
            return f"{value / size:.3g}{unit}"
    return f"{value:.3g}" if not value.is_integer() else str(int(value))


def _render(chart, chart_id: str, titles: list[list[str]] | None = None) -> Markup:
    """Render `chart` to one inline <svg> string, stripped of scripts, comments and random ids."""
    chart.uuid = chart_id

    def clean(root):
        _strip(root)
        if titles is not None:
            _add_titles(root, titles)
        return root

    chart.add_xml_filter(clean)
    svg = chart.render()
    svg = svg.replace(f'id="chart-{chart_id}"', f'id="chart-{chart_id}" role="img"', 1)
    # the markup comes from ElementTree, which escaped every text and attribute it wrote
    return Markup(svg)


def _strip(root) -> None:
    for parent in list(root.iter()):
        for child in list(parent):
            tag = child.tag if isinstance(child.tag, str) else ""
            if child.tag is ET.Comment or tag == "script" or tag.endswith("}script"):
                parent.remove(child)
            elif "tooltip-overlay" in (child.get("class") or ""):
                parent.remove(child)  # the JS tooltip box: empty without JavaScript


def _add_titles(root, titles: list[list[str]]) -> None:
    """Give the n-th value of series s the tooltip titles[s][n] (<title>, no script needed)."""
    for group in root.iter("g"):
        classes = (group.get("class") or "").split()
        if "series" not in classes:
            continue
        serie = next((c for c in classes if c.startswith("serie-")), "")
        if not serie:
            continue
        index = int(serie.split("-", 1)[1])
        if index >= len(titles):
            continue
        items = [g for g in group.iter("g") if {"bar", "dots"} & set((g.get("class") or "").split())]
        for item, text in zip(items, titles[index]):
            title = ET.Element("title")
            title.text = text
            item.insert(0, title)


def nice_ticks(top: float, count: int = 4) -> list[float]:
    """0 and round steps (1, 2, 2.5 or 5 x 10^k) up to at least `top`."""
    if top <= 0:
        return [0, 1]
    raw = top / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    ticks = [0.0]
    while ticks[-1] < top:
        ticks.append(ticks[-1] + step)
    return [int(t) if float(t).is_integer() else t for t in ticks]


def block_bars(blocks: list[dict], colours: dict[str, str], metric: str, chart_id: str, title: str) -> Markup:
    """One horizontal bar per block, in the block's colour; hover a bar for its exact value and share."""
    blocks = list(reversed(blocks))  # pygal draws the first bar at the bottom
    labels = [f"{b['id']}" for b in blocks]
    values = [int(b.get(metric) or 0) for b in blocks]
    total = sum(values)
    chart = pygal.HorizontalBar(**_config(
        width=560, height=max(120, 36 + 24 * len(blocks)), value_formatter=compact, show_x_guides=False,
        show_y_guides=True, y_labels=nice_ticks(max(values, default=0)), margin_right=16))
    chart.x_labels = labels
    chart.add(title, [{"value": v, "color": colours.get(b["id"], SERIES_COLOURS[0])}
                      for b, v in zip(blocks, values)])
    tips = [[f"{b['id']} ({b.get('label', '')}): {v:,} {title}"
             + (f" — {100 * v / total:.1f}%" if total else "") for b, v in zip(blocks, values)]]
    return _render(chart, chart_id, tips)


def feature_map_points(layers: list[dict], frames: int | None, input_shape=None) -> list[dict]:
    """Per layer (nested backbones expanded): spatial size of its output map and its channels.

    The model input comes first when the file has no InputLayer of its own (Sequential models)."""
    points: list[dict] = []
    if input_shape and layers and layers[0].get("kind") != "input":
        walk_input = {"name": "input", "kind": "input", "output_shape": list(input_shape), "block": "input"}
        layers = [walk_input, *layers]

    def walk(items: list[dict], nested: bool, prefix: str, block: str) -> None:
        for layer in items:
            children = layer.get("children") or []
            here = block or layer.get("block") or ""
            if children:
                walk(children, True, prefix + layer["name"] + "/", here)
                continue
            if layer.get("kind") == "input" and (nested or points):
                continue
            dims = list(layer.get("output_shape") or [])[1:]
            if not nested and frames and len(dims) >= 2 and dims[0] in (frames, None):
                dims = dims[1:]  # the time axis
            if not dims:
                continue
            channels = dims[-1]
            space = dims[:-1][-2:]
            positions = math.prod(space) if space and all(isinstance(d, int) for d in space) else None
            points.append({"name": prefix + layer["name"], "block": here,
                           "channels": channels if isinstance(channels, int) and channels > 0 else None,
                           "space": space, "positions": positions or None})

    walk(layers, False, "", "")
    return points


def feature_map_chart(layers: list[dict], frames: int | None, chart_id: str, input_shape=None) -> Markup | None:
    """Map side (√(H·W)) and channels per layer on one log₂ axis: where resolution goes and width comes."""
    points = feature_map_points(layers, frames, input_shape)
    if not any(p["positions"] for p in points) or len(points) < 2:
        return None
    side = [math.sqrt(p["positions"]) if p["positions"] else None for p in points]
    channels = [p["channels"] for p in points]
    values = [v for v in side + channels if v]
    low, high = math.floor(math.log2(min(values))), math.ceil(math.log2(max(values)))
    step = max(1, math.ceil((high - low) / 8))
    many = len(points) > 40
    labels, previous, last_shown = [], None, -len(points)
    gap = max(1, len(points) // 16)
    for index, point in enumerate(points):  # the block id where a block starts; crowded: the later wins
        starts = point["block"] != previous
        labels.append(point["block"] if starts else "")
        if starts:
            if index - last_shown < gap:
                labels[last_shown] = ""
            last_shown = index
        previous = point["block"]
    chart = pygal.Line(**_config(
        width=1180, height=300, show_legend=True, legend_at_bottom=True, legend_at_bottom_columns=2,
        show_dots=not many, dots_size=2.5, stroke_style={"width": 2}, allow_interruptions=True,
        logarithmic=True, range=(2 ** low / 1.15, 2 ** high * 1.15),
        y_labels=[2 ** e for e in range(low, high + 1, step)], show_x_guides=False, truncate_label=-1,
        value_formatter=lambda v: f"{v:,.0f}" if v is not None and v >= 1 else compact(v),
        style=style(("#2563eb", "#d97706"))))
    chart.x_labels = labels
    chart.add("feature-map side √(H·W)", side)
    chart.add("channels / features", channels)
    tips = [[f"{p['name']}: {'×'.join(map(str, p['space']))} map" for p in points if p["positions"]],
            [f"{p['name']}: {p['channels']:,} channels" for p in points if p["channels"] is not None]]
    return _render(chart, chart_id, tips)


def learning_curves(variants: list[dict], metric: str, chart_id: str, y_title: str) -> Markup | None:
    """One line per variant: `metric` per epoch, averaged over its seeds."""
    collected: list[tuple[str, dict[int, list[float]]]] = []
    for variant in variants:
        by_epoch: dict[int, list[float]] = {}
        for run in variant.get("runs") or []:
            for index, epoch in enumerate(run.get("epochs") or []):
                value = epoch.get(metric)
                number = epoch.get("epoch")
                number = number if isinstance(number, int) and not isinstance(number, bool) else index + 1
                if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                    by_epoch.setdefault(number, []).append(float(value))
        if by_epoch:
            collected.append((str(variant.get("id", "?")), by_epoch))
    if not collected:
        return None
    first = min(min(by_epoch) for _, by_epoch in collected)
    last = max(max(by_epoch) for _, by_epoch in collected)
    epochs = list(range(first, last + 1))
    chart = pygal.Line(**_config(
        width=560, height=300 + 18 * ((len(collected) - 1) // 3), show_legend=True, legend_at_bottom=True,
        legend_at_bottom_columns=min(3, len(collected)), truncate_legend=24,
        dots_size=3, stroke_style={"width": 2}, allow_interruptions=True, x_title="epoch", y_title=y_title,
        value_formatter=lambda v: f"{v:.3f}" if v is not None else "–", show_minor_x_labels=True,
        x_labels_major_count=8))
    chart.x_labels = [str(e) for e in epochs]
    tips = []
    for name, by_epoch in collected:
        means = [sum(by_epoch[e]) / len(by_epoch[e]) if e in by_epoch else None for e in epochs]
        chart.add(name, means)
        tips.append([f"{name}, epoch {e}: {v:.4f} (mean of {_seeds(len(by_epoch[e]))})"
                     for e, v in zip(epochs, means) if v is not None])
    return _render(chart, chart_id, tips)


def _seeds(count: int) -> str:
    return f"{count} seed" if count == 1 else f"{count} seeds"
