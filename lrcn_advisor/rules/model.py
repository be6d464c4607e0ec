"""Whole-model rules: the time axis, the output layer, and numbers we cannot count."""
from __future__ import annotations

from lrcn_advisor import edits

from .base import CheckContext, Hit, rule
from lrcn_advisor.ir_view import before_recurrent, consumers, dense_before, output_layers, recurrent_layers
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
    for layer in before_recurrent(ir):
        if layer.inner_kind_class != "RepeatVector" or not recurrent_layers(ir):
            continue
        merged = _time_merged_before(ir, layer)
        if merged is not None:
            yield Hit([layer.name], f"`{merged.name}` flattens the clip {fmt_shape(merged.input_shape)} into one "
                                    f"vector and `{layer.name}` repeats it: the recurrent layer sees "
                                    f"{layer.config.get('n')} copies of the same input",
                      f"remove `{layer.name}` and use TimeDistributed(Flatten()) at `{merged.name}`",
                      {"input_shape": list(merged.input_shape), "repeats": layer.config.get("n")},
                      edits.chain(f"keep the time axis at `{merged.name}`",
                                  edits.remove_layers([layer.name], ""),
                                  edits.wrap_time_distributed(merged.name, "")))
            return
    for layer in recurrent_layers(ir):
        steps = layer.input_shape[1] if len(layer.input_shape) >= 3 else None
        if steps == 1:
            yield Hit([layer.name], f"`{layer.name}` receives a sequence of length 1 although the input has "
                                    f"{ir.frames} frames",
                      "keep the time axis: use TimeDistributed per-frame layers and no Reshape that merges time",
                      {"steps": 1, "frames": ir.frames})
            return



def _time_merged_before(ir, layer):
    """A Flatten without TimeDistributed over a clip, upstream of `layer`."""
    by_name = {l.name: l for l in ir.layers}
    current = by_name.get(layer.inputs[0]) if layer.inputs else None
    for _ in range(8):
        if current is None:
            return None
        if current.inner_kind_class == "Flatten" and not current.time_distributed and len(current.input_shape) >= 3:
            return current
        if current.kind not in ("dropout", "activation", "norm", "dense") or len(current.inputs) != 1:
            return None
        current = by_name.get(current.inputs[0])
    return None


@rule(id="MDL006", name="single-frame-clips", title="The clip has one frame: a per-frame classifier",
      section="model", severity="error", guide=GUIDE,
      rationale="""An LRCN's recurrent stage learns how frames change; with a time length of 1 it
      runs one step on one frame, so the model is an image classifier with an expensive Dense layer
      (the LSTM) on top. No motion can be learned, whatever the recurrent stage's size.""",
      fix="Feed clips of several frames (e.g. Input((16, H, W, C))), or drop the recurrent layer if "
          "single images are intended.",
      example="""Input((1, 64, 64, 3)) -> TimeDistributed CNN -> LSTM(64) -> Dense.""")
def single_frame_clips(ctx: CheckContext):
    ir = ctx.ir
    recurrent = recurrent_layers(ir)
    if ir.frames != 1 or not recurrent or ir.frames_source != "file":
        return
    yield Hit([recurrent[0].name], f"the input has 1 frame per clip, so `{recurrent[0].name}` runs a single "
                                   "step: the model classifies one frame",
              "feed clips of several frames (e.g. 16)", {"frames": 1},
              edits.set_frames(16, "16 frames per clip"))


def output_activation(ir):
    """(output layer, its Dense, the activation applied) for each model output."""
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
    for output, dense, activation in output_activation(ir):
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
    loss = loss_name(ir)
    if loss is not None:
        return  # the loss says what the head is for (MDL007 checks the pair)
    for output, dense, activation in output_activation(ir):
        units = dense.config.get("units") or 0
        if activation == "sigmoid" and units > 1:
            yield Hit([output.name], f"`{output.name}` applies sigmoid to {units} units (multi-label output); "
                                     "the loss is unknown (the file has no compile config)",
                      f"use softmax at `{dense.name}` if the classes are mutually exclusive", {"units": units,
                                                                                                 "loss": None},
                      edits.set_config(dense.name, f"softmax at `{dense.name}`", activation="softmax")
                      if output is dense else None)


