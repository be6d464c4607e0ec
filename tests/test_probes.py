"""Training probes: budgets, verdict statistics, variants, rebuild, data, training and the suite.

Everything runs on the CPU with tiny models and budgets (8 frames of 16x16).
"""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from lrcn_advisor.analyze import analyse_graph  # noqa: E402
from lrcn_advisor.config import Settings  # noqa: E402
from lrcn_advisor.edits import set_config  # noqa: E402
from lrcn_advisor.pipeline import lint_ir  # noqa: E402
from lrcn_advisor.errors import ConfigError  # noqa: E402
from lrcn_advisor.load.keras_config import graph_from_config  # noqa: E402
from lrcn_advisor.probes import PROBE_KINDS, ProbeOptions, run_probes  # noqa: E402
from lrcn_advisor.probes import data as probe_data  # noqa: E402
from lrcn_advisor.probes import executors, runtime, variants  # noqa: E402
from lrcn_advisor.probes.build import BuildError, build_model, load_saved_weights  # noqa: E402
from lrcn_advisor.probes.kinds import BETTER_ACCURACY, SAME_ACCURACY, Check  # noqa: E402
from lrcn_advisor.probes.options import Budget  # noqa: E402
from lrcn_advisor.probes.train import EpochRecord, RunRecord, Task, eval_steps, loss_spec, run_task  # noqa: E402
from lrcn_advisor.probes.variants import build_variants, graph_hash  # noqa: E402
from lrcn_advisor.probes.verdict import (  # noqa: E402
    INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, Plan, combine, decide, interval, paired_effects, run_metric,
    planned, seeds_to_decide, t_critical)

ROOT = Path(__file__).resolve().parent.parent
SHAPE = (8, 16, 16, 1)


# ---- helpers -------------------------------------------------------------------------------

def keras_model(*layers, name="probe_test", shape=SHAPE):
    import keras
    return keras.Sequential([keras.Input(shape), *layers], name=name)


def lrcn(pool=2, rate=0.25, lstms=(16,), convs=(8,), name="probe_test"):
    """TD Conv2D (+ MaxPool) per entry of `convs`, TD Dropout, Flatten, an LSTM stack, Dense 4."""
    import keras
    from keras import layers as L
    keras.backend.clear_session()  # layer names start again from time_distributed, lstm, dense
    td = L.TimeDistributed
    layers = []
    for filters in convs:
        layers += [td(L.Conv2D(filters, 3, padding="same", activation="relu")), td(L.MaxPooling2D(pool))]
    if rate is not None:
        layers.append(td(L.Dropout(rate)))
    layers.append(td(L.Flatten()))
    layers += [L.LSTM(units, return_sequences=i < len(lstms) - 1) for i, units in enumerate(lstms)]
    return keras_model(*layers, L.Dense(4, activation="softmax"), name=name)


def ir_of(model):
    config = {"class_name": model.__class__.__name__, "config": model.get_config()}
    return analyse_graph(graph_from_config(config))


def layer_spec(graph, name):
    return next(spec for spec in graph.layers if spec.name == name)


def leaf(spec):
    return spec.wrapped if spec.wrapped is not None else spec


def task_for(ir, seed=0, steps=20, graph=None):
    loss = loss_spec(ir)
    spec = probe_data.data_spec(None, tuple(ir.input_shapes[0][1:]), loss.classes)
    return Task("baseline", seed, graph or ir.graph, spec, loss, steps, 16, "tensorflow")


def final_accuracy(ir, graph=None, seeds=(0, 1, 2), steps=100):
    return [run_task(task_for(ir, seed, steps, graph)) for seed in seeds]


def epoch(val_accuracy, gap=0.0, step=1):
    return EpochRecord(1, 0.0, 0.0, 0.0, val_accuracy, gap, 0.01, 1.0, {}, step=step)


def run(seed, accuracies, step_time=0.01, steps=None):
    """A run evaluated at `steps` (default: the last-third schedule of a 30-step run)."""
    steps = steps or eval_steps(30)[-len(accuracies):]
    return RunRecord("v", seed, [epoch(a, step=s) for a, s in zip(accuracies, steps)], step_time_s=step_time)


