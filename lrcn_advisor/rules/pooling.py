"""Pooling rules (guide section 2: pooling layers)."""
from __future__ import annotations

from lrcn_advisor import edits

from .base import CheckContext, Hit, Option, rule
from lrcn_advisor.ir_view import (feature_stack, fmt_int, frame_hw, frame_vector_consumer, map_hw, map_source,
                                  pair, recurrent_input_features, recurrent_layers, share, pct, side)

GUIDE = "2. Pooling layer (MaxPooling or AveragePooling)"


COLLAPSED_SIDE = 2  # maps this small are POL001's; POL002 leaves them alone


def _pool_edit(sizes: dict[str, int], description: str) -> edits.Edit:
    """Set pooling windows; a window of 1 removes the pooling layer."""
    steps = [edits.set_config(name, description, pool_size=[size, size], strides=[size, size])
             for name, size in sizes.items() if size > 1]
    removed = [name for name, size in sizes.items() if size <= 1]
    if removed:
        steps.append(edits.remove_layers(removed, description))
    return edits.chain(description, *steps) if len(steps) != 1 else steps[0]


def _describe(old: dict[str, int], sizes: dict[str, int]) -> str:
    return "; ".join(f"remove the pooling layer `{n}` ({old[n]}x{old[n]})" if s <= 1
                     else f"{old[n]}x{old[n]} -> {s}x{s} at `{n}`" for n, s in sizes.items())


def _features(ir) -> int | None:
    found = recurrent_input_features(ir)
    return found[1] if found else None


