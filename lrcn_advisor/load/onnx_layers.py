"""One ONNX group -> one Keras-style layer (class, config, the input it needs), channels last.

Also `plan`: which Flatten/Reshape/padding layers and which TimeDistributed
wrapping connect a producer's logical output to the input a layer needs.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from .onnx_graph import OnnxGraph, attributes
from .onnx_groups import Group

Adapter = tuple  # (class_name, config, time_distributed)


@dataclass
class Mapped:
    class_name: str
    config: dict
    need: tuple | None = None  # the input it needs, without batch (per item for mode "item")
    mode: str = "any"          # item | dense | sequence | any
    before: list[tuple[str, dict]] = field(default_factory=list)  # explicit padding in front of it
    notes: list[str] = field(default_factory=list)
    bidirectional: bool = False
    folded_norm: bool = False  # a BatchNorm the exporter folded into this layer follows it in Keras
    norm_shift: str = ""       # the layer's bias input, when it holds that BatchNorm's shift (no bias of its own)


def map_group(group: Group, view: OnnxGraph) -> Mapped:
    mapper = {"conv": _conv, "deconv": _deconv, "resize": _resize, "repeat": _repeat, "pool": _pool,
              "gpool": _global_pool, "norm": _batch_norm, "layer_norm": _layer_norm, "affine": _affine,
              "dense": _dense, "recurrent": _recurrent, "merge": _merge}.get(group.kind)
    mapped = mapper(group, view) if mapper else None
    return mapped or unknown(group)


def unknown(group: Group, reason: str = "") -> Mapped:
    node = group.node
    op = node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}.{node.op_type}"
    copies = f", {group.copies} copies" if group.copies > 1 else ""
    where = f"node {node.name!r}" if node.name else "an unnamed node"
    note = reason or f"ONNX op {op} ({where}{copies}) is not mapped to a Keras layer"
    return Mapped(f"onnx:{op}", {}, notes=[note])


def _shape(view: OnnxGraph, name: str, rank: int) -> tuple:
    shape = view.shape(name)
    return shape if shape is not None and len(shape) == rank else (None,) * rank


def _channels_last(shape: tuple) -> tuple:
    """(batch, C, *spatial) -> (*spatial, C)."""
    return (*shape[2:], shape[1])


def _conv(group: Group, view: OnnxGraph) -> Mapped | None:
    node = group.node
    attrs = attributes(node)
    weight = view.shape(node.input[1])
    if not weight or None in weight or not 3 <= len(weight) <= 5:
        return None
    rank = len(weight) - 2
    x = _shape(view, node.input[0], rank + 2)
    split = attrs.get("group", 1)
    filters, cin = weight[0], weight[1] * split
    kernel = list(attrs.get("kernel_shape") or weight[2:])
    strides, dilation = list(attrs.get("strides") or [1] * rank), list(attrs.get("dilations") or [1] * rank)
    padding, pads = _padding(x[2:], kernel, strides, dilation, attrs)
    folded = _folded_batch_norm(node, view)
    # tf2onnx names a folded BatchNorm's shift after the BatchNorm: then the conv had no bias of its own
    shift = node.input[2] if folded and _has_bias(node) and "/batchnorm/" in node.input[2].lower() else ""
    common = {"kernel_size": kernel, "strides": strides, "padding": padding, "dilation_rate": dilation,
              "use_bias": (_has_bias(node) and not shift) or bool(group.folded),
              "activation": group.activation or "linear", "data_format": "channels_last"}
    if split == cin and split > 1 and rank <= 2 and filters % cin == 0:
        class_name, config = f"DepthwiseConv{rank}D", {**common, "depth_multiplier": filters // cin}
    else:
        class_name, config = f"Conv{rank}D", {"filters": filters, **common, "groups": split}
    return Mapped(class_name, config, (*x[2:], cin), "item", _pad_layers(pads), [folded] if folded else [],
                  folded_norm=bool(folded), norm_shift=shift)


def _deconv(group: Group, view: OnnxGraph) -> Mapped | None:
    """ConvTranspose as Keras' ConvNDTranspose ('same' or 'valid' output size, else output_padding)."""
    node = group.node
    attrs = attributes(node)
    weight = view.shape(node.input[1])
    if not weight or None in weight or not 3 <= len(weight) <= 5 or attrs.get("group", 1) != 1:
        return None
    rank = len(weight) - 2
    x = _shape(view, node.input[0], rank + 2)
    cin, filters = weight[0], weight[1]
    kernel = list(attrs.get("kernel_shape") or weight[2:])
    strides, dilation = list(attrs.get("strides") or [1] * rank), list(attrs.get("dilations") or [1] * rank)
    if None in x[2:]:
        return None
    out = view.shape(node.output[0])
    if attrs.get("output_shape"):
        out_spatial = list(attrs["output_shape"])[-rank:]
    elif out and len(out) == rank + 2 and None not in out[2:]:
        out_spatial = list(out[2:])
    else:
        pads = list(attrs.get("pads") or [0] * (2 * rank))
        extra = list(attrs.get("output_padding") or [0] * rank)
        out_spatial = [s * (n - 1) + e + (k - 1) * d + 1 - pads[i] - pads[i + rank]
                       for i, (n, k, s, d, e) in enumerate(zip(x[2:], kernel, strides, dilation, extra))]
    effective = [k + (k - 1) * (d - 1) for k, d in zip(kernel, dilation)]
    config = {"filters": filters, "kernel_size": kernel, "strides": strides, "dilation_rate": dilation,
              "use_bias": _has_bias(node) or bool(group.folded), "activation": group.activation or "linear",
              "data_format": "channels_last"}
    if out_spatial == [n * s for n, s in zip(x[2:], strides)]:
        config["padding"] = "same"
    elif out_spatial == [n * s + max(k - s, 0) for n, s, k in zip(x[2:], strides, effective)]:
        config["padding"] = "valid"
    else:  # Keras: (n - 1) * s + k + output_padding with 'valid'
        extra = [o - ((n - 1) * s + k) for o, n, s, k in zip(out_spatial, x[2:], strides, effective)]
        if any(e < 0 or e >= s for e, s in zip(extra, strides)):
            return None
        config.update(padding="valid", output_padding=extra)
    return Mapped(f"Conv{rank}DTranspose", config, (*x[2:], cin), "item")


