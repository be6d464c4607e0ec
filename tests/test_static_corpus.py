"""Static analysis of the real Keras corpus equals what Keras itself reports, and the cost model."""
from __future__ import annotations

import json
import re
import time

import pytest

from conftest import run_cli, run_script
from lrcn_advisor.pipeline import analyse_path

FORMATS = (".h5", ".keras", ".json")


def _records(layers):
    return {layer.name: layer for layer in layers}


def _shape(layer, expected_shape):
    if expected_shape and isinstance(expected_shape[0], list):
        return [list(s) for s in layer.output_shapes]
    return list(layer.output_shape)


def test_corpus_is_large_and_varied(expected):
    assert len(expected) >= 15
    classes = {record["inner_class"] or record["class"] for model in expected.values() for record in model["layers"]}
    for nested in (n for model in expected.values() for n in model["nested"].values()):
        classes |= {record["class"] for record in nested}
    required = {"Conv1D", "Conv2D", "Conv3D", "DepthwiseConv2D", "SeparableConv2D", "MaxPooling2D",
                "AveragePooling2D", "GlobalAveragePooling2D", "Dropout", "SpatialDropout2D", "BatchNormalization",
                "LayerNormalization", "Flatten", "Reshape", "Permute", "RepeatVector", "Dense", "Activation",
                "Masking", "LSTM", "GRU", "SimpleRNN", "ConvLSTM2D", "Concatenate", "Add", "Multiply",
                "Attention", "PReLU", "LeakyReLU"}
    assert required <= classes, required - classes


@pytest.mark.parametrize("suffix", FORMATS)
def test_every_layer_matches_keras(corpus_dir, expected, suffix):
    for name, truth in expected.items():
        ir = analyse_path(corpus_dir / f"{name}{suffix}")
        assert [layer.name for layer in ir.layers] == [r["name"] for r in truth["layers"]] \
            or {layer.name for layer in ir.layers} == {r["name"] for r in truth["layers"]}, name
        layers = _records(ir.layers)
        for record in truth["layers"]:
            layer = layers[record["name"]]
            where = f"{name}{suffix}:{record['name']}"
            assert layer.params == record["params"], where
            assert layer.trainable_params == record["trainable_params"], where
            assert _shape(layer, record["output_shape"]) == record["output_shape"], where
            assert layer.macs == record["macs"], where
            assert (layer.inner_class or None) == record["inner_class"] or record["inner_class"] is None, where
        assert ir.params == truth["total_params"], name
        assert ir.trainable_params == truth["trainable_params"], name


def test_nested_backbone_layers_match_keras(corpus_dir, expected):
    checked = 0
    for name, truth in expected.items():
        if not truth["nested"]:
            continue
        ir = analyse_path(corpus_dir / f"{name}.keras")
        for outer, records in truth["nested"].items():
            children = _records(ir.layer(outer).children)
            for record in records:
                child = children[record["name"]]
                assert child.params == record["params"], (name, record["name"])
                checked += 1
    assert checked > 300  # MobileNetV2, VGG16, InceptionV3 and the two-stream CNN


def test_keras2_legacy_h5_files(tmp_path_factory):
    pytest.importorskip("tf_keras")
    out = tmp_path_factory.mktemp("legacy")
    run_script("make_models.py", "--legacy", str(out))
    truth = json.loads((out / "expected.json").read_text())
    assert len(truth) >= 4
    for name, model in truth.items():
        ir = analyse_path(out / f"{name}.h5")
        assert ir.keras_version.startswith("2."), ir.keras_version
        layers = _records(ir.layers)
        for record in model["layers"]:
            assert layers[record["name"]].params == record["params"], (name, record["name"])
            assert list(layers[record["name"]].output_shape) == record["output_shape"] \
                or isinstance(record["output_shape"][0], list)
        assert ir.params == model["total_params"]


def _worked_example(shared_dir):
    """Rows of the worked-example table in ../shared/cost-model.md: (params, MACs)."""
    text = (shared_dir / "cost-model.md").read_text()
    section = text[text.index("## Worked example"):]
    rows = re.findall(r"^\|\s*([^|]+?)\s*\|\s*([\d,]+)\s*\|\s*([\d,]+)\s*\|", section, re.M)
    return [(label, int(p.replace(",", "")), int(m.replace(",", ""))) for label, p, m in rows]


def test_classic_lrcn_matches_the_cost_model_worked_example(corpus_dir, shared_dir):
    rows = _worked_example(shared_dir)
    ir = analyse_path(corpus_dir / "classic_lrcn.h5")
    costly = [layer for layer in ir.layers if layer.params or layer.macs]
    assert [(layer.params, layer.macs) for layer in costly] == [(p, m) for label, p, m in rows if label != "total"]
    total = next(row for row in rows if row[0] == "total")
    assert (ir.params, ir.macs, ir.flops) == (total[1], total[2], 2 * total[2])


