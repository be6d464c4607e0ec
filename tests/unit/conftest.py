"""The unit layer stays framework-free: a session that ran only tests/unit fails if any test or
module it imported pulled in TensorFlow, Keras or PyTorch."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parent
FRAMEWORKS = ("tensorflow", "keras", "tf_keras", "torch")


def pytest_sessionfinish(session, exitstatus):
    items = getattr(session, "items", None)
    if not items or not all(UNIT in Path(item.path).resolve().parents for item in items):
        return  # a wider run: other layers import the frameworks on purpose
    loaded = [name for name in FRAMEWORKS if name in sys.modules]
    if loaded:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        message = f"tests/unit imported {', '.join(loaded)}: the unit layer must stay framework-free"
        if reporter is not None:
            reporter.write_line(f"FAILED {message}", red=True, bold=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
