"""The ONNX fast path (onnx_wire + onnx_infer, no onnx/numpy/protobuf): the same LoadedModel as onnx's path,
or a decline, on every ONNX file the project's tools and tests make; bad bytes never escape as a traceback.

Files: tools/make_onnx.py (tf2onnx, torch dynamo and TorchScript exports; --layers), the bundled examples'
PyTorch twins through torch.onnx.export (tools/torch_twins.py), test_onnx.py's bad files, and
tools/make_hostile.py's ONNX cases.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lrcn_advisor.errors import InputError
from lrcn_advisor.load import onnx_infer, onnx_loader, onnx_wire
from lrcn_advisor.load.onnx_graph import graph_shapes

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import make_hostile  # noqa: E402
from test_onnx import bad_files, layer_models, onnx_models_in  # noqa: E402,F401

EXAMPLES = ("classic_lrcn", "lrcn_clean", "lrcn_gru_bidirectional", "lrcn_overpooled")
# Files that must take the fast path (the cold-start target).
MUST_BE_FAST = {"torch_classic_lrcn.onnx", "torch_classic_lrcn_static.onnx", "example_classic_lrcn.onnx",
                *(f"torch_{name}.onnx" for name in EXAMPLES)}


def slow(path: Path):
    """Today's path: onnx.load, onnx.shape_inference (or its InputError message)."""
    try:
        return onnx_loader._loaded(onnx_loader.read_model(path), str(path))
    except InputError as error:
        return f"InputError: {error}"


def fast_shapes(path: Path) -> dict:
    model = onnx_wire.read(path.read_bytes(), onnx_loader.MAX_NODES + 1)
    onnx_loader.check_external_data(model, path)
    onnx_loader._fix_batch_fast(model)
    return onnx_loader._shapes_fast(model, onnx_infer.infer(model))


def slow_shapes(path: Path) -> dict:
    model = onnx_loader.read_model(path)
    onnx_loader.fix_batch(model)
    return graph_shapes(onnx_loader.infer_shapes(model).graph)


@pytest.fixture(scope="module")
def torch_exports(tmp_path_factory) -> Path:
    """The bundled examples' PyTorch twins through torch.onnx.export (TorchScript, dynamic batch), and the
    classic LRCN with a fixed batch too."""
    import torch
    from torch_twins import twin_input, twin_of

    from lrcn_advisor.pipeline import analyse_path

    out = tmp_path_factory.mktemp("torch_exports")
    for name in EXAMPLES:
        ir = analyse_path(ROOT / "lrcn_advisor" / "examples" / f"{name}.keras")
        model, x = twin_of(ir), twin_input(ir)
        torch.onnx.export(model, (x,), str(out / f"torch_{name}.onnx"), dynamo=False, input_names=["frames"],
                          dynamic_axes={"frames": {0: "batch"}})
        if name == "classic_lrcn":
            torch.onnx.export(model, (x,), str(out / "torch_classic_lrcn_static.onnx"), dynamo=False)
    return out


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, torch_exports, layer_models) -> list[Path]:
    variants = onnx_models_in(tmp_path_factory.getbasetemp())
    bad = tmp_path_factory.mktemp("bad_onnx_fast")
    for sub in ("dotdot", "absolute", "missing", "link", "short"):
        (bad / sub).mkdir()
    (bad / "real.onnx").write_bytes((variants / "keras_lstm_t8.onnx").read_bytes())
    bad_paths = [path for path, _ in bad_files(bad).values()]
    hostile = tmp_path_factory.mktemp("hostile_onnx_fast")
    make_hostile.make_cases(hostile)
    hostile_paths = [p for p in hostile.rglob("*.onnx") if p.is_file() and p.stat().st_size < 8 << 20]
    return [*sorted(torch_exports.glob("*.onnx")), *sorted(variants.glob("*.onnx")),
            *sorted(layer_models[0].glob("*.onnx")), *bad_paths, *sorted(hostile_paths)]


def test_fast_path_equals_the_onnx_path_or_declines(corpus):
    taken, declined = [], []
    for path in corpus:
        fast = onnx_loader.load_onnx_fast(path)
        if fast is None:
            declined.append(path.name)
            continue
        taken.append(path.name)
        expected = slow(path)
        assert not isinstance(expected, str), (path.name, expected)
        assert [(layer.name, layer.class_name, layer.config, layer.params_counted, layer.note)
                for layer in fast.graph.layers] == \
            [(layer.name, layer.class_name, layer.config, layer.params_counted, layer.note)
             for layer in expected.graph.layers], path.name
        assert fast.notes == expected.notes, path.name
        assert fast == expected, path.name
        assert fast_shapes(path) == slow_shapes(path), path.name  # every tensor's shape, as onnx infers it
    print(f"\nONNX fast path: {len(taken)} files read fast, {len(declined)} declined: {sorted(declined)}")
    assert MUST_BE_FAST <= set(taken), MUST_BE_FAST - set(taken)
    assert len(taken) >= 10


