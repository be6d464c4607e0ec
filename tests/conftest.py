"""Shared fixtures: real Keras files made by the repo's scripts, and the real CLI as a subprocess."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
TOOLS = ROOT / "tools"
UNIT = ROOT / "tests" / "unit"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def pytest_collection_modifyitems(config, items):
    """Two layers: `unit` (tests/unit, framework-free, seconds) and `tf` (everything else: real
    Keras/ONNX/PyTorch files made by tools/). `pytest -m "not tf"` runs the unit layer alone."""
    for item in items:
        in_unit = UNIT in Path(item.path).resolve().parents
        item.add_marker(pytest.mark.unit if in_unit else pytest.mark.tf)


def pytest_ignore_collect(collection_path, config):
    """With `-m "not tf"` every test outside tests/unit would be deselected: don't even import them
    (they import TensorFlow and torch at module level, which takes most of the run)."""
    if (config.getoption("markexpr", "") or "").strip() != "not tf":
        return None
    path = Path(collection_path).resolve()
    if path.suffix == ".py" and path.name.startswith("test_") and UNIT not in path.parents:
        return True
    return None


def run_script(script: str, *args: str, timeout: int = 900) -> None:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, str(TOOLS / script), *args], capture_output=True, text=True,
                          timeout=timeout, env=env)
    assert done.returncode == 0, f"{script} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: int = 300):
    """Run `python -m lrcn_advisor ARGS` and return the CompletedProcess (text)."""
    return subprocess.run([sys.executable, "-m", "lrcn_advisor", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env={**os.environ, **(env or {})}, timeout=timeout)


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory) -> Path:
    """The model corpus (tools/make_models.py): NAME.h5/.keras/.json + expected.json."""
    out = tmp_path_factory.mktemp("corpus")
    run_script("make_models.py", "--out", str(out))
    return out


@pytest.fixture(scope="session")
def expected(corpus_dir) -> dict:
    return json.loads((corpus_dir / "expected.json").read_text())


@pytest.fixture(scope="session")
def rule_cases_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("rule_cases")
    run_script("make_rule_cases.py", "--out", str(out))
    return out


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip("../shared is not beside the checkout")
    return SHARED


@pytest.fixture(scope="module")
def browser():
    """Debian's chromium through playwright (the HTML report's and the notebook fragment's browser checks)."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: the browser checks need Debian's chromium")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()
