"""Read-only views of a ModelIR that several rules share."""
from __future__ import annotations

import math
from dataclasses import dataclass

from lrcn_advisor.ir import LayerInfo, ModelIR
from lrcn_advisor.vocabulary import fmt_int, fmt_macs, pct  # noqa: F401  (rules format with these)

FEATURE_END = {"Flatten", "GlobalAveragePooling2D", "GlobalMaxPooling2D", "GlobalAvgPool2D",
               "GlobalMaxPool2D", "Reshape"}


def consumers(ir: ModelIR, name: str) -> list[LayerInfo]:
    return [layer for layer in ir.layers if name in layer.inputs]


def recurrent_layers(ir: ModelIR) -> list[LayerInfo]:
    return [layer for layer in ir.layers if layer.kind == "recurrent"]


def before_recurrent(ir: ModelIR) -> list[LayerInfo]:
    """Layers in order up to (not including) the first recurrent layer."""
    result = []
    for layer in ir.layers:
        if layer.kind == "recurrent":
            break
        result.append(layer)
    return result


def frame_hw(ir: ModelIR) -> tuple[int, int] | None:
    """Height and width of the input frames (video input N,T,H,W,C)."""
    for shape in ir.input_shapes:
        if len(shape) == 5 and shape[2] and shape[3]:
            return shape[2], shape[3]
    return None


def map_hw(layer: LayerInfo, shape=None) -> tuple[int, int] | None:
    """Per-frame spatial size of a 2-D feature map (channels_last or channels_first)."""
    shape = shape or layer.output_shape
    dims = shape[2:] if layer.time_distributed or len(shape) == 5 else shape[1:]
    if len(dims) != 3:
        return None
    hw = dims[1:] if layer.config.get("data_format") == "channels_first" else dims[:2]
    return (hw[0], hw[1]) if None not in hw else None


def is_spatial_2d(layer: LayerInfo) -> bool:
    return layer.inner_kind_class.endswith("2D") and layer.kind in ("conv", "pool")


def pair(value, default=1) -> tuple[int, int]:
    if value is None:
        value = default
    if isinstance(value, int):
        return value, value
    return int(value[0]), int(value[1])


@dataclass
class Stack:
    """The per-frame 2-D feature stack ahead of the recurrent stage."""

    convs: list[LayerInfo]
    pools: list[LayerInfo]
    last_spatial: LayerInfo | None   # last conv/pool before features leave the map
    final_hw: tuple[int, int] | None
    downsampling: int                # product of strides along height
    receptive_field: int             # along height, in input pixels
    has_backbone: bool


def feature_stack(ir: ModelIR) -> Stack:
    convs, pools, last = [], [], None
    rf, jump = 1, 1
    has_backbone = False
    for layer in before_recurrent(ir):
        if layer.kind == "backbone":
            has_backbone = True
        if layer.inner_kind_class in FEATURE_END and last is not None:
            break
        if not is_spatial_2d(layer) or layer.inner_kind_class.startswith("Global"):
            continue
        config = layer.config
        if layer.kind == "conv":
            kernel, stride = pair(config.get("kernel_size")), pair(config.get("strides"))
            dilation = pair(config.get("dilation_rate"))
            rf += (kernel[0] - 1) * dilation[0] * jump
            convs.append(layer)
        else:
            kernel = pair(config.get("pool_size"), 2)
            stride = pair(config.get("strides") or kernel)
            rf += (kernel[0] - 1) * jump
            pools.append(layer)
        jump *= stride[0]
        last = layer
    final = map_hw(last) if last else None
    return Stack(convs, pools, last, final, jump, rf, has_backbone)


def recurrent_input_features(ir: ModelIR) -> tuple[LayerInfo, int] | None:
    layers = recurrent_layers(ir)
    if not layers:
        return None
    first = layers[0]
    shape = first.input_shape
    if first.inner_kind_class.startswith("ConvLSTM") or len(shape) != 3 or shape[2] is None:
        return None
    return first, shape[2]


def output_layers(ir: ModelIR) -> list[LayerInfo]:
    names = {ref.layer for ref in ir.graph.outputs}
    return [layer for layer in ir.layers if layer.name in names]


def dense_before(ir: ModelIR, layer: LayerInfo) -> LayerInfo | None:
    """The Dense that produces `layer`'s input through activation-only layers, or itself."""
    seen = 0
    while layer is not None and seen < 8:
        if layer.inner_kind_class == "Dense":
            return layer
        if layer.kind != "activation" or not layer.inputs:
            return None
        layer = next((l for l in ir.layers if l.name == layer.inputs[0]), None)
        seen += 1
    return None


def share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def side(hw) -> str:
    return f"{hw[0]}×{hw[1]}" if hw else "unknown"


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def product(values) -> int:
    return math.prod(values)
