"""Per-layer shape inference, parameters and MACs: one small handler per class.

Handlers follow ../shared/cost-model.md (docs/cost-model.md): parameters as
Keras' count_params(), MACs as fused multiply-adds; bias, activation,
pooling, dropout, normalisation and other elementwise work count 0.
Wrappers (TimeDistributed, Bidirectional) and nested models are handled by
`analyze`, which calls these handlers for the leaf layers.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

from .errors import InputError
from .ir import Shape
from .vocabulary import DEFAULT_FRAMES, fmt_shape



@dataclass
class Cost:
    output_shapes: list[Shape]
    params: int = 0
    non_trainable: int = 0
    macs: int = 0
    status: str = "ok"  # ok | unknown | opaque
    note: str = ""
    children: list = field(default_factory=list)  # LayerInfo of a nested model
    params_delta: int = 0  # the file's own count minus the Keras convention


@dataclass
class Context:
    """Per-analysis state: the time length used where a dimension is None."""

    frames: int = DEFAULT_FRAMES
    assumed_dims: int = 0  # how many times an unknown dimension was replaced by `frames`
    carried_deltas: dict[str, int] | None = None  # on a recount: the exporter differences to keep

    def dim(self, value: int | None) -> int:
        if value is None:
            self.assumed_dims += 1
            return self.frames
        return value

    def volume(self, dims) -> int:
        return math.prod(self.dim(d) for d in dims)


Handler = Callable[[dict, list, Context], Cost]
HANDLERS: dict[str, tuple[str, Handler]] = {}
KINDS = ("input", "conv", "pool", "dropout", "norm", "activation", "reshape", "dense",
         "recurrent", "merge", "attention", "masking", "embedding", "backbone", "opaque", "unknown")


def handles(*class_names: str, kind: str):
    def register(fn: Handler) -> Handler:
        for name in class_names:
            HANDLERS[name] = (kind, fn)
        return fn
    return register


def kind_of(class_name: str) -> str:
    entry = HANDLERS.get(class_name)
    return entry[0] if entry else "unknown"


class ShapeError(InputError):
    pass


# ---- small helpers -------------------------------------------------------

def _tuple(value, rank: int, name: str) -> tuple:
    if isinstance(value, bool):
        raise ShapeError(f"bad {name}: {value!r}")
    if isinstance(value, int):
        value = (value,) * rank
    if not isinstance(value, (list, tuple)) or len(value) != rank or not all(
            isinstance(v, int) and not isinstance(v, bool) and 0 < v < 2**20 for v in value):
        raise ShapeError(f"bad {name}: {value!r}")
    return tuple(value)


def _positive(cfg: dict, key: str, default=None) -> int:
    value = cfg.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value < 2**31:
        raise ShapeError(f"bad {key}: {value!r}")
    return value


def _rate(cfg: dict, key: str = "rate") -> float:
    value = cfg.get(key, 0.0)
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value <= 1:
        raise ShapeError(f"bad {key}: {value!r}")
    return float(value)


def _rank_of(shape: Shape, rank: int, what: str) -> None:
    if len(shape) != rank:
        raise ShapeError(f"{what} expects a {rank}-D input, got {fmt_shape(shape)}")



def _channels_first(cfg: dict) -> bool:
    return cfg.get("data_format") == "channels_first"


def _split(shape: Shape, cfg: dict):
    """(spatial dims, channels) of a channels_last or channels_first tensor."""
    if _channels_first(cfg):
        return shape[2:], shape[1]
    return shape[1:-1], shape[-1]


def _join(batch, spatial, channels, cfg: dict) -> Shape:
    return (batch, channels, *spatial) if _channels_first(cfg) else (batch, *spatial, channels)


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


def _bias(cfg: dict, count: int) -> int:
    return count if cfg.get("use_bias", True) else 0


# ---- convolutions --------------------------------------------------------

def _conv_geometry(cfg: dict, shape: Shape, rank: int):
    _rank_of(shape, rank + 2, f"Conv{rank}D")
    spatial, cin = _split(shape, cfg)
    if cin is None:
        raise ShapeError("convolution input has an unknown channel count")
    kernel = _tuple(cfg.get("kernel_size"), rank, "kernel_size")
    strides = _tuple(cfg.get("strides", 1), rank, "strides")
    dilation = _tuple(cfg.get("dilation_rate", 1), rank, "dilation_rate")
    padding = cfg.get("padding", "valid")
    out = tuple(window_out(n, k, s, d, padding) for n, k, s, d in zip(spatial, kernel, strides, dilation))
    return out, cin, kernel


def _conv(rank: int) -> Handler:
    def handler(cfg, shapes, ctx):
        out, cin, kernel = _conv_geometry(cfg, shapes[0], rank)
        filters = _positive(cfg, "filters")
        groups = _positive(cfg, "groups", 1)
        if cin % groups or filters % groups:
            raise ShapeError(f"groups={groups} does not divide {cin} input / {filters} output channels")
        per_output = math.prod(kernel) * cin // groups
        return Cost([_join(shapes[0][0], out, filters, cfg)],
                    params=per_output * filters + _bias(cfg, filters),
                    macs=ctx.volume(out) * filters * per_output)
    return handler


handles("Conv1D", "Convolution1D", kind="conv")(_conv(1))
handles("Conv2D", "Convolution2D", kind="conv")(_conv(2))
handles("Conv3D", "Convolution3D", kind="conv")(_conv(3))


def _depthwise(rank: int) -> Handler:
    def handler(cfg, shapes, ctx):
        out, cin, kernel = _conv_geometry(cfg, shapes[0], rank)
        channels = cin * _positive(cfg, "depth_multiplier", 1)
        return Cost([_join(shapes[0][0], out, channels, cfg)],
                    params=math.prod(kernel) * channels + _bias(cfg, channels),
                    macs=ctx.volume(out) * channels * math.prod(kernel))
    return handler


handles("DepthwiseConv1D", kind="conv")(_depthwise(1))
handles("DepthwiseConv2D", kind="conv")(_depthwise(2))


def _separable(rank: int) -> Handler:
    def handler(cfg, shapes, ctx):
        out, cin, kernel = _conv_geometry(cfg, shapes[0], rank)
        middle = cin * _positive(cfg, "depth_multiplier", 1)
        filters = _positive(cfg, "filters")
        positions = ctx.volume(out)
        return Cost([_join(shapes[0][0], out, filters, cfg)],
                    params=math.prod(kernel) * middle + middle * filters + _bias(cfg, filters),
                    macs=positions * middle * math.prod(kernel) + positions * middle * filters)
    return handler


handles("SeparableConv1D", "SeparableConvolution1D", kind="conv")(_separable(1))
handles("SeparableConv2D", "SeparableConvolution2D", kind="conv")(_separable(2))


def _transposed_length(n: int | None, k: int, s: int, d: int, padding: str, extra) -> int | None:
    """Keras' deconv_output_length: the output size of a transposed convolution."""
    if n is None:
        return None
    k = k + (k - 1) * (d - 1)
    if extra is None:
        if padding == "same":
            return n * s
        if padding == "valid":
            return n * s + max(k - s, 0)
        raise ShapeError(f"unknown padding {padding!r}")
    pad = k // 2 if padding == "same" else 0
    return (n - 1) * s + k - 2 * pad + extra