# ---- options, kinds and static imports ----------------------------------------------------------

def test_budget_parses_steps_and_times():
    assert Budget.parse("200steps").steps == 200
    assert Budget.parse("1 step").steps == 1
    assert Budget.parse("90s").seconds == 90
    assert Budget.parse("5m").seconds == 300
    assert Budget.parse("1.5min").seconds == 90
    for bad in ("", "0steps", "fast", "5 parsecs", "-3s"):
        with pytest.raises(ConfigError, match="probe-budget"):
            Budget.parse(bad)


@pytest.mark.parametrize("field,value,message", [("mode", "sometimes", "--probes"), ("seeds", 0, "--seeds"),
                                                 ("executor", "slurm", "executor"), ("budget", "soon", "budget")])
def test_bad_options_are_config_errors(field, value, message):
    with pytest.raises(ConfigError, match=message):
        ProbeOptions(**{field: value}).validate()


def test_every_rule_probe_names_a_probe_kind():
    from lrcn_advisor.rules import all_rules
    named = {rule.probe for rule in all_rules() if rule.probe}
    assert named <= set(PROBE_KINDS)
    for kind in PROBE_KINDS.values():
        assert kind.description and kind.metric in ("val_accuracy", "gap", "step_time")
        assert kind.direction in ("increase", "decrease", "not-worse")


