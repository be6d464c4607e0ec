#!/usr/bin/env python
"""The probes' known-answer run: every case of tools/make_probe_cases.py through the real probe
suite, one fresh process per case (Keras import included in its wall time), and a table of
case, verdict, wall time and seeds.

    python benchmarks/probe_cases.py [--budget 5m] [--seeds 8] [--cases a b ...] [--out DIR]

Writes DIR/probe_cases.json and prints a Markdown table (docs/probes.md quotes it). Exit 1 when a
case is decided wrongly: a known-answer case not "supported", or a control "supported".
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


def run_case(models: Path, name: str, label: dict, budget: str, seeds: int, cache: Path) -> dict:
    """In this process: analyse the case's model, run the suite, return the row."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.path.insert(0, str(ROOT))
    from lrcn_advisor import edits
    from lrcn_advisor.config import Settings
    from lrcn_advisor.pipeline import analyse_file
    from lrcn_advisor.probes import ProbeOptions, run_probes
    from lrcn_advisor.probes.options import ExtraVariant

    started = time.monotonic()
    path = models / label["model"]
    result = analyse_file(path, Settings())
    extra = []
    for item in label.get("extra", []):
        edit = None
        if item["edit"] is not None:
            edit = edits.chain(item["id"], *[edits.set_config(change["layer"], "", **change["config"])
                                              for change in item["edit"]])
        extra.append(ExtraVariant(item["id"], item["kind"], edit, label["what"]))
    options = ProbeOptions(mode="on", budget=budget, seeds=seeds, cache_dir=cache, model_path=path,
                           only=tuple(label["only"]), extra=tuple(extra), budget_from_process_start=True)
    report = run_probes(result.ir, result.findings, options)
    verdict = next((v for v in report.verdicts if v.rule == label["target"]), None)
    decided = None
    if verdict is not None:
        decided = verdict.verdict
        if label.get("check"):
            decided = next((c["verdict"] for c in verdict.checks if c["metric"] == label["check"]), None)
    expect = label["expect"]
    if report.device.startswith("CPU") and label.get("expect_cpu"):
        expect = label["expect_cpu"]
    if expect == "supported":
        correct = decided == "supported"
    else:
        correct = decided is not None and decided != "supported"
    seeds_used = (report.sequential or {}).get("seeds_per_variant", {})
    return {"case": name, "what": label["what"], "target": label["target"], "check": label.get("check"),
            "expect": expect, "decided": decided, "verdict": verdict.verdict if verdict else None,
            "correct": correct, "status": report.status, "reason": report.reason,
            "seeds": verdict.n if verdict else 0, "seeds_per_variant": seeds_used,
            "stopped": (report.sequential or {}).get("stopped"), "steps": (report.budget or {}).get("steps"),
            "effect": verdict.effect_mean if verdict else None,
            "ci": [verdict.ci_low, verdict.ci_high] if verdict else None,
            "checks": verdict.checks if verdict else [],
            "step_time_change": verdict.step_time_change if verdict else None,
            "explanation": verdict.explanation if verdict else "", "device": report.device,
            "step_time_s": {v.id: _median([r.step_time_s for r in v.runs if r.step_time_s]) for v in report.variants},
            "backend": report.backend, "suite_wall_s": round(time.monotonic() - started, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", default="5m", help="each case's sweep budget (default 5m)")
    parser.add_argument("--seeds", type=int, default=8, help="the most paired seeds per variant (default 8)")
    parser.add_argument("--cases", nargs="*", help="case names (default: all)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--case-worker", nargs=3, metavar=("MODELS", "NAME", "CACHE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case_worker:
        models, name, cache = args.case_worker
        labels = json.loads((Path(models) / "cases.json").read_text())
        row = run_case(Path(models), name, labels[name], args.budget, args.seeds, Path(cache))
        print("ROW " + json.dumps(row))
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        models = Path(scratch) / "cases"
        subprocess.run([sys.executable, str(ROOT / "tools" / "make_probe_cases.py"), "--out", str(models),
                        *(["--only", *args.cases] if args.cases else [])], check=True, cwd=ROOT)
        labels = json.loads((models / "cases.json").read_text())
        rows = []
        for name in labels:
            began = time.monotonic()
            done = subprocess.run([sys.executable, __file__, "--budget", args.budget, "--seeds", str(args.seeds),
                                   "--case-worker", str(models), name, str(Path(scratch) / f"cache-{name}")],
                                  capture_output=True, text=True, cwd=ROOT)
            wall = round(time.monotonic() - began, 1)
            line = next((l for l in done.stdout.splitlines() if l.startswith("ROW ")), None)
            row = json.loads(line[4:]) if line else {"case": name, "correct": False, "decided": None,
                                                      "error": done.stderr[-800:]}
            row["wall_s"] = wall
            rows.append(row)
            print(_row(row), flush=True)
    load = os.getloadavg()
    summary = {"budget": args.budget, "max_seeds": args.seeds, "cpus": os.cpu_count(),
               "load_average_after": [round(x, 2) for x in load], "rows": rows,
               "correct": sum(bool(r.get("correct")) for r in rows), "cases": len(rows)}
    (args.out / "probe_cases.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print()
    print("| case | what | expected | verdict (check) | correct | wall time | paired seeds | stopped |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for row in rows:
        print(_row(row))
    print(f"\n{summary['correct']}/{summary['cases']} decided correctly; budget {args.budget} per case, "
          f"{os.cpu_count()} CPUs, load average after the run {summary['load_average_after']}")
    return 0 if summary["correct"] == summary["cases"] else 1


def _median(values: list[float]) -> float | None:
    values = sorted(values)
    return round(values[len(values) // 2], 5) if values else None


def _row(row: dict) -> str:
    check = f" ({row.get('check')}: {row.get('decided')})" if row.get("check") else ""
    return (f"| {row['case']} | {row.get('what', '')} | {row.get('expect', '')} | {row.get('verdict')}{check} | "
            f"{'yes' if row.get('correct') else 'NO'} | {row.get('wall_s', 0):.0f} s | {row.get('seeds', 0)} | "
            f"{row.get('stopped', '')} |")


if __name__ == "__main__":
    sys.exit(main())