def _resize(group: Group, view: OnnxGraph) -> Mapped | None:
    info = group.info
    x = view.shape(group.data)
    rank = len(info["size"])
    if not x or not 1 <= rank <= 3 or len(x) != rank + 2:
        return None
    need = _channels_last(x) if info["channels_first"] else tuple(x[1:])
    config = {"size": list(info["size"]), "data_format": "channels_last"}
    if rank == 2:
        config["interpolation"] = info["interpolation"]
    elif info["interpolation"] != "nearest":
        return None
    return Mapped(f"UpSampling{rank}D", config, need, "item")


def _repeat(group: Group, view: OnnxGraph) -> Mapped | None:
    info = group.info
    x = view.shape(group.data)
    rank = len(info["size"])
    if not x or not 1 <= rank <= 3:
        return None
    need = tuple(d for i, d in enumerate(x) if i not in (0, info["axis"]))
    config = {"size": list(info["size"]), "data_format": "channels_last"}
    if rank == 2:
        config["interpolation"] = "nearest"
    return Mapped(f"UpSampling{rank}D", config, need, "item")


def _has_bias(node) -> bool:
    return len(node.input) > 2 and bool(node.input[2])


def _folded_batch_norm(node, view: OnnxGraph) -> str:
    meta = {p.key: p.value for p in node.metadata_props}
    if "BatchNorm" in meta.get("pkg.onnxscript.rewriter.rule_name", "") \
            or "batchnorm" in meta.get("pkg.torch.onnx.class_hierarchy", "").lower():
        return "BatchNorm folded into this Conv by the exporter: its 4C parameters are gone"
    if "tf2onnx" in view.model.producer_name and any("/batchnorm/" in name.lower() for name in (
            node.name, *node.input[1:])):  # the node or its folded weights are named after the BatchNorm
        return "BatchNorm folded into this Conv by tf2onnx: its 4C parameters are gone"
    if view.model.producer_name == "pytorch" and not meta and node.input[1].startswith("onnx::"):
        return ("BatchNorm folded into this Conv by the exporter (weights rewritten by constant "
                "folding): its 4C parameters are gone")
    return ""


