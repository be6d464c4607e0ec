#!/usr/bin/env python
"""Build the labelled rule set: clean LRCNs and models that each break one piece of the guide.

    python tools/make_rule_cases.py --out DIR   # NAME.keras per case + labels.json

labels.json maps each case to {"findings": [[rule, primary layer], ...], "train_samples": N|null}:
every finding the advisor must report for that model (any severity), and nothing else.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_models import _quiet_stderr  # noqa: E402

with _quiet_stderr():
    import keras
    from keras import layers as L

CASES: dict[str, tuple] = {}


def case(name: str, findings: list[tuple[str, str]], train_samples: int | None = None):
    def register(fn):
        CASES[name] = (fn, findings, train_samples)
        return fn
    return register


def lrcn(name, *, frames=16, size=64, convs=(32, 64, 128), pools=(2, 2, 2), conv_strides=(1, 1, 1), bn=True,
         conv_dropout=0.25, features="gap", extra_pool=False, recurrent=(("LSTM", 64, {}),), head_dropout=0.4,
         hidden=64, out_units=5, out_activation="softmax", lambda_input=False):
    """A small, well-designed LRCN; each keyword bends one piece of it."""
    td = L.TimeDistributed
    inputs = keras.Input((frames, size, size, 3), name="frames")
    x = inputs
    if lambda_input:
        x = L.Lambda(lambda t: t * (1.0 / 255.0), name="scale")(x)
    if lambda_input == 2:
        x = L.Lambda(lambda t: t - 0.5, name="shift")(x)
    for i, (filters, pool, stride) in enumerate(zip(convs, pools, conv_strides), start=1):
        x = td(L.Conv2D(filters, 3, strides=stride, padding="same"), name=f"conv{i}")(x)
        if bn:
            x = td(L.BatchNormalization(), name=f"bn{i}")(x)
        x = td(L.Activation("relu"), name=f"relu{i}")(x)
        if pool > 1:
            x = td(L.MaxPooling2D(pool, padding="same"), name=f"pool{i}")(x)
    if extra_pool:
        x = td(L.MaxPooling2D(2), name="pool_extra")(x)
    if conv_dropout:
        x = td(L.Dropout(conv_dropout), name="drop_conv")(x)
    x = td(L.GlobalAveragePooling2D() if features == "gap" else L.Flatten(), name="features")(x)
    for i, (kind, units, extra) in enumerate(recurrent, start=1):
        options = {"return_sequences": i < len(recurrent), **extra}
        x = getattr(L, kind)(units, name=f"rnn{i}", **options)(x)
    if head_dropout:
        x = L.Dropout(head_dropout, name="drop_head")(x)
    if hidden:
        x = L.Dense(hidden, activation="relu", name="fc")(x)
    outputs = L.Dense(out_units, activation=out_activation, name="out")(x)
    return keras.Model(inputs, outputs, name=name)


@case("clean_lrcn", [])
def clean_lrcn(name):
    return lrcn(name)


@case("clean_bigru", [])
def clean_bigru(name):
    model = lrcn(name, recurrent=(("GRU", 64, {}),))
    return model


@case("clean_large_frames", [])
def clean_large_frames(name):
    return lrcn(name, size=112, convs=(32, 64, 128, 128), pools=(2, 2, 2, 2), conv_strides=(1, 1, 1, 1))


@case("clean_two_layer_lstm", [])
def clean_two_layer_lstm(name):
    return lrcn(name, recurrent=(("LSTM", 64, {}), ("LSTM", 64, {})))


@case("cnv001_full_res_conv", [("CNV001", "conv1")])
def cnv001(name):
    return lrcn(name, size=160, convs=(64, 32, 64), pools=(4, 4, 2))


@case("cnv002_shallow", [("CNV002", "conv1")])
def cnv002(name):
    return lrcn(name, convs=(16,), pools=(2,), conv_strides=(1,))


@case("cnv003_unregularised", [("CNV003", "conv1")])
def cnv003(name):
    return lrcn(name, convs=(16, 32, 32, 64), pools=(2, 1, 2, 2), conv_strides=(1, 1, 1, 1), bn=False,
                conv_dropout=0, head_dropout=0)


@case("cnv004_params_vs_data", [("CNV004", "conv1")], train_samples=100)
def cnv004(name):
    return lrcn(name)


@case("pol001_collapse", [("POL001", "pool1")])
def pol001(name):
    return lrcn(name, convs=(16, 32, 64, 64), pools=(4, 4, 2, 2), conv_strides=(1, 1, 1, 1), features="flatten",
                recurrent=(("LSTM", 32, {}),))


@case("pol002_downsampling", [("POL002", "pool5")])
def pol002(name):
    return lrcn(name, size=256, convs=(16, 32, 64, 64, 128), pools=(2, 2, 2, 2, 2), conv_strides=(2, 1, 1, 1, 1))


@case("pol003_pool_too_big", [("POL003", "pool3"), ("POL001", "pool3")])
def pol003(name):
    return lrcn(name, convs=(32, 64, 128), pools=(2, 2, 32))


@case("pol004_consecutive", [("POL004", "pool3")])
def pol004(name):
    return lrcn(name, extra_pool=True)


@case("pol005_too_little", [("POL005", "rnn1"), ("LST003", "rnn1")])
def pol005(name):
    return lrcn(name, convs=(32, 64, 64, 64), pools=(2, 2, 1, 1), conv_strides=(1, 1, 1, 1),
                features="flatten", recurrent=(("LSTM", 32, {}),))


@case("drp001_too_high", [("DRP001", "drop_conv")])
def drp001(name):
    return lrcn(name, conv_dropout=0.8)


@case("drp002_too_low", [("DRP002", "drop_conv")])
def drp002(name):
    return lrcn(name, conv_dropout=0.05)


@case("drp003_none", [("DRP003", "rnn1"), ("LST006", "rnn1")])
def drp003(name):
    return lrcn(name, conv_dropout=0, head_dropout=0, bn=False, recurrent=(("LSTM", 256, {}),))


@case("drp003_batchnorm_regularises", [("LST006", "rnn1")])
def drp003_batchnorm(name):
    """BatchNorm after every conv is regularisation: no DRP003 although there is no dropout."""
    return lrcn(name, conv_dropout=0, head_dropout=0, bn=True, recurrent=(("LSTM", 256, {}),))


@case("drp003_frozen_backbone", [])
def drp003_frozen(name):
    """1.2M parameters, but the conv stack is frozen: 40K trainable parameters are no overfitting risk."""
    model = lrcn(name, convs=(64, 128, 256, 256), pools=(2, 2, 2, 2), conv_strides=(1, 1, 1, 1), bn=False,
                 conv_dropout=0, head_dropout=0, recurrent=(("GRU", 32, {}),), hidden=0)
    for layer in model.layers:
        if layer.name.startswith("conv"):
            layer.trainable = False
    return model


@case("drp003_no_conv_blocks", [("DRP003", "rnn1"), ("LST006", "rnn1")])
def drp003_no_convs(name):
    """Pre-extracted features: the fix must not mention conv blocks."""
    inputs = keras.Input((16, 512), name="features")
    x = L.LSTM(256, name="rnn1")(inputs)
    outputs = L.Dense(5, activation="softmax", name="out")(x)
    return keras.Model(inputs, outputs, name=name)


@case("clean_next_frame_generator", [])
def next_frame_generator(name):
    """A ConvLSTM next-frame predictor: not a classifier, so no dropout advice."""
    inputs = keras.Input((8, 32, 32, 1), name="frames")
    x = L.ConvLSTM2D(64, 3, padding="same", return_sequences=True, name="clstm1")(inputs)
    x = L.ConvLSTM2D(64, 3, padding="same", return_sequences=True, name="clstm2")(x)
    outputs = L.Conv3D(1, 3, padding="same", activation="sigmoid", name="next_frames")(x)
    return keras.Model(inputs, outputs, name=name)


@case("drp004_before_output", [("DRP004", "drop_head")])
def drp004(name):
    return lrcn(name, head_dropout=0.6, hidden=0)


@case("clean_balanced_dropout_before_output", [])
def drp004_balanced(name):
    """Dropout(0.5) before the output layer is the guide's balanced rate: no DRP004."""
    return lrcn(name, head_dropout=0.5, hidden=0)


