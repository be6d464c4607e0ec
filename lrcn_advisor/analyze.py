"""Architecture (GraphSpec) -> analysed ModelIR: shapes, parameters, MACs, blocks."""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field, replace

from .blocks import assign_blocks
from .cost import DEFAULT_COST_MODEL, Context, CostModel
from .errors import InputError
from .ir import GraphSpec, LayerInfo, LayerSpec, LoadedModel, ModelIR, Shape
from .layer_types import layer_type
from .shapes import (MAX_DEPTH, ShapeError, bidirectional_outputs, call_order, declared_output, initial_tensors,
                     leaf_output_shapes, nested_graph, tensor_shape, time_distributed_frames,
                     time_distributed_outputs)
from .vocabulary import DEFAULT_FRAMES, FrameSource, LayerKind, Status, fmt_shape

MAX_LAYERS = 10_000           # layers in one graph (a nested model counts separately)
MAX_LAYER_CALLS = 100_000     # layer calls evaluated in one analysis (nested models included)
MAX_DIM = 2**40               # an output dimension
MAX_COUNT = 2**90             # a layer's parameters or MACs
RECOUNT_BUDGET = 10_000       # layers re-analysed (each copied, then evaluated) recounting fixes, per model


@dataclass
class _Run(Context):
    """One analysis: the cost context plus its work counter and the nested-model memo."""

    calls: int = 0
    nested: dict = field(default_factory=dict)  # (graph id, input shapes) -> Cost


class RecountBudget:
    """Bounds the work of recounting fixes: each recount costs one evaluation per layer."""

    def __init__(self, ir: ModelIR, limit: int = RECOUNT_BUDGET):
        self.cost = max(1, sum(1 for _ in _walk(ir.layers)))
        self.left = limit
        self.limit = limit
        self.skipped = 0

    def take(self) -> bool:
        """True when one more recount fits; counts the ones that do not."""
        if self.left >= self.cost:
            self.left -= self.cost
            return True
        self.skipped += 1
        return False

    def warning(self) -> str | None:
        if not self.skipped:
            return None
        return (f"the cost of the fix is not shown for {self.skipped:,} finding(s): recounting every fix of "
                f"this {self.cost:,}-layer model would take over {self.limit:,} layer evaluations")


@dataclass
class Cost:
    """One evaluated layer call: its output shapes and counts (wrappers and nested models summed)."""

    output_shapes: list[Shape]
    params: int = 0
    non_trainable: int = 0
    macs: int = 0
    status: Status = Status.OK
    note: str = ""
    children: list[LayerInfo] = field(default_factory=list)  # LayerInfo of a nested model
    params_delta: int = 0  # the file's own count minus the Keras convention


def analyse(model: LoadedModel, *, frames: int | None = None,
            frames_source: FrameSource = FrameSource.OPTION,
            cost_model: CostModel = DEFAULT_COST_MODEL) -> ModelIR:
    """Analyse a loaded architecture. `frames` (from `frames_source`: the option or the config)
    replaces the time length of the sequence inputs; `cost_model` is the run's cost-handler table."""
    graph = model.graph
    source = FrameSource.NONE
    if frames is not None:
        graph = replace(graph, input_shapes={
            name: (s[0], frames, *s[2:]) if len(s) >= 3 else s for name, s in graph.input_shapes.items()})
        source = frames_source
    return _analyse_graph(graph, model, source, DEFAULT_FRAMES, None, cost_model)


def reanalyse(ir: ModelIR, graph: GraphSpec, cost_model: CostModel = DEFAULT_COST_MODEL) -> ModelIR:
    """Analyse an edited architecture of `ir`: its time length is the graph's own (an edit may change
    it), and every layer keeps the exporter's difference from the Keras count it had in `ir` (the
    file's own counts no longer hold once an edit changes a layer or its input)."""
    deltas = {layer.name: layer.params_delta_vs_keras for layer in ir.layers if layer.params_delta_vs_keras}
    return _analyse_graph(graph, ir.model, ir.frames_source, ir.frames or DEFAULT_FRAMES, deltas, cost_model)


