"""LSTM rules (guide section 4: the recurrent stage)."""
from __future__ import annotations

from lrcn_advisor import edits

from .base import CheckContext, Hit, Option, rule
from lrcn_advisor.ir_view import (consumers, fmt_int, fmt_macs, map_source, pct, recurrent_input_features,
                                  recurrent_layers, share)

GUIDE = "4. LSTM (recurrent layer in LRCN)"
DEGENERATE_UNITS = 4
HUGE_FRAME_VECTOR = 8192  # POL005's min_features


def _stacks(ir):
    """Runs of recurrent layers that feed each other (dropout/normalisation in between allowed)."""
    by_name = {layer.name: layer for layer in ir.layers}
    stacks, seen = [], set()
    for layer in recurrent_layers(ir):
        if layer.name in seen:
            continue
        stack, current = [layer], layer
        while True:
            nxt = _next_recurrent(ir, current, by_name)
            if nxt is None:
                break
            stack.append(nxt)
            current = nxt
        seen.update(l.name for l in stack)
        stacks.append(stack)
    return stacks


def _next_recurrent(ir, layer, by_name):
    users = consumers(ir, layer.name)
    while len(users) == 1 and users[0].kind in ("dropout", "norm", "activation"):
        users = consumers(ir, users[0].name)
    if len(users) == 1 and users[0].kind == "recurrent" and \
            users[0].inner_kind_class.startswith("ConvLSTM") == layer.inner_kind_class.startswith("ConvLSTM"):
        return users[0]
    return None


@rule(id="LST001", name="deep-recurrent-stack", title="More than two stacked recurrent layers",
      section="lstm", severity="warning", guide=GUIDE, probe="lstm-depth",
      options=(Option("max_depth", 2, "stacked recurrent layers beyond this are reported"),),
      rationale="""Each stacked LSTM multiplies the path gradients travel, through depth as well as
      time; beyond two layers, on the short clips LRCNs see, the guide's warning applies: too many
      layers lead to vanishing gradients, and each one adds T x 4H(I+H) MACs and its own
      parameters. Two layers capture the temporal structure of most action datasets.""",
      fix="Keep at most two recurrent layers; widen them instead of stacking more.",
      example="""LSTM(64, return_sequences=True) x 3 -> LSTM(64) -> Dense.""")
def deep_recurrent_stack(ctx: CheckContext):
    ir, opts = ctx.ir, ctx.options
    for stack in _stacks(ir):
        if len(stack) <= opts["max_depth"]:
            continue
        keep, drop = stack[:opts["max_depth"]], stack[opts["max_depth"]:]
        last_sequences = bool(stack[-1].config.get("return_sequences"))
        edit = edits.chain(f"keep {len(keep)} of {len(stack)} recurrent layers",
                           edits.remove_layers([l.name for l in drop], ""),
                           edits.set_config(keep[-1].name, "", return_sequences=last_sequences))
        yield Hit([l.name for l in stack],
                  f"{len(stack)} stacked recurrent layers ({', '.join(f'`{l.name}`' for l in stack)})",
                  f"remove {', '.join(f'`{l.name}`' for l in drop)} and let `{keep[-1].name}` end the stack",
                  {"depth": len(stack), "recurrent_macs": sum(l.macs for l in stack)}, edit)


@rule(id="LST002", name="long-sequence", title="Long sequences make the recurrent stage costly",
      section="lstm", severity="warning", guide=GUIDE, probe="cost",
      options=(Option("max_frames", 64, "time steps above this are reported"),
               Option("suggested_frames", 32, "the clip length the fix proposes")),
      rationale="""Every time step pays the whole per-frame CNN and one recurrent step, and
      backpropagation through time keeps all T steps' activations and multiplies gradients T times.
      The guide: LSTMs are computationally expensive, especially for long sequences. Adjacent video
      frames are nearly redundant, so sampling fewer frames loses little.""",
      fix="Sample fewer frames per clip (e.g. every other frame) or use truncated clips.",
      example="""A 300-frame input: 300 CNN passes and 300 LSTM steps per clip.""")
def long_sequence(ctx: CheckContext):
    ir, opts = ctx.ir, ctx.options
    layers = recurrent_layers(ir)
    if not layers or not ir.frames or ir.frames <= opts["max_frames"]:
        return
    new = opts["suggested_frames"]

    yield Hit([layers[0].name], f"clips have {ir.frames} time steps (above {opts['max_frames']})",
              f"sample {new} frames per clip", {"frames": ir.frames},
              edits.set_frames(new, f"sample {new} frames per clip"))