def test_load_onnx_uses_the_fast_path_and_falls_back(torch_exports, tmp_path):
    path = torch_exports / "torch_classic_lrcn.onnx"
    assert onnx_loader.load_onnx(path) == onnx_loader.load_onnx_fast(path) == slow(path)
    loop = tmp_path / "loop.onnx"  # a subgraph: declined, read by onnx
    import onnx
    from onnx import TensorProto, helper

    body = helper.make_graph([helper.make_node("Identity", ["c"], ["c_out"])], "body",
                             [helper.make_tensor_value_info("i", TensorProto.INT64, []),
                              helper.make_tensor_value_info("cond", TensorProto.BOOL, []),
                              helper.make_tensor_value_info("c", TensorProto.FLOAT, [1, 4])],
                             [helper.make_tensor_value_info("cond", TensorProto.BOOL, []),
                              helper.make_tensor_value_info("c_out", TensorProto.FLOAT, [1, 4])])
    graph = helper.make_graph([helper.make_node("Loop", ["", "", "x"], ["y"], body=body)], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(loop))
    assert onnx_loader.load_onnx_fast(loop) is None
    assert onnx_loader.load_onnx(loop) == slow(loop)


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def hostile_bytes(real: bytes) -> dict[str, bytes]:
    graph_with_huge_dim = _field(7, _field(1, _field(1, b"x") + _field(2, b"y") + _field(4, b"Relu"))
                                 + _field(11, _field(1, b"x") + _field(2, _field(1, _varint(1 << 3) + _varint(1)
                                                                                + _field(2, _field(1, _varint(1 << 3)
                                                                                                   + _varint(2**62))))))
                                 + _field(12, _field(1, b"y")))
    deep = b"x"
    for _ in range(200):  # attribute -> graph -> node -> attribute ... 200 levels
        deep = _field(6, _field(1, _field(5, deep)))
    return {
        "truncated": real[: len(real) // 2],
        "truncated_varint": real[:3] + b"\xff",
        "varint_overflow": b"\x08" + b"\xff" * 11 + b"\x01",
        "length_past_end": _field(7, b"")[:1] + _varint(1 << 40) + b"abc",
        "bad_wire_type": b"\x0b\x0c",
        "field_zero": b"\x02\x00",
        "deep_subgraphs": _field(7, _field(1, _field(4, b"Loop") + _field(5, deep))),
        "huge_dim": _varint(1 << 3) + _varint(8) + _field(8, _varint(2 << 3) + _varint(17)) + graph_with_huge_dim,
        "bad_utf8": _field(2, b"\xff\xfe") + real,
        "empty": b"",
    }


@pytest.mark.parametrize("case", ["truncated", "truncated_varint", "varint_overflow", "length_past_end",
                                  "bad_wire_type", "field_zero", "deep_subgraphs", "huge_dim", "bad_utf8", "empty"])
def test_hostile_bytes_decline_or_one_line(case, torch_exports, tmp_path):
    data = hostile_bytes((torch_exports / "torch_lrcn_overpooled.onnx").read_bytes())[case]
    with pytest.raises(onnx_wire.Decline):
        model = onnx_wire.read(data, onnx_loader.MAX_NODES + 1)
        onnx_loader._fix_batch_fast(model)
        onnx_loader._shapes_fast(model, onnx_infer.infer(model))
    path = tmp_path / f"{case}.onnx"
    path.write_bytes(data)
    assert onnx_loader.load_onnx_fast(path) is None  # declined: onnx's path reads it and says what is wrong
    done = subprocess.run([sys.executable, "-m", "lrcn_advisor", str(path), "--format", "json", "--no-html",
                           "--probes", "off"], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=tmp_path)
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr, done.stderr[-800:]
    if case in ("huge_dim", "bad_utf8"):  # protobuf may read these: analysed by onnx's path, or refused
        assert done.returncode in (0, 1, 2)
    else:
        assert done.returncode == 2, done.stderr[-800:]
    if done.returncode == 2:
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_cli_on_the_classic_export_imports_no_onnx_numpy_or_protobuf(torch_exports, tmp_path):
    path = torch_exports / "torch_classic_lrcn.onnx"
    script = ("import sys\nfrom lrcn_advisor.cli import main\n"
              f"try:\n    main([{str(path)!r}, '--format', 'json', '--no-html', '--probes', 'off'])\n"
              "except SystemExit as stop:\n    code = stop.code\n"
              "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
              "('onnx', 'numpy', 'google', 'ml_dtypes', 'tensorflow', 'torch', 'keras'))\n"
              "print(__import__('json').dumps({'code': code, 'heavy': heavy}), file=sys.stderr)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=tmp_path)
    result = json.loads(done.stderr.strip().splitlines()[-1])
    assert result["code"] in (0, 1, None), done.stderr[-800:]
    assert result["heavy"] == []
    report = json.loads(done.stdout)
    assert report["model"]["format"] == "onnx"


def test_external_weights_and_an_external_shape_take_the_fast_path(tmp_path):
    """Weights in an external file (torch's dynamo exporter writes them so); a small external integer
    constant (a Reshape target) is read from the file, as onnx's path does."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper

    folder = tmp_path / "model"
    folder.mkdir()
    target, weight = np.array([2, 4], dtype=np.int64), np.ones((4, 3), dtype=np.float32)
    (folder / "weights.bin").write_bytes(target.tobytes() + weight.tobytes())
    tensors = []
    for name, dtype, dims, offset, length in (("S", TensorProto.INT64, [2], 0, 16),
                                              ("W", TensorProto.FLOAT, [4, 3], 16, 48)):
        tensor = TensorProto(name=name, data_type=dtype, dims=dims)
        tensor.data_location = TensorProto.EXTERNAL
        for key, value in (("location", "weights.bin"), ("offset", str(offset)), ("length", str(length))):
            tensor.external_data.add(key=key, value=value)
        tensors.append(tensor)
    graph = helper.make_graph([helper.make_node("Reshape", ["x", "S"], ["r"]),
                               helper.make_node("MatMul", ["r", "W"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], tensors)
    path = folder / "external.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    fast = onnx_loader.load_onnx_fast(path)
    assert fast is not None and fast == slow(path)
    assert fast_shapes(path) == slow_shapes(path)
    assert fast_shapes(path)["y"] == (2, 3)
    (folder / "weights.bin").write_bytes(target.tobytes())  # too short now: declined, onnx's path refuses
    assert onnx_loader.load_onnx_fast(path) is None
    assert "too short" in slow(path)
