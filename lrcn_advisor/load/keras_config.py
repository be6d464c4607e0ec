"""Keras model_config (Keras 2 and Keras 3 layouts) -> GraphSpec, as data only.

Nothing here imports Keras or evaluates anything stored in the config:
Lambda bodies and custom objects stay opaque strings.
"""
from __future__ import annotations

from typing import Any

from ..errors import InputError
from ..ir import GraphSpec, LayerSpec, TensorRef

MODEL_CLASSES = {"Sequential", "Functional", "Model"}
WRAPPERS = {"TimeDistributed", "Bidirectional"}
MAX_NESTING = 32


def graph_from_config(config: Any, *, depth: int = 0) -> GraphSpec:
    """Parse a serialised Keras model ({class_name, config}) into a GraphSpec."""
    if depth > MAX_NESTING:
        raise InputError(f"model nesting deeper than {MAX_NESTING} levels")
    if not isinstance(config, dict) or "class_name" not in config:
        raise InputError("model config has no 'class_name': not a Keras model architecture")
    class_name = _class_name(config)
    body = config.get("config")
    if not isinstance(body, dict):
        raise InputError(f"model config of {class_name!r} has no 'config' mapping")
    if class_name == "Sequential":
        return _sequential(body, config, depth)
    if class_name in ("Functional", "Model") or "input_layers" in body:
        return _functional(body, depth)
    raise InputError(f"top-level object is a {class_name!r}, not a Sequential or Functional model")


def _class_name(entry: dict) -> str:
    name = entry.get("class_name")
    if not isinstance(name, str) or not name:
        raise InputError(f"layer entry without a class name: {_short(entry)}")
    # Keras 2 custom objects may be registered as "package>Name".
    return name


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _layer_list(body: dict) -> list:
    layers = body.get("layers")
    if not isinstance(layers, list):
        raise InputError("model config has no 'layers' list")
    return layers


def _sequential(body: dict, outer: dict, depth: int) -> GraphSpec:
    name = str(body.get("name") or "sequential")
    layers: list[LayerSpec] = []
    input_shape = None
    entries = _layer_list(body)
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise InputError(f"layer {index} of {name!r} is not a mapping")
        if _class_name(entry) == "InputLayer":
            input_shape = _input_layer_shape(entry.get("config") or {})
            continue
        if input_shape is None and not layers:
            input_shape = _declared_input_shape(entry, body, outer)
        layers.append(_layer_spec(entry, depth, default_name=f"layer_{index}"))
    if not layers:
        raise InputError(f"Sequential model {name!r} has no layers")
    if input_shape is None:
        raise InputError(f"Sequential model {name!r} declares no input shape (it was never built)")
    input_name = f"{name}_input"
    previous = TensorRef(input_name)
    for layer in layers:
        layer.calls = [[previous]]
        previous = TensorRef(layer.name)
    return GraphSpec(name, layers, [TensorRef(input_name)], [previous], {input_name: input_shape})


def _declared_input_shape(entry: dict, body: dict, outer: dict):
    config = entry.get("config") or {}
    for key in ("batch_input_shape", "batch_shape"):
        if config.get(key):
            return _shape(config[key])
    if config.get("input_shape"):
        return (None, *_shape(config["input_shape"]))
    for source in (body.get("build_input_shape"), (outer.get("build_config") or {}).get("input_shape"),
                   (entry.get("build_config") or {}).get("input_shape")):
        if source:
            return _shape(source)
    return None


def _input_layer_shape(config: dict):
    for key in ("batch_shape", "batch_input_shape"):
        if config.get(key) is not None:
            return _shape(config[key])
    if config.get("shape") is not None:
        return (None, *_shape(config["shape"]))
    raise InputError(f"InputLayer {config.get('name')!r} has no shape")


def _shape(value) -> tuple:
    if isinstance(value, dict) and "value" in value:  # Keras 3 serialised tuple
        value = value["value"]
    if not isinstance(value, (list, tuple)) or not value:
        raise InputError(f"bad shape in config: {_short(value)}")
    dims = []
    for dim in value:
        if dim is None:
            dims.append(None)
        elif isinstance(dim, int) and not isinstance(dim, bool) and 0 < dim < 2**31:
            dims.append(dim)
        else:
            raise InputError(f"bad dimension {_short(dim)} in shape {_short(value)}")
    return tuple(dims)


