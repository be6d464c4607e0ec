"""The pipeline's shape: stages return new values, frames keep their source, fixes recount right.

Framework-free: the bundled example files are read as data; nothing imports TensorFlow.
"""
from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

from lrcn_advisor.config import Settings
from lrcn_advisor.examples import FOLDER
from lrcn_advisor.load import load_model
from lrcn_advisor.pipeline import analyse_model, check_model, recounter
from lrcn_advisor.rules.engine import run_rules
from lrcn_advisor.vocabulary import FrameSource

CLASSIC = FOLDER / "classic_lrcn.keras"


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lrcn_advisor", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=120)


def test_no_stage_writes_into_its_input():
    model = load_model(CLASSIC)
    graph_before = copy.deepcopy(model.graph)
    ir = analyse_model(model)
    assert model.graph == graph_before  # the analysis left the loader's architecture alone
    warnings_before, layers_before = list(ir.warnings), copy.deepcopy(ir.layers)
    report = run_rules(ir, Settings(), recounter(ir))
    assert report.findings and ir.warnings == warnings_before and ir.layers == layers_before
    assert model.graph == graph_before  # nor did the rules' recounts of their fixes
    again = analyse_model(model)
    assert (again.params, again.macs) == (ir.params, ir.macs)


def test_frames_option_leaves_a_fix_that_changes_frames_its_own_count():
    """--frames 100: LST002's fix samples 32 frames, and its cost is recounted at 32, not put back to 100."""
    result = check_model(load_model(CLASSIC), Settings(frames=100, frames_source=FrameSource.OPTION))
    assert result.ir.frames == 100 and result.ir.frames_source is FrameSource.OPTION
    finding = next(f for f in result.findings if f.rule == "LST002")
    assert "32 frames" in finding.fix
    over_time = sum(layer.macs for layer in result.ir.layers if layer.frames)  # TimeDistributed + LSTM
    once = result.ir.macs - over_time                                          # the Dense head
    assert finding.cost.macs_before == result.ir.macs == 340_377_728
    assert finding.cost.macs_after == over_time // 100 * 32 + once == 108_920_960


def test_frames_from_the_config_are_labelled_as_such(tmp_path):
    (tmp_path / "classic.keras").write_bytes(CLASSIC.read_bytes())
    (tmp_path / "lrcn-advise.toml").write_text("frames = 8\n")
    done = _cli("classic.keras", "--format", "json", "--no-html", "--probes", "off", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    model = json.loads(done.stdout)["model"]
    assert model["frames"] == 8 and model["frames_source"] == "config"
    table = _cli("classic.keras", "--no-html", "--probes", "off", cwd=tmp_path)
    assert "T=8 (from the config)" in table.stdout
    option = _cli("classic.keras", "--frames", "12", "--format", "json", "--no-html", "--probes", "off",
                  cwd=tmp_path)
    assert json.loads(option.stdout)["model"]["frames_source"] == "option"  # the option beats the config


def test_a_run_cost_model_counts_the_model_and_every_fix_recount():
    """advise(cost_model=...) uses the custom table for the model and for each fix's recount."""
    from lrcn_advisor.api import advise
    from lrcn_advisor.cost import DEFAULT_COST_MODEL, LayerCost, dense_cost

    def dense_plus_million(cfg, inputs, outputs, ctx) -> LayerCost:
        base = dense_cost(cfg, inputs, outputs, ctx)
        return LayerCost(base.params, base.non_trainable, base.macs + 1_000_000)

    custom = DEFAULT_COST_MODEL.with_handler("Dense", dense_plus_million)
    path = FOLDER / "classic_lrcn.keras"
    plain, counted = advise(path, frames=100), advise(path, frames=100, cost_model=custom)
    dense = sum(1 for layer in plain.layers if layer.class_name == "Dense")
    assert dense >= 1 and counted.totals.macs == plain.totals.macs + dense * 1_000_000
    fixes = {f.rule: f.cost for f in plain.findings if f.cost is not None}
    changed = {f.rule: f.cost for f in counted.findings if f.cost is not None}
    assert fixes and fixes.keys() == changed.keys()
    for rule, cost in fixes.items():  # the fix keeps its Dense layers: the same million each, before and after
        assert changed[rule].macs_before == cost.macs_before + dense * 1_000_000, rule
        assert changed[rule].macs_after == cost.macs_after + dense * 1_000_000, rule