def _analyse_graph(graph: GraphSpec, model: LoadedModel, source: FrameSource, default_frames: int,
                   carried_deltas: dict[str, int] | None, cost_model: CostModel) -> ModelIR:
    input_shapes = [graph.input_shapes[ref.layer] for ref in graph.inputs]
    file_frames = next((s[1] for s in input_shapes if len(s) >= 3), None)
    sequence = any(len(s) >= 3 for s in input_shapes)
    if file_frames is not None:
        frames = file_frames
        if source in (FrameSource.NONE, FrameSource.DEFAULT):
            source = FrameSource.FILE
    elif sequence:
        frames, source = default_frames, FrameSource.DEFAULT
    else:
        frames, source = None, FrameSource.NONE
    for shape in input_shapes:
        if None in shape[2:]:
            raise InputError(f"model input {fmt_shape(shape)} has an unknown size other than the time "
                             "axis; save the model with a fixed frame size")
    ctx = _Run(frames=frames or DEFAULT_FRAMES, carried_deltas=carried_deltas, cost_model=cost_model)
    layers, _ = evaluate_graph(graph, ctx)
    warnings = []
    if source == FrameSource.DEFAULT and ctx.assumed_dims:
        warnings.append(f"the time length is unknown (None) in the file; costs assume "
                        f"{frames} frames (pass --frames N to set it)")
    uncounted = [layer.name for layer in _walk(layers) if not layer.params_exact and layer.status == "ok"]
    for layer in _walk(layers):
        if layer.status != "ok":
            warnings.append(f"layer {layer.name!r} ({layer.inner_kind_class}) is {layer.status}: "
                            f"{layer.note}; totals leave it out")
    if uncounted:
        shown = ", ".join(repr(name) for name in uncounted[:4]) + (", …" if len(uncounted) > 4 else "")
        warnings.append(f"{len(uncounted)} layer(s) after an opaque layer have no shape in the file ({shown}): "
                        "their params and MACs are not counted, so the totals are lower bounds")
    return ModelIR(name=graph.name, path=model.path, format=model.format, graph=graph,
                   input_shapes=input_shapes, frames=frames, frames_source=source, layers=layers,
                   blocks=assign_blocks(layers), warnings=warnings, notes=list(model.notes),
                   keras_version=model.keras_version, dropout_visible=model.dropout_visible, model=model)


def _walk(layers: list[LayerInfo]):
    for layer in layers:
        yield layer
        yield from _walk(layer.children)


def evaluate_graph(graph: GraphSpec, ctx: Context, depth: int = 0) -> tuple[list[LayerInfo], list[Shape]]:
    """Evaluate every layer call in dependency order; return layer infos and output shapes."""
    if len(graph.layers) > MAX_LAYERS:
        raise InputError(f"model {graph.name!r} has {len(graph.layers)} layers (limit {MAX_LAYERS})")
    tensors = initial_tensors(graph)
    infos: dict[str, LayerInfo] = {}
    # tensors whose shape nothing in the file settles: (opaque origin, whether their width is known)
    assumed: dict[tuple[str, int], tuple[str, bool]] = {}
    for index, call in call_order(graph, tensors):
        spec = graph.layers[index]
        refs = spec.calls[call]
        shapes = [tensor_shape(tensors, ref, spec.name) for ref in refs]
        if not shapes:
            raise InputError(f"layer {spec.name!r} is called with no inputs")
        upstream = [assumed[(ref.layer, ref.node)] for ref in refs if (ref.layer, ref.node) in assumed]
        origin = upstream[0][0] if upstream else None
        width_known = all(known for _, known in upstream)
        hint = _shape_hint(spec, shapes, ctx, depth) if origin else None
        if hint is not None:
            shapes = hint.shapes
            producer = infos.get(refs[0].layer)
            if hint.source == "build config" and producer is not None and producer.status == "opaque":
                producer.output_shapes = [shapes[0]]  # our own record, being built: the opaque output recovered
                producer.note = f"code not executed; output shape {fmt_shape(shapes[0])} from the next layer's build config"
        if isinstance(ctx, _Run):
            ctx.calls += 1
            if ctx.calls > MAX_LAYER_CALLS:
                raise InputError(f"the model asks for over {MAX_LAYER_CALLS:,} layer evaluations (nested models "
                                 "called many times, or too many layers); it is not analysed")
        try:
            result, kind, inner = evaluate_layer(spec, shapes, ctx, depth)
        except ShapeError as error:
            if origin is None:
                raise InputError(f"layer {spec.name!r} ({spec.class_name}): {error}") from None
            result, kind, inner = _unknown(spec, shapes), LayerKind.UNKNOWN, None
        except (TypeError, ValueError, OverflowError) as error:  # a config value of the wrong type or size
            raise InputError(f"layer {spec.name!r} ({spec.class_name}): a config value of the wrong type or "
                             f"size ({type(error).__name__}: {str(error)[:120]})") from None
        _check_result(spec, result)
        exact, params_exact, shape_origin = True, True, ""
        settled = hint is not None and hint.source == "build config"
        if origin is not None and not settled:
            exact = False
            if hint is not None:
                shape_origin, width_known = hint.source, True
            if not width_known and _params_free(spec):
                result.note = "; ".join(filter(None, [result.note, f"shape unknown after the opaque layer `{origin}` "
                                                      "(no parameters either way)"]))
            elif not width_known and spec.params_counted is not None:  # the file's weights settle the params
                result.note = "; ".join(filter(None, [result.note, "params from the file's weights; MACs and "
                                                      f"shape assume `{origin}` kept its input's shape"]))
            elif not width_known:  # nothing settles the input width: params and MACs unknown (counted 0)
                params_exact, shape_origin = False, "assumed"
                result = Cost(result.output_shapes, status="unknown",
                              note=f"input shape unknown after the opaque layer `{origin}`: params and MACs "
                                   "not counted (totals are lower bounds)")
            else:
                result.note = "; ".join(filter(None, [
                    result.note, ("input width from the saved weights; " if hint else "")
                    + f"params exact, MACs and shape assume `{origin}` kept its input's shape"]))
        elif settled:
            shape_origin = hint.source
            result.note = "; ".join(filter(None, [result.note, "input shape from the layer's build config"]))
        tensors[(spec.name, call)] = result.output_shapes
        if result.status != "ok" and "assumed" in result.note:  # an opaque/unknown layer guessed its output
            assumed[(spec.name, call)] = (spec.name, False)
        elif not exact:
            assumed[(spec.name, call)] = (origin, params_exact and _keeps_width(spec))
        if call == 0:
            infos[spec.name] = _info(spec, kind, inner, shapes, result, ctx)
            infos[spec.name].exact = exact
            infos[spec.name].params_exact = params_exact
            infos[spec.name].shape_origin = shape_origin
        else:
            infos[spec.name].macs += result.macs
    for spec in graph.layers:
        if spec.class_name == "InputLayer" and spec.name in graph.input_shapes:
            shape = graph.input_shapes[spec.name]
            infos[spec.name] = LayerInfo(spec.name, "InputLayer", None, LayerKind.INPUT, spec.config, [], [],
                                         [shape], 0, 0, 0)
    outputs = [tensor_shape(tensors, ref, "model output") for ref in graph.outputs]
    return [infos[spec.name] for spec in graph.layers if spec.name in infos], outputs


