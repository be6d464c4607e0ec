"""The standard-library HDF5 attribute reader against h5py itself, on real files of every layout.

Files come from tools/make_h5_layouts.py (h5py writes them; some are then damaged byte by byte) and
the bundled Keras saves. For each: the reader gives exactly the bytes/str h5py gives, or declines;
the public result (read_keras_file) equals the forked h5py reader's, error messages included; and
the files the fast path is meant for are settled by it, the damaged ones are not.
"""
from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import h5py  # creates and checks files here; the reader under test never imports it
import pytest

from lrcn_advisor.errors import InputError
from lrcn_advisor.examples import FOLDER
from lrcn_advisor.load import hdf5_attrs, keras_files

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import make_h5_layouts  # noqa: E402

NAMES = {"model_config", "keras_version", "training_config", "backend"}
FLIPS = int(os.environ.get("LRCN_H5_FLIPS", "120"))  # a longer run: LRCN_H5_FLIPS=5000


@pytest.fixture(scope="module")
def layouts(tmp_path_factory):
    return make_h5_layouts.cases(tmp_path_factory.mktemp("layouts"))


def _h5py_attributes(path: Path):
    """What h5py returns for the wanted root attributes, or the exception it raises."""
    try:
        with h5py.File(path, "r") as handle:
            return {name: handle.attrs[name] for name in NAMES if name in handle.attrs}
    except Exception as error:  # noqa: BLE001
        return error


def _public(read, path: Path):
    """(config, version, compile config) or the error message of one way of reading the file."""
    try:
        done = read(path)
    except InputError as error:
        return f"error: {error}"
    return done.config, done.keras_version, done.compile_config


def test_reader_gives_h5py_values_or_declines(layouts):
    by_name = {case.name: case.path for case in layouts}
    assert b"OCHK" in by_name["latest_fixed"].read_bytes()  # a v2 header with a continuation block
    read = declined = 0
    for case in layouts:
        fast = hdf5_attrs.root_string_attributes(str(case.path), NAMES, keras_files.MAX_CONFIG_BYTES)
        expected = _h5py_attributes(case.path)
        if fast is None:
            declined += 1
            continue
        assert not isinstance(expected, Exception), f"{case.name}: read, but h5py fails: {expected}"
        got = {name: attribute.as_h5py() for name, attribute in fast.items()}
        assert set(got) == set(expected), case.name
        for name, value in got.items():
            assert value == expected[name] and isinstance(expected[name], type(value)), (case.name, name)
        read += 1
    assert read >= 30 and declined >= 10, (read, declined)


def test_public_result_equals_the_h5py_reader(layouts):
    for case in layouts:
        fast = keras_files._fast_h5(str(case.path))
        if case.expect == "fast":
            assert fast is not None, f"{case.name}: the fast path declined a file it is meant for"
        elif case.expect == "decline":
            assert fast is None, f"{case.name}: the fast path settled a file it must leave to h5py"
        public = _public(lambda p: keras_files.read_keras_file(p, "h5"), case.path)
        reference = _public(keras_files._from_h5_reader, case.path)
        assert public == reference, case.name
        if fast is not None:
            assert (fast.config, fast.keras_version, fast.compile_config) == reference
            assert fast.weight_shapes == {}  # known layers only: the analysis never asks for them


def test_damaged_files_keep_the_h5py_messages(layouts):
    by_name = {case.name: case for case in layouts}
    for name, needle in [("truncated_third", "truncated"), ("header_past_end", "cannot open HDF5 file"),
                         ("continuation_loop", "cannot open HDF5 file"), ("bad_checksum", "checksum"),
                         ("no_model_config", "no 'model_config'"), ("config_not_json", "invalid JSON")]:
        with pytest.raises(InputError, match=needle):
            keras_files.read_keras_file(by_name[name].path, "h5")


def test_flipped_bytes_read_as_h5py_reads_them_or_declined(layouts, tmp_path):
    """Random byte changes (half of them in the first 4 KiB, where the metadata is): whatever the fast
    path settles, the HDF5 library reads the same way; what it would refuse, the fast path declines."""
    sources = [case.path.read_bytes() for case in layouts if case.name in (
        "example classic_lrcn.h5", "latest_fixed", "continuation_earliest", "v108_str", "many_attributes_earliest")]
    settled = 0
    for seed in range(FLIPS):
        rnd = random.Random(seed)
        data = bytearray(sources[seed % len(sources)])
        for _ in range(rnd.randint(1, 3)):
            spot = rnd.randrange(min(len(data), 4096)) if rnd.random() < 0.5 else rnd.randrange(len(data))
            data[spot] = rnd.randrange(256)
        path = tmp_path / f"flip{seed}.h5"
        path.write_bytes(bytes(data))
        fast = keras_files._fast_h5(str(path))
        if fast is not None:
            settled += 1
            assert (fast.config, fast.keras_version, fast.compile_config) == _public(
                keras_files._from_h5_reader, path), f"seed {seed}"
        path.unlink()
    assert settled, "no flipped file was settled by the fast path: the comparison tested nothing"