@case("drp006_stacked_dropout", [("DRP006", "drop_seq")])
def drp006(name):
    inputs = keras.Input((16, 64, 64, 3), name="frames")
    x = inputs
    for i, filters in enumerate((32, 64, 128), start=1):
        x = L.TimeDistributed(L.Conv2D(filters, 3, padding="same", activation="relu"), name=f"conv{i}")(x)
        x = L.TimeDistributed(L.BatchNormalization(), name=f"bn{i}")(x)
        x = L.TimeDistributed(L.MaxPooling2D(2), name=f"pool{i}")(x)
    x = L.TimeDistributed(L.GlobalAveragePooling2D(), name="features")(x)
    x = L.Dropout(0.5, name="drop_seq")(x)
    x = L.LSTM(64, dropout=0.5, name="rnn1")(x)
    outputs = L.Dense(5, activation="softmax", name="out")(x)
    return keras.Model(inputs, outputs, name=name)


@case("drp005_recurrent_dropout", [("DRP005", "rnn1")])
def drp005(name):
    return lrcn(name, recurrent=(("LSTM", 64, {"recurrent_dropout": 0.2}),))


@case("lst001_deep_stack", [("LST001", "rnn1")])
def lst001(name):
    return lrcn(name, recurrent=(("LSTM", 32, {}),) * 4)


