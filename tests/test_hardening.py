"""Hostile and broken model files: nothing run, read or written where it must not be.

The fuzz tests run with a fixed seed and a bounded number of cases. A longer run:
    LRCN_FUZZ_EXAMPLES=3000 .venv/bin/python -m pytest tests/test_hardening.py -k fuzz
The second round (issue 16: injection, symlinks, work caps, field-naming errors) is in
tests/test_hostile.py and tests/test_hostile_fuzz.py, on the files of tools/make_hostile.py.
"""
from __future__ import annotations

import copy
import hashlib
import json
import os
import random
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import run_cli
from lrcn_advisor.config import Settings
from lrcn_advisor.errors import AdvisorError
from lrcn_advisor.pipeline import analyse_file

EXAMPLES = int(os.environ.get("LRCN_FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))

CANARY_MODEL = r'''
import os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import keras
from keras import layers as L
out = sys.argv[1]

# a lambda is saved as bytecode, which Keras runs when it is told to trust the file
poke = lambda x: ([open(p, "w").write("executed") for p in [__import__("os").environ.get("LRCN_CANARY")] if p], x)[1]
inputs = keras.Input((8, 32, 32, 3))
x = L.Lambda(poke, name="poke")(inputs)
x = L.TimeDistributed(L.Conv2D(8, 3, padding="same"), name="conv")(x)
x = L.TimeDistributed(L.GlobalAveragePooling2D(), name="gap")(x)
x = L.LSTM(8, name="lstm")(x)
model = keras.Model(inputs, L.Dense(2, activation="softmax", name="out")(x))
model.save(out + "/canary.keras")
model.save(out + "/canary.h5")
'''


def _fingerprint(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _analyse_or_refuse(path: Path):
    """A valid analysis or an AdvisorError; anything else (or a rule crash) fails the test."""
    try:
        result = analyse_file(path, Settings())
    except AdvisorError as error:
        assert "\n" not in str(error)
        return None
    assert not [w for w in result.ir.warnings if "could not run" in w], result.ir.warnings
    return result


@pytest.fixture(scope="module")
def canary_models(tmp_path_factory):
    out = tmp_path_factory.mktemp("canary")
    done = subprocess.run([sys.executable, "-c", CANARY_MODEL, str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    return out


def test_lambda_canary_really_runs_under_keras_unsafe_load(canary_models, tmp_path):
    """Positive control: Keras itself, told to trust the file, does execute the Lambda."""
    canary = tmp_path / "canary.txt"
    code = ("import os, sys, numpy as np; os.environ['TF_CPP_MIN_LOG_LEVEL']='3'; import keras;"
            "m = keras.models.load_model(sys.argv[1], safe_mode=False); m(np.zeros((1, 8, 32, 32, 3)))")
    done = subprocess.run([sys.executable, "-c", code, str(canary_models / "canary.keras")],
                          env={**os.environ, "LRCN_CANARY": str(canary)}, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert canary.exists()


@pytest.mark.parametrize("name", ["canary.keras", "canary.h5"])
def test_lambda_is_analysed_reported_and_never_run(canary_models, tmp_path, name):
    canary = tmp_path / "canary.txt"
    model = canary_models / name
    before = _fingerprint(model)
    done = run_cli(model, "--format", "json", "--html", tmp_path / "r.html", env={"LRCN_CANARY": str(canary)})
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    poke = next(layer for layer in data["layers"] if layer["name"] == "poke")
    assert poke["status"] == "opaque"
    assert "MDL004" in {f["rule"] for f in data["findings"]}
    assert not canary.exists()
    assert _fingerprint(model) == before


def test_custom_object_module_is_never_imported(tmp_path):
    canary = tmp_path / "imported.txt"
    (tmp_path / "evil_layers.py").write_text(f"open({str(canary)!r}, 'w').write('imported')\n")
    config = {"class_name": "Sequential", "config": {"name": "m", "layers": [
        {"class_name": "InputLayer", "config": {"batch_shape": [None, 4, 8], "name": "in"}},
        {"module": "evil_layers", "class_name": "Evil", "registered_name": "evil_layers>Evil",
         "config": {"name": "evil"}},
        {"class_name": "LSTM", "config": {"name": "lstm", "units": 4}}]}}
    model = tmp_path / "model.json"
    model.write_text(json.dumps(config))
    done = run_cli(model, "--format", "json", "--no-html", cwd=tmp_path, env={"PYTHONPATH": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert next(layer for layer in data["layers"] if layer["name"] == "evil")["status"] == "unknown"
    assert any("evil" in w and "unknown" in w for w in data["warnings"])
    assert not canary.exists()


def test_outputs_never_overwrite_the_input(corpus_dir, tmp_path):
    model = tmp_path / "classic.h5"
    model.write_bytes((corpus_dir / "classic_lrcn.h5").read_bytes())
    before = _fingerprint(model)
    for option in (["-o", model], ["--sarif", model], ["--html", model], ["--json", model]):
        done = run_cli(model, "--format", "json", *option)
        assert done.returncode == 2 and "refusing to overwrite" in done.stderr, option
        assert _fingerprint(model) == before


def test_existing_output_is_replaced_atomically(corpus_dir, tmp_path):
    out = tmp_path / "report.json"
    out.write_text("old")
    done = run_cli(corpus_dir / "classic_lrcn.keras", "--format", "json", "-o", out, "--no-html")
    assert done.returncode == 0
    assert json.loads(out.read_text())["totals"]["params"] == 73_060
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]  # no temporary left behind


def test_zip_bomb_config_is_refused_quickly(tmp_path):
    bomb = tmp_path / "bomb.keras"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("config.json", "{" + " " * (80 * 2**20) + "}")
    assert bomb.stat().st_size < 1_000_000
    done = run_cli(bomb, "--no-html")
    assert done.returncode == 2 and "bytes" in done.stderr and "Traceback" not in done.stderr


def test_deeply_nested_json_is_refused(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    done = run_cli(path, "--no-html")
    assert done.returncode == 2 and "Traceback" not in done.stderr


def test_deeply_nested_models_are_refused(tmp_path):
    layer = {"class_name": "Dense", "config": {"name": "d", "units": 2}}
    for depth in range(60):
        layer = {"class_name": "TimeDistributed", "config": {"name": f"td{depth}", "layer": layer}}
    config = {"class_name": "Sequential", "config": {"name": "m", "layers": [
        {"class_name": "InputLayer", "config": {"batch_shape": [None, 4, 8], "name": "in"}}, layer]}}
    path = tmp_path / "nested.json"
    path.write_text(json.dumps(config))
    done = run_cli(path, "--no-html")
    assert done.returncode == 2 and "nest" in done.stderr


def test_cycle_in_functional_graph(tmp_path):
    def dense(name, source):
        return {"class_name": "Dense", "name": name, "config": {"name": name, "units": 4},
                "inbound_nodes": [[[source, 0, 0, {}]]]}
    config = {"class_name": "Functional", "config": {"name": "m", "layers": [
        {"class_name": "InputLayer", "name": "in", "config": {"batch_shape": [None, 4], "name": "in"},
         "inbound_nodes": []}, dense("a", "b"), dense("b", "a")],
        "input_layers": [["in", 0, 0]], "output_layers": [["b", 0, 0]]}}
    path = tmp_path / "cycle.json"
    path.write_text(json.dumps(config))
    done = run_cli(path, "--no-html")
    assert done.returncode == 2 and "cycle" in done.stderr


def test_hostile_names_cannot_drive_the_terminal(tmp_path):
    name = "evil\x1b[2J\x1b]0;pwned\x07\u202e"
    config = {"class_name": "Sequential", "config": {"name": "m", "layers": [
        {"class_name": "InputLayer", "config": {"batch_shape": [None, 4, 8], "name": "in"}},
        {"class_name": "LSTM", "config": {"name": name, "units": 4}}]}}
    path = tmp_path / "m.json"
    path.write_text(json.dumps(config))
    for fmt in ("table", "github", "markdown"):
        done = run_cli(path, "--format", fmt, "--no-html")
        assert done.returncode in (0, 1), done.stderr
        assert "\x1b" not in done.stdout and "\x07" not in done.stdout and "\u202e" not in done.stdout, fmt


# ---- fuzzing --------------------------------------------------------------

def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, prefix + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, prefix + (index,))


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.floats(allow_nan=True) |
    st.text(alphabet=st.characters(codec="utf-8"), max_size=12) |
    st.sampled_from(["LSTM", "Conv2D", "TimeDistributed", "same", "valid", "channels_first", "relu"]),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=8)
MUTATION = st.tuples(st.sampled_from(["replace", "delete", "duplicate", "huge", "negative", "zero"]),
                     st.integers(0, 10**6), JSON_VALUES)


def _mutate(config, ops):
    config = copy.deepcopy(config)
    for op, where, value in ops:
        paths = [p for p in _paths(config) if p]
        if not paths:
            break
        path = paths[where % len(paths)]
        parent = config
        for key in path[:-1]:
            parent = parent[key]
        key = path[-1]
        if op == "replace":
            parent[key] = value
        elif op == "delete":
            del parent[key]
        elif op == "duplicate" and isinstance(parent, list):
            parent.insert(key, copy.deepcopy(parent[key]))
        elif op == "huge":
            parent[key] = 2**31 - 1
        elif op == "negative":
            parent[key] = -7
        elif op == "zero":
            parent[key] = 0
    return config


@pytest.fixture(scope="module")
def seed_configs(corpus_dir):
    names = ("classic_lrcn", "two_stream", "lrcn_bilstm", "seq2seq_repeat", "lrcn_convlstm", "fusion_gates")
    return [json.loads((corpus_dir / f"{name}.json").read_text()) for name in names]


def test_fuzz_architecture_json(seed_configs, tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz_json")
    stats = {"valid": 0, "refused": 0}

    @FUZZ
    @given(st.integers(0, len(seed_configs) - 1), st.lists(MUTATION, min_size=1, max_size=4))
    def check(which, ops):
        path = folder / "model.json"
        path.write_text(json.dumps(_mutate(seed_configs[which], ops), allow_nan=True))
        stats["valid" if _analyse_or_refuse(path) else "refused"] += 1

    check()
    print(f"\nfuzz architecture JSON: {stats}")
    assert stats["valid"] and stats["refused"]


def _flip(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    if rng.random() < 0.3:
        return bytes(out[: rng.randrange(1, len(out))])
    for _ in range(rng.randint(1, 16)):
        span = 8192 if rng.random() < 0.7 else len(out)
        index = rng.randrange(min(span, len(out)))
        out[index] ^= 1 << rng.randrange(8)
    return bytes(out)


@pytest.mark.parametrize("suffix", [".h5", ".keras"])
def test_fuzz_model_file_bytes(corpus_dir, tmp_path, suffix):
    sources = [(corpus_dir / f"{name}{suffix}").read_bytes() for name in ("classic_lrcn", "two_stream")]
    stats = {"valid": 0, "refused": 0}

    @FUZZ
    @given(st.integers(0, 1), st.integers(0, 2**32))
    def check(which, seed):
        path = tmp_path / f"model{suffix}"
        path.write_bytes(_flip(sources[which], random.Random(seed)))
        stats["valid" if _analyse_or_refuse(path) else "refused"] += 1

    check()
    print(f"\nfuzz {suffix} bytes: {stats}")
    assert stats["refused"]


def test_fuzz_keras_archive_members(corpus_dir, tmp_path):
    config = json.loads(zipfile.ZipFile(corpus_dir / "classic_lrcn.keras").read("config.json"))
    stats = {"valid": 0, "refused": 0}

    @FUZZ
    @given(st.lists(MUTATION, min_size=1, max_size=3), st.booleans())
    def check(ops, extra_member):
        path = tmp_path / "model.keras"
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("config.json", json.dumps(_mutate(config, ops)))
            if extra_member:
                archive.writestr("../../escape.txt", "x")
        stats["valid" if _analyse_or_refuse(path) else "refused"] += 1

    check()
    assert not (tmp_path.parent / "escape.txt").exists()
    print(f"\nfuzz .keras members: {stats}")
