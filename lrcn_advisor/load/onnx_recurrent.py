"""Recurrent layers in ONNX: the LSTM/GRU/RNN ops, and Loop/Scan bodies that run one cell step.

A step body is recognised by its weight matrices: the one multiplying the
carried state is H x G*H (G = 4 gates for an LSTM, 3 for a GRU, 1 for a
simple RNN) and the one multiplying the input slice is I x G*H.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import onnx_wire
from .onnx_graph import VALUE_SLOTS, OnnxGraph, attributes, graph_shapes, outer_refs, topological_order

if TYPE_CHECKING:
    import onnx

CELLS = {"LSTM": ("LSTM", 4), "GRU": ("GRU", 3), "RNN": ("SimpleRNN", 1)}
CELL_OF_GATES = {4: "LSTM", 3: "GRU", 1: "SimpleRNN"}
KERAS_BIAS = {"LSTM": 4, "SimpleRNN": 1}  # bias vectors of H values per gate count; GRU depends on reset_after
COUNTER_TYPES = {onnx_wire.T_INT64, onnx_wire.T_INT32}
ACTIVATIONS = {"Sigmoid": "sigmoid", "Tanh": "tanh", "Relu": "relu", "HardSigmoid": "hard_sigmoid",
               "Elu": "elu", "Softsign": "softsign", "Softplus": "softplus", "Affine": "linear"}


@dataclass
class Recurrent:
    cell: str                  # LSTM | GRU | SimpleRNN
    units: int
    input_size: int | None
    steps: int | None          # time steps of its input, when the file says
    data: str                  # the tensor holding the input sequence
    weights: list[str]         # tensors whose initialisers are its parameters
    directions: int = 1
    config: dict = field(default_factory=dict)
    local_sizes: dict[str, int] = field(default_factory=dict)  # initialisers inside a loop body
    notes: list[str] = field(default_factory=list)
    frame: tuple | None = None  # ConvLSTM: (spatial input dims..., input channels) of one step

    @property
    def width(self) -> int | None:
        """Values per step of one direction's output (filters x output positions for a ConvLSTM)."""
        if self.frame is None:
            return self.units
        out = self.config.get("output_positions")
        return None if out is None else self.units * out


def recurrent_op(node: onnx.NodeProto, view: OnnxGraph) -> Recurrent | None:
    """An ONNX LSTM, GRU or RNN node as a Keras-style recurrent layer."""
    cell, gates = CELLS[node.op_type]
    attrs = attributes(node)
    w_shape = view.shape(node.input[1]) if len(node.input) > 1 else None
    if not w_shape or len(w_shape) != 3 or None in w_shape:
        return None
    directions = 2 if attrs.get("direction") == "bidirectional" else 1
    units = attrs.get("hidden_size") or w_shape[1] // gates
    x_shape = view.shape(node.input[0]) or (None, None, None)
    steps = x_shape[1] if attrs.get("layout", 0) == 1 else x_shape[0]
    slots = (1, 2, 3, 7) if node.op_type == "LSTM" else (1, 2, 3)
    weights = [node.input[i] for i in slots if i < len(node.input) and node.input[i]]
    has_bias = len(node.input) > 3 and bool(node.input[3])
    config = {"use_bias": has_bias, "go_backwards": attrs.get("direction") == "reverse",
              **_activations(cell, attrs.get("activations"))}
    notes = []
    if cell == "GRU":
        config["reset_after"] = attrs.get("linear_before_reset", 0) == 1
        if has_bias and not config["reset_after"]:
            notes.append(f"ONNX GRU keeps input and recurrent biases (6H): +{3 * units} params per "
                         "direction vs a Keras GRU with reset_after=False")
    elif has_bias:
        extra = KERAS_BIAS[cell] * units
        notes.append(_double_bias_note(cell, extra, view.value(node.input[3]), view.model.producer_name))
    if node.op_type == "LSTM" and len(node.input) > 7 and node.input[7]:
        notes.append(f"peephole weights (3H = {3 * units} per direction) have no Keras equivalent")
    if attrs.get("clip"):
        notes.append(f"cell clip {attrs['clip']} is not modelled")
    return Recurrent(cell, units, w_shape[2], steps, node.input[0], weights, directions, config, notes=notes)


