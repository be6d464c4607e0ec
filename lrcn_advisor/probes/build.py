"""GraphSpec -> a Keras 3 model with fresh weights, never running code from the model file.

Each layer is made from its class in `keras.layers` and its saved config. Lambda
and custom layers run only with trust_model_code; without it they become
identities where the shapes allow, and the build fails with the reason otherwise.
TimeDistributed is built as a batch fold: frames are moved into the batch, the
inner layer runs once on all of them, and the result is unfolded. That is the
same function as Keras' TimeDistributed (which loops over the frames) and
several times faster to train.
"""
from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass, field

from ..ir import GraphSpec, LayerSpec, TensorRef

OPAQUE = {"Lambda", "TFOpLambda", "SlicingOpLambda", "TFSMLayer"}
ALIASES = {"CuDNNLSTM": "LSTM", "CuDNNGRU": "GRU"}
SILENT_DROPS = {"batch_input_shape", "batch_shape", "input_shape", "input_dim", "module",
                "registered_name", "time_major", "implementation"}
MULTI_ARGUMENT = {"MultiHeadAttention"}  # called as layer(query, value, ...) rather than layer([...])


class BuildError(Exception):
    """The architecture cannot be rebuilt for training; the message says why."""


@dataclass
class _Build:
    trust: bool
    notes: list[str] = field(default_factory=list)
    identities: dict = field(default_factory=dict)  # layer name -> declared output shape (or None)


def build_model(graph: GraphSpec, *, trust: bool = False, mixed_precision: bool = False):
    """Return (keras.Model, notes); notes list every substitution made."""
    import keras

    build = _Build(trust)
    previous = keras.config.dtype_policy()
    if mixed_precision:
        keras.config.set_dtype_policy("mixed_float16")
    try:
        model = _graph_model(graph, build, depth=0)
    except (ValueError, TypeError) as error:  # Keras' complaints about a config or a shape
        raise BuildError(f"Keras cannot rebuild the model: {str(error).strip().splitlines()[0]}") from None
    finally:
        keras.config.set_dtype_policy(previous)
    if mixed_precision:  # the loss is computed in float32
        outputs = [keras.layers.Activation("linear", dtype="float32", name=f"{graph.name}_float32_output")(o)
                   for o in model.outputs]
        model = keras.Model(_single(model.inputs), _single(outputs), name=model.name)
    return model, build.notes


def _graph_model(graph: GraphSpec, build: _Build, depth: int, name: str | None = None):
    import keras

    if depth > 16:
        raise BuildError("models nested too deeply")
    tensors: dict[tuple[str, int], list] = {}
    inputs = []
    for ref in graph.inputs:
        tensor = keras.Input(shape=tuple(graph.input_shapes[ref.layer][1:]), name=ref.layer)
        tensors[(ref.layer, 0)] = [tensor]
        inputs.append(tensor)
    specs = [spec for spec in graph.layers if spec.class_name != "InputLayer"]
    layers = {spec.name: _layer(spec, build, depth) for spec in specs}
    pending = [(spec, call) for spec in specs for call in range(len(spec.calls))]
    while pending:  # file order is topological except for shared layers, which take another sweep
        waiting = []
        for spec, call in pending:
            if not all((ref.layer, ref.node) in tensors for ref in spec.calls[call]):
                waiting.append((spec, call))
                continue
            args = [_tensor(tensors, ref) for ref in spec.calls[call]]
            if spec.name in build.identities:
                _check_identity(spec, build.identities[spec.name], args)
            out = _call(layers[spec.name], spec, args)
            tensors[(spec.name, call)] = list(out) if isinstance(out, (list, tuple)) else [out]
        if len(waiting) == len(pending):
            raise BuildError(f"layer {waiting[0][0].name!r} takes an input that no layer produces")
        pending = waiting
    outputs = [_tensor(tensors, ref) for ref in graph.outputs]
    return keras.Model(_single(inputs), _single(outputs), name=name or graph.name)


def _single(tensors: list):
    return tensors[0] if len(tensors) == 1 else tensors


def _tensor(tensors: dict, ref: TensorRef):
    outputs = tensors[(ref.layer, ref.node)]
    if ref.tensor >= len(outputs):
        raise BuildError(f"output {ref.tensor} of layer {ref.layer!r} does not exist")
    return outputs[ref.tensor]


def _call(layer, spec: LayerSpec, args: list):
    if len(args) == 1:
        return layer(args[0])
    return layer(*args) if spec.class_name in MULTI_ARGUMENT else layer(args)


def _layer(spec: LayerSpec, build: _Build, depth: int):
    import keras

    if spec.graph is not None:
        return _graph_model(spec.graph, build, depth + 1, name=spec.name)
    if spec.class_name == "TimeDistributed" and spec.wrapped is not None:
        inner = _layer(spec.wrapped, build, depth + 1)
        return _fold_class()(inner, name=spec.name, trainable=spec.config.get("trainable", True))
    if spec.class_name == "Bidirectional" and spec.wrapped is not None:
        backward = _layer(spec.backward, build, depth + 1) if spec.backward is not None else None
        return keras.layers.Bidirectional(_layer(spec.wrapped, build, depth + 1),
                                          merge_mode=spec.config.get("merge_mode", "concat"),
                                          backward_layer=backward, name=spec.name)
    name = ALIASES.get(spec.class_name, spec.class_name)
    cls = getattr(keras.layers, name, None)
    if isinstance(cls, type) and issubclass(cls, keras.layers.Layer) and name not in OPAQUE:
        return cls(**_kwargs(cls, spec, build.notes))
    if build.trust:
        return _trusted(spec, name)
    build.notes.append(f"layer {spec.name!r} ({spec.class_name}) would run code from the model file: "
                       "replaced by an identity (pass --trust-model-code to run it)")
    build.identities[spec.name] = spec.config.get("output_shape")
    return keras.layers.Identity(name=spec.name)


