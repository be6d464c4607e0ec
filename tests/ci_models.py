"""Small real Keras LRCN models for the CI-gate and diff tests, plus helpers to run the CLI.

Every model shares one layout (three TimeDistributed conv/pool stages, GAP, dropout, LSTM,
softmax head) so that versions can be diffed block by block:

    clean     no findings                       info      DRP002 (dropout 0.05, info)
    warn      DRP005 on `lstm` (warning)        warn_v2   warn + dropout 0.9 (DRP001) + LSTM(48)
    broken    MDL002 on `head` (error)          hostile   DRP001 + MDL002 on markup-laden layer names
    shift_a   DRP001 on `drop`                  shift_b   shift_a with a conv inserted before `drop`
"""
from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

HOSTILE_DROPOUT = "a\nb|`x`[y](z) 50%,k:v @octocat"
HOSTILE_HEAD = "<script>alert('&amp;')<\\script>**"

BUILD = r'''
import os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import keras
from keras import layers as L

td = L.TimeDistributed

def lrcn(name, rate=0.3, units=16, head=3, recurrent_dropout=0.0, extra_conv=False, names=None):
    names = names or {}
    conv = lambda filters, key: td(L.Conv2D(filters, 3, padding="same", activation="relu"), name=names.get(key, key))
    body = [conv(8, "conv1"), td(L.MaxPooling2D(2), name="pool1")]
    body += [conv(8, "conv_extra")] if extra_conv else []
    body += [conv(16, "conv2"), td(L.MaxPooling2D(2), name="pool2"), conv(32, "conv3"),
             td(L.MaxPooling2D(2), name="pool3"), td(L.GlobalAveragePooling2D(), name="gap"),
             L.Dropout(rate, name=names.get("drop", "drop")),
             L.LSTM(units, recurrent_dropout=recurrent_dropout, name=names.get("lstm", "lstm")),
             L.Dense(head, activation="softmax", name=names.get("head", "head"))]
    return keras.Sequential([keras.Input((8, 32, 32, 3)), *body], name=name)

MODELS = {
    "clean": lrcn("clean"),
    "info": lrcn("info", rate=0.05),
    "warn": lrcn("warn", recurrent_dropout=0.2),
    "warn_v2": lrcn("warn", recurrent_dropout=0.2, rate=0.9, units=48),
    "broken": lrcn("broken", head=1),
    "hostile": lrcn("hostile", rate=0.95, head=1, names={"drop": HOSTILE_DROPOUT, "head": HOSTILE_HEAD}),
    "shift_a": lrcn("shift", rate=0.9),
    "shift_b": lrcn("shift", rate=0.9, extra_conv=True),
}
for key, model in MODELS.items():
    model.save(os.path.join(sys.argv[1], key + ".h5"))
'''


@pytest.fixture(scope="session")
def models(tmp_path_factory) -> Path:
    """The folder of built models (built once per session, shared by the test modules)."""
    folder = tmp_path_factory.getbasetemp() / "ci-models"
    if not folder.is_dir():
        if importlib.util.find_spec("keras") is None:
            pytest.skip("keras is needed to build the test models")
        building = tmp_path_factory.mktemp("ci-models-build")
        script = f"HOSTILE_DROPOUT = {HOSTILE_DROPOUT!r}\nHOSTILE_HEAD = {HOSTILE_HEAD!r}\n{BUILD}"
        subprocess.run([sys.executable, "-c", script, str(building)], check=True, capture_output=True, timeout=600)
        building.rename(folder)
    return folder


@pytest.fixture
def repo(tmp_path, models) -> Path:
    """A work tree holding copies of the models under models/; the CLI runs from its root."""
    (tmp_path / ".git").mkdir()
    (tmp_path / "models").mkdir()
    return tmp_path


def place(repo: Path, models: Path, name: str, as_name: str | None = None) -> str:
    """Copy model `name` to repo/models/(as_name or name).h5; return its repo-relative path."""
    target = repo / "models" / f"{as_name or name}.h5"
    target.write_bytes((models / f"{name}.h5").read_bytes())
    return target.relative_to(repo).as_posix()


def cli(repo: Path, *args: str, summary: Path | None = None) -> subprocess.CompletedProcess:
    """Run `python -m lrcn_advisor ARGS` in `repo`; outside GitHub Actions unless `summary` is given."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("GITHUB_")}
    if summary is not None:
        env["GITHUB_STEP_SUMMARY"] = str(summary)
    return subprocess.run([sys.executable, "-m", "lrcn_advisor", *args], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=300)


def check(repo: Path, *args: str, summary: Path | None = None) -> subprocess.CompletedProcess:
    """`lrcn-advise check ARGS --no-html --probes off`."""
    return cli(repo, "check", *args, "--no-html", "--probes", "off", summary=summary)


def assert_inert_markdown(text: str) -> None:
    """No hostile name survives as HTML, a link, a code span, an extra table cell or a mention."""
    assert "\\<script\\>alert\\(" in text and "@\u200boctocat" in text and "@octocat" not in text
    bare = re.sub(r"\\.", "", text)  # what is left once every backslash escape is taken out
    for own in ("<!-- lrcn-advise -->", "<details><summary>Blocks</summary>", "</details>"):
        bare = bare.replace(own, "")
    assert not set("<>`&") & set(bare), bare
    assert not re.findall(r"\]\(([^)]*)\)", bare)  # no rule links unless `docs-url` is configured
    for line in bare.splitlines():
        if line.startswith("|"):
            assert line.count("|") in (4, 6), line  # diff tables have 3 columns, reports 5
