"""Dropout rules (guide section 3: dropout layer)."""
from __future__ import annotations

from lrcn_advisor import edits

from .base import REGISTRY, CheckContext, Hit, Option, rule
from .model import output_activation
from lrcn_advisor.ir_view import (before_recurrent, consumers, dense_before, feature_stack, fmt_int, output_layers,
                                  recurrent_layers)

GUIDE = "3. Dropout layer (regularisation technique)"
RATE_CLASSES = {"Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianDropout",
                "AlphaDropout"}
BALANCED = "0.4-0.5 is the guide's balanced range"
NORMALISERS = {"BatchNormalization", "LayerNormalization", "GroupNormalization", "UnitNormalization"}
CLASSIFIER_ACTIVATIONS = {"softmax", "sigmoid"}


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
    by_rate: dict[float, list] = {}
    for layer in dropout_layers(ir):
        if _rate(layer) > opts["max_rate"]:
            by_rate.setdefault(_rate(layer), []).append(layer)
    new = opts["suggested_rate"]
    for rate, layers in by_rate.items():  # one finding per design: every layer with this rate
        names = [layer.name for layer in layers]
        where = ", ".join(f"`{n}`" for n in names)
        steps = [edits.set_config(n, f"dropout {rate:g} -> {new:g} at `{n}`", rate=new) for n in names]
        yield Hit(names, f"{where} drop{'s' if len(names) == 1 else ''} {rate:g} of {'its' if len(names) == 1 else 'their'} "
                         f"inputs (above {opts['max_rate']:g})",
                  f"set the rate at {where} to {new:g} ({BALANCED})", {"rate": rate, "layers": len(names)},
                  steps[0] if len(steps) == 1 else edits.chain(f"dropout {rate:g} -> {new:g} at {where}", *steps))
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


def _walk(layers):
    for layer in layers:
        yield layer
        yield from _walk(layer.children)


def other_regularisation(ir) -> str:
    """BatchNorm/LayerNorm layers or weight decay, which regularise too; '' when none."""
    for layer in _walk(ir.layers):
        if layer.inner_kind_class in NORMALISERS:
            return f"normalisation (`{layer.name}`)"
        if any(layer.config.get(key) for key in ("kernel_regularizer", "recurrent_regularizer")):
            return f"weight decay (`{layer.name}`)"
    return ""


def is_classifier(ir) -> bool:
    """The model ends on a Dense with softmax/sigmoid producing one vector per clip (or per step)."""
    for output, dense, activation in output_activation(ir):
        if activation in CLASSIFIER_ACTIVATIONS and len(output.output_shape) <= 3:
            return True
    return False


@rule(id="DRP003", name="no-dropout", title="No dropout in a model with many trainable parameters",
      section="dropout", severity="warning", guide=GUIDE, probe="dropout-presence",
      options=(Option("min_params", 250_000, "models with at least this many trainable parameters need "
                                             "regularisation"),
               Option("rate", 0.5, "the rate of the dropout layer the fix adds")),
      rationale="""Video datasets are small next to the parameter counts of even modest LRCNs, and
      consecutive frames are nearly duplicates, so the effective sample size is smaller still. The
      guide's first advantage of dropout is preventing overfitting; a classifier with many trainable
      parameters and no dropout, normalisation or weight decay typically shows a wide train/validation
      gap. Frozen (pretrained) weights do not count, and models that are not classifiers (a next-frame
      generator) are left alone.""",
      fix="Add Dropout(0.4-0.5) before the classifier (and TimeDistributed(Dropout(0.25)) after the conv "
          "blocks, if there are any).",
      example="""Conv stack + LSTM(256) + Dense, 3M trainable parameters, no Dropout, BatchNorm or L2.""")