def test_static_analysis_does_not_import_keras():
    code = ("import sys, lrcn_advisor.probes, lrcn_advisor.pipeline; "
            "print(sorted(m for m in ('keras', 'tensorflow', 'torch', 'jax') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.stdout.strip() == "[]", done.stderr


# ---- verdict statistics on known cases -------------------------------------------------------------

def test_interval_is_a_student_t_interval():
    result = interval([1.0, 2.0, 3.0])  # mean 2, sd 1, t(0.975, 2) = 4.303
    assert result.mean == 2.0 and result.n == 3
    assert result.low == pytest.approx(2 - 4.303 / 3 ** 0.5, abs=1e-3)
    assert result.high == pytest.approx(2 + 4.303 / 3 ** 0.5, abs=1e-3)
    assert interval([0.5]).low is None
    # Student t quantiles computed here (no SciPy) against published table values
    for df, alpha, value in ((1, 0.05, 12.706), (4, 0.05, 2.776), (30, 0.05, 2.042), (2, 0.01, 9.925),
                             (10, 0.001, 4.587), (7, 0.01, 3.499)):
        assert t_critical(df, alpha) == pytest.approx(value, abs=2e-3)


def test_intervals_are_clipped_to_the_metric_range():
    wild = interval([0.9, -0.9, 0.95], metric="val_accuracy")  # the raw t-interval runs far beyond [-1, 1]
    assert wild.low == -1.0 and wild.high == 1.0
    assert interval([-0.9, 0.5, -0.95], metric="step_time").low == -1.0


def test_sequential_plan_spends_alpha_over_its_looks():
    plan = Plan(8)
    assert plan.looks == 6 and plan.look_alpha == pytest.approx(0.05 / 6)
    # the same effects decide at a single look but not when alpha is split over six
    effects = [0.10, 0.14, 0.07]
    assert decide(effects, BETTER_ACCURACY, Plan(3))[0] == SUPPORTED
    assert decide(effects, BETTER_ACCURACY, plan)[0] == INCONCLUSIVE
    result = decide(effects, BETTER_ACCURACY, plan)[1]
    assert seeds_to_decide(result, BETTER_ACCURACY) in range(4, 8)


def test_plan_spends_alpha_only_on_the_looks_the_budget_fits():
    assert planned(8, None, 2, 10.0) == Plan(8)                 # a steps budget: --seeds sets the plan
    assert planned(8, 300.0, 2, 10.0) == Plan(8)                # 15 rounds fit: --seeds is the limit
    fitted = planned(8, 300.0, 2, 35.0)                         # 4 rounds of two 35 s runs fit
    assert fitted.max_seeds == 4 and fitted.limit == "the budget" and fitted.looks == 2
    assert fitted.look_alpha == pytest.approx(0.025)
    assert planned(8, 30.0, 6, 35.0).max_seeds == 3              # never below the minimum design
    # fewer planned looks give narrower intervals for the same effects
    effects = [0.12, 0.18, 0.10, 0.15]
    assert decide(effects, BETTER_ACCURACY, fitted)[1].low > decide(effects, BETTER_ACCURACY, Plan(8))[1].low


def test_sequential_design_holds_its_error_rate_under_optional_stopping():
    """Simulated null effects (normal and skewed), looked at after every seed from 3 to the plan's last look and
    stopped at the first decision: "supported" comes out in at most 5% of the sequences."""
    rng = np.random.default_rng(7)
    for plan, draw in ((plan, draw) for plan in (Plan(8), Plan(4, limit="the budget"))
                       for draw in (lambda n: rng.normal(0, 0.05, n), lambda n: rng.exponential(0.05, n) - 0.05)):
        supported = 0
        for _ in range(4000):
            values = draw(plan.max_seeds)
            for n in range(3, plan.max_seeds + 1):
                verdict, _ = decide(list(values[:n]), BETTER_ACCURACY, plan)
                if verdict != INCONCLUSIVE:
                    supported += verdict == SUPPORTED
                    break
        assert supported / 4000 <= 0.05, supported / 4000


@pytest.mark.parametrize("effects,check,expected", [
    ([0.10, 0.12, 0.11], BETTER_ACCURACY, SUPPORTED),
    ([-0.10, -0.12, -0.11], BETTER_ACCURACY, NOT_SUPPORTED),      # the opposite effect
    ([0.001, -0.002, 0.0], BETTER_ACCURACY, NOT_SUPPORTED),       # no effect of practical size
    ([0.30, -0.20, 0.10], BETTER_ACCURACY, INCONCLUSIVE),         # too wide
    ([0.30, 0.40], BETTER_ACCURACY, INCONCLUSIVE),                # fewer than 3 seeds
    ([-0.30, -0.31, -0.29], Check("step_time", "decrease", 0.05), SUPPORTED),
    ([0.20, 0.21, 0.19], Check("step_time", "decrease", 0.05), NOT_SUPPORTED),
    ([-0.005, 0.0, 0.005], SAME_ACCURACY, SUPPORTED),             # within the tolerance
    ([-0.20, -0.25, -0.22], SAME_ACCURACY, NOT_SUPPORTED),        # surely worse than the tolerance
    ([-0.10, 0.05, -0.02], SAME_ACCURACY, INCONCLUSIVE),
])
def test_decide_on_known_effects(effects, check, expected):
    verdict, result = decide(effects, check, Plan(3))  # a single look: the plain 95% t-interval
    assert verdict == expected
    assert result.mean == pytest.approx(sum(effects) / len(effects))


def test_combine_needs_every_expectation():
    assert combine([SUPPORTED, SUPPORTED]) == SUPPORTED
    assert combine([SUPPORTED, INCONCLUSIVE]) == INCONCLUSIVE
    assert combine([SUPPORTED, NOT_SUPPORTED]) == NOT_SUPPORTED


def test_effects_are_paired_by_seed_over_the_last_third():
    baseline = [run(0, [0.1, 0.2, 0.5]), run(1, [0.2, 0.4, 0.4]), run(2, [0.0, 0.0, 0.0], step_time=0.02)]
    variant = [run(0, [0.0, 0.9, 0.7]), run(1, [0.5, 0.5, 0.6], step_time=0.005)]
    assert run_metric(baseline[0], "val_accuracy") == pytest.approx(0.8 / 3)  # the mean of all three
    assert paired_effects(baseline, variant, "val_accuracy") == pytest.approx([0.8 / 3, 0.2])
    # an evaluation before 2/3 of the run is not part of the learning-curve summary
    assert run_metric(run(0, [0.9, 0.2, 0.4], steps=[10, 25, 30]), "val_accuracy") == pytest.approx(0.3)
    assert paired_effects(baseline, variant, "step_time") == pytest.approx([0.0, -0.5])
    variant[0].error = "boom"
    assert paired_effects(baseline, variant, "val_accuracy") == pytest.approx([0.2])


# ---- variants --------------------------------------------------------------------------------------

def guide(variants):
    return {v.id: v for v in variants if v.question}


def test_guide_variants_of_a_deep_overpooled_model():
    ir = ir_of(lrcn(pool=4, rate=0.8, lstms=(16, 16, 16, 16), convs=(8,)))
    variants = guide(build_variants(ir, [])[0])
    assert set(variants) == {"conv-more", "pool-less", "dropout-half", "lstm-shallower"}
    pool = variants["pool-less"].graph
    assert leaf(layer_spec(pool, "time_distributed_1")).config["pool_size"] == [2, 2]
    assert variants["dropout-half"].graph.layers[2].wrapped.config["rate"] == 0.4
    shallow = variants["lstm-shallower"]
    assert [l.name for l in shallow.ir.layers if l.kind == "recurrent"] == ["lstm", "lstm_1"]
    assert layer_spec(shallow.graph, "lstm_1").config["return_sequences"] is False
    added = variants["conv-more"].graph.layers[1]
    assert added.name == "time_distributed_probe_conv" and added.wrapped.config["filters"] == 8
    # nothing else changed: the baseline's other layers are untouched in every variant
    for variant in variants.values():
        assert variant.graph is not ir.graph
    assert [s.name for s in variants["pool-less"].graph.layers] == [s.name for s in ir.graph.layers]


def test_guide_variants_of_a_classic_model():
    ir = ir_of(lrcn(pool=2, rate=0.25, lstms=(16,), convs=(4, 8, 8)))
    variants = guide(build_variants(ir, [])[0])
    assert set(variants) == {"conv-fewer", "pool-less", "dropout-none", "lstm-deeper"}
    removed = {s.name for s in ir.graph.layers} - {s.name for s in variants["conv-fewer"].graph.layers}
    assert removed == {"time_distributed_4", "time_distributed_5"}
    # the final map is 2x2, so "less pooling" drops the last pooling layer
    assert {s.name for s in ir.graph.layers} - {s.name for s in variants["pool-less"].graph.layers} == {
        "time_distributed_5"}
    assert not [l for l in variants["dropout-none"].ir.layers if l.inner_kind_class == "Dropout"]
    deeper = [s for s in variants["lstm-deeper"].graph.layers if s.class_name == "LSTM"]
    assert [s.name for s in deeper] == ["lstm_probe_stack", "lstm"]
    assert deeper[0].config["return_sequences"] is True and deeper[1].calls[0][0].layer == "lstm_probe_stack"


def test_guide_adds_dropout_and_more_pooling_when_asked_for():
    ir = ir_of(lrcn(pool=2, rate=None, convs=(8,)))  # final map 8x8, no dropout
    variants = guide(build_variants(ir, [])[0])
    assert leaf(layer_spec(variants["pool-more"].graph, "time_distributed_1")).config["pool_size"] == [4, 4]
    added = layer_spec(variants["dropout-add"].graph, "lstm_probe_dropout")
    assert added.config["rate"] == 0.5 and added.calls[0][0].layer == "lstm"


def test_findings_become_variants_merged_and_filtered():
    ir = ir_of(lrcn(pool=4, rate=0.25, convs=(8, 8)))  # 16 -> 4 -> 1: the map collapses
    findings = lint_ir(ir, Settings())
    probed = [f for f in findings if f.edit is not None and f.rule.startswith("POL")]
    assert probed, [f.rule for f in findings]
    variants, unprobed = build_variants(ir, findings)
    fix = next(v for v in variants if probed[0] in v.findings)
    assert graph_hash(fix.graph) == graph_hash(probed[0].edit(ir.graph))
    assert len({v.key for v in variants}) == len(variants)  # identical architectures train once
    probed[0].suppressed = "accepted"
    assert not any(probed[0] in v.findings for v in build_variants(ir, findings)[0])


def test_a_rules_findings_are_fixed_together_in_one_variant():
    """DRP001 on three layers at 0.8: one variant lowers all three (the fix the user would apply)."""
    import keras
    from keras import layers as L
    keras.backend.clear_session()
    td = L.TimeDistributed
    model = keras_model(td(L.Conv2D(4, 3, activation="relu")), td(L.Dropout(0.8), name="d1"),
                        td(L.Flatten()), L.LSTM(8), L.Dropout(0.8, name="d2"), L.Dense(8), L.Dropout(0.8, name="d3"),
                        L.Dense(4, activation="softmax"))
    ir = ir_of(model)
    findings = [f for f in lint_ir(ir, Settings()) if f.rule == "DRP001"]
    assert sorted(name for f in findings for name in f.layers) == ["d1", "d2", "d3"]
    # one finding per layer (as a rule may report them) still makes one variant
    split = [dataclasses.replace(findings[0], layers=[name], edit=set_config(name, name, rate=0.5))
             for name in ("d1", "d2", "d3")]
    for given in (findings, split):
        variants, _ = build_variants(ir, given)
        fixes = [v for v in variants if v.findings]
        assert len(fixes) == 1 and len(fixes[0].findings) == len(given)
        rates = {s.name: leaf(s).config.get("rate") for s in fixes[0].graph.layers if s.name in ("d1", "d2", "d3")}
        assert rates == {"d1": 0.5, "d2": 0.5, "d3": 0.5}
    from lrcn_advisor.probes.judge import questions
    asked = questions(variants[0], fixes[0])
    assert [(q.rule, sorted(q.layers)) for q in asked] == [("DRP001", ["d1", "d2", "d3"])]
    assert set(variants_only := [v.id for v in build_variants(ir, findings, only=("DRP001",))[0]]) == {
        "baseline", "fix-drp001"}, variants_only


# ---- rebuild -----------------------------------------------------------------------------------------

def test_rebuilt_model_matches_keras():
    original = lrcn(pool=2, rate=0.25, lstms=(8, 8), convs=(4, 8))
    rebuilt, notes = build_model(ir_of(original).graph)
    assert notes == []
    assert rebuilt.count_params() == original.count_params()
    rebuilt.set_weights(original.get_weights())
    x = np.random.default_rng(0).random((2, *SHAPE), dtype=np.float32)
    np.testing.assert_allclose(rebuilt.predict_on_batch(x), original.predict_on_batch(x), rtol=1e-5, atol=1e-6)


def test_lambda_layers_run_only_with_trust():
    from keras import layers as L
    identity = keras_model(L.TimeDistributed(L.Flatten()), L.Lambda(lambda t: t * 2.0), L.LSTM(4), L.Dense(2))
    graph = ir_of(identity).graph
    model, notes = build_model(graph)
    assert any("replaced by an identity" in note for note in notes)
    x = np.ones((1, *SHAPE), np.float32)
    trusted, notes = build_model(graph, trust=True)
    assert notes == []
    trusted.set_weights(model.get_weights())
    assert not np.allclose(trusted.predict_on_batch(x), model.predict_on_batch(x))
    shrinking = keras_model(L.TimeDistributed(L.Flatten()), L.Lambda(lambda t: t[:, :, :8], output_shape=(8, 8)),
                            L.LSTM(4), L.Dense(2))
    with pytest.raises(BuildError, match="cannot be replaced by an identity"):
        build_model(ir_of(shrinking).graph)


def test_mixed_precision_build_trains():
    import keras
    model, _ = build_model(ir_of(lrcn()).graph, mixed_precision=True)
    assert model.layers[1].dtype_policy.name == "mixed_float16" and model.outputs[0].dtype == "float32"
    model.compile(keras.optimizers.LossScaleOptimizer(keras.optimizers.Adam()), "sparse_categorical_crossentropy")
    loss = model.train_on_batch(np.ones((2, *SHAPE), np.float32), np.array([0, 1]))
    assert np.isfinite(loss)


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_from_weights_copies_unchanged_layers(tmp_path, suffix):
    original = lrcn(pool=4)
    path = tmp_path / f"model{suffix}"
    original.save(path)
    ir = ir_of(original)
    variant = set_config("time_distributed_1", "pool 2", pool_size=[2, 2], strides=[2, 2])(ir.graph)
    model, _ = build_model(variant)
    note = load_saved_weights(model, str(path), ir.graph, trust=False)
    assert "fresh weights for lstm" in note  # its input grew from 128 to 512 features
    np.testing.assert_array_equal(model.get_layer("time_distributed").get_weights()[0],
                                  original.get_layer("time_distributed").get_weights()[0])
    np.testing.assert_array_equal(model.get_layer("dense").get_weights()[0],
                                  original.get_layer("dense").get_weights()[0])


# ---- data ------------------------------------------------------------------------------------------------

def test_generated_clips_are_deterministic_and_balanced():
    x, y = probe_data.generate_clips(64, SHAPE, 4, seed=1)
    again, _ = probe_data.generate_clips(64, SHAPE, 4, seed=1)
    assert x.shape == (64, *SHAPE) and x.dtype == np.float32 and np.array_equal(x, again)
    assert np.bincount(y).tolist() == [16, 16, 16, 16] and 0 <= x.min() and x.max() <= 1
    # a right-moving clip: the shape's column grows over time
    clip = x[np.flatnonzero(y == 0)[0], ..., 0]
    columns = [np.argmax(frame.max(axis=0) > probe_data.NOISE) for frame in clip]
    assert columns[-1] > columns[0]
    # shapes keep off the frame's 2-pixel edge, where a zero-padded conv would give their direction away
    shape_pixels = x[..., 0] > probe_data.NOISE
    assert shape_pixels.any()
    for edge in (shape_pixels[:, :, :2], shape_pixels[:, :, -2:], shape_pixels[:, :, :, :2], shape_pixels[:, :, :, -2:]):
        assert not edge.any()


def test_npz_data_is_split_per_class_and_resampled(tmp_path):
    x = (np.random.default_rng(0).random((48, 16, 16, 16, 1)) * 255).astype(np.uint8)
    y = np.repeat([0, 1, 2, 3], 12)
    path = tmp_path / "clips.npz"
    np.savez(path, x=x, y=y)
    data = probe_data.load_dataset(probe_data.data_spec(path, SHAPE, 4))
    assert data.x_train.shape == (36, *SHAPE) and data.x_val.shape == (12, *SHAPE)
    assert data.x_train.max() <= 1.0 and np.bincount(data.y_val).tolist() == [3, 3, 3, 3]
    fewer = probe_data.load_dataset(probe_data.data_spec(path, SHAPE, 4), frames=4)  # a fewer-frames variant
    np.testing.assert_array_equal(fewer.x_val, data.x_val[:, [0, 2, 5, 7]])
    np.savez(tmp_path / "shifted.npz", x=x, y=y + 3)
    with pytest.raises(probe_data.DataError, match="labels run from 3 to 6"):
        probe_data.load_dataset(probe_data.data_spec(tmp_path / "shifted.npz", SHAPE, 4))


def test_video_folders_need_opencv(tmp_path, monkeypatch):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    monkeypatch.setitem(sys.modules, "cv2", None)
    with pytest.raises(probe_data.DataError, match="opencv-python-headless"):
        probe_data.load_dataset(probe_data.data_spec(tmp_path, SHAPE, 2))


def test_video_folders_are_decoded(tmp_path):
    cv2 = pytest.importorskip("cv2")
    rng = np.random.default_rng(0)
    for label in ("left", "right"):
        (tmp_path / label).mkdir()
        for i in range(3):
            path = str(tmp_path / label / f"{i}.avi")
            writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"MJPG"), 10, (32, 24))
            for _ in range(12):
                writer.write(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8))
            writer.release()
    data = probe_data.load_dataset(probe_data.data_spec(tmp_path, SHAPE, 2))
    assert data.x_train.shape[1:] == SHAPE and len(data.y_train) + len(data.y_val) == 6