def _check_result(spec: LayerSpec, result: Cost) -> None:
    """Sizes a file can make absurd (UpSampling2D by 10**200): refuse them before anything formats them."""
    for shape in result.output_shapes:
        for dim in shape:
            if dim is not None and not 0 <= dim <= MAX_DIM:
                raise InputError(f"layer {spec.name!r} ({spec.class_name}): output dimension "
                                 f"{_magnitude(dim)} is out of range (limit {MAX_DIM:,}); check its size settings")
    for what, value in (("parameters", result.params), ("MACs", result.macs)):
        if not 0 <= value <= MAX_COUNT:
            raise InputError(f"layer {spec.name!r} ({spec.class_name}): {_magnitude(value)} {what} is out of "
                             "range; check its size settings")


def _magnitude(value) -> str:
    """A short spelling of a number that may have hundreds of digits."""
    if isinstance(value, int) and abs(value) >= 10**15:
        digits = len(str(abs(value)))
        return f"{'-' if value < 0 else ''}about 10^{digits - 1}"
    return f"{value:,}" if isinstance(value, int) else repr(value)[:40]


@dataclass
class _Hint:
    shapes: list[Shape]
    source: str  # "build config" | "saved weights"


WEIGHT_INPUT_AXIS = {"Dense": (2, 0), "LSTM": (2, 0), "GRU": (2, 0), "SimpleRNN": (2, 0),
                     "Conv1D": (3, 1), "Conv2D": (4, 2), "Conv3D": (5, 3)}  # kernel rank, input-width axis


WIDTH_FROM_CONFIG = ("Conv", "Dense", "LSTM", "GRU", "SimpleRNN", "ConvLSTM", "Global", "Embedding")
WIDTH_PRESERVING = ("BatchNormalization", "LayerNormalization", "Activation", "ReLU", "LeakyReLU", "ELU",
                    "Softmax", "Dropout", "SpatialDropout", "GaussianDropout", "GaussianNoise", "AlphaDropout",
                    "MaxPooling", "AveragePooling", "RepeatVector", "ZeroPadding", "Cropping", "UpSampling",
                    "Masking", "Identity")