def _transposed(rank: int) -> Handler:
    """ConvNDTranspose: each input position spreads kernel volume x C_in x C_out products."""
    def handler(cfg, shapes, ctx):
        _rank_of(shapes[0], rank + 2, f"Conv{rank}DTranspose")
        spatial, cin = _split(shapes[0], cfg)
        if cin is None:
            raise ShapeError("transposed convolution input has an unknown channel count")
        kernel = _tuple(cfg.get("kernel_size"), rank, "kernel_size")
        strides = _tuple(cfg.get("strides", 1), rank, "strides")
        dilation = _tuple(cfg.get("dilation_rate", 1), rank, "dilation_rate")
        extra = cfg.get("output_padding")
        extra = _tuple(extra, rank, "output_padding") if extra is not None else (None,) * rank
        padding = cfg.get("padding", "valid")
        out = tuple(_transposed_length(n, k, s, d, padding, e)
                    for n, k, s, d, e in zip(spatial, kernel, strides, dilation, extra))
        filters = _positive(cfg, "filters")
        per_input = math.prod(kernel) * cin * filters
        return Cost([_join(shapes[0][0], out, filters, cfg)], params=per_input + _bias(cfg, filters),
                    macs=ctx.volume(spatial) * per_input)
    return handler


for _rank in (1, 2, 3):
    handles(f"Conv{_rank}DTranspose", f"Convolution{_rank}DTranspose", kind="conv")(_transposed(_rank))


# ---- pooling -------------------------------------------------------------

def _pool(rank: int) -> Handler:
    def handler(cfg, shapes, ctx):
        shape = shapes[0]
        _rank_of(shape, rank + 2, f"Pooling{rank}D")
        spatial, channels = _split(shape, cfg)
        pool = _tuple(cfg.get("pool_size", 2), rank, "pool_size")
        strides = _tuple(cfg.get("strides") or pool, rank, "strides")
        padding = cfg.get("padding", "valid")
        out = tuple(window_out(n, k, s, 1, padding) for n, k, s in zip(spatial, pool, strides))
        return Cost([_join(shape[0], out, channels, cfg)])
    return handler