def _kwargs(cls, spec: LayerSpec, notes: list[str]) -> dict:
    accepted = _accepted(cls)
    kwargs = {key: value for key, value in spec.config.items() if key in accepted}
    dropped = sorted(set(spec.config) - set(kwargs) - SILENT_DROPS)
    if dropped:
        notes.append(f"layer {spec.name!r} ({spec.class_name}): ignored config keys {', '.join(dropped)} "
                     "that Keras 3 does not take")
    kwargs["name"] = spec.name
    return kwargs


@functools.cache
def _accepted(cls) -> frozenset[str]:
    """Keyword arguments `cls(...)` accepts, following **kwargs up to keras.layers.Layer."""
    names: set[str] = set()
    for klass in cls.__mro__:
        if "__init__" not in vars(klass):
            continue
        parameters = inspect.signature(klass.__init__).parameters.values()
        names |= {p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
        if not any(p.kind == p.VAR_KEYWORD for p in parameters) or klass.__name__ == "Layer":
            break
    return frozenset(names - {"self"})


def _trusted(spec: LayerSpec, name: str):
    import keras

    config = dict(spec.config)
    if name == "Lambda":
        function = config.get("function")
        if config.get("function_type") == "lambda" and isinstance(function, (list, tuple)):  # Keras 2
            config["function"] = {"class_name": "__lambda__", "config": dict(
                code=function[0], defaults=function[1], closure=function[2])}
        config = {key: value for key, value in config.items() if key in _accepted(keras.layers.Lambda)
                  or key == "function"}
        try:
            return keras.layers.Lambda.from_config(config, safe_mode=False)
        except Exception as error:
            raise BuildError(f"Lambda layer {spec.name!r} cannot be loaded in this Python "
                             f"({type(error).__name__}: {error})") from None
    cls = keras.saving.get_registered_object(name)
    if cls is None:
        raise BuildError(f"custom layer class {name!r} (layer {spec.name!r}) is not registered in this "
                         "Python process; its code is not in the model file")
    return cls.from_config(config)


def _check_identity(spec: LayerSpec, declared, args: list) -> None:
    reason = f"layer {spec.name!r} ({spec.class_name}) runs code from the model file"
    if len(args) != 1:
        raise BuildError(f"{reason} and takes {len(args)} inputs, so it cannot be replaced by an identity; "
                         "pass --trust-model-code to run it")
    if isinstance(declared, (list, tuple)) and tuple(declared) != tuple(args[0].shape[1:]):
        raise BuildError(f"{reason} and changes the shape {tuple(args[0].shape[1:])} -> {tuple(declared)}, "
                         "so it cannot be replaced by an identity; pass --trust-model-code to run it")


@functools.cache
def _fold_class():
    import keras
    from keras import ops

    class TimeDistributed(keras.layers.Wrapper):
        """TimeDistributed by folding the frames into the batch: (N, T, ...) -> (N*T, ...).

        The class name is Keras' own, so that saved weights (filed by class name) load into it."""

        def build(self, input_shape):
            super().build((None, *input_shape[2:]))

        def compute_output_shape(self, input_shape):
            inner = self.layer.compute_output_shape((None, *input_shape[2:]))
            return (input_shape[0], input_shape[1], *inner[1:])

        def call(self, inputs, training=None):
            frames = inputs.shape[1] if inputs.shape[1] is not None else ops.shape(inputs)[1]
            outputs = self.layer(ops.reshape(inputs, (-1, *inputs.shape[2:])), training=training)
            return ops.reshape(outputs, (-1, frames, *outputs.shape[1:]))

    return TimeDistributed


def load_saved_weights(model, path: str, graph: GraphSpec, trust: bool) -> str:
    """Copy the weights saved in `path` (for architecture `graph`) into `model`, layer by layer,
    wherever the layer name and weight shapes match; return a note saying what was copied."""
    source, _ = build_model(graph, trust=trust)
    try:
        source.load_weights(path)
    except Exception as error:  # Keras raises many types for unreadable or mismatched files
        raise BuildError(f"cannot read saved weights from {path}: {type(error).__name__}: "
                         f"{str(error).splitlines()[0] if str(error) else ''}") from None
    names = {layer.name for layer in source.layers}
    copied, fresh = 0, []
    for layer in model.layers:
        if not layer.weights:
            continue
        saved = source.get_layer(layer.name).get_weights() if layer.name in names else None
        if saved is not None and [w.shape for w in saved] == [tuple(v.shape) for v in layer.weights]:
            layer.set_weights(saved)
            copied += 1
        else:
            fresh.append(layer.name)
    note = f"started from the saved weights of {copied} layer(s)"
    return note + (f"; fresh weights for {', '.join(fresh)} (changed by the variant)" if fresh else "")