@case("lst002_long_clips", [("LST002", "rnn1")])
def lst002(name):
    return lrcn(name, frames=96, size=32, convs=(16, 32), pools=(2, 2), conv_strides=(1, 1))


@case("lst003_bottleneck", [("LST003", "rnn1"), ("LST006", "rnn1")])
def lst003(name):
    return lrcn(name, convs=(32, 64, 32), features="flatten", recurrent=(("LSTM", 32, {}),))


@case("lst004_sequences_into_dense", [("LST004", "rnn1")])
def lst004(name):
    return lrcn(name, recurrent=(("LSTM", 64, {"return_sequences": True}),), head_dropout=0, hidden=0,
                out_units=5)


@case("lst003_projection_too_big", [("LST003", "rnn1"), ("LST006", "rnn1")])
def lst003_gap(name):
    """6,144 features into LSTM(96): a Dense(384) projection would hold 2.4M weights, so GAP is advised."""
    return lrcn(name, convs=(32, 64, 96), features="flatten", recurrent=(("LSTM", 96, {}),))


@case("clean_tiny_gru_budget", [])
def lst003_cheap(name):
    """1,024 features into GRU(8) on a 2 MMAC model: a deliberate budget design, not reported."""
    return lrcn(name, size=32, convs=(4, 4, 16), pools=(2, 2, 1), features="flatten", bn=False,
                recurrent=(("GRU", 8, {}),), hidden=0, head_dropout=0.3)


@case("lst004_convlstm_sequences", [("LST004", "clstm"), ("CNV002", "conv1")])
def lst004_convlstm(name):
    inputs = keras.Input((16, 32, 32, 3), name="frames")
    x = L.TimeDistributed(L.Conv2D(16, 3, padding="same", activation="relu"), name="conv1")(inputs)
    x = L.TimeDistributed(L.MaxPooling2D(4), name="pool1")(x)
    x = L.ConvLSTM2D(16, 3, padding="same", return_sequences=True, name="clstm")(x)
    x = L.Flatten(name="flatten")(x)
    x = L.Dropout(0.4, name="drop")(x)
    outputs = L.Dense(5, activation="softmax", name="out")(x)
    return keras.Model(inputs, outputs, name=name)


@case("lst007_too_wide", [("LST007", "rnn1")])
def lst007(name):
    return lrcn(name, recurrent=(("LSTM", 2048, {}),))


@case("lst008_convlstm_into_lstm2", [("LST008", "rnn1"), ("POL005", "rnn1")])
def lst008(name):
    """ConvLSTM2D first: its 64x64x16 maps give 65,536 features per step to an LSTM of 2 units."""
    inputs = keras.Input((8, 64, 64, 3), name="frames")
    x = L.ConvLSTM2D(16, 3, padding="same", return_sequences=True, name="clstm")(inputs)
    x = L.TimeDistributed(L.Flatten(), name="features")(x)
    x = L.LSTM(2, name="rnn1")(x)
    x = L.Dropout(0.3, name="drop")(x)
    outputs = L.Dense(5, activation="softmax", name="out")(x)
    return keras.Model(inputs, outputs, name=name)


@case("pol005_conv3d_stack", [("POL005", "rnn1"), ("LST003", "rnn1"), ("CNV002", "conv2")])
def pol005_conv3d(name):
    inputs = keras.Input((16, 64, 64, 3), name="frames")
    x = L.Conv3D(32, 3, padding="same", activation="relu", name="conv1")(inputs)
    x = L.BatchNormalization(name="bn1")(x)
    x = L.MaxPooling3D((1, 2, 2), name="pool1")(x)
    x = L.Conv3D(64, 3, padding="same", activation="relu", name="conv2")(x)
    x = L.MaxPooling3D((1, 2, 2), name="pool2")(x)
    x = L.TimeDistributed(L.Flatten(), name="features")(x)
    x = L.LSTM(32, name="rnn1")(x)
    x = L.Dropout(0.4, name="drop")(x)
    outputs = L.Dense(5, activation="softmax", name="out")(x)
    return keras.Model(inputs, outputs, name=name)


