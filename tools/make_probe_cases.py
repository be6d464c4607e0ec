#!/usr/bin/env python
"""Build the probes' known-answer set: small real Keras LRCNs whose fix has a known effect, and
controls whose variant must never come out "supported".

    python tools/make_probe_cases.py --out DIR     # NAME.keras per case + cases.json

cases.json maps each case to what the probes must find:
  target    the verdict to read: a rule id, guide:<question>, or case:<id> for an extra variant
  only      the rule ids / guide questions to probe (the other findings are left out, to save time)
  extra     extra variants: {"id", "kind", "edit": null (an A/A copy) or {"layer", "config"}}
  expect    "supported", or "not-supported-or-inconclusive" (a control: never "supported")
  expect_cpu  the expectation on a CPU where it differs (a cuDNN-only speed-up)
  check     when set, the expectation is on that metric's check inside the verdict (e.g. step_time)

The full run is benchmarks/probe_cases.py (docs/probes.md); tests/test_probes_calibration.py
builds the same models.
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

SHAPE = (8, 32, 32, 1)   # frames, height, width, channels: small enough for a 2-core CPU
CLASSES = 4


def _model(name: str, body) -> keras.Model:
    inputs = keras.Input(SHAPE, name="frames")
    outputs = L.Dense(CLASSES, activation="softmax", name="out")(body(inputs))
    return keras.Model(inputs, outputs, name=name)


def _frames(x, convs=((8, 2), (16, 2)), dropout=None, extra_pools=()):
    """TD conv + pooling per (filters, pool) entry, extra pools, optional TD dropout, TD flatten."""
    td = L.TimeDistributed
    for i, (filters, pool) in enumerate(convs, start=1):
        x = td(L.Conv2D(filters, 3, padding="same", activation="relu"), name=f"conv{i}")(x)
        x = td(L.MaxPooling2D(pool), name=f"pool{i}")(x)
    for i, pool in enumerate(extra_pools, start=1):
        x = td(L.MaxPooling2D(pool), name=f"pool_extra{i}")(x)
    if dropout is not None:
        x = td(L.Dropout(dropout), name="drop_frames")(x)
    return td(L.Flatten(), name="features")(x)


def dropout_model(name: str, rate: float) -> keras.Model:
    """Three dropout layers at `rate`: after the conv stage, after the LSTM, before the head."""
    def body(x):
        x = _frames(x, convs=((8, 2), (16, 4)), dropout=rate)
        x = L.LSTM(32, name="lstm")(x)
        x = L.Dropout(rate, name="drop_lstm")(x)
        x = L.Dense(32, activation="relu", name="hidden")(x)
        return L.Dropout(rate, name="drop_head")(x)
    return _model(name, body)


def collapsed_pooling() -> keras.Model:
    """32x32 frames pooled 4x4 then 8x8: a 1x1 map reaches the LSTM (POL001 fixes it to 4x4)."""
    def body(x):
        return L.LSTM(32, name="lstm")(_frames(x, convs=((8, 4), (16, 8))))
    return _model("pool_collapse", body)


def deep_lstm() -> keras.Model:
    """A light conv stage (one conv, 4x4 pooling: 8x8x4 features) under five stacked LSTM(128):
    the recurrent stack is most of the cost, as in the models LST001 is written for (it keeps two)."""
    def body(x):
        x = _frames(x, convs=((4, 4),))
        for i in range(1, 6):
            x = L.LSTM(128, return_sequences=i < 5, name=f"lstm{i}")(x)
        return x
    return _model("lstm_deep", body)


def recurrent_dropout() -> keras.Model:
    """One LSTM with recurrent_dropout=0.3 (DRP005 sets it to 0)."""
    def body(x):
        return L.LSTM(128, recurrent_dropout=0.3, name="lstm")(_frames(x, convs=((8, 2), (16, 4))))
    return _model("recurrent_dropout", body)


def healthy() -> keras.Model:
    """A healthy small LRCN: a 4x4 map, dropout 0.4 in three places."""
    return dropout_model("healthy", 0.4)


CASES = {
    "dropout_high": (lambda: dropout_model("dropout_high", 0.8), {
        "what": "dropout 0.8 -> 0.4 (three layers, halved together)", "target": "guide:dropout",
        "only": ["guide:dropout"], "expect": "supported"}),
    "pool_collapse": (collapsed_pooling, {
        "what": "pooling that collapses the map to 1x1 -> 4x4", "target": "POL001", "only": ["POL001"],
        "expect": "supported"}),
    "lstm_deep": (deep_lstm, {
        "what": "5-deep LSTM stack -> 2 (cost: step time)", "target": "LST001", "only": ["LST001"],
        "check": "step_time", "expect": "supported"}),
    "recurrent_dropout": (recurrent_dropout, {
        "what": "recurrent_dropout 0.3 -> 0 (speed)", "target": "DRP005", "only": ["DRP005"],
        # on a GPU the fused cuDNN kernel; on any device Keras 3 runs a cell with recurrent_dropout
        # unfused (implementation=1: a matrix product per gate), so a CPU step is faster without it too
        "expect": "supported"}),
    "control_aa_accuracy": (healthy, {
        "what": "A/A: the baseline against a copy of itself (validation accuracy)", "target": "case:copy",
        "only": ["none"], "extra": [{"id": "copy", "kind": "dropout-rate", "edit": None}],
        "expect": "not-supported-or-inconclusive"}),
    "control_aa_speed": (healthy, {
        "what": "A/A: the baseline against a copy of itself (step time)", "target": "case:copy",
        "only": ["none"], "extra": [{"id": "copy", "kind": "recurrent-dropout", "edit": None}],
        "expect": "not-supported-or-inconclusive"}),
    "control_dropout_raise": (healthy, {
        "what": "dropout 0.4 -> 0.8 at every layer, expected to raise accuracy (it should not)",
        "target": "case:raise", "only": ["none"],
        "extra": [{"id": "raise", "kind": "dropout-rate",
                   "edit": [{"layer": name, "config": {"rate": 0.8}}
                            for name in ("drop_frames", "drop_lstm", "drop_head")]}],
        "expect": "not-supported-or-inconclusive"}),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--only", nargs="*", help="case names (default: all)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    labels = {}
    for name, (make, label) in CASES.items():
        if args.only and name not in args.only:
            continue
        keras.backend.clear_session()
        keras.utils.set_random_seed(0)
        make().save(args.out / f"{name}.keras")
        labels[name] = {"model": f"{name}.keras", **label}
    (args.out / "cases.json").write_text(json.dumps(labels, indent=2) + "\n", encoding="utf-8")
    print(f"{len(labels)} cases in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
