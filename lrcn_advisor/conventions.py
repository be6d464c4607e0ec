"""What other FLOP counters would report for this model, and why they differ.

Pure functions over the analysed model (ModelIR / LayerInfo); no framework is
imported. Each layer is translated into the PyTorch modules a user would port
it to (tools/torch_twins.py `twin_of` builds exactly this translation):
Conv2d, an activation module after a layer that has one, MaxPool2d /
AvgPool2d, AdaptiveAvgPool2d(1) + Flatten for global pooling, BatchNorm,
Linear, nn.LSTM / nn.GRU / nn.RNN (batch_first, two bias vectors), Dropout,
Flatten. Each `Part` of that translation gets one small function per tool
(`RULES[tool][part kind]`), derived from the tool's own source; the files and
versions are cited in docs/conventions.md and in `Tool.source`.

Counts are for one clip at batch 1, like the advisor's own MACs.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum
from typing import Callable

from lrcn_advisor.ir import LayerInfo, ModelIR


class Unit(str, Enum):
    MACS = "MACs"
    FLOPS = "FLOPs"


class PartKind(str, Enum):
    CONV = "conv"
    ACTIVATION = "activation"
    POOL = "pool"
    NORM = "norm"
    DENSE = "dense"
    RECURRENT = "recurrent"
    NONE = "none"  # dropout (eval), flatten, reshape: every tool counts 0


@dataclass(frozen=True)
class Part:
    """One PyTorch module of the translation, with the sizes the tools read (batch 1)."""

    kind: PartKind
    layer: str
    op: str                 # conv2d | relu | softmax | maxpool | avgpool | gap | gmp | batchnorm | linear | lstm ...
    in_numel: int = 0
    out_numel: int = 0
    macs: int = 0           # the advisor's convention (fused multiply-adds, no bias)
    bias: bool = False
    kernel_area: int = 1    # pooling window
    features: int = 0       # softmax: size of the normalised axis; norm: channels
    rows: int = 1           # linear: positions the Linear runs over; norm: B*T positions
    folded: bool = False    # inside TimeDistributed (time folded into the batch)
    cell: str = ""          # lstm | gru | rnn
    steps: int = 0
    inputs: int = 0         # recurrent input features I
    units: int = 0          # recurrent H
    directions: int = 1


GATES = {"lstm": 4, "gru": 3, "rnn": 1}
RNN_CLASSES = {"LSTM": "lstm", "GRU": "gru", "SimpleRNN": "rnn"}
ACTIVATION_OPS = {"relu", "softmax", "sigmoid", "tanh"}


class NotTranslated(ValueError):
    """A layer the PyTorch translation (and so this table) does not cover."""


# ---- IR -> parts ------------------------------------------------------------------

def _numel(shape, frames: int) -> int:
    return math.prod(frames if d is None else d for d in shape[1:])


def _activation_part(layer: LayerInfo, name: str | None, numel: int) -> list[Part]:
    if not name or name == "linear":
        return []
    if name not in ACTIVATION_OPS:
        raise NotTranslated(f"activation {name!r} of `{layer.name}`")
    last = layer.output_shape[-1] or 1
    return [Part(PartKind.ACTIVATION, layer.name, name, in_numel=numel, out_numel=numel, features=last,
                 rows=numel // last)]


def parts_of(layer: LayerInfo, frames: int) -> list[Part]:
    """The PyTorch modules one analysed layer translates to."""
    cls, config = layer.inner_kind_class, layer.config
    out_numel = _numel(layer.output_shape, frames) if layer.output_shapes else 0
    in_numel = _numel(layer.input_shape, frames) if layer.input_shapes else 0
    steps = layer.frames or frames
    positions = steps if layer.time_distributed else 1
    if layer.kind == "input":
        return []
    if cls in ("Conv1D", "Conv2D", "Conv3D"):
        conv = Part(PartKind.CONV, layer.name, cls.lower(), in_numel, out_numel, layer.macs,
                    bias=config.get("use_bias", True), folded=layer.time_distributed)
        return [conv, *_activation_part(layer, config.get("activation"), out_numel)]
    if cls in ("MaxPooling2D", "AveragePooling2D"):
        area = math.prod(config.get("pool_size") or (2, 2))
        op = "maxpool" if cls.startswith("Max") else "avgpool"
        return [Part(PartKind.POOL, layer.name, op, in_numel, out_numel, kernel_area=area)]
    if cls in ("GlobalAveragePooling2D", "GlobalMaxPooling2D"):
        op = "gap" if "Average" in cls else "gmp"
        area = in_numel // max(out_numel, 1)
        return [Part(PartKind.POOL, layer.name, op, in_numel, out_numel, kernel_area=area)]
    if cls == "BatchNormalization":
        channels = layer.input_shape[-1]
        affine = config.get("scale", True) or config.get("center", True)
        return [Part(PartKind.NORM, layer.name, "batchnorm", in_numel, out_numel, bias=affine,
                     features=channels, rows=in_numel // channels, folded=layer.time_distributed,
                     steps=positions)]
    if cls == "Activation":
        return _activation_part(layer, config.get("activation"), out_numel)
    if cls in ("Dropout", "SpatialDropout2D", "Flatten", "Reshape"):
        return [Part(PartKind.NONE, layer.name, cls.lower(), in_numel, out_numel)]
    if cls == "Dense":
        features = layer.input_shape[-1]
        dense = Part(PartKind.DENSE, layer.name, "linear", in_numel, out_numel, layer.macs,
                     bias=config.get("use_bias", True), features=features, rows=in_numel // features,
                     folded=layer.time_distributed, units=config["units"])
        return [dense, *_activation_part(layer, config.get("activation"), out_numel)]
    if layer.kind == "recurrent" and cls in RNN_CLASSES and not layer.time_distributed:
        directions = 2 if layer.class_name == "Bidirectional" else 1
        return [Part(PartKind.RECURRENT, layer.name, RNN_CLASSES[cls], in_numel, out_numel, layer.macs,
                     bias=config.get("use_bias", True), cell=RNN_CLASSES[cls], steps=steps,
                     inputs=layer.input_shape[-1], units=config["units"], directions=directions)]
    raise NotTranslated(f"`{layer.name}` ({layer.class_name}{f'({cls})' if layer.inner_class else ''})")


def model_parts(ir: ModelIR) -> list[Part]:
    frames = ir.frames or 1
    return [part for layer in ir.layers for part in parts_of(layer, frames)]


# ---- the tools --------------------------------------------------------------------

Rule = Callable[[Part], int]


@dataclass(frozen=True)
class Tool:
    key: str
    name: str           # package and version the rules were read from
    unit: Unit
    source: str         # file(s) the formulas come from
    rules: dict[PartKind, Rule]
    why: dict[PartKind, str] = field(default_factory=dict)  # how it differs from the advisor, per kind


def zero(_: Part) -> int:
    return 0


def _bias_numel(p: Part) -> int:
    return p.out_numel if p.bias else 0


def _torch_rnn_params(p: Part) -> int:
    """Parameters of one direction of nn.LSTM/GRU/RNN: W_ih, W_hh and two bias vectors."""
    gate = GATES[p.cell] * p.units
    return gate * (p.inputs + p.units) + (2 * gate if p.bias else 0)


# thop 0.1.1.post2209072238 (thop/vision/basic_hooks.py, calc_func.py, rnn_hooks.py, profile.py)
def thop_conv(p: Part) -> int:
    return p.macs  # calculate_conv2d_flops: output numel x C_in/groups x kernel; bias ignored


def thop_activation(p: Part) -> int:
    if p.op == "softmax":  # count_softmax: rows x (exp n + add n-1 + div n)
        return p.rows * (3 * p.features - 1)
    return 0               # nn.ReLU -> zero_ops; Sigmoid/Tanh have no rule


def thop_pool(p: Part) -> int:
    if p.op == "avgpool":  # count_avgpool: one op per output element
        return p.out_numel
    if p.op == "gap":      # count_adap_avgpool: (window + 1) per output element
        return (p.kernel_area + 1) * p.out_numel
    return 0               # max pooling -> zero_ops


def thop_norm(p: Part) -> int:
    return 4 * p.in_numel if p.bias else 2 * p.in_numel  # count_normalization: calculate_norm 2/element, x2 affine


def thop_dense(p: Part) -> int:
    return p.macs  # count_linear: in_features x output numel


def thop_cell(p: Part) -> int:
    h, i = p.units, p.inputs
    bias = 2 * h if p.bias else 0
    if p.cell == "lstm":   # _count_lstm_cell
        return 4 * ((i + h) * h + h + bias) + 3 * h + h
    if p.cell == "gru":    # _count_gru_cell
        return 3 * ((h + i) * h + h + bias) + h + 3 * h
    return h * (i + h) + h + bias  # _count_rnn_cell


def thop_recurrent(p: Part) -> int:
    return thop_cell(p) * p.directions * p.steps  # count_lstm: cell x directions x steps x batch


# ptflops 0.7.5, backend 'pytorch' (ptflops/pytorch_ops.py, pytorch_engine.py)
PTFLOPS_DOUBLE = {"relu"}        # nn.ReLU's hook and the patched F.relu both count
PTFLOPS_FUNCTIONAL = {"softmax"}  # no module hook; the patched F.softmax counts numel


def ptflops_conv(p: Part) -> int:
    return p.macs + _bias_numel(p)  # conv_flops_counter_hook: + output numel for the bias


def ptflops_activation(p: Part) -> int:
    if p.op in PTFLOPS_DOUBLE:
        return 2 * p.out_numel
    return p.out_numel if p.op in PTFLOPS_FUNCTIONAL else 0


def ptflops_pool(p: Part) -> int:
    return 2 * p.in_numel  # pool_flops_counter_hook (input numel) + the patched F.*pool*d again


def ptflops_norm(p: Part) -> int:
    return 2 * p.in_numel if p.bias else p.in_numel  # bn_flops_counter_hook; F.batch_norm is not patched


def ptflops_dense(p: Part) -> int:
    return p.macs + (p.rows * p.units if p.bias else 0)  # linear_flops_counter_hook: (I*O + O) x rows


def ptflops_recurrent(p: Part) -> int:
    h, g = p.units, GATES[p.cell]
    extra = {"lstm": 4 * h + 3 * h + 3 * h, "gru": h + 3 * h + 3 * h, "rnn": h}[p.cell]
    per_step = g * h * p.inputs + g * h * h + extra + (2 * g * h if p.bias else 0)  # rnn_flops + biases
    return per_step * p.steps * p.directions


# ptflops 0.7.5, backend 'aten' (ptflops/aten_ops.py, aten_engine.py): aten.mm/addmm/bmm/convolution only
def aten_recurrent(p: Part) -> int:
    if p.cell == "lstm":  # CPU nn.LSTM runs as one aten.mkldnn_rnn_layer op: no formula
        return 0
    g, h = GATES[p.cell], p.units  # GRU/RNN cells decompose into aten.addmm per step and direction
    return p.steps * p.directions * (g * h * (p.inputs + h) + (2 * g * h if p.bias else 0))


# fvcore 0.1.5.post20221221 (fvcore/nn/flop_count.py, jit_handles.py)
def fvcore_pool(p: Part) -> int:
    return p.in_numel if p.op == "gap" else 0  # aten::adaptive_avg_pool2d: elementwise_flop_counter(1, 0)


def fvcore_norm(p: Part) -> int:
    return p.in_numel * (2 if p.bias else 1)  # batchnorm_flop_jit (eval)


# torchinfo 1.8.0 (torchinfo/layer_info.py calculate_macs): parameters x output positions
def torchinfo_conv(p: Part) -> int:
    return p.macs + _bias_numel(p)  # (weight + bias) x N x H_out x W_out


def torchinfo_norm(p: Part) -> int:
    positions = p.steps if p.folded else 1  # output_size[0]: B*T inside TimeDistributed, B outside
    return positions * 2 * p.features if p.bias else 0


def torchinfo_dense(p: Part) -> int:
    positions = p.rows if p.folded else 1  # output_size[0] only: a (B, T, F) Linear counts B
    return positions * (p.features * p.units + (p.units if p.bias else 0))


def torchinfo_recurrent(p: Part) -> int:
    return p.steps * p.directions * _torch_rnn_params(p)  # output_size[:2] (B*T) x every weight and bias


# torch.utils.flop_counter.FlopCounterMode (torch 2.13, torch/utils/flop_counter.py): 2 x mm / conv, no bias
def fcm_conv(p: Part) -> int:
    return 2 * p.macs


def fcm_dense(p: Part) -> int:
    return 2 * p.macs


def fcm_recurrent(p: Part) -> int:
    if p.cell == "lstm":  # aten.mkldnn_rnn_layer on CPU: no formula
        return 0
    return 2 * p.steps * p.directions * GATES[p.cell] * p.units * (p.inputs + p.units)  # addmm, bias ignored


# calflops 0.3.2 / DeepSpeed 0.19.8 flops profiler (calflops/pytorch_ops.py,
# deepspeed/profiling/flops_profiler/profiler.py): patched torch.nn.functional + RNN module hooks
def calflops_conv(p: Part) -> int:
    return 2 * p.macs + _bias_numel(p)  # _conv_flops_compute


def calflops_activation(p: Part) -> int:
    return p.out_numel if p.op in ("relu", "softmax") else 0  # F.relu / F.softmax: numel; sigmoid/tanh unpatched


def calflops_pool(p: Part) -> int:
    return p.in_numel  # _pool_flops_compute: input numel


def calflops_norm(p: Part) -> int:
    return p.in_numel * (2 if p.bias else 1)  # _batch_norm_flops_compute (eval)


def calflops_dense(p: Part) -> int:
    return 2 * p.macs  # _linear_flops_compute: bias ignored


def calflops_recurrent(p: Part) -> int:
    h, g = p.units, GATES[p.cell]
    gate = g * h
    extra = {"lstm": 4 * h + 3 * h + 3 * h, "gru": h + 3 * h + 3 * h, "rnn": h}[p.cell]
    per_step = (2 * gate * p.inputs - gate) + (2 * gate * h - gate) + extra + (2 * gate if p.bias else 0)
    return per_step * p.steps * p.directions  # _rnn_flops + biases


def calflops_macs_conv(p: Part) -> int:
    return p.macs


# TensorFlow 2.21 profiler on the frozen Keras 3.15 graph at batch 1 (what keras-flops wraps): the flops
# statistics registered in tensorflow/python/ops/nn_ops.py and math_ops.py; an op without static shapes
# or without a registered statistic counts 0. TimeDistributed is unrolled into T per-frame copies.
def tf_conv(p: Part) -> int:
    return 2 * p.macs + _bias_numel(p)  # Conv2D: 2 x MACs; BiasAdd: 1 per output element


def tf_activation(p: Part) -> int:
    return 5 * p.out_numel if p.op == "softmax" else 0  # Softmax: 5 per element; Relu has no statistic


def tf_pool(p: Part) -> int:
    if p.op in ("maxpool", "avgpool"):
        return p.out_numel * p.kernel_area  # MaxPool/AvgPool: window x output elements
    return p.in_numel if p.op == "gap" else 0  # Mean: 1 per input element


def tf_norm(p: Part) -> int:
    # inference BatchNorm, per frame: AddV2(var + eps), Rsqrt (2/elem), two Muls and a Sub on the C-vectors
    # (6C), then x * scale + shift over the map (2 per element)
    return p.steps * 6 * p.features + 2 * p.in_numel


def tf_dense(p: Part) -> int:
    return 2 * p.macs + (p.out_numel if p.bias else 0)  # MatMul 2mnk + BiasAdd


def tf_recurrent(p: Part) -> int:
    # Keras 3 runs the time loop as a tf.while_loop: its body is counted ONCE, not x T, and only the ops
    # with static shapes: the input MatMul (2*I*G*H), its BiasAdd (G*H; LSTM: two), LSTM one (1, H) Mul
    gate = GATES[p.cell] * p.units
    if p.cell == "lstm":
        per_direction = 2 * p.inputs * gate + (2 * gate if p.bias else 0) + p.units
    elif p.cell == "gru":
        per_direction = 2 * p.inputs * gate + (gate if p.bias else 0)
    else:
        raise NotTranslated("SimpleRNN under the TF profiler")
    return per_direction * p.directions


# onnx-tool 1.0.1 (onnx_tool/node.py, *Node.profile) on torch.onnx.export(dynamo=False) of the translation;
# its per-op constants: ADD/MUL/CMP 1, DIV 4, EXP 32, SQRT 24, TANH = EXP + 2 ADD + DIV = 38
ONNX_EXP, ONNX_DIV, ONNX_SQRT = 32, 4, 24
ONNX_TANH = ONNX_EXP + 2 + ONNX_DIV


def onnx_conv(p: Part) -> int:
    return p.macs + _bias_numel(p)  # ConvNode: out x C_in/g x kernel, + out for the bias


def onnx_activation(p: Part) -> int:
    if p.op == "relu":
        return p.out_numel  # ReluNode: CMP per element
    if p.op == "softmax":
        return (ONNX_EXP + ONNX_DIV) * p.out_numel  # SoftmaxNode
    raise NotTranslated(f"{p.op} under onnx-tool")


def onnx_pool(p: Part) -> int:
    if p.op in ("maxpool", "avgpool"):
        return p.out_numel * p.kernel_area  # PoolBase: out x window x CMP
    if p.op == "gap":
        return p.in_numel + ONNX_DIV * p.out_numel  # GlobalAveragePoolNode: ADD per input, DIV per output
    raise NotTranslated(f"{p.op} under onnx-tool")


def onnx_norm(p: Part) -> int:
    return p.out_numel * (1 + ONNX_SQRT + ONNX_DIV + 1 + 1)  # BatchNormalizationNode: add, sqrt, div, add, mul


def onnx_dense(p: Part) -> int:
    return p.macs + (p.out_numel if p.bias else 0)  # GemmNode: out x K, + out for C


def onnx_recurrent(p: Part) -> int:
    # LSTMNode / GRUNode: gate GEMMs over both directions, but the elementwise terms use batch x seq x H,
    # NOT x directions
    gates = GATES[p.cell] * p.units
    gemm = p.directions * gates * (p.inputs + p.units) * p.steps
    bias = p.directions * 2 * gates * p.steps if p.bias else 0
    h = p.steps * p.units
    if p.cell == "lstm":
        return gemm + bias + h * (4 + 3 * ONNX_EXP + 2 * ONNX_TANH + 4)
    if p.cell == "gru":
        return gemm + bias + h * (3 + 2 * ONNX_EXP + ONNX_TANH + 5)
    raise NotTranslated("SimpleRNN under onnx-tool")


TOOLS: list[Tool] = [
    Tool("thop", "thop 0.1.1.post2209072238", Unit.MACS,
         "thop/vision/basic_hooks.py, thop/vision/calc_func.py, thop/rnn_hooks.py",
         {PartKind.CONV: thop_conv, PartKind.ACTIVATION: thop_activation, PartKind.POOL: thop_pool,
          PartKind.NORM: thop_norm, PartKind.DENSE: thop_dense, PartKind.RECURRENT: thop_recurrent},
         {PartKind.NORM: "BatchNorm: 4 per element (2, doubled when affine)",
          PartKind.POOL: "global average pooling: (window + 1) per output; max pooling 0",
          PartKind.ACTIVATION: "softmax: 3n-1 per row; ReLU 0",
          PartKind.RECURRENT: "gate matmuls + 2 biases + H per gate + 4H elementwise per step"}),
    Tool("ptflops", "ptflops 0.7.5 (backend=pytorch)", Unit.MACS,
         "ptflops/pytorch_ops.py, ptflops/pytorch_engine.py",
         {PartKind.CONV: ptflops_conv, PartKind.ACTIVATION: ptflops_activation, PartKind.POOL: ptflops_pool,
          PartKind.NORM: ptflops_norm, PartKind.DENSE: ptflops_dense, PartKind.RECURRENT: ptflops_recurrent},
         {PartKind.CONV: "bias: +1 per output element",
          PartKind.ACTIVATION: "ReLU counted twice (module hook + patched F.relu); softmax via F.softmax",
          PartKind.POOL: "input numel, counted twice (module hook + patched F.*pool*)",
          PartKind.NORM: "BatchNorm: 2 per element (affine)", PartKind.DENSE: "bias: +1 per output",
          PartKind.RECURRENT: "gate matmuls + both biases + 10H (LSTM) / 7H (GRU) elementwise per step"}),
    Tool("ptflops-aten", "ptflops 0.7.5 (backend=aten)", Unit.MACS,
         "ptflops/aten_ops.py, ptflops/aten_engine.py",
         {PartKind.CONV: ptflops_conv, PartKind.DENSE: ptflops_dense, PartKind.RECURRENT: aten_recurrent},
         {PartKind.CONV: "bias: +1 per output element", PartKind.DENSE: "bias: +1 per output",
          PartKind.RECURRENT: "LSTM 0 (CPU runs aten.mkldnn_rnn_layer, no formula); GRU via addmm with biases",
          PartKind.NORM: "0", PartKind.POOL: "0", PartKind.ACTIVATION: "0"}),
    Tool("fvcore", "fvcore 0.1.5.post20221221", Unit.MACS,
         "fvcore/nn/flop_count.py, fvcore/nn/jit_handles.py",
         {PartKind.CONV: thop_conv, PartKind.POOL: fvcore_pool, PartKind.NORM: fvcore_norm,
          PartKind.DENSE: thop_dense},
         {PartKind.RECURRENT: "0: no handle for aten::lstm / aten::gru (listed as unsupported)",
          PartKind.NORM: "BatchNorm: 2 per element (eval, affine)",
          PartKind.POOL: "adaptive average pooling: 1 per input element; max pooling ignored"}),
    Tool("torchinfo", "torchinfo 1.8.0", Unit.MACS, "torchinfo/layer_info.py (LayerInfo.calculate_macs)",
         {PartKind.CONV: torchinfo_conv, PartKind.NORM: torchinfo_norm, PartKind.DENSE: torchinfo_dense,
          PartKind.RECURRENT: torchinfo_recurrent},
         {PartKind.CONV: "(weights + bias) x output positions: bias counted",
          PartKind.NORM: "gamma and beta x N (2C per position, not per element)",
          PartKind.DENSE: "(weights + bias) x output_size[0]: a Linear on (B, T, F) counts B, not B*T",
          PartKind.RECURRENT: "every parameter (both biases) x B x T"}),
    Tool("flopcountermode", "torch.utils.flop_counter.FlopCounterMode (torch 2.13)", Unit.FLOPS,
         "torch/utils/flop_counter.py",
         {PartKind.CONV: fcm_conv, PartKind.DENSE: fcm_dense, PartKind.RECURRENT: fcm_recurrent},
         {PartKind.CONV: "2 FLOPs per MAC, bias ignored",
          PartKind.RECURRENT: "LSTM 0 on CPU (aten.mkldnn_rnn_layer); GRU: 2 x gate matmuls via addmm",
          PartKind.NORM: "0", PartKind.POOL: "0", PartKind.ACTIVATION: "0"}),
    Tool("calflops", "calflops 0.3.2 = DeepSpeed 0.19.8 flops profiler (FLOPs)", Unit.FLOPS,
         "calflops/pytorch_ops.py; deepspeed/profiling/flops_profiler/profiler.py",
         {PartKind.CONV: calflops_conv, PartKind.ACTIVATION: calflops_activation, PartKind.POOL: calflops_pool,
          PartKind.NORM: calflops_norm, PartKind.DENSE: calflops_dense, PartKind.RECURRENT: calflops_recurrent},
         {PartKind.CONV: "2 per MAC + 1 per output for the bias", PartKind.ACTIVATION: "1 per element",
          PartKind.POOL: "1 per input element", PartKind.NORM: "2 per element (affine, eval)",
          PartKind.RECURRENT: "2 per gate MAC - G*H per matmul + both biases + elementwise"}),
    Tool("calflops-macs", "calflops 0.3.2 = DeepSpeed 0.19.8 flops profiler (MACs)", Unit.MACS,
         "calflops/pytorch_ops.py; deepspeed/profiling/flops_profiler/profiler.py",
         {PartKind.CONV: calflops_macs_conv, PartKind.DENSE: thop_dense},
         {PartKind.RECURRENT: "0: the RNN hook adds FLOPs only, never MACs"}),
    Tool("onnx-tool", "onnx-tool 1.0.1 (on torch.onnx.export, TorchScript exporter)", Unit.MACS,
         "onnx_tool/node.py (ConvNode, ReluNode, PoolBase, GlobalAveragePoolNode, BatchNormalizationNode, "
         "GemmNode, SoftmaxNode, LSTMNode, GRUNode)",
         {PartKind.CONV: onnx_conv, PartKind.ACTIVATION: onnx_activation, PartKind.POOL: onnx_pool,
          PartKind.NORM: onnx_norm, PartKind.DENSE: onnx_dense, PartKind.RECURRENT: onnx_recurrent},
         {PartKind.CONV: "bias: +1 per output", PartKind.ACTIVATION: "ReLU 1 per element; softmax 36",
          PartKind.POOL: "max pooling: window x outputs; global average: inputs + 4 x outputs",
          PartKind.NORM: "BatchNormalization: 31 per element (sqrt 24, div 4)",
          PartKind.DENSE: "bias: +1 per output",
          PartKind.RECURRENT: "gates + both biases + weighted sigmoid/tanh per step; the elementwise part is "
                              "not multiplied by the directions. A Loop/Scan body is not profiled (0)"}),
    Tool("tf-profiler", "TF 2.21 profiler / keras-flops (float_operation, Keras 3.15 graph)", Unit.FLOPS,
         "tensorflow/python/ops/nn_ops.py, math_ops.py (RegisterStatistics 'flops'); keras_flops/flops_calculation.py",
         {PartKind.CONV: tf_conv, PartKind.ACTIVATION: tf_activation, PartKind.POOL: tf_pool,
          PartKind.NORM: tf_norm, PartKind.DENSE: tf_dense, PartKind.RECURRENT: tf_recurrent},
         {PartKind.CONV: "2 per MAC + BiasAdd 1 per output", PartKind.ACTIVATION: "softmax 5 per element; ReLU 0",
          PartKind.POOL: "max pooling: window x outputs; global average: 1 per input",
          PartKind.NORM: "decomposed inference BatchNorm: 2 per element + 6C per frame",
          PartKind.DENSE: "2 per MAC + bias",
          PartKind.RECURRENT: "the while-loop body once (not x T), static-shape ops only: about 1/T of the cost"}),
]
TOOL_BY_KEY = {tool.key: tool for tool in TOOLS}


@dataclass(frozen=True)
class Unchecked:
    """A tool the table does not predict, and why."""

    name: str
    reason: str


UNCHECKED: list[Unchecked] = []


# ---- the table --------------------------------------------------------------------

@dataclass
class ToolCount:
    tool: str
    name: str
    unit: Unit
    total: int
    by_kind: dict[PartKind, int]
    differences: list[str]   # "<kind>: advisor X vs tool Y (why)"


@dataclass
class ConventionsTable:
    advisor_macs: int
    advisor_by_kind: dict[PartKind, int]
    tools: list[ToolCount]
    unchecked: list[Unchecked]
    untranslated: list[str] = field(default_factory=list)


def count(tool: Tool, parts: list[Part]) -> ToolCount:
    by_kind: dict[PartKind, int] = {}
    for part in parts:
        by_kind[part.kind] = by_kind.get(part.kind, 0) + tool.rules.get(part.kind, zero)(part)
    return ToolCount(tool.key, tool.name, tool.unit, sum(by_kind.values()), by_kind, [])


def advisor_by_kind(parts: list[Part]) -> dict[PartKind, int]:
    by_kind: dict[PartKind, int] = {}
    for part in parts:
        by_kind[part.kind] = by_kind.get(part.kind, 0) + part.macs
    return by_kind


def conventions_table(ir: ModelIR) -> ConventionsTable:
    """Every tool's predicted count for this model, per layer kind, with the reasons they differ."""
    untranslated: list[str] = []
    parts: list[Part] = []
    frames = ir.frames or 1
    for layer in ir.layers:
        try:
            parts.extend(parts_of(layer, frames))
        except NotTranslated as exc:
            untranslated.append(str(exc))
    ours = advisor_by_kind(parts)
    tools = []
    for tool in TOOLS:
        counted = count(tool, parts)
        scale = 2 if tool.unit is Unit.FLOPS else 1
        for kind, value in counted.by_kind.items():
            if value != scale * ours.get(kind, 0):
                why = tool.why.get(kind, "")
                counted.differences.append(f"{kind.value}: {value:,} vs advisor {scale * ours.get(kind, 0):,}"
                                           f"{f' ({why})' if why else ''}")
        tools.append(counted)
    return ConventionsTable(ir.macs, ours, tools, list(UNCHECKED), untranslated)
