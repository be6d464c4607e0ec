"""Pass 2: groups -> GraphSpec, in data order, with the logical (channels-last) shape of each output."""
from __future__ import annotations

import math
from dataclasses import replace
import re

from ..errors import InputError
from ..ir import GraphSpec, LayerSpec, TensorRef
from ..shapes import ShapeError, output_shapes
from .onnx_graph import OnnxGraph
from .onnx_groups import CHANNELS_FIRST_KINDS, WEIGHTED, Group, Grouper
from .onnx_layers import Mapped, map_group, plan, unknown
from lrcn_advisor.vocabulary import fmt_shape

ADAPTER_SUFFIX = {"Flatten": "flatten", "Reshape": "reshape", "Lambda": "reshape"}


class Builder:
    def __init__(self, view: OnnxGraph, grouper: Grouper):
        self.view = view
        self.grouper = grouper
        self.groups = grouper.groups
        self.layers: list[LayerSpec] = []
        self.names: set[str] = set()
        self.suffixes: dict[str, int] = {}
        self.out: dict[int, tuple[str, tuple]] = {}  # group id -> (layer name, logical output shape)
        self.owner: dict[str, str] = {}              # initialiser -> the layer that counts it
        self.input_shapes: dict[str, tuple] = {}
        self.notes: list[str] = []
        self.first_user: dict[int, Group] = {}
        for group in self.groups:
            for source in group.inputs:
                self.first_user.setdefault(source, group)
        self.zero_biases_dropped = _zero_biases_dropped(view, self.groups)
        if self.zero_biases_dropped:
            self.notes.append("no Conv or Dense layer has a bias in the file: tf2onnx drops all-zero biases, so "
                              "this looks like an untrained export; its layers are read with Keras' default "
                              "use_bias=True and the missing biases are in params_delta_vs_keras (if the model "
                              "really has use_bias=False, the Keras count is that much lower)")

    def build(self) -> GraphSpec:
        for group in self.groups:
            if group.alias is None:
                (self._input if group.kind == "input" else self._layer)(group)
        outputs = list(dict.fromkeys(self._resolve(g) for g in self.grouper.outputs))
        inputs = [TensorRef(self.out[g.id][0]) for g in self.groups if g.kind == "input"]
        name = self.view.graph.name or "onnx_model"
        return GraphSpec(name, self.layers, inputs, [TensorRef(self.out[g][0]) for g in outputs],
                         self.input_shapes)

    def _resolve(self, group_id: int) -> int:
        alias = self.groups[group_id].alias
        return group_id if alias is None else alias

    def _unique(self, name: str) -> str:
        name = re.sub(r"\s+", "_", name.strip("/")) or "layer"
        candidate = name
        while candidate in self.names:
            self.suffixes[name] = self.suffixes.get(name, 1) + 1
            candidate = f"{name}_{self.suffixes[name]}"
        self.names.add(candidate)
        return candidate

    # ---- inputs ------------------------------------------------------------------

    def _input(self, group: Group) -> None:
        shape = self.view.shape(group.data)
        if shape is None:
            raise InputError(f"model input {group.data!r} is not a tensor with a known rank")
        rest = self._channels_last_input(group, tuple(shape[1:]))
        name = self._unique(group.data)
        self.layers.append(LayerSpec(name, "InputLayer", {"name": name, "batch_shape": [None, *rest]}))
        self.input_shapes[name] = (None, *rest)
        self.out[group.id] = (name, (None, *rest))

    def _channels_last_input(self, group: Group, rest: tuple) -> tuple:
        """Present a channels-first input (PyTorch's N,T,C,H,W) channels last, as Keras would."""
        user = self.first_user.get(group.id)
        if user is None or user.kind not in CHANNELS_FIRST_KINDS:
            return rest
        physical = self.view.shape(user.data)
        if not physical or len(physical) < 3 or len(rest) < len(physical) - 1:
            return rest
        item = tuple(physical[1:])
        logical = (*item[1:], item[0])
        if rest[len(rest) - len(item):] != item or logical == item:
            return rest
        permuted = (*rest[:len(rest) - len(item)], *logical)
        self.notes.append(f"input {group.data!r} is channels-first {fmt_shape(rest)} in the file; shown channels-last "
                          f"{fmt_shape(permuted)} like a Keras model")
        return permuted

    # ---- layers ------------------------------------------------------------------

    def _layer(self, group: Group) -> None:
        mapped = map_group(group, self.view)
        if self.zero_biases_dropped:
            user = self.first_user.get(group.id)
            _restore_dropped_zeros(group, mapped, mapped.folded_norm or (user is not None and user.kind in NORMS))
        sources = [self.out[self._resolve(i)] for i in group.inputs]
        name = self._unique(group.name)
        notes, params = list(mapped.notes), None
        if group.kind == "unknown":
            held = sum(self._sizes([group]).get(w, 0) for w in group.weights)
            notes += [f"holds {held:,} initializer values, not counted"] if held else []
            declared = self._inferred_output(group, sources)
            if declared is not None:  # the file's own shape inference settles what comes next
                mapped = replace(mapped, config={**mapped.config, "output_shape": declared})
        else:
            params, shared = self._params(group, name)
            notes += shared
        shift = 0
        if mapped.norm_shift and params is not None:  # counted with the BatchNorm it belongs to
            shift = self.view.elements(mapped.norm_shift) or 0
            params -= shift
        if mapped.mode == "any":
            self.out[group.id] = self._add(group, name, mapped.class_name, mapped.config, sources, False,
                                           params, notes)
            return
        current = sources[0]
        td, adapters = plan(current[1][1:], mapped.need, self._items(group, mapped), mapped.mode)
        for class_name, config, wrapped in adapters:
            note = f"stands for ONNX ops that reshape {fmt_shape(current[1])} to the input of {name!r}" \
                if class_name == "Lambda" else ""
            current = self._add(group, self._unique(f"{name}_{ADAPTER_SUFFIX.get(class_name, 'pad')}"),
                                 class_name, config, [current], wrapped, None, [note] if note else [])
        for class_name, config in mapped.before:
            current = self._add(group, self._unique(f"{name}_pad"), class_name, config, [current], td, None, [])
        self.out[group.id] = self._add(group, name, mapped.class_name, mapped.config, [current], td, params,
                                       notes, bidirectional=mapped.bidirectional)
        if mapped.folded_norm:  # the Keras BatchNorm after it, its 4C values folded away (but a shift)
            note = f"folded into {name!r} by the exporter: its parameters are gone (params_delta_vs_keras)"
            if shift:
                note = (f"folded into {name!r} by the exporter: only its shift is left, as the bias of "
                        f"{name!r} ({shift:,} values, counted here)")
            self.out[group.id] = self._add(group, self._unique(f"{name}_batchnorm"), "BatchNormalization",
                                           {"axis": -1, "center": True, "scale": True}, [self.out[group.id]],
                                           td, shift, [note])

    def _items(self, group: Group, mapped: Mapped) -> int | None:
        """How many `need`-sized items per sample the file feeds the group (all its copies)."""
        need = mapped.need
        if group.elements is None or not need or None in need or mapped.mode == "sequence":
            return None
        size = math.prod(need)
        return group.elements // size if size and group.elements % size == 0 else None

    def _sizes(self, members: list[Group]) -> dict[str, int]:
        """Element counts of the groups' weights (loop bodies keep some initialisers of their own)."""
        sizes = {}
        for group in members:
            local = getattr(group.info, "local_sizes", None) or {}
            for weight in (*group.weights, *group.folded):
                sizes[weight] = local.get(weight) or self.view.elements(weight) or 0
        return sizes

    def _params(self, group: Group, name: str) -> tuple[int, list[str]]:
        """Elements of every initialiser the group uses. One the exporter shares between layers (a
        deduplicated constant, a reused layer) is counted for each layer that uses it, as Keras counts
        each layer's own weights."""
        members = [group] + ([self.groups[group.partner]] if group.partner is not None else [])
        sizes = self._sizes(members)
        shared = set()
        for weight in sizes:
            owner = self.owner.setdefault(weight, name)
            if owner != name:
                shared.add(owner)
        note = [f"uses initializers also used by {', '.join(sorted(shared))} (counted for each layer)"] \
            if shared else []
        return sum(sizes.values()), note

    def _inferred_output(self, group: Group, sources: list[tuple[str, tuple]]) -> list | None:
        """An unknown op's output shape as ONNX shape inference gives it, when its input is laid out as here."""
        if group.node is None or not group.node.output or not sources:
            return None
        given, made = self.view.shape(group.data), self.view.shape(group.node.output[0])
        if not given or not made or None in made[1:] or tuple(given[1:]) != tuple(sources[0][1][1:]):
            return None
        return list(made[1:])

    def _add(self, group: Group, name: str, class_name: str, config: dict, inputs: list[tuple[str, tuple]],
             time_distributed: bool, params: int | None, notes: list[str], bidirectional: bool = False):
        spec = _spec(name, class_name, config, inputs, time_distributed, bidirectional)
        spec.params_counted, spec.note = params, "; ".join(notes)
        shapes = [shape for _, shape in inputs]
        try:
            outputs = output_shapes(spec, shapes)
        except ShapeError as error:
            fallback = unknown(group, f"could not be read as {class_name}: {error}")
            spec = _spec(name, fallback.class_name, {}, inputs, False, False)
            spec.note = fallback.notes[0]
            outputs = output_shapes(spec, shapes)
        self.layers.append(spec)
        return name, outputs[0]


