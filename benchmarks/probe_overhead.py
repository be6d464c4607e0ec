#!/usr/bin/env python
"""Fixed cost against training in the probe runs: each run split into set-up (build/compile or
re-initialise, the first step's trace), training steps and evaluations, for the default sweep of a
model (its variants, seeds 0..2) in one warm process.

    python benchmarks/probe_overhead.py [MODEL] [--steps N] [--seeds 3]

MODEL defaults to lrcn_advisor/examples/classic_lrcn.h5; --steps defaults to what the default
CPU budget chose for it. Target: set-up under 10% of a default run's wall time.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", default=str(ROOT / "lrcn_advisor" / "examples" / "classic_lrcn.h5"))
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()

    from lrcn_advisor.config import Settings
    from lrcn_advisor.pipeline import analyse_file
    from lrcn_advisor.probes import runtime
    from lrcn_advisor.probes.data import data_spec, load_dataset
    from lrcn_advisor.probes.train import Task, loss_spec, run_task
    from lrcn_advisor.probes.variants import build_variants

    began = time.monotonic()
    result = analyse_file(Path(args.model), Settings())
    backend = runtime.choose_backend()
    runtime.import_keras(backend)
    loss = loss_spec(result.ir)
    spec = data_spec(None, tuple(result.ir.input_shapes[0][1:]), loss.classes)
    load_dataset(spec)
    start_up = time.monotonic() - began
    variants, _ = build_variants(result.ir, result.findings)
    rows = []
    for seed in range(args.seeds):
        for variant in variants:
            task = Task(variant.id, seed, variant.graph, spec, loss, args.steps, 16, backend, train_metrics=False)
            record = run_task(task)
            if record.error:
                print(f"{variant.id} seed {seed}: {record.error}")
                continue
            rows.append(record)
            print(f"{variant.id:16} seed {seed}  wall {record.wall_s:6.1f} s  set-up {record.setup_s:5.2f} s "
                  f"({record.setup_s / record.wall_s:5.1%})  steps {record.train_s:6.1f} s  "
                  f"evaluations {record.eval_s:5.1f} s  {'compiled' if record.compiled else 're-initialised'}",
                  flush=True)
    wall = sum(r.wall_s for r in rows)
    setup = sum(r.setup_s for r in rows)
    reinit = [r.setup_s for r in rows if not r.compiled]
    print(f"\n{len(rows)} runs of {args.steps} steps, {len(variants)} variants x {args.seeds} seeds, {backend}, "
          f"{os.cpu_count()} CPUs, load average {tuple(round(x, 1) for x in os.getloadavg())}")
    print(f"process start-up (analysis, Keras import, data): {start_up:.1f} s, once per sweep")
    print(f"set-up: {setup:.1f} s of {wall:.1f} s ({setup / wall:.1%}); steps {sum(r.train_s for r in rows):.1f} s; "
          f"evaluations {sum(r.eval_s for r in rows):.1f} s")
    if reinit:
        print(f"a re-initialised run's set-up: mean {sum(reinit) / len(reinit):.2f} s "
              f"({sum(reinit) / sum(r.wall_s for r in rows if not r.compiled):.1%} of those runs)")
    return 0 if setup / wall < 0.10 else 1


if __name__ == "__main__":
    sys.exit(main())