PARAMS_FREE = ("Flatten", "Reshape", "Permute", "Activation", "ReLU", "LeakyReLU", "ELU", "Softmax", "Dropout",
               "SpatialDropout", "GaussianDropout", "GaussianNoise", "AlphaDropout", "MaxPooling", "AveragePooling",
               "Global", "RepeatVector", "ZeroPadding", "Cropping", "UpSampling", "Masking", "Identity", "Add",
               "Multiply", "Concatenate", "Average", "Maximum", "Minimum", "Subtract")


def _params_free(spec: LayerSpec) -> bool:
    leaf = spec.wrapped if spec.wrapped is not None else spec
    return spec.class_name != "Bidirectional" and leaf.class_name.startswith(PARAMS_FREE)


def _keeps_width(spec: LayerSpec) -> bool:
    """Whether the layer's output width follows from its config or its input width (not from the
    spatial/time sizes an opaque layer may have changed)."""
    leaf = spec.wrapped if spec.wrapped is not None else spec
    if spec.class_name == "Bidirectional":
        return True
    return leaf.class_name.startswith(WIDTH_FROM_CONFIG + WIDTH_PRESERVING)


def _shape_hint(spec: LayerSpec, shapes: list[Shape], ctx: Context, depth: int) -> _Hint | None:
    """The true input shape of a layer fed by an opaque layer, where the file settles it: the layer's
    build config (the whole shape), or its saved kernel (the input width; checked against the weights)."""
    if len(shapes) != 1:
        return None
    if spec.build_input_shape is not None:
        return _Hint([tuple(spec.build_input_shape)], "build config")
    leaf = spec.wrapped if spec.wrapped is not None else spec
    axis = WEIGHT_INPUT_AXIS.get(leaf.class_name)
    if not spec.weight_shapes or axis is None or not shapes[0]:
        return None
    kernel = next((s for s in spec.weight_shapes if len(s) == axis[0]), None)
    if kernel is None:
        return None
    shape = (*shapes[0][:-1], kernel[axis[1]])
    try:
        trial, _, _ = evaluate_layer(replace(spec, params_counted=None, note=""), [shape],
                                     Context(frames=ctx.frames, cost_model=ctx.cost_model), depth)
    except (ShapeError, InputError):
        return None
    saved = sum(math.prod(s) for s in spec.weight_shapes)
    return _Hint([shape], "saved weights") if trial.params == saved else None


def evaluate_layer(spec: LayerSpec, shapes: list[Shape], ctx: Context, depth: int = 0
                   ) -> tuple[Cost, LayerKind, str | None]:
    """Cost of one call of `spec`; returns (cost, kind, wrapped class)."""
    if depth > MAX_DEPTH:
        raise InputError("layers nested too deeply")
    if spec.graph is not None:
        result, kind, inner = _nested(spec, shapes, ctx, depth), LayerKind.BACKBONE, None
    elif spec.class_name == "TimeDistributed" and spec.wrapped is not None:
        result, kind, inner = _time_distributed(spec, shapes, ctx, depth)
    elif spec.class_name == "Bidirectional" and spec.wrapped is not None:
        result, kind, inner = _bidirectional(spec, shapes, ctx, depth)
    else:
        result, kind, inner = _leaf(spec, shapes, ctx), _kind(spec.class_name), None
    if spec.config.get("trainable") is False:
        result.non_trainable = result.params
    # The loader counted the file's own weights (ONNX): keep the exporter's difference from the Keras
    # count; a layer an edit changed has no count of its own and keeps the difference it had.
    if ctx.carried_deltas is not None:
        delta = ctx.carried_deltas.get(spec.name, 0) if depth == 0 else 0
    elif spec.params_counted is not None:
        delta = spec.params_counted - result.params
    else:
        delta = 0
    if delta:
        removed = max(0, -delta)  # e.g. BatchNorm statistics folded away
        result.non_trainable = max(0, result.non_trainable - removed)
        result.params += delta
        result.params_delta = delta
    if spec.note:
        result.note = "; ".join(filter(None, [result.note, spec.note]))
    return result, kind, inner


def _kind(class_name: str) -> LayerKind:
    found = layer_type(class_name)
    return found.kind if found else LayerKind.UNKNOWN


def _unknown(spec: LayerSpec, shapes: list[Shape]) -> Cost:
    declared = declared_output(spec.config)
    if declared is not None:
        return Cost([(shapes[0][0], *declared)], status=Status.UNKNOWN,
                    note=f"unknown layer class {spec.class_name!r}: params and MACs count 0; its output "
                         "shape is the one recorded in the file")
    return Cost([shapes[0]], status=Status.UNKNOWN,
                note=f"unknown layer class {spec.class_name!r}: params and MACs count 0 and its output "
                     "shape is assumed equal to its input")


