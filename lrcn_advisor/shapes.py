"""Shape inference: the output shapes of a layer call from its config and input shapes.

Below both the cost model and the ONNX builder. One small function per layer class
(`SHAPE_FUNCTIONS`, keyed by the canonical class of `layer_types`), the wrappers
(TimeDistributed, Bidirectional) and nested models on top, and the geometry helpers the
cost handlers share. Every function also checks the config values it reads: a bad value
raises ShapeError (an InputError: one clear line, exit 2).
"""
from __future__ import annotations

import heapq
import math
from dataclasses import replace
from typing import Callable

from .errors import InputError
from .ir import GraphSpec, LayerSpec, Shape, TensorRef
from .layer_types import canonical, layer_type
from .vocabulary import fmt_shape

ShapeFn = Callable[[dict, list[Shape]], list[Shape]]
MAX_DEPTH = 64


class ShapeError(InputError):
    pass


# ---- config values -----------------------------------------------------------

def as_tuple(value, rank: int, name: str) -> tuple[int, ...]:
    """An int or a list of `rank` positive ints (kernel_size, strides, ...) as a tuple."""
    if isinstance(value, bool):
        raise ShapeError(f"bad {name}: {value!r}")
    if isinstance(value, int):
        value = (value,) * rank
    if not isinstance(value, (list, tuple)) or len(value) != rank or not all(
            isinstance(v, int) and not isinstance(v, bool) and 0 < v < 2**20 for v in value):
        raise ShapeError(f"bad {name}: {value!r}")
    return tuple(value)


def positive(cfg: dict, key: str, default=None) -> int:
    value = cfg.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value < 2**31:
        raise ShapeError(f"bad {key}: {value!r}")
    return value


def rate(cfg: dict, key: str = "rate") -> float:
    value = cfg.get(key, 0.0)
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value <= 1:
        raise ShapeError(f"bad {key}: {value!r}")
    return float(value)


def expect_rank(shape: Shape, rank: int, what: str) -> None:
    if len(shape) != rank:
        raise ShapeError(f"{what} expects a {rank}-D input, got {fmt_shape(shape)}")


# ---- geometry ------------------------------------------------------------------

def channels_first(cfg: dict) -> bool:
    return cfg.get("data_format") == "channels_first"


def split(shape: Shape, cfg: dict) -> tuple[Shape, int | None]:
    """(spatial dims, channels) of a channels_last or channels_first tensor."""
    if channels_first(cfg):
        return shape[2:], shape[1]
    return shape[1:-1], shape[-1]


def join(batch, spatial, channels, cfg: dict) -> Shape:
    return (batch, channels, *spatial) if channels_first(cfg) else (batch, *spatial, channels)


