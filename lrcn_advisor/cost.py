"""Parameters and MACs of one layer call: an explicit table of cost handlers.

The convention is docs/cost-model.md: parameters as Keras' count_params(), MACs as fused
multiply-adds; bias, activation, pooling, dropout, normalisation and other elementwise work
count 0 MACs. As in fvcore's jit_handles, each handler is one small pure function,

    handler(config, input_shapes, output_shapes, ctx) -> LayerCost

listed in DEFAULT_COST_HANDLERS under the canonical class (layer_types); a class of the
layer-type table without a handler costs 0 parameters and 0 MACs. A run can swap or add
handlers without touching the defaults:

    model = CostModel().with_handler("Dense", my_dense)   # a new table
    analyse(loaded, cost_model=model)

Shapes come from `shapes` (already checked there); wrappers and nested models are summed
by `analyze`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Callable, Mapping

from .ir import Shape
from .layer_types import canonical
from .shapes import as_tuple, norm_size, prelu_alpha_dims, split
from .vocabulary import DEFAULT_FRAMES


@dataclass(frozen=True)
class LayerCost:
    """What one call of a leaf layer costs."""

    params: int = 0
    non_trainable: int = 0  # of `params`
    macs: int = 0
    note: str = ""


ZERO = LayerCost()
CostHandler = Callable[[dict, list[Shape], list[Shape], "Context"], LayerCost]


@dataclass
class Context:
    """Per-analysis state: the time length used where a dimension is None, the cost table."""

    frames: int = DEFAULT_FRAMES
    assumed_dims: int = 0  # how many times an unknown dimension was replaced by `frames`
    carried_deltas: dict[str, int] | None = None  # on a recount: the exporter differences to keep
    cost_model: CostModel = field(default_factory=lambda: DEFAULT_COST_MODEL)

    def dim(self, value: int | None) -> int:
        if value is None:
            self.assumed_dims += 1
            return self.frames
        return value

    def volume(self, dims) -> int:
        return math.prod(self.dim(d) for d in dims)


def _bias(cfg: dict, count: int) -> int:
    return count if cfg.get("use_bias", True) else 0


def _kernel(cfg: dict, rank: int) -> int:
    """The kernel volume (kernel_size may be one int for every axis)."""
    return math.prod(as_tuple(cfg.get("kernel_size"), rank, "kernel_size"))


# ---- convolutions --------------------------------------------------------------

def conv_cost(cfg, inputs, outputs, ctx) -> LayerCost:
    """ConvND: output elements x kernel volume x C_in / groups."""
    cin, (spatial, filters) = split(inputs[0], cfg)[1], split(outputs[0], cfg)
    per_output = _kernel(cfg, len(spatial)) * cin // cfg.get("groups", 1)
    return LayerCost(params=per_output * filters + _bias(cfg, filters),
                     macs=ctx.volume(spatial) * filters * per_output)


def transposed_conv_cost(cfg, inputs, outputs, ctx) -> LayerCost:
    """ConvNDTranspose: each input position spreads kernel volume x C_in x C_out products."""
    spatial, cin = split(inputs[0], cfg)
    filters = split(outputs[0], cfg)[1]
    per_input = _kernel(cfg, len(spatial)) * cin * filters
    return LayerCost(params=per_input + _bias(cfg, filters), macs=ctx.volume(spatial) * per_input)


def depthwise_cost(cfg, inputs, outputs, ctx) -> LayerCost:
    """DepthwiseConvND: output elements x kernel area."""
    spatial, channels = split(outputs[0], cfg)
    kernel = _kernel(cfg, len(spatial))
    return LayerCost(params=kernel * channels + _bias(cfg, channels),
                     macs=ctx.volume(spatial) * channels * kernel)


def separable_cost(cfg, inputs, outputs, ctx) -> LayerCost:
    """SeparableConvND: the depthwise part + output positions x C_in*depth_multiplier x C_out."""
    middle = split(inputs[0], cfg)[1] * cfg.get("depth_multiplier", 1)
    spatial, filters = split(outputs[0], cfg)
    positions, kernel = ctx.volume(spatial), _kernel(cfg, len(spatial))
    return LayerCost(params=kernel * middle + middle * filters + _bias(cfg, filters),
                     macs=positions * middle * kernel + positions * middle * filters)


# ---- dense, embeddings, activations with weights ----------------------------------

def dense_cost(cfg, inputs, outputs, ctx) -> LayerCost:
    """Dense: (product of leading non-batch dims) x in_features x units."""
    features, units = inputs[0][-1], outputs[0][-1]
    return LayerCost(params=features * units + _bias(cfg, units),
                     macs=ctx.volume(inputs[0][1:-1]) * features * units)


def embedding_cost(cfg, inputs, outputs, ctx) -> LayerCost:
    return LayerCost(params=cfg["input_dim"] * cfg["output_dim"])


def prelu_cost(cfg, inputs, outputs, ctx) -> LayerCost:
    return LayerCost(params=math.prod(prelu_alpha_dims(cfg, inputs[0])))


# ---- normalisation --------------------------------------------------------------------

def _learned(cfg: dict) -> int:
    return int(bool(cfg.get("center", True))) + int(bool(cfg.get("scale", True)))


def batch_norm_cost(cfg, inputs, outputs, ctx) -> LayerCost:
    """gamma and beta learned, the moving mean and variance non-trainable: 4C by default."""
    size = norm_size(cfg, inputs[0])
    return LayerCost(params=size * (_learned(cfg) + 2), non_trainable=2 * size)


def layer_norm_cost(cfg, inputs, outputs, ctx) -> LayerCost:
    learned = 1 if cfg.get("rms_scaling") else _learned(cfg)
    return LayerCost(params=norm_size(cfg, inputs[0]) * learned)


def group_norm_cost(cfg, inputs, outputs, ctx) -> LayerCost:
    return LayerCost(params=norm_size(cfg, inputs[0]) * _learned(cfg))


# ---- recurrent ---------------------------------------------------------------------------

def recurrent_cost(gates: int, double_bias_option: str | None = None) -> CostHandler:
    """LSTM (4 gates), GRU (3), SimpleRNN (1): T x gates*H*(I + H) MACs. A GRU with reset_after
    (Keras' default) has two bias vectors."""
    def handler(cfg, inputs, outputs, ctx) -> LayerCost:
        steps, features = inputs[0][1], inputs[0][2]
        units = cfg["units"]
        params = gates * units * (features + units)
        if cfg.get("use_bias", True):
            double = double_bias_option is not None and cfg.get(double_bias_option, True)
            params += gates * units * (2 if double else 1)
        return LayerCost(params=params, macs=ctx.dim(steps) * gates * units * (features + units))
    return handler


def conv_lstm_cost(cfg, inputs, outputs, ctx) -> LayerCost:
    """ConvLSTMND: T x output positions per step x 4F x kernel area x (C_in + F)."""
    shape = inputs[0]
    cin = split((shape[0], *shape[2:]), cfg)[1]
    frame = outputs[0][2:] if cfg.get("return_sequences") else outputs[0][1:]
    spatial, filters = split((None, *frame), cfg)
    area = _kernel(cfg, len(spatial))
    params = area * cin * 4 * filters + area * filters * 4 * filters + _bias(cfg, 4 * filters)
    return LayerCost(params=params,
                     macs=ctx.dim(shape[1]) * ctx.volume(spatial) * 4 * filters * area * (cin + filters))


# ---- attention -------------------------------------------------------------------------------

def attention_cost(cfg, inputs, outputs, ctx) -> LayerCost:
    return LayerCost(params=int(bool(cfg.get("use_scale"))) + int(cfg.get("score_mode") == "concat"))


def additive_attention_cost(cfg, inputs, outputs, ctx) -> LayerCost:
    return LayerCost(params=inputs[0][-1] if cfg.get("use_scale", True) else 0)


def multi_head_attention_cost(cfg, inputs, outputs, ctx) -> LayerCost:
    query = inputs[0]
    value = inputs[1] if len(inputs) > 1 else query
    key = inputs[2] if len(inputs) > 2 else value
    heads, key_dim = cfg["num_heads"], cfg["key_dim"]
    value_dim = cfg.get("value_dim") or key_dim
    out_dim = query[-1]
    bias = 1 if cfg.get("use_bias", True) else 0
    params = (query[-1] + bias) * heads * key_dim + (key[-1] + bias) * heads * key_dim \
        + (value[-1] + bias) * heads * value_dim + heads * value_dim * out_dim + bias * out_dim
    return LayerCost(params=params, note="attention MACs count 0 (cost model: everything else)")


# ---- the table --------------------------------------------------------------------------------

DEFAULT_COST_HANDLERS: Mapping[str, CostHandler] = MappingProxyType({
    **dict.fromkeys(("Conv1D", "Conv2D", "Conv3D"), conv_cost),
    **dict.fromkeys(("Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose"), transposed_conv_cost),
    **dict.fromkeys(("DepthwiseConv1D", "DepthwiseConv2D"), depthwise_cost),
    **dict.fromkeys(("SeparableConv1D", "SeparableConv2D"), separable_cost),
    "Dense": dense_cost,
    "Embedding": embedding_cost,
    "PReLU": prelu_cost,
    "BatchNormalization": batch_norm_cost,
    "LayerNormalization": layer_norm_cost,
    "GroupNormalization": group_norm_cost,
    "LSTM": recurrent_cost(4),
    "GRU": recurrent_cost(3, double_bias_option="reset_after"),
    "SimpleRNN": recurrent_cost(1),
    **dict.fromkeys(("ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D"), conv_lstm_cost),
    "Attention": attention_cost,
    "AdditiveAttention": additive_attention_cost,
    "MultiHeadAttention": multi_head_attention_cost,
})


@dataclass(frozen=True)
class CostModel:
    """A cost-handler table. `with_handler` returns a new model (fvcore's set_op_handle); the
    defaults are never changed. A class name or alias may be given; a handler of None makes the
    class cost nothing."""

    handlers: Mapping[str, CostHandler | None] = field(default_factory=lambda: DEFAULT_COST_HANDLERS)

    def with_handler(self, class_name: str, handler: CostHandler | None) -> CostModel:
        return CostModel(MappingProxyType({**self.handlers, class_name: handler}))

    def handler(self, class_name: str) -> CostHandler | None:
        if class_name in self.handlers:
            return self.handlers[class_name]
        return self.handlers.get(canonical(class_name))

    def count(self, class_name: str, config: dict, inputs: list[Shape], outputs: list[Shape],
              ctx: Context) -> LayerCost:
        handler = self.handler(class_name)
        return handler(config, inputs, outputs, ctx) if handler is not None else ZERO


DEFAULT_COST_MODEL = CostModel()
