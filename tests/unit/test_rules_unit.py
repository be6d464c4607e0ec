"""Every rule on architectures built in Python: GraphSpec/LayerSpec as Keras' get_config() would give
them, analysed by analyse_graph and linted. No TensorFlow; each test asserts a rule fires on the
design it encodes and stays silent on the healthy variant."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from dataclasses import replace

import pytest

from lrcn_advisor.analyze import analyse_graph
from lrcn_advisor.config import Settings
from lrcn_advisor.ir import GraphSpec, LayerSpec, LoadedModel, TensorRef
from lrcn_advisor.pipeline import analyse_model, lint_ir
from lrcn_advisor.rules import REGISTRY


def plain(name, class_name, **config):
    return LayerSpec(name, class_name, {"name": name, **config})


def td(name, class_name, **config):
    return LayerSpec(name, "TimeDistributed", {"name": name},
                     wrapped=LayerSpec(f"{name}_inner", class_name, {"name": f"{name}_inner", **config}))


def sequential(input_shape, *layers, name="model") -> GraphSpec:
    previous = TensorRef("frames")
    built = [LayerSpec("frames", "InputLayer", {"name": "frames"})]
    for layer in layers:
        layer.calls = [[previous]]
        previous = TensorRef(layer.name)
        built.append(layer)
    return GraphSpec(name, built, [TensorRef("frames")], [previous], {"frames": (None, *input_shape)})


def conv(name, filters, stride=1, **extra):
    return td(name, "Conv2D", filters=filters, kernel_size=[3, 3], strides=[stride, stride], padding="same",
              activation="relu", **extra)


def pool(name, size):
    return td(name, "MaxPooling2D", pool_size=[size, size], strides=[size, size], padding="same")


def lstm(name, units, kind="LSTM", **extra):
    return plain(name, kind, units=units, **extra)


def lrcn(*, frames=16, size=64, convs=(32, 64, 128), pools=(2, 2, 2), strides=None, bn=True, conv_dropout=0.25,
         features="gap", recurrent=(("LSTM", 64, {}),), head_dropout=0.4, hidden=64, out_units=5,
         out_activation="softmax", before_recurrent=()):
    """The healthy LRCN of tools/make_rule_cases.py as plain data; each keyword bends one piece."""
    layers = []
    for i, (filters, size_) in enumerate(zip(convs, pools), start=1):
        layers.append(conv(f"conv{i}", filters, (strides or (1,) * len(convs))[i - 1]))
        if bn:
            layers.append(td(f"bn{i}", "BatchNormalization"))
        if size_ > 1:
            layers.append(pool(f"pool{i}", size_))
    if conv_dropout:
        layers.append(td("drop_conv", "Dropout", rate=conv_dropout))
    layers.append(td("features", "GlobalAveragePooling2D" if features == "gap" else "Flatten"))
    layers.extend(before_recurrent)
    for i, (kind, units, extra) in enumerate(recurrent, start=1):
        layers.append(lstm(f"rnn{i}", units, kind, **{"return_sequences": i < len(recurrent), **extra}))
    if head_dropout:
        layers.append(plain("drop_head", "Dropout", rate=head_dropout))
    if hidden:
        layers.append(plain("fc", "Dense", units=hidden, activation="relu"))
    layers.append(plain("out", "Dense", units=out_units, activation=out_activation))
    return sequential((frames, size, size, 3), *layers)


def lint(graph, *, loss=None, train_samples=None, frames=None):
    model = LoadedModel(graph=graph, path="", format="", loss=loss)
    ir = analyse_model(model, frames) if frames else analyse_graph(graph) if loss is None else analyse_model(model)
    return {(f.rule, f.layers[0] if f.layers else "") for f in lint_ir(ir, Settings(train_samples=train_samples))}


def rules_of(graph, **kwargs):
    return {rule for rule, _ in lint(graph, **kwargs)}


def test_no_tensorflow_is_imported():
    """In a fresh interpreter (a wider pytest run imports the frameworks on purpose)."""
    script = ("import sys; sys.path.insert(0, sys.argv[1]); import test_rules_unit as t; t.lint(t.lrcn()); "
              "loaded = [m for m in ('tensorflow', 'keras', 'torch') if m in sys.modules]; "
              "sys.exit(f'imported {loaded}' if loaded else 0)")
    done = subprocess.run([sys.executable, "-c", script, str(Path(__file__).resolve().parent)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def test_the_healthy_lrcn_has_no_warnings():
    assert rules_of(lrcn()) == set()


# ---- conv ----------------------------------------------------------------------------------------

def test_cnv001_one_conv_dominates_large_frames_above_the_floor():
    assert ("CNV001", "conv1") in lint(lrcn(size=160, convs=(64, 32, 64), pools=(4, 4, 2)))
    # the same shares on cheap 128x128 frames (3.5 MMACs per frame) are below the absolute floor
    assert "CNV001" not in rules_of(lrcn(size=128, convs=(8, 16, 32), pools=(4, 4, 2)))


def test_cnv002_shallow_stack():
    assert ("CNV002", "conv1") in lint(lrcn(convs=(16,), pools=(2,)))
    assert "CNV002" not in rules_of(lrcn())


def test_cnv003_deep_unregularised_stack_but_not_a_frozen_one():
    graph = lrcn(convs=(16, 32, 32, 64), pools=(2, 1, 2, 2), bn=False, conv_dropout=0, head_dropout=0)
    assert ("CNV003", "conv1") in lint(graph)
    for spec in graph.layers:
        if spec.name.startswith("conv"):
            spec.config["trainable"] = False
    assert "CNV003" not in rules_of(graph)


def test_cnv004_params_per_training_clip():
    assert ("CNV004", "conv1") in lint(lrcn(), train_samples=100)
    assert "CNV004" not in rules_of(lrcn(), train_samples=100_000)


# ---- pooling -------------------------------------------------------------------------------------

def test_pol001_collapse_and_its_fix_avoids_lst003():
    graph = lrcn(convs=(16, 32, 64, 64), pools=(4, 4, 2, 2), features="flatten", recurrent=(("LSTM", 32, {}),))
    ir = analyse_graph(graph)
    finding = next(f for f in lint_ir(ir, Settings()) if f.rule == "POL001")
    assert finding.layers == ["pool1", "pool2"] and "GlobalAveragePooling2D" in finding.fix
    assert finding.cost.introduces == []


def test_pol001_removes_the_last_pool_and_spares_deep_global_descriptors():
    graph = lrcn(convs=(16, 32, 32, 64, 64), pools=(2, 2, 2, 2, 2), features="flatten")
    finding = next(f for f in lint_ir(analyse_graph(graph), Settings()) if f.rule == "POL001")
    assert finding.fix.startswith("remove the pooling layer `pool5` (2x2)")
    deep = lrcn(size=32, convs=(64, 64, 128, 128, 256, 256, 512, 512, 512, 512), pools=(1, 2) * 5,
                recurrent=(("GRU", 128, {}),))
    assert "POL001" not in rules_of(deep)


def test_pol001_on_a_nested_backbone_that_ends_on_2x2():
    inner = sequential((64, 64, 3), plain("c1", "Conv2D", filters=16, kernel_size=[3, 3], strides=[32, 32],
                                          padding="same"), name="backbone_net")
    inner.layers[0].name = "bb_in"
    inner.inputs, inner.input_shapes = [TensorRef("bb_in")], {"bb_in": (None, 64, 64, 3)}
    inner.layers[1].calls = [[TensorRef("bb_in")]]
    backbone = LayerSpec("backbone", "TimeDistributed", {"name": "backbone"},
                         wrapped=LayerSpec("backbone_net", "Functional", {"name": "backbone_net"}, graph=inner))
    graph = sequential((8, 64, 64, 3), backbone, td("features", "GlobalAveragePooling2D"), lstm("rnn1", 64),
                       plain("drop", "Dropout", rate=0.4), plain("out", "Dense", units=5, activation="softmax"))
    assert ("POL001", "backbone") in lint(graph)


def test_pol002_extreme_downsampling():
    assert ("POL002", "pool5") in lint(lrcn(size=256, convs=(16, 32, 64, 64, 128), pools=(2,) * 5,
                                            strides=(2, 1, 1, 1, 1)))
    assert "POL002" not in rules_of(lrcn())


def test_pol003_pool_larger_than_its_input():
    assert ("POL003", "pool3") in lint(lrcn(pools=(2, 2, 32)))


def test_pol004_consecutive_pools():
    graph = lrcn()
    index = [s.name for s in graph.layers].index("pool3")
    extra = pool("pool_extra", 2)
    extra.calls = [[TensorRef("pool3")]]
    graph.layers[index + 1].calls = [[TensorRef("pool_extra")]]
    graph.layers.insert(index + 1, extra)
    assert ("POL004", "pool3") in lint(graph)


def test_pol005_huge_vector_into_the_lstm_and_into_a_projection():
    assert ("POL005", "rnn1") in lint(lrcn(convs=(32, 64, 64, 64), pools=(2, 2, 1, 1), features="flatten",
                                           recurrent=(("LSTM", 32, {}),)))
    projection = lrcn(convs=(32, 64), pools=(2, 1), features="flatten",
                      before_recurrent=(td("proj", "Dense", units=128, activation="relu"),))
    assert ("POL005", "proj") in lint(projection)
    assert "POL005" not in rules_of(lrcn())


# ---- dropout -------------------------------------------------------------------------------------

def test_drp001_and_drp004_never_propose_two_rates_for_one_layer():
    found = lint(lrcn(head_dropout=0.8, hidden=0))
    assert ("DRP001", "drop_head") in found and ("DRP004", "drop_head") not in found
    assert ("DRP004", "drop_head") in lint(lrcn(head_dropout=0.6, hidden=0))
    assert "DRP004" not in rules_of(lrcn(head_dropout=0.5, hidden=0))  # the guide's balanced rate


def test_drp002_too_low():
    assert ("DRP002", "drop_conv") in lint(lrcn(conv_dropout=0.05))


def test_drp003_counts_trainable_params_and_other_regularisers():
    assert ("DRP003", "rnn1") in lint(lrcn(conv_dropout=0, head_dropout=0, bn=False,
                                           recurrent=(("LSTM", 256, {}),)))
    assert "DRP003" not in rules_of(lrcn(conv_dropout=0, head_dropout=0, bn=True, recurrent=(("LSTM", 256, {}),)))
    decayed = lrcn(conv_dropout=0, head_dropout=0, bn=False, recurrent=(("LSTM", 256, {}),))
    decayed.layers[1].wrapped.config["kernel_regularizer"] = {"class_name": "L2", "config": {"l2": 1e-4}}
    assert "DRP003" not in rules_of(decayed)


def test_drp003_without_conv_blocks_does_not_mention_them():
    graph = sequential((16, 512), lstm("rnn1", 256), plain("out", "Dense", units=5, activation="softmax"))
    finding = next(f for f in lint_ir(analyse_graph(graph), Settings()) if f.rule == "DRP003")
    assert "conv" not in finding.fix


def test_drp003_skips_a_next_frame_generator():
    graph = sequential((8, 32, 32, 1),
                       plain("clstm1", "ConvLSTM2D", filters=64, kernel_size=[3, 3], padding="same",
                             return_sequences=True),
                       plain("clstm2", "ConvLSTM2D", filters=64, kernel_size=[3, 3], padding="same",
                             return_sequences=True),
                       plain("next", "Conv3D", filters=1, kernel_size=[3, 3, 3], padding="same",
                             activation="sigmoid"))
    assert rules_of(graph) & {"DRP003", "LST004"} == set()


def test_drp005_recurrent_dropout():
    assert ("DRP005", "rnn1") in lint(lrcn(recurrent=(("LSTM", 64, {"recurrent_dropout": 0.2}),)))


def test_drp006_stacked_dropout_reports_the_effective_rate():
    graph = lrcn(conv_dropout=0, before_recurrent=(plain("drop_seq", "Dropout", rate=0.5),),
                 recurrent=(("LSTM", 64, {"dropout": 0.5}),))
    finding = next(f for f in lint_ir(analyse_graph(graph), Settings()) if f.rule == "DRP006")
    assert finding.layers == ["drop_seq", "rnn1"] and "75%" in finding.message
    assert finding.evidence["effective_rate"] == 0.75
    mild = lrcn(conv_dropout=0, before_recurrent=(plain("drop_seq", "Dropout", rate=0.2),),
                recurrent=(("LSTM", 64, {"dropout": 0.2}),))
    assert "DRP006" not in rules_of(mild)


# ---- recurrent -----------------------------------------------------------------------------------

def test_lst001_deep_stack():
    assert ("LST001", "rnn1") in lint(lrcn(recurrent=(("LSTM", 32, {}),) * 4))


def test_lst002_long_clips():
    assert ("LST002", "rnn1") in lint(lrcn(frames=96, size=32, convs=(16, 32), pools=(2, 2)))


def test_lst003_bottleneck_projection_gap_and_cheap_designs():
    finding = next(f for f in lint_ir(analyse_graph(lrcn(convs=(32, 64, 32), features="flatten",
                                                         recurrent=(("LSTM", 32, {}),))), Settings())
                   if f.rule == "LST003")
    assert "TimeDistributed(Dense(128" in finding.fix
    huge = next(f for f in lint_ir(analyse_graph(lrcn(convs=(32, 64, 96), features="flatten",
                                                      recurrent=(("LSTM", 96, {}),))), Settings())
                if f.rule == "LST003")
    assert "GlobalAveragePooling2D instead of Flatten" in huge.fix
    cheap = lrcn(size=32, convs=(4, 4, 16), pools=(2, 2, 1), features="flatten", bn=False,
                 recurrent=(("GRU", 8, {}),), hidden=0, head_dropout=0.3)
    assert "LST003" not in rules_of(cheap)


def test_lst004_sequences_into_flatten_also_for_convlstm():
    assert ("LST004", "rnn1") in lint(lrcn(recurrent=(("LSTM", 64, {"return_sequences": True}),),
                                           head_dropout=0, hidden=0))
    graph = sequential((16, 32, 32, 3), conv("conv1", 16), pool("pool1", 4),
                       plain("clstm", "ConvLSTM2D", filters=16, kernel_size=[3, 3], padding="same",
                             return_sequences=True),
                       plain("flatten", "Flatten"), plain("out", "Dense", units=5, activation="softmax"))
    assert ("LST004", "clstm") in lint(graph)


def test_lst005_activation():
    assert ("LST005", "rnn1") in lint(lrcn(recurrent=(("LSTM", 64, {"activation": "relu"}),)))


def test_lst006_gru_but_not_for_oversized_layers():
    assert ("LST006", "rnn1") in lint(lrcn(recurrent=(("LSTM", 256, {}),)))
    found = rules_of(lrcn(recurrent=(("LSTM", 2048, {}),)))
    assert "LST007" in found and "LST006" not in found


def test_lst008_degenerate_width_after_a_convlstm():
    graph = sequential((8, 64, 64, 3),
                       plain("clstm", "ConvLSTM2D", filters=16, kernel_size=[3, 3], padding="same",
                             return_sequences=True),
                       td("features", "Flatten"), lstm("rnn1", 2), plain("drop", "Dropout", rate=0.3),
                       plain("out", "Dense", units=5, activation="softmax"))
    found = lint(graph)
    assert ("LST008", "rnn1") in found and ("POL005", "rnn1") in found
    finding = next(f for f in lint_ir(analyse_graph(graph), Settings()) if f.rule == "LST008")
    assert finding.cost.introduces == [] and "GlobalAveragePooling2D" in finding.fix


# ---- model ---------------------------------------------------------------------------------------

def test_mdl001_time_merged_by_flatten_and_repeat_vector():
    graph = sequential((16, 64, 64, 3), conv("conv1", 16), pool("pool1", 4), td("features", "GlobalAveragePooling2D"),
                       plain("merge_time", "Flatten"), plain("repeat", "RepeatVector", n=16), lstm("rnn1", 32),
                       plain("out", "Dense", units=5, activation="softmax"))
    assert ("MDL001", "repeat") in lint(graph)


def test_mdl002_and_mdl003_output_heads():
    assert ("MDL002", "out") in lint(lrcn(out_units=1))
    assert ("MDL003", "out") in lint(lrcn(out_activation="sigmoid"))


def test_mdl004_one_finding_for_one_design_of_opaque_layers():
    graph = lrcn()
    first = graph.layers[1]
    scale, shift = plain("scale", "Lambda", function="x/255"), plain("shift", "Lambda", function="x-0.5")
    scale.calls, shift.calls = [[TensorRef("frames")]], [[TensorRef("scale")]]
    first.calls = [[TensorRef("shift")]]
    graph.layers[1:1] = [scale, shift]
    found = [key for key in lint(graph) if key[0] == "MDL004"]
    assert found == [("MDL004", "scale")]


def test_mdl005_unknown_time_length():
    graph = lrcn()
    graph.input_shapes = {"frames": (None, None, 64, 64, 3)}
    assert ("MDL005", "") in lint(graph)


def test_mdl006_single_frame_clips():
    assert ("MDL006", "rnn1") in lint(lrcn(frames=1))
    assert "MDL006" not in rules_of(lrcn(frames=2))


def test_mdl007_loss_against_the_output_activation():
    sigmoid = lrcn(out_activation="sigmoid")
    assert ("MDL007", "out") in lint(sigmoid, loss="categorical_crossentropy")
    assert rules_of(sigmoid, loss="binary_crossentropy") & {"MDL003", "MDL007"} == set()  # multi-label head
    assert "MDL007" not in rules_of(lrcn(), loss="categorical_crossentropy")
    unknown = next(f for f in lint_ir(analyse_graph(sigmoid), Settings()) if f.rule == "MDL003")
    assert "the loss is unknown" in unknown.message


def test_every_rule_has_a_unit_test_here():
    text = open(__file__).read()
    assert all(f'"{rule_id}"' in text for rule_id in REGISTRY), [r for r in REGISTRY if f'"{r}"' not in text]
