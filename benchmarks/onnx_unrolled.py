"""Time the ONNX loader on unrolled exports (tf2onnx-style, one node copy per frame) against onnx-tool.

For each clip length the script writes the unrolled LRCN of
tools/make_onnx.py (UNROLLED_SPEC: 6 conv stages on 64x64 frames, LSTM 64;
~87 nodes per frame), then times in one process `lrcn_advisor.load.load_model`
and onnx-tool's `model_profile` (shape inference + per-node MACs) on the same
file, best of --repeat runs each. The advisor's time should grow linearly
with the node count.

    python benchmarks/onnx_unrolled.py                 # 75, 150 and 300 frames
    python benchmarks/onnx_unrolled.py --onnx FILE     # time an export you have
"""
from __future__ import annotations

import argparse
import contextlib
import io
import sys
import tempfile
import time
from pathlib import Path

import onnx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

from lrcn_advisor.pipeline import analyse_path  # noqa: E402
from make_onnx import unrolled_spec, write_unrolled  # noqa: E402


def best_time(fn, repeat: int):
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def onnx_tool_profile(path: Path, work: Path) -> int:
    """onnx-tool's profile of the file (batch 1); returns its total MACs."""
    import onnx_tool

    model = onnx.load(str(path), load_external_data=False)
    shapes = {}
    for info in model.graph.input:
        dims = [d.dim_value or 1 for d in info.type.tensor_type.shape.dim]
        shapes[info.name] = onnx_tool.create_ndarray_f32(tuple(dims))
    table = work / f"{path.stem}_onnx_tool.csv"
    with contextlib.redirect_stdout(io.StringIO()):
        onnx_tool.model_profile(str(path), dynamic_shapes=shapes, save_profile=str(table))
    total = next(line for line in table.read_text().splitlines() if line.startswith("Total,"))
    return int(total.split(",")[2])


def measure(path: Path, work: Path, repeat: int) -> dict:
    nodes = len(onnx.load(str(path), load_external_data=False).graph.node)
    ours, ir = best_time(lambda: analyse_path(path), repeat)
    theirs, their_macs = best_time(lambda: onnx_tool_profile(path, work), repeat)
    return {"file": path.name, "nodes": nodes, "advisor_s": ours, "onnx_tool_s": theirs,
            "advisor_macs": ir.macs, "onnx_tool_macs": their_macs, "layers": len(ir.layers)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, nargs="+", default=[75, 150, 300])
    parser.add_argument("--onnx", type=Path, help="time this file instead of writing unrolled exports")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if args.onnx:
            paths = [args.onnx]
        else:
            paths = []
            for frames in args.frames:
                path = work / f"unrolled_t{frames}.onnx"
                write_unrolled(unrolled_spec(frames), path)
                paths.append(path)
        analyse_path(paths[0])  # warm-up: imports and first-call costs
        rows = [measure(path, work, args.repeat) for path in paths]
    print(f"{'file':24s} {'nodes':>8s} {'advisor s':>10s} {'onnx-tool s':>12s} {'ratio':>7s} "
          f"{'us/node':>8s} {'advisor MACs':>15s} {'onnx-tool MACs':>15s}")
    for row in rows:
        print(f"{row['file']:24s} {row['nodes']:8,d} {row['advisor_s']:10.3f} {row['onnx_tool_s']:12.3f} "
              f"{row['onnx_tool_s'] / row['advisor_s']:6.1f}x {1e6 * row['advisor_s'] / row['nodes']:8.1f} "
              f"{row['advisor_macs']:15,d} {row['onnx_tool_macs']:15,d}")
    print("ratio = onnx-tool time / advisor time; onnx-tool also counts activations, pooling and "
          "elementwise ops as MACs, the advisor follows docs/cost-model.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