def _window(n: int, k: int, s: int, d: int, begin: int, end: int, ceil: bool) -> int:
    span = n + begin + end - d * (k - 1) - 1
    return (-(-span // s) if ceil else span // s) + 1


def _padding(spatial, kernel, strides, dilation, attrs) -> tuple[str, list | None]:
    """Keras padding ('same' or 'valid') and, where neither fits, explicit (begin, end) pads."""
    auto = attrs.get("auto_pad", "NOTSET")
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        return "same", None
    rank = len(kernel)
    pads = list(attrs.get("pads") or [0] * (2 * rank)) if auto != "VALID" else [0] * (2 * rank)
    begin, end = pads[:rank], pads[rank:]
    ceil = bool(attrs.get("ceil_mode", 0))
    if not any(pads) and not ceil:
        return "valid", None
    if None not in spatial:
        outs = [_window(*args, ceil) for args in zip(spatial, kernel, strides, dilation, begin, end)]
        if outs == [-(-n // s) for n, s in zip(spatial, strides)]:
            return "same", None
        if ceil:  # pad the end so that the floor formula gives the ceil_mode output
            end = [e + max(0, (o - 1) * s + d * (k - 1) + 1 - (n + b + e))
                   for n, k, s, d, b, e, o in zip(spatial, kernel, strides, dilation, begin, end, outs)]
    if not any(begin) and not any(end):
        return "valid", None
    return "valid", [[b, e] for b, e in zip(begin, end)]


def _pad_layers(pads) -> list[tuple[str, dict]]:
    return [(f"ZeroPadding{len(pads)}D", {"padding": pads})] if pads else []


def _pool(group: Group, view: OnnxGraph) -> Mapped | None:
    node = group.node
    attrs = attributes(node)
    kernel = list(attrs.get("kernel_shape") or [])
    rank = len(kernel)
    if not 1 <= rank <= 3:
        return None
    x = _shape(view, node.input[0], rank + 2)
    strides = list(attrs.get("strides") or [1] * rank)
    padding, pads = _padding(x[2:], kernel, strides, [1] * rank, attrs)
    kind = "MaxPooling" if node.op_type == "MaxPool" else "AveragePooling"
    config = {"pool_size": kernel, "strides": strides, "padding": padding, "data_format": "channels_last"}
    return Mapped(f"{kind}{rank}D", config, _channels_last(x), "item", _pad_layers(pads))


def _global_pool(group: Group, view: OnnxGraph) -> Mapped | None:
    node = group.node
    axes, kept, keepdims = group.info
    x = view.shape(node.input[0])
    if x is None or not 1 <= len(axes) <= 3:
        return None
    kind = "Average" if node.op_type in ("GlobalAveragePool", "ReduceMean") else "Max"
    return Mapped(f"Global{kind}Pooling{len(axes)}D", {"keepdims": keepdims, "data_format": "channels_last"},
                  (*(x[a] for a in axes), x[kept]), "item")


def _batch_norm(group: Group, view: OnnxGraph) -> Mapped | None:
    node = group.node
    x = view.shape(node.input[0])
    if x is None or len(x) < 2:
        return None
    config = {"axis": -1, "epsilon": attributes(node).get("epsilon", 1e-5), "center": True, "scale": True}
    return Mapped("BatchNormalization", config, _channels_last(x), "item")


def _layer_norm(group: Group, view: OnnxGraph) -> Mapped | None:
    node = group.node
    x = view.shape(node.input[0])
    config = {"axis": -1, "epsilon": attributes(node).get("epsilon", 1e-5),
              "center": len(node.input) > 2 and bool(node.input[2]), "scale": True}
    return Mapped("LayerNormalization", config, tuple(x[1:]), "item")


def _affine(group: Group, view: OnnxGraph) -> Mapped | None:
    info = group.info
    x = view.shape(group.data)
    scale, shift = bool({"Mul", "Div"} & set(info.ops)), bool({"Add", "Sub"} & set(info.ops))
    need = (*(d for i, d in enumerate(x) if i not in (0, info.axis)), x[info.axis])
    vectors = len(dict.fromkeys((*group.weights, *group.folded)))
    note = (f"BatchNorm exported as per-channel {'/'.join(info.ops)} with constants (statistics folded in): "
            f"{vectors}C parameters instead of Keras' 4C")
    return Mapped("BatchNormalization", {"axis": -1, "center": shift, "scale": scale}, need, "item",
                  notes=[note])


def _dense(group: Group, view: OnnxGraph) -> Mapped:
    node = group.node
    weight = view.shape(node.input[1])
    inputs, units = (weight[1], weight[0]) if attributes(node).get("transB") else weight
    config = {"units": units, "use_bias": (node.op_type == "Gemm" and _has_bias(node)) or bool(group.folded),
              "activation": group.activation or "linear"}
    return Mapped("Dense", config, (inputs,), "dense")


def _recurrent(group: Group, view: OnnxGraph) -> Mapped:
    cell = group.info
    directions = 2 if group.partner is not None else cell.directions
    width = None if cell.width is None else cell.width * directions
    rank = 2 if cell.frame is None else len(cell.frame) + 1  # a tensor of one step: (N, units) or (N, *frame)
    sequences = any(_holds_steps(shape, width, view.batch, rank) for shape in group.taken)
    if cell.frame is not None:  # ConvLSTM: the input of one step is a frame
        config = {key: value for key, value in cell.config.items() if key != "output_positions"}
        config.update(return_sequences=sequences, activation="tanh", recurrent_activation="sigmoid",
                      dropout=0.0, recurrent_dropout=0.0)
        return Mapped(cell.cell, config, (cell.steps, *cell.frame), "sequence", notes=list(cell.notes))
    config = {"units": cell.units, "return_sequences": sequences, "activation": "tanh",
              "recurrent_activation": "sigmoid", "use_bias": True, "dropout": 0.0, "recurrent_dropout": 0.0,
              **cell.config}
    config["go_backwards"] = group.reversed != cell.config.get("go_backwards", False) and directions == 1
    if cell.cell == "SimpleRNN":
        config.pop("recurrent_activation")
    notes = list(cell.notes)
    if group.partner is not None:
        notes.append("forward and backward layers, concatenated, read as one Bidirectional layer")
    return Mapped(cell.cell, config, (cell.steps, cell.input_size), "sequence", notes=notes,
                  bidirectional=directions == 2)


def _holds_steps(shape: tuple | None, width: int | None, batch: int, rank: int = 2) -> bool:
    """Whether a tensor taken from a recurrent layer still has its time axis (more than one step)."""
    if shape is None:
        return True
    if None not in shape and width is not None:
        return math.prod(shape) > width * batch
    return len(shape) > rank or (rank == 2 and shape[-1] not in (None, width))


def _merge(group: Group, view: OnnxGraph) -> Mapped:
    config = {"axis": -1} if group.info == "Concatenate" else {}
    return Mapped(group.info, config)


# ---- connecting layers -------------------------------------------------------

def _same(a: tuple, b: tuple) -> bool:
    return len(a) == len(b) and all(x is None or y is None or x == y for x, y in zip(a, b))


def _known(shape: tuple) -> bool:
    return None not in shape


def reshape_layers(src: tuple, dst: tuple) -> list[tuple[str, dict]] | None:
    """Keras layers turning per-item shape `src` into `dst`, or None when none can."""
    if not _known(src) or not _known(dst):
        return None
    if src == dst:
        return []
    if len(dst) == 1 and math.prod(src) == dst[0]:
        return [("Flatten", {})]
    if len(src) == len(dst) and src[-1] == dst[-1] and 2 <= len(dst) <= 4:
        diffs = [d - s for s, d in zip(src[:-1], dst[:-1])]
        if all(x >= 0 for x in diffs):
            return [(f"ZeroPadding{len(diffs)}D", {"padding": [[0, x] for x in diffs]})]
        if all(x <= 0 for x in diffs):
            return [(f"Cropping{len(diffs)}D", {"cropping": [[0, -x] for x in diffs]})]
    if math.prod(src) == math.prod(dst):
        return [("Reshape", {"target_shape": list(dst)})]
    return None


def plan(shape: tuple, need: tuple, items: int | None, mode: str) -> tuple[bool, list[Adapter]]:
    """How a layer needing `need` takes a producer's output `shape` (both without batch).

    `items` is how many `need`-sized items per sample the file feeds it (the
    T frames of a TimeDistributed layer), when known. Returns (wrap the layer
    in TimeDistributed, adapter layers to put in front of it).
    """
    if mode == "sequence":
        return False, _to_sequence(shape, need)
    if mode == "dense" and shape and _same(shape[-1:], need) and (
            items is None or (_known(shape[:-1]) and items == math.prod(shape[:-1]))):
        return False, []
    options = [(False, shape)] + ([(True, shape[1:])] if len(shape) > 1 else [])
    if items is not None:
        options = [(td, src) for td, src in options
                   if (td and items > 1 and shape[0] in (None, items)) or (not td and items == 1)]
    wraps = mode != "dense"
    for td, src in options:
        if _same(src, need):
            return td and wraps, []
    for td, src in options:
        layers = reshape_layers(src, need)
        if layers is not None:
            return td and wraps, [(cls, cfg, td) for cls, cfg in layers]
    if mode == "dense" and items and items > 1 and _known(shape) and _known(need) and \
            math.prod(shape) == items * need[-1]:  # batch and steps merged for one MatMul (Tensordot)
        return False, [("Reshape", {"target_shape": [items, need[-1]]}, False)]
    td = bool(options) and options[0][0]
    return td and wraps, [("Lambda", {"output_shape": list(need)}, td)]


def _to_sequence(shape: tuple, need: tuple) -> list[Adapter]:
    if _same(shape, need):
        return []
    if len(need) != 2:  # a sequence of frames (ConvLSTM)
        if _known(shape) and _known(need[1:]) and math.prod(shape) % math.prod(need[1:]) == 0:
            return [("Reshape", {"target_shape": [-1, *need[1:]]}, False)]
        return [("Lambda", {"output_shape": list(need)}, False)]
    steps, features = need
    if len(shape) > 2 and _same(shape[:1], (steps,)) and _known(shape[1:]) and math.prod(shape[1:]) == features:
        return [("Flatten", {}, True)]
    if _known(shape) and features and math.prod(shape) % features == 0 and (
            steps is None or math.prod(shape) == steps * features):
        return [("Reshape", {"target_shape": [-1, features]}, False)]
    return [("Lambda", {"output_shape": [steps, features]}, False)]