@case("pol005_flatten_projection", [("POL005", "proj"), ("CNV002", "conv2")])
def pol005_projection(name):
    """Flatten of a 32x32x64 map into TimeDistributed(Dense(128)): an 8.4M-weight projection."""
    inputs = keras.Input((16, 64, 64, 3), name="frames")
    x = L.TimeDistributed(L.Conv2D(32, 3, padding="same", activation="relu"), name="conv1")(inputs)
    x = L.TimeDistributed(L.BatchNormalization(), name="bn1")(x)
    x = L.TimeDistributed(L.MaxPooling2D(2), name="pool1")(x)
    x = L.TimeDistributed(L.Conv2D(64, 3, padding="same", activation="relu"), name="conv2")(x)
    x = L.TimeDistributed(L.Flatten(), name="features")(x)
    x = L.TimeDistributed(L.Dense(128, activation="relu"), name="proj")(x)
    x = L.LSTM(64, name="rnn1")(x)
    x = L.Dropout(0.4, name="drop")(x)
    outputs = L.Dense(5, activation="softmax", name="out")(x)
    return keras.Model(inputs, outputs, name=name)


@case("pol001_mobilenet_64", [("POL001", "backbone")])
def pol001_backbone(name):
    """MobileNetV2 (32x downsampling) on 64x64 frames ends on a 2x2 map."""
    backbone = keras.applications.MobileNetV2(input_shape=(64, 64, 3), include_top=False, weights=None,
                                              alpha=0.35)
    inputs = keras.Input((8, 64, 64, 3), name="frames")
    x = L.TimeDistributed(backbone, name="backbone")(inputs)
    x = L.TimeDistributed(L.GlobalAveragePooling2D(), name="features")(x)
    x = L.LSTM(64, name="rnn1")(x)
    x = L.Dropout(0.4, name="drop")(x)
    outputs = L.Dense(5, activation="softmax", name="out")(x)
    return keras.Model(inputs, outputs, name=name)


@case("clean_deep_global_descriptor", [])
def pol001_deep(name):
    """Ten convolutions end on 1x1x512 at 32x32: a global descriptor, not a collapse."""
    return lrcn(name, size=32, convs=(64, 64, 128, 128, 256, 256, 512, 512, 512, 512),
                pools=(1, 2, 1, 2, 1, 2, 1, 2, 1, 2), conv_strides=(1,) * 10, recurrent=(("GRU", 128, {}),))


@case("pol001_remove_last_pool", [("POL001", "pool5")])
def pol001_remove(name):
    """Five 2x2 pools leave 2x2 on 64x64 frames: the fix removes the last pooling layer."""
    return lrcn(name, convs=(16, 32, 32, 64, 64), pools=(2, 2, 2, 2, 2), conv_strides=(1,) * 5,
                features="flatten", recurrent=(("LSTM", 64, {}),))


@case("clean_cheap_large_frames", [])
def cnv001_floor(name):
    """One conv takes most MACs on 128x128 frames, but only 3.5 MMACs per frame: no CNV001."""
    return lrcn(name, size=128, convs=(8, 16, 32), pools=(4, 4, 2))


@case("lst005_relu_lstm", [("LST005", "rnn1")])
def lst005(name):
    return lrcn(name, recurrent=(("LSTM", 64, {"activation": "relu"}),))


@case("lst006_costly_lstm", [("LST006", "rnn1")])
def lst006(name):
    return lrcn(name, recurrent=(("LSTM", 256, {}),))


@case("mdl001_time_merged", [("MDL001", "rnn1")])
def mdl001(name):
    inputs = keras.Input((16, 64, 64, 3), name="frames")
    x = L.TimeDistributed(L.Conv2D(32, 3, padding="same", activation="relu"), name="conv1")(inputs)
    x = L.TimeDistributed(L.MaxPooling2D(4), name="pool1")(x)
    x = L.TimeDistributed(L.Conv2D(64, 3, padding="same", activation="relu"), name="conv2")(x)
    x = L.TimeDistributed(L.MaxPooling2D(4), name="pool2")(x)
    x = L.TimeDistributed(L.GlobalAveragePooling2D(), name="features")(x)
    x = L.Flatten(name="merge_time")(x)
    x = L.Reshape((1, 16 * 64), name="one_step")(x)
    x = L.Dropout(0.3, name="drop")(x)
    x = L.GRU(64, name="rnn1")(x)
    outputs = L.Dense(5, activation="softmax", name="out")(x)
    return keras.Model(inputs, outputs, name=name)


