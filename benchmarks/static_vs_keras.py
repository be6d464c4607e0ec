#!/usr/bin/env python
"""Cold `lrcn-advise MODEL --format json --no-html` vs a cold `keras.models.load_model(p).summary()`.

    python benchmarks/static_vs_keras.py [MODEL ...] [MODEL.onnx=KERAS_TWIN ...]

Each command runs in a fresh process; the two alternate (paired runs), REPEATS times. Wall time and
CPU time (user + system of the process and every child it waited for, e.g. the HDF5 reader) are
measured per run; the table gives the medians and the ratio Keras / advisor for each. For an ONNX
file, Keras loads its Keras twin (the same architecture): `model.onnx=model.keras`.
Target (issue 12): at least 20x on wall and on CPU for .h5, .keras and an ONNX export.
Default models: the bundled classic LRCN (.h5 and .keras) and its PyTorch twin exported to ONNX
(tools/torch_twins.py, torch.onnx.export with a dynamic batch axis; Keras loads the .keras twin).
The package's bytecode is compiled first (`compileall`), as `pip install` does: with
PYTHONDONTWRITEBYTECODE=1 set, an editable checkout would otherwise recompile every module on each
run (~0.2 s), while Keras' site-packages hold their bytecode from the install.
"""
from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REPEATS = int(os.environ.get("REPEATS", "7"))


def cold(command: list[str]) -> tuple[float, float]:
    """(wall s, CPU s) of one fresh process."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, env=env)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in (0, 1):
        raise SystemExit(f"{command[:4]} failed: {done.stderr.decode()[-500:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def torch_export(model: Path) -> Path:
    """The model's PyTorch twin exported to ONNX (TorchScript exporter, dynamic batch), in a temp folder."""
    target = Path(tempfile.mkdtemp(prefix="static-vs-keras-")) / model.with_suffix(".onnx").name
    script = (f"import sys, torch; sys.path[:0] = [{str(ROOT)!r}, {str(ROOT / 'tools')!r}]\n"
              "from torch_twins import twin_input, twin_of\n"
              "from lrcn_advisor.pipeline import analyse_path\n"
              f"ir = analyse_path({str(model)!r})\n"
              f"torch.onnx.export(twin_of(ir), (twin_input(ir),), {str(target)!r}, dynamo=False, "
              "input_names=['frames'], dynamic_axes={'frames': {0: 'batch'}})\n")
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True)
    return target


def main() -> int:
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "lrcn_advisor")], check=True)
    examples = ROOT / "lrcn_advisor" / "examples"
    arguments = sys.argv[1:] or [str(examples / "classic_lrcn.h5"), str(examples / "classic_lrcn.keras"),
                                 f"{torch_export(examples / 'classic_lrcn.keras')}={examples / 'classic_lrcn.keras'}"]
    print(f"{'model':34} {'advisor wall':>12} {'keras wall':>10} {'ratio':>7} "
          f"{'advisor CPU':>11} {'keras CPU':>9} {'ratio':>7}")
    for argument in arguments:
        model, _, twin = argument.partition("=")
        ours = [sys.executable, "-m", "lrcn_advisor", model, "--format", "json", "--no-html", "--probes", "off"]
        keras = [sys.executable, "-c",
                 f"import keras; keras.models.load_model({twin or model!r}, compile=False).summary()"]
        runs: dict[str, list[tuple[float, float]]] = {"ours": [], "keras": []}
        for _ in range(REPEATS):
            runs["ours"].append(cold(ours))
            runs["keras"].append(cold(keras))
        ow, oc = (statistics.median(v) for v in zip(*runs["ours"]))
        kw, kc = (statistics.median(v) for v in zip(*runs["keras"]))
        print(f"{Path(model).name:34} {ow:11.3f}s {kw:9.3f}s {kw / ow:6.1f}x {oc:10.3f}s {kc:8.3f}s {kc / oc:6.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
