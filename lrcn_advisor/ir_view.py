"""Read-only views of a ModelIR that several rules share."""
from __future__ import annotations

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


def is_spatial(layer: LayerInfo) -> bool:
    """A 2-D (per frame) or 3-D (space-time) convolution or pooling layer."""
    return layer.inner_kind_class.endswith(("2D", "3D")) and layer.kind in ("conv", "pool")


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


def _height(value, rank: int, default=1) -> int:
    """The height component of a kernel/stride/pool setting (index 1 of a 3-D triple)."""
    if value is None:
        value = default
    if isinstance(value, int):
        return value
    return int(value[1] if rank == 3 and len(value) == 3 else value[0])


def feature_stack(ir: ModelIR) -> Stack:
    """The conv/pool stack (2-D per frame, Conv3D, or a nested backbone) ahead of the recurrent stage."""
    convs, pools, last = [], [], None
    rf, jump = 1, 1
    has_backbone = False
    backbone_hw = None
    frame = frame_hw(ir)
    for layer in before_recurrent(ir):
        if layer.kind == "backbone":
            has_backbone = True
            hw = map_hw(layer) or _last_child_map(layer)
            if hw and frame:
                last, jump, rf = layer, max(1, frame[0] // hw[0]), frame[0]
                backbone_hw = hw
            continue
        if layer.inner_kind_class in FEATURE_END and last is not None:
            break
        if not is_spatial(layer) or layer.inner_kind_class.startswith("Global"):
            continue
        config = layer.config
        rank = 3 if layer.inner_kind_class.endswith("3D") else 2
        if layer.kind == "conv":
            kernel, stride = _height(config.get("kernel_size"), rank), _height(config.get("strides"), rank)
            dilation = _height(config.get("dilation_rate"), rank)
            rf += (kernel - 1) * dilation * jump
            convs.append(layer)
        else:
            kernel = _height(config.get("pool_size"), rank, 2)
            stride = _height(config.get("strides") or config.get("pool_size"), rank, 2)
            rf += (kernel - 1) * jump
            pools.append(layer)
        jump *= stride
        last = layer
    final = (backbone_hw if last.kind == "backbone" else map_hw(last)) if last else None
    return Stack(convs, pools, last, final, jump, rf, has_backbone)


def _last_child_map(layer: LayerInfo) -> tuple[int, int] | None:
    """The last per-image 2-D map inside a nested backbone that pools it away itself (pooling='avg')."""
    for child in reversed(layer.children):
        shape = child.output_shape
        if len(shape) == 4 and child.kind != "input":
            hw = map_hw(child)
            if hw:
                return hw
    return None


def is_conv_recurrent(layer: LayerInfo) -> bool:
    return layer.inner_kind_class.startswith("ConvLSTM")


def _first_vector_input(layers) -> tuple[LayerInfo, int] | None:
    """The first of `layers` with its per-step input width, when that input is a (batch, T, width) vector."""
    layer = next(iter(layers), None)
    if layer is None or len(layer.input_shape) != 3 or layer.input_shape[2] is None:
        return None
    return layer, layer.input_shape[2]


def recurrent_input_features(ir: ModelIR) -> tuple[LayerInfo, int] | None:
    """The first vector recurrent layer (after any ConvLSTM) and its per-step input width."""
    return _first_vector_input(layer for layer in recurrent_layers(ir) if not is_conv_recurrent(layer))


def frame_vector_consumer(ir: ModelIR) -> tuple[LayerInfo, int] | None:
    """Where the per-frame feature vector is first consumed: a vector recurrent layer or a
    TimeDistributed(Dense) projection, with the vector's length."""
    return _first_vector_input(
        layer for layer in ir.layers
        if (layer.kind == "recurrent" and not is_conv_recurrent(layer))
        or (layer.time_distributed and layer.inner_kind_class == "Dense"))


def map_source(ir: ModelIR, layer: LayerInfo) -> tuple[LayerInfo, tuple[int, int]] | None:
    """The last layer with a per-frame 2-D map upstream of `layer` (through flatten/reshape/dropout)."""
    by_name = {l.name: l for l in ir.layers}
    current = by_name.get(layer.inputs[0]) if layer.inputs else None
    for _ in range(16):
        if current is None:
            return None
        hw = map_hw(current) if len(current.output_shape) == 5 else None
        if hw:
            return current, hw
        if len(current.inputs) != 1:
            return None
        current = by_name.get(current.inputs[0])
    return None


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

