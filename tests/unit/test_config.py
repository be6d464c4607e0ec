"""The config file's numbers are range-checked like the command line's options (framework-free)."""
from __future__ import annotations

import subprocess
import sys

import pytest

from lrcn_advisor.config import parse_settings
from lrcn_advisor.errors import ConfigError
from lrcn_advisor.examples import FOLDER
from lrcn_advisor.rules import REGISTRY


@pytest.mark.parametrize("table,key", [
    ({"frames": 10**7}, "frames"), ({"frames": 1e30}, "frames"), ({"frames": 0}, "frames"),
    ({"max-params": 10**30}, "max-params"), ({"max-macs": 1e30}, "max-macs"), ({"train-samples": -1}, "train-samples"),
    ({"rules": {"DRP001": {"max_rate": float("inf")}}}, "rules.DRP001.max_rate"),
    ({"rules": {"DRP001": {"max_rate": float("nan")}}}, "rules.DRP001.max_rate"),
    ({"rules": {"DRP001": {"max_rate": 1e30}}}, "rules.DRP001.max_rate"),
    ({"diff": {"max-params-growth": float("inf")}}, "diff.max-params-growth"),
    ({"diff": {"max-macs-growth": float("nan")}}, "diff.max-macs-growth"),
    ({"diff": {"max-macs-growth": 1e9}}, "diff.max-macs-growth"),
])
def test_out_of_range_numbers_name_their_key(table, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        parse_settings(table, "lrcn-advise.toml", REGISTRY)


def test_in_range_numbers_are_kept():
    settings = parse_settings({"frames": 1_000_000, "max-params": 10**18, "rules": {"DRP001": {"max_rate": 0.9}},
                               "diff": {"max-macs-growth": 0.25}}, "lrcn-advise.toml", REGISTRY)
    assert (settings.frames, settings.max_params, settings.max_macs_growth) == (1_000_000, 10**18, 0.25)


def test_cli_refuses_an_out_of_range_config_in_one_line(tmp_path):
    (tmp_path / "lrcn-advise.toml").write_text("frames = 1e30\n[rules.DRP001]\nmax_rate = inf\n", encoding="utf-8")
    model = tmp_path / "model.keras"
    model.write_bytes((FOLDER / "classic_lrcn.keras").read_bytes())
    done = subprocess.run([sys.executable, "-m", "lrcn_advisor", str(model), "--format", "json", "--no-html",
                           "--probes", "off"], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "frames" in lines[0] and "Traceback" not in done.stderr, done.stderr
