"""ONNX loader: real tf2onnx and torch.onnx exports read back as their Keras twins, and bad files refused.

tools/make_onnx.py builds the models (Keras 3 -> tf2onnx, PyTorch twins ->
torch.onnx) into one folder per test session; manifest.json lists each
export, its Keras twin and the parameter changes the exporter makes.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from lrcn_advisor.errors import InputError
from lrcn_advisor.load import onnx_loader
from lrcn_advisor.pipeline import analyse_path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import make_onnx  # noqa: E402

VARIANTS = list(make_onnx.VARIANTS)


def onnx_models_in(base: Path) -> Path:
    """The exports of tools/make_onnx.py, made once per session under `base` (test_fvcore_crosscheck shares them)."""
    out = base / "onnx_models"
    if not (out / "manifest.json").exists():
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
        done = subprocess.run([sys.executable, str(ROOT / "tools" / "make_onnx.py"), "--out", str(out)],
                              capture_output=True, text=True, timeout=900, env=env)
        assert done.returncode == 0, f"make_onnx.py failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    return out


@pytest.fixture(scope="session")
def onnx_models(tmp_path_factory) -> Path:
    return onnx_models_in(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="session")
def manifest(onnx_models) -> dict:
    return {entry["name"]: entry for entry in json.loads((onnx_models / "manifest.json").read_text())}


def pair(onnx_models, entry, frames=None):
    return (analyse_path(onnx_models / entry["keras_twin"], frames=frames),
            analyse_path(onnx_models / entry["onnx"], frames=frames))


def expected_blocks(keras_ir, changes) -> dict:
    """Keras twin's (params, MACs) per block, with the exporter's documented parameter changes applied."""
    blocks = {b.id: [b.params, b.macs] for b in keras_ir.blocks}
    for change in changes:
        blocks[keras_ir.block_of(change["layer"]).id][0] += change["params"]
    return {k: v for k, v in blocks.items() if v != [0, 0]}


def assert_blocks_match(keras_ir, onnx_ir, changes):
    expected = expected_blocks(keras_ir, changes)
    got = {b.id: [b.params, b.macs] for b in onnx_ir.blocks if (b.params, b.macs) != (0, 0)}
    assert set(got) == set(expected), f"blocks differ: ONNX {got} vs Keras {expected}"
    for block, (params, macs) in expected.items():
        assert got[block][0] == params, f"{block}: params {got[block][0]} vs Keras {params} after {changes}"
        assert got[block][1] == pytest.approx(macs, rel=0.01), f"{block}: MACs {got[block][1]} vs Keras {macs}"


# ---- real exports --------------------------------------------------------------

@pytest.mark.parametrize("name", VARIANTS)
def test_blocks_match_keras_twin(onnx_models, manifest, name):
    entry = manifest[name]
    keras_ir, onnx_ir = pair(onnx_models, entry)
    assert onnx_ir.format == "onnx" and not onnx_ir.dropout_visible
    assert onnx_ir.frames == entry["frames"] and onnx_ir.frames_source == "file"
    assert not onnx_ir.warnings, onnx_ir.warnings
    assert_blocks_match(keras_ir, onnx_ir, entry["exporter_changes"])


@pytest.mark.parametrize("name", ["keras_lstm_t8", "torch_gru_t20"])
def test_frames_option_rescales_like_keras(onnx_models, manifest, name):
    entry = manifest[name]
    keras_ir, onnx_ir = pair(onnx_models, entry, frames=12)
    assert onnx_ir.frames == 12 and onnx_ir.frames_source == "option"
    assert_blocks_match(keras_ir, onnx_ir, entry["exporter_changes"])


@pytest.mark.parametrize("name", VARIANTS)
def test_layers_recovered(onnx_models, manifest, name):
    entry = manifest[name]
    spec, ir = entry["spec"], analyse_path(onnx_models / entry["onnx"])
    convs = [layer for layer in ir.layers if layer.kind == "conv"]
    assert [(c.class_name, c.inner_class, c.frames) for c in convs] == \
        [("TimeDistributed", "Conv2D", spec["frames"])] * len(spec["convs"])
    assert [c.config["filters"] for c in convs] == [c["filters"] for c in spec["convs"]]
    assert all(c.config["padding"] == "same" for c in convs)
    pools = [layer for layer in ir.layers if layer.inner_class == "MaxPooling2D"]
    assert len(pools) == sum(c["pool"] for c in spec["convs"])
    rnn = spec["rnn"]
    recurrent = [layer for layer in ir.layers if layer.kind == "recurrent"]
    assert len(recurrent) == rnn.get("layers", 1)
    cell = "LSTM" if rnn["cell"] == "lstm" else "GRU"
    wrapper = "Bidirectional" if rnn.get("bidirectional") else cell
    assert [(r.class_name, r.inner_kind_class, r.config["units"]) for r in recurrent] == \
        [(wrapper, cell, rnn["units"])] * len(recurrent)
    assert [r.config["return_sequences"] for r in recurrent] == [True] * (len(recurrent) - 1) + [False]
    assert ir.layers[-1].class_name == "Dense" and ir.layers[-1].config["units"] == spec["classes"]
    assert ir.input_shapes[0] == (None, spec["frames"], spec["size"], spec["size"], spec["channels"])


def layer_notes(ir) -> list[str]:
    return [layer.note for layer in ir.layers if layer.note]


def test_notes_name_exporter_changes(onnx_models, manifest):
    def load(name):
        return analyse_path(onnx_models / manifest[name]["onnx"])

    keras_lstm = load("keras_lstm_t8")
    assert any("recurrent half is all zeros" in n for n in layer_notes(keras_lstm))
    assert any("per-frame node copies" in n for n in keras_lstm.notes)
    assert any("per-channel Mul/Add" in n for n in layer_notes(load("keras_gru_bn_t20")))
    for name in ("torch_lstm_t8", "torch_bilstm2_bn_t8"):
        assert any("PyTorch LSTM has two bias vectors" in n for n in layer_notes(load(name))), name
    for name in ("torch_lstm_bn_t8", "torch_bilstm2_bn_t8"):
        folded = [layer for layer in load(name).layers if "BatchNorm folded into this Conv" in layer.note]
        assert folded and all(layer.inner_class == "Conv2D" for layer in folded), name
    torch_ir = load("torch_gru_t20")
    assert any("channels-first" in n for n in torch_ir.notes)
    assert [layer.inner_class for layer in torch_ir.layers if layer.kind == "norm"] == ["BatchNormalization"]


def test_loop_gru_and_fused_bidirectional(onnx_models, manifest):
    """Keras GRUs export as ONNX Loops; a forward and a reversed Loop read as one Bidirectional."""
    for name in ("keras_gru_bn_t20", "keras_gru_noreset_t8", "keras_bigru_proj_t8"):
        model = onnx.load(str(onnx_models / manifest[name]["onnx"]), load_external_data=False)
        assert "Loop" in {node.op_type for node in model.graph.node}, name
    noreset = analyse_path(onnx_models / manifest["keras_gru_noreset_t8"]["onnx"])
    assert [layer.config["reset_after"] for layer in noreset.layers if layer.kind == "recurrent"] == [False]
    bigru = analyse_path(onnx_models / manifest["keras_bigru_proj_t8"]["onnx"])
    assert [(layer.class_name, layer.inner_class) for layer in bigru.layers if layer.kind == "recurrent"] == \
        [("Bidirectional", "GRU")]


# ---- a tf2onnx-like unrolled graph ----------------------------------------------

def test_unrolled_graph_matches_keras_and_real_export(onnx_models, manifest, tmp_path):
    entry = manifest["keras_lstm_t8"]
    path = tmp_path / "unrolled.onnx"
    make_onnx.write_unrolled(entry["spec"], path)
    keras_ir = analyse_path(onnx_models / entry["keras_twin"])
    synthetic, real = analyse_path(path), analyse_path(onnx_models / entry["onnx"])
    assert_blocks_match(keras_ir, synthetic, entry["exporter_changes"])
    assert [(layer.class_name, layer.inner_class) for layer in synthetic.layers] == \
        [(layer.class_name, layer.inner_class) for layer in real.layers]


def test_300_frame_unrolled_export(tmp_path):
    spec = make_onnx.unrolled_spec(300)
    path = tmp_path / "unrolled_t300.onnx"
    nodes = make_onnx.write_unrolled(spec, path)
    assert nodes > 20_000
    start = time.perf_counter()
    ir = analyse_path(path)
    assert time.perf_counter() - start < 30
    td = [layer for layer in ir.layers if layer.time_distributed]
    assert td and all(layer.frames == 300 for layer in td)
    assert len([layer for layer in td if layer.kind == "conv"]) == len(spec["convs"])
    assert not ir.warnings


# ---- small hand-made graphs ----------------------------------------------------

def save(model: onnx.ModelProto, path: Path) -> Path:
    onnx.save(model, str(path))
    return path


def model_of(nodes, inputs, outputs, initializers=(), opset=17) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def tensor(name: str, *shape: int):
    return numpy_helper.from_array(np.random.default_rng(0).normal(size=shape).astype(np.float32), name)


def test_merged_batch_graph_with_decomposed_batchnorm(tmp_path):
    """(N, T, C, H, W) -> (N*T, C, H, W) conv, BatchNorm as Sub/Div/Mul/Add, global pool, LSTM."""
    steps, units = 4, 4
    vector = [f"v{i}" for i in range(4)]
    nodes = [
        helper.make_node("Reshape", ["x", "merged"], ["frames"]),
        helper.make_node("Conv", ["frames", "W"], ["conv"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        *[helper.make_node(op, [a, v], [b]) for op, a, v, b in zip(
            ("Sub", "Div", "Mul", "Add"), ("conv", "n1", "n2", "n3"), vector, ("n1", "n2", "n3", "n4"))],
        helper.make_node("Relu", ["n4"], ["act"]),
        helper.make_node("GlobalAveragePool", ["act"], ["pooled"]),
        helper.make_node("Reshape", ["pooled", "split"], ["seq"]),
        helper.make_node("Transpose", ["seq"], ["tnf"], perm=[1, 0, 2]),
        helper.make_node("LSTM", ["tnf", "LW", "LR", "LB"], ["Y", "Y_h"], hidden_size=units),
    ]
    inits = [tensor("W", 6, 3, 3, 3), *[tensor(v, 1, 6, 1, 1) for v in vector],
             numpy_helper.from_array(np.array([-1, 3, 8, 8], np.int64), "merged"),
             numpy_helper.from_array(np.array([-1, steps, 6], np.int64), "split"),
             tensor("LW", 1, 4 * units, 6), tensor("LR", 1, 4 * units, units), tensor("LB", 1, 8 * units)]
    model = model_of(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", steps, 3, 8, 8])],
                     [helper.make_tensor_value_info("Y_h", TensorProto.FLOAT, [1, "N", units])], inits)
    ir = analyse_path(save(model, tmp_path / "merged.onnx"))
    assert ir.input_shapes == [(None, steps, 8, 8, 3)]
    rows = [(layer.class_name, layer.inner_class, layer.params, layer.macs) for layer in ir.layers]
    assert rows == [("InputLayer", None, 0, 0),
                    ("TimeDistributed", "Conv2D", 6 * 27, steps * 8 * 8 * 6 * 27),
                    ("TimeDistributed", "BatchNormalization", 4 * 6, 0),
                    ("TimeDistributed", "GlobalAveragePooling2D", 0, 0),
                    ("TimeDistributed", "Flatten", 0, 0),
                    ("LSTM", None, 4 * units * (6 + units) + 8 * units, steps * 4 * units * (6 + units))]
    assert ir.layers[1].config["activation"] == "linear" and ir.layers[1].config["use_bias"] is False
    assert not ir.warnings


def test_scan_body_with_an_lstm_step(tmp_path):
    """A Scan whose body concatenates [x_t, h] and multiplies by one (I+H) x 4H matrix is an LSTM."""
    steps, features, units = 6, 10, 5
    value = helper.make_tensor_value_info
    body = helper.make_graph(
        [helper.make_node("Concat", ["x_t", "h"], ["xh"], axis=1),
         helper.make_node("MatMul", ["xh", "W"], ["z0"]),
         helper.make_node("Add", ["z0", "b"], ["z"]),
         helper.make_node("Split", ["z"], ["zi", "zf", "zg", "zo"], axis=1, num_outputs=4),
         *[helper.make_node(op, [a], [b]) for op, a, b in (
             ("Sigmoid", "zi", "i"), ("Sigmoid", "zf", "f"), ("Tanh", "zg", "g"), ("Sigmoid", "zo", "o"))],
         helper.make_node("Mul", ["f", "c"], ["fc"]), helper.make_node("Mul", ["i", "g"], ["ig"]),
         helper.make_node("Add", ["fc", "ig"], ["c_next"]), helper.make_node("Tanh", ["c_next"], ["tc"]),
         helper.make_node("Mul", ["o", "tc"], ["h_next"]), helper.make_node("Identity", ["h_next"], ["y_t"])],
        "lstm_step",
        [value("h", TensorProto.FLOAT, [1, units]), value("c", TensorProto.FLOAT, [1, units]),
         value("x_t", TensorProto.FLOAT, [1, features])],
        [value(n, TensorProto.FLOAT, [1, units]) for n in ("h_next", "c_next", "y_t")])
    nodes = [helper.make_node("Transpose", ["x"], ["tnf"], perm=[1, 0, 2]),
             helper.make_node("Scan", ["h0", "c0", "tnf"], ["h_last", "c_last", "ys"], body=body, num_scan_inputs=1),
             helper.make_node("MatMul", ["h_last", "K"], ["y"])]
    zeros = numpy_helper.from_array(np.zeros((1, units), np.float32), "h0")
    inits = [zeros, numpy_helper.from_array(np.zeros((1, units), np.float32), "c0"),
             tensor("W", features + units, 4 * units), tensor("b", 4 * units), tensor("K", units, 3)]
    model = model_of(nodes, [value("x", TensorProto.FLOAT, [1, steps, features])],
                     [value("y", TensorProto.FLOAT, [1, 3])], inits, opset=18)
    ir = analyse_path(save(model, tmp_path / "scan.onnx"))
    lstm = next(layer for layer in ir.layers if layer.kind == "recurrent")
    assert (lstm.class_name, lstm.config["units"], lstm.config["return_sequences"]) == ("LSTM", units, False)
    assert lstm.params == (features + units) * 4 * units + 4 * units
    assert lstm.macs == steps * 4 * units * (features + units)
    assert not ir.warnings


@pytest.mark.parametrize("op, gates, cell, note", [("RNN", 1, "SimpleRNN", "+5 params"),
                                                   ("GRU", 3, "GRU", "reset_after=False")])
def test_bidirectional_rnn_and_gru_ops(tmp_path, op, gates, cell, note):
    steps, features, units = 7, 6, 5
    nodes = [helper.make_node("Transpose", ["x"], ["tnf"], perm=[1, 0, 2]),
             helper.make_node(op, ["tnf", "W", "R", "B"], ["Y", "Y_h"], hidden_size=units, direction="bidirectional")]
    inits = [tensor("W", 2, gates * units, features), tensor("R", 2, gates * units, units),
             tensor("B", 2, 2 * gates * units)]
    model = model_of(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", steps, features])],
                     [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [steps, 2, "N", units])], inits)
    layer = analyse_path(save(model, tmp_path / f"{op}.onnx")).layers[-1]
    assert (layer.class_name, layer.inner_class, layer.config["return_sequences"]) == ("Bidirectional", cell, True)
    assert layer.output_shape == (None, steps, 2 * units)
    assert layer.params == 2 * gates * units * (features + units + 2)
    assert layer.macs == 2 * steps * gates * units * (features + units)
    assert note in layer.note


def test_unknown_ops_become_unknown_layers(tmp_path):
    steps, features, units = 8, 16, 8
    nodes = [
        helper.make_node("Add", ["x", "position"], ["placed"]),
        helper.make_node("LpNormalization", ["placed"], ["norm"], axis=-1),
        helper.make_node("Transpose", ["norm"], ["tnf"], perm=[1, 0, 2]),
        helper.make_node("LSTM", ["tnf", "W", "R", "B"], ["Y", "Y_h"], hidden_size=units),
        helper.make_node("Squeeze", ["Y_h", "axes"], ["last"]),
        helper.make_node("FancyOp", ["last"], ["fancy"], domain="com.example"),
        helper.make_node("MatMul", ["fancy", "K"], ["mm"]),
        helper.make_node("Add", ["mm", "bias"], ["y"]),
    ]
    inits = [tensor("position", steps, features),
             tensor("W", 1, 4 * units, features), tensor("R", 1, 4 * units, units), tensor("B", 1, 8 * units),
             numpy_helper.from_array(np.array([0], np.int64), "axes"), tensor("K", units, 4), tensor("bias", 4)]
    model = model_of(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", steps, features])],
                     [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])], inits)
    model.opset_import.append(helper.make_opsetid("com.example", 1))
    ir = analyse_path(save(model, tmp_path / "unknown.onnx"))
    by_class = {layer.class_name: layer for layer in ir.layers}
    for name in ("onnx:Add", "onnx:LpNormalization", "onnx:com.example.FancyOp"):
        assert by_class[name].status == "unknown"
        assert any(name in warning for warning in ir.warnings), ir.warnings
    assert by_class["LSTM"].params == 4 * units * (features + units) + 8 * units
    assert by_class["LSTM"].macs == steps * 4 * units * (features + units)
    assert by_class["Dense"].params == units * 4 + 4


def external_model(tmp_path: Path, location: str) -> Path:
    weight = TensorProto(name="W", data_type=TensorProto.FLOAT, dims=[4, 2])
    weight.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", "32")):
        weight.external_data.add(key=key, value=value)
    model = model_of([helper.make_node("MatMul", ["x", "W"], ["y"])],
                     [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                     [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])], [weight])
    folder = tmp_path / "model"
    folder.mkdir(exist_ok=True)
    return save(model, folder / "external.onnx")


def test_external_data_inside_the_folder_is_accepted(tmp_path):
    path = external_model(tmp_path, "weights.bin")
    (path.parent / "weights.bin").write_bytes(bytes(32))
    ir = analyse_path(path)
    assert [(layer.class_name, layer.params) for layer in ir.layers] == [("InputLayer", 0), ("Dense", 8)]


def bad_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """name -> (file, a word the error line must contain)."""
    real = next(tmp_path.glob("real.onnx"), None)
    cases = {}
    half = tmp_path / "truncated.onnx"
    half.write_bytes(real.read_bytes()[: len(real.read_bytes()) // 2])
    cases["truncated"] = (half, "")
    junk = tmp_path / "garbage.onnx"
    junk.write_bytes(b"\x00\xff" + np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    cases["garbage"] = (junk, "ONNX")
    cases["no_inputs"] = (save(model_of(
        [helper.make_node("Constant", [], ["c"], value=tensor("v", 2)), helper.make_node("Identity", ["c"], ["y"])],
        [], [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])]), tmp_path / "no_inputs.onnx"), "no inputs")
    cases["cycle"] = (save(model_of(
        [helper.make_node("Add", ["x", "b"], ["a"]), helper.make_node("Relu", ["a"], ["b"])],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, [1, 4])]), tmp_path / "cycle.onnx"), "cycle")
    outside = tmp_path / "outside.bin"
    outside.write_bytes(bytes(32))
    cases["dotdot"] = (external_model(tmp_path / "dotdot", "../outside.bin"), "'..'")
    cases["absolute"] = (external_model(tmp_path / "absolute", str(outside)), "absolute")
    cases["missing"] = (external_model(tmp_path / "missing", "weights.bin"), "missing")
    link = external_model(tmp_path / "link", "link.bin")
    (link.parent / "link.bin").symlink_to(outside)
    cases["symlink"] = (link, "outside")
    short = external_model(tmp_path / "short", "weights.bin")
    (short.parent / "weights.bin").write_bytes(bytes(8))
    cases["short"] = (short, "too short")
    return cases


@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory, onnx_models) -> dict:
    folder = tmp_path_factory.mktemp("bad_onnx")
    for sub in ("dotdot", "absolute", "missing", "link", "short"):
        (folder / sub).mkdir()
    (folder / "real.onnx").write_bytes((onnx_models / "keras_lstm_t8.onnx").read_bytes())
    return bad_files(folder)


BAD = ["truncated", "garbage", "no_inputs", "cycle", "dotdot", "absolute", "missing", "symlink", "short"]


@pytest.mark.parametrize("case", BAD)
def test_bad_input_raises_input_error(bad_inputs, case):
    path, word = bad_inputs[case]
    with pytest.raises(InputError) as error:
        analyse_path(path)
    assert word in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize("case", BAD)
def test_bad_input_cli_exits_2_with_one_line(bad_inputs, case):
    path, word = bad_inputs[case]
    done = subprocess.run([sys.executable, "-m", "lrcn_advisor", str(path)], capture_output=True, text=True,
                          timeout=300, cwd=path.parent)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lrcn-advise: error:") and word in lines[0], done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_node_limit(onnx_models, monkeypatch):
    monkeypatch.setattr(onnx_loader, "MAX_NODES", 50)
    with pytest.raises(InputError, match="over 50 nodes"):
        analyse_path(onnx_models / "keras_lstm_t8.onnx")


def test_fix_cost_on_onnx_keeps_the_exporter_difference(onnx_models):
    """A fix recounts the edited layers; PyTorch's extra LSTM bias (+4H) stays, the old size does not."""
    from lrcn_advisor.config import Settings
    from lrcn_advisor.pipeline import lint_ir

    ir = analyse_path(onnx_models / "torch_lstm_bn_t8.onnx")
    lstm = next(layer for layer in ir.layers if layer.kind == "recurrent")
    units, features = lstm.config["units"], lstm.input_shape[-1]
    assert lstm.params == 4 * units * (features + units) + 8 * units  # two bias vectors
    finding = next(f for f in lint_ir(ir, Settings()) if f.rule == "LST003")
    width = 4 * units
    dense = features * width + width
    new_lstm = 4 * units * (width + units) + 8 * units
    assert finding.cost.params_after == ir.params - lstm.params + dense + new_lstm