def _leaf(spec: LayerSpec, shapes: list[Shape], ctx: Context) -> Cost:
    """A plain layer: its output shapes (shapes module), its parameters and MACs (the run's cost table)."""
    found = layer_type(spec.class_name)
    if found is None:
        return _unknown(spec, shapes)
    outputs = leaf_output_shapes(spec.class_name, spec.config, shapes)
    counted = ctx.cost_model.count(spec.class_name, spec.config, shapes, outputs, ctx)
    result = Cost(outputs, params=counted.params, non_trainable=counted.non_trainable, macs=counted.macs,
                  note=counted.note)
    if found.opaque:
        result.status = Status.OPAQUE
        result.note = "code not executed; output shape " + (
            "as declared in the file" if declared_output(spec.config) is not None
            else "assumed equal to its input")
    return result


def _nested(spec: LayerSpec, shapes: list[Shape], ctx: Context, depth: int) -> Cost:
    key = (id(spec.graph), tuple(shapes))
    memo = ctx.nested if isinstance(ctx, _Run) else {}
    if key not in memo:  # a nested model called k times per level is evaluated once per input shape
        graph = nested_graph(spec.graph, shapes)
        children, outputs = evaluate_graph(graph, ctx, depth + 1)
        status = Status.OK if all(c.status == Status.OK for c in children) else Status.UNKNOWN
        memo[key] = Cost(outputs, params=sum(c.params for c in children),
                         non_trainable=sum(c.non_trainable_params for c in children),
                         macs=sum(c.macs for c in children), status=status, children=children,
                         note=f"nested model {graph.name!r}, {len(children)} layers")
    return copy.deepcopy(memo[key])  # callers scale and annotate their copy


def _time_distributed(spec: LayerSpec, shapes: list[Shape], ctx: Context, depth: int):
    frame_shapes = time_distributed_frames(shapes)
    steps = shapes[0][1]
    inner, kind, _ = evaluate_layer(spec.wrapped, frame_shapes, ctx, depth + 1)
    frames = ctx.dim(steps)
    for child in _walk(inner.children):
        child.macs *= frames
    inner.output_shapes = time_distributed_outputs(steps, inner.output_shapes)
    inner.macs *= frames
    return inner, kind, spec.wrapped.class_name


def _bidirectional(spec: LayerSpec, shapes: list[Shape], ctx: Context, depth: int):
    forward, kind, _ = evaluate_layer(spec.wrapped, shapes, ctx, depth + 1)
    backward, _, _ = evaluate_layer(spec.backward or spec.wrapped, shapes, ctx, depth + 1)
    outputs = bidirectional_outputs(spec.config.get("merge_mode", "concat"),
                                    forward.output_shapes, backward.output_shapes)
    return Cost(outputs, params=forward.params + backward.params,
                non_trainable=forward.non_trainable + backward.non_trainable,
                macs=forward.macs + backward.macs, status=forward.status,
                note=forward.note), kind, spec.wrapped.class_name


def _info(spec: LayerSpec, kind: LayerKind, inner: str | None, shapes: list[Shape], result: Cost,
          ctx: Context) -> LayerInfo:
    effective = spec.wrapped.config if spec.wrapped is not None else spec.config
    calls = spec.calls[0] if spec.calls else []
    steps = None
    if spec.class_name == "TimeDistributed" or kind == "recurrent":
        steps = ctx.frames if shapes[0][1] is None else shapes[0][1]
    return LayerInfo(
        name=spec.name, class_name=spec.class_name, inner_class=inner, kind=kind,
        config=effective, inputs=[ref.layer for ref in calls], input_shapes=shapes,
        output_shapes=result.output_shapes, params=result.params,
        trainable_params=result.params - result.non_trainable, macs=result.macs,
        time_distributed=spec.class_name == "TimeDistributed", frames=steps,
        status=result.status, note=result.note, children=result.children,
        params_delta_vs_keras=result.params_delta)


def analyse_graph(graph: GraphSpec, *, frames: int | None = None,
                  cost_model: CostModel = DEFAULT_COST_MODEL) -> ModelIR:
    """Analyse an architecture built in code (tests, probe variants): no file behind it."""
    return analyse(LoadedModel(graph=graph, path="", format=""), frames=frames, cost_model=cost_model)
