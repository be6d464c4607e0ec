"""Group layers into the guide's blocks: conv stages, backbone, recurrent stage, head."""
from __future__ import annotations

from .ir import Block, LayerInfo
from .vocabulary import Stage

LABELS = {"input": "Input", "frontend": "Pre-processing", "conv": "Conv stage",
          "backbone": "Backbone", "recurrent": "Recurrent stage", "head": "Classifier head"}


def assign_blocks(layers: list[LayerInfo]) -> list[Block]:
    """Walk layers in order; sets each layer's `block` and returns the blocks.

    A conv stage is a run of convolutions closed by its pooling, with the
    dropout, normalisation, activation and reshaping that follow it.
    """
    has_recurrent = any(layer.kind == "recurrent" for layer in layers)
    blocks: list[Block] = []
    counts: dict[str, int] = {}
    current: Block | None = None
    closed = False  # the current conv stage already has its pooling
    seen_recurrent = False

    def start(kind: str) -> Block:
        counts[kind] = counts.get(kind, 0) + 1
        n = counts[kind]
        if kind == "conv":
            block_id, label = f"conv{n}", f"{LABELS[kind]} {n}"
        else:
            block_id = kind if n == 1 else f"{kind}{n}"
            label = LABELS[kind] if n == 1 else f"{LABELS[kind]} {n}"
        block = Block(id=block_id, stage=Stage(kind), label=label, layers=[])
        blocks.append(block)
        return block

    for layer in layers:
        kind = layer.kind
        current_kind = current.stage if current else None
        if kind == "input":
            target = current if current_kind == "input" else start("input")
        elif kind == "recurrent":
            target = current if current_kind == "recurrent" else start("recurrent")
            seen_recurrent = True
        elif kind == "backbone":
            target = start("backbone")
        elif kind == "conv":
            target = current if current_kind == "conv" and not closed else start("conv")
            closed = False
        elif kind == "dense" and (seen_recurrent or not has_recurrent):
            target = current if current_kind == "head" else start("head")
        elif current is None or current_kind == "input":
            target = start("frontend")
        else:
            target = current
        if kind == "pool" and target.stage == Stage.CONV:
            closed = True
        target.layers.append(layer.name)
        layer.block = target.id
        current = target
    for block in blocks:
        members = [layer for layer in layers if layer.block == block.id]
        block.params = sum(layer.params for layer in members)
        block.trainable_params = sum(layer.trainable_params for layer in members)
        block.macs = sum(layer.macs for layer in members)
    return blocks