@rule(id="LST003", name="recurrent-bottleneck", title="Large bottleneck between frame features and LSTM units",
      section="lstm", severity="warning", guide=GUIDE, probe="cost",
      options=(Option("max_ratio", 32, "per-frame features / recurrent units above this are reported"),
               Option("min_features", 1024, "only report when the per-frame vector is at least this long"),
               Option("min_model_macs", 10_000_000, "models cheaper than this (MACs per clip)..."),
               Option("min_input_weights", 50_000, "...whose recurrent input weights are also fewer than this "
                                                   "are deliberate small designs and left alone"),
               Option("max_projection_params", 1_000_000, "a projection bigger than this is not suggested; "
                                                          "pooling or GAP is")),
      rationale="""When thousands of per-frame features are squeezed straight into a few LSTM units,
      the input weights (4 x features x units) dominate the layer while its memory stays tiny: the
      recurrent stage is both expensive and a bottleneck. A per-frame projection (TimeDistributed
      Dense) or more pooling does the squeezing cheaply and lets the LSTM spend its capacity on time.
      A projection of a very long vector would itself hold millions of weights; then pooling or
      GlobalAveragePooling is the cheaper squeeze. Tiny models are left alone: there the bottleneck
      is a deliberate budget choice.""",
      fix="Add a TimeDistributed(Dense) projection before the LSTM, or pool more (GlobalAveragePooling "
          "when the projection would be huge); or widen the LSTM.",
      example="""Flatten -> 8,192 features per frame -> LSTM(32): a 256:1 squeeze.""")
def recurrent_bottleneck(ctx: CheckContext):
    ir, opts = ctx.ir, ctx.options
    found = recurrent_input_features(ir)
    if not found:
        return
    layer, features = found
    units = int(layer.config.get("units") or 0)
    gates = {"LSTM": 4, "GRU": 3}.get(layer.inner_kind_class, 1)
    if ir.macs < opts["min_model_macs"] and gates * features * units < opts["min_input_weights"]:
        return  # a cheap, deliberate bottleneck
    if not units or features < opts["min_features"] or features / units < opts["max_ratio"]:
        return
    if units < opts.get("degenerate_units", DEGENERATE_UNITS):
        return  # LST008's: the layer is too narrow whatever its input
    message = f"`{layer.name}` squeezes {fmt_int(features)} features per frame into {units} units " \
              f"({features // units}:1)"
    evidence = {"features": features, "units": units, "ratio": round(features / units, 1)}
    width = units * 4
    source = layer.inputs[0] if layer.inputs else None
    if features * width > opts["max_projection_params"]:
        mapped = map_source(ir, layer)
        flatten = _flatten_between(ir, layer)
        evidence["projection_params"] = features * width
        if flatten is not None:
            yield Hit([layer.name], message,
                      f"use GlobalAveragePooling2D instead of Flatten at `{flatten}` (a Dense({width}) projection "
                      f"would itself hold {fmt_int(features * width)} weights)", evidence,
                      edits.replace_class(flatten, "GlobalAveragePooling2D",
                                          f"GlobalAveragePooling2D instead of Flatten at `{flatten}`"))
        else:
            where = f" before `{mapped[0].name}`'s map is flattened" if mapped else ""
            yield Hit([layer.name], message, f"pool the per-frame map further{where} (a Dense({width}) "
                      f"projection would itself hold {fmt_int(features * width)} weights)", evidence)
        return
    projection = edits.time_distributed(f"{layer.name}_projection", "Dense", units=width, activation="relu")
    edit = edits.insert_after(source, projection, f"add TimeDistributed(Dense({width})) before `{layer.name}`") \
        if source else None
    yield Hit([layer.name], message, f"add TimeDistributed(Dense({width}, activation='relu')) before `{layer.name}`",
              evidence, edit)


def _flatten_between(ir, layer):
    """The TimeDistributed(Flatten) feeding `layer` (through dropout/activation), if any."""
    by_name = {l.name: l for l in ir.layers}
    current = by_name.get(layer.inputs[0]) if layer.inputs else None
    for _ in range(8):
        if current is None:
            return None
        if current.inner_kind_class == "Flatten" and current.time_distributed:
            return current.name
        if current.kind not in ("dropout", "activation", "norm") or len(current.inputs) != 1:
            return None
        current = by_name.get(current.inputs[0])
    return None


@rule(id="LST004", name="sequences-into-dense", title="Last recurrent layer returns sequences into Flatten/Dense",
      section="lstm", severity="warning", guide=GUIDE,
      rationale="""With return_sequences=True the last recurrent layer emits one vector (or, for
      ConvLSTM2D, one map) per time step. Feeding that to Flatten makes the classifier's weights
      depend on frame position (and T); feeding it to Dense classifies every frame separately. For
      clip classification the last recurrent layer should return only its final state (or pool over
      time explicitly).""",
      fix="Set return_sequences=False on the last recurrent layer (or add GlobalAveragePooling1D).",
      example="""LSTM(64, return_sequences=True) -> Flatten -> Dense(10).""")