def loss_name(ir) -> str | None:
    """The compiled loss, as a snake_case name (None when the file has no compile config)."""
    model = ir.model
    return getattr(model, "loss", None) if model is not None else None


CATEGORICAL = {"categorical_crossentropy", "sparse_categorical_crossentropy", "categorical_focal_crossentropy",
               "kl_divergence", "kullback_leibler_divergence"}
BINARY = {"binary_crossentropy", "binary_focal_crossentropy"}


@rule(id="MDL007", name="loss-activation-mismatch", title="The loss does not fit the output activation",
      section="model", severity="error", guide=GUIDE,
      rationale="""Categorical cross-entropy assumes the outputs are one probability distribution;
      after independent sigmoids they are not, so the loss ignores how the scores relate and the
      gradients push every class up together. Binary cross-entropy after a softmax over several
      classes treats dependent outputs as independent labels. The file's compile config records the
      loss, so the pair can be checked; sigmoid with binary cross-entropy over several units is a
      legitimate multi-label head and is not reported.""",
      fix="Use softmax with categorical cross-entropy (single-label), or sigmoid with binary "
          "cross-entropy (multi-label).",
      example="""Dense(10, activation='sigmoid') compiled with loss='categorical_crossentropy'.""")
def loss_activation_mismatch(ctx: CheckContext):
    ir = ctx.ir
    loss = loss_name(ir)
    if loss is None:
        return
    for output, dense, activation in output_activation(ir):
        units = dense.config.get("units") or 0
        if activation == "sigmoid" and loss in CATEGORICAL:
            yield Hit([output.name], f"`{output.name}` applies sigmoid to {units} unit(s) but the loss is {loss}",
                      f"use softmax at `{dense.name}` (single-label) or binary_crossentropy (multi-label)",
                      {"units": units, "activation": activation, "loss": loss},
                      edits.set_config(dense.name, f"softmax at `{dense.name}`", activation="softmax")
                      if output is dense and units > 1 else None)
        elif activation == "softmax" and units > 1 and loss in BINARY:
            yield Hit([output.name], f"`{output.name}` applies softmax to {units} units but the loss is {loss}",
                      f"use categorical_crossentropy, or sigmoid at `{dense.name}` for multi-label outputs",
                      {"units": units, "activation": activation, "loss": loss})


@rule(id="MDL004", name="incomplete-numbers", title="Unknown or opaque layers make the numbers incomplete",
      section="model", severity="warning", guide=GUIDE,
      rationale="""A Lambda layer, a custom class or an unrecognised ONNX subgraph is never executed,
      so its parameters and MACs are not counted and its output shape is taken from the file or
      assumed. Totals, shares and any rule that depends on them may be off.""",
      fix="Replace Lambda/custom layers by built-in layers where possible; otherwise read totals as lower bounds.",
      example="""Lambda(lambda x: x / 255.0) or a custom AttentionPooling layer.""")
def incomplete_numbers(ctx: CheckContext):
    ir, opts = ctx.ir, ctx.options
    groups: dict[tuple[str, str], list] = {}
    uncounted = [layer.name for layer in _walk(ir.layers) if not layer.params_exact]
    for layer in _walk(ir.layers):
        if layer.status in ("unknown", "opaque") and layer.params_exact:  # the opaque layers themselves
            groups.setdefault((layer.inner_kind_class, layer.status), []).append(layer)
    for (class_name, status), layers in groups.items():  # one finding per design, not per layer
        note = layers[0].note
        names = ", ".join(f"`{l.name}`" for l in layers[:4]) + (", …" if len(layers) > 4 else "")
        what = f"{names} ({class_name}) {'is' if len(layers) == 1 else 'are'} {status}"
        after = (f"; {len(uncounted)} layer(s) after it have no shape in the file and are not counted"
                 if uncounted else "")
        yield Hit([l.name for l in layers], f"{what}: {note}{after}",
                  "replace it by built-in layers, or treat the totals as lower bounds",
                  {"status": status, "class": class_name, "count": len(layers), "uncounted_layers": len(uncounted)})


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