def no_dropout(ctx: CheckContext):
    ir, opts = ctx.ir, ctx.options
    if ir.trainable_params < opts["min_params"] or has_dropout(ir):
        return
    if not ir.dropout_visible:
        yield Hit([], f"dropout is not visible in this export ({ir.format} inference graph), so this "
                      f"{fmt_int(ir.trainable_params)}-trainable-parameter model's regularisation cannot be checked",
                  "check that the training model has dropout (0.4-0.5 before the classifier)",
                  {"params": ir.params, "trainable_params": ir.trainable_params, "dropout_visible": False},
                  severity="info")
        return
    if other_regularisation(ir) or not is_classifier(ir):
        return
    recurrent = recurrent_layers(ir)
    anchor = recurrent[-1] if recurrent else (before_recurrent(ir) or ir.layers)[-1]
    new = edits.plain_layer(f"{anchor.name}_dropout", "Dropout", rate=opts["rate"])
    conv_blocks = bool(feature_stack(ir).convs)
    yield Hit([anchor.name], f"no dropout, normalisation or weight decay in a classifier with "
                             f"{fmt_int(ir.trainable_params)} trainable parameters",
              f"add Dropout({opts['rate']:g}) after `{anchor.name}`"
              + (", and TimeDistributed(Dropout(0.25)) after the conv blocks" if conv_blocks else ""),
              {"params": ir.params, "trainable_params": ir.trainable_params},
              edits.insert_after(anchor.name, new, f"add Dropout({opts['rate']:g}) after `{anchor.name}`"))


@rule(id="DRP004", name="dropout-before-output", title="Heavy dropout directly before the output layer",
      section="dropout", severity="info", guide=GUIDE, probe="dropout-rate",
      options=(Option("max_rate", 0.5, "rates above this right before the output layer are reported "
                                       "(0.5 is the guide's balanced rate)"),
               Option("suggested_rate", 0.5, "the rate the fix proposes (as DRP001's, so one layer never "
                                             "gets two different rates)")),
      rationale="""Dropout that feeds the output layer directly thins the very vector the classifier
      decides on, so the logits are noisy during training and the train/inference behaviour differs
      most there. The guide calls 0.4-0.5 balanced; above that, its warning that too much dropout
      hinders learning bites hardest at the last layer. Rates above 0.6 are DRP001's.""",
      fix="Lower the rate to 0.5 or move the dropout before the last hidden layer.",
      example="""LSTM(64) -> Dropout(0.6) -> Dense(10, softmax).""")
def dropout_before_output(ctx: CheckContext):
    ir, opts = ctx.ir, ctx.options
    by_name = {layer.name: layer for layer in ir.layers}
    too_high = dropout_too_high_rate()
    for output in output_layers(ir):
        dense = dense_before(ir, output)
        if dense is None or len(dense.inputs) != 1:
            continue
        source = by_name.get(dense.inputs[0])
        if source is None or source.inner_kind_class not in RATE_CLASSES:
            continue
        rate = _rate(source)
        if rate <= opts["max_rate"] or rate > too_high:
            continue  # balanced, or DRP001's finding (which proposes the same rate)
        new = opts["suggested_rate"]
        yield Hit([source.name], f"`{source.name}` (rate {rate:g}) feeds the output layer `{dense.name}` directly",
                  f"lower the rate at `{source.name}` to {new:g} ({BALANCED}) or move it before the last hidden layer",
                  {"rate": rate, "output_layer": dense.name},
                  edits.set_config(source.name, f"dropout {rate:g} -> {new:g} at `{source.name}`", rate=new))


def dropout_too_high_rate() -> float:
    """DRP001's default limit: above it DRP001 reports the layer (and proposes the same rate)."""
    return REGISTRY["DRP001"].defaults()["max_rate"]


@rule(id="DRP005", name="recurrent-dropout-slow", title="recurrent_dropout disables the fused cuDNN kernel",
      section="dropout", severity="warning", guide=GUIDE, probe="recurrent-dropout",
      rationale="""Keras runs LSTM/GRU with the fused cuDNN kernel only when recurrent_dropout is 0
      (and activations are tanh/sigmoid). With recurrent_dropout the layer falls back to a step-by-step
      loop that is often several times slower on a GPU. Keras 3 also switches an LSTM or GRU cell with
      recurrent_dropout to its unfused implementation (one matrix product per gate instead of one for
      all gates), so a CPU step is slower too. The guide already counts dropout's cost ("slows down
      training"); here the cost is the kernel, not the randomness.""",
      fix="Set recurrent_dropout=0 and regularise with the layer's input `dropout` or a Dropout layer "
          "between recurrent layers.",
      example="""LSTM(128, recurrent_dropout=0.2).""")