def sequences_into_dense(ctx: CheckContext):
    ir, opts = ctx.ir, ctx.options
    for stack in _stacks(ir):
        last = stack[-1]
        if not last.config.get("return_sequences"):
            continue
        users = consumers(ir, last.name)
        while len(users) == 1 and users[0].kind in ("dropout", "norm", "activation"):
            users = consumers(ir, users[0].name)
        if last.inner_kind_class.startswith("ConvLSTM") and any(u.kind == "recurrent" for u in users):
            continue  # ConvLSTM feeding a vector LSTM: the sequence is wanted
        bad = [u for u in users if u.inner_kind_class in ("Flatten", "Dense") and not u.time_distributed]
        if bad and len(bad) == len(users):
            yield Hit([last.name], f"`{last.name}` returns all {last.frames} steps into `{bad[0].name}` "
                                   f"({bad[0].inner_kind_class})",
                      f"set return_sequences=False at `{last.name}`",
                      {"consumer": bad[0].name, "consumer_class": bad[0].inner_kind_class},
                      edits.set_config(last.name, f"return_sequences=False at `{last.name}`", return_sequences=False))


@rule(id="LST005", name="non-default-recurrent-activation", title="Recurrent layer with non-tanh/sigmoid activations",
      section="lstm", severity="warning", guide=GUIDE, probe="cost",
      rationale="""LSTM and GRU gates are designed around sigmoid gates and a tanh cell: relu lets the
      cell state grow without bound over long clips (exploding activations), and any change also
      rules out the fused cuDNN kernel, so training slows several-fold. The guide calls LSTMs harder
      to train than CNNs; unusual activations make that worse.""",
      fix="Use activation='tanh' and recurrent_activation='sigmoid'.",
      example="""LSTM(64, activation='relu').""")
def non_default_activation(ctx: CheckContext):
    ir, opts = ctx.ir, ctx.options
    odd = []
    for layer in recurrent_layers(ir):
        if layer.inner_kind_class not in ("LSTM", "GRU"):
            continue
        activation = layer.config.get("activation", "tanh")
        gate = layer.config.get("recurrent_activation", "sigmoid")
        if activation != "tanh" or gate != "sigmoid":
            odd.append((layer, activation, gate))
    if not odd:
        return
    layer, activation, gate = odd[0]
    names = [l.name for l, _, _ in odd]
    where = ", ".join(f"`{n}`" for n in names)
    steps = [edits.set_config(n, "", activation="tanh", recurrent_activation="sigmoid") for n in names]
    yield Hit(names, f"{where} use{'s' if len(odd) == 1 else ''} activation={activation!r}, "
                     f"recurrent_activation={gate!r}",
              f"use activation='tanh', recurrent_activation='sigmoid' at {where}",
              {"activation": activation, "recurrent_activation": gate, "layers": len(odd)},
              edits.chain(f"tanh/sigmoid at {where}", *steps) if len(steps) > 1 else
              edits.set_config(names[0], f"tanh/sigmoid at `{names[0]}`", activation="tanh",
                               recurrent_activation="sigmoid"))


@rule(id="LST006", name="consider-gru", title="LSTM cost is large: a GRU is 25% cheaper",
      section="lstm", severity="info", guide=GUIDE, probe="cost",
      options=(Option("min_mac_share", 0.3, "LSTM share of MACs above which the GRU is suggested"),
               Option("min_param_share", 0.75, "or LSTM share of parameters above this..."),
               Option("min_params", 100_000, "...when the LSTM layers hold at least this many parameters")),
      rationale="""A GRU has three gates to the LSTM's four: 25% fewer recurrent parameters and MACs,
      and on short action clips it usually matches the LSTM's accuracy. When the recurrent stage is
      a large part of the cost, the guide's 'LSTMs are costly' point has a cheap answer.""",
      fix="Replace the LSTM with a GRU of the same width.",
      example="""LSTM(512) holding 70% of the parameters.""")
def consider_gru(ctx: CheckContext):
    ir, opts = ctx.ir, ctx.options
    lstms = [layer for layer in recurrent_layers(ir) if layer.inner_kind_class == "LSTM"]
    if not lstms or any(_oversized(l, OVERSIZED_UNITS, OVERSIZED_PARAMS) for l in lstms):
        return  # LST007 asks for a narrower layer; a GRU of the same width would still be oversized
    if any(int(l.config.get("units") or 0) < DEGENERATE_UNITS for l in lstms):
        return  # LST008's: the layer is too narrow, not too costly
    found = recurrent_input_features(ir)
    if found and found[1] >= HUGE_FRAME_VECTOR:
        return  # the cost is the per-frame vector's (POL005), which a GRU would keep
        return
    macs = sum(l.macs for l in lstms)
    params = sum(l.params for l in lstms)
    mac_share, param_share = share(macs, ir.macs), share(params, ir.params)
    heavy = param_share >= opts["min_param_share"] and params >= opts["min_params"]
    if mac_share < opts["min_mac_share"] and not heavy:
        return
    steps = [edits.replace_class(l.name, "GRU", "", reset_after=True) for l in lstms]
    yield Hit([l.name for l in lstms],
              f"LSTM layers take {pct(mac_share)} of MACs ({fmt_macs(macs)}) and {pct(param_share)} of parameters",
              "replace " + ", ".join(f"`{l.name}`" for l in lstms) + " with GRU layers of the same width",
              {"mac_share": round(mac_share, 4), "param_share": round(param_share, 4)},
              edits.chain("LSTM -> GRU", *steps))