def test_unknown_time_length_is_reported_not_treated_as_one(corpus_dir):
    ir = analyse_path(corpus_dir / "lrcn_separable_gru.keras")
    assert ir.input_shapes[0][1] is None and ir.frames_source == "default" and ir.frames == 16
    assert any("None" in w and "--frames" in w for w in ir.warnings)
    eight = analyse_path(corpus_dir / "lrcn_separable_gru.keras", frames=8)
    assert eight.frames_source == "option" and eight.frames == 8
    per_step = [(a.macs, b.macs) for a, b in zip(eight.layers, ir.layers) if a.frames]
    assert per_step and all(2 * a == b for a, b in per_step)


def test_frames_option_on_the_cli(corpus_dir):
    done = run_cli(corpus_dir / "lrcn_separable_gru.h5", "--format", "json", "--frames", "32", "--no-html",
                   "--probes", "off")
    data = json.loads(done.stdout)
    assert data["model"]["frames"] == 32 and data["model"]["frames_source"] == "option"
    assert data["model"]["input_shape"][1] == 32


def test_json_contract(corpus_dir, expected):
    done = run_cli(corpus_dir / "two_stream.keras", "--format", "json", "--no-html", "--probes", "off")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["schema_version"] == "2.0"
    assert {"path", "format", "name", "input_shape", "frames"} <= set(data["model"])
    truth = expected["two_stream"]["layers"]
    assert [layer["name"] for layer in data["layers"]] == [r["name"] for r in truth] \
        or sorted(layer["name"] for layer in data["layers"]) == sorted(r["name"] for r in truth)
    for layer in data["layers"]:
        assert {"name", "class", "inner_class", "output_shape", "params", "trainable_params", "macs",
                "block"} <= set(layer)
    assert sum(b["params"] for b in data["blocks"]) == data["totals"]["params"]
    assert sum(b["macs"] for b in data["blocks"]) == data["totals"]["macs"]
    assert data["totals"]["flops"] == 2 * data["totals"]["macs"]
    assert isinstance(data["findings"], list)


def test_json_to_file(corpus_dir, tmp_path):
    out = tmp_path / "r.json"
    done = run_cli(corpus_dir / "classic_lrcn.keras", "--format", "json", "-o", out, "--no-html", "--probes", "off")
    assert done.returncode == 0 and done.stdout == ""
    assert json.loads(out.read_text())["totals"]["params"] == 73_060


def test_table_output_names_layers_blocks_and_totals(corpus_dir):
    done = run_cli(corpus_dir / "classic_lrcn.h5", "--no-html", "--probes", "off")
    assert done.returncode == 0, done.stderr
    for text in ("TimeDistributed(Conv2D)", "(None, 20, 64, 64, 16)", "conv1", "recurrent", "head",
                 "73,060 params", "68,075,648 MACs", "136,151,296 FLOPs"):
        assert text in done.stdout, text


def test_blocks_of_the_classic_lrcn(corpus_dir):
    ir = analyse_path(corpus_dir / "classic_lrcn.h5")
    assert [block.id for block in ir.blocks] == ["conv1", "conv2", "conv3", "conv4", "recurrent", "head"]
    assert [len(block.layers) for block in ir.blocks[:4]] == [3, 3, 3, 3]  # conv, pool, dropout (+flatten)


def test_backbone_is_one_block(corpus_dir):
    ir = analyse_path(corpus_dir / "lrcn_mobilenetv2.keras")
    backbone = [block for block in ir.blocks if block.stage == "backbone"]
    assert len(backbone) == 1 and backbone[0].params > 300_000
    assert len(ir.layer(backbone[0].layers[0]).children) > 100


def test_static_analysis_does_not_import_tensorflow(corpus_dir):
    code = ("import sys; from lrcn_advisor.pipeline import analyse_file; from lrcn_advisor.config import Settings;"
            f"analyse_file(__import__('pathlib').Path({str(corpus_dir / 'lrcn_mobilenetv2.h5')!r}), Settings());"
            "bad = [m for m in ('tensorflow', 'keras', 'torch') if m in sys.modules]; print(bad); assert not bad")
    import subprocess
    import sys as _sys
    done = subprocess.run([_sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_analysis_is_fast_enough_for_a_300_layer_backbone(corpus_dir):
    start = time.perf_counter()
    ir = analyse_path(corpus_dir / "lrcn_inceptionv3.h5")
    assert len(ir.layer(ir.blocks[0].layers[0]).children or ir.layers[0].children) > 250
    assert time.perf_counter() - start < 30  # generous: the benchmark measures the real figure
