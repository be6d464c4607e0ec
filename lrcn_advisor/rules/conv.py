"""Conv2D rules (guide section 1: convolutional layers)."""
from __future__ import annotations

from lrcn_advisor import edits

from .base import CheckContext, Hit, Option, rule
from .dropout import has_dropout
from lrcn_advisor.ir_view import before_recurrent, feature_stack, fmt_int, fmt_macs, frame_hw, pair, pct, share, side

GUIDE = "1. Conv2D layer (convolutional layer)"
REGULARISERS = {"Dropout", "SpatialDropout2D", "SpatialDropout3D", "GaussianDropout", "GaussianNoise",
                "BatchNormalization", "LayerNormalization", "GroupNormalization", "AlphaDropout"}


@rule(id="CNV001", name="conv-dominates-compute", title="One convolution dominates compute on large frames",
      section="conv", severity="warning", guide=GUIDE, probe="cost",
      options=(Option("max_share", 0.5, "share of the model's MACs one convolution may take"),
               Option("min_frame_side", 112, "frames at least this big (shorter side) count as large"),
               Option("min_frame_macs", 25_000_000, "the convolution's MACs per frame must reach this to matter"),
               Option("collapse_side", 2, "never suggest a stride that leaves a final map this small (POL001)")),
      rationale="""A convolution's cost is output pixels x kernel x input channels x filters, paid
      once per frame. On large frames a full-resolution convolution early in the stack can cost more
      than the rest of the network together; the guide lists computational expense on large images
      as the Conv2D layer's main drawback.""",
      fix="Give the convolution stride 2 (or pool before it), or use fewer filters at full resolution.",
      example="""TimeDistributed(Conv2D(64, 3, padding='same')) on 224x224 frames: 1.9 GMACs per frame.""")
