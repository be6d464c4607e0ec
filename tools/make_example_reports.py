#!/usr/bin/env python
"""Regenerate the example HTML reports in docs/examples/ from the bundled example models.

    python tools/make_example_reports.py [MODELS_DIR] [--out docs/examples] [--probes off|auto|on]

MODELS_DIR defaults to lrcn_advisor/examples (the bundled .h5/.keras files; build them with
`python tools/make_models.py --examples lrcn_advisor/examples`). Each model is analysed by the real
CLI (`python -m lrcn_advisor`), run from the repository root so reports show repo-relative paths,
and written to OUT/<model file name>.html, plus OUT/index.html linking them.

Reports are reproducible: the only line that changes between runs is the "Generated" time, and it
is pinned too when SOURCE_DATE_EPOCH is set. Unless it is set (or --now is given), this script pins
it to the time of the last git commit that touched MODELS_DIR, so regenerating unchanged examples
leaves docs/examples/ unchanged.
"""
from __future__ import annotations

import argparse
import html
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PREFERENCE = (".h5", ".keras", ".onnx", ".json")  # one report per model name, first format found


def models_in(folder: Path) -> list[Path]:
    chosen: dict[str, Path] = {}
    for suffix in PREFERENCE:
        for path in sorted(folder.glob(f"*{suffix}")):
            if path.name == "expected.json":
                continue
            chosen.setdefault(path.stem, path)
    return [chosen[stem] for stem in sorted(chosen)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="?", type=Path, default=ROOT / "lrcn_advisor" / "examples",
                        help="folder of example models (default lrcn_advisor/examples)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "examples", help="output folder")
    parser.add_argument("--probes", choices=["off", "auto", "on"], default="off",
                        help="run probes too (default off: examples should not depend on a GPU)")
    parser.add_argument("--now", action="store_true",
                        help="stamp the real time (default: $SOURCE_DATE_EPOCH, else the models' last commit)")
    args = parser.parse_args(argv)

    folder = args.models.resolve()
    if not folder.is_dir():
        print(f"make_example_reports: {folder}: no such folder (build it with "
              f"`python tools/make_models.py --examples {folder}`)", file=sys.stderr)
        return 2
    models = models_in(folder)
    if not models:
        print(f"make_example_reports: {folder}: no .h5/.keras/.onnx/.json models", file=sys.stderr)
        return 2
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    if args.now:
        env.pop("SOURCE_DATE_EPOCH", None)
    elif not env.get("SOURCE_DATE_EPOCH"):
        stamp = _last_commit_time(folder)
        if stamp:
            env["SOURCE_DATE_EPOCH"] = stamp

    written, failed = [], 0
    for model in models:
        target = out / f"{model.name}.html"
        shown = model.relative_to(ROOT) if model.is_relative_to(ROOT) else model
        done = subprocess.run([sys.executable, "-m", "lrcn_advisor", str(shown), "--probes", args.probes,
                               "--exit-zero", "--html", str(target)],
                              cwd=ROOT, env=env, capture_output=True, text=True)
        if done.returncode != 0 or not target.is_file():
            failed += 1
            print(f"  FAILED {model.name}: {done.stderr.strip().splitlines()[-1:] or done.returncode}",
                  file=sys.stderr)
            continue
        os.chmod(target, 0o644)
        written.append(target)
        print(f"  {target.relative_to(ROOT) if target.is_relative_to(ROOT) else target}")
    _index(out, written)
    print(f"{len(written)} report(s) in {out}" + (f", {failed} failed" if failed else ""))
    return 1 if failed else 0


def _last_commit_time(folder: Path) -> str:
    """Unix time of the last commit touching `folder`, or '' (not in git, or never committed)."""
    try:
        done = subprocess.run(["git", "log", "-1", "--format=%ct", "--", "."], cwd=folder,
                              capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return ""
    stamp = done.stdout.strip()
    return stamp if done.returncode == 0 and stamp.isdigit() else ""


def _index(out: Path, reports: list[Path]) -> None:
    items = "\n".join(f'<li><a href="{html.escape(p.name, quote=True)}">{html.escape(p.stem)}</a></li>'
                      for p in reports)
    page = (f"<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>lrcn-advise example reports</title>"
            f"<style>body{{font:15px/1.6 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem}}"
            f"</style></head>\n<body><h1>lrcn-advise example reports</h1>\n"
            f"<p>HTML reports for the bundled example models; see docs/html-report.md.</p>\n"
            f"<ul>\n{items}\n</ul></body></html>\n")
    (out / "index.html").write_text(page, encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
