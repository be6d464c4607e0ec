"""The wheel installs one top-level package, and works beside PyPI's `rules` and `reports` packages."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import ROOT


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                           "-w", str(out), str(ROOT)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    (found,) = out.glob("lrcn_advisor-*.whl")
    return found


def test_wheel_top_level_is_only_lrcn_advisor(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names}
    assert {top for top in tops if not top.endswith((".dist-info", ".data"))} == {"lrcn_advisor"}
    top_level = [n for n in names if n.endswith("top_level.txt")]
    if top_level:
        assert zipfile.ZipFile(wheel).read(top_level[0]).decode().split() == ["lrcn_advisor"]
    assert "lrcn_advisor/py.typed" in names
    assert any(n.startswith("lrcn_advisor/reports/templates/") for n in names)


def test_installs_beside_the_rules_and_reports_packages_from_the_index(wheel, tmp_path):
    """PyPI's `rules` (django-rules) and `reports` own those top-level names; the tool must not care."""
    target = tmp_path / "site"
    done = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target),
                           str(wheel), "rules", "reports"], capture_output=True, text=True, timeout=600)
    if done.returncode != 0 and ("Could not find" in done.stderr or "connection" in done.stderr.lower()):
        pytest.skip(f"the package index is not reachable: {done.stderr.strip().splitlines()[-1]}")
    assert done.returncode == 0, done.stderr[-2000:]
    assert (target / "rules" / "__init__.py").is_file() and (target / "reports" / "__init__.py").is_file()
    env = {**os.environ, "PYTHONPATH": str(target)}
    work = tmp_path / "elsewhere"  # not the checkout, whose folders would shadow the installed ones
    work.mkdir()
    where = subprocess.run([sys.executable, "-c", "import rules, lrcn_advisor; print(rules.__file__); "
                            "print(lrcn_advisor.__file__)"], capture_output=True, text=True, cwd=work, env=env)
    assert where.returncode == 0, where.stderr
    rules_file, package_file = where.stdout.split()
    assert rules_file.startswith(str(target)) and package_file.startswith(str(target))
    listed = subprocess.run([sys.executable, "-m", "lrcn_advisor", "rules"], capture_output=True, text=True,
                            cwd=work, env=env, timeout=120)
    assert listed.returncode == 0, listed.stderr
    assert "POL001" in listed.stdout and "feature-map-collapse" in listed.stdout
    example = target / "lrcn_advisor" / "examples" / "classic_lrcn.h5"  # package data, installed
    analysed = subprocess.run([sys.executable, "-m", "lrcn_advisor", str(example),
                               "--format", "json", "--no-html", "--probes", "off"],
                              capture_output=True, text=True, cwd=work, env=env, timeout=120)
    assert analysed.returncode == 0, analysed.stderr
    document = json.loads(analysed.stdout)
    assert document["totals"]["params"] == 73_060 and document["totals"]["macs"] == 68_075_648
