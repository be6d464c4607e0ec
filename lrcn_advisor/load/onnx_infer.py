"""Shape inference over the main graph of a model read by onnx_wire, matching onnx's results.

It covers the ops LRCN exports use (tf2onnx, torch.onnx) and, like
onnx.shape_inference with data_prop=True, carries the values of small integer
vectors computed from shapes (Shape -> Gather/Slice -> Unsqueeze -> Concat ->
Reshape). Every shape it gives is concrete; an op it does not know, a value it
cannot settle or anything onnx would reject raises Decline, and the caller
reads the file with onnx instead. Nodes are taken in file order, as onnx does.
"""
from __future__ import annotations

import math

from .onnx_wire import Decline, Model, WireTensor

UNARY = {
    "Identity", "Cast", "CastLike", "Relu", "Sigmoid", "Tanh", "LeakyRelu", "Elu", "Selu", "Softplus",
    "Softsign", "HardSigmoid", "HardSwish", "Gelu", "Erf", "Exp", "Log", "Sqrt", "Neg", "Abs", "Reciprocal",
    "Floor", "Ceil", "Round", "Sign", "Sin", "Cos", "Not", "IsNaN", "Softmax", "LogSoftmax", "Clip",
    "Mish", "LRN", "InstanceNormalization", "LayerNormalization"}
BROADCAST = {"Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum", "Mean", "Equal", "Less", "Greater",
             "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor", "Where"}
REDUCE = {"ReduceMean", "ReduceMax", "ReduceMin", "ReduceSum", "ReduceProd"}
DATA_OPS = {"Shape", "Gather", "Slice", "Concat", "Unsqueeze", "Squeeze", "Cast", "Add", "Sub", "Mul"}
MAX_DATA = 64       # integer vectors longer than this carry no values
MAX_RANK = 16


def _fail(why: str):
    raise Decline(why)


