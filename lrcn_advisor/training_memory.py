"""Training memory at a batch size: weights, gradients, optimiser state, activations.

An estimate for float32 training of the model's PyTorch translation (the one
lrcn_advisor/conventions.py describes), from what autograd keeps for the
backward pass, walked over the translation's modules in order:
- a convolution, Linear, BatchNorm or max pooling keeps its input; max pooling
  also keeps int64 indices (8 bytes per output element);
- ReLU, sigmoid, tanh and softmax keep their output;
- dropout keeps a one-byte mask, and its output is a new tensor;
- Flatten/Reshape are views (no new memory); average pooling keeps nothing;
- a recurrent layer keeps its input and, per step and direction, its gates
  and states ((G + 2) x H values) for backpropagation through time.
Each kept tensor is counted once. Backward runs the modules in reverse: at
module i the activations kept by modules 0..i are still live, plus the
gradient arriving at its output and the one it computes for its input (none
for the first module: the clip needs no gradient). The activation peak is the
larger of "everything kept" (the end of forward) and that maximum over i;
`backward_transient` is what the peak adds to the kept activations. Optimiser state: Adam keeps two moments per
trainable weight, plain SGD none.
Checked against the allocator's peak in tests/test_training_memory.py.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from lrcn_advisor.conventions import GATES, NotTranslated, Part, PartKind, parts_of
from lrcn_advisor.ir import ModelIR

FLOAT = 4
INDEX = 8
MASK = 1


class Optimizer(str, Enum):
    SGD = "sgd"
    ADAM = "adam"

    @property
    def states_per_weight(self) -> int:
        return 2 if self is Optimizer.ADAM else 0


SAVES_INPUT = {PartKind.CONV, PartKind.NORM, PartKind.DENSE, PartKind.RECURRENT}
VIEWS = {"flatten", "reshape"}


@dataclass
class TrainingMemory:
    batch: int
    optimizer: Optimizer
    weights: int
    gradients: int
    optimizer_state: int
    input: int
    activations: int                   # kept for backward, all blocks
    backward_transient: int            # activation peak during backward minus the kept activations
    activations_by_block: dict[str, int] = field(default_factory=dict)
    untranslated: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return (self.weights + self.gradients + self.optimizer_state + self.input + self.activations
                + self.backward_transient)


def _is_view(part: Part) -> bool:
    return part.kind is PartKind.NONE and part.op in VIEWS


def training_memory(ir: ModelIR, batch: int = 1, optimizer: Optimizer = Optimizer.ADAM) -> TrainingMemory:
    frames = ir.frames or 1
    untranslated: list[str] = []
    parts: list[Part] = []
    for layer in ir.layers:
        try:
            parts.extend(parts_of(layer, frames))
        except NotTranslated as exc:
            untranslated.append(str(exc))

    by_block: dict[str, int] = {}

    def keep(layer: str, nbytes: int) -> None:
        try:
            block = ir.block_of(layer).id
        except KeyError:
            block = layer
        by_block[block] = by_block.get(block, 0) + nbytes

    producer: Part | None = None   # the part whose output tensor feeds the next part
    kept: set[int] = set()         # ids of parts whose output is already counted
    backward_peak = 0
    for part in parts:
        if _is_view(part):
            continue
        numel = batch * part.out_numel
        if part.kind in SAVES_INPUT or part.op == "maxpool":
            if producer is not None and id(producer) not in kept:
                kept.add(id(producer))
                keep(producer.layer, batch * producer.out_numel * FLOAT)
        if part.op == "maxpool":
            keep(part.layer, numel * INDEX)
        if part.kind is PartKind.ACTIVATION:
            kept.add(id(part))
            keep(part.layer, numel * FLOAT)
        if part.kind is PartKind.NONE and part.op.endswith("dropout"):
            keep(part.layer, numel * MASK)
        if part.kind is PartKind.RECURRENT:
            states = part.steps * part.directions * (GATES[part.cell] + 2) * part.units
            keep(part.layer, batch * states * FLOAT)
        grad_in = batch * part.in_numel * FLOAT if producer is not None else 0
        backward_peak = max(backward_peak, sum(by_block.values()) + numel * FLOAT + grad_in)
        producer = part

    trainable = ir.trainable_params
    clip = batch * _input_numel(ir) * FLOAT
    activations = sum(by_block.values())
    return TrainingMemory(batch, optimizer, ir.params * FLOAT, trainable * FLOAT,
                          optimizer.states_per_weight * trainable * FLOAT, clip, activations,
                          max(0, backward_peak - activations), by_block, untranslated)


def _input_numel(ir: ModelIR) -> int:
    shape = ir.input_shapes[0] if ir.input_shapes else ()
    frames = ir.frames or 1
    total = 1
    for dim in shape[1:]:
        total *= frames if dim is None else dim
    return total