OVERSIZED_UNITS = 1024
OVERSIZED_PARAMS = 4_000_000


def _oversized(layer, units_limit, params_limit) -> bool:
    return int(layer.config.get("units") or 0) >= units_limit and layer.params >= params_limit


@rule(id="LST007", name="recurrent-too-wide", title="Recurrent layer far wider than a video clip needs",
      section="lstm", severity="warning", guide=GUIDE, probe="cost",
      options=(Option("max_units", OVERSIZED_UNITS, "units at or above this are reported..."),
               Option("max_params", OVERSIZED_PARAMS, "...when the layer holds at least this many parameters"),
               Option("suggested_units", 256, "the width the fix proposes")),
      rationale="""A recurrent layer's weights grow with the square of its width: LSTM(2048) holds
      over 33M parameters, more than most whole LRCNs, to model a clip of a few dozen steps. The
      guide: LSTMs are computationally expensive and harder to train; on action datasets of
      thousands of clips such a layer mostly memorises. 128-512 units carry the temporal context
      of short clips; swapping the LSTM for a GRU of the same width saves only a quarter.""",
      fix="Use 256-512 units (and a per-frame projection if the input is wide).",
      example="""LSTM(2048) on 2,048 features per frame: 33.6M parameters in one layer.""")
def recurrent_too_wide(ctx: CheckContext):
    ir, opts = ctx.ir, ctx.options
    for layer in recurrent_layers(ir):
        if not _oversized(layer, opts["max_units"], opts["max_params"]):
            continue
        units, new = int(layer.config["units"]), opts["suggested_units"]
        yield Hit([layer.name], f"`{layer.name}` has {units} units and holds {fmt_int(layer.params)} parameters "
                                f"({pct(share(layer.params, ir.params))} of the model)",
                  f"use {new} units at `{layer.name}`", {"units": units, "params": layer.params},
                  edits.set_config(layer.name, f"{units} -> {new} units at `{layer.name}`", units=new))


@rule(id="LST008", name="recurrent-too-narrow", title="Recurrent layer too narrow to model time",
      section="lstm", severity="warning", guide=GUIDE, probe="cost",
      options=(Option("min_units", DEGENERATE_UNITS, "recurrent layers with fewer units are reported"),
               Option("suggested_units", 64, "the width the fix proposes")),
      rationale="""The recurrent state is all the model remembers about the clip: an LSTM of 2 units
      squeezes every frame's features and the whole temporal context into two numbers. Whatever
      the CNN extracts is lost in that bottleneck, and the guide's point of the LSTM, remembering
      past context, cannot be met.""",
      fix="Use at least 32-64 units.",
      example="""ConvLSTM2D features -> Flatten -> LSTM(2).""")
def recurrent_too_narrow(ctx: CheckContext):
    ir, opts = ctx.ir, ctx.options
    for layer in recurrent_layers(ir):
        units = int(layer.config.get("units") or layer.config.get("filters") or 0)
        if layer.inner_kind_class.startswith("ConvLSTM") or not units or units >= opts["min_units"]:
            continue
        new = opts["suggested_units"]
        features = layer.input_shape[-1] if layer.input_shape else None
        fed = f", fed {fmt_int(features)} features per step" if features else ""
        widen = edits.set_config(layer.name, f"{units} -> {new} units at `{layer.name}`", units=new)
        alternatives = []
        flatten = _flatten_between(ir, layer)
        if flatten is not None:  # a wide layer on a huge vector would be LST003's bottleneck: pool it too
            gap = edits.replace_class(flatten, "GlobalAveragePooling2D", "")
            alternatives.append((f"use {new} units at `{layer.name}` and GlobalAveragePooling2D instead of "
                                 f"Flatten at `{flatten}`",
                                 edits.chain(f"{units} -> {new} units at `{layer.name}`; GAP at `{flatten}`",
                                             widen, gap)))
        yield Hit([layer.name], f"`{layer.name}` has {units} unit(s){fed}: its state cannot hold the clip's context",
                  f"use {new} units at `{layer.name}`", {"units": units, "input_features": features}, widen,
                  alternatives=alternatives)