class Inference:
    def __init__(self, model: Model):
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
        if not 7 <= self.opset <= 25:
            _fail(f"opset {self.opset}")
        graph = model.graph
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.data: dict[str, list[int]] = {}     # onnx's data propagation: values of integer vectors
        self.consts: dict[str, WireTensor] = {}  # initialisers and Constant values (onnx's "input data")
        for tensor in graph.initializer:
            self.shapes[tensor.name] = tuple(tensor.dims)
            self.consts[tensor.name] = tensor
        for info in graph.input:
            if info.name in self.consts:
                continue
            if info.dims is None or any(not isinstance(d, int) or d <= 0 for d in info.dims):
                _fail(f"input {info.name!r} has unsettled dims")
            self.shapes[info.name] = tuple(info.dims)
        self.inferred: dict[str, tuple[int, ...]] = {}
        for node in graph.node:
            self._node(node)

    # ---- helpers ---------------------------------------------------------------------

    def _shape(self, node, index: int) -> tuple[int, ...]:
        if index >= len(node.input) or not node.input[index]:
            _fail(f"{node.op_type}: input {index} missing")
        shape = self.shapes.get(node.input[index])
        if shape is None:
            _fail(f"{node.op_type}: input {node.input[index]!r} has no shape yet")
        return shape

    def _const(self, node, index: int) -> list | None:
        """The values of a constant input (initialiser or Constant node), as onnx's getInputData; None if absent."""
        if index >= len(node.input) or not node.input[index]:
            return None
        tensor = self.consts.get(node.input[index])
        if tensor is None:
            _fail(f"{node.op_type}: input {index} is not a constant")
        values = tensor.values()
        if values is None:
            _fail(f"{node.op_type}: constant input {index} not decoded")
        return values

    def _shape_input(self, node, index: int, propagated: bool = True) -> list[int]:
        """A shape operand: a constant or (where the op's version reads it) a propagated value
        (onnx's getShapeInput)."""
        name = node.input[index] if index < len(node.input) else ""
        if name in self.consts:
            return [int(v) for v in self._const(node, index)]
        if propagated and name in self.data:
            return list(self.data[name])
        _fail(f"{node.op_type}: shape input {name!r} not settled")

    @staticmethod
    def _attrs(node) -> dict:
        values = {}
        for attr in node.attribute:
            values[attr.name] = {1: attr.f, 2: attr.i, 3: attr.s, 6: attr.floats, 7: attr.ints,
                                 8: attr.strings}.get(attr.type, attr)
        return values

    @staticmethod
    def _axis(axis: int, rank: int) -> int:
        if not -rank <= axis < rank:
            _fail("axis out of range")
        return axis % rank

    def _node(self, node) -> None:
        if node.domain not in ("", "ai.onnx"):
            _fail(f"op {node.domain}.{node.op_type}")
        handler = getattr(self, "_op_" + node.op_type, None)
        if node.op_type in UNARY:
            handler = self._unary
        elif node.op_type in BROADCAST:
            handler = self._broadcast
        elif node.op_type in REDUCE:
            handler = self._reduce
        if handler is None:
            _fail(f"op {node.op_type}")
        attrs = self._attrs(node)
        outputs = handler(node, attrs)
        if len(outputs) < len([o for o in node.output if o]) or len(outputs) > len(node.output):
            _fail(f"{node.op_type}: outputs")
        for name, shape in zip(node.output, outputs):
            if not name:
                continue
            if name in self.shapes:
                _fail(f"tensor {name!r} defined twice")
            if len(shape) > MAX_RANK or any(not isinstance(d, int) or d < 0 for d in shape):
                _fail(f"{node.op_type}: output shape {shape}")
            self.shapes[name] = self.inferred[name] = tuple(shape)
        if self.opset >= 13 and node.op_type in DATA_OPS and node.output and node.output[0]:
            value = self._propagate(node, attrs)
            if value is not None and len(value) <= MAX_DATA:
                self.data[node.output[0]] = value

    # ---- data propagation (onnx PartialDataPropagationFunction) -------------------

    def _data(self, node, index: int) -> list[int] | None:
        if index >= len(node.input) or not node.input[index]:
            return None
        name = node.input[index]
        if name in self.data:
            return self.data[name]
        tensor = self.consts.get(name)
        if tensor is not None and tensor.data_type in (6, 7) and len(tensor.dims) <= 1:
            values = tensor.values()
            return None if values is None else [int(v) for v in values]
        return None

    def _propagate(self, node, attrs) -> list[int] | None:
        op = node.op_type
        if op == "Shape":
            shape = self.shapes[node.input[0]]
            start, end = self._shape_range(len(shape), attrs)
            return list(shape[start:end])
        if op in ("Cast", "Unsqueeze", "Squeeze"):
            value = self._data(node, 0)
            return None if value is None else list(value)
        if op == "Gather":
            if attrs.get("axis", 0) not in (0, -len(self.shapes[node.input[0]])):
                return None
            data, indices = self._data(node, 0), self._data(node, 1)
            if data is None or indices is None:
                return None
            if any(not -len(data) <= i < len(data) for i in indices):
                _fail("Gather index out of range")
            return [data[i] for i in indices] or None
        if op == "Concat":
            if attrs.get("axis") not in (0, -1) or (attrs.get("axis") == -1 and len(self.shapes[node.input[0]]) != 1):
                return None
            parts = [self._data(node, i) for i in range(len(node.input))]
            return None if any(p is None for p in parts) else [v for p in parts for v in p]
        if op == "Slice":
            data, starts, ends = self._data(node, 0), self._data(node, 1), self._data(node, 2)
            axes = self._data(node, 3) if len(node.input) > 3 and node.input[3] else [0]
            steps = self._data(node, 4) if len(node.input) > 4 and node.input[4] else [1]
            if data is None or starts is None or ends is None or axes != [0] or steps is None:
                return None
            if len(starts) != 1 or len(ends) != 1 or len(steps) != 1 or steps[0] <= 0:
                return None
            return data[slice(*_clamped(starts[0], ends[0], steps[0], len(data)))]
        if op in ("Add", "Sub", "Mul"):
            a, b = self._data(node, 0), self._data(node, 1)
            if a is None or b is None:
                return None
            if len(a) != len(b) and 1 not in (len(a), len(b)):
                _fail("data propagation: bad broadcast")
            size = len(b) if len(a) == 1 else len(a)
            pick = [(a[0 if len(a) == 1 else i], b[0 if len(b) == 1 else i]) for i in range(size)]
            return [x + y if op == "Add" else x - y if op == "Sub" else x * y for x, y in pick]
        return None

    def _shape_range(self, rank: int, attrs) -> tuple[int, int]:
        start, end = attrs.get("start", 0), attrs.get("end", rank)
        start, end = (s + rank if s < 0 else s for s in (start, end))
        return min(max(start, 0), rank), min(max(end, 0), rank)

    # ---- ops ---------------------------------------------------------------------------

    def _unary(self, node, attrs):
        if node.op_type in ("LayerNormalization",) and len(node.output) > 1:
            _fail("LayerNormalization with statistics outputs")
        return [self._shape(node, 0)]

    def _op_Dropout(self, node, attrs):
        shape = self._shape(node, 0)
        return [shape, shape][:len(node.output)]

    def _op_BatchNormalization(self, node, attrs):
        if len([o for o in node.output if o]) > 1:
            _fail("BatchNormalization in training mode")
        return [self._shape(node, 0)]

    def _broadcast(self, node, attrs):
        shapes = [self._shape(node, i) for i in range(len(node.input))]
        return [broadcast(*shapes)]

    def _op_Constant(self, node, attrs):
        if len(node.attribute) != 1:
            _fail("Constant attributes")
        attr = node.attribute[0]
        if attr.name == "value" and attr.t is not None:
            self.consts[node.output[0]] = attr.t
            return [tuple(attr.t.dims)]
        if attr.name in ("value_float", "value_int"):
            return [()]
        if attr.name in ("value_floats", "value_ints"):
            return [(len(attr.floats) if attr.name == "value_floats" else len(attr.ints),)]
        _fail(f"Constant {attr.name}")

    def _op_Shape(self, node, attrs):
        shape = self._shape(node, 0)
        start, end = self._shape_range(len(shape), attrs) if self.opset >= 15 else (0, len(shape))
        return [(max(end - start, 0),)]

    def _op_Size(self, node, attrs):
        self._shape(node, 0)
        return [()]

    def _op_Flatten(self, node, attrs):
        shape = self._shape(node, 0)
        axis = attrs.get("axis", 1)
        if not -len(shape) <= axis <= len(shape) or (axis < 0 and self.opset < 11):
            _fail("Flatten axis")
        axis = axis + len(shape) if axis < 0 else axis
        return [(math.prod(shape[:axis]), math.prod(shape[axis:]))]

    def _op_Reshape(self, node, attrs):
        if self.opset < 5:
            _fail("Reshape-1")
        shape = self._shape(node, 0)
        target = self._shape_input(node, 1, propagated=self.opset >= 14)  # Reshape-5/13 read constants only
        allow_zero = attrs.get("allowzero", 0)
        out, unknown = [], None
        for i, value in enumerate(target):
            if value == 0 and not allow_zero:
                if i >= len(shape):
                    _fail("Reshape: 0 past the input rank")
                out.append(shape[i])
            elif value == -1 and unknown is None:
                unknown = i
                out.append(1)
            elif value < 0:
                _fail("Reshape: bad target")
            else:
                out.append(value)
        total, known = math.prod(shape), math.prod(out)
        if unknown is not None:
            if known == 0 or total % known:
                _fail("Reshape: sizes")
            out[unknown] = total // known
        elif known != total:
            _fail("Reshape: sizes")
        return [tuple(out)]

    def _op_Transpose(self, node, attrs):
        shape = self._shape(node, 0)
        perm = attrs.get("perm", list(range(len(shape)))[::-1])
        if sorted(perm) != list(range(len(shape))):
            _fail("Transpose perm")
        return [tuple(shape[p] for p in perm)]

    def _axes(self, node, attrs, index: int, since: int) -> list[int] | None:
        """Axes from the attribute (before opset `since`) or the input `index`."""
        if self.opset < since:
            return attrs.get("axes")
        if "axes" in attrs:
            _fail("axes attribute at this opset")
        values = self._const(node, index)
        return None if values is None else [int(v) for v in values]

    def _op_Squeeze(self, node, attrs):
        shape = self._shape(node, 0)
        axes = self._axes(node, attrs, 1, 13)
        if axes is None:
            return [tuple(d for d in shape if d != 1)]
        axes = {self._axis(a, len(shape)) for a in axes}
        if any(shape[a] != 1 for a in axes):
            _fail("Squeeze of a dim that is not 1")
        return [tuple(d for i, d in enumerate(shape) if i not in axes)]

    def _op_Unsqueeze(self, node, attrs):
        shape = self._shape(node, 0)
        axes = self._axes(node, attrs, 1, 13)
        if axes is None:
            _fail("Unsqueeze without axes")
        rank = len(shape) + len(axes)
        axes = sorted(self._axis(a, rank) for a in axes)
        if len(set(axes)) != len(axes):
            _fail("Unsqueeze: repeated axes")
        out, rest = [], iter(shape)
        for i in range(rank):
            out.append(1 if i in axes else next(rest))
        return [tuple(out)]

    def _op_Concat(self, node, attrs):
        shapes = [self._shape(node, i) for i in range(len(node.input))]
        if "axis" not in attrs or any(len(s) != len(shapes[0]) for s in shapes) or not shapes[0]:
            _fail("Concat shapes")
        axis = self._axis(attrs["axis"], len(shapes[0]))
        for s in shapes:
            if any(a != b for i, (a, b) in enumerate(zip(s, shapes[0])) if i != axis):
                _fail("Concat: dims differ")
        out = list(shapes[0])
        out[axis] = sum(s[axis] for s in shapes)
        return [tuple(out)]

    def _op_Split(self, node, attrs):
        shape = self._shape(node, 0)
        axis = self._axis(attrs.get("axis", 0), len(shape))
        count = len(node.output)
        if self.opset < 13:
            split = attrs.get("split")
        else:
            split = self._const(node, 1)
            split = None if split is None else [int(v) for v in split]
        if split is None:
            if self.opset >= 18 and attrs.get("num_outputs", count) != count:
                _fail("Split num_outputs")
            if shape[axis] % count:
                _fail("Split: uneven")
            split = [shape[axis] // count] * count
        if len(split) != count or sum(split) != shape[axis] or any(s < 0 for s in split):
            _fail("Split sizes")
        return [tuple(s if i == axis else d for i, d in enumerate(shape)) for s in split]

    def _op_Slice(self, node, attrs):
        if self.opset < 10:
            _fail("Slice-1")
        shape = self._shape(node, 0)
        starts, ends = self._const(node, 1), self._const(node, 2)
        axes = self._const(node, 3)
        steps = self._const(node, 4)
        if starts is None or ends is None:
            _fail("Slice without starts/ends")
        axes = list(range(len(starts))) if axes is None else [self._axis(int(a), len(shape)) for a in axes]
        steps = [1] * len(starts) if steps is None else [int(s) for s in steps]
        if not len(starts) == len(ends) == len(axes) == len(steps) or len(set(axes)) != len(axes) or 0 in steps:
            _fail("Slice operands")
        out = list(shape)
        for start, end, axis, step in zip(starts, ends, axes, steps):
            out[axis] = len(range(*_clamped(int(start), int(end), step, shape[axis])))
        return [tuple(out)]

    def _op_Gather(self, node, attrs):
        data, indices = self._shape(node, 0), self._shape(node, 1)
        axis = self._axis(attrs.get("axis", 0), len(data))
        return [(*data[:axis], *indices, *data[axis + 1:])]

    def _op_Gemm(self, node, attrs):
        a, b = self._shape(node, 0), self._shape(node, 1)
        if len(a) != 2 or len(b) != 2:
            _fail("Gemm ranks")
        m, k = (a[1], a[0]) if attrs.get("transA", 0) else a
        k2, n = (b[1], b[0]) if attrs.get("transB", 0) else b
        if k != k2:
            _fail("Gemm inner dims")
        if len(node.input) > 2 and node.input[2]:
            broadcast(self._shape(node, 2), (m, n))
        return [(m, n)]

    def _op_MatMul(self, node, attrs):
        a, b = self._shape(node, 0), self._shape(node, 1)
        if not a or not b:
            _fail("MatMul of a scalar")
        a2 = (1, *a) if len(a) == 1 else a
        b2 = (*b, 1) if len(b) == 1 else b
        if a2[-1] != b2[-2]:
            _fail("MatMul inner dims")
        out = [*broadcast(a2[:-2], b2[:-2]), a2[-2], b2[-1]]
        if len(a) == 1:
            out.pop(-2)
        if len(b) == 1:
            out.pop(-1)
        return [tuple(out)]

    def _conv_pool(self, node, attrs, kernel, channels):
        x = self._shape(node, 0)
        rank = len(x) - 2
        if rank < 1 or len(kernel) != rank or any(k <= 0 for k in kernel):
            _fail(f"{node.op_type}: ranks")
        if attrs.get("ceil_mode", 0):
            _fail("ceil_mode")
        dilations = attrs.get("dilations", [1] * rank) if node.op_type in ("Conv", "MaxPool") else [1] * rank
        strides = attrs.get("strides", [1] * rank)
        if len(dilations) != rank or len(strides) != rank or min(dilations + strides) <= 0:
            _fail(f"{node.op_type}: strides/dilations")
        effective = [(k - 1) * d + 1 for k, d in zip(kernel, dilations)]
        pads = attrs.get("pads")
        auto = attrs.get("auto_pad", b"NOTSET")
        if pads is not None:
            if len(pads) != 2 * rank or min(pads) < 0:
                _fail("pads")
        elif auto in (b"SAME_UPPER", b"SAME_LOWER"):
            pads = [0] * (2 * rank)
            for i in range(rank):
                residual = x[2 + i] % strides[i] if strides[i] > 1 else 0
                total = max(effective[i] - (strides[i] if residual == 0 else residual), 0)
                small, big = total >> 1, total - (total >> 1)
                pads[i], pads[i + rank] = (small, big) if auto == b"SAME_UPPER" else (big, small)
        elif auto in (b"NOTSET", b"VALID"):
            pads = [0] * (2 * rank)
        else:
            _fail("auto_pad")
        out = [x[0], channels]
        for i in range(rank):
            numerator = x[2 + i] + pads[i] + pads[i + rank] - effective[i]
            if numerator < 0:
                _fail(f"{node.op_type}: window larger than its input")
            out.append(numerator // strides[i] + 1)
        return tuple(out)

    def _op_Conv(self, node, attrs):
        w = self._shape(node, 1)
        kernel = attrs.get("kernel_shape", list(w[2:]))
        x = self._shape(node, 0)
        if len(w) != len(x) or w[1] * attrs.get("group", 1) != x[1]:
            _fail("Conv: weight and input disagree")
        if len(node.input) > 2 and node.input[2] and self._shape(node, 2) != (w[0],):
            _fail("Conv bias")
        return [self._conv_pool(node, attrs, kernel, w[0])]

    def _op_MaxPool(self, node, attrs):
        if "kernel_shape" not in attrs or attrs.get("storage_order", 0):
            _fail("MaxPool attributes")
        out = self._conv_pool(node, attrs, attrs["kernel_shape"], self._shape(node, 0)[1])
        return [out, out][:len(node.output)]

    def _op_AveragePool(self, node, attrs):
        if "kernel_shape" not in attrs:
            _fail("AveragePool without kernel_shape")
        return [self._conv_pool(node, attrs, attrs["kernel_shape"], self._shape(node, 0)[1])]

    def _op_GlobalAveragePool(self, node, attrs):
        x = self._shape(node, 0)
        if len(x) < 3:
            _fail("global pool rank")
        return [(x[0], x[1], *([1] * (len(x) - 2)))]

    _op_GlobalMaxPool = _op_GlobalAveragePool

    def _recurrent(self, node, attrs, gates: int):
        x = self._shape(node, 0)
        w = self._shape(node, 1)
        direction = attrs.get("direction", b"forward")
        if direction not in (b"forward", b"reverse", b"bidirectional") or "hidden_size" not in attrs:
            _fail("recurrent attributes")
        directions = 2 if direction == b"bidirectional" else 1
        hidden = attrs["hidden_size"]
        if len(x) != 3 or w != (directions, gates * hidden, x[2]):
            _fail("recurrent shapes")
        layout = attrs.get("layout", 0) if self.opset >= 14 else 0
        steps, batch = (x[1], x[0]) if layout else (x[0], x[1])
        if layout:
            y, state = (batch, steps, directions, hidden), (batch, directions, hidden)
        else:
            y, state = (steps, directions, batch, hidden), (directions, batch, hidden)
        outputs = [y, state, state] if gates == 4 else [y, state]
        if len(node.output) > len(outputs):
            _fail("recurrent outputs")
        return outputs[:len(node.output)]

    def _op_LSTM(self, node, attrs):
        return self._recurrent(node, attrs, 4)

    def _op_GRU(self, node, attrs):
        return self._recurrent(node, attrs, 3)

    def _op_RNN(self, node, attrs):
        return self._recurrent(node, attrs, 1)

    def _op_ConstantOfShape(self, node, attrs):
        dims = self._shape_input(node, 0)
        if any(d < 0 for d in dims):
            _fail("ConstantOfShape: negative dim")
        return [tuple(dims)]

    def _op_Expand(self, node, attrs):
        if self.opset < 13:
            _fail("Expand-8")
        return [broadcast(self._shape(node, 0), tuple(self._shape_input(node, 1)))]

    def _op_Tile(self, node, attrs):
        shape = self._shape(node, 0)
        repeats = self._const(node, 1)
        if repeats is None or len(repeats) != len(shape) or any(r < 0 for r in repeats):
            _fail("Tile repeats")
        return [tuple(d * int(r) for d, r in zip(shape, repeats))]

    def _reduce(self, node, attrs):
        shape = self._shape(node, 0)
        since = 13 if node.op_type == "ReduceSum" else 18
        axes = self._axes(node, attrs, 1, since)
        if not axes:
            if attrs.get("noop_with_empty_axes", 0):
                return [shape]
            axes = list(range(len(shape)))
        axes = {self._axis(a, len(shape)) for a in axes}
        keep = attrs.get("keepdims", 1)
        return [tuple(1 if i in axes else d for i, d in enumerate(shape) if keep or i not in axes)]

    def _op_Pad(self, node, attrs):
        shape = self._shape(node, 0)
        if self.opset < 11:
            pads = attrs.get("pads")
        else:
            if len(node.input) > 3 and node.input[3]:
                _fail("Pad axes")
            pads = self._const(node, 1)
        if pads is None or len(pads) != 2 * len(shape):
            _fail("Pad pads")
        rank = len(shape)
        out = tuple(d + int(pads[i]) + int(pads[i + rank]) for i, d in enumerate(shape))
        if min(out, default=0) < 0:
            _fail("Pad: negative size")
        return [out]


def _clamped(start: int, end: int, step: int, dim: int) -> tuple[int, int, int]:
    """Slice bounds clamped as onnx does (processSliceInputs), for range() (and slice() when step > 0)."""
    if start < 0:
        start += dim
    if end < 0:
        end += dim
    if step < 0:
        start, end = min(max(start, 0), dim - 1), min(max(end, -1), dim - 1)
    else:
        start, end = min(max(start, 0), dim), min(max(end, 0), dim)
    return start, end, step


def broadcast(*shapes: tuple) -> tuple:
    rank = max((len(s) for s in shapes), default=0)
    out = []
    for i in range(rank):
        dims = {s[i - rank + len(s)] for s in shapes if i - rank + len(s) >= 0}
        if len(dims) > 1:
            dims.discard(1)
        if len(dims) > 1:
            _fail(f"shapes {shapes} do not broadcast")
        out.append(dims.pop())
    return tuple(out)


def infer(model: Model) -> dict[str, tuple[int, ...]]:
    """Shapes of every node output, as onnx infers them from the fixed inputs; Decline when unsure."""
    return Inference(model).inferred