# ---- training -------------------------------------------------------------------------------------------

def test_same_seed_same_metrics():
    ir = ir_of(lrcn())
    first, again, other = (run_task(task_for(ir, seed)) for seed in (0, 0, 1))
    assert not first.error and [e.step for e in first.epochs] == [13, 17, 20]  # three evaluations, last third
    assert not first.epochs[0].grad_norms  # gradient norms at the final evaluation only
    metrics = ("loss", "accuracy", "val_loss", "val_accuracy", "gap", "grad_norms")
    assert [[getattr(e, m) for m in metrics] for e in first.epochs] == \
           [[getattr(e, m) for m in metrics] for e in again.epochs]
    assert first.epochs[-1].val_loss != other.epochs[-1].val_loss
    last = first.epochs[-1]
    assert set(last.grad_norms) == {"time_distributed", "lstm", "dense"}
    assert last.step_time_s > 0 and last.peak_memory_mb > 0
    assert last.gap == pytest.approx(last.accuracy - last.val_accuracy, abs=1e-5)


@pytest.fixture(scope="module")
def moderate_runs():
    """3 seeds of conv -> 2x2 pooling -> dropout 0.25 -> LSTM: the reference of both contrasts."""
    return final_accuracy(ir_of(lrcn(pool=2, rate=0.25)))


