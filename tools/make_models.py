#!/usr/bin/env python
"""Build a corpus of real Keras LRCN-style models and record Keras' own ground truth.

    python tools/make_models.py --out DIR [--only NAME,...]  # NAME.h5/.keras/.json + expected.json
    python tools/make_models.py --examples DIR               # bundled examples: .h5 and .keras only
    python tools/make_models.py --legacy DIR                 # tf_keras (Keras 2): .h5/.json + expected.json

expected.json maps each model name to its input shapes, total/trainable parameter counts and one
record per top-level layer (exactly ``model.layers``), plus the layers of any nested model (e.g. a
backbone wrapped in TimeDistributed) under "nested". Every number comes from Keras itself.

Each builder takes ``(k, L, name)``: the Keras module (keras or tf_keras), its layers module and the
model name, so the builders registered with ``legacy=True`` also build under tf_keras.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@contextlib.contextmanager
def _quiet_stderr():
    """Silence C++ start-up chatter (absl logs that ignore TF_CPP_MIN_LOG_LEVEL) on fd 2."""
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


with _quiet_stderr():
    import keras
logging.getLogger("absl").setLevel(logging.ERROR)  # "HDF5 is legacy" warnings on every .h5 save

ARCHITECTURES: dict[str, Callable[..., keras.Model]] = {}
LEGACY: list[str] = []  # names whose builders also run under tf_keras
EXAMPLES = ["classic_lrcn", "lrcn_gru_bidirectional", "lrcn_overpooled", "lrcn_clean"]


def architecture(name: str, legacy: bool = False):
    """Register ``fn(k, L, name)``; ``ARCHITECTURES[name]()`` builds it with Keras 3."""
    def register(fn):
        ARCHITECTURES[name] = lambda k=keras: fn(k, k.layers, name)
        if legacy:
            LEGACY.append(name)
        return fn
    return register


def seq(k, name, input_shape, *layers):
    return k.Sequential([k.Input(input_shape), *layers], name=name)


def conv_bn_pool(L, filters, pool=2):
    """Per-frame Conv2D (no bias) -> BatchNorm -> ReLU -> MaxPool, each wrapped in TimeDistributed."""
    td = L.TimeDistributed
    return [td(L.Conv2D(filters, 3, padding="same", use_bias=False)), td(L.BatchNormalization()),
            td(L.Activation("relu")), td(L.MaxPooling2D(pool))]


# --------------------------------------------------------------------------- examples / classics

@architecture("classic_lrcn", legacy=True)
def classic_lrcn(k, L, name):
    """The tutorial LRCN (73,060 params): TD Conv2D/MaxPool/Dropout/Flatten -> LSTM -> Dense."""
    td = L.TimeDistributed
    return seq(k, name, (20, 64, 64, 3),
               td(L.Conv2D(16, 3, padding="same", activation="relu")), td(L.MaxPooling2D(4)),
               td(L.Dropout(0.25)),
               td(L.Conv2D(32, 3, padding="same", activation="relu")), td(L.MaxPooling2D(4)),
               td(L.Dropout(0.25)),
               td(L.Conv2D(64, 3, padding="same", activation="relu")), td(L.MaxPooling2D(2)),
               td(L.Dropout(0.25)),
               td(L.Conv2D(64, 3, padding="same", activation="relu")), td(L.MaxPooling2D(2)),
               td(L.Flatten()), L.LSTM(32), L.Dense(4, activation="softmax"))


@architecture("lrcn_clean")
def lrcn_clean(k, L, name):
    """Well-designed LRCN: 32/64/128 conv+BN blocks to an 8x8 map, GAP, dropout 0.5, LSTM(64)."""
    return seq(k, name, (16, 64, 64, 3),
               *conv_bn_pool(L, 32), *conv_bn_pool(L, 64), *conv_bn_pool(L, 128),
               L.TimeDistributed(L.GlobalAveragePooling2D()), L.Dropout(0.5),
               L.LSTM(64), L.Dropout(0.4), L.Dense(5, activation="softmax"))


@architecture("lrcn_gru_bidirectional", legacy=True)
def lrcn_gru_bidirectional(k, L, name):
    """Conv+BN frames -> two Bidirectional GRUs (concat, reset_after=True default)."""
    return seq(k, name, (16, 64, 64, 3),
               *conv_bn_pool(L, 32), *conv_bn_pool(L, 64), *conv_bn_pool(L, 128),
               L.TimeDistributed(L.GlobalAveragePooling2D()), L.Dropout(0.4),
               L.Bidirectional(L.GRU(64, return_sequences=True)),
               L.Bidirectional(L.GRU(32)), L.Dropout(0.4), L.Dense(6, activation="softmax"))


@architecture("lrcn_overpooled")
def lrcn_overpooled(k, L, name):
    """Badly designed: two 8x8 pools collapse each frame to 1x1 early; dropout 0.8."""
    td = L.TimeDistributed
    return seq(k, name, (16, 64, 64, 3),
               td(L.Conv2D(16, 3, padding="same", activation="relu")), td(L.MaxPooling2D(8)),
               td(L.Conv2D(32, 3, padding="same", activation="relu")), td(L.MaxPooling2D(8)),
               td(L.Dropout(0.8)), td(L.Flatten()), L.LSTM(32), L.Dropout(0.8),
               L.Dense(4, activation="softmax"))


# --------------------------------------------------------------------------- pretrained-style backbones

@architecture("lrcn_mobilenetv2")
def lrcn_mobilenetv2(k, L, name):
    """MobileNetV2 (alpha 0.35, weights=None) per frame -> LSTM."""
    cnn = k.applications.MobileNetV2(input_shape=(96, 96, 3), alpha=0.35, include_top=False,
                                     pooling="avg", weights=None)
    return seq(k, name, (8, 96, 96, 3), L.TimeDistributed(cnn), L.LSTM(64), L.Dropout(0.4),
               L.Dense(10, activation="softmax"))


@architecture("lrcn_vgg16")
def lrcn_vgg16(k, L, name):
    """Functional: VGG16 (weights=None) per frame -> GRU."""
    cnn = k.applications.VGG16(input_shape=(64, 64, 3), include_top=False, pooling="avg",
                               weights=None)
    frames = k.Input((8, 64, 64, 3), name="frames")
    x = L.TimeDistributed(cnn)(frames)
    x = L.GRU(64)(x)
    return k.Model(frames, L.Dense(10, activation="softmax")(x), name=name)


@architecture("lrcn_inceptionv3")
def lrcn_inceptionv3(k, L, name):
    """InceptionV3 (weights=None, 75x75 minimum input) per frame -> LSTM."""
    cnn = k.applications.InceptionV3(input_shape=(75, 75, 3), include_top=False, pooling="avg",
                                     weights=None)
    return seq(k, name, (8, 75, 75, 3), L.TimeDistributed(cnn), L.LSTM(64),
               L.Dense(10, activation="softmax"))


# --------------------------------------------------------------------------- LRCN variants

@architecture("lrcn_separable_gru")
def lrcn_separable_gru(k, L, name):
    """Unknown clip length; SeparableConv2D (depth_multiplier 2), DepthwiseConv2D,
    BN(scale=False), GlobalMaxPooling2D, GRU(reset_after=False)."""
    td = L.TimeDistributed
    return seq(k, name, (None, 64, 64, 3),
               td(L.SeparableConv2D(16, 3, depth_multiplier=2, padding="same", activation="relu")),
               td(L.MaxPooling2D(2)),
               td(L.DepthwiseConv2D(3, padding="same", use_bias=False)),
               td(L.BatchNormalization(scale=False)), td(L.Activation("relu")),
               td(L.Conv2D(32, 1, activation="relu")), td(L.MaxPooling2D(2)),
               td(L.GlobalMaxPooling2D()), L.GRU(64, reset_after=False),
               L.Dense(5, activation="softmax"))


@architecture("lrcn_bilstm")
def lrcn_bilstm(k, L, name):
    """Strided 'valid' convs, dilation, LeakyReLU, AveragePooling2D, TD Flatten+Dense,
    Bidirectional(LSTM, merge_mode='sum') then LSTM."""
    td = L.TimeDistributed
    return seq(k, name, (16, 64, 64, 3),
               td(L.Conv2D(32, 5, strides=2, padding="valid")), td(L.LeakyReLU()),
               td(L.Conv2D(32, 3, dilation_rate=2, padding="same", activation="relu")),
               td(L.AveragePooling2D(2)),
               td(L.Conv2D(64, 3, strides=2, padding="valid", activation="relu")),
               td(L.Flatten()), td(L.Dense(64, activation="relu")), L.Dropout(0.3),
               L.Bidirectional(L.LSTM(64, return_sequences=True), merge_mode="sum"),
               L.LSTM(32), L.Dense(8, activation="softmax"))


@architecture("lrcn_simplernn")
def lrcn_simplernn(k, L, name):
    """Small frames -> GaussianDropout on frame features -> SimpleRNN."""
    td = L.TimeDistributed
    return seq(k, name, (12, 32, 32, 3),
               td(L.Conv2D(16, 3, activation="relu")), td(L.MaxPooling2D(2)),
               td(L.Conv2D(32, 3, activation="relu")), td(L.GlobalAveragePooling2D()),
               L.GaussianDropout(0.1), L.SimpleRNN(32), L.Dense(3, activation="softmax"))


@architecture("lrcn_flatten_heavy")
def lrcn_flatten_heavy(k, L, name):
    """Hazard: Flatten of a 16x16x16 map feeds a 4096-wide LSTM input; three stacked LSTMs."""
    td = L.TimeDistributed
    return seq(k, name, (10, 32, 32, 3),
               td(L.Conv2D(16, 3, padding="same", activation="relu")), td(L.MaxPooling2D(2)),
               td(L.Flatten()), L.LSTM(32, return_sequences=True), L.LSTM(32, return_sequences=True),
               L.LSTM(32), L.Dense(4, activation="softmax"))


@architecture("lrcn_convlstm", legacy=True)
def lrcn_convlstm(k, L, name):
    """ConvLSTM2D ('same', sequences) -> BN -> ConvLSTM2D ('valid', last step) -> SpatialDropout2D."""
    return seq(k, name, (10, 64, 64, 3),
               L.ConvLSTM2D(16, 3, padding="same", return_sequences=True), L.BatchNormalization(),
               L.ConvLSTM2D(16, 3, padding="valid", return_sequences=False),
               L.SpatialDropout2D(0.2), L.MaxPooling2D(2), L.Flatten(),
               L.Dense(4, activation="softmax"))


@architecture("c3d")
def c3d(k, L, name):
    """C3D-style 3-D CNN: Conv3D, MaxPooling3D, AveragePooling3D, SpatialDropout3D, GMP3D."""
    return seq(k, name, (16, 64, 64, 3),
               L.Conv3D(16, 3, padding="same", activation="relu"), L.MaxPooling3D((1, 2, 2)),
               L.Conv3D(32, 3, padding="same", activation="relu"), L.MaxPooling3D(2),
               L.Conv3D(64, 3, padding="same", activation="relu"), L.AveragePooling3D(2),
               L.SpatialDropout3D(0.2), L.GlobalMaxPooling3D(), L.Dense(64, activation="relu"),
               L.Dropout(0.5), L.Dense(10, activation="softmax"))


@architecture("r2plus1d_lite")
def r2plus1d_lite(k, L, name):
    """Functional (2+1)-D residual block: spatial (1,3,3) then temporal (3,1,1) Conv3D, Add, ELU."""
    clip = k.Input((16, 64, 64, 3), name="clip")
    x = L.Conv3D(32, (1, 3, 3), strides=(1, 2, 2), padding="same", use_bias=False)(clip)
    x = L.ELU()(L.BatchNormalization()(x))
    x = L.Conv3D(32, (3, 1, 1), padding="same", use_bias=False)(x)
    x = L.BatchNormalization()(x)
    shortcut = L.Conv3D(32, 1, strides=(1, 2, 2))(clip)
    x = L.ELU()(L.Add()([x, shortcut]))
    x = L.GlobalAveragePooling3D()(L.MaxPooling3D(2)(x))
    return k.Model(clip, L.Dense(10, activation="softmax")(x), name=name)


# --------------------------------------------------------------------------- sequence models

@architecture("conv1d_sensor", legacy=True)
def conv1d_sensor(k, L, name):
    """Accelerometer windows (128 steps x 9 channels): Conv1D, BN(center=False), pools, LSTM."""
    return seq(k, name, (128, 9),
               L.Conv1D(32, 5, padding="same", activation="relu"), L.BatchNormalization(center=False),
               L.MaxPooling1D(2),
               L.Conv1D(64, 3, dilation_rate=2, padding="same", activation="relu"),
               L.SpatialDropout1D(0.2), L.AveragePooling1D(2),
               L.LSTM(32, return_sequences=True), L.GlobalAveragePooling1D(),
               L.Dense(6, activation="softmax"))


@architecture("masking_lstm", legacy=True)
def masking_lstm(k, L, name):
    """Padded variable-length (None, 40) frame features: Masking -> 2 LSTMs."""
    return seq(k, name, (None, 40),
               L.Masking(0.0), L.LSTM(64, return_sequences=True), L.Dropout(0.3), L.LSTM(32),
               L.Dense(5, activation="softmax"))


@architecture("seq2seq_repeat")
def seq2seq_repeat(k, L, name):
    """Encoder LSTM (return_state: a 3-output layer) -> RepeatVector -> decoder LSTM -> Dense (3-D)."""
    feats = k.Input((30, 40), name="frame_features")
    encoded, h, c = L.LSTM(64, return_state=True)(feats)
    x = L.RepeatVector(10)(encoded)
    x = L.LSTM(64, return_sequences=True)(x, initial_state=[h, c])
    return k.Model(feats, L.Dense(40)(x), name=name)


@architecture("crnn_spectrogram")
def crnn_spectrogram(k, L, name):
    """CRNN on a (freq, time, 1) spectrogram: grouped Conv2D, Permute to time-major, Reshape, GRU."""
    return seq(k, name, (64, 128, 1),
               L.Conv2D(16, 3, padding="same", activation="relu"), L.MaxPooling2D((2, 1)),
               L.Conv2D(32, 3, padding="same", groups=2, activation="relu"), L.MaxPooling2D(2),
               L.Permute((2, 1, 3)), L.Reshape((64, 16 * 32)), L.GRU(64),
               L.Dense(10, activation="softmax"))


# --------------------------------------------------------------------------- functional, multi-branch

@architecture("two_stream", legacy=True)
def two_stream(k, L, name):
    """Appearance (nested Sequential CNN in TD) + motion (optical flow) streams -> Concatenate -> LSTM."""
    td = L.TimeDistributed
    appearance = k.Sequential([k.Input((64, 64, 3)),
                               L.Conv2D(32, 3, padding="same"), L.BatchNormalization(), L.ReLU(),
                               L.MaxPooling2D(2), L.Conv2D(64, 3, padding="same"), L.ReLU(),
                               L.MaxPooling2D(2), L.GlobalAveragePooling2D()], name="appearance_cnn")
    rgb, flow = k.Input((16, 64, 64, 3), name="rgb"), k.Input((16, 64, 64, 2), name="flow")
    a = td(appearance)(rgb)
    m = td(L.Conv2D(32, 3, strides=2, padding="same"))(flow)
    m = td(L.Conv2D(64, 3, strides=2, padding="same"))(td(L.ReLU())(m))
    m = td(L.GlobalAveragePooling2D())(td(L.ReLU())(m))
    x = L.LSTM(64)(L.Concatenate()([a, m]))
    x = L.Dropout(0.5)(x)
    return k.Model([rgb, flow], L.Dense(10, activation="softmax")(x), name=name)


@architecture("attention_pool")
def attention_pool(k, L, name):
    """Unknown clip length; LayerNorm -> LSTM -> self-Attention -> max+avg pooling over time -> Softmax."""
    td = L.TimeDistributed
    frames = k.Input((None, 64, 64, 3), name="frames")
    x = td(L.SeparableConv2D(32, 3, padding="same", activation="relu"))(frames)
    x = td(L.MaxPooling2D(2))(x)
    x = td(L.Conv2D(64, 3, padding="same", activation="relu"))(x)
    x = td(L.GlobalAveragePooling2D())(td(L.MaxPooling2D(2))(x))
    h = L.LSTM(64, return_sequences=True)(L.LayerNormalization()(x))
    # score_mode="dot" (the default) saves, but Keras 3.15's .h5 loader turns the string "dot" into
    # the function keras.ops.dot and rejects it; "concat" round-trips (and adds 1 trainable scalar).
    att = L.Attention(score_mode="concat")([h, h])
    x = L.Concatenate()([L.GlobalMaxPooling1D()(att), L.GlobalAveragePooling1D()(att)])
    return k.Model(frames, L.Softmax()(L.Dense(7)(x)), name=name)


@architecture("fusion_gates")
def fusion_gates(k, L, name):
    """Gated frame features (Multiply, Subtract, Add, PReLU) -> LSTM and GRU heads fused by
    Average/Maximum/Minimum."""
    td = L.TimeDistributed
    frames = k.Input((16, 64, 64, 3), name="frames")
    x = td(L.Conv2D(16, 3, strides=2, padding="same", activation="relu"))(frames)
    x = td(L.Conv2D(32, 3, strides=2, padding="same", activation="relu"))(x)
    f = td(L.GlobalAveragePooling2D())(x)
    gate = L.Dense(32, activation="sigmoid")(f)
    diff = L.Subtract()([L.Dense(32)(f), L.Dense(32)(f)])
    s = L.PReLU()(L.Add()([L.Multiply()([f, gate]), diff]))
    heads = [L.LSTM(32)(s), L.GRU(32)(s)]
    x = L.Concatenate()([L.Average()(heads), L.Maximum()(heads), L.Minimum()(heads)])
    return k.Model(frames, L.Dense(4, activation="softmax")(x), name=name)


@architecture("hostile_names")
def hostile_names(k, L, name):
    """Layer names that must be escaped by any report. Keras rejects '/' in names, so the script
    tag is closed with a backslash: '<script>alert(1)<\\script>'."""
    td = L.TimeDistributed
    return seq(k, name, (8, 32, 32, 3),
               td(L.Conv2D(8, 3, activation="relu"), name="<script>alert(1)<\\script>"),
               td(L.MaxPooling2D(2), name='"><img src=x onerror=alert(2)>'),
               td(L.Flatten()), L.LSTM(16, name="résumé_层"),
               L.Dense(3, activation="softmax", name="&amp;'\"<b>"))


# --------------------------------------------------------------------------- ground truth

def _size(w) -> int:
    n = 1
    for d in w.shape:
        n *= int(d)
    return n


def _shape(t) -> list:
    return [None if d is None else int(d) for d in t.shape]


UNKNOWN_FRAMES = 16  # the advisor's stated default for a None time axis


def _dims(shape) -> list[int]:
    return [UNKNOWN_FRAMES if d is None else int(d) for d in shape]


def _prod(values) -> int:
    n = 1
    for v in values:
        n *= int(v)
    return n


def live_macs(layer, out_shape, in_shape, k) -> int:
    """MACs per the cost model, read off live Keras objects (weights and tensor shapes), not configs."""
    kind = type(layer).__name__
    if isinstance(layer, k.layers.TimeDistributed):
        steps = _dims(in_shape)[1]
        return steps * live_macs(layer.layer, [out_shape[0], *out_shape[2:]], [in_shape[0], *in_shape[2:]], k)
    if isinstance(layer, k.layers.Bidirectional):
        return sum(live_macs(part, out_shape, in_shape, k) for part in (layer.forward_layer, layer.backward_layer))
    if isinstance(layer, k.Model):
        return sum(r["macs"] for r in layer_records(layer.layers, k))
    out = _dims(out_shape)
    if kind in ("Conv1D", "Conv2D", "Conv3D"):
        return _prod(out[1:]) * _prod(layer.kernel.shape[:-1])
    if kind == "DepthwiseConv2D":
        return _prod(out[1:]) * _prod(layer.kernel.shape[:2])
    if kind == "SeparableConv2D":
        positions = _prod(out[1:-1])
        kh, kw, cin, mult = layer.depthwise_kernel.shape
        return positions * cin * mult * kh * kw + positions * _prod(layer.pointwise_kernel.shape)
    if kind == "Dense":
        return _prod(out[1:-1]) * _prod(layer.kernel.shape)
    if kind in ("LSTM", "GRU", "SimpleRNN", "ConvLSTM2D"):
        steps = _dims(in_shape)[1]
        cell = layer.cell
        positions = _prod(out[2:-1] if layer.return_sequences else out[1:-1]) if kind == "ConvLSTM2D" else 1
        return steps * positions * (_prod(cell.kernel.shape) + _prod(cell.recurrent_kernel.shape))
    return 0


def _io(layer, attr: str):
    getter = getattr(layer, f"get_{attr}_at", None)  # tf_keras refuses .input/.output on reused layers
    return getter(0) if getter else getattr(layer, attr)


def layer_records(layers, k) -> list[dict]:
    out = []
    for layer in layers:
        if isinstance(layer, k.layers.TimeDistributed):
            inner = layer.layer
        elif isinstance(layer, k.layers.Bidirectional):
            inner = layer.forward_layer
        else:
            inner = None
        # node 0 is the layer's own graph; tf_keras refuses `.output` once a nested model is reused
        y = _io(layer, "output")
        x = None if type(layer).__name__ == "InputLayer" else _io(layer, "input")
        first_out = y[0] if isinstance(y, (list, tuple)) else y
        first_in = x[0] if isinstance(x, (list, tuple)) else x
        out.append({
            "name": layer.name,
            "class": type(layer).__name__,
            "inner_class": None if inner is None else type(inner).__name__,
            "params": int(layer.count_params()),
            "trainable_params": sum(_size(w) for w in layer.trainable_weights),
            "output_shape": [_shape(t) for t in y] if isinstance(y, (list, tuple)) else _shape(y),
            "macs": 0 if first_in is None else live_macs(layer, first_out.shape, first_in.shape, k),
        })
    return out


def expected_for(model, k) -> dict:
    nested = {}
    for layer in model.layers:
        inner = layer.layer if isinstance(layer, k.layers.TimeDistributed) else layer
        if isinstance(inner, k.Model):
            nested[layer.name] = layer_records(inner.layers, k)
    return {
        "input_shapes": [_shape(t) for t in model.inputs],
        "total_params": int(model.count_params()),
        "trainable_params": sum(_size(w) for w in model.trainable_weights),
        "layers": layer_records(model.layers, k),
        "nested": nested,
    }


# --------------------------------------------------------------------------- driver

def build_all(names, out: Path, k, suffixes) -> None:
    out.mkdir(parents=True, exist_ok=True)
    expected, start = {}, time.perf_counter()
    for name in names:
        t0 = time.perf_counter()
        k.backend.clear_session()  # resets auto-generated layer names so they do not depend on --only
        k.utils.set_random_seed(0)
        model = ARCHITECTURES[name](k)
        for suffix in suffixes:
            path = out / f"{name}{suffix}"
            if suffix == ".json":
                path.write_text(model.to_json(), encoding="utf-8")
            else:
                model.save(path)
        expected[name] = expected_for(model, k)
        sizes = "  ".join(f"{s}={(out / (name + s)).stat().st_size / 1e6:.2f}MB" for s in suffixes)
        print(f"{name:24s} {expected[name]['total_params']:>11,d} params  {sizes}"
              f"  {time.perf_counter() - t0:.1f}s", flush=True)
    if ".json" in suffixes:  # merge, so that --only refreshes its entries and keeps the others
        path = out / "expected.json"
        merged = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
        merged.update(expected)
        path.write_text(json.dumps(merged, indent=1, ensure_ascii=False), encoding="utf-8")
    total = sum(p.stat().st_size for p in out.iterdir() if p.is_file())
    print(f"{len(names)} models in {out}: {total / 1e6:.1f} MB, {time.perf_counter() - start:.1f}s")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--out", type=Path, help="build every architecture into DIR")
    mode.add_argument("--examples", type=Path, help="build the bundled examples (.h5/.keras) into DIR")
    mode.add_argument("--legacy", type=Path, help="build the tf_keras (Keras 2) subset into DIR")
    ap.add_argument("--only", help="comma-separated subset of names")
    args = ap.parse_args(argv)

    if args.legacy:
        with _quiet_stderr():
            import tf_keras as k
        logging.getLogger("tensorflow").setLevel(logging.ERROR)
        warnings.filterwarnings("ignore", message="You are saving your model as an HDF5 file")
        names, out, suffixes = LEGACY, args.legacy, (".h5", ".json")
    elif args.examples:
        k, names, out, suffixes = keras, EXAMPLES, args.examples, (".h5", ".keras")
    else:
        k, names, out, suffixes = keras, list(ARCHITECTURES), args.out, (".h5", ".keras", ".json")
    if args.only:
        wanted = args.only.split(",")
        unknown = [n for n in wanted if n not in names]
        if unknown:
            ap.error(f"not available in this mode: {', '.join(unknown)}")
        names = wanted
    build_all(names, out, k, suffixes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
