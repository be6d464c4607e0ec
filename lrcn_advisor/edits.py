"""Edits of an architecture (GraphSpec), used for fixes' cost effects and probe variants.

Each edit is a pure function GraphSpec -> GraphSpec (the input is not changed).
"""
from __future__ import annotations

import copy
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from typing import Any, Callable

from .ir import GraphSpec, LayerSpec, TensorRef


@dataclass(frozen=True)
class Edit:
    """A named architecture change; `apply` returns a new GraphSpec."""

    description: str
    apply: Callable[[GraphSpec], GraphSpec] = field(compare=False)

    def __call__(self, graph: GraphSpec) -> GraphSpec:
        return self.apply(graph)


_OWNED: ContextVar[bool] = ContextVar("edits_owned", default=False)  # inside a chain that already copied


def _copy(graph: GraphSpec) -> GraphSpec:
    """A copy to change; inside a chain, the chain's own copy (one copy per chain, not one per step:
    a fix of 2,000 layers would otherwise copy the whole model 2,000 times)."""
    return graph if _OWNED.get() else editable_copy(graph)


def editable_copy(graph: GraphSpec) -> GraphSpec:
    """A copy that the edits here may change: new lists, new layer specs (and wrapped / backward
    layers) with their own top-level config dicts. What no edit changes in place is shared: config
    values, call lists (edits assign new ones), nested models. Far cheaper than a deep copy."""
    def layer(spec: LayerSpec) -> LayerSpec:
        return replace(spec, config=dict(spec.config),
                       wrapped=None if spec.wrapped is None else layer(spec.wrapped),
                       backward=None if spec.backward is None else layer(spec.backward))
    return replace(graph, layers=[layer(spec) for spec in graph.layers], inputs=list(graph.inputs),
                   outputs=list(graph.outputs), input_shapes=dict(graph.input_shapes))


def _find(graph: GraphSpec, name: str) -> LayerSpec:
    for spec in graph.layers:
        if spec.name == name:
            return spec
    raise KeyError(f"no layer {name!r}")


def _leaf(spec: LayerSpec) -> LayerSpec:
    """The layer that holds the hyper-parameters (the wrapped one for wrappers)."""
    return spec.wrapped if spec.wrapped is not None else spec


def set_config(name: str, description: str, **changes: Any) -> Edit:
    """Change hyper-parameters of layer `name` (inside its wrapper, if any)."""
    def apply(graph: GraphSpec) -> GraphSpec:
        new = _copy(graph)
        spec = _find(new, name)
        spec.params_counted = None
        _leaf(spec).config.update(changes)
        if spec.backward is not None:
            spec.backward.config.update(changes)
        return new
    return Edit(description, apply)


def replace_class(name: str, class_name: str, description: str, **changes: Any) -> Edit:
    """Swap the (wrapped) layer class of `name`, e.g. LSTM -> GRU."""
    def apply(graph: GraphSpec) -> GraphSpec:
        new = _copy(graph)
        spec = _find(new, name)
        spec.params_counted = None
        for leaf in filter(None, [_leaf(spec), spec.backward]):
            leaf.class_name = class_name
            leaf.config.update(changes)
        return new
    return Edit(description, apply)


def remove_layers(names: list[str], description: str) -> Edit:
    """Delete single-input layers, wiring their consumers to their input."""
    def apply(graph: GraphSpec) -> GraphSpec:
        new = _copy(graph)
        for name in names:
            spec = _find(new, name)
            if len(spec.calls) != 1 or len(spec.calls[0]) != 1:
                raise ValueError(f"cannot remove {name!r}: it is not a single-input layer")
            source = spec.calls[0][0]
            new.layers.remove(spec)
            for other in new.layers:
                other.calls = [[source if ref.layer == name else ref for ref in call] for call in other.calls]
            new.outputs = [source if ref.layer == name else ref for ref in new.outputs]
        return new
    return Edit(description, apply)


def insert_after(name: str, layer: LayerSpec, description: str) -> Edit:
    """Insert a single-input layer after `name` and feed its consumers from it."""
    def apply(graph: GraphSpec) -> GraphSpec:
        new = _copy(graph)
        added = copy.deepcopy(layer)
        position = [spec.name for spec in new.layers].index(name)
        source = TensorRef(name)
        for other in new.layers:
            other.calls = [[TensorRef(added.name) if ref == source else ref for ref in call]
                           for call in other.calls]
        new.outputs = [TensorRef(added.name) if ref == source else ref for ref in new.outputs]
        added.calls = [[source]]
        new.layers.insert(position + 1, added)
        return new
    return Edit(description, apply)


def chain(description: str, *edits: Edit) -> Edit:
    def apply(graph: GraphSpec) -> GraphSpec:
        if not _OWNED.get():
            graph = editable_copy(graph)
        token = _OWNED.set(True)
        try:
            for edit in edits:
                graph = edit(graph)
        finally:
            _OWNED.reset(token)
        return graph
    return Edit(description, apply)


def time_distributed(name: str, class_name: str, **config: Any) -> LayerSpec:
    """A new TimeDistributed(class_name(**config)) layer spec named `name`."""
    inner = LayerSpec(name=f"{name}_inner", class_name=class_name, config={"name": f"{name}_inner", **config})
    return LayerSpec(name=name, class_name="TimeDistributed", config={"name": name}, wrapped=inner)


def plain_layer(name: str, class_name: str, **config: Any) -> LayerSpec:
    """A new (unwrapped) layer spec named `name`."""
    return LayerSpec(name=name, class_name=class_name, config={"name": name, **config})


def set_frames(frames: int, description: str) -> Edit:
    """Change the time length of every sequence input."""
    def apply(graph: GraphSpec) -> GraphSpec:
        new = _copy(graph)
        new.input_shapes = {name: (shape[0], frames, *shape[2:]) if len(shape) >= 3 else shape
                            for name, shape in new.input_shapes.items()}
        return new
    return Edit(description, apply)


def wrap_time_distributed(name: str, description: str) -> Edit:
    """Wrap layer `name` in TimeDistributed (keeping its name and inputs)."""
    def apply(graph: GraphSpec) -> GraphSpec:
        new = _copy(graph)
        spec = _find(new, name)
        inner = LayerSpec(name=f"{name}_inner", class_name=spec.class_name, config=dict(spec.config))
        new.layers[new.layers.index(spec)] = LayerSpec(name=name, class_name="TimeDistributed",
                                                       config={"name": name}, calls=spec.calls, wrapped=inner)
        return new
    return Edit(description, apply)
