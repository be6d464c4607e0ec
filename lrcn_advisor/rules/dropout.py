"""Dropout rules (guide section 3: dropout layer)."""
from __future__ import annotations

from lrcn_advisor import edits

from .base import CheckContext, Hit, Option, rule
from lrcn_advisor.ir_view import before_recurrent, dense_before, fmt_int, output_layers, recurrent_layers

GUIDE = "3. Dropout layer (regularisation technique)"
RATE_CLASSES = {"Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianDropout",
                "AlphaDropout"}
BALANCED = "0.4-0.5 is the guide's balanced range"


def dropout_layers(ir):
    return [layer for layer in ir.layers if layer.inner_kind_class in RATE_CLASSES]


def _rate(layer) -> float:
    return float(layer.config.get("rate") or 0.0)


@rule(id="DRP001", name="dropout-too-high", title="Dropout rate above 0.6",
      section="dropout", severity="warning", guide=GUIDE, probe="dropout-rate",
      options=(Option("max_rate", 0.6, "rates above this make learning unstable"),
               Option("suggested_rate", 0.5, "the rate the fix proposes")),
      rationale="""Dropout zeroes a random fraction of activations each step. Above about 0.6 so
      much signal is removed that gradients become noisy and the network underfits: the guide
      says a high rate can make learning unstable and lose too much information. 0.4-0.5 is the
      balance between generalisation and feature retention.""",
      fix="Lower the rate to 0.4-0.5 (0.1-0.3 if the dataset is large).",
      example="""TimeDistributed(Dropout(0.8)) after a conv block: four of five activations are dropped.""")
def dropout_too_high(ctx: CheckContext):
    ir, opts = ctx.ir, ctx.options
    for layer in dropout_layers(ir):
        rate = _rate(layer)
        if rate > opts["max_rate"]:
            new = opts["suggested_rate"]
            yield Hit([layer.name], f"`{layer.name}` drops {rate:g} of its inputs (above {opts['max_rate']:g})",
                      f"set the rate at `{layer.name}` to {new:g} ({BALANCED})", {"rate": rate},
                      edits.set_config(layer.name, f"dropout {rate:g} -> {new:g} at `{layer.name}`", rate=new))
    for layer in recurrent_layers(ir):
        rate = float(layer.config.get("dropout") or 0.0)
        if rate > opts["max_rate"]:
            new = opts["suggested_rate"]
            yield Hit([layer.name], f"`{layer.name}` has input dropout {rate:g} (above {opts['max_rate']:g})",
                      f"set dropout={new:g} at `{layer.name}` ({BALANCED})", {"dropout": rate},
                      edits.set_config(layer.name, f"input dropout {rate:g} -> {new:g}", dropout=new))


@rule(id="DRP002", name="dropout-too-low", title="Dropout rate below 0.1",
      section="dropout", severity="info", guide=GUIDE, probe="dropout-rate",
      options=(Option("min_rate", 0.1, "rates below this barely regularise"),
               Option("suggested_rate", 0.3, "the rate the fix proposes")),
      rationale="""A rate under 0.1 costs a layer and a little randomness but hardly regularises.
      The guide places low dropout at 0.1-0.3 (for large datasets) and the balanced range at 0.4-0.5.""",
      fix="Raise the rate to 0.2-0.3 (large datasets) or 0.4-0.5, or remove the layer.",
      example="""TimeDistributed(Dropout(0.05)).""")
def dropout_too_low(ctx: CheckContext):
    ir, opts = ctx.ir, ctx.options
    for layer in dropout_layers(ir):
        rate = _rate(layer)
        if 0 < rate < opts["min_rate"]:
            new = opts["suggested_rate"]
            yield Hit([layer.name], f"`{layer.name}` drops only {rate:g} of its inputs",
                      f"raise the rate at `{layer.name}` to {new:g}, or remove the layer", {"rate": rate},
                      edits.set_config(layer.name, f"dropout {rate:g} -> {new:g} at `{layer.name}`", rate=new))


def has_dropout(ir) -> bool:
    return bool(dropout_layers(ir)) or any(
        float(layer.config.get("dropout") or 0) > 0 or float(layer.config.get("recurrent_dropout") or 0) > 0
        for layer in recurrent_layers(ir))


@rule(id="DRP003", name="no-dropout", title="No dropout in a model with many parameters",
      section="dropout", severity="warning", guide=GUIDE, probe="dropout-presence",
      options=(Option("min_params", 250_000, "models at least this large need regularisation"),
               Option("rate", 0.5, "the rate of the dropout layer the fix adds")),
      rationale="""Video datasets are small next to the parameter counts of even modest LRCNs, and
      consecutive frames are nearly duplicates, so the effective sample size is smaller still. The
      guide's first advantage of dropout is preventing overfitting; a large model without any
      (and without other regularisation) typically shows a wide train/validation gap.""",
      fix="Add Dropout(0.4-0.5) before the classifier and TimeDistributed(Dropout(0.25)) after conv blocks.",
      example="""Conv stack + LSTM(256) + Dense, 3M parameters, no Dropout anywhere.""")
