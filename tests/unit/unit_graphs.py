"""Architectures written as plain Python data (GraphSpec / LayerSpec): no framework involved."""
from __future__ import annotations

from lrcn_advisor.ir import GraphSpec, LayerSpec, TensorRef


def layer(class_name: str, name: str = "", **config) -> LayerSpec:
    return LayerSpec(name or class_name.lower(), class_name, {"name": name or class_name.lower(), **config})


def time_distributed(inner: LayerSpec) -> LayerSpec:
    return LayerSpec(inner.name, "TimeDistributed", {"name": inner.name}, wrapped=inner)


def bidirectional(inner: LayerSpec, merge_mode="concat") -> LayerSpec:
    return LayerSpec(inner.name, "Bidirectional", {"name": inner.name, "merge_mode": merge_mode}, wrapped=inner)


def sequential(input_shape: tuple, *layers: LayerSpec, name: str = "model") -> GraphSpec:
    """A chain: input -> layers[0] -> layers[1] -> ...; `input_shape` includes the batch axis."""
    specs = [LayerSpec("input", "InputLayer", {"name": "input"})]
    previous = "input"
    for spec in layers:
        spec.calls = [[TensorRef(previous)]]
        specs.append(spec)
        previous = spec.name
    return GraphSpec(name, specs, [TensorRef("input")], [TensorRef(previous)], {"input": input_shape})


def multi_input(input_shapes: dict[str, tuple], spec: LayerSpec, name: str = "model") -> GraphSpec:
    """One layer called on several inputs, in the order given."""
    specs = [LayerSpec(n, "InputLayer", {"name": n}) for n in input_shapes]
    spec.calls = [[TensorRef(n) for n in input_shapes]]
    specs.append(spec)
    return GraphSpec(name, specs, [TensorRef(n) for n in input_shapes], [TensorRef(spec.name)],
                     dict(input_shapes))


def nested(graph: GraphSpec, name: str) -> LayerSpec:
    """A model used as a layer (a backbone)."""
    return LayerSpec(name, "Functional", {"name": name}, graph=graph)