def conv_dominates_compute(ctx: CheckContext):
    ir, opts = ctx.ir, ctx.options
    frame = frame_hw(ir)
    if not frame or min(frame) < opts["min_frame_side"] or not ir.macs:
        return
    stack = feature_stack(ir)
    for layer in ir.layers:
        if layer.kind != "conv":
            continue
        fraction = share(layer.macs, ir.macs)
        per_frame = layer.macs // (layer.frames or 1) if layer.time_distributed else layer.macs // (ir.frames or 1)
        if fraction <= opts["max_share"] or per_frame < opts["min_frame_macs"]:
            continue
        stride = pair(layer.config.get("strides"))
        evidence = {"share": round(fraction, 4), "macs": layer.macs, "macs_per_frame": per_frame,
                    "frame": list(frame)}
        message = (f"`{layer.name}` does {pct(fraction)} of the model's MACs ({fmt_macs(per_frame)} per frame, "
                   f"{fmt_macs(layer.macs)} per clip) on {side(frame)} frames")
        filters = int(layer.config.get("filters") or 0)
        fewer = edits.set_config(layer.name, f"filters {filters} -> {filters // 2} at `{layer.name}`",
                                 filters=max(1, filters // 2)) if filters > 1 else None
        fewer_fix = f"use {filters // 2} filters instead of {filters} at `{layer.name}`"
        # A stride that would collapse the final map contradicts POL001: offer fewer filters only.
        collapses = stack.final_hw is not None and max(stack.final_hw) // 2 <= opts["collapse_side"]
        if collapses:
            if fewer is not None:
                yield Hit([layer.name], message, fewer_fix, evidence, fewer)
            continue
        edit = edits.set_config(layer.name, f"stride {stride[0]} -> {stride[0] * 2} at `{layer.name}`",
                                strides=[stride[0] * 2, stride[1] * 2])
        yield Hit([layer.name], message, f"use strides={stride[0] * 2} at `{layer.name}` (or pool before it)",
                  evidence, edit, alternatives=[(fewer_fix, fewer)] if fewer is not None else [])


@rule(id="CNV002", name="shallow-conv-stack", title="Too few conv layers for the frame size",
      section="conv", severity="warning", guide=GUIDE, probe="conv-depth",
      options=(Option("min_rf_fraction", 0.3, "receptive field at the flatten point, as a fraction of the frame side"),),
      rationale="""Each convolution sees a small window; only a stack of them (with pooling) builds
      features that span objects and scenes. If the receptive field where features are flattened
      covers a small part of the frame, each feature describes a small patch and the LSTM gets
      texture, not content. The guide: Conv2D needs multiple layers to capture complex patterns.""",
      fix="Add a conv block (Conv2D 3x3 + pooling) before the features are flattened.",
      example="""One Conv2D(3x3) and MaxPooling2D(2) on 112x112 frames: each feature sees 4x4 pixels.""")
def shallow_conv_stack(ctx: CheckContext):
    ir, opts = ctx.ir, ctx.options
    stack = feature_stack(ir)
    frame = frame_hw(ir)
    if stack.has_backbone or not stack.convs or not frame or stack.last_spatial is None:
        return
    fraction = stack.receptive_field / min(frame)
    if fraction >= opts["min_rf_fraction"]:
        return
    last_conv = stack.convs[-1]
    filters = int(last_conv.config.get("filters") or 32)
    hw = stack.final_hw
    anchor = stack.last_spatial.name
    conv = edits.time_distributed(f"{anchor}_extra_conv", "Conv2D", filters=filters * 2, kernel_size=[3, 3],
                                  padding="same", activation="relu")
    steps = [edits.insert_after(anchor, conv, "")]
    if hw and min(hw) >= 8:
        pool = edits.time_distributed(f"{anchor}_extra_pool", "MaxPooling2D", pool_size=[2, 2], strides=[2, 2])
        steps.append(edits.insert_after(conv.name, pool, ""))
    yield Hit([last_conv.name],
              f"the receptive field where features leave the conv stack is {stack.receptive_field} px, "
              f"{pct(fraction)} of the {side(frame)} frame ({len(stack.convs)} conv layer(s))",
              f"add a conv block (Conv2D({filters * 2}, 3x3) + MaxPooling2D(2)) after `{anchor}`",
              {"receptive_field": stack.receptive_field, "fraction": round(fraction, 3),
               "conv_layers": len(stack.convs)},
              edits.chain(f"add a conv block after `{anchor}`", *steps))


@rule(id="CNV003", name="deep-conv-unregularised", title="Deep conv stack without regularisation",
      section="conv", severity="warning", guide=GUIDE, probe="dropout-presence",
      options=(Option("min_conv_layers", 4, "conv stacks this deep need regularisation"),),
      rationale="""Every conv layer adds capacity; the guide warns that more Conv2D layers raise the
      overfitting risk if not regularised and need more data. A deep per-frame stack with no
      dropout, normalisation or weight decay memorises a small video dataset quickly.""",
      fix="Add BatchNormalization after the convolutions and TimeDistributed(Dropout(0.25)) after "
          "pooling, or a kernel_regularizer.",
      example="""Six TimeDistributed Conv2D layers, no BatchNormalization, Dropout or L2.""")
def deep_conv_unregularised(ctx: CheckContext):
    ir, opts = ctx.ir, ctx.options
    stack = feature_stack(ir)
    if len(stack.convs) < opts["min_conv_layers"] or not ir.dropout_visible:
        return
    front = before_recurrent(ir)
    if any(layer.inner_kind_class in REGULARISERS for layer in front) or has_dropout(ir):
        return
    if any(layer.config.get("kernel_regularizer") for layer in stack.convs):
        return
    if not any(layer.trainable_params for layer in stack.convs):
        return  # a frozen (pretrained) stack cannot overfit
    anchor = stack.last_spatial.name
    drop = edits.time_distributed(f"{anchor}_dropout", "Dropout", rate=0.25)
    yield Hit([layer.name for layer in stack.convs],
              f"{len(stack.convs)} conv layers with no dropout, normalisation or weight decay",
              f"add TimeDistributed(Dropout(0.25)) after `{anchor}` and BatchNormalization after the convolutions",
              {"conv_layers": len(stack.convs)},
              edits.insert_after(anchor, drop, f"add TimeDistributed(Dropout(0.25)) after `{anchor}`"))


@rule(id="CNV004", name="params-exceed-data", title="Far more parameters than training clips",
      section="conv", severity="warning", guide=GUIDE, probe="conv-depth",
      options=(Option("max_params_per_sample", 1000, "trainable parameters per training clip"),),
      rationale="""The guide's closing advice: more Conv2D layers extract deeper features but need
      more data. Trained from scratch, a model with thousands of parameters per training clip fits
      the clips rather than the actions. Only runs when --train-samples says how big the dataset is.""",
      fix="Use fewer filters or conv layers, a pretrained (frozen) backbone, or more data/augmentation.",
      example="""5M trainable parameters for 1,500 training clips: 3,333 per clip.""")
def params_exceed_data(ctx: CheckContext):
    ir, opts = ctx.ir, ctx.options
    samples = opts.get("train_samples")
    if not samples:
        return
    ratio = ir.trainable_params / samples
    if ratio <= opts["max_params_per_sample"]:
        return
    stack = feature_stack(ir)
    steps = [edits.set_config(c.name, "", filters=max(1, int(c.config.get("filters") or 2) // 2))
             for c in stack.convs if c.config.get("filters")]
    edit = edits.chain("halve the conv filters", *steps) if steps else None
    yield Hit([c.name for c in stack.convs] or [ir.layers[-1].name],
              f"{fmt_int(ir.trainable_params)} trainable parameters for {fmt_int(samples)} training clips "
              f"({ratio:,.0f} per clip)",
              "halve the conv filters, or freeze a pretrained backbone" if edit else "use a smaller model",
              {"trainable_params": ir.trainable_params, "train_samples": samples, "per_sample": round(ratio, 1)},
              edit)