def no_dropout(ctx: CheckContext):
    ir, opts = ctx.ir, ctx.options
    if ir.params < opts["min_params"] or has_dropout(ir):
        return
    if not ir.dropout_visible:
        yield Hit([], f"dropout is not visible in this export ({ir.format} inference graph), so this "
                      f"{fmt_int(ir.params)}-parameter model's regularisation cannot be checked",
                  "check that the training model has dropout (0.4-0.5 before the classifier)",
                  {"params": ir.params, "dropout_visible": False}, severity="info")
        return
    recurrent = recurrent_layers(ir)
    anchor = recurrent[-1] if recurrent else (before_recurrent(ir) or ir.layers)[-1]
    new = edits.plain_layer(f"{anchor.name}_dropout", "Dropout", rate=opts["rate"])
    yield Hit([anchor.name], f"no dropout anywhere in a model with {fmt_int(ir.params)} parameters",
              f"add Dropout({opts['rate']:g}) after `{anchor.name}`, and TimeDistributed(Dropout(0.25)) "
              "after the conv blocks", {"params": ir.params},
              edits.insert_after(anchor.name, new, f"add Dropout({opts['rate']:g}) after `{anchor.name}`"))


@rule(id="DRP004", name="dropout-before-output", title="Heavy dropout directly before the output layer",
      section="dropout", severity="info", guide=GUIDE, probe="dropout-rate",
      options=(Option("max_rate", 0.3, "rates above this right before the output layer are reported"),),
      rationale="""Dropout that feeds the output layer directly thins the very vector the classifier
      decides on, so the logits are noisy during training and the train/inference behaviour differs
      most there. The guide's warning that too much dropout hinders learning bites hardest at the
      last layer; regularise earlier (after the conv blocks or between recurrent layers) instead.""",
      fix="Lower the rate to 0.2-0.3 or move the dropout before the last hidden layer.",
      example="""LSTM(64) -> Dropout(0.5) -> Dense(10, softmax).""")
def dropout_before_output(ctx: CheckContext):
    ir, opts = ctx.ir, ctx.options
    by_name = {layer.name: layer for layer in ir.layers}
    for output in output_layers(ir):
        dense = dense_before(ir, output)
        if dense is None or len(dense.inputs) != 1:
            continue
        source = by_name.get(dense.inputs[0])
        if source is not None and source.inner_kind_class in RATE_CLASSES and _rate(source) > opts["max_rate"]:
            rate = _rate(source)
            yield Hit([source.name], f"`{source.name}` (rate {rate:g}) feeds the output layer `{dense.name}` directly",
                      f"lower the rate at `{source.name}` to {opts['max_rate']:g} or move it before the last hidden layer",
                      {"rate": rate, "output_layer": dense.name},
                      edits.set_config(source.name, f"dropout {rate:g} -> {opts['max_rate']:g}", rate=opts["max_rate"]))


@rule(id="DRP005", name="recurrent-dropout-slow", title="recurrent_dropout disables the fused cuDNN kernel",
      section="dropout", severity="warning", guide=GUIDE, probe="recurrent-dropout",
      rationale="""Keras runs LSTM/GRU with the fused cuDNN kernel only when recurrent_dropout is 0
      (and activations are tanh/sigmoid). With recurrent_dropout the layer falls back to a step-by-step
      loop that is often several times slower on a GPU. The guide already counts dropout's cost
      ("slows down training"); here the cost is the kernel, not the randomness.""",
      fix="Set recurrent_dropout=0 and regularise with the layer's input `dropout` or a Dropout layer "
          "between recurrent layers.",
      example="""LSTM(128, recurrent_dropout=0.2).""")
def recurrent_dropout(ctx: CheckContext):
    ir, opts = ctx.ir, ctx.options
    for layer in recurrent_layers(ir):
        rate = float(layer.config.get("recurrent_dropout") or 0.0)
        if rate > 0 and layer.inner_kind_class in ("LSTM", "GRU"):
            yield Hit([layer.name], f"`{layer.name}` uses recurrent_dropout={rate:g}, which rules out the cuDNN kernel",
                      f"set recurrent_dropout=0 at `{layer.name}` and use dropout={min(rate, 0.5):g} on its inputs",
                      {"recurrent_dropout": rate},
                      edits.set_config(layer.name, f"recurrent_dropout {rate:g} -> 0 at `{layer.name}`",
                                       recurrent_dropout=0.0, dropout=max(float(layer.config.get("dropout") or 0), min(rate, 0.5))))
