"""Architecture diagram: a layered top-down layout of the top-level layers, computed here.

The layout is plain data (boxes, edges, labels in pixels); the template draws it as inline
SVG with Jinja autoescaping, so layer names are never trusted as markup.

- Rows are topological depths (longest path from an input), so parallel branches of a
  functional model sit side by side; edges that skip rows run through small invisible
  "waypoints" in the rows between, so they pass between boxes rather than through them.
- A layer whose `children` hold a nested model (a backbone) is one box; the layer table
  expands it.
- Models with more than MAX_LAYER_NODES top-level layers are drawn one box per block.
- Everything is ordered by layer order and integer maths: the same document gives the same SVG.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .text import layer_class

MAX_LAYER_NODES = 60
NODE_W = 264
NODE_H = 38
WAYPOINT_W = 24
H_GAP = 28
ROW_GAP = 30           # vertical room between rows, where the shape labels sit
MARGIN_X = 12
MARGIN_Y = 10
OUTPUT_H = 20
NAME_CHARS = 30
WRAPPER_TAGS = {"TimeDistributed": "TD", "Bidirectional": "Bi"}
SUB_CHARS = 38


@dataclass
class Node:
    key: str
    title: str                  # full text for the hover tooltip
    name: str                   # first line (may be truncated)
    sub: str                    # second line: class and params
    block: str
    kind: str                   # layer | input | output | block | waypoint
    parents: list[str] = field(default_factory=list)
    shape: str = ""             # output shape shown on outgoing edges
    shape_full: str = ""
    depth: int = 0
    order: float = 0.0
    x: int = 0
    y: int = 0
    w: int = NODE_W
    h: int = NODE_H
    nested: int = 0             # layers inside (backbone), 0 otherwise
    tag: str = ""               # wrapper badge: TD (TimeDistributed), Bi (Bidirectional)


@dataclass
class Edge:
    path: str
    label: str
    label_full: str
    lx: int
    ly: int
    block: str
    anchor: str = "start"       # text-anchor of the label: beside the line, away from its bend


@dataclass
class Diagram:
    width: int
    height: int
    nodes: list[Node]
    edges: list[Edge]
    collapsed: bool             # drawn per block (too many layers)
    layer_count: int


def compact_shape(dims) -> str:
    """(None, 20, 64, 64, 16) -> '20×64×64×16' (the batch axis dropped)."""
    if not dims:
        return "?"
    rest = list(dims[1:]) if dims[0] is None else list(dims)
    return "×".join("?" if d is None else str(d) for d in rest) or "scalar"


def full_shape(dims) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in dims) + ")"


def _clip(text: str, limit: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _compact(value: int) -> str:
    for unit, size in (("T", 10**12), ("G", 10**9), ("M", 10**6), ("K", 10**3)):
        if value >= size:
            number = value / size
            return f"{number:.3g}{unit}"
    return str(value)


def layout(document: dict) -> Diagram:
    layers = document.get("layers") or []
    if len(layers) > MAX_LAYER_NODES:
        nodes = _block_nodes(document)
        collapsed = True
    else:
        nodes = _layer_nodes(document)
        collapsed = False
    return _place(nodes, collapsed, len(layers))


def _layer_nodes(document: dict) -> list[Node]:
    layers = document.get("layers") or []
    model = document.get("model") or {}
    known = {layer["name"] for layer in layers}
    input_shapes = list(model.get("input_shapes") or [])
    nodes: list[Node] = []
    synthetic: dict[str, Node] = {}
    for layer in layers:
        for parent in layer.get("inputs") or []:
            if parent not in known and parent not in synthetic:
                index = len(synthetic)
                dims = input_shapes[index] if index < len(input_shapes) else None
                synthetic[parent] = Node(
                    key=f"in:{parent}", title=f"{parent}\nInput {full_shape(dims) if dims else ''}".strip(),
                    name=_clip(parent, NAME_CHARS), sub="Input", block="input", kind="input",
                    shape=compact_shape(dims) if dims else "", shape_full=full_shape(dims) if dims else "")
                nodes.append(synthetic[parent])
    consumed: set[str] = set()
    for layer in layers:
        consumed.update(layer.get("inputs") or [])
    for layer in layers:
        cls = layer_class(layer)
        short = layer.get("inner_class") or layer.get("class") or "?"
        wrapper = WRAPPER_TAGS.get(layer.get("class") or "", "") if layer.get("inner_class") else ""
        params = layer.get("params") or 0
        macs = layer.get("macs") or 0
        nested = len(layer.get("children") or [])
        sub = short if layer.get("kind") != "input" else "Input"
        if nested:
            sub = f"{short} · {nested} layers"
        if params:
            sub += f" · {_compact(params)} params"
        title = [layer["name"], cls, f"output {full_shape(layer.get('output_shape') or [])}",
                 f"params {params:,}", f"MACs {macs:,}", f"block {layer.get('block') or '-'}"]
        if nested:
            title.append(f"{nested} nested layers (expand in the layer table)")
        if layer.get("status", "ok") != "ok":
            title.append(f"status: {layer['status']}")
        parents = [("in:" + p) if p in synthetic else ("l:" + p) for p in layer.get("inputs") or []]
        nodes.append(Node(
            key="l:" + layer["name"], title="\n".join(title), name=_clip(layer["name"], NAME_CHARS),
            sub=_clip(sub, SUB_CHARS), block=layer.get("block") or "", kind="layer", tag=wrapper,
            parents=_unique(parents), shape=compact_shape(layer.get("output_shape") or []),
            shape_full=full_shape(layer.get("output_shape") or []), nested=nested))
    _add_outputs(nodes, consumed_keys={("in:" + p) if p in synthetic else ("l:" + p) for p in consumed})
    return nodes


def _block_nodes(document: dict) -> list[Node]:
    layers = document.get("layers") or []
    blocks = document.get("blocks") or []
    block_of = {layer["name"]: layer.get("block") or "" for layer in layers}
    by_name = {layer["name"]: layer for layer in layers}
    nodes: list[Node] = []
    for block in blocks:
        members = [by_name[name] for name in block.get("layers") or [] if name in by_name]
        parents: list[str] = []
        for layer in members:
            for parent in layer.get("inputs") or []:
                source = block_of.get(parent)
                if source and source != block["id"]:
                    parents.append("b:" + source)
        outside = {p for other in layers if block_of.get(other["name"]) != block["id"]
                   for p in other.get("inputs") or []}
        leaving = [layer for layer in members if layer["name"] in outside]
        out = ((leaving or members or [{}])[-1]).get("output_shape") or []
        params = block.get("params") or 0
        nodes.append(Node(
            key="b:" + block["id"],
            title=f"{block['id']} ({block.get('label', '')})\n{_layers(len(members))}\nparams {params:,}\n"
                  f"MACs {block.get('macs', 0):,}",
            name=_clip(f"{block.get('label') or block['id']}", NAME_CHARS),
            sub=_clip(f"{_layers(len(members))} · {_compact(params)} params", SUB_CHARS),
            block=block["id"], kind="block", parents=_unique(parents),
            shape=compact_shape(out), shape_full=full_shape(out)))
    consumed = {p for node in nodes for p in node.parents}
    _add_outputs(nodes, consumed_keys=consumed)
    return nodes


def _add_outputs(nodes: list[Node], consumed_keys: set[str]) -> None:
    sinks = [node for node in nodes if node.key not in consumed_keys and node.kind != "input"]
    for index, sink in enumerate(sinks):
        nodes.append(Node(key=f"out:{index}", title=f"model output {sink.shape_full}", name="output",
                          sub="", block=sink.block, kind="output", parents=[sink.key], w=88, h=OUTPUT_H))


def _layers(count: int) -> str:
    return f"{count} layer" if count == 1 else f"{count} layers"


def _unique(items: list[str]) -> list[str]:
    seen: list[str] = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen


def _place(nodes: list[Node], collapsed: bool, layer_count: int) -> Diagram:
    by_key = {node.key: node for node in nodes}
    for node in nodes:  # nodes come in layer order; Keras lists a layer after its inputs
        node.parents = [p for p in node.parents if p in by_key and p != node.key]
    _depths(nodes, by_key)

    # waypoints split edges that skip rows
    chains: list[tuple[Node, Node, list[Node]]] = []
    rows: dict[int, list[Node]] = {}
    for node in nodes:
        rows.setdefault(node.depth, []).append(node)
    for index, node in enumerate(nodes):
        node.order = index
    for child in nodes:
        for parent_key in child.parents:
            parent = by_key[parent_key]
            points = []
            for depth in range(parent.depth + 1, child.depth):
                point = Node(key=f"wp:{parent.key}>{child.key}@{depth}", title="", name="", sub="", block="",
                             kind="waypoint", depth=depth, order=child.order, w=WAYPOINT_W, h=NODE_H)
                rows[depth].append(point)
                points.append(point)
            chains.append((parent, child, points))

    # order rows: by the mean position of what feeds them (one top-down pass), ties by layer order
    parents_of: dict[str, list[Node]] = {}
    for parent, child, points in chains:
        sequence = [parent, *points, child]
        for upper, lower in zip(sequence, sequence[1:]):
            parents_of.setdefault(lower.key, []).append(upper)
    depth_count = max(rows) + 1 if rows else 0
    for depth in range(depth_count):
        row = rows.get(depth, [])
        if depth:
            for node in row:
                feeders = parents_of.get(node.key, [])
                if feeders:
                    node.order = sum(f.order for f in feeders) / len(feeders)
        row.sort(key=lambda n: (n.order, n.kind == "waypoint", n.key))
        for index, node in enumerate(row):
            node.order = index

    # widths and positions
    row_widths = {d: sum(n.w for n in rows.get(d, [])) + H_GAP * max(0, len(rows.get(d, [])) - 1)
                  for d in range(depth_count)}
    width = max(row_widths.values(), default=NODE_W) + 2 * MARGIN_X
    y = MARGIN_Y
    for depth in range(depth_count):
        row = rows.get(depth, [])
        x = (width - row_widths[depth]) // 2
        row_h = max((n.h for n in row), default=NODE_H)
        for node in row:
            node.x = x
            node.y = y + (row_h - node.h) // 2 if node.kind == "output" else y
            x += node.w + H_GAP
        y += row_h + ROW_GAP
    height = y - ROW_GAP + MARGIN_Y

    edges: list[Edge] = []
    labelled: set[str] = set()
    for parent, child, points in chains:
        edge = _edge(parent, child, points)
        if parent.key in labelled:  # fan-out: one label at the fork covers every branch
            edge.label = ""
        labelled.add(parent.key)
        edges.append(edge)
    drawn = [node for node in nodes if node.kind != "waypoint"]
    return Diagram(width=width, height=height, nodes=drawn, edges=edges, collapsed=collapsed,
                   layer_count=layer_count)


def _depths(nodes: list[Node], by_key: dict[str, Node]) -> None:
    state: dict[str, int] = {}

    def depth(node: Node, trail: tuple[str, ...] = ()) -> int:
        if node.key in state:
            return state[node.key]
        if node.key in trail:  # a cycle in a broken file: cut it
            return 0
        value = 0
        for parent in node.parents:
            value = max(value, depth(by_key[parent], trail + (node.key,)) + 1)
        state[node.key] = value
        return value

    for node in nodes:
        node.depth = depth(node)


def _edge(parent: Node, child: Node, points: list[Node]) -> Edge:
    start = (parent.x + parent.w // 2, parent.y + parent.h)
    stops = [(p.x + p.w // 2, p.y, p.y + p.h) for p in points]
    end = (child.x + child.w // 2, child.y)
    segments = [f"M{start[0]},{start[1]}"]
    cursor = start
    for cx, top, bottom in stops:
        segments.append(_curve(cursor, (cx, top)))
        segments.append(f"L{cx},{bottom}")
        cursor = (cx, bottom)
    segments.append(_curve(cursor, end))
    # the label sits in the gap just below the source box, beside the line
    first = stops[0][0] if stops else end[0]
    anchor = "end" if first > start[0] else "start"
    lx = start[0] - 8 if anchor == "end" else start[0] + 8
    ly = start[1] + ROW_GAP // 2 + 4
    return Edge(path=" ".join(segments), label=parent.shape, label_full=f"{parent.shape_full}",
                lx=lx, ly=ly, block=parent.block, anchor=anchor)


def _curve(a: tuple[int, int], b: tuple[int, int]) -> str:
    if a[0] == b[0]:
        return f"L{b[0]},{b[1]}"
    mid = (a[1] + b[1]) // 2
    return f"C{a[0]},{mid} {b[0]},{mid} {b[0]},{b[1]}"
