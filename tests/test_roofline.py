"""Roofline floor and per-frame/clip/video scales on the bundled classic LRCN."""
from __future__ import annotations

from pathlib import Path

from lrcn_advisor.load import load_model
from lrcn_advisor.roofline import accelerators, block_traffic, roofline, scales

CLASSIC = Path(__file__).resolve().parent.parent / "lrcn_advisor" / "examples" / "classic_lrcn.h5"


def test_data_file_names_the_required_accelerators_with_sources():
    named = {a.name: a for a in accelerators()}
    assert {"T4", "A100", "H100", "L4", "desktop-cpu"} <= set(named)
    assert all(a.flops > 0 and a.bandwidth > 0 and a.source for a in named.values())


def test_floor_is_the_max_of_compute_and_memory_time_per_block():
    ir = load_model(CLASSIC)
    traffic = block_traffic(ir)
    assert sum(flops for flops, _ in traffic.values()) == 2 * ir.macs
    for accelerator in accelerators():
        floor = roofline(ir, accelerator)
        for block in floor.blocks:
            flops, nbytes = traffic[block.block]
            compute, memory = flops / accelerator.flops, nbytes / accelerator.bandwidth
            assert block.seconds == max(compute, memory)
            assert block.bound == ("compute" if compute >= memory else "memory")
        assert floor.seconds >= 2 * ir.macs / accelerator.flops


def test_scales_per_frame_clip_video():
    ir = load_model(CLASSIC)
    s = scales(ir, clips_per_video=10, views=3)
    assert s.frame_macs * 20 == ir.macs - 245_760 - 128   # the frame CNN, one of 20 frames
    assert s.clip_macs == 68_075_648
    assert s.video_macs == 30 * 68_075_648