for _rank in (1, 2, 3):
    handles(f"MaxPooling{_rank}D", f"MaxPool{_rank}D", f"AveragePooling{_rank}D",
            f"AvgPool{_rank}D", kind="pool")(_pool(_rank))


def _global_pool(rank: int) -> Handler:
    def handler(cfg, shapes, ctx):
        shape = shapes[0]
        _rank_of(shape, rank + 2, f"GlobalPooling{rank}D")
        spatial, channels = _split(shape, cfg)
        if cfg.get("keepdims"):
            return Cost([_join(shape[0], (1,) * len(spatial), channels, cfg)])
        return Cost([(shape[0], channels)])
    return handler


for _rank in (1, 2, 3):
    handles(f"GlobalMaxPooling{_rank}D", f"GlobalMaxPool{_rank}D", f"GlobalAveragePooling{_rank}D",
            f"GlobalAvgPool{_rank}D", kind="pool")(_global_pool(_rank))


# ---- identity-shaped layers ----------------------------------------------

def _identity(cfg, shapes, ctx):
    return Cost([shapes[0]])


def _dropout(cfg, shapes, ctx):
    _rate(cfg)
    return Cost([shapes[0]])


handles("Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianDropout",
        "AlphaDropout", kind="dropout")(_dropout)
handles("GaussianNoise", "ActivityRegularization", kind="dropout")(_identity)
handles("Activation", "ReLU", "LeakyReLU", "ELU", "Softmax", "ThresholdedReLU", kind="activation")(_identity)
handles("Masking", kind="masking")(_identity)


@handles("PReLU", kind="activation")
def _prelu(cfg, shapes, ctx):
    dims = list(shapes[0][1:])
    for axis in cfg.get("shared_axes") or []:
        if isinstance(axis, int) and 1 <= axis <= len(dims):
            dims[axis - 1] = 1
    if None in dims:
        raise ShapeError("PReLU over an unknown dimension needs shared_axes for it")
    return Cost([shapes[0]], params=math.prod(dims))


def _axes(cfg: dict, shape: Shape, default) -> list[int]:
    axis = cfg.get("axis", default)
    axes = axis if isinstance(axis, list) else [axis]
    result = []
    for a in axes:
        if not isinstance(a, int) or isinstance(a, bool) or not -len(shape) <= a < len(shape) or a % len(shape) == 0:
            raise ShapeError(f"bad normalisation axis {axis!r} for input {fmt_shape(shape)}")
        result.append(a % len(shape))
    return result


def _norm_size(cfg, shape, default) -> int:
    dims = [shape[a] for a in _axes(cfg, shape, default)]
    if None in dims:
        raise ShapeError("normalisation over an unknown dimension")
    return math.prod(dims)


@handles("BatchNormalization", kind="norm")
def _batch_norm(cfg, shapes, ctx):
    size = _norm_size(cfg, shapes[0], -1)
    learned = int(bool(cfg.get("center", True))) + int(bool(cfg.get("scale", True)))
    return Cost([shapes[0]], params=size * (learned + 2), non_trainable=2 * size)


@handles("LayerNormalization", kind="norm")
def _layer_norm(cfg, shapes, ctx):
    size = _norm_size(cfg, shapes[0], -1)
    if cfg.get("rms_scaling"):
        learned = 1
    else:
        learned = int(bool(cfg.get("center", True))) + int(bool(cfg.get("scale", True)))
    return Cost([shapes[0]], params=size * learned)


@handles("GroupNormalization", kind="norm")
def _group_norm(cfg, shapes, ctx):
    size = _norm_size(cfg, shapes[0], -1)
    learned = int(bool(cfg.get("center", True))) + int(bool(cfg.get("scale", True)))
    return Cost([shapes[0]], params=size * learned)


handles("UnitNormalization", kind="norm")(_identity)


# ---- reshaping -----------------------------------------------------------

@handles("Flatten", kind="reshape")
def _flatten(cfg, shapes, ctx):
    rest = shapes[0][1:]
    return Cost([(shapes[0][0], None if None in rest else math.prod(rest))])