# ---- exporter differences, machine-readable; more layer kinds; the bundled examples ----------

LAYER_MODELS = [name if weights == "random" else f"{name}_fresh" for name, weights in make_onnx.layer_model_names()]


@pytest.fixture(scope="session")
def layer_models(tmp_path_factory) -> tuple[Path, dict]:
    """tools/make_onnx.py --layers: ConvLSTM2D, LSTM(unroll=True), ConvTranspose, UpSampling (Tile and
    Resize), Conv+BatchNorm outside TimeDistributed and the bundled examples, through tf2onnx."""
    out = tmp_path_factory.getbasetemp() / "onnx_layers"
    if not (out / "layers.json").exists():
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
        done = subprocess.run([sys.executable, str(ROOT / "tools" / "make_onnx.py"), "--out", str(out), "--layers"],
                              capture_output=True, text=True, timeout=1800, env=env)
        assert done.returncode == 0, f"make_onnx.py --layers failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    return out, {entry["name"]: entry for entry in json.loads((out / "layers.json").read_text())}


def keras_count(onnx_ir) -> int:
    """What the JSON contract promises: totals.params minus the per-layer exporter differences."""
    return onnx_ir.params - sum(layer.params_delta_vs_keras for layer in onnx_ir.layers)


@pytest.mark.parametrize("name", LAYER_MODELS)
def test_layer_models_count_like_keras(layer_models, name):
    folder, entries = layer_models
    entry = entries[name]
    keras_ir, onnx_ir = analyse_path(folder / entry["keras_twin"]), analyse_path(folder / entry["onnx"])
    assert keras_count(onnx_ir) == entry["keras_count_params"] == keras_ir.params
    assert onnx_ir.macs == pytest.approx(keras_ir.macs, rel=0.01)
    assert not onnx_ir.warnings, onnx_ir.warnings
    if entry["weights"] == "fresh":  # tf2onnx dropped the zero biases: the loader says what it assumed
        assert any("tf2onnx drops all-zero biases" in note for note in onnx_ir.notes)
        assert any(layer.params_delta_vs_keras < 0 for layer in onnx_ir.layers)
    else:
        assert not any("tf2onnx drops all-zero biases" in note for note in onnx_ir.notes)


