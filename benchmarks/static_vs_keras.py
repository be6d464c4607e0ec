#!/usr/bin/env python
"""Cold `lrcn-advise MODEL --format json` process vs a cold `keras.models.load_model(p).summary()`.

    python benchmarks/static_vs_keras.py [MODEL ...]   (default: the bundled classic LRCN)

Each command runs in a fresh process, REPEATS times, alternating; the median wall time is reported.
Target: the advisor at least 10x faster than loading the model with Keras.
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REPEATS = 5


def cold(command: list[str]) -> float:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, env=env)
    elapsed = time.perf_counter() - start
    if done.returncode not in (0, 1):
        raise SystemExit(f"{command[:3]} failed: {done.stderr.decode()[-500:]}")
    return elapsed


def main() -> int:
    models = [Path(p) for p in sys.argv[1:]] or [ROOT / "lrcn_advisor" / "examples" / "classic_lrcn.h5"]
    print(f"{'model':40} {'advisor s':>10} {'keras s':>10} {'ratio':>8}")
    for model in models:
        ours = [sys.executable, "-m", "lrcn_advisor", str(model), "--format", "json", "--no-html", "--probes", "off"]
        keras = [sys.executable, "-c", f"import keras; keras.models.load_model({str(model)!r}, compile=False).summary()"]
        times = {"ours": [], "keras": []}
        for _ in range(REPEATS):
            times["ours"].append(cold(ours))
            times["keras"].append(cold(keras))
        a, k = statistics.median(times["ours"]), statistics.median(times["keras"])
        print(f"{model.name:40} {a:10.3f} {k:10.3f} {k / a:7.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
