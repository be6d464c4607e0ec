"""Time and peak memory of the CLI on issue 16's worst cases (tools/make_hostile.py --worst).

Each case runs as its own `python -m lrcn_advisor` process (JSON to /dev/null, no HTML); the table
gives wall time, CPU time (user + sys, less sensitive to a shared machine's load; the budget is
checked against it), the peak resident memory (the largest of the process and the HDF5 readers it
waited for), the exit code and the first error line on stderr. The budget of issue 16: any input file up to 10 MB finishes within 10 s and 1 GB, or stops
with one clear line.

    python benchmarks/hostile_worst_cases.py                 # writes the cases to a temporary folder
    python benchmarks/hostile_worst_cases.py --keep DIR      # ... or to DIR, and keeps them
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

BUDGET_S, BUDGET_MB, BUDGET_FILE = 10.0, 1024, 10 * 2**20


def size_of(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size


def run(path: Path, args: list[str]) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "lrcn_advisor", str(path), "--format", "json", "-o", "/dev/null", "--no-html",
               *args]
    start = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
                               cwd=tempfile.gettempdir())
    _, status, usage = os.wait4(process.pid, 0)  # its usage includes the readers it waited for
    wall = time.monotonic() - start
    stderr = process.stderr.read().decode("utf-8", "replace")
    process.stderr.close()
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "rss_mb": usage.ru_maxrss / 1024,
            "rc": os.waitstatus_to_exitcode(status),
            "line": next((line for line in stderr.splitlines() if "error" in line), "")[:110]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="write the cases to this folder and keep them")
    parser.add_argument("--only", help="run only cases whose name contains this")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="hostile-"))
    # The cases are written by a child process: Linux keeps a process's peak RSS across fork and exec,
    # so a parent grown by writing a 1.9M-node graph would show its size in every case measured after.
    subprocess.run([sys.executable, str(ROOT / "tools" / "make_hostile.py"), "--out", str(folder), "--worst"],
                   check=True, stdout=subprocess.DEVNULL)
    cases = [c for c in json.loads((folder / "manifest.json").read_text())
             if c["defect"] in (3, 4, 5, 8) and (not args.only or args.only in c["name"])]
    print(f"{len(cases)} cases, budget {BUDGET_S:g} s and {BUDGET_MB} MB per file up to 10 MB "
          f"({os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f})")
    print(f"{'case':38} {'size':>10} {'wall s':>7} {'cpu s':>6} {'peak MB':>8} {'rc':>3}  verdict / first error line")
    over = 0
    for case in cases:
        path = folder / case["file"]
        size = size_of(path)
        result = run(path, case["args"])
        within = result["cpu"] <= BUDGET_S and result["rss_mb"] <= BUDGET_MB
        clear = result["rc"] == 2 and result["line"].startswith("lrcn-advise: error: ")
        ok = within and (result["rc"] in (0, 1) or clear)
        over += not ok and size <= BUDGET_FILE
        verdict = ("ok" if ok else "OVER") + ("" if size <= BUDGET_FILE else " (file over 10 MB)")
        peak = result["rss_mb"]
        print(f"{case['name'][:38]:38} {size:>10,} {result['wall']:>7.2f} {result['cpu']:>6.2f} {peak:>8.0f} "
              f"{result['rc']:>3}  {verdict} {result['line']}")
    print(f"{over} case(s) of at most 10 MB over the budget")
    if not args.keep:
        import shutil
        shutil.rmtree(folder, ignore_errors=True)
    sys.exit(1 if over else 0)


if __name__ == "__main__":
    main()
