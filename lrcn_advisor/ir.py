"""The model IR: the contract between loaders, cost, rules, probes and reports.

Two layers of data, both plain dataclasses:
- the architecture (`GraphSpec` of `LayerSpec`), which loaders produce and
  edits change; it is Keras' get_config() vocabulary as plain data;
- the analysis (`ModelIR` of `LayerInfo` and `Block`), which `analyze`
  derives from the architecture: shapes, parameters, MACs and blocks.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .vocabulary import FrameSource, Stage

Shape = tuple  # (None, d1, d2, ...); None is an unknown dimension (batch first)


@dataclass(frozen=True)
class TensorRef:
    """Output `tensor` of call number `node` of layer `layer`."""

    layer: str
    node: int = 0
    tensor: int = 0


@dataclass
class LayerSpec:
    """One layer as plain data, the way Keras' get_config() describes it."""

    name: str
    class_name: str
    config: dict[str, Any] = field(default_factory=dict)
    calls: list[list[TensorRef]] = field(default_factory=list)  # inputs of each call
    wrapped: LayerSpec | None = None   # TimeDistributed / Bidirectional inner layer
    backward: LayerSpec | None = None  # Bidirectional backward_layer, when given
    graph: GraphSpec | None = None     # nested model (backbone)
    params_counted: int | None = None   # counted by the loader from the file's weights (ONNX initialisers);
                                        # an edit that changes the layer clears it
    note: str = ""                      # loader remark shown beside the numbers
    build_input_shape: Shape | None = None  # the input shape the file recorded when the layer was built
    weight_shapes: list[tuple[int, ...]] | None = None  # shapes of the layer's saved weights (never values)


@dataclass
class GraphSpec:
    name: str
    layers: list[LayerSpec]
    inputs: list[TensorRef]
    outputs: list[TensorRef]
    input_shapes: dict[str, Shape] = field(default_factory=dict)  # input layer -> shape


@dataclass(frozen=True)
class LoadedModel:
    """What a loader returns: the architecture and facts about the file, nothing computed from them."""

    graph: GraphSpec
    path: str
    format: str                   # h5 | keras | json | onnx
    keras_version: str = ""
    notes: tuple[str, ...] = ()   # loader remarks (exporter changes etc.)
    dropout_visible: bool = True  # False for inference exports (ONNX)
    loss: str | None = None       # the compiled loss (snake_case name) when the file records one


@dataclass
class LayerInfo:
    """One analysed top-level layer (or a nested model's layer, in `children`)."""

    name: str
    class_name: str
    inner_class: str | None
    kind: str                 # conv, pool, dropout, norm, recurrent, dense, ... (vocabulary.LayerKind)
    config: dict[str, Any]    # the effective config (the wrapped layer's for wrappers)
    inputs: list[str]
    input_shapes: list[Shape]
    output_shapes: list[Shape]
    params: int
    trainable_params: int
    macs: int
    time_distributed: bool = False
    frames: int | None = None  # time steps this layer's cost was counted over
    status: str = "ok"         # ok | unknown | opaque (vocabulary.Status)
    block: str = ""            # id of the block (model stage) the layer belongs to
    params_delta_vs_keras: int = 0  # the file's own count minus the Keras convention (exporter changes)
    exact: bool = True         # False when the numbers rest on a shape nothing in the file settles
    params_exact: bool = True  # False when even the parameters are unknown (counted 0)
    shape_origin: str = ""     # where the input shape came from after an opaque layer (build config | saved weights)
    note: str = ""
    children: list[LayerInfo] = field(default_factory=list)

    @property
    def output_shape(self) -> Shape:
        return self.output_shapes[0] if self.output_shapes else ()

    @property
    def input_shape(self) -> Shape:
        return self.input_shapes[0] if self.input_shapes else ()

    @property
    def non_trainable_params(self) -> int:
        return self.params - self.trainable_params

    @property
    def inner_kind_class(self) -> str:
        return self.inner_class or self.class_name


@dataclass
class Block:
    id: str          # conv1, conv2, backbone, recurrent, head, input, ...
    stage: Stage     # input | conv | backbone | frontend | recurrent | head
    label: str
    layers: list[str]
    params: int = 0
    trainable_params: int = 0
    macs: int = 0


@dataclass
class ModelIR:
    name: str
    path: str
    format: str               # h5 | keras | json | onnx
    graph: GraphSpec
    input_shapes: list[Shape]
    frames: int | None        # time steps used for costs
    frames_source: FrameSource
    layers: list[LayerInfo]
    blocks: list[Block]
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)   # exporter changes etc.
    keras_version: str = ""
    dropout_visible: bool = True  # False for inference exports (ONNX)
    model: LoadedModel | None = None  # what the loader returned

    @property
    def params(self) -> int:
        return sum(layer.params for layer in self.layers)

    @property
    def trainable_params(self) -> int:
        return sum(layer.trainable_params for layer in self.layers)

    @property
    def macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    @property
    def flops(self) -> int:
        return 2 * self.macs

    @property
    def exact(self) -> bool:
        """False when some layer's numbers are unknown or rest on an assumed shape: totals are then
        lower bounds (unknown layers count 0)."""
        return all(layer.exact for layer in self.layers)

    @property
    def params_exact(self) -> bool:
        """False when some layer's parameters are unknown: the total is then a lower bound."""
        return all(layer.params_exact for layer in self.layers)

    def layer(self, name: str) -> LayerInfo:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(name)

    def block_of(self, name: str) -> Block:
        for block in self.blocks:
            if name in block.layers:
                return block
        raise KeyError(name)