def _functional(body: dict, depth: int) -> GraphSpec:
    name = str(body.get("name") or "model")
    layers: list[LayerSpec] = []
    input_shapes: dict[str, tuple] = {}
    seen: set[str] = set()
    for index, entry in enumerate(_layer_list(body)):
        if not isinstance(entry, dict):
            raise InputError(f"layer {index} of {name!r} is not a mapping")
        spec = _layer_spec(entry, depth, default_name=f"layer_{index}")
        if spec.name in seen:
            raise InputError(f"duplicate layer name {spec.name!r} in model {name!r}")
        seen.add(spec.name)
        if spec.class_name == "InputLayer":
            input_shapes[spec.name] = _input_layer_shape(entry.get("config") or {})
            layers.append(spec)
            continue
        spec.calls = [_node_inputs(node) for node in entry.get("inbound_nodes") or []]
        if not spec.calls:
            raise InputError(f"layer {spec.name!r} of functional model {name!r} has no inbound nodes")
        layers.append(spec)
    inputs = _refs(body.get("input_layers"), "input_layers")
    outputs = _refs(body.get("output_layers"), "output_layers")
    if not inputs:
        raise InputError(f"functional model {name!r} has no inputs")
    for ref in inputs:
        if ref.layer not in input_shapes:
            raise InputError(f"model input {ref.layer!r} is not an InputLayer")
    return GraphSpec(name, layers, inputs, outputs, input_shapes)


def _refs(value, key: str) -> list[TensorRef]:
    if value is None:
        return []
    if isinstance(value, dict):  # Keras 3 may key outputs by name
        value = list(value.values())
    if isinstance(value, list) and value and isinstance(value[0], str):
        value = [value]
    refs = []
    for item in value if isinstance(value, list) else []:
        if isinstance(item, list) and len(item) >= 3 and isinstance(item[0], str):
            refs.append(TensorRef(item[0], _index(item[1]), _index(item[2])))
        else:
            raise InputError(f"bad entry in {key}: {_short(item)}")
    return refs


def _index(value) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 1_000_000:
        return value
    raise InputError(f"bad node or tensor index {_short(value)}")


def _node_inputs(node) -> list[TensorRef]:
    """Input tensors of one call, in order (Keras 2 lists or Keras 3 args/kwargs)."""
    refs: list[TensorRef] = []
    if isinstance(node, dict):  # Keras 3
        _collect_tensors(node.get("args"), refs)
        _collect_tensors(node.get("kwargs"), refs)
    elif isinstance(node, list):  # Keras 2: [[name, node, tensor, kwargs], ...]
        for item in node:
            if isinstance(item, list) and len(item) >= 3 and isinstance(item[0], str):
                refs.append(TensorRef(item[0], _index(item[1]), _index(item[2])))
                if len(item) > 3:
                    _collect_tensors(item[3], refs)
            else:
                raise InputError(f"bad inbound node entry {_short(item)}")
    else:
        raise InputError(f"bad inbound node {_short(node)}")
    return refs


