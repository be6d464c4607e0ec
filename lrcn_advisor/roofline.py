"""A latency floor from the roofline model, per block and per clip; and per-frame/clip/video totals.

For each block: time >= max(FLOPs / peak FLOP/s, bytes moved / bandwidth),
where the bytes are the block's weights read once plus its activations read
and written once (float32, batch 1). A block is compute-bound when its
arithmetic intensity (FLOPs per byte) exceeds the accelerator's ridge point
(peak FLOP/s / bandwidth). The sum over blocks is a FLOOR: no kernel reaches
peak, launches and the recurrent time steps' serial dependence are ignored.
It is not a prediction of the step time.
"""
from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from importlib import resources

from lrcn_advisor.ir import ModelIR

FLOAT = 4


@dataclass(frozen=True)
class Accelerator:
    name: str
    flops: float        # peak FLOP/s
    bandwidth: float    # bytes/s
    precision: str
    source: str

    @property
    def ridge(self) -> float:
        return self.flops / self.bandwidth


def accelerators() -> list[Accelerator]:
    text = resources.files("lrcn_advisor").joinpath("data/accelerators.toml").read_text(encoding="utf-8")
    return [Accelerator(name, float(v["flops"]), float(v["bandwidth"]), v["precision"], v["source"])
            for name, v in tomllib.loads(text).items()]


@dataclass
class BlockFloor:
    block: str
    flops: int
    bytes: int
    seconds: float
    bound: str   # compute | memory


@dataclass
class Floor:
    accelerator: Accelerator
    blocks: list[BlockFloor]

    @property
    def seconds(self) -> float:
        return sum(block.seconds for block in self.blocks)


def _numel(shape, frames: int) -> int:
    return math.prod(frames if d is None else d for d in shape[1:]) if shape else 0


def block_traffic(ir: ModelIR) -> dict[str, tuple[int, int]]:
    """(FLOPs, bytes) per block: 2 x MACs; weights + each layer's input and output, float32."""
    frames = ir.frames or 1
    out: dict[str, tuple[int, int]] = {}
    for block in ir.blocks:
        flops = nbytes = 0
        for name in block.layers:
            layer = ir.layer(name)
            flops += 2 * layer.macs
            nbytes += FLOAT * (layer.params + _numel(layer.input_shape, frames) + _numel(layer.output_shape, frames))
        out[block.id] = (flops, nbytes)
    return out


def roofline(ir: ModelIR, accelerator: Accelerator) -> Floor:
    blocks = []
    for block, (flops, nbytes) in block_traffic(ir).items():
        compute, memory = flops / accelerator.flops, nbytes / accelerator.bandwidth
        blocks.append(BlockFloor(block, flops, nbytes, max(compute, memory),
                                 "compute" if compute >= memory else "memory"))
    return Floor(accelerator, blocks)


@dataclass
class Scales:
    """Cost per frame (frame CNN), per clip (whole model) and per video (clips x views), in MACs."""

    frame_macs: int | None   # None when the model has no per-frame (TimeDistributed) part
    clip_macs: int
    clips_per_video: int
    views: int

    @property
    def video_macs(self) -> int:
        return self.clip_macs * self.clips_per_video * self.views


def scales(ir: ModelIR, clips_per_video: int = 1, views: int = 1) -> Scales:
    frames = ir.frames or 1
    per_frame = sum(layer.macs for layer in ir.layers if layer.time_distributed)
    frame = per_frame // frames if per_frame else None
    return Scales(frame, ir.macs, clips_per_video, views)
