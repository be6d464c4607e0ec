"""The conventions table against the real FLOP counters, per model and per layer kind.

Each bundled example's and each tools/make_onnx.py variant's PyTorch twin (tools/torch_twins.py `twin_of`, the
translation lrcn_advisor/conventions.py predicts for) is run through thop,
ptflops (both backends), fvcore, torchinfo, FlopCounterMode, calflops and
DeepSpeed's profiler, and the Keras files through the TF profiler; every number
must equal the table's prediction.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from lrcn_advisor.conventions import TOOL_BY_KEY, PartKind, conventions_table
from lrcn_advisor.pipeline import analyse_path as load_model

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(ROOT / "tests"))
import flop_tools  # noqa: E402
import make_onnx  # noqa: E402

torch = pytest.importorskip("torch")
from torch_twins import twin_input, twin_of  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore")
EXAMPLES = [path.stem for path in sorted((ROOT / "lrcn_advisor" / "examples").glob("*.h5"))]
VARIANTS = list(make_onnx.VARIANTS)  # their Keras twins, saved by tools/make_onnx.py (shared with test_onnx.py)


def model_path(name: str, request) -> Path:
    if name in EXAMPLES:
        return ROOT / "lrcn_advisor" / "examples" / f"{name}.h5"
    from test_onnx import onnx_models_in

    return onnx_models_in(request.getfixturevalue("tmp_path_factory").getbasetemp()) / f"{name}.keras"


@pytest.fixture(scope="module", params=EXAMPLES + VARIANTS)
def case(request):
    ir = load_model(model_path(request.param, request))
    model = twin_of(ir)
    x = twin_input(ir)
    with torch.no_grad():
        assert tuple(model(x).shape) == (1, ir.layers[-1].output_shape[-1])
    table = conventions_table(ir)
    assert not table.untranslated
    return ir, model, x, {tool.tool: tool for tool in table.tools}


def by_kind(predicted) -> dict[str, int]:
    return {kind.value: value for kind, value in predicted.by_kind.items() if value}


def nonzero(counted: dict[str, int]) -> dict[str, int]:
    return {kind: value for kind, value in counted.items() if value}


def test_thop(case):
    _, model, x, tools = case
    total, kinds = flop_tools.run_thop(model, x)
    assert (total, nonzero(kinds)) == (tools["thop"].total, by_kind(tools["thop"]))


@pytest.mark.parametrize("backend,key", [("pytorch", "ptflops"), ("aten", "ptflops-aten")])
def test_ptflops(case, backend, key):
    _, model, x, tools = case
    total, _ = flop_tools.run_ptflops(model, x, backend)
    assert total == tools[key].total


def test_fvcore(case):
    _, model, x, tools = case
    total, kinds = flop_tools.run_fvcore(model, x)
    assert (total, nonzero(kinds)) == (tools["fvcore"].total, by_kind(tools["fvcore"]))


def test_torchinfo(case):
    _, model, x, tools = case
    total, kinds = flop_tools.run_torchinfo(model, x)
    assert (total, nonzero(kinds)) == (tools["torchinfo"].total, by_kind(tools["torchinfo"]))


def test_flopcountermode(case):
    _, model, x, tools = case
    total, kinds = flop_tools.run_flopcountermode(model, x)
    assert (total, nonzero(kinds)) == (tools["flopcountermode"].total, by_kind(tools["flopcountermode"]))


def test_calflops_and_deepspeed(case):
    pytest.importorskip("calflops")
    _, model, x, tools = case
    flops, flop_kinds, macs, mac_kinds = flop_tools.run_calflops(model, x)
    assert (flops, nonzero(flop_kinds)) == (tools["calflops"].total, by_kind(tools["calflops"]))
    assert (macs, nonzero(mac_kinds)) == (tools["calflops-macs"].total, by_kind(tools["calflops-macs"]))
    assert flop_tools.run_deepspeed(model, x) == (flops, macs)


def test_advisor_column_is_the_advisor_count(case):
    ir, _, _, _ = case
    table = conventions_table(ir)
    assert sum(table.advisor_by_kind.values()) == ir.macs == table.advisor_macs
    assert TOOL_BY_KEY["fvcore"].rules  # every tool has rules


def test_classic_lrcn_differences_are_explained():
    ir = load_model(ROOT / "lrcn_advisor" / "examples" / "classic_lrcn.h5")
    table = {tool.tool: tool for tool in conventions_table(ir).tools}
    assert table["fvcore"].by_kind[PartKind.RECURRENT] == 0
    assert [line for line in table["fvcore"].differences if line.startswith("recurrent")]
    assert not [line for line in table["fvcore"].differences if line.startswith("conv")]


def test_tf_profiler(request):
    """The TF profiler (keras-flops' method) on the Keras files themselves, in a TensorFlow subprocess."""
    import json
    import subprocess

    pytest.importorskip("tensorflow")
    names = ["classic_lrcn", "lrcn_gru_bidirectional", "keras_bigru_proj_t8", "keras_gru_noreset_t8"]
    models = [model_path(name, request) for name in names]
    run = subprocess.run([sys.executable, str(ROOT / "tools" / "tf_profile.py"), *map(str, models)],
                         capture_output=True, text=True, check=True)
    reported = json.loads(run.stdout.strip().splitlines()[-1])
    for path in models:
        predicted = {t.tool: t.total for t in conventions_table(load_model(path)).tools}["tf-profiler"]
        assert reported[str(path)] == predicted, path.name


def test_onnx_tool(case, tmp_path):
    pytest.importorskip("onnx_tool")
    _, model, x, tools = case
    total, kinds = flop_tools.run_onnx_tool(model, x, tmp_path / "twin.onnx")
    assert (total, nonzero(kinds)) == (tools["onnx-tool"].total, by_kind(tools["onnx-tool"]))