def recurrent_dropout(ctx: CheckContext):
    ir, opts = ctx.ir, ctx.options
    for layer in recurrent_layers(ir):
        rate = float(layer.config.get("recurrent_dropout") or 0.0)
        if rate > 0 and layer.inner_kind_class in ("LSTM", "GRU"):
            if _upstream_dropout(ir, layer):  # a Dropout already thins the input: moving the rate would stack
                yield Hit([layer.name], f"`{layer.name}` uses recurrent_dropout={rate:g}, which rules out the "
                                        "cuDNN kernel", f"set recurrent_dropout=0 at `{layer.name}` (the Dropout "
                                        "before it already regularises its input)", {"recurrent_dropout": rate},
                          edits.set_config(layer.name, f"recurrent_dropout {rate:g} -> 0 at `{layer.name}`",
                                           recurrent_dropout=0.0))
                continue
            yield Hit([layer.name], f"`{layer.name}` uses recurrent_dropout={rate:g}, which rules out the cuDNN kernel",
                      f"set recurrent_dropout=0 at `{layer.name}` and use dropout={min(rate, 0.5):g} on its inputs",
                      {"recurrent_dropout": rate},
                      edits.set_config(layer.name, f"recurrent_dropout {rate:g} -> 0 at `{layer.name}`",
                                       recurrent_dropout=0.0, dropout=max(float(layer.config.get("dropout") or 0), min(rate, 0.5))))


def _upstream_dropout(ir, layer):
    """Dropout layers feeding `layer` directly (through activation/reshape-free paths)."""
    by_name = {l.name: l for l in ir.layers}
    found = []
    current = by_name.get(layer.inputs[0]) if len(layer.inputs) == 1 else None
    while current is not None and current.inner_kind_class in RATE_CLASSES:
        found.append(current)
        current = by_name.get(current.inputs[0]) if len(current.inputs) == 1 else None
    return found


@rule(id="DRP006", name="stacked-dropout", title="Dropout stacked on dropout",
      section="dropout", severity="warning", guide=GUIDE, probe="dropout-rate",
      options=(Option("max_rate", 0.6, "effective rates above this are reported (DRP001's limit)"),),
      rationale="""Two dropouts in a row multiply: Dropout(0.5) followed by LSTM(dropout=0.5) keeps
      half of a half, so 75% of the input is dropped, far past the guide's 'high dropout (>0.6)'
      that makes learning unstable, although each rate alone looks balanced.""",
      fix="Keep one of the two dropouts (the rate of the remaining one is then the effective rate).",
      example="""Dropout(0.5) -> LSTM(64, dropout=0.5): 75% of the LSTM's input is dropped.""")
def stacked_dropout(ctx: CheckContext):
    ir, opts = ctx.ir, ctx.options
    for layer in ir.layers:
        own = float(layer.config.get("dropout") or 0.0) if layer.kind == "recurrent" else 0.0
        if layer.kind != "recurrent" and layer.inner_kind_class not in RATE_CLASSES:
            continue
        if layer.inner_kind_class in RATE_CLASSES:
            own = _rate(layer)
            if any(c.inner_kind_class in RATE_CLASSES for c in consumers(ir, layer.name)):
                continue  # the chain is reported at its last dropout
        upstream = _upstream_dropout(ir, layer)
        if not upstream or own <= 0:
            continue
        keep = 1.0 - own
        for source in upstream:
            keep *= 1.0 - _rate(source)
        effective = 1.0 - keep
        if effective <= opts["max_rate"]:
            continue
        names = [s.name for s in reversed(upstream)] + [layer.name]
        chain = " -> ".join(f"`{n}` ({_rate(s) if s is not layer else own:g})"
                            for n, s in zip(names, [*reversed(upstream), layer]))
        if layer.kind == "recurrent":
            edit = edits.set_config(layer.name, f"dropout {own:g} -> 0 at `{layer.name}`", dropout=0.0)
            fix = f"set dropout=0 at `{layer.name}` and keep " + ", ".join(f"`{s.name}`" for s in upstream)
        else:
            edit = edits.remove_layers([layer.name], f"remove `{layer.name}`")
            fix = f"remove `{layer.name}` and keep " + ", ".join(f"`{s.name}`" for s in upstream)
        yield Hit(names, f"dropout is stacked: {chain} drop {effective:.0%} of the input together",
                  fix, {"effective_rate": round(effective, 4), "rates": [_rate(s) for s in reversed(upstream)] + [own]},
                  edit)