def assert_clearly_better(better: list[RunRecord], worse: list[RunRecord]) -> None:
    effects = paired_effects(worse, better, "val_accuracy")
    assert len(effects) == 3 and min(effects) > 0.05 and sum(effects) / 3 > 0.15, effects


def test_heavy_dropout_trains_worse_on_generated_data(moderate_runs):
    moderate = ir_of(lrcn(pool=2, rate=0.25))
    heavy = set_config("time_distributed_2", "dropout 0.95", rate=0.95)(moderate.graph)
    assert_clearly_better(moderate_runs, final_accuracy(moderate, heavy))


def test_early_collapse_to_one_pixel_loses_to_its_2x2_variant(moderate_runs):
    collapsed = ir_of(lrcn(pool=16, rate=0.25))  # 16x16 -> 1x1 right after the first conv
    fixed = set_config("time_distributed_1", "pooling 16x16 -> 2x2", pool_size=[2, 2], strides=[2, 2])
    assert analyse_graph(fixed(collapsed.graph)).params == ir_of(lrcn(pool=2, rate=0.25)).params
    assert_clearly_better(moderate_runs, final_accuracy(collapsed))


def test_torch_backend_runs_a_probe():
    pytest.importorskip("torch")
    code = ("from dataclasses import replace; from tests.test_probes import *; import keras; ir = ir_of(lrcn()); "
            "r = run_task(replace(task_for(ir, steps=4), backend='torch')); "
            "assert keras.backend.backend() == 'torch' and not r.error, r.error; "
            "print(sorted(r.epochs[-1].grad_norms))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300,
                          env={**os.environ, "KERAS_BACKEND": "torch"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith("['dense', 'lstm', 'time_distributed']")


# ---- the suite ------------------------------------------------------------------------------------------------

def test_off_and_auto_without_gpu_skip(monkeypatch):
    ir = ir_of(lrcn())
    assert run_probes(ir, [], ProbeOptions(mode="off")).status == "skipped"
    import lrcn_advisor.probes as probes_package

    monkeypatch.setattr(probes_package, "gpu_visible", lambda: False)
    report = run_probes(ir, [], ProbeOptions(mode="auto"))
    assert report.status == "skipped" and "--probes on" in report.reason


def test_suite_reports_caches_and_resumes(tmp_path, monkeypatch):
    ir = ir_of(lrcn(pool=4, rate=0.8, convs=(8, 8)))
    findings = lint_ir(ir, Settings())
    options = ProbeOptions(mode="on", budget="6steps", seeds=1, cache_dir=tmp_path)
    calls = []

    def interrupt_second(task):
        if len(calls) == 1:
            raise KeyboardInterrupt
        calls.append(task)
        return run_task(task)
    monkeypatch.setattr(executors, "run_task", interrupt_second)
    interrupted = run_probes(ir, findings, options)
    assert interrupted.status == "failed" and "interrupted after 1 runs" in interrupted.reason
    monkeypatch.undo()

    ticks = []
    report = run_probes(ir, findings, options, progress=lambda done, total, label: ticks.append((done, total, label)))
    data = json.loads(json.dumps(report.to_dict()))
    assert data["status"] == "ran" and data["smoke"] and data["backend"] == "tensorflow"
    assert data["data"]["source"] == "generated"
    assert "does not predict accuracy on your videos" in data["data"]["caveat"]
    assert data["budget"]["steps"] == 6 and data["seeds"] == [0] and data["budget"]["per"] == "run"
    assert any("--seeds 1" in note for note in data["notes"])  # below what can decide
    baseline = data["variants"][0]
    assert baseline["id"] == "baseline" and baseline["runs"][0]["cached"]
    assert {"epoch", "step", "loss", "accuracy", "val_loss", "val_accuracy", "gap", "step_time_s", "peak_memory_mb",
            "grad_norms"} == set(baseline["runs"][0]["epochs"][0])
    assert ticks[-1][0] == ticks[-1][1] == len(data["variants"])
    probed = {v["rule"] for v in data["verdicts"]}
    assert {"guide:pooling", "guide:dropout"} <= probed and any(r.startswith("POL") for r in probed)
    for verdict in data["verdicts"]:
        assert verdict["verdict"] == "inconclusive" and "CPU run: short training (6 training steps per run)" in verdict["explanation"]
        assert set(verdict["cost_change"]) in ({"params", "macs", "step_time_ratio"}, set())
        if verdict["variant"]:
            assert verdict["why"] == "too-few-seeds" and "needs at least 3 paired seeds" in verdict["why_text"]
            assert verdict["step_time_change"]["mean"] is not None

    again = run_probes(ir, findings, options).to_dict()
    assert all(run["cached"] for variant in again["variants"] for run in variant["runs"])
    assert again["variants"] == [{**v, "runs": [{**r, "cached": True} for r in v["runs"]]} for v in data["variants"]]


def test_time_budget_bounds_the_sweep_and_steps_are_calibrated_once(tmp_path):
    ir = ir_of(lrcn(pool=4, rate=0.8, convs=(8, 8)))
    findings = lint_ir(ir, Settings())
    options = ProbeOptions(mode="on", budget="40s", seeds=8, cache_dir=tmp_path)
    started = time.monotonic()
    first = run_probes(ir, findings, options).to_dict()
    wall = time.monotonic() - started
    assert first["budget"]["calibrated"] and first["budget"]["per"] == "sweep" and first["budget"]["steps"] >= 5
    # the sweep stops before a run that would not fit: at most one misjudged run beyond the budget
    longest = max([run["wall_s"] for variant in first["variants"] for run in variant["runs"]], default=0)
    assert wall <= 40 + longest + 10, (wall, longest)
    if first["status"] == "failed":  # a loaded machine: not even the first run fitted, and the report says so
        assert "ran out before the first run" in first["reason"]
        return
    assert first["sequential"]["stopped"] in ("budget exhausted", "all decided",
                                              "reached the planned seeds (set by the budget)")
    for verdict in first["verdicts"]:
        if verdict["verdict"] == "inconclusive" and verdict["variant"]:
            assert verdict["why"] in ("budget", "too-few-seeds", "max-seeds"), verdict
    again = run_probes(ir, findings, options).to_dict()
    assert again["budget"]["steps"] == first["budget"]["steps"]
    assert again["variants"][0]["runs"][0]["cached"]


def test_runs_reuse_the_compiled_model_and_reinitialise_it():
    """The first run of an architecture compiles; later seeds re-initialise in place and match a
    freshly compiled model's run of the same seed exactly."""
    from lrcn_advisor.probes import train
    ir = ir_of(lrcn())
    train._POOL.clear()
    first, second = run_task(task_for(ir, seed=0, steps=6)), run_task(task_for(ir, seed=1, steps=6))
    assert first.compiled and not second.compiled
    assert second.setup_s < first.setup_s
    train._POOL.clear()
    fresh = run_task(task_for(ir, seed=1, steps=6))
    assert fresh.compiled and fresh.epochs[-1].val_loss == pytest.approx(second.epochs[-1].val_loss, abs=1e-6)
