"""Build small LRCN models and export them to ONNX the way users do.

Keras models go through Keras 3's `model.export(path, format="onnx")`
(tf2onnx); their PyTorch twins (tools/torch_twins.py, same layer sizes)
through `torch.onnx.export` with the dynamo exporter (the default) or the
TorchScript one. Every ONNX file has a Keras twin saved beside it, and
manifest.json says for each file where it came from and which parameter
counts the exporter changes (per Keras layer of the twin, with the reason).

    python tools/make_onnx.py --out DIR
    python tools/make_onnx.py --out DIR --unrolled 300   # only the synthetic unrolled export
    python tools/make_onnx.py --out DIR --layers         # ConvLSTM2D, LSTM(unroll=True), ConvTranspose,
                                                         # UpSampling (Tile, Resize), plain Conv+BN and the
                                                         # bundled examples; random and fresh weights

`write_unrolled` writes a graph laid out like tf2onnx's unrolled
TimeDistributed export (per frame: Slice, Squeeze, Transpose, op,
Transpose, Unsqueeze; then Concat), for long clips that tf2onnx itself
would take minutes to export.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from torch_twins import frame_features  # noqa: E402

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _spec(frames, convs, reduce, rnn, size=32, **extra) -> dict:
    convs = [{"filters": f, "stride": s, "bn": bn, "pool": pool} for f, s, bn, pool in convs]
    return {"frames": frames, "size": size, "channels": 3, "convs": convs, "reduce": reduce, "rnn": rnn,
            "classes": 4, **extra}


BASE_CONVS = [(8, 1, False, True), (16, 1, False, True)]
VARIANTS = {
    # name: (source, exporter, spec)
    "keras_lstm_t8": ("keras", "tf2onnx", _spec(8, BASE_CONVS, "flatten", {"cell": "lstm", "units": 16})),
    "keras_gru_bn_t20": ("keras", "tf2onnx", _spec(
        20, [(8, 1, True, True), (16, 2, False, False)], "gap", {"cell": "gru", "units": 16}, dropout=0.3)),
    "keras_bilstm_t8": ("keras", "tf2onnx", _spec(
        8, BASE_CONVS, "gap", {"cell": "lstm", "units": 12, "layers": 2, "bidirectional": True})),
    "keras_bigru_proj_t8": ("keras", "tf2onnx", _spec(
        8, BASE_CONVS, "gap", {"cell": "gru", "units": 12, "bidirectional": True}, projection=24)),
    "keras_gru_noreset_t8": ("keras", "tf2onnx", _spec(
        8, BASE_CONVS, "flatten", {"cell": "gru", "units": 10, "reset_after": False})),
    "torch_lstm_t8": ("pytorch", "dynamo", _spec(8, BASE_CONVS, "flatten", {"cell": "lstm", "units": 16})),
    "torch_lstm_bn_t8": ("pytorch", "dynamo", _spec(
        8, [(8, 1, True, True), (16, 1, True, True)], "flatten", {"cell": "lstm", "units": 16})),
    "torch_gru_t20": ("pytorch", "torchscript", _spec(
        20, [(8, 1, False, True), (16, 2, False, False)], "gap", {"cell": "gru", "units": 16},
        bn_after_pool=True)),
    "torch_bilstm2_bn_t8": ("pytorch", "torchscript", _spec(
        8, [(8, 1, True, True), (16, 1, False, True)], "gap",
        {"cell": "lstm", "units": 12, "layers": 2, "bidirectional": True}, projection=24)),
}
UNROLLED_SPEC = _spec(300, [(16, 1, True, True), (32, 1, False, True), (64, 1, False, True),
                            (64, 1, False, True), (128, 1, False, True), (128, 1, False, True)],
                      "flatten", {"cell": "lstm", "units": 64}, size=64)
EXPORTERS = {"tf2onnx": "Keras 3 Model.export(format='onnx') (tf2onnx)",
             "dynamo": "torch.onnx.export(dynamo=True), weights in an external .data file",
             "torchscript": "torch.onnx.export(dynamo=False), the TorchScript exporter"}


# ---- Keras ---------------------------------------------------------------------

def keras_model(spec: dict, name: str):
    """The Keras LRCN of a spec, layers named conv1, bn1, pool1, reduce, rnn1, head..., random weights."""
    import keras
    from keras import layers

    size, channels = spec["size"], spec["channels"]
    inputs = keras.Input((spec["frames"], size, size, channels), name="frames")
    x = inputs
    for i, conv in enumerate(spec["convs"], 1):
        activation = None if conv["bn"] else "relu"
        x = layers.TimeDistributed(layers.Conv2D(conv["filters"], 3, strides=conv["stride"], padding="same",
                                                 activation=activation), name=f"conv{i}")(x)
        if conv["bn"]:
            x = layers.TimeDistributed(layers.BatchNormalization(), name=f"bn{i}")(x)
            x = layers.TimeDistributed(layers.Activation("relu"), name=f"relu{i}")(x)
        if conv["pool"]:
            x = layers.TimeDistributed(layers.MaxPooling2D(2), name=f"pool{i}")(x)
    if spec.get("bn_after_pool"):
        x = layers.TimeDistributed(layers.BatchNormalization(), name="bn_pool")(x)
    reduce = layers.Flatten() if spec["reduce"] == "flatten" else layers.GlobalAveragePooling2D()
    x = layers.TimeDistributed(reduce, name="reduce")(x)
    if spec.get("dropout"):
        x = layers.TimeDistributed(layers.Dropout(spec["dropout"]), name="dropout")(x)
    if spec.get("projection"):
        x = layers.TimeDistributed(layers.Dense(spec["projection"], activation="relu"), name="projection")(x)
    rnn = spec["rnn"]
    count = rnn.get("layers", 1)
    for k in range(1, count + 1):
        sequences = k < count
        if rnn["cell"] == "lstm":
            cell = layers.LSTM(rnn["units"], return_sequences=sequences)
        else:
            cell = layers.GRU(rnn["units"], return_sequences=sequences, reset_after=rnn.get("reset_after", True))
        if rnn.get("bidirectional"):
            x = layers.Bidirectional(cell, name=f"rnn{k}")(x)
        else:
            cell.name = f"rnn{k}"
            x = cell(x)
    outputs = layers.Dense(spec["classes"], activation="softmax", name="head")(x)
    model = keras.Model(inputs, outputs, name=name)
    model(np.zeros((1, spec["frames"], size, size, channels), "float32"))
    rng = np.random.default_rng(0)
    model.set_weights([rng.normal(size=w.shape).astype("float32") * 0.1 + (1.0 if "variance" in v.path else 0.0)
                       for w, v in zip(model.get_weights(), model.weights)])
    return model


# ---- what each exporter changes --------------------------------------------------

def exporter_changes(spec: dict, exporter: str) -> list[dict]:
    """Parameter changes between the Keras twin and the ONNX file, per Keras layer."""
    changes = []
    torch_export = exporter != "tf2onnx"
    for i, conv in enumerate(spec["convs"], 1):
        if conv["bn"]:
            c = conv["filters"]
            changes.append({"layer": f"bn{i}", "params": -4 * c, "why": "BatchNorm folded into the conv"}
                           if torch_export else
                           {"layer": f"bn{i}", "params": -2 * c, "why": "BatchNorm exported as a per-channel Mul+Add"})
    if spec.get("bn_after_pool") and not torch_export:
        c = spec["convs"][-1]["filters"]
        changes.append({"layer": "bn_pool", "params": -2 * c, "why": "BatchNorm exported as a per-channel Mul+Add"})
    rnn = spec["rnn"]
    directions = 2 if rnn.get("bidirectional") else 1
    for k in range(1, rnn.get("layers", 1) + 1):
        if rnn["cell"] == "lstm":
            changes.append({"layer": f"rnn{k}", "params": 4 * rnn["units"] * directions,
                            "why": "ONNX LSTM keeps input and recurrent biases (8H per direction; Keras has 4H)"})
        elif torch_export and not rnn.get("reset_after", True):
            changes.append({"layer": f"rnn{k}", "params": 3 * rnn["units"] * directions,
                            "why": "PyTorch GRU has two biases (6H; Keras reset_after=False has 3H)"})
    return changes


# ---- exports ---------------------------------------------------------------------

def export_keras(model, path: Path) -> None:
    model.export(str(path), format="onnx", verbose=False)


def export_torch(spec: dict, path: Path, exporter: str) -> None:
    import torch
    from torch_twins import LRCNTwin, example_input, randomise

    model = randomise(LRCNTwin(spec))
    x = example_input(spec, batch=2)
    if exporter == "dynamo":
        torch.onnx.export(model, (x,), str(path), dynamo=True, verbose=False,
                          dynamic_shapes=({0: torch.export.Dim("batch")},))
    else:
        torch.onnx.export(model, (x,), str(path), dynamo=False, input_names=["frames"],
                          dynamic_axes={"frames": {0: "batch"}})


# ---- more Keras layers through tf2onnx, and the bundled examples ---------------------

EXAMPLES = Path(__file__).resolve().parent.parent / "lrcn_advisor" / "examples"
EXAMPLE_NAMES = ("classic_lrcn", "lrcn_clean", "lrcn_gru_bidirectional", "lrcn_overpooled")
LAYER_FRAMES = 4


def _convlstm(name: str):
    """TD conv -> ConvLSTM2D (a tf2onnx Loop with convolutions in its body) -> GAP -> softmax."""
    import keras
    from keras import layers

    inputs = keras.Input((LAYER_FRAMES, 16, 16, 3), name="frames")
    x = layers.TimeDistributed(layers.Conv2D(8, 3, padding="same", activation="relu"), name="conv1")(inputs)
    x = layers.ConvLSTM2D(16, 3, padding="same", name="convlstm")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inputs, layers.Dense(4, activation="softmax", name="head")(x), name=name)


def _convlstm_seq(name: str):
    """Two stacked ConvLSTM2D (valid padding, the first returns all steps) straight on the frames."""
    import keras
    from keras import layers

    inputs = keras.Input((LAYER_FRAMES, 12, 12, 2), name="frames")
    x = layers.ConvLSTM2D(6, 3, padding="valid", return_sequences=True, name="convlstm1")(inputs)
    x = layers.ConvLSTM2D(8, 3, padding="same", name="convlstm2")(x)
    x = layers.Flatten(name="flatten")(x)
    return keras.Model(inputs, layers.Dense(4, activation="softmax", name="head")(x), name=name)


def _unrolled_lstm(name: str):
    """Keras LSTM(unroll=True): per-step MatMul/Add/Split/gates instead of an LSTM op."""
    import keras
    from keras import layers

    inputs = keras.Input((LAYER_FRAMES, 16, 16, 3), name="frames")
    x = layers.TimeDistributed(layers.Conv2D(8, 3, padding="same", activation="relu"), name="conv1")(inputs)
    x = layers.TimeDistributed(layers.MaxPooling2D(4), name="pool1")(x)
    x = layers.TimeDistributed(layers.Flatten(), name="reduce")(x)
    x = layers.LSTM(12, unroll=True, return_sequences=True, name="rnn1")(x)
    x = layers.LSTM(10, unroll=True, name="rnn2")(x)
    return keras.Model(inputs, layers.Dense(4, activation="softmax", name="head")(x), name=name)


def _up_down(name: str):
    """Conv2DTranspose (ConvTranspose), UpSampling2D nearest (Tile) and bilinear (Resize) per frame."""
    import keras
    from keras import layers

    inputs = keras.Input((LAYER_FRAMES, 16, 16, 3), name="frames")
    td = layers.TimeDistributed
    x = td(layers.Conv2D(8, 3, strides=2, padding="same", activation="relu"), name="conv1")(inputs)
    x = td(layers.Conv2DTranspose(8, 3, strides=2, padding="same", activation="relu"), name="deconv1")(x)
    x = td(layers.Conv2DTranspose(6, 4, strides=2, padding="valid"), name="deconv2")(x)
    x = td(layers.MaxPooling2D(2), name="pool1")(x)
    x = td(layers.UpSampling2D(2), name="up_nearest")(x)
    x = td(layers.UpSampling2D(2, interpolation="bilinear"), name="up_bilinear")(x)
    x = td(layers.Conv2D(4, 3, strides=4, padding="valid"), name="conv2")(x)
    x = td(layers.GlobalAveragePooling2D(), name="gap")(x)
    x = layers.GRU(8, name="rnn1")(x)
    return keras.Model(inputs, layers.Dense(4, activation="softmax", name="head")(x), name=name)


def _plain_bn(name: str):
    """Conv (no bias, as usual before a BatchNorm) + BatchNorm outside TimeDistributed: tf2onnx may fold
    the BatchNorm into the Conv."""
    import keras
    from keras import layers

    inputs = keras.Input((LAYER_FRAMES, 16, 16, 3), name="frames")
    x = layers.Reshape((LAYER_FRAMES * 16, 16, 3), name="tile_frames")(inputs)
    x = layers.Conv2D(8, 3, padding="same", use_bias=False, name="conv1")(x)
    x = layers.BatchNormalization(name="bn1")(x)
    x = layers.Activation("relu", name="relu1")(x)
    x = layers.Reshape((LAYER_FRAMES, 16 * 16 * 8), name="to_steps")(x)
    x = layers.Dense(16, activation="relu", name="projection")(x)
    x = layers.GRU(8, name="rnn1")(x)
    return keras.Model(inputs, layers.Dense(4, activation="softmax", name="head")(x), name=name)


LAYER_MODELS = {"keras_convlstm_t4": _convlstm, "keras_convlstm_seq_t4": _convlstm_seq,
                "keras_lstm_unroll_t4": _unrolled_lstm, "keras_updown_t4": _up_down,
                "keras_plain_bn_t4": _plain_bn}


def example_model(name: str, frames: int):
    """A bundled example rebuilt with `frames` time steps (same layers, same sizes)."""
    import keras

    model = keras.saving.load_model(EXAMPLES / f"{name}.keras", compile=False)
    config = model.get_config()
    first = config["layers"][0]["config"]
    first["batch_shape"] = [None, frames, *first["batch_shape"][2:]]
    rebuilt = model.__class__.from_config(config)
    rebuilt.name = name
    return rebuilt


def randomise(model, shape: tuple) -> None:
    """Call the model once, then give every weight a non-zero random value (variances positive)."""
    model(np.zeros((1, *shape), "float32"))
    rng = np.random.default_rng(0)
    model.set_weights([rng.normal(size=w.shape).astype("float32") * 0.1 + (1.0 if "variance" in v.path else 0.0)
                       for w, v in zip(model.get_weights(), model.weights)])


def layer_model_names() -> list[tuple[str, str]]:
    """(model, weights) of every --layers export: all with random weights; the small ones and one
    example also freshly initialised (zero biases, which tf2onnx drops)."""
    names = [*LAYER_MODELS, *(f"example_{n}" for n in EXAMPLE_NAMES)]
    fresh = [*LAYER_MODELS, "example_classic_lrcn"]
    return [(name, "random") for name in names] + [(name, "fresh") for name in fresh]


def make_layer_models(out: Path, example_frames: int = 4) -> list[dict]:
    """tf2onnx exports of LAYER_MODELS and the bundled examples (see layer_model_names)."""
    builders = {**LAYER_MODELS, **{f"example_{n}": (lambda model_name, n=n: example_model(n, example_frames))
                                   for n in EXAMPLE_NAMES}}
    manifest = []
    for name, weights in layer_model_names():
        model = builders[name](name)
        shape = tuple(model.inputs[0].shape[1:])
        if weights == "random":
            randomise(model, shape)
        else:
            model(np.zeros((1, *shape), "float32"))
        stem = name if weights == "random" else f"{name}_fresh"
        model.save(out / f"{stem}.keras")
        export_keras(model, out / f"{stem}.onnx")
        manifest.append({"name": stem, "onnx": f"{stem}.onnx", "source": "keras", "weights": weights,
                         "exporter": EXPORTERS["tf2onnx"], "keras_twin": f"{stem}.keras",
                         "frames": shape[0], "keras_count_params": int(model.count_params())})
        print(f"{stem}: keras via tf2onnx ({weights} weights)", flush=True)
    return manifest


def make_all(out: Path) -> list[dict]:
    manifest = []
    for name, (source, exporter, spec) in VARIANTS.items():
        model = keras_model(spec, name)
        model.save(out / f"{name}.keras")
        if source == "keras":
            export_keras(model, out / f"{name}.onnx")
        else:
            export_torch(spec, out / f"{name}.onnx", exporter)
        manifest.append({"name": name, "onnx": f"{name}.onnx", "source": source, "exporter": EXPORTERS[exporter],
                         "keras_twin": f"{name}.keras", "frames": spec["frames"], "spec": spec,
                         "keras_count_params": int(model.count_params()),
                         "exporter_changes": exporter_changes(spec, exporter)})
        print(f"{name}: {source} via {exporter}", flush=True)
    return manifest


# ---- a tf2onnx-like unrolled export, written directly ------------------------------

class _Writer:
    """Nodes and initialisers of a graph under construction, tf2onnx-style names."""

    def __init__(self):
        self.nodes, self.initializers, self.rng = [], [], np.random.default_rng(0)

    def const(self, name: str, value) -> str:
        from onnx import numpy_helper

        self.initializers.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def weight(self, name: str, *shape: int) -> str:
        return self.const(name, (self.rng.normal(size=shape) * 0.1).astype(np.float32))

    def node(self, op: str, inputs: list[str], name: str, **attrs) -> str:
        from onnx import helper

        self.nodes.append(helper.make_node(op, inputs, [f"{name}:0"], name=name, **attrs))
        return f"{name}:0"


def write_unrolled(spec: dict, path: Path) -> int:
    """Write the spec's LRCN (LSTM, one layer) as tf2onnx lays out an unrolled export; return its node count."""
    import onnx
    from onnx import TensorProto, helper

    w = _Writer()
    steps, size = spec["frames"], spec["size"]
    starts = [w.const(f"const_starts__{t}", np.array([t], np.int64)) for t in range(steps + 1)]
    axis0, axis1 = w.const("const_axes__0", np.array([0], np.int64)), w.const("const_axes__1", np.array([1], np.int64))

    def time_distributed(seq: str, rank: int, layer: str, per_frame) -> str:
        order = [1, 0, *range(2, rank)]
        transposed = w.node("Transpose", [seq], f"model/{layer}/transpose", perm=order)
        frames = []
        for t in range(steps):
            piece = w.node("Slice", [transposed, starts[t], starts[t + 1], axis0], f"model/{layer}/strided_slice_{t}")
            frame = w.node("Squeeze", [piece, axis0], f"model/{layer}/strided_slice_{t}__squeeze")
            frames.append(w.node("Unsqueeze", [per_frame(frame, t), axis1], f"model/{layer}/stack_Unsqueeze_{t}"))
        return w.node("Concat", frames, f"model/{layer}/stack_Concat", axis=1)

    def channels_first(layer: str, op: str, inputs, **attrs):
        def run(frame, t):
            nchw = w.node("Transpose", [frame], f"model/{layer}/{op}_{t}__nchw", perm=[0, 3, 1, 2])
            out = w.node(op, [nchw, *inputs], f"model/{layer}/{op}_{t}", **attrs)
            if op == "Conv":
                out = w.node("Relu", [out], f"model/{layer}/Relu_{t}")
            return w.node("Transpose", [out], f"model/{layer}/{op}_{t}__nhwc", perm=[0, 2, 3, 1])
        return run

    seq, channels = "frames", spec["channels"]
    for i, conv in enumerate(spec["convs"], 1):
        kernel = w.weight(f"model/conv{i}/kernel", conv["filters"], channels, 3, 3)
        bias = w.weight(f"model/conv{i}/bias", conv["filters"])
        pads = [1, 1, 1, 1] if conv["stride"] == 1 else [0, 0, 1, 1]
        seq = time_distributed(seq, 5, f"conv{i}", channels_first(
            f"conv{i}", "Conv", [kernel, bias], kernel_shape=[3, 3], strides=[conv["stride"]] * 2, pads=pads))
        channels = conv["filters"]
        if conv["bn"]:
            scale, shift = w.weight(f"model/bn{i}/mul", channels), w.weight(f"model/bn{i}/add", channels)
            seq = time_distributed(seq, 5, f"bn{i}", lambda f, t, s=scale, h=shift, i=i: w.node(
                "Add", [w.node("Mul", [f, s], f"model/bn{i}/mul_{t}"), h], f"model/bn{i}/add_{t}"))
        if conv["pool"]:
            seq = time_distributed(seq, 5, f"pool{i}", channels_first(
                f"pool{i}", "MaxPool", [], kernel_shape=[2, 2], strides=[2, 2]))
    side, channels = frame_features(spec)
    features = side * side * channels
    shape = w.const("model/reduce/shape", np.array([-1, features], np.int64))
    seq = time_distributed(seq, 5, "reduce", lambda f, t: w.node("Reshape", [f, shape], f"model/reduce/Reshape_{t}"))
    units = spec["rnn"]["units"]
    x = w.node("Transpose", [seq], "model/rnn1/transpose", perm=[1, 0, 2])
    inputs = [x, w.weight("W0", 1, 4 * units, features), w.weight("R0", 1, 4 * units, units),
              w.const("B0", np.concatenate([np.random.default_rng(1).normal(size=(1, 4 * units)),
                                            np.zeros((1, 4 * units))], axis=1).astype(np.float32))]
    w.nodes.append(helper.make_node("LSTM", inputs, ["LSTM:0", "LSTM:1", "LSTM:2"], name="LSTM", hidden_size=units))
    last = w.node("Squeeze", ["LSTM:1", axis0], "model/rnn1/Squeeze")
    logits = w.node("Add", [w.node("MatMul", [last, w.weight("model/head/kernel", units, spec["classes"])],
                                   "model/head/MatMul"), w.weight("model/head/bias", spec["classes"])],
                    "model/head/BiasAdd")
    w.node("Softmax", [logits], "model/head/Softmax")
    graph = helper.make_graph(
        w.nodes, "unrolled_lrcn",
        [helper.make_tensor_value_info("frames", TensorProto.FLOAT, ["unk__0", steps, size, size, spec["channels"]])],
        [helper.make_tensor_value_info("model/head/Softmax:0", TensorProto.FLOAT, ["unk__0", spec["classes"]])],
        w.initializers)
    model = helper.make_model(graph, producer_name="make_onnx.write_unrolled",
                              opset_imports=[helper.make_opsetid("", 15)])
    onnx.save(model, str(path))
    return len(w.nodes)


def unrolled_spec(frames: int) -> dict:
    spec = copy.deepcopy(UNROLLED_SPEC)
    spec["frames"] = frames
    return spec


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--unrolled", type=int, metavar="FRAMES",
                        help="only write unrolled_tFRAMES.onnx, a tf2onnx-like unrolled export")
    parser.add_argument("--layers", action="store_true",
                        help="only the tf2onnx exports of more layer kinds and of the bundled examples "
                             "(layers.json lists them)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    warnings.simplefilter("ignore")
    if args.unrolled:
        nodes = write_unrolled(unrolled_spec(args.unrolled), args.out / f"unrolled_t{args.unrolled}.onnx")
        print(f"unrolled_t{args.unrolled}.onnx: {nodes:,} nodes")
        return 0
    if args.layers:
        (args.out / "layers.json").write_text(json.dumps(make_layer_models(args.out), indent=2))
        return 0
    manifest = make_all(args.out)
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