@handles("Reshape", kind="reshape")
def _reshape(cfg, shapes, ctx):
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
            return Cost([(shapes[0][0], *(None if d == -1 else d for d in target))])
        known = math.prod(d for d in target if d != -1)
        if math.prod(rest) % known:
            raise ShapeError(f"cannot reshape {fmt_shape(shapes[0])} to {tuple(target)}")
        target = [math.prod(rest) // known if d == -1 else d for d in target]
    elif None not in rest and math.prod(rest) != math.prod(target):
        raise ShapeError(f"cannot reshape {fmt_shape(shapes[0])} to {tuple(target)}")
    return Cost([(shapes[0][0], *target)])


@handles("Permute", kind="reshape")
def _permute(cfg, shapes, ctx):
    dims = cfg.get("dims")
    rest = shapes[0][1:]
    if not isinstance(dims, (list, tuple)) or sorted(dims) != list(range(1, len(rest) + 1)):
        raise ShapeError(f"bad Permute dims {dims!r} for input {fmt_shape(shapes[0])}")
    return Cost([(shapes[0][0], *(rest[d - 1] for d in dims))])


@handles("RepeatVector", kind="reshape")
def _repeat_vector(cfg, shapes, ctx):
    _rank_of(shapes[0], 2, "RepeatVector")
    return Cost([(shapes[0][0], _positive(cfg, "n"), shapes[0][1])])


def _resize(rank: int, mode: str) -> Handler:
    def handler(cfg, shapes, ctx):
        _rank_of(shapes[0], rank + 2, f"{mode}{rank}D")
        spatial, channels = _split(shapes[0], cfg)
        key = {"pad": "padding", "crop": "cropping", "up": "size"}[mode]
        value = cfg.get(key, 2 if mode == "up" else 1)
        if isinstance(value, int):
            value = [value] * rank
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
        return Cost([_join(shapes[0][0], out, channels, cfg)])
    return handler


for _rank in (1, 2, 3):
    handles(f"ZeroPadding{_rank}D", kind="reshape")(_resize(_rank, "pad"))
    handles(f"Cropping{_rank}D", kind="reshape")(_resize(_rank, "crop"))
    handles(f"UpSampling{_rank}D", kind="reshape")(_resize(_rank, "up"))


# ---- dense and embeddings ------------------------------------------------

@handles("Dense", kind="dense")
def _dense(cfg, shapes, ctx):
    shape = shapes[0]
    if len(shape) < 2 or shape[-1] is None:
        raise ShapeError(f"Dense needs a known last dimension, got {fmt_shape(shape)}")
    units = _positive(cfg, "units")
    return Cost([(*shape[:-1], units)], params=shape[-1] * units + _bias(cfg, units),
                macs=ctx.volume(shape[1:-1]) * shape[-1] * units)


@handles("Embedding", kind="embedding")
def _embedding(cfg, shapes, ctx):
    size = _positive(cfg, "input_dim") * _positive(cfg, "output_dim")
    return Cost([(*shapes[0], cfg["output_dim"])], params=size)


# ---- recurrent -----------------------------------------------------------

RECURRENT_GATES = {"LSTM": 4, "GRU": 3, "SimpleRNN": 1}
RECURRENT_STATES = {"LSTM": 2, "GRU": 1, "SimpleRNN": 1}


def _recurrent(class_name: str) -> Handler:
    gates = RECURRENT_GATES[class_name]

    def handler(cfg, shapes, ctx):
        shape = shapes[0]
        _rank_of(shape, 3, class_name)
        steps, features = shape[1], shape[2]
        if features is None:
            raise ShapeError(f"{class_name} input has an unknown feature size")
        _rate(cfg, "dropout"), _rate(cfg, "recurrent_dropout")
        units = _positive(cfg, "units")
        params = gates * units * (features + units)
        if cfg.get("use_bias", True):
            double_bias = class_name == "GRU" and cfg.get("reset_after", True)
            params += gates * units * (2 if double_bias else 1)
        out = (shape[0], steps, units) if cfg.get("return_sequences") else (shape[0], units)
        states = [(shape[0], units)] * RECURRENT_STATES[class_name] if cfg.get("return_state") else []
        return Cost([out, *states], params=params,
                    macs=ctx.dim(steps) * gates * units * (features + units))
    return handler


for _name in RECURRENT_GATES:
    handles(_name, kind="recurrent")(_recurrent(_name))
handles("CuDNNLSTM", kind="recurrent")(_recurrent("LSTM"))
handles("CuDNNGRU", kind="recurrent")(_recurrent("GRU"))


def _conv_lstm(rank: int) -> Handler:
    def handler(cfg, shapes, ctx):
        shape = shapes[0]
        _rank_of(shape, rank + 3, f"ConvLSTM{rank}D")
        steps = shape[1]
        out, cin, kernel = _conv_geometry(cfg, (shape[0], *shape[2:]), rank)
        filters = _positive(cfg, "filters")
        area = math.prod(kernel)
        params = area * cin * 4 * filters + area * filters * 4 * filters + _bias(cfg, 4 * filters)
        frame = _join(shape[0], out, filters, cfg)
        result = (shape[0], steps, *frame[1:]) if cfg.get("return_sequences") else frame
        states = [frame, frame] if cfg.get("return_state") else []
        return Cost([result, *states], params=params,
                    macs=ctx.dim(steps) * ctx.volume(out) * 4 * filters * area * (cin + filters))
    return handler


for _rank in (1, 2, 3):
    handles(f"ConvLSTM{_rank}D", kind="recurrent")(_conv_lstm(_rank))


# ---- merges and attention --------------------------------------------------

def _broadcast(shapes: list[Shape]) -> Shape:
    rank = max(len(s) for s in shapes)
    out = []
    for axis in range(rank):
        dims = {s[axis - rank + len(s)] for s in shapes if axis - rank + len(s) >= 0}
        known = {d for d in dims if d not in (None, 1)}
        if len(known) > 1:
            raise ShapeError(f"cannot merge shapes {', '.join(fmt_shape(s) for s in shapes)}")
        out.append(known.pop() if known else (None if None in dims else 1))
    out[0] = None
    return tuple(out)


@handles("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", kind="merge")
def _elementwise_merge(cfg, shapes, ctx):
    if len(shapes) < 2:
        raise ShapeError("a merge layer needs at least two inputs")
    return Cost([_broadcast(shapes)])


@handles("Concatenate", kind="merge")
def _concatenate(cfg, shapes, ctx):
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
    return Cost([tuple(out)])


@handles("Dot", kind="merge")
def _dot(cfg, shapes, ctx):
    if len(shapes) != 2:
        raise ShapeError("Dot needs two inputs")
    a, b = shapes
    axes = cfg.get("axes", -1)
    axes = [axes, axes] if isinstance(axes, int) else list(axes)
    axes = [ax % len(s) for ax, s in zip(axes, (a, b))]
    out = [d for i, d in enumerate(a) if i != axes[0]] + [d for i, d in enumerate(b) if i not in (0, axes[1])]
    return Cost([tuple(out) if len(out) > 1 else (None, 1)])


@handles("Attention", kind="attention")
def _attention(cfg, shapes, ctx):
    if len(shapes) < 2:
        raise ShapeError("Attention needs query and value inputs")
    query, value = shapes[0], shapes[1]
    params = int(bool(cfg.get("use_scale"))) + int(cfg.get("score_mode") == "concat")
    outputs = [query]
    if cfg.get("return_attention_scores"):
        outputs.append((query[0], query[1], value[1]))
    return Cost(outputs, params=params)


@handles("AdditiveAttention", kind="attention")
def _additive_attention(cfg, shapes, ctx):
    if len(shapes) < 2:
        raise ShapeError("AdditiveAttention needs query and value inputs")
    return Cost([shapes[0]], params=shapes[0][-1] if cfg.get("use_scale", True) else 0)


@handles("MultiHeadAttention", kind="attention")
def _multi_head_attention(cfg, shapes, ctx):
    query = shapes[0]
    value = shapes[1] if len(shapes) > 1 else query
    key = shapes[2] if len(shapes) > 2 else value
    heads, key_dim = _positive(cfg, "num_heads"), _positive(cfg, "key_dim")
    value_dim = cfg.get("value_dim") or key_dim
    out_dim = query[-1]
    bias = 1 if cfg.get("use_bias", True) else 0
    params = (query[-1] + bias) * heads * key_dim + (key[-1] + bias) * heads * key_dim \
        + (value[-1] + bias) * heads * value_dim + heads * value_dim * out_dim + bias * out_dim
    return Cost([query], params=params, note="attention MACs count 0 (cost model: everything else)")


# ---- opaque code ---------------------------------------------------------

@handles("Lambda", "TFOpLambda", "SlicingOpLambda", kind="opaque")
def _lambda(cfg, shapes, ctx):
    declared = cfg.get("output_shape")
    if isinstance(declared, list) and declared and all(isinstance(d, int) or d is None for d in declared):
        return Cost([(shapes[0][0], *declared)], status="opaque",
                    note="code not executed; output shape as declared in the file")
    return Cost([shapes[0]], status="opaque",
                note="code not executed; output shape assumed equal to its input")


def unknown_cost(class_name: str, shapes: list[Shape]) -> Cost:
    return Cost([shapes[0]], status="unknown",
                note=f"unknown layer class {class_name!r}: params and MACs count 0 and its output "
                     "shape is assumed equal to its input")