@pytest.mark.parametrize("name", VARIANTS)
def test_variants_count_like_keras(onnx_models, manifest, name):
    entry = manifest[name]
    onnx_ir = analyse_path(onnx_models / entry["onnx"])
    assert keras_count(onnx_ir) == entry["keras_count_params"]
    changed = {change["layer"] for change in entry["exporter_changes"]}
    assert bool(changed) == any(layer.params_delta_vs_keras for layer in onnx_ir.layers)


def test_convlstm_loop_is_one_recurrent_conv_layer(layer_models):
    folder, entries = layer_models
    ir = analyse_path(folder / entries["keras_convlstm_t4"]["onnx"])
    (layer,) = [layer for layer in ir.layers if layer.kind == "recurrent"]
    assert (layer.class_name, layer.config["filters"], layer.config["kernel_size"]) == ("ConvLSTM2D", 16, [3, 3])
    assert layer.config["return_sequences"] is False and layer.output_shape == (None, 16, 16, 16)
    area, cin, filters, steps, positions = 9, 8, 16, 4, 16 * 16
    assert layer.params == area * cin * 4 * filters + area * filters * 4 * filters + 4 * filters
    assert layer.macs == steps * positions * 4 * filters * area * (cin + filters)
    stacked = analyse_path(folder / entries["keras_convlstm_seq_t4"]["onnx"])
    convlstms = [layer for layer in stacked.layers if layer.kind == "recurrent"]
    assert [(layer.config["padding"], layer.config["return_sequences"], layer.output_shape) for layer in convlstms] \
        == [("valid", True, (None, 4, 10, 10, 6)), ("same", False, (None, 10, 10, 8))]


