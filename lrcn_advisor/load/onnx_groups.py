"""Pass 1: ONNX nodes -> groups, one group per logical layer, found by following the data.

Plumbing (layout changes, slicing, stacking, activations, elementwise work
with constants) passes the origin of its data through. A node that does a
layer's work joins the group keyed by (what it does, its weights, where its
data comes from), so the T per-frame copies an exporter unrolls from a
TimeDistributed layer all land in one group.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .onnx_graph import VALUE_SLOTS, OnnxGraph, attributes, attributes_key
from .onnx_recurrent import Unrolled, loop_cell, recurrent_op, unrolled_cells

if TYPE_CHECKING:
    import onnx

ACTIVATIONS = {"Relu": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "Softmax": "softmax", "Elu": "elu",
               "Selu": "selu", "LeakyRelu": "leaky_relu", "HardSigmoid": "hard_sigmoid", "Softplus": "softplus",
               "Softsign": "softsign", "Gelu": "gelu", "HardSwish": "hard_swish", "Mish": "mish",
               "LogSoftmax": "log_softmax"}
MERGES = {"Concat": "Concatenate", "Add": "Add", "Sum": "Add", "Sub": "Subtract", "Mul": "Multiply",
          "Max": "Maximum", "Min": "Minimum", "Mean": "Average"}
PLUMBING = {
    "Identity", "Cast", "CastLike", "Transpose", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Slice",
    "Gather", "GatherElements", "Split", "Concat", "Expand", "ReverseSequence", "Pad", "Dropout",
    "Add", "Sub", "Mul", "Div", "Pow", "Sqrt", "Reciprocal", "Neg", "Abs", "Exp", "Log", "Erf", "Clip",
    "Floor", "Ceil", "Round", "Sign", "Sum", "Max", "Min", "Mean", "Where", "Equal", "Less", "Greater",
    "LessOrEqual", "GreaterOrEqual", "And", "Or", "Not", "Xor", "IsNaN", "IsInf", "Sin", "Cos",
    "ReduceMean", "ReduceMax", "ReduceMin", "ReduceSum", "ReduceProd", "ReduceL1", "ReduceL2",
    "ReduceLogSumExp", "ReduceSumSquare", "ArgMax", "ArgMin", "DequantizeLinear", "QuantizeLinear",
    *ACTIVATIONS}
CHANNELS_FIRST_KINDS = {"conv", "deconv", "pool", "gpool", "norm", "resize"}
WEIGHTED = ("conv", "deconv", "dense")  # layers whose bias and activation follow as separate ops


@dataclass
class Affine:
    axis: int      # channel axis of the data tensor
    channels: int
    ops: dict[str, None]  # the per-channel Mul/Add/Sub/Div ops, in order


@dataclass
class Group:
    id: int
    kind: str                  # input | conv | deconv | pool | gpool | norm | affine | dense | recurrent | resize
    #                            | repeat | merge | unknown
    node: onnx.NodeProto | None
    inputs: list[int]          # groups whose output it takes
    data: str = ""             # its data input tensor (first copy)
    weights: tuple[str, ...] = ()  # initialisers and constants holding its parameters
    copies: int = 0
    elements: int | None = 0   # per-sample elements of its data input, summed over copies
    scope: list[str] | None = None
    folded: tuple[str, ...] = ()  # constants of nodes folded in after the first: a bias Add, more per-channel ops
    activation: str | None = None
    taken: list[tuple | None] = field(default_factory=list)  # shapes of the tensors its users take
    info: Any = None
    reversed: bool = False     # its input runs backwards in time (ReverseSequence)
    alias: int | None = None   # merged into that group (the two halves of a Bidirectional)
    partner: int | None = None  # backward half, when this group is a Bidirectional's forward half

    @property
    def name(self) -> str:
        if self.scope:
            return "/".join(self.scope)
        if self.node is not None and self.node.name:
            return self.node.name
        return f"{self.node.op_type if self.node is not None else 'input'}_{self.id}"


class Grouper:
    def __init__(self, view: OnnxGraph):
        self.view = view
        self.groups: list[Group] = []
        self.keys: dict[tuple, Group] = {}
        self.origin: dict[str, int] = {}
        self.direct: dict[str, int] = {}   # output of a conv/dense/affine node (or its folded bias)
        self.reversed: set[str] = set()
        self.outputs: list[int] = []
        self.unrolled: dict[int, Unrolled] = {i: cell for cell in unrolled_cells(view) for i in cell.nodes}
        for info in view.inputs:
            group = self._new("input", None, [])
            group.data = info.name
            self.origin[info.name] = group.id

    def run(self) -> list[Group]:
        handlers = {"Conv": self._conv, "ConvTranspose": self._deconv, "Resize": self._resize,
                    "Upsample": self._resize, "Tile": self._tile, "MaxPool": self._pool, "AveragePool": self._pool,
                    "GlobalAveragePool": self._global_pool, "GlobalMaxPool": self._global_pool,
                    "ReduceMean": self._reduce, "ReduceMax": self._reduce,
                    "BatchNormalization": self._batch_norm, "LayerNormalization": self._layer_norm,
                    "Gemm": self._dense, "MatMul": self._dense, "LSTM": self._rnn, "GRU": self._rnn,
                    "RNN": self._rnn, "Loop": self._loop, "Scan": self._loop, "Add": self._elementwise,
                    "Mul": self._elementwise, "Sub": self._elementwise, "Div": self._elementwise}
        view = self.view
        for node in view.order:
            data = [t for t in view.inputs_of(node) if t and not view.is_const(t)]
            if not data or all(not o or view.is_const(o) for o in node.output):
                continue
            if id(node) in self.unrolled:
                self._unrolled_step(node, data, self.unrolled[id(node)])
            elif node.domain not in ("", "ai.onnx"):
                self._unknown(node, data)
            elif node.op_type in handlers:
                handlers[node.op_type](node, data)
            elif node.op_type in PLUMBING:
                self._plumbing(node, data)
            else:
                self._unknown(node, data)
        for output in view.graph.output:
            if output.name in self.origin:
                self._take(output.name)
                self.outputs.append(self.origin[output.name])
        self._fuse_bidirectional()
        self._drop_model_scope()
        return self.groups

    # ---- bookkeeping -------------------------------------------------------

    def _new(self, kind: str, node, inputs: list[int]) -> Group:
        group = Group(len(self.groups), kind, node, inputs)
        self.groups.append(group)
        return group

    def _origins(self, data: list[str]) -> list[int]:
        return list(dict.fromkeys(self.origin[t] for t in data))

    def _take(self, tensor: str) -> None:
        self.groups[self.origin[tensor]].taken.append(self.view.shape(tensor))

    def _sources(self, names) -> tuple[str, ...]:
        return tuple(dict.fromkeys(s for name in names if name for s in self.view.sources(name)))

    def _join(self, key: tuple, kind: str, node, data: str, inputs: list[int], weights=(), info=None) -> Group:
        """Add `node` as one more copy of the group `key` (made on first sight)."""
        group = self.keys.get(key)
        if group is None:
            group = self._new(kind, node, inputs)
            group.data, group.weights, group.info = data, tuple(weights), info
            group.reversed = data in self.reversed
            self.keys[key] = group
        group.copies += 1
        size = self.view.per_sample(data)
        group.elements = None if group.elements is None or size is None else group.elements + size
        scope = _scope(node)
        group.scope = scope if group.scope is None else _common(group.scope, scope)
        for output in node.output:
            if output:
                self.origin[output] = group.id
        return group

    def _compute(self, node, kind: str, data: str, weights=(), info=None) -> Group:
        origin = self.origin[data]
        key = (kind, node.op_type, attributes_key(node), tuple(weights), origin)
        self._take(data)
        group = self._join(key, kind, node, data, [origin], weights, info)
        if kind in ("conv", "deconv") and len(node.input) > 1 and (
                "/" not in node.name or "batchnorm" in "/".join(group.scope or []).lower()):
            group.scope = _weight_scope(node.input[1]) or group.scope  # tf2onnx renamed it (a fused BatchNorm)
        for output in node.output:
            if output:
                self.direct[output] = group.id
        return group

    def _pass(self, node, origin: int, data: list[str]) -> None:
        for output in node.output:
            if output:
                self.origin[output] = origin
        if node.op_type == "ReverseSequence" or any(t in self.reversed for t in data):
            self.reversed.update(o for o in node.output if o)

    # ---- node kinds ----------------------------------------------------------

    def _weighted(self, node, data: list[str], kind: str, slots, info=None) -> None:
        """A layer node: data in input 0, constant weights in the inputs numbered `slots`."""
        weights = [node.input[i] for i in slots if i < len(node.input) and node.input[i]]
        self._weights(node, data, kind, weights, info)

    def _weights(self, node, data: list[str], kind: str, weights: list[str], info=None) -> None:
        if data != [node.input[0]] or any(not self.view.is_const(w) for w in weights):
            self._unknown(node, data)
        else:
            self._compute(node, kind, node.input[0], self._sources(weights), info)

    def _conv(self, node, data):
        self._weighted(node, data, "conv", (1, 2))

    def _deconv(self, node, data):
        self._weighted(node, data, "deconv", (1, 2))

    def _resize(self, node, data):
        """Resize/Upsample by whole factors along the spatial axes: an UpSampling layer."""
        x = self.view.shape(node.input[0])
        factors = None
        scales = node.input[2] if node.op_type == "Resize" and len(node.input) > 2 else \
            (node.input[1] if len(node.input) > 1 else "")
        value = self.view.value_through(scales) if scales else None
        if value is not None and value.size:
            factors = [float(v) for v in value.reshape(-1)]
        elif node.op_type == "Resize" and len(node.input) > 3 and node.input[3] and x and None not in x:
            sizes = self.view.value_through(node.input[3])
            if sizes is not None and sizes.size == len(x):
                factors = [out / n for out, n in zip(sizes.reshape(-1), x)]
        if not x or not factors or len(factors) != len(x) or data != [node.input[0]] or \
                any(f < 1 or f != int(f) for f in factors) or factors[0] != 1:
            return self._unknown(node, data)
        factors = [int(f) for f in factors]
        if factors[1] == 1:
            channels_first, spatial = True, factors[2:]
        elif factors[-1] == 1:
            channels_first, spatial = False, factors[1:-1]
        else:
            return self._unknown(node, data)
        mode = attributes(node).get("mode", "nearest")
        self._compute(node, "resize", node.input[0],
                      info={"size": spatial, "channels_first": channels_first,
                            "interpolation": "bilinear" if mode == "linear" else mode})

    def _tile(self, node, data):
        """Tile by a whole factor along an axis just inserted (Unsqueeze): one axis of a nearest
        UpSampling (Keras' repeat). The Tile of the next axis joins the same layer."""
        x = self.view.shape(node.input[0])
        repeats = self.view.value_through(node.input[1]) if len(node.input) > 1 else None
        if not x or repeats is None or data != [node.input[0]] or repeats.size != len(x):
            return self._unknown(node, data)
        grown = [i for i, r in enumerate(repeats.reshape(-1)) if r != 1]
        if len(grown) != 1 or grown[0] < 2 or x[grown[0]] != 1 or grown[0] >= len(x) - 1:
            return self._unknown(node, data)
        axis, times = grown[0] - 2, int(repeats.reshape(-1)[grown[0]])  # spatial axis of the un-expanded item
        origin = self.groups[self.origin[node.input[0]]]
        if origin.kind == "repeat" and origin.scope == _scope(node)[:len(origin.scope or [])] and \
                axis != origin.info["axis"] - 2 and origin.info["size"][axis] in (1, times):
            origin.info["size"][axis] = times
            for output in node.output:
                if output:
                    self.origin[output] = origin.id
            return
        size = [1] * (len(x) - 3)
        size[axis] = times
        self._compute(node, "repeat", node.input[0], info={"size": size, "axis": grown[0]})

    def _pool(self, node, data):
        if any(d != 1 for d in attributes(node).get("dilations", [])):
            self._unknown(node, data)
        else:
            self._weighted(node, data, "pool", ())

    def _global_pool(self, node, data):
        shape = self.view.shape(node.input[0])
        rank = len(shape) if shape else 4
        self._weighted(node, data, "gpool", (), (tuple(range(2, rank)), 1, True))

    def _reduce(self, node, data):
        """ReduceMean/Max over every axis but batch and one channel axis is a global pooling."""
        shape = self.view.shape(node.input[0])
        attrs = attributes(node)
        axes = attrs.get("axes")
        if axes is None and len(node.input) > 1 and node.input[1]:
            value = self.view.value_through(node.input[1])
            axes = None if value is None else [int(a) for a in value.reshape(-1)]
        if shape is None or not axes or data != [node.input[0]]:
            return self._plumbing(node, data)
        rank = len(shape)
        axes = sorted({a % rank for a in axes})
        kept = [a for a in range(1, rank) if a not in axes]
        if 0 in axes or len(kept) != 1 or len(axes) > 3:
            return self._plumbing(node, data)
        self._compute(node, "gpool", node.input[0], info=(tuple(axes), kept[0], bool(attrs.get("keepdims", 1))))

    def _batch_norm(self, node, data):
        self._weighted(node, data, "norm", (1, 2, 3, 4))

    def _layer_norm(self, node, data):
        shape = self.view.shape(node.input[0])
        axis = attributes(node).get("axis", -1)
        if shape is None or axis % len(shape) != len(shape) - 1:
            return self._unknown(node, data)
        self._weighted(node, data, "layer_norm", (1, 2))

    def _dense(self, node, data):
        attrs = attributes(node)
        weight = self.view.shape(node.input[1]) if len(node.input) > 1 else None
        if attrs.get("transA") or not weight or len(weight) != 2:
            return self._unknown(node, data)
        self._weighted(node, data, "dense", (1, 2) if node.op_type == "Gemm" else (1,))

    def _rnn(self, node, data):
        cell = recurrent_op(node, self.view)
        if cell is None:
            return self._unknown(node, data)
        self._weights(node, data, "recurrent", cell.weights, cell)

    def _loop(self, node, data):
        cell = loop_cell(node, self.view)
        if cell is None or cell.data not in self.origin:
            return self._unknown(node, data)
        names = [w for w in cell.weights if w in cell.local_sizes] + list(self._sources(
            [w for w in cell.weights if w not in cell.local_sizes]))
        self._compute(node, "recurrent", cell.data, tuple(dict.fromkeys(names)), cell)

    def _unrolled_step(self, node, data, cell: Unrolled) -> None:
        """A node of an unrolled recurrent layer: the whole layer is one group, its input the
        first data tensor that comes from outside it."""
        group = cell.group
        if group is None:  # its first node that takes data: the data comes from outside
            info = cell.cell
            info.data = data[0]
            shape = self.view.shape(info.data)
            if info.steps is None and shape and len(shape) == 3:
                info.steps = shape[1]
            self._take(info.data)
            group = self._join(("unrolled", cell.prefix), "recurrent", node, info.data,
                               [self.origin[info.data]], self._sources(info.weights), info)
            group.scope = [p for p in cell.prefix.split("/") if p]
            cell.group = group
        for output in node.output:
            if output:
                self.origin[output] = group.id

    def _elementwise(self, node, data):
        """Add/Mul/Sub/Div with a constant: a conv/dense bias, a per-channel affine map (an exported
        BatchNorm), or plumbing when the constant is a scalar. Any other constant is a weight we
        cannot place: an unknown layer."""
        consts = [i for i in node.input if i and i not in data]
        if len(data) != 1 or len(consts) != 1:
            return self._plumbing(node, data)
        tensor, const = data[0], consts[0]
        const_shape = self.view.shape(const)
        size = math.prod(const_shape) if const_shape and None not in const_shape else None
        if size == 1 or (size is None and not self.view.sources(const)):
            return self._plumbing(node, data)
        weights = self._sources([const])
        axis = _channel_axis(self.view.shape(tensor), const_shape)
        owner = self.groups[self.direct[tensor]] if tensor in self.direct else self._reshaped_dense(tensor)
        if owner is not None and self._absorbs(owner, node.op_type, weights, size, axis):
            owner.folded = tuple(dict.fromkeys((*owner.folded, *weights)))
            if owner.kind == "affine":
                owner.info.ops[node.op_type] = None
            for output in node.output:
                self.origin[output] = self.direct[output] = owner.id
            return
        if axis is None:
            return self._unknown(node, data)
        self._compute(node, "affine", tensor, weights, Affine(axis, size, {node.op_type: None}))

    def _reshaped_dense(self, tensor: str) -> Group | None:
        """The Dense whose MatMul output reaches `tensor` through reshapes only (Keras' Tensordot on a
        sequence: merge batch and steps, MatMul, split them again, then add the bias)."""
        node = self.view.producer.get(tensor)
        while node is not None and node.op_type in ("Reshape", "Identity") and node.input:
            tensor = node.input[0]
            if tensor in self.direct:
                group = self.groups[self.direct[tensor]]
                return group if group.kind == "dense" else None
            node = self.view.producer.get(tensor)
        return None

    def _absorbs(self, owner: Group, op: str, weights: tuple, size: int, axis: int | None) -> bool:
        if owner.kind == "affine":
            return axis == owner.info.axis and size == owner.info.channels
        if op != "Add" or owner.kind not in WEIGHTED or owner.folded not in ((), weights):
            return False
        node = owner.node
        if node.op_type in ("Conv", "ConvTranspose", "Gemm") and len(node.input) > 2 and node.input[2]:
            return False
        weight = self.view.shape(node.input[1])
        if node.op_type == "ConvTranspose":
            return size == weight[1] * attributes(node).get("group", 1)
        if node.op_type == "Conv" or attributes(node).get("transB"):
            return size == weight[0]
        return size == weight[-1]

    def _plumbing(self, node, data):
        origins = self._origins(data)
        value_from_constant = node.op_type in VALUE_SLOTS and node.input and node.input[0] not in data
        if len(origins) == 1 and not value_from_constant:
            if node.op_type in ACTIVATIONS and data[0] in self.direct:
                owner = self.groups[self.direct[data[0]]]
                if owner.kind in WEIGHTED and owner.activation in (None, ACTIVATIONS[node.op_type]):
                    owner.activation = ACTIVATIONS[node.op_type]
            return self._pass(node, origins[0], data)
        if len(origins) > 1 and node.op_type in MERGES:
            return self._merge(node, data, origins)
        self._unknown(node, data)

    def _merge(self, node, data, origins):
        for tensor in data:
            self._take(tensor)
        key = ("merge", node.op_type, attributes_key(node), tuple(origins))
        self._join(key, "merge", node, data[0], origins, info=MERGES[node.op_type])

    def _unknown(self, node, data):
        origins = self._origins(data)
        for tensor in data:
            self._take(tensor)
        consts = self._sources(i for i in node.input if i and i not in data)
        key = ("unknown", node.domain, node.op_type, attributes_key(node), tuple(origins), consts)
        self._join(key, "unknown", node, data[0], origins, consts)

    def _fuse_bidirectional(self) -> None:
        """A forward and a reversed recurrent group of one input, concatenated: one Bidirectional."""
        for merge in self.groups:
            if merge.kind != "merge" or merge.node.op_type != "Concat" or len(merge.inputs) != 2:
                continue
            halves = [self.groups[i] for i in merge.inputs]
            if any(h.kind != "recurrent" or h.alias is not None or h.info.directions != 1 for h in halves):
                continue
            forward, backward = sorted(halves, key=lambda h: h.reversed)
            same = (forward.info.cell, forward.info.units, forward.inputs) == \
                (backward.info.cell, backward.info.units, backward.inputs)
            if same and backward.reversed and not forward.reversed:
                forward.partner = backward.id
                forward.taken = merge.taken
                backward.alias = merge.alias = forward.id

    def _drop_model_scope(self) -> None:
        """Leave out the model's own name scope (tf2onnx: model_1/conv1_1/...) shared by every layer."""
        scoped = [g for g in self.groups if g.scope and len(g.scope) > 1]
        if len(scoped) > 1 and len({g.scope[0] for g in scoped}) == 1:
            for group in scoped:
                group.scope = group.scope[1:]


def _channel_axis(data_shape, const_shape) -> int | None:
    """The one axis (not the batch) a constant broadcasts along, when it is a per-channel vector."""
    if not data_shape or not const_shape or len(const_shape) > len(data_shape):
        return None
    offset = len(data_shape) - len(const_shape)
    axes = [offset + i for i, d in enumerate(const_shape) if d != 1]
    if len(axes) != 1 or axes[0] == 0 or data_shape[axes[0]] not in (None, const_shape[axes[0] - offset]):
        return None
    return axes[0]


def _scope(node: onnx.NodeProto) -> list[str]:
    """Where the node comes from: PyTorch's module path, or the exporter's name scope."""
    for prop in node.metadata_props:
        if prop.key == "pkg.torch.onnx.name_scopes":  # like "['', 'cnn', 'cnn.0', 'conv2d']"
            scopes = [s for s in re.findall(r"'([^']*)'", prop.value) if s]
            if scopes:
                return [scopes[-2] if len(scopes) > 1 else scopes[0]]
    parts = [p for p in node.name.split("/") if p]
    parts = parts[:-1] if len(parts) > 1 else parts
    # TorchScript scopes repeat the parent: /cnn/cnn.0/Conv
    return [p for i, p in enumerate(parts) if i + 1 == len(parts) or not parts[i + 1].startswith(p + ".")]


def _weight_scope(name: str) -> list[str]:
    """The layer scope of a tf2onnx weight name: model/conv1_1/convolution/merged_input:0 -> model/conv1_1."""
    parts = [p for p in name.split("/") if p]
    return parts[:-2] if len(parts) >= 4 else []


def _common(a: list[str], b: list[str]) -> list[str]:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return a[:n]
