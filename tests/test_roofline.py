"""Roofline floor and per-frame/clip/video scales on the bundled classic LRCN."""
from __future__ import annotations

from pathlib import Path

from lrcn_advisor.pipeline import analyse_path as load_model
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


def test_cli_conventions_json_section(tmp_path):
    import json
    import subprocess
    import sys

    root = CLASSIC.parent.parent.parent
    run = subprocess.run([sys.executable, "-m", "lrcn_advisor", str(CLASSIC), "--format", "json", "--no-html",
                          "--conventions", "--clips-per-video", "10", "--views", "3", "--batch", "2"],
                         capture_output=True, text=True, cwd=tmp_path, env={"PYTHONPATH": str(root), "PATH": ""})
    section = json.loads(run.stdout)["conventions"]
    assert section["scales"]["per_video"] == 30 * 68_075_648
    assert {t["tool"]: t["total"] for t in section["tools"]}["fvcore"] == 67_829_888
    assert section["training_memory"]["batch"] == 2 and section["latency_floor"]["accelerators"]
