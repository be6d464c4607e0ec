"""End to end: `lrcn-advise diff OLD NEW` on two versions of a real Keras model."""
from __future__ import annotations

import json

import pytest

from ci_models import assert_inert_markdown, cli, models, place, repo  # noqa: F401


def diff(repo, old, new, *args):
    return cli(repo, "diff", f"models/{old}.h5", f"models/{new}.h5", *args)


@pytest.fixture
def versions(repo, models):
    for name in ("warn", "warn_v2", "clean", "hostile"):
        place(repo, models, name)
    return repo


def test_json_report_blocks_totals_and_findings(versions):
    result = diff(versions, "warn", "warn_v2", "--format", "json")
    assert result.returncode == 0, result.stderr  # a new warning does not fail at --fail-on error
    report = json.loads(result.stdout)
    assert (report["old"]["path"], report["new"]["path"]) == ("models/warn.h5", "models/warn_v2.h5")
    blocks = {block["id"]: block for block in report["blocks"]}
    assert list(blocks) == ["conv1", "conv2", "conv3", "recurrent", "head"]
    assert blocks["conv1"]["status"] == "unchanged" and blocks["conv1"]["params"]["delta"] == 0
    lstm = blocks["recurrent"]
    assert lstm["status"] == "changed"
    assert (lstm["params"]["before"], lstm["params"]["after"]) == (4 * 16 * (32 + 16 + 1), 4 * 48 * (32 + 48 + 1))
    assert lstm["macs"]["after"] == 8 * 4 * 48 * (32 + 48)
    assert report["totals"]["params"] == {"before": 9219, "after": 21731, "delta": 12512, "ratio": 1.357197}
    # DRP005 is in both versions (matched by rule + layers although the paths differ): neither new nor fixed
    assert [(f["rule"], f["layers"]) for f in report["new_findings"]] == [("DRP001", ["drop"])]
    assert report["fixed_findings"] == [] and report["failures"] == []


@pytest.mark.parametrize("args, code, failure", [
    (["--max-params-growth", "0.1"], 1, "params grew +135.7% (9,219 -> 21,731), above the limit of 10.0%"),
    (["--max-params-growth", "2"], 0, None),
    (["--max-macs-growth", "0.01"], 1, "macs grew +1.5%"),
    (["--max-macs-growth", "0.05"], 0, None),
    (["--fail-on", "warning"], 1, "new warning DRP001 dropout-too-high at drop"),
    (["--fail-on", "never", "--max-macs-growth", "0.5"], 0, None),
])
def test_growth_limits_and_new_findings_fail(versions, args, code, failure):
    result = diff(versions, "warn", "warn_v2", "--format", "json", *args)
    assert result.returncode == code, result.stderr
    failures = json.loads(result.stdout)["failures"]
    assert (failures[0].startswith(failure) and len(failures) == 1) if failure else failures == []


def test_limits_from_config(versions):
    (versions / "lrcn-advise.toml").write_text("fail-on = 'never'\n[diff]\nmax-params-growth = 0.25\n")
    result = diff(versions, "warn", "warn_v2")
    assert result.returncode == 1
    assert "FAIL: params grew +135.7%" in result.stdout
    assert diff(versions, "warn", "warn_v2", "--max-params-growth", "5").returncode == 0  # the flag wins


def test_shrinking_version_reports_fixed_findings(versions):
    result = diff(versions, "warn_v2", "warn", "--format", "json", "--max-params-growth", "0", "--fail-on", "info")
    assert result.returncode == 0
    report = json.loads(result.stdout)
    assert [f["rule"] for f in report["fixed_findings"]] == ["DRP001"] and report["new_findings"] == []
    assert report["totals"]["params"]["delta"] == -12512


def test_table_output(versions):
    result = diff(versions, "warn", "warn_v2", "--fail-on", "warning")
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0] == "lrcn-advise diff: models/warn.h5 -> models/warn_v2.h5"
    assert any(line.startswith("recurrent (Recurrent stage)") and "3,136 → 15,552 (+396%)" in line for line in lines)
    assert any(line.startswith("total") and "9,219 → 21,731 (+136%)" in line for line in lines)
    assert "New findings (1):" in lines and "Fixed findings (0):" in lines
    assert lines[-1].startswith("FAIL: new warning DRP001")


def test_markdown_output_escapes_layer_names(versions):
    result = diff(versions, "clean", "hostile", "--format", "markdown", "--fail-on", "warning")
    assert result.returncode == 1
    text = result.stdout
    assert text.startswith("## lrcn-advise diff: ❌ **failed**")
    assert "| block | params | MACs |" in text and "**New findings (2)**" in text
    assert_inert_markdown(text)


@pytest.mark.parametrize("args", [["--max-params-growth", "-1"], ["--fail-on", "sometimes"], ["--format", "xml"]])
def test_bad_options_exit_2(versions, args):
    assert diff(versions, "warn", "warn_v2", *args).returncode == 2


def test_missing_model_exits_2(versions):
    result = diff(versions, "warn", "absent")
    assert result.returncode == 2 and "no such file" in result.stderr and "Traceback" not in result.stderr
