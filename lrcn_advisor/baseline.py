"""Baselines: record today's findings so that a gate reports only new ones."""
from __future__ import annotations

import json
from pathlib import Path

from ._version import __version__
from .errors import ConfigError
from .output import write_atomic
from .result import Result

BASELINE_VERSION = 1


def write_baseline(path: Path, results: list[Result], protect: list[Path]) -> int:
    entries = []
    for result in results:
        for finding in result.findings:
            if finding.suppressed:
                continue
            entries.append({"fingerprint": finding.fingerprint(result.display_path), "rule": finding.rule,
                            "model": result.display_path, "layers": finding.layers})
    entries.sort(key=lambda e: (e["model"], e["rule"], e["layers"]))
    document = {"version": BASELINE_VERSION, "tool": f"lrcn-advise {__version__}", "findings": entries}
    write_atomic(path, json.dumps(document, indent=2, ensure_ascii=False) + "\n", protect=protect)
    return len(entries)


def load_baseline(path: Path) -> set[str]:
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: baseline file not found (create it with --write-baseline)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ConfigError(f"{path}: not a readable baseline ({error})") from None
    if not isinstance(document, dict) or document.get("version") != BASELINE_VERSION \
            or not isinstance(document.get("findings"), list):
        raise ConfigError(f"{path}: not an lrcn-advise baseline (version {BASELINE_VERSION})")
    prints = set()
    for entry in document["findings"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("fingerprint"), str):
            raise ConfigError(f"{path}: baseline entry without a fingerprint")
        prints.add(entry["fingerprint"])
    return prints


def apply_baseline(results: list[Result], fingerprints: set[str]) -> None:
    for result in results:
        for finding in result.findings:
            finding.in_baseline = finding.fingerprint(result.display_path) in fingerprints