def _collect_tensors(value, refs: list[TensorRef], depth: int = 0) -> None:
    if depth > 16:
        raise InputError("inbound node arguments nested too deeply")
    if isinstance(value, dict):
        if value.get("class_name") == "__keras_tensor__":
            history = (value.get("config") or {}).get("keras_history")
            if not (isinstance(history, list) and len(history) >= 3 and isinstance(history[0], str)):
                raise InputError(f"keras tensor without a valid keras_history: {_short(value)}")
            refs.append(TensorRef(history[0], _index(history[1]), _index(history[2])))
            return
        for item in value.values():
            _collect_tensors(item, refs, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _collect_tensors(item, refs, depth + 1)


def _layer_spec(entry: dict, depth: int, default_name: str) -> LayerSpec:
    if depth > MAX_NESTING:
        raise InputError(f"layers nested deeper than {MAX_NESTING} levels")
    class_name = _class_name(entry)
    config = entry.get("config")
    if not isinstance(config, dict):
        raise InputError(f"layer of class {class_name!r} has no config mapping")
    name = entry.get("name") or config.get("name") or default_name
    if not isinstance(name, str):
        raise InputError(f"layer name must be a string, got {_short(name)}")
    spec = LayerSpec(name=name, class_name=class_name, config=_plain_config(config),
                     build_input_shape=_build_input_shape(entry))
    if class_name in MODEL_CLASSES or ("layers" in config and isinstance(config.get("layers"), list)):
        spec.graph = graph_from_config({"class_name": class_name, "config": config,
                                        "build_config": entry.get("build_config")}, depth=depth + 1)
        spec.config = {key: value for key, value in spec.config.items() if key in ("name", "trainable")}
    elif class_name in WRAPPERS:
        inner = config.get("layer")
        if not isinstance(inner, dict):
            raise InputError(f"{class_name} layer {name!r} does not say which layer it wraps")
        spec.wrapped = _layer_spec(inner, depth + 1, default_name=f"{name}_inner")
        if isinstance(config.get("backward_layer"), dict):
            spec.backward = _layer_spec(config["backward_layer"], depth + 1, default_name=f"{name}_backward")
        spec.config = {key: value for key, value in spec.config.items()
                       if key not in ("layer", "backward_layer")}
    return spec


def _build_input_shape(entry: dict):
    """The single input shape recorded in a layer's build_config (Keras 3), or None."""
    build = entry.get("build_config")
    if not isinstance(build, dict):
        return None
    value = build.get("input_shape")
    if isinstance(value, dict) and "value" in value:
        value = value["value"]
    if not isinstance(value, list) or not value or not all(
            d is None or (isinstance(d, int) and not isinstance(d, bool) and 0 < d < 2**31) for d in value):
        return None  # several inputs, or not a shape: no hint
    return tuple(value)


def attach_weight_shapes(graph: GraphSpec, shapes: dict[str, list[tuple[int, ...]]], fmt: str) -> None:
    """Give each top-level layer of a freshly parsed graph its saved weight shapes: by layer name in
    .h5 files, by Keras' automatic names (class in snake case, numbered in order) in .keras archives."""
    if not shapes:
        return
    counts: dict[str, int] = {}
    for spec in graph.layers:
        key = spec.name
        if fmt == "keras":
            base = _snake(spec.class_name)
            seen = counts.get(base, 0)
            counts[base] = seen + 1
            key = base if seen == 0 else f"{base}_{seen}"
        if key in shapes:
            spec.weight_shapes = list(shapes[key])


def _snake(name: str) -> str:
    import re
    step = re.sub("(.)([A-Z][a-z0-9]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", step).lower()


def _plain_config(config: dict) -> dict:
    """The config minus serialisation noise (dtype policies, initialisers)."""
    drop = ("dtype", "kernel_initializer", "bias_initializer", "recurrent_initializer",
            "beta_initializer", "gamma_initializer", "moving_mean_initializer",
            "moving_variance_initializer", "depthwise_initializer", "pointwise_initializer")
    return {key: value for key, value in config.items() if key not in drop}


LOSS_ALIASES = {"crossentropy": "categorical_crossentropy", "kld": "kl_divergence", "mse": "mean_squared_error",
                "mae": "mean_absolute_error", "bce": "binary_crossentropy", "cce": "categorical_crossentropy"}


def loss_from_compile(compile_config: Any) -> str | None:
    """The loss of a compile/training config as a snake_case name; None when absent or per-output."""
    if not isinstance(compile_config, dict):
        return None
    return _loss_name(compile_config.get("loss"))


def _loss_name(value: Any) -> str | None:
    if isinstance(value, dict) and "class_name" not in value:  # {output name: loss}
        names = {_loss_name(v) for v in value.values()}
        return names.pop() if len(names) == 1 else None
    if isinstance(value, list):
        names = {_loss_name(v) for v in value}
        return names.pop() if len(names) == 1 else None
    if isinstance(value, dict):
        value = value.get("class_name")
        if isinstance(value, str) and value.lower() == "function":
            return None
    if not isinstance(value, str) or not value or len(value) > 100:
        return None
    name = value.rsplit(">", 1)[-1].rsplit(".", 1)[-1]
    if any(ch.isupper() for ch in name):  # CategoricalCrossentropy -> categorical_crossentropy
        name = "".join("_" + ch.lower() if ch.isupper() and i else ch.lower() for i, ch in enumerate(name))
    return LOSS_ALIASES.get(name, name)
