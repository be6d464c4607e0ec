#!/usr/bin/env python
"""Wall time of one probe matrix on a local Ray cluster with 1 and with 2 workers (CPUs).

    python benchmarks/ray_scaling.py [--seeds 3] [--budget 20steps]

Each cluster size runs in a fresh process with an empty cache, so nothing is reused.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHILD = r"""
import json, os, sys, time
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import ray
from lrcn_advisor.config import Settings
from lrcn_advisor.pipeline import lint_ir
from lrcn_advisor.pipeline import analyse_path
from lrcn_advisor.probes import ProbeOptions, run_probes
workers, seeds, budget, cache, model = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, configure_logging=False)
ir = analyse_path(model)
start = time.perf_counter()
report = run_probes(ir, lint_ir(ir, Settings()), ProbeOptions(mode="on", budget=budget, seeds=seeds,
                    cache_dir=__import__("pathlib").Path(cache), executor="ray"))
runs = sum(len(v.runs) for v in report.variants)
print(json.dumps({"workers": workers, "runs": runs, "wall_s": time.perf_counter() - start, "status": report.status}))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--budget", default="20steps")
    parser.add_argument("--model", default=str(ROOT / "lrcn_advisor" / "examples" / "classic_lrcn.keras"))
    args = parser.parse_args()
    results = []
    for workers in (1, 2):
        with tempfile.TemporaryDirectory() as cache:
            done = subprocess.run([sys.executable, "-c", CHILD, str(workers), str(args.seeds), args.budget, cache,
                                   args.model], capture_output=True, text=True,
                                  env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
            if done.returncode:
                raise SystemExit(done.stderr[-2000:])
            results.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(results[-1], flush=True)
    one, two = results
    print(f"{one['runs']} runs: 1 worker {one['wall_s']:.1f}s, 2 workers {two['wall_s']:.1f}s, "
          f"speed-up {one['wall_s'] / two['wall_s']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