def test_opaque_and_unknown_layers_take_the_h5py_reader_for_weight_shapes(tmp_path):
    """A Lambda or unknown class at any depth: the analysis may use the saved weight shapes."""
    config = make_h5_layouts.model_config()
    assert not keras_files._needs_weight_shapes(config)
    wrapped = make_h5_layouts.model_config()
    wrapped["config"]["layers"][1]["config"]["layer"]["class_name"] = "MyConv"
    assert keras_files._needs_weight_shapes(wrapped)
    nested = make_h5_layouts.model_config()
    inner = make_h5_layouts.model_config()
    inner["config"]["layers"].insert(2, {"class_name": "Lambda", "config": {"name": "l", "function": "x"}})
    nested["config"]["layers"].insert(3, {"class_name": "Sequential", "name": "inner", "config": inner["config"]})
    assert keras_files._needs_weight_shapes(nested)


def test_analysis_is_the_same_through_either_reader(monkeypatch):
    """The bundled Keras saves analysed end to end: the JSON report is identical by either path."""
    from lrcn_advisor.config import Settings
    from lrcn_advisor.pipeline import analyse_file
    from lrcn_advisor.reports.json_report import result_to_dict

    def report(path: Path) -> str:
        document = result_to_dict(analyse_file(path, Settings()))
        document.pop("timing", None)
        return json.dumps(document, sort_keys=True, default=str)

    paths = sorted(FOLDER.glob("*.h5"))
    fast = {path.name: report(path) for path in paths}
    monkeypatch.setattr(keras_files, "_fast_h5", lambda key: None)  # force the forked h5py reader
    for path in paths:
        assert report(path) == fast[path.name], path.name


def test_prefetch_reads_ahead_without_readers(layouts):
    fast_files = [case.path for case in layouts if case.expect == "fast"][:10]
    declined = [case.path for case in layouts if case.name in ("userblock", "dense_big_attribute")]
    try:
        for path in fast_files + declined:
            keras_files.prefetch_h5(path)
        assert set(keras_files._FAST) == {str(path) for path in fast_files}
        assert set(keras_files._PENDING) | set(keras_files._QUEUED) == {str(path) for path in declined}
        for path in fast_files + declined:
            keras_files.read_keras_file(path, "h5")
        assert not keras_files._FAST and not keras_files._PENDING and not keras_files._QUEUED
    finally:
        keras_files.cancel_readers()


def test_prefetch_keeps_a_bounded_number_ahead(layouts, tmp_path):
    source = next(case.path for case in layouts if case.name == "earliest_str")
    paths = []
    for index in range(keras_files.MAX_FAST_AHEAD + 3):
        paths.append(tmp_path / f"m{index}.h5")
        paths[-1].write_bytes(source.read_bytes())
    try:
        for path in paths:
            keras_files.prefetch_h5(path)
        assert len(keras_files._FAST) == keras_files.MAX_FAST_AHEAD and not keras_files._PENDING
        for path in paths:
            assert keras_files.read_keras_file(path, "h5").config["class_name"] == "Sequential"
        assert not keras_files._FAST and not keras_files._FAST_LATER and not keras_files._PENDING
    finally:
        keras_files.cancel_readers()


def test_reader_declines_what_is_not_a_regular_file(tmp_path):
    fifo = tmp_path / "pipe.h5"
    os.mkfifo(fifo)  # opening it for reading would wait for a writer, for ever
    assert hdf5_attrs.root_string_attributes(str(fifo), NAMES, 1 << 20) is None
    assert hdf5_attrs.root_string_attributes(str(tmp_path), NAMES, 1 << 20) is None
    assert hdf5_attrs.root_string_attributes(str(tmp_path / "missing.h5"), NAMES, 1 << 20) is None


def test_lookup3_matches_hdf5_checksums(layouts):
    """The checksum the reader verifies, on a superblock h5py wrote (version 3)."""
    data = next(case.path for case in layouts if case.name == "latest_str").read_bytes()[:48]
    assert data[8] == 3
    assert hdf5_attrs.lookup3(data[:44]) == int.from_bytes(data[44:48], "little")
    assert hdf5_attrs.lookup3(b"") == 0xDEADBEEF


def _modules_after(code: str) -> set[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code + "\nimport sys\nprint('MODULES', *sorted(sys.modules))"],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    lines = [line for line in done.stdout.splitlines() if line.startswith("MODULES")]
    assert lines, done.stderr[-2000:]
    return set(lines[-1].split()[1:])


def test_reader_imports_neither_h5py_nor_numpy():
    modules = _modules_after("import lrcn_advisor.load.hdf5_attrs")
    assert not {"h5py", "numpy"} & modules


def test_cli_on_a_keras_h5_imports_neither_h5py_nor_numpy():
    model = FOLDER / "classic_lrcn.h5"
    modules = _modules_after(
        "import contextlib, io, json, runpy, sys\nout = io.StringIO()\n"
        f"sys.argv = ['lrcn-advise', {str(model)!r}, '--format', 'json', '--no-html', '--probes', 'off']\n"
        "with contextlib.redirect_stdout(out):\n"
        "    try:\n        runpy.run_module('lrcn_advisor', run_name='__main__')\n"
        "    except SystemExit as stop:\n        assert stop.code in (0, 1, None), stop.code\n"
        "assert json.loads(out.getvalue())")
    assert "lrcn_advisor.load.keras_files" in modules
    assert not {"h5py", "numpy"} & modules