def _double_bias_note(cell: str, extra: int, bias, producer: str) -> str:
    if producer == "pytorch":
        return f"PyTorch {cell} has two bias vectors: +{extra} params per direction vs Keras"
    if bias is not None and bias.ndim == 2 and bias.shape[1] % 2 == 0 and not bias[:, bias.shape[1] // 2:].any():
        return (f"ONNX {cell} keeps input and recurrent biases: +{extra} params per direction vs Keras "
                "(the recurrent half is all zeros: a Keras layer's single bias)")
    return f"ONNX {cell} has two bias vectors (input and recurrent): +{extra} params per direction vs Keras"


def _activations(cell: str, names) -> dict:
    if not names:
        return {}
    names = [ACTIVATIONS.get(str(n), str(n).lower()) for n in names]
    if cell == "SimpleRNN":
        return {"activation": names[0]}
    return {"recurrent_activation": names[0], "activation": names[1]}


# ---- Loop / Scan bodies ------------------------------------------------------

@dataclass
class _Body:
    labels: dict[str, frozenset]        # body tensor -> {"const", "state", "input"}
    sources: dict[str, tuple[str, ...]]  # constant body tensor -> initialisers it comes from
    shapes: dict[str, tuple]
    local_sizes: dict[str, int]
    data: list[str]                      # outer data tensors feeding the body
    states: list[str]                    # body inputs that carry the recurrent state


def loop_cell(node: onnx.NodeProto, view: OnnxGraph) -> Recurrent | None:
    """A Loop or Scan whose body is one LSTM/GRU/RNN step, as a recurrent layer; else None."""
    body_graph = next((a.g for a in node.attribute if a.name == "body"), None)
    if body_graph is None:
        return None
    order = [body_graph.node[i] for i in topological_order(
        body_graph, {}, frozenset(outer_refs(body_graph)))]
    body = _label_body(node, body_graph, order, view)
    if body is None or not body.data:
        return None
    producer = {o: n for n in order for o in n.output}
    if any(n.op_type == "Conv" for n in order):
        return _conv_cell(node, order, body, producer, view)
    kernel, recurrent, weights, bias = [], [], {}, {}
    for n in order:
        operands = [body.labels.get(i, frozenset()) for i in n.input[:2]]
        if n.op_type in ("MatMul", "Gemm") and len(n.input) >= 2 and operands[1] == {"const"} \
                and "const" not in operands[0]:
            shape = body.shapes.get(n.input[1])
            if not shape or len(shape) != 2 or None in shape:
                return None
            rows, cols = (shape[1], shape[0]) if attributes(n).get("transB") else shape
            (recurrent if "state" in operands[0] else kernel).append((rows, cols))
            weights.update(dict.fromkeys(body.sources.get(n.input[1], ())))
        elif n.op_type == "Add" and len(n.input) == 2:
            const = [i for i, labels in zip(n.input, operands) if labels == {"const"}]
            other = [i for i, labels in zip(n.input, operands) if labels != {"const"}]
            if len(const) == 1 and len(other) == 1 and _from_matmul(other[0], producer):
                bias.update(dict.fromkeys(body.sources.get(const[0], ())))
    shape = _cell_shape(kernel, recurrent, body)
    if shape is None:
        return None
    cell, units, input_size = shape
    sizes = {**{name: view.elements(name) or 0 for name in weights | bias if name not in body.local_sizes},
             **body.local_sizes}
    bias_size = sum(sizes.get(name, 0) for name in bias)
    config = {"use_bias": bias_size > 0}
    if cell == "GRU":
        config["reset_after"] = bias_size != 3 * units
    notes = [] if cell != "GRU" or bias_size in (0, 3 * units, 6 * units) else \
        [f"{bias_size} bias values where a Keras GRU has {3 * units} or {6 * units}"]
    return Recurrent(cell, units, input_size, None, body.data[0], list({**weights, **bias}),
                     config=config, local_sizes=body.local_sizes, notes=notes)


def _from_matmul(name: str, producer: dict, ops=("MatMul", "Gemm")) -> bool:
    node = producer.get(name)
    if node is not None and (node.op_type in VALUE_SLOTS or node.op_type == "Split") and node.input:
        node = producer.get(node.input[0])
    return node is not None and node.op_type in ops


def _conv_cell(node: onnx.NodeProto, order: list, body: _Body, producer: dict,
               view: OnnxGraph) -> Recurrent | None:
    """A loop body whose gates are convolutions of the input frame and of the carried state: a ConvLSTM.

    The state convolutions' weights hold F x G*F values per kernel position
    (G = 4 gates); the input ones C_in x G*F. The first input convolution
    gives the kernel, strides, dilation and padding (Keras pads the state 'same').
    """
    from_input, from_state, bias = [], [], {}
    for n in order:
        labels = [body.labels.get(i, frozenset()) for i in n.input[:2]]
        if n.op_type == "Conv" and len(n.input) >= 2 and labels[1] == {"const"} and "const" not in labels[0]:
            (from_state if "state" in labels[0] else from_input).append(n)
        elif n.op_type == "Add" and len(n.input) == 2:
            const = [i for i, label in zip(n.input, labels) if label == {"const"}]
            other = [i for i, label in zip(n.input, labels) if label != {"const"}]
            if len(const) == 1 and len(other) == 1 and _from_matmul(other[0], producer, ("Conv",)):
                bias.update(dict.fromkeys(body.sources.get(const[0], ())))
    if not from_input or not from_state:
        return None
    first = attributes(from_input[0])
    kernel = list(first.get("kernel_shape") or [])
    rank = len(kernel)
    if not 1 <= rank <= 3 or first.get("group", 1) != 1:
        return None
    sources = {side: list(dict.fromkeys(s for n in convs for s in body.sources.get(n.input[1], ())))
               for side, convs in (("input", from_input), ("state", from_state))}
    sizes = {name: body.local_sizes.get(name) or view.elements(name) or 0
             for names in (*sources.values(), bias) for name in names}
    shape_of = {name: body.shapes.get(name) or view.shape(name) for name in sizes}
    recurrent = [shape_of[name] for name in sources["state"]]
    if len(recurrent) != 1 or not recurrent[0] or len(recurrent[0]) != rank + 2:
        return None
    weight = tuple(recurrent[0])
    if list(weight[:rank]) == kernel:    # Keras layout (*kernel, F, 4F)
        filters, columns = weight[rank:]
    elif list(weight[2:]) == kernel:     # ONNX layout (4F, F, *kernel)
        columns, filters = weight[:2]
    else:
        return None
    area = math.prod(kernel)
    if not filters or columns != 4 * filters or area * filters * columns != sizes[sources["state"][0]]:
        return None
    kernel_values = sum(sizes[name] for name in sources["input"])
    if kernel_values % (area * columns):
        return None
    channels = kernel_values // (area * columns)
    data = body.data[0]
    x = view.shape(data)  # time-major: (T, N, *spatial, C) or (T, N, C, *spatial)
    steps = x[0] if x and len(x) == rank + 3 else None
    spatial = None
    if x and len(x) == rank + 3:
        spatial = tuple(x[2:2 + rank]) if x[-1] == channels else tuple(x[3:])
    strides = list(first.get("strides") or [1] * rank)
    dilation = list(first.get("dilations") or [1] * rank)
    padding = _conv_padding(first, spatial, kernel, strides, dilation)
    if padding is None:
        return None
    out = None
    if spatial and None not in spatial:
        out = math.prod(_out_size(n, k, s, d, padding) for n, k, s, d in zip(spatial, kernel, strides, dilation))
    bias_values = sum(sizes.get(name, 0) for name in bias)
    config = {"filters": filters, "kernel_size": kernel, "strides": strides, "dilation_rate": dilation,
              "padding": padding, "use_bias": bias_values > 0, "data_format": "channels_last",
              "output_positions": out}
    notes = [] if bias_values in (0, columns) else [f"{bias_values} bias values where Keras has {columns}"]
    return Recurrent(f"ConvLSTM{rank}D", filters, channels, steps, data,
                     list(dict.fromkeys([*sources["input"], *sources["state"], *bias])), config=config,
                     local_sizes=body.local_sizes, notes=notes, frame=(*(spatial or (None,) * rank), channels))


def _out_size(n: int, k: int, s: int, d: int, padding: str) -> int:
    return -(-n // s) if padding == "same" else (n - d * (k - 1) - 1) // s + 1


def _conv_padding(attrs: dict, spatial, kernel, strides, dilation) -> str | None:
    """Keras 'same' or 'valid' for a convolution's ONNX padding; None when it is neither."""
    auto = attrs.get("auto_pad", "NOTSET")
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        return "same"
    pads = attrs.get("pads") or [0] * (2 * len(kernel))
    if auto == "VALID" or not any(pads):
        return "valid"
    if not spatial or None in spatial:
        return None
    rank = len(kernel)
    padded = [(n + pads[i] + pads[i + rank] - d * (k - 1) - 1) // s + 1
              for i, (n, k, s, d) in enumerate(zip(spatial, kernel, strides, dilation))]
    return "same" if padded == [-(-n // s) for n, s in zip(spatial, strides)] else None


def _cell_shape(kernel: list, recurrent: list, body: _Body):
    """(cell class, units, input size) from the weight matrices of a step body.

    Matrices that multiply the state (alone, gated, or concatenated with the
    input slice) hold H x G*H values between them; a separate input kernel is I x G*H.
    """
    if not recurrent:
        return None
    if kernel:
        units, input_size = recurrent[0][0], kernel[0][0]
        if any(rows != units for rows, _ in recurrent):
            return None
    else:
        units = next((s[-1] for s in map(body.shapes.get, body.states) if s and s[-1]), None)
        if units is None or any(rows <= units for rows, _ in recurrent):
            return None
        input_size = recurrent[0][0] - units
    columns = sum(cols for _, cols in recurrent)
    if not units or columns % units:
        return None
    cell = CELL_OF_GATES.get(columns // units)
    return (cell, units, input_size) if cell else None


def _label_body(node: onnx.NodeProto, body: onnx.GraphProto, order: list[onnx.NodeProto],
                view: OnnxGraph) -> _Body | None:
    """Which body tensors are constants, the carried state, or slices of the input sequence."""
    labels: dict[str, frozenset] = {}
    sources: dict[str, tuple[str, ...]] = {}
    shapes = graph_shapes(body)
    local_sizes: dict[str, int] = {}
    data: list[str] = []
    const = frozenset({"const"})

    types = {i.name: i.type.tensor_type.elem_type for i in body.input}

    def outer(name: str, inner: str, carried: bool, passthrough: bool) -> None:
        if name and view.is_const(name) and (passthrough or not carried):
            labels[inner], sources[inner] = const, view.sources(name)
            if inner not in shapes and view.shape(name):
                shapes[inner] = view.shape(name)
        elif carried and (shapes.get(inner) == () or types.get(inner) in COUNTER_TYPES):
            labels[inner] = frozenset({"counter"})  # a time index carried by the loop
        else:
            labels[inner] = frozenset({"state" if carried else "input"})
            if not carried and name:
                data.append(name)

    names_in = [i.name for i in body.input]
    names_out = [o.name for o in body.output]
    if node.op_type == "Loop":
        if len(names_in) != len(node.input) or len(names_in) < 2:
            return None
        for name in names_in[:2]:
            labels[name] = frozenset({"counter"})
        for k in range(2, len(names_in)):
            passthrough = k - 1 < len(names_out) and names_out[k - 1] == names_in[k]
            outer(node.input[k], names_in[k], True, passthrough)
    else:
        scans = attributes(node).get("num_scan_inputs", 0)
        states = len(node.input) - scans
        if len(names_in) != len(node.input) or states < 0:
            return None
        for k, name in enumerate(names_in):
            carried = k < states
            outer(node.input[k], name, carried, carried and k < len(names_out) and names_out[k] == name)
    for name in outer_refs(body):
        outer(name, name, False, False)
    for tensor in body.initializer:
        labels[tensor.name], sources[tensor.name] = const, (tensor.name,)
        local_sizes[tensor.name] = math.prod(tensor.dims)
    for n in order:
        if n.op_type == "Constant":
            labels[n.output[0]], sources[n.output[0]] = const, ()
            continue
        inputs = [i for i in n.input if i]
        merged = frozenset().union(*(labels.get(i, frozenset({"input"})) for i in inputs)) if inputs else const
        if merged == const:
            slots = VALUE_SLOTS.get(n.op_type)
            picked = [n.input[i] for i in slots if i < len(n.input)] if slots else inputs
            found = tuple(dict.fromkeys(s for i in picked for s in sources.get(i, ())))
            for o in n.output:
                labels[o], sources[o] = const, found
        else:
            for o in n.output:
                labels[o] = merged - const
    states = [i.name for i in body.input if labels.get(i.name) == {"state"}]
    return _Body(labels, sources, shapes, local_sizes, list(dict.fromkeys(data)), states)


# ---- recurrent layers unrolled into per-step ops (Keras unroll=True through tf2onnx) ------------

CELL_SCOPE = re.compile(r"^(lstm|gru|simple_rnn)_cell(_\d+)?$")


@dataclass
class Unrolled:
    """The nodes of one recurrent layer that the exporter unrolled step by step."""

    prefix: str                 # name scope of the layer ("model/rnn1_1")
    cell: Recurrent
    nodes: set[int]             # id() of its nodes
    group: Any = None           # the Grouper's group, once made


def unrolled_cells(view: OnnxGraph) -> list[Unrolled]:
    """Unrolled cells: per step, the input slice times a kernel I x G*H plus the previous output
    times a recurrent kernel H x G*H (G = 4 gates for an LSTM, 3 for a GRU, 1 for a simple RNN),
    all under one layer's name scope with a `*_cell` sub-scope, as tf2onnx writes Keras' unroll=True."""
    uses: dict[str, dict[str, list]] = {}
    for node in view.order:
        if node.op_type not in ("MatMul", "Gemm") or len(node.input) < 2 or not view.is_const(node.input[1]):
            continue
        parts = node.name.split("/")
        cell = next((i for i, p in enumerate(parts) if CELL_SCOPE.match(p)), None)
        if cell:
            uses.setdefault("/".join(parts[:cell]), {}).setdefault(node.input[1], []).append(node)
    found = []
    for prefix, weights in uses.items():
        cell = _unrolled_cell(view, prefix, weights)
        if cell is not None:
            nodes = {id(n) for n in view.order if n.name.startswith(prefix + "/")}
            found.append(Unrolled(prefix, cell, nodes))
    return found


def _unrolled_cell(view: OnnxGraph, prefix: str, weights: dict[str, list]) -> Recurrent | None:
    shapes = {w: view.shape(w) for w in weights}
    if len(weights) != 2 or any(not s or len(s) != 2 or None in s for s in shapes.values()):
        return None
    if len({s[1] for s in shapes.values()}) != 1:
        return None

    def from_cell(node) -> bool:  # data from a previous step (or a constant initial state)
        source = view.producer.get(node.input[0])
        return view.is_const(node.input[0]) or (source is not None and any(
            CELL_SCOPE.match(p) for p in source.name.split("/")))

    recurrent = [w for w, nodes in weights.items() if all(map(from_cell, nodes))]
    if len(recurrent) != 1:
        return None
    (kernel,) = [w for w in weights if w != recurrent[0]]
    units, columns = shapes[recurrent[0]]
    cell = CELL_OF_GATES.get(columns // units) if columns % units == 0 else None
    if cell is None:
        return None
    bias = []
    for node in view.order:
        if node.op_type == "Add" and node.name.startswith(prefix + "/"):
            for name in node.input:
                shape = view.shape(name)
                if view.is_const(name) and view.sources(name) and shape and math.prod(shape) in (
                        columns, 2 * columns) and not any(s in weights for s in view.sources(name)):
                    bias.extend(view.sources(name))
    bias = list(dict.fromkeys(bias))
    bias_size = sum(view.elements(b) or 0 for b in bias)
    config = {"use_bias": bias_size > 0}
    if cell == "GRU":
        config["reset_after"] = bias_size != 3 * units
    steps = len(weights[kernel]) if len(weights[kernel]) > 1 else None
    notes = [f"unrolled by the exporter into {len(weights[recurrent[0]])} steps of MatMul and gate ops"]
    return Recurrent(cell, units, shapes[kernel][0], steps, "",
                     [*view.sources(kernel), *view.sources(recurrent[0]), *bias], config=config, notes=notes)
