"""--max-seconds: a run stopped in the middle of writing a report leaves no half-written file."""
from __future__ import annotations

import subprocess
import sys
import textwrap


def test_a_run_stopped_mid_write_leaves_no_temporary_file(tmp_path):
    script = textwrap.dedent(f"""
        import os, time
        from pathlib import Path
        from lrcn_advisor import output
        from lrcn_advisor.watchdog import Watchdog

        def slow_chmod(path, mode):  # the write is done, the rename not yet: the budget runs out here
            time.sleep(30)
        os.chmod = slow_chmod
        with Watchdog(0.5).watch("model.h5"):
            output.write_atomic(Path({str(tmp_path / "report.json")!r}), "x" * 100_000)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "--max-seconds 0.5" in done.stderr, done.stderr
    assert list(tmp_path.iterdir()) == []  # neither the report nor its temporary file
