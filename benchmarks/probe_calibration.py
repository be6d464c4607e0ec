#!/usr/bin/env python
"""A/A calibration of the probes: the healthy known-answer model (tools/make_probe_cases.py)
against a copy of itself, trained for --pairs paired seeds on generated data with the probes' own
training code; the sequential procedure (looks after 3..--seeds seeds) replayed --replications
times on random orderings of those pairs. Prints the false-"supported" rate per check.

    python benchmarks/probe_calibration.py [--pairs 24] [--seeds 8] [--steps 30] [--replications 5000]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=24)
    parser.add_argument("--seeds", type=int, default=8, help="the plan's most paired seeds (default 8)")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--replications", type=int, default=5000)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()

    from lrcn_advisor.config import Settings
    from lrcn_advisor.pipeline import analyse_file
    from lrcn_advisor.probes import runtime
    from lrcn_advisor.probes.calibration import false_support, train_pairs
    from lrcn_advisor.probes.data import data_spec
    from lrcn_advisor.probes.kinds import BETTER_ACCURACY, FASTER, SAME_ACCURACY, Check
    from lrcn_advisor.probes.train import Task, loss_spec
    from lrcn_advisor.probes.verdict import Plan

    with tempfile.TemporaryDirectory() as scratch:
        subprocess.run([sys.executable, str(ROOT / "tools" / "make_probe_cases.py"), "--out", scratch, "--only",
                        "control_aa_accuracy"], check=True)
        ir = analyse_file(Path(scratch) / "control_aa_accuracy.keras", Settings()).ir
    backend = runtime.choose_backend()
    runtime.import_keras(backend)
    loss = loss_spec(ir)
    spec = data_spec(None, tuple(ir.input_shapes[0][1:]), loss.classes)
    template = Task("baseline", 0, ir.graph, spec, loss, args.steps, 16, backend)
    started = time.monotonic()
    baseline, copy = train_pairs(template, args.pairs)
    trained = time.monotonic() - started
    plan = Plan(args.seeds)
    rows = []
    for check in (BETTER_ACCURACY, FASTER, Check("gap", "decrease", 0.02)):
        rate = false_support(baseline, copy, check, plan, args.replications)
        rows.append({"metric": check.metric, "direction": check.direction, "margin": check.margin,
                     "false_supported": round(rate.false_support, 4), "decided": round(rate.decided / rate.replications, 4),
                     "mean_seeds": round(rate.mean_seeds, 2)})
    not_worse = false_support(baseline, copy, SAME_ACCURACY, plan, args.replications)
    summary = {"model": "control_aa_accuracy (tools/make_probe_cases.py)", "backend": backend,
               "pairs": args.pairs, "steps": args.steps, "plan_max_seeds": args.seeds,
               "replications": args.replications, "training_wall_s": round(trained, 1), "cpus": os.cpu_count(),
               "load_average": [round(x, 2) for x in os.getloadavg()], "rows": rows,
               "not_worse_supported": round(not_worse.false_support, 4)}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "probe_calibration.json").write_text(json.dumps(summary, indent=2) + "\n")
    print("| check | false 'supported' | decided (not supported) | mean paired seeds |")
    print("| --- | --- | --- | --- |")
    for row in rows:
        print(f"| {row['metric']} {row['direction']} (margin {row['margin']}) | {row['false_supported']:.1%} | "
              f"{row['decided']:.1%} | {row['mean_seeds']} |")
    print(f"\n{args.pairs} A/A pairs of {args.steps} steps trained in {trained:.0f} s; {args.replications} "
          f"replications of the sequential design (looks 3..{args.seeds}); a copy is 'not worse' "
          f"(correctly supported) in {not_worse.false_support:.1%} of them")
    return 0 if all(row["false_supported"] <= 0.05 for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
