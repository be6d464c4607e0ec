"""A cheap look for a GPU, without importing numpy or any framework (the CLI's `--probes auto`)."""
from __future__ import annotations

import os
from pathlib import Path

OFF = "probes are off (--probes off)"
NO_GPU = ("no GPU is visible, so the training probes were skipped (they need minutes of GPU time); "
          "--probes on forces a short CPU run, --probes off silences this")


def gpu_visible() -> bool:
    """An NVIDIA or AMD GPU that this process may use."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", "unset").strip() in ("", "-1"):
        return False
    return (any(Path("/proc/driver/nvidia/gpus").glob("*")) or Path("/dev/nvidia0").exists()
            or Path("/dev/kfd").exists())
