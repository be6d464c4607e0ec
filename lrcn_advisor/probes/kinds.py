"""The probe kinds that rules name (`Rule.probe`): what a fix is expected to change."""
from __future__ import annotations

from dataclasses import dataclass

ACCURACY_MARGIN = 0.02   # 2 points of validation accuracy
GAP_MARGIN = 0.02        # 2 points of train-minus-validation accuracy
TIME_MARGIN = 0.05       # 5% of step time


@dataclass(frozen=True)
class Check:
    """One expectation: `metric` moves in `direction` by at least / at most `margin`.

    direction: increase | decrease (the fix beats the baseline) or
    not-worse (the fix loses no more than `margin`).
    """

    metric: str      # val_accuracy | gap | step_time
    direction: str
    margin: float


@dataclass(frozen=True)
class ProbeKind:
    description: str
    metric: str
    direction: str
    checks: tuple[Check, ...]


def _kind(description: str, *checks: Check) -> ProbeKind:
    return ProbeKind(description, checks[0].metric, checks[0].direction, checks)


BETTER_ACCURACY = Check("val_accuracy", "increase", ACCURACY_MARGIN)
SAME_ACCURACY = Check("val_accuracy", "not-worse", ACCURACY_MARGIN)
FASTER = Check("step_time", "decrease", TIME_MARGIN)

PROBE_KINDS: dict[str, ProbeKind] = {
    "pooling": _kind("less aggressive pooling keeps the spatial detail the recurrent stage needs: "
                     "validation accuracy should rise", BETTER_ACCURACY),
    "dropout-rate": _kind("a moderate dropout rate lets the model learn: validation accuracy should rise",
                          BETTER_ACCURACY),
    "dropout-presence": _kind("adding dropout regularises: the generalisation gap (train minus validation "
                              "accuracy) should shrink", Check("gap", "decrease", GAP_MARGIN)),
    "lstm-depth": _kind("a shallower recurrent stack trains as well, with larger gradients in its early "
                        "layers and at lower cost: validation accuracy should not get worse and a step "
                        "should get faster", SAME_ACCURACY, FASTER),
    "conv-depth": _kind("changing the number of conv layers to what the frames need: validation accuracy "
                        "should rise", BETTER_ACCURACY),
    "cost": _kind("the fix makes a training step cheaper without losing more than "
                  f"{ACCURACY_MARGIN:.0%} validation accuracy", FASTER, SAME_ACCURACY),
    "recurrent-dropout": _kind("removing recurrent dropout (which disables the fused cuDNN kernels) makes "
                               "a training step faster", FASTER),
}