def _shrink_plan(ctx: CheckContext, target: int):
    """Halve the largest pooling windows (latest first) until the final map side >= target."""
    ir = ctx.ir
    sizes = {}
    current = ir
    for _ in range(12):
        stack = feature_stack(current)
        if stack.final_hw and min(stack.final_hw) >= target:
            return sizes, current, stack
        candidates = [p for p in stack.pools if pair(p.config.get("pool_size"), 2)[0] > 1
                      and pair(p.config.get("strides") or p.config.get("pool_size"), 2)[0] > 1]
        if not candidates:
            return None
        largest = max(pair(p.config.get("pool_size"), 2)[0] for p in candidates)
        victim = [p for p in candidates if pair(p.config.get("pool_size"), 2)[0] == largest][-1]
        sizes[victim.name] = max(1, largest // 2)
        current = ctx.recount(_pool_edit(sizes, ""))
        if current is None:
            return None
    return None


@rule(id="POL001", name="feature-map-collapse", title="Pooling collapses the frame to a tiny feature map",
      section="pooling", severity="warning", guide=GUIDE, probe="pooling",
      options=(Option("max_side", 2, "a final per-frame map this many pixels a side or fewer is a collapse"),
               Option("target_side", 4, "the fix shrinks pooling until the map is at least this big"),
               Option("global_min_convs", 8, "after this many convolutions a 1x1 map is a global descriptor"),
               Option("global_min_channels", 256, "...when it has at least this many channels")),
      rationale="""Pooling trades spatial detail for cost. When the per-frame map reaching the
      recurrent stage is 2x2 or 1x1, every frame is summarised by a handful of numbers with no
      layout left: where things are, and how they move between frames, is gone before the LSTM can
      model it. The guide warns that excessive pooling leads to information loss and a weak feature
      representation; in an LRCN the recurrent stage cannot recover what the CNN threw away.""",
      fix="Use smaller pooling windows (4x4 -> 2x2), starting with the largest ones, until the final "
          "map is at least 4x4; add a projection or GlobalAveragePooling if the LSTM input grows too much.",
      example="""TimeDistributed(MaxPooling2D(4)) twice and MaxPooling2D(2) twice on 64x64 frames
leave a 1x1 map: 64 features per frame. Pools of (2, 2) leave 4x4x64 = 1,024 features.""")
def feature_map_collapse(ctx: CheckContext):
    ir, opts = ctx.ir, ctx.options
    stack = feature_stack(ir)
    frame = frame_hw(ir)
    if not stack.final_hw or not frame or stack.last_spatial is None:
        return
    if max(stack.final_hw) > opts["max_side"] or min(frame) < 4 * opts["target_side"]:
        return
    channels = stack.last_spatial.output_shape[-1] or 0
    if max(stack.final_hw) == 1 and len(stack.convs) >= opts["global_min_convs"] \
            and channels >= opts["global_min_channels"] and stack.receptive_field >= min(frame):
        return  # a deep stack's 1x1xC map is a global descriptor (as GlobalAveragePooling would give)
    before = _features(ir)
    last = stack.last_spatial.name
    message = (f"pooling collapses the {side(frame)} frame to {side(stack.final_hw)} before the "
               f"{'recurrent stage' if recurrent_layers(ir) else 'head'} (total downsampling "
               f"{stack.downsampling}x, last map at `{last}`)")
    evidence = {"frame": list(frame), "final_map": list(stack.final_hw),
                "downsampling": stack.downsampling, "recurrent_input_features": before}
    if stack.last_spatial.kind == "backbone":
        need = opts["target_side"] * stack.downsampling
        yield Hit([last], message.replace("pooling collapses", "the backbone reduces"),
                  f"feed frames of at least {need}x{need} to `{last}` (its {stack.downsampling}x downsampling "
                  f"then leaves {opts['target_side']}x{opts['target_side']}), or take its features from an "
                  "earlier block", evidence)
        return
    plan = _shrink_plan(ctx, opts["target_side"])
    if plan is None:
        yield Hit([p.name for p in stack.pools] or [last], message,
                  "remove a pooling layer or use smaller pooling windows", evidence)
        return
    sizes, after_ir, after_stack = plan
    order = [p.name for p in stack.pools]
    sizes = dict(sorted(sizes.items(), key=lambda item: order.index(item[0])))
    old = {p.name: pair(p.config.get("pool_size"), 2)[0] for p in stack.pools}
    parts = _describe(old, sizes)
    after = _features(after_ir)
    growth = f", and the LSTM input grows from {fmt_int(before)} to {fmt_int(after)} features" \
        if before and after else ""
    verb = "" if all(s <= 1 for s in sizes.values()) else \
        f"change the pooling window{'s' if len(sizes) > 1 else ''} "
    fix = f"{verb}{parts}: the final map is {side(after_stack.final_hw)} instead of {side(stack.final_hw)}{growth}"
    evidence["fix_final_map"] = list(after_stack.final_hw)
    edit = _pool_edit(sizes, f"pooling {parts}")
    alternatives = []
    flatten = _flatten_after(ir, last)
    if flatten is not None:
        gap = edits.replace_class(flatten, "GlobalAveragePooling2D", "")
        alternatives.append((f"{verb}{parts}, and use GlobalAveragePooling2D instead of Flatten at `{flatten}`: "
                             f"the final map is {side(after_stack.final_hw)} and the per-frame vector keeps "
                             "its length", edits.chain(f"pooling {parts}; GAP at `{flatten}`", edit, gap)))
    yield Hit(list(sizes), message, fix, evidence, edit=edit, alternatives=alternatives)


def _flatten_after(ir, name: str) -> str | None:
    """The per-frame Flatten that reads the map of layer `name` (through dropout/activation)."""
    for layer in ir.layers:
        if name in layer.inputs:
            if layer.inner_kind_class == "Flatten" and layer.time_distributed:
                return layer.name
            if layer.kind in ("dropout", "activation", "norm"):
                return _flatten_after(ir, layer.name)
    return None


@rule(id="POL002", name="extreme-downsampling", title="Total downsampling before the recurrent stage is extreme",
      section="pooling", severity="warning", guide=GUIDE, probe="pooling",
      options=(Option("max_factor", 64, "total stride (conv strides x pooling) per side that counts as extreme"),),
      rationale="""Even when the final map is not yet 1x1, shrinking each side 64-fold or more
      discards fine detail (small objects, hands, thin edges) that action recognition often depends
      on. The guide asks for a balance between feature preservation and downsampling.""",
      fix="Drop one pooling stage or halve its window, and let a GlobalAveragePooling2D or a "
          "TimeDistributed Dense keep the LSTM input small instead.",
      example="""Five MaxPooling2D(2) plus a stride-2 convolution on 256x256 frames: 64x downsampling,
a 4x4 map whose every cell summarises a 64x64 patch.""")
def extreme_downsampling(ctx: CheckContext):
    ir, opts = ctx.ir, ctx.options
    stack = feature_stack(ir)
    if stack.has_backbone or stack.downsampling < opts["max_factor"] or not stack.final_hw:
        return
    if max(stack.final_hw) <= COLLAPSED_SIDE:
        return
    pools = [p for p in stack.pools if pair(p.config.get("pool_size"), 2)[0] > 1]
    if not pools:
        return
    victim = pools[-1]
    size = pair(victim.config.get("pool_size"), 2)[0]
    new = size // 2
    edit = edits.set_config(victim.name, f"pooling {size}x{size} -> {new}x{new} at `{victim.name}`",
                            pool_size=[max(new, 1)] * 2, strides=[max(new, 1)] * 2)
    yield Hit([victim.name],
              f"frames are downsampled {stack.downsampling}x per side before the recurrent stage "
              f"(final map {side(stack.final_hw)})",
              f"halve the pooling window at `{victim.name}` ({size}x{size} -> {max(new, 1)}x{max(new, 1)})",
              {"downsampling": stack.downsampling, "final_map": list(stack.final_hw)}, edit)


@rule(id="POL003", name="pool-larger-than-input", title="Pooling window larger than its input",
      section="pooling", severity="error", guide=GUIDE, probe="pooling",
      rationale="""A pooling window wider than the feature map it pools (possible with padding='same')
      pools padding, not features: the layer silently reduces the whole map to one value per channel.
      That is the extreme form of the information loss the guide warns about.""",
      fix="Make the window no larger than the map it pools, or replace the layer by GlobalMaxPooling2D "
          "if a global summary is intended.",
      example="""TimeDistributed(MaxPooling2D(8, padding='same')) on a 4x4 map.""")
def pool_larger_than_input(ctx: CheckContext):
    ir, opts = ctx.ir, ctx.options
    for layer in ir.layers:
        if layer.kind != "pool" or layer.inner_kind_class.startswith("Global"):
            continue
        hw = map_hw(layer, layer.input_shape)
        if not hw:
            continue
        window = pair(layer.config.get("pool_size"), 2)
        if window[0] > hw[0] or window[1] > hw[1]:
            fitted = [min(window[0], hw[0]), min(window[1], hw[1])]
            yield Hit([layer.name],
                      f"`{layer.name}` pools a {window[0]}x{window[1]} window over a {side(hw)} map",
                      f"use pool_size {fitted[0]}x{fitted[1]} at `{layer.name}` (or GlobalMaxPooling2D)",
                      {"window": list(window), "input_map": list(hw)},
                      edits.set_config(layer.name, f"pool_size {fitted} at `{layer.name}`",
                                       pool_size=fitted, strides=fitted))


@rule(id="POL004", name="consecutive-pooling", title="Two pooling layers in a row",
      section="pooling", severity="warning", guide=GUIDE,
      rationale="""Pooling a pooled map with nothing learned in between throws detail away twice
      for the cost of one bigger pool; usually it is a leftover from editing the stack. The guide's
      balance between downsampling and feature preservation is better served by a convolution
      between the two pools, or one pool of the combined size.""",
      fix="Put a convolution between the two pools, or merge them into one pooling layer.",
      example="""TimeDistributed(MaxPooling2D(2)) directly followed by TimeDistributed(MaxPooling2D(2)).""")
def consecutive_pooling(ctx: CheckContext):
    ir, opts = ctx.ir, ctx.options
    by_name = {layer.name: layer for layer in ir.layers}
    for layer in ir.layers:
        if layer.kind != "pool" or layer.inner_kind_class.startswith("Global") or len(layer.inputs) != 1:
            continue
        source = by_name.get(layer.inputs[0])
        if source is None or source.kind != "pool" or source.inner_kind_class.startswith("Global"):
            continue
        a, b = pair(source.config.get("pool_size"), 2), pair(layer.config.get("pool_size"), 2)
        merged = [a[0] * b[0], a[1] * b[1]]
        edit = edits.chain(f"merge `{source.name}` and `{layer.name}`",
                           edits.remove_layers([layer.name], ""),
                           edits.set_config(source.name, "", pool_size=merged, strides=merged))
        yield Hit([source.name, layer.name],
                  f"`{layer.name}` pools the output of `{source.name}` with nothing in between",
                  f"merge them into one {merged[0]}x{merged[1]} pooling at `{source.name}`, or put a "
                  "Conv2D between them", {"first": list(a), "second": list(b)}, edit)


@rule(id="POL005", name="too-little-pooling", title="Huge per-frame vector feeds the recurrent layer",
      section="pooling", severity="warning", guide=GUIDE, probe="pooling",
      options=(Option("min_features", 8192, "per-frame features entering the recurrent layer that count as huge"),
               Option("max_param_share", 0.5, "share of all parameters in the recurrent input weights")),
      rationale="""Too little pooling leaves a large map that Flatten turns into a very long vector
      per frame. The recurrent layer's input weights (gates x features x units) then hold most of
      the model's parameters, which overfits small video datasets and makes every time step
      expensive. The guide's pooling advice: downsampling reduces computation and the risk of
      overfitting.""",
      fix="Add pooling (or GlobalAveragePooling2D instead of Flatten) before the recurrent layer so "
          "the per-frame vector shrinks.",
      example="""Flatten of a 32x32x64 map gives 65,536 features per frame; LSTM(64) then needs
16.8M input weights. One more MaxPooling2D(2) cuts that four-fold.""")
def too_little_pooling(ctx: CheckContext):
    ir, opts = ctx.ir, ctx.options
    found = frame_vector_consumer(ir)
    if not found:
        return
    consumer, features = found
    if consumer.kind == "recurrent":
        units = consumer.config.get("units") or 0
        gates = {"LSTM": 4, "GRU": 3}.get(consumer.inner_kind_class, 1)
        directions = 2 if consumer.class_name == "Bidirectional" else 1
        input_weights = gates * features * units * directions
        what = "input weights"
    else:
        input_weights = features * int(consumer.config.get("units") or 0)
        what = "projection weights"
    weight_share = share(input_weights, ir.params)
    if features < opts["min_features"] or weight_share < opts["max_param_share"]:
        return
    source = map_source(ir, consumer)
    message = (f"`{consumer.name}` receives {fmt_int(features)} features per frame"
               + (f" from a {side(source[1])} map" if source else "")
               + f"; its {what} are {fmt_int(input_weights)} parameters ({pct(weight_share)} of the model)")
    evidence = {"features": features, "input_weights": input_weights, "param_share": round(weight_share, 4),
                "consumer": consumer.name}
    if source is None:
        yield Hit([consumer.name], message, "pool the per-frame map further (or use GlobalAveragePooling) "
                  "before the features are flattened", evidence)
        return
    map_layer, hw = source
    evidence["final_map"] = list(hw)
    pools = 0
    while features // (4 ** pools) >= opts["min_features"] and min(hw) // (2 ** (pools + 1)) >= 2:
        pools += 1
    pools = max(pools, 1)
    edit, alternatives, fix = None, [], "use GlobalAveragePooling2D instead of Flatten"
    flatten = _flatten_after(ir, map_layer.name)
    gap = edits.replace_class(flatten, "GlobalAveragePooling2D",
                              f"GlobalAveragePooling2D instead of Flatten at `{flatten}`") if flatten else None
    if min(hw) // (2 ** pools) >= 2 and map_layer.kind != "recurrent":
        layer = edits.time_distributed(f"{map_layer.name}_extra_pool", "MaxPooling2D",
                                       pool_size=[2 ** pools] * 2, strides=[2 ** pools] * 2)
        edit = edits.insert_after(map_layer.name, layer, f"add MaxPooling2D({2 ** pools}) after `{map_layer.name}`")
        fix = (f"add TimeDistributed(MaxPooling2D({2 ** pools})) after `{map_layer.name}`"
               + (f" (or use GlobalAveragePooling2D instead of Flatten at `{flatten}`)" if flatten else ""))
        if gap is not None:
            alternatives.append((f"use GlobalAveragePooling2D instead of Flatten at `{flatten}`", gap))
    elif gap is not None:
        edit, fix = gap, f"use GlobalAveragePooling2D instead of Flatten at `{flatten}`"
    yield Hit([consumer.name, map_layer.name], message, fix, evidence, edit, alternatives=alternatives)