NORMS = ("norm", "affine")


def _has_bias(group: Group) -> bool:
    node = group.node
    return bool(group.folded) or (node.op_type in ("Conv", "ConvTranspose", "Gemm") and len(node.input) > 2
                                  and bool(node.input[2]))


def _zero_biases_dropped(view: OnnxGraph, groups: list[Group]) -> bool:
    """tf2onnx leaves out an all-zero bias (and an all-zero BatchNorm shift); when no Conv/Dense layer
    has a bias at all, the weights are most likely freshly initialised rather than use_bias=False."""
    weighted = [g for g in groups if g.kind in WEIGHTED]
    return "tf2onnx" in view.model.producer_name and bool(weighted) and not any(map(_has_bias, weighted))


def _restore_dropped_zeros(group: Group, mapped: Mapped, before_norm: bool) -> None:
    """Read a layer of an export without biases as Keras' default (bias, BatchNorm shift present),
    except a Conv/Dense feeding a BatchNorm, which by the usual idiom has none (the shift replaces it)."""
    config = mapped.config
    restored = ""
    if group.kind in WEIGHTED and config.get("use_bias") is False and before_norm:
        mapped.notes.append("no bias in the file; read as use_bias=False, the idiom before a BatchNorm "
                            "(tf2onnx also drops an all-zero bias: with one, Keras counts "
                            f"{config.get('filters') or config.get('units')} more)")
    elif group.kind in WEIGHTED and config.get("use_bias") is False:
        config["use_bias"], restored = True, "bias"
    elif group.kind == "affine" and config.get("center") is False:
        config["center"], restored = True, "BatchNorm shift (beta)"
    elif group.kind == "recurrent" and config.get("use_bias") is False:
        config["use_bias"], restored = True, "bias"
        if mapped.class_name == "GRU":
            config["reset_after"] = True
    if restored:
        mapped.notes.append(f"no {restored} in the file (tf2onnx drops all-zero values): read as Keras' "
                            "default, not counted here")


def _spec(name: str, class_name: str, config: dict, inputs, time_distributed: bool,
          bidirectional: bool) -> LayerSpec:
    inner = LayerSpec(name, class_name, {"name": name, **config})
    if time_distributed:
        spec = LayerSpec(name, "TimeDistributed", {"name": name}, wrapped=inner)
    elif bidirectional:
        spec = LayerSpec(name, "Bidirectional", {"name": name, "merge_mode": "concat"}, wrapped=inner)
    else:
        spec = inner
    spec.calls = [[TensorRef(source) for source, _ in inputs]]
    return spec


