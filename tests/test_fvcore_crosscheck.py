"""fvcore on the PyTorch twins agrees with the advisor's conv, dense and recurrent MACs.

fvcore counts one fused multiply-add as one flop, like docs/cost-model.md,
but has no handle for recurrent layers: tools/torch_twins.py adds aten::lstm
and aten::gru handles that count T x G*H*(I + H) per layer and direction.
Each twin is checked against the Keras model of the same spec and, for the
PyTorch exports, against the ONNX file the twin was exported to.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from lrcn_advisor.pipeline import analyse_path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(ROOT / "tests"))
import make_onnx  # noqa: E402
from test_onnx import onnx_models_in  # noqa: E402
from torch_twins import LRCNTwin, example_input, flop_count, randomise  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory) -> Path:
    return onnx_models_in(tmp_path_factory.getbasetemp())


def macs_of(ir, kind: str) -> int:
    return sum(layer.macs for layer in ir.layers if layer.kind == kind)


def counted(ir) -> dict:
    return {"conv": macs_of(ir, "conv"), "linear": macs_of(ir, "dense"), "rnn": macs_of(ir, "recurrent")}


def fvcore_counts(spec: dict) -> dict:
    ops = flop_count(spec).by_operator()
    return {"conv": ops.get("conv", 0), "linear": ops.get("linear", 0), "rnn": ops.get(spec["rnn"]["cell"], 0)}


@pytest.mark.parametrize("name", list(make_onnx.VARIANTS))
def test_fvcore_matches_keras_twin(models_dir, name):
    source, _, spec = make_onnx.VARIANTS[name]
    keras_ir = analyse_path(models_dir / f"{name}.keras")
    assert fvcore_counts(spec) == counted(keras_ir)


@pytest.mark.parametrize("name", [n for n, (source, _, _) in make_onnx.VARIANTS.items() if source == "pytorch"])
def test_fvcore_matches_torch_onnx_export(models_dir, name):
    _, _, spec = make_onnx.VARIANTS[name]
    onnx_ir = analyse_path(models_dir / f"{name}.onnx")
    assert fvcore_counts(spec) == counted(onnx_ir)


def test_fvcore_alone_skips_recurrent_layers():
    """Without the handles fvcore counts the LSTM as 0, as docs/cost-model.md says."""
    from fvcore.nn import FlopCountAnalysis

    _, _, spec = make_onnx.VARIANTS["torch_lstm_t8"]
    analysis = FlopCountAnalysis(randomise(LRCNTwin(spec)), example_input(spec))
    analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    ops = analysis.by_operator()
    assert "lstm" not in ops and ops["conv"] > 0


def twin_param_delta(spec: dict) -> tuple[int, list[str]]:
    """PyTorch twin params minus Keras params, and why: parameters differ where MACs do not."""
    delta, why = 0, []
    rnn = spec["rnn"]
    per_layer = rnn["units"] * (2 if rnn.get("bidirectional") else 1) * rnn.get("layers", 1)
    if rnn["cell"] == "lstm":
        delta += 4 * per_layer
        why.append("PyTorch LSTM has two bias vectors (b_ih, b_hh): +4H per direction")
    elif not rnn.get("reset_after", True):
        delta += 3 * per_layer
        why.append("PyTorch GRU has two biases; Keras GRU(reset_after=False) has one: +3H per direction")
    norms = [c["filters"] for c in spec["convs"] if c["bn"]]
    norms += [spec["convs"][-1]["filters"]] if spec.get("bn_after_pool") else []
    if norms:
        delta -= 2 * sum(norms)
        why.append("PyTorch keeps BatchNorm's running mean and variance as buffers, not parameters: -2C")
    return delta, why


@pytest.mark.parametrize("name", list(make_onnx.VARIANTS))
def test_twin_parameters_differ_only_where_documented(models_dir, name):
    _, _, spec = make_onnx.VARIANTS[name]
    twin = sum(p.numel() for p in LRCNTwin(spec).parameters())
    keras_params = analyse_path(models_dir / f"{name}.keras").params
    delta, why = twin_param_delta(spec)
    assert twin == keras_params + delta, f"twin {twin} vs Keras {keras_params}; expected {delta:+} because {why}"
    with torch.no_grad():
        assert LRCNTwin(spec).eval()(example_input(spec)).shape == (1, spec["classes"])
