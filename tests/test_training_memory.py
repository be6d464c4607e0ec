"""The training-memory estimate against the allocator's measured peak of a real CPU training step."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from lrcn_advisor.pipeline import analyse_path as load_model
from lrcn_advisor.training_memory import Optimizer, training_memory

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
torch = pytest.importorskip("torch")
from torch_twins import twin_input, twin_of  # noqa: E402
from train_memory import measured_peak  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore")
CASES = [(path.stem, "adam") for path in sorted((ROOT / "lrcn_advisor" / "examples").glob("*.h5"))]
CASES.append(("classic_lrcn", "sgd"))


@pytest.mark.parametrize("name,optimizer", CASES)
def test_estimate_within_25_percent_of_measured_peak(name, optimizer):
    ir = load_model(ROOT / "lrcn_advisor" / "examples" / f"{name}.h5")
    measured = measured_peak(twin_of(ir), twin_input(ir, batch=2), optimizer)
    estimate = training_memory(ir, batch=2, optimizer=Optimizer(optimizer))
    error = (estimate.total - measured) / measured
    print(f"{name} {optimizer}: estimate {estimate.total:,} B, measured {measured:,} B, error {error:+.1%}")
    assert abs(error) <= 0.25


def test_parts_add_up_and_scale_with_batch():
    ir = load_model(ROOT / "lrcn_advisor" / "examples" / "classic_lrcn.h5")
    one, four = training_memory(ir, 1), training_memory(ir, 4)
    assert one.weights == four.weights == 73_060 * 4
    assert one.optimizer_state == 2 * one.gradients
    assert training_memory(ir, 1, Optimizer.SGD).optimizer_state == 0
    assert four.activations == 4 * one.activations == 4 * sum(one.activations_by_block.values())
    assert set(one.activations_by_block) <= {block.id for block in ir.blocks}