def test_unrolled_lstm_is_one_layer_per_keras_layer(layer_models):
    folder, entries = layer_models
    ir = analyse_path(folder / entries["keras_lstm_unroll_t4"]["onnx"])
    recurrent = [layer for layer in ir.layers if layer.kind == "recurrent"]
    assert [(layer.class_name, layer.config["units"], layer.config["return_sequences"]) for layer in recurrent] == \
        [("LSTM", 12, True), ("LSTM", 10, False)]
    assert [layer.macs for layer in recurrent] == [4 * 4 * 12 * (128 + 12), 4 * 4 * 10 * (12 + 10)]
    assert len(ir.layers) == 7  # input, conv, pool, flatten, two LSTMs, head: no per-step debris


def test_transposed_convs_and_upsampling(layer_models):
    folder, entries = layer_models
    ir = analyse_path(folder / entries["keras_updown_t4"]["onnx"])
    rows = [(layer.inner_class, layer.config.get("padding"), layer.config.get("interpolation"), layer.output_shape)
            for layer in ir.layers if layer.inner_class in ("Conv2DTranspose", "UpSampling2D")]
    assert rows == [("Conv2DTranspose", "same", None, (None, 4, 16, 16, 8)),
                    ("Conv2DTranspose", "valid", None, (None, 4, 34, 34, 6)),
                    ("UpSampling2D", None, "nearest", (None, 4, 34, 34, 6)),
                    ("UpSampling2D", None, "bilinear", (None, 4, 68, 68, 6))]