def window_out(size: int | None, kernel: int, stride: int, dilation: int, padding: str) -> int | None:
    """Output length of a convolution or pooling window along one axis."""
    if size is None:
        return None
    if padding in ("same", "causal", "full"):
        return -(-size // stride)
    if padding != "valid":
        raise ShapeError(f"unknown padding {padding!r}")
    out = (size - dilation * (kernel - 1) - 1) // stride + 1
    if out <= 0:
        raise ShapeError(f"window {kernel} (dilation {dilation}) is larger than its input {size}")
    return out


def transposed_out(size: int | None, kernel: int, stride: int, dilation: int, padding: str,
                   extra: int | None) -> int | None:
    """Output length of a transposed convolution along one axis (Keras' deconv_output_length)."""
    if size is None:
        return None
    kernel = kernel + (kernel - 1) * (dilation - 1)
    if extra is None:
        if padding == "same":
            return size * stride
        if padding == "valid":
            return size * stride + max(kernel - stride, 0)
        raise ShapeError(f"unknown padding {padding!r}")
    pad = kernel // 2 if padding == "same" else 0
    return (size - 1) * stride + kernel - 2 * pad + extra


def conv_geometry(cfg: dict, shape: Shape, rank: int, what: str = ""
                  ) -> tuple[tuple[int | None, ...], int, tuple[int, ...]]:
    """(output spatial dims, input channels, kernel) of a rank-D convolution on `shape`."""
    expect_rank(shape, rank + 2, what or f"Conv{rank}D")
    spatial, cin = split(shape, cfg)
    if cin is None:
        raise ShapeError("convolution input has an unknown channel count")
    kernel = as_tuple(cfg.get("kernel_size"), rank, "kernel_size")
    strides = as_tuple(cfg.get("strides", 1), rank, "strides")
    dilation = as_tuple(cfg.get("dilation_rate", 1), rank, "dilation_rate")
    padding = cfg.get("padding", "valid")
    out = tuple(window_out(n, k, s, d, padding) for n, k, s, d in zip(spatial, kernel, strides, dilation))
    return out, cin, kernel


# ---- convolutions ----------------------------------------------------------------

def _conv(rank: int) -> ShapeFn:
    def shape_fn(cfg, shapes):
        out, cin, _ = conv_geometry(cfg, shapes[0], rank)
        filters = positive(cfg, "filters")
        groups = positive(cfg, "groups", 1)
        if cin % groups or filters % groups:
            raise ShapeError(f"groups={groups} does not divide {cin} input / {filters} output channels")
        return [join(shapes[0][0], out, filters, cfg)]
    return shape_fn


def _transposed(rank: int) -> ShapeFn:
    def shape_fn(cfg, shapes):
        what = f"Conv{rank}DTranspose"
        expect_rank(shapes[0], rank + 2, what)
        spatial, cin = split(shapes[0], cfg)
        if cin is None:
            raise ShapeError("transposed convolution input has an unknown channel count")
        kernel = as_tuple(cfg.get("kernel_size"), rank, "kernel_size")
        strides = as_tuple(cfg.get("strides", 1), rank, "strides")
        dilation = as_tuple(cfg.get("dilation_rate", 1), rank, "dilation_rate")
        extra = cfg.get("output_padding")
        extra = as_tuple(extra, rank, "output_padding") if extra is not None else (None,) * rank
        padding = cfg.get("padding", "valid")
        out = tuple(transposed_out(n, k, s, d, padding, e)
                    for n, k, s, d, e in zip(spatial, kernel, strides, dilation, extra))
        return [join(shapes[0][0], out, positive(cfg, "filters"), cfg)]
    return shape_fn


def _depthwise(rank: int) -> ShapeFn:
    def shape_fn(cfg, shapes):
        out, cin, _ = conv_geometry(cfg, shapes[0], rank, f"DepthwiseConv{rank}D")
        return [join(shapes[0][0], out, cin * positive(cfg, "depth_multiplier", 1), cfg)]
    return shape_fn


def _separable(rank: int) -> ShapeFn:
    def shape_fn(cfg, shapes):
        out, _, _ = conv_geometry(cfg, shapes[0], rank, f"SeparableConv{rank}D")
        positive(cfg, "depth_multiplier", 1)
        return [join(shapes[0][0], out, positive(cfg, "filters"), cfg)]
    return shape_fn


# ---- pooling -----------------------------------------------------------------------

def _pool(rank: int) -> ShapeFn:
    def shape_fn(cfg, shapes):
        shape = shapes[0]
        expect_rank(shape, rank + 2, f"Pooling{rank}D")
        spatial, channels = split(shape, cfg)
        pool = as_tuple(cfg.get("pool_size", 2), rank, "pool_size")
        strides = as_tuple(cfg.get("strides") or pool, rank, "strides")
        padding = cfg.get("padding", "valid")
        out = tuple(window_out(n, k, s, 1, padding) for n, k, s in zip(spatial, pool, strides))
        return [join(shape[0], out, channels, cfg)]
    return shape_fn


def _global_pool(rank: int) -> ShapeFn:
    def shape_fn(cfg, shapes):
        shape = shapes[0]
        expect_rank(shape, rank + 2, f"GlobalPooling{rank}D")
        spatial, channels = split(shape, cfg)
        if cfg.get("keepdims"):
            return [join(shape[0], (1,) * len(spatial), channels, cfg)]
        return [(shape[0], channels)]
    return shape_fn


# ---- identity-shaped layers --------------------------------------------------------

def identity(cfg, shapes):
    return [shapes[0]]


def _dropout(cfg, shapes):
    rate(cfg)
    return [shapes[0]]


def _prelu(cfg, shapes):
    if None in prelu_alpha_dims(cfg, shapes[0]):
        raise ShapeError("PReLU over an unknown dimension needs shared_axes for it")
    return [shapes[0]]


def prelu_alpha_dims(cfg: dict, shape: Shape) -> list[int | None]:
    """The shape of PReLU's alpha: the input's non-batch dims, 1 on each shared axis."""
    dims = list(shape[1:])
    for axis in cfg.get("shared_axes") or []:
        if isinstance(axis, int) and 1 <= axis <= len(dims):
            dims[axis - 1] = 1
    return dims


def norm_size(cfg: dict, shape: Shape, default=-1) -> int:
    """Elements a normalisation layer learns per parameter kind (the product of its axes)."""
    axis = cfg.get("axis", default)
    axes = axis if isinstance(axis, list) else [axis]
    dims = []
    for a in axes:
        if not isinstance(a, int) or isinstance(a, bool) or not -len(shape) <= a < len(shape) \
                or a % len(shape) == 0:
            raise ShapeError(f"bad normalisation axis {axis!r} for input {fmt_shape(shape)}")
        dims.append(shape[a % len(shape)])
    if None in dims:
        raise ShapeError("normalisation over an unknown dimension")
    return math.prod(dims)


def _norm(cfg, shapes):
    norm_size(cfg, shapes[0])
    return [shapes[0]]


# ---- reshaping ---------------------------------------------------------------------

def _flatten(cfg, shapes):
    rest = shapes[0][1:]
    return [(shapes[0][0], None if None in rest else math.prod(rest))]


def _reshape(cfg, shapes):
    target = cfg.get("target_shape")
    if isinstance(target, dict) and "value" in target:
        target = target["value"]
    if not isinstance(target, (list, tuple)) or not all(
            isinstance(d, int) and not isinstance(d, bool) and (d > 0 or d == -1) for d in target) \
            or list(target).count(-1) > 1:
        raise ShapeError(f"bad Reshape target_shape {target!r}")
    rest = shapes[0][1:]
    if -1 in target:
        if None in rest:
            return [(shapes[0][0], *(None if d == -1 else d for d in target))]
        known = math.prod(d for d in target if d != -1)
        if math.prod(rest) % known:
            raise ShapeError(f"cannot reshape {fmt_shape(shapes[0])} to {tuple(target)}")
        target = [math.prod(rest) // known if d == -1 else d for d in target]
    elif None not in rest and math.prod(rest) != math.prod(target):
        raise ShapeError(f"cannot reshape {fmt_shape(shapes[0])} to {tuple(target)}")
    return [(shapes[0][0], *target)]


def _permute(cfg, shapes):
    dims = cfg.get("dims")
    rest = shapes[0][1:]
    if not isinstance(dims, (list, tuple)) or sorted(dims) != list(range(1, len(rest) + 1)):
        raise ShapeError(f"bad Permute dims {dims!r} for input {fmt_shape(shapes[0])}")
    return [(shapes[0][0], *(rest[d - 1] for d in dims))]


def _repeat_vector(cfg, shapes):
    expect_rank(shapes[0], 2, "RepeatVector")
    return [(shapes[0][0], positive(cfg, "n"), shapes[0][1])]


def _resize(rank: int, mode: str) -> ShapeFn:
    key = {"pad": "padding", "crop": "cropping", "up": "size"}[mode]

    def shape_fn(cfg, shapes):
        expect_rank(shapes[0], rank + 2, f"{mode}{rank}D")
        spatial, channels = split(shapes[0], cfg)
        value = cfg.get(key, 2 if mode == "up" else 1)
        if isinstance(value, int):
            value = [value] * rank
        elif rank == 1 and mode != "up" and isinstance(value, (list, tuple)) and len(value) == 2:
            value = [value]  # ZeroPadding1D / Cropping1D: one (before, after) pair
        if not isinstance(value, (list, tuple)) or len(value) != rank:
            raise ShapeError(f"bad {key}: {value!r}")
        out = []
        for n, v in zip(spatial, value):
            before, after = (v, v) if isinstance(v, int) else tuple(v)
            if n is None:
                out.append(None)
            elif mode == "up":
                out.append(n * before)
            else:
                out.append(n + before + after if mode == "pad" else n - before - after)
        if any(d is not None and d <= 0 for d in out):
            raise ShapeError(f"{key} {value!r} removes the whole input {fmt_shape(shapes[0])}")
        return [join(shapes[0][0], out, channels, cfg)]
    return shape_fn


# ---- dense and embeddings ----------------------------------------------------------

def _dense(cfg, shapes):
    shape = shapes[0]
    if len(shape) < 2 or shape[-1] is None:
        raise ShapeError(f"Dense needs a known last dimension, got {fmt_shape(shape)}")
    return [(*shape[:-1], positive(cfg, "units"))]


def _embedding(cfg, shapes):
    positive(cfg, "input_dim")
    return [(*shapes[0], positive(cfg, "output_dim"))]


# ---- recurrent ---------------------------------------------------------------------

def _recurrent(cfg, shapes, class_name: str):
    shape = shapes[0]
    expect_rank(shape, 3, class_name)
    if shape[2] is None:
        raise ShapeError(f"{class_name} input has an unknown feature size")
    rate(cfg, "dropout")
    rate(cfg, "recurrent_dropout")
    units = positive(cfg, "units")
    out = (shape[0], shape[1], units) if cfg.get("return_sequences") else (shape[0], units)
    states = [(shape[0], units)] * layer_type(class_name).states if cfg.get("return_state") else []
    return [out, *states]


def _recurrent_fn(class_name: str) -> ShapeFn:
    return lambda cfg, shapes: _recurrent(cfg, shapes, class_name)


def _conv_lstm(rank: int) -> ShapeFn:
    def shape_fn(cfg, shapes):
        shape = shapes[0]
        expect_rank(shape, rank + 3, f"ConvLSTM{rank}D")
        out, _, _ = conv_geometry(cfg, (shape[0], *shape[2:]), rank)
        frame = join(shape[0], out, positive(cfg, "filters"), cfg)
        result = (shape[0], shape[1], *frame[1:]) if cfg.get("return_sequences") else frame
        return [result, *([frame, frame] if cfg.get("return_state") else [])]
    return shape_fn


# ---- merges and attention ----------------------------------------------------------

def _broadcast(cfg, shapes):
    if len(shapes) < 2:
        raise ShapeError("a merge layer needs at least two inputs")
    rank = max(len(s) for s in shapes)
    out = []
    for axis in range(rank):
        dims = {s[axis - rank + len(s)] for s in shapes if axis - rank + len(s) >= 0}
        known = {d for d in dims if d not in (None, 1)}
        if len(known) > 1:
            raise ShapeError(f"cannot merge shapes {', '.join(fmt_shape(s) for s in shapes)}")
        out.append(known.pop() if known else (None if None in dims else 1))
    out[0] = None
    return [tuple(out)]


def _concatenate(cfg, shapes):
    if len(shapes) < 2:
        raise ShapeError("Concatenate needs at least two inputs")
    rank = len(shapes[0])
    axis = cfg.get("axis", -1)
    if not isinstance(axis, int) or not -rank <= axis < rank or any(len(s) != rank for s in shapes):
        raise ShapeError(f"cannot concatenate {', '.join(fmt_shape(s) for s in shapes)} on axis {axis!r}")
    axis %= rank
    out = list(shapes[0])
    for other in shapes[1:]:
        for a in range(1, rank):
            if a != axis and None not in (out[a], other[a]) and out[a] != other[a]:
                raise ShapeError(f"cannot concatenate {', '.join(fmt_shape(s) for s in shapes)}")
    sizes = [s[axis] for s in shapes]
    out[axis] = None if None in sizes else sum(sizes)
    return [tuple(out)]


def _dot(cfg, shapes):
    if len(shapes) != 2:
        raise ShapeError("Dot needs two inputs")
    a, b = shapes
    axes = cfg.get("axes", -1)
    axes = [axes, axes] if isinstance(axes, int) else list(axes)
    axes = [ax % len(s) for ax, s in zip(axes, (a, b))]
    out = [d for i, d in enumerate(a) if i != axes[0]] + [d for i, d in enumerate(b) if i not in (0, axes[1])]
    return [tuple(out) if len(out) > 1 else (None, 1)]


def _attention(cfg, shapes):
    if len(shapes) < 2:
        raise ShapeError("Attention needs query and value inputs")
    query, value = shapes[0], shapes[1]
    if cfg.get("return_attention_scores"):
        return [query, (query[0], query[1], value[1])]
    return [query]


def _additive_attention(cfg, shapes):
    if len(shapes) < 2:
        raise ShapeError("AdditiveAttention needs query and value inputs")
    return [shapes[0]]


def _multi_head_attention(cfg, shapes):
    positive(cfg, "num_heads")
    positive(cfg, "key_dim")
    return [shapes[0]]


# ---- opaque code ---------------------------------------------------------------------

def declared_output(cfg: dict) -> list | None:
    """A Lambda's output_shape as the file declares it (without the batch axis), if usable."""
    declared = cfg.get("output_shape")
    if isinstance(declared, list) and declared and all(isinstance(d, int) or d is None for d in declared):
        return declared
    return None


def _lambda(cfg, shapes):
    declared = declared_output(cfg)
    return [(shapes[0][0], *declared)] if declared is not None else [shapes[0]]


# ---- the table ---------------------------------------------------------------------------

SHAPE_FUNCTIONS: dict[str, ShapeFn] = {
    "InputLayer": identity,
    **{f"Conv{r}D": _conv(r) for r in (1, 2, 3)},
    **{f"Conv{r}DTranspose": _transposed(r) for r in (1, 2, 3)},
    **{f"DepthwiseConv{r}D": _depthwise(r) for r in (1, 2)},
    **{f"SeparableConv{r}D": _separable(r) for r in (1, 2)},
    **{f"{kind}Pooling{r}D": _pool(r) for r in (1, 2, 3) for kind in ("Max", "Average")},
    **{f"Global{kind}Pooling{r}D": _global_pool(r) for r in (1, 2, 3) for kind in ("Max", "Average")},
    **dict.fromkeys(("Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D",
                     "GaussianDropout", "AlphaDropout"), _dropout),
    **dict.fromkeys(("GaussianNoise", "ActivityRegularization", "Activation", "ReLU", "LeakyReLU", "ELU",
                     "Softmax", "ThresholdedReLU", "Masking", "UnitNormalization"), identity),
    "PReLU": _prelu,
    **dict.fromkeys(("BatchNormalization", "LayerNormalization", "GroupNormalization"), _norm),
    "Flatten": _flatten,
    "Reshape": _reshape,
    "Permute": _permute,
    "RepeatVector": _repeat_vector,
    **{f"ZeroPadding{r}D": _resize(r, "pad") for r in (1, 2, 3)},
    **{f"Cropping{r}D": _resize(r, "crop") for r in (1, 2, 3)},
    **{f"UpSampling{r}D": _resize(r, "up") for r in (1, 2, 3)},
    "Dense": _dense,
    "Embedding": _embedding,
    **{name: _recurrent_fn(name) for name in ("LSTM", "GRU", "SimpleRNN")},
    **{f"ConvLSTM{r}D": _conv_lstm(r) for r in (1, 2, 3)},
    **dict.fromkeys(("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"), _broadcast),
    "Concatenate": _concatenate,
    "Dot": _dot,
    "Attention": _attention,
    "AdditiveAttention": _additive_attention,
    "MultiHeadAttention": _multi_head_attention,
    **dict.fromkeys(("Lambda", "TFOpLambda", "SlicingOpLambda"), _lambda),
}


def leaf_output_shapes(class_name: str, config: dict, shapes: list[Shape]) -> list[Shape]:
    """Output shapes of one call of a plain (unwrapped) layer; an unknown class passes its first
    input through unchanged (the analysis marks it unknown)."""
    shape_fn = SHAPE_FUNCTIONS.get(canonical(class_name))
    return shape_fn(config, shapes) if shape_fn is not None else [shapes[0]]


# ---- wrappers ----------------------------------------------------------------------------

def time_distributed_frames(shapes: list[Shape]) -> list[Shape]:
    """TimeDistributed: the per-frame input shapes (the time axis taken out)."""
    for shape in shapes:
        if len(shape) < 3:
            raise ShapeError(f"TimeDistributed needs a time axis, got {fmt_shape(shape)}")
    return [(s[0], *s[2:]) for s in shapes]


def time_distributed_outputs(steps: int | None, frame_outputs: list[Shape]) -> list[Shape]:
    """TimeDistributed: the per-frame output shapes with the time axis put back."""
    return [(s[0], steps, *s[1:]) for s in frame_outputs]


def bidirectional_outputs(merge_mode, forward: list[Shape], backward: list[Shape]) -> list[Shape]:
    """Bidirectional: the merged output, then the forward and backward states."""
    first_f, first_b = forward[0], backward[0]
    states = forward[1:] + backward[1:]
    if merge_mode == "concat":
        merged = [(*first_f[:-1], first_f[-1] + first_b[-1])]
    elif merge_mode in ("sum", "mul", "ave"):
        merged = [first_f]
    elif merge_mode is None:
        merged = [first_f, first_b]
    else:
        raise ShapeError(f"unknown merge_mode {merge_mode!r}")
    return merged + states


def nested_graph(graph: GraphSpec, shapes: list[Shape]) -> GraphSpec:
    """A nested model with its inputs set to the shapes it is called with."""
    if len(shapes) != len(graph.inputs):
        raise ShapeError(f"nested model {graph.name!r} takes {len(graph.inputs)} inputs, got {len(shapes)}")
    return replace(graph, input_shapes={ref.layer: s for ref, s in zip(graph.inputs, shapes)})


def output_shapes(spec: LayerSpec, shapes: list[Shape], depth: int = 0) -> list[Shape]:
    """Output shapes of one call of `spec`, wrappers and nested models included."""
    if depth > MAX_DEPTH:
        raise InputError("layers nested too deeply")
    if spec.graph is not None:
        return graph_output_shapes(nested_graph(spec.graph, shapes), depth + 1)
    if spec.class_name == "TimeDistributed" and spec.wrapped is not None:
        inner = output_shapes(spec.wrapped, time_distributed_frames(shapes), depth + 1)
        return time_distributed_outputs(shapes[0][1], inner)
    if spec.class_name == "Bidirectional" and spec.wrapped is not None:
        forward = output_shapes(spec.wrapped, shapes, depth + 1)
        backward = output_shapes(spec.backward or spec.wrapped, shapes, depth + 1)
        return bidirectional_outputs(spec.config.get("merge_mode", "concat"), forward, backward)
    return leaf_output_shapes(spec.class_name, spec.config, shapes)


# ---- graphs --------------------------------------------------------------------------------

def initial_tensors(graph: GraphSpec) -> dict[tuple[str, int], list[Shape]]:
    """The graph's input tensors: (layer, call) -> output shapes."""
    tensors = {(ref.layer, ref.node): [graph.input_shapes[ref.layer]] for ref in graph.inputs}
    for name, shape in graph.input_shapes.items():
        tensors.setdefault((name, 0), [shape])
    return tensors


def call_order(graph: GraphSpec, tensors: dict) -> list[tuple[int, int]]:
    """Topological order of (layer index, call index), file order among equals."""
    index_of = {spec.name: i for i, spec in enumerate(graph.layers)}
    waiting: dict[tuple[int, int], int] = {}
    users: dict[tuple[int, int], list[tuple[int, int]]] = {}
    ready: list[tuple[int, int]] = []
    for i, spec in enumerate(graph.layers):
        for c, refs in enumerate(spec.calls):
            deps = set()
            for ref in refs:
                if (ref.layer, ref.node) in tensors:
                    continue
                if ref.layer not in index_of:
                    raise InputError(f"layer {spec.name!r} takes input from {ref.layer!r}, "
                                     "which is not in the model")
                producer = index_of[ref.layer]
                if ref.node >= len(graph.layers[producer].calls):
                    raise InputError(f"layer {spec.name!r} uses call {ref.node} of {ref.layer!r}, "
                                     "which does not exist")
                deps.add((producer, ref.node))
            waiting[(i, c)] = len(deps)
            for dep in deps:
                users.setdefault(dep, []).append((i, c))
            if not deps:
                heapq.heappush(ready, (i, c))
    order = []
    while ready:
        node = heapq.heappop(ready)
        order.append(node)
        for user in users.get(node, []):
            waiting[user] -= 1
            if waiting[user] == 0:
                heapq.heappush(ready, user)
    if len(order) != len(waiting):
        stuck = sorted({graph.layers[i].name for (i, _), n in waiting.items() if n > 0})
        raise InputError(f"the layer graph has a cycle through {', '.join(map(repr, stuck[:5]))}")
    return order


def tensor_shape(tensors: dict, ref: TensorRef, user: str) -> Shape:
    outputs = tensors.get((ref.layer, ref.node))
    if outputs is None or ref.tensor >= len(outputs):
        raise InputError(f"{user} uses output {ref.tensor} of {ref.layer!r}, which does not exist")
    return outputs[ref.tensor]


def graph_output_shapes(graph: GraphSpec, depth: int = 0) -> list[Shape]:
    """The output shapes of a whole graph (every layer call in dependency order)."""
    tensors = initial_tensors(graph)
    for index, call in call_order(graph, tensors):
        spec = graph.layers[index]
        shapes = [tensor_shape(tensors, ref, spec.name) for ref in spec.calls[call]]
        if not shapes:
            raise InputError(f"layer {spec.name!r} is called with no inputs")
        try:
            tensors[(spec.name, call)] = output_shapes(spec, shapes, depth)
        except ShapeError as error:
            raise InputError(f"layer {spec.name!r} ({spec.class_name}): {error}") from None
    return [tensor_shape(tensors, ref, "model output") for ref in graph.outputs]