@case("mdl001_repeat_vector", [("MDL001", "repeat"), ("CNV002", "conv2")])
def mdl001_repeat(name):
    """Flatten over time, then RepeatVector: the LSTM sees 16 copies of one vector."""
    inputs = keras.Input((16, 64, 64, 3), name="frames")
    x = L.TimeDistributed(L.Conv2D(16, 3, padding="same", activation="relu"), name="conv1")(inputs)
    x = L.TimeDistributed(L.MaxPooling2D(4), name="pool1")(x)
    x = L.TimeDistributed(L.Conv2D(32, 3, padding="same", activation="relu"), name="conv2")(x)
    x = L.TimeDistributed(L.GlobalAveragePooling2D(), name="features")(x)
    x = L.Flatten(name="merge_time")(x)
    x = L.RepeatVector(16, name="repeat")(x)
    x = L.LSTM(32, name="rnn1")(x)
    x = L.Dropout(0.3, name="drop")(x)
    outputs = L.Dense(5, activation="softmax", name="out")(x)
    return keras.Model(inputs, outputs, name=name)


@case("mdl006_single_frame", [("MDL006", "rnn1")])
def mdl006(name):
    return lrcn(name, frames=1)


@case("mdl007_sigmoid_categorical", [("MDL007", "out")])
def mdl007(name):
    model = lrcn(name, out_activation="sigmoid")
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    return model


@case("clean_multilabel_sigmoid_bce", [])
def multilabel(name):
    """Sigmoid over 5 units with binary cross-entropy: a legitimate multi-label head."""
    model = lrcn(name, out_activation="sigmoid")
    model.compile(optimizer="adam", loss=keras.losses.BinaryCrossentropy())
    return model


@case("mdl004_two_lambdas", [("MDL004", "scale")])
def mdl004_two(name):
    """Two Lambdas of one design (scale, shift) are one finding, not two."""
    return lrcn(name, lambda_input=2)


@case("mdl004_lambda_sums_time", [("MDL004", "sum_time")])
def mdl004_sum(name):
    """A Lambda that sums over time: (None, 16, 64) -> (None, 64). Assuming it keeps its shape would
    count the Dense after Flatten on 1,024 inputs; the file settles 64 (build config, saved kernel)."""
    inputs = keras.Input((16, 32, 32, 3), name="frames")
    x = L.TimeDistributed(L.Conv2D(32, 3, padding="same", activation="relu"), name="conv1")(inputs)
    x = L.TimeDistributed(L.BatchNormalization(), name="bn1")(x)
    x = L.TimeDistributed(L.MaxPooling2D(2), name="pool1")(x)
    x = L.TimeDistributed(L.Conv2D(64, 3, padding="same", activation="relu"), name="conv2")(x)
    x = L.TimeDistributed(L.MaxPooling2D(2), name="pool2")(x)
    x = L.TimeDistributed(L.Conv2D(64, 3, padding="same", activation="relu"), name="conv3")(x)
    x = L.TimeDistributed(L.GlobalAveragePooling2D(), name="features")(x)
    x = L.Lambda(lambda t: keras.ops.sum(t, axis=1), name="sum_time")(x)
    x = L.Flatten(name="flatten")(x)
    x = L.Dense(128, activation="relu", name="fc")(x)
    x = L.Dropout(0.4, name="drop")(x)
    outputs = L.Dense(5, activation="softmax", name="out")(x)
    return keras.Model(inputs, outputs, name=name)


ALSO_H5 = ("mdl004_lambda_sums_time", "mdl004_lambda", "mdl007_sigmoid_categorical")  # cases also saved as .h5 (no build configs there)


@case("mdl002_softmax_one_unit", [("MDL002", "out")])
def mdl002(name):
    return lrcn(name, out_units=1)


@case("mdl003_sigmoid_many", [("MDL003", "out")])
def mdl003(name):
    return lrcn(name, out_activation="sigmoid")


@case("mdl004_lambda", [("MDL004", "scale")])
def mdl004(name):
    return lrcn(name, lambda_input=True)


@case("mdl005_unknown_frames", [("MDL005", "")])
def mdl005(name):
    return lrcn(name, frames=None)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(0)
    labels = {}
    for name, (build, findings, train_samples) in CASES.items():
        model = build(name)
        model.save(args.out / f"{name}.keras")
        if name in ALSO_H5:
            model.save(args.out / f"{name}.h5")
        labels[name] = {"findings": [list(f) for f in findings], "train_samples": train_samples}
    (args.out / "labels.json").write_text(json.dumps(labels, indent=2) + "\n")
    print(f"{len(CASES)} rule cases in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