def test_folded_batchnorm_stays_a_layer_with_its_keras_difference(layer_models, onnx_models, manifest):
    folder, entries = layer_models
    fresh = analyse_path(folder / entries["keras_plain_bn_t4_fresh"]["onnx"])  # tf2onnx folds BN into the conv
    torch_ir = analyse_path(onnx_models / manifest["torch_lstm_bn_t8"]["onnx"])  # so does PyTorch
    for ir in (fresh, torch_ir):
        norms = [layer for layer in ir.layers if layer.inner_kind_class == "BatchNormalization"]
        assert norms and all(layer.params == 0 and "folded into" in layer.note for layer in norms)
        assert all(layer.params_delta_vs_keras == -4 * layer.output_shape[-1] for layer in norms)


def test_shared_initialisers_count_for_each_layer(tmp_path):
    """tf2onnx deduplicates identical initialisers: two convolutions holding equal weights share one.
    Keras counts each layer's weights, so both layers count them."""
    nodes = [helper.make_node("Conv", ["x", "W", "B"], ["a"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["a"], ["r"]),
             helper.make_node("Conv", ["r", "W", "B"], ["y"], kernel_shape=[3, 3], pads=[1, 1, 1, 1])]
    model = model_of(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8, 8])],
                     [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8, 8])],
                     [tensor("W", 4, 4, 3, 3), tensor("B", 4)])
    ir = analyse_path(save(model, tmp_path / "shared.onnx"))
    convs = [layer for layer in ir.layers if layer.kind == "conv"]
    assert [layer.params for layer in convs] == [4 * 4 * 9 + 4] * 2
    assert "also used by" in convs[1].note and ir.params == 2 * (4 * 4 * 9 + 4)
    assert [layer.params_delta_vs_keras for layer in convs] == [0, 0]


def test_json_carries_params_delta_vs_keras(onnx_models, manifest, tmp_path):
    entry = manifest["torch_lstm_bn_t8"]
    done = subprocess.run([sys.executable, "-m", "lrcn_advisor", str(onnx_models / entry["onnx"]), "--format", "json",
                           "--no-html", "--exit-zero"], capture_output=True, text=True, timeout=300, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    deltas = [layer["params_delta_vs_keras"] for layer in data["layers"]]
    assert all(isinstance(delta, int) for delta in deltas) and any(deltas)
    assert data["totals"]["params"] - sum(deltas) == entry["keras_count_params"]
