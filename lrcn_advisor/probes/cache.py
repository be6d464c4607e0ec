"""Probe results as JSON files under the cache folder, one per (model, variant, data, seed, budget)."""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

CACHE_VERSION = 1  # bump when a change makes old records incomparable


class ProbeCache:
    def __init__(self, root: Path):
        self.dir = Path(root) / "probes"

    @staticmethod
    def key(**parts) -> str:
        text = json.dumps({"version": CACHE_VERSION, **parts}, sort_keys=True, default=str)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def get(self, key: str) -> dict | None:
        try:
            value = json.loads((self.dir / f"{key}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return value if isinstance(value, dict) else None

    def put(self, key: str, value: dict) -> None:
        """Write atomically, so that an interrupted run never leaves a half-written record."""
        self.dir.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=self.dir, suffix=".tmp")
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(value, out)
        os.replace(temporary, self.dir / f"{key}.json")
