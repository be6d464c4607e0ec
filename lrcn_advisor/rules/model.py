"""Whole-model rules: the time axis, the output layer, and numbers we cannot count."""
from __future__ import annotations

from lrcn_advisor import edits

from .base import CheckContext, Hit, rule
from lrcn_advisor.ir_view import before_recurrent, dense_before, output_layers, recurrent_layers
from lrcn_advisor.vocabulary import fmt_shape

GUIDE = "LRCN structure (introduction and final thoughts)"


def _walk(layers):
    for layer in layers:
        yield layer
        yield from _walk(layer.children)


@rule(id="MDL001", name="time-axis-lost", title="The time axis is lost before the recurrent stage",
      section="model", severity="error", guide=GUIDE,
      rationale="""An LRCN applies the CNN to each frame and lets the LSTM model how frames change.
      If the frames are flattened together (Flatten without TimeDistributed on a clip) or reshaped
      into one step, the recurrent layer sees a sequence of length 1: it is an expensive Dense layer
      and all motion information is mixed into one vector.""",
      fix="Wrap per-frame layers in TimeDistributed so the time axis reaches the recurrent layer intact.",
      example="""Conv3D stack -> Flatten -> Reshape((1, -1)) -> LSTM(64): sequence length 1.""")
def time_axis_lost(ctx: CheckContext):
    ir, opts = ctx.ir, ctx.options
    clip = next((s for s in ir.input_shapes if len(s) >= 3), None)
    if clip is None or (ir.frames or 0) <= 1:
        return
    for layer in before_recurrent(ir):
        if layer.inner_kind_class == "Flatten" and not layer.time_distributed and len(layer.input_shape) >= 4 \
                and recurrent_layers(ir):
            fix_edit = edits.wrap_time_distributed(layer.name, f"TimeDistributed(Flatten) at `{layer.name}`")
            yield Hit([layer.name], f"`{layer.name}` flattens the whole clip {fmt_shape(layer.input_shape)} into one "
                                    "vector, merging all frames",
                      f"use TimeDistributed(Flatten()) at `{layer.name}`",
                      {"input_shape": list(layer.input_shape)}, fix_edit)
            return
    for layer in recurrent_layers(ir):
        steps = layer.input_shape[1] if len(layer.input_shape) >= 3 else None
        if steps == 1:
            yield Hit([layer.name], f"`{layer.name}` receives a sequence of length 1 although the input has "
                                    f"{ir.frames} frames",
                      "keep the time axis: use TimeDistributed per-frame layers and no Reshape that merges time",
                      {"steps": 1, "frames": ir.frames})
            return



def _output_dense(ir):
    for output in output_layers(ir):
        dense = dense_before(ir, output)
        if dense is None:
            continue
        activation = dense.config.get("activation")
        if output is not dense and output.kind == "activation":
            activation = output.config.get("activation") or output.inner_kind_class.lower()
        yield output, dense, activation


@rule(id="MDL002", name="softmax-single-unit", title="Softmax on a single output unit",
      section="model", severity="error", guide=GUIDE,
      rationale="""Softmax normalises across units; over one unit it always outputs 1.0, so the model
      cannot learn anything and the loss gradient is zero. Binary classification needs one sigmoid
      unit or two softmax units.""",
      fix="Use Dense(1, activation='sigmoid') with binary cross-entropy, or Dense(2, activation='softmax').",
      example="""Dense(1, activation='softmax').""")
def softmax_single_unit(ctx: CheckContext):
    ir, opts = ctx.ir, ctx.options
    for output, dense, activation in _output_dense(ir):
        if activation == "softmax" and dense.config.get("units") == 1:
            yield Hit([output.name], f"`{output.name}` applies softmax to 1 unit: its output is always 1.0",
                      f"use sigmoid at `{dense.name}` (binary) or 2 softmax units", {"units": 1},
                      edits.set_config(dense.name, f"sigmoid at `{dense.name}`", activation="sigmoid")
                      if output is dense else None)


@rule(id="MDL003", name="sigmoid-multi-unit", title="Sigmoid on several output units",
      section="model", severity="info", guide=GUIDE,
      rationale="""Independent sigmoids over several units make a multi-label classifier: scores do not
      sum to one and several classes can be 'on'. For single-label action classification softmax
      is the right output; if the task is multi-label, suppress this finding.""",
      fix="Use softmax with categorical cross-entropy for single-label classes.",
      example="""Dense(10, activation='sigmoid') for 10 mutually exclusive actions.""")
def sigmoid_multi_unit(ctx: CheckContext):
    ir, opts = ctx.ir, ctx.options
    for output, dense, activation in _output_dense(ir):
        units = dense.config.get("units") or 0
        if activation == "sigmoid" and units > 1:
            yield Hit([output.name], f"`{output.name}` applies sigmoid to {units} units (multi-label output)",
                      f"use softmax at `{dense.name}` if the classes are mutually exclusive", {"units": units},
                      edits.set_config(dense.name, f"softmax at `{dense.name}`", activation="softmax")
                      if output is dense else None)


@rule(id="MDL004", name="incomplete-numbers", title="Unknown or opaque layers make the numbers incomplete",
      section="model", severity="warning", guide=GUIDE,
      rationale="""A Lambda layer, a custom class or an unrecognised ONNX subgraph is never executed,
      so its parameters and MACs are not counted and its output shape is taken from the file or
      assumed. Totals, shares and any rule that depends on them may be off.""",
      fix="Replace Lambda/custom layers by built-in layers where possible; otherwise read totals as lower bounds.",
      example="""Lambda(lambda x: x / 255.0) or a custom AttentionPooling layer.""")
def incomplete_numbers(ctx: CheckContext):
    ir, opts = ctx.ir, ctx.options
    for layer in _walk(ir.layers):
        if layer.status in ("unknown", "opaque"):
            yield Hit([layer.name], f"`{layer.name}` ({layer.inner_kind_class}) is {layer.status}: {layer.note}",
                      "replace it by built-in layers, or treat the totals as lower bounds",
                      {"status": layer.status, "class": layer.inner_kind_class})


@rule(id="MDL005", name="unknown-time-length", title="The clip length is not fixed in the file",
      section="model", severity="info", guide=GUIDE,
      rationale="""With a None time axis the file does not say how many frames a clip has, so every
      per-clip cost (TimeDistributed layers, recurrent steps) rests on an assumed length. The
      numbers scale linearly with T.""",
      fix="Pass --frames N to cost the model at your clip length, or save it with a fixed T.",
      example="""Input(shape=(None, 64, 64, 3)).""")
def unknown_time_length(ctx: CheckContext):
    ir, opts = ctx.ir, ctx.options
    if ir.frames_source == "default":
        yield Hit([], f"the time length is None in the file; costs assume {ir.frames} frames",
                  "pass --frames N", {"assumed_frames": ir.frames})
