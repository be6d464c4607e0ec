"""Every bad input gives one clear line on stderr and exit code 2, through the real CLI."""
from __future__ import annotations

import zipfile

import h5py
import numpy as np
import pytest

from conftest import run_cli


def assert_one_line_error(done, *needles: str) -> None:
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("lrcn-advise: error: "), lines[0]
    assert "Traceback" not in done.stderr + done.stdout
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def test_missing_path(tmp_path):
    assert_one_line_error(run_cli(tmp_path / "nope.h5", "--no-html"), "no such file")


def test_directory_without_models(tmp_path):
    assert_one_line_error(run_cli(tmp_path, "--no-html"), "holds no")


def test_directory_path_named_like_model(tmp_path):
    folder = tmp_path / "model.h5"
    folder.mkdir()
    (folder / "notes.txt").write_text("x")
    assert_one_line_error(run_cli(folder, "--no-html"))


def test_empty_file(tmp_path):
    path = tmp_path / "empty.h5"
    path.write_bytes(b"")
    assert_one_line_error(run_cli(path, "--no-html"), "empty file")


def test_truncated_h5(corpus_dir, tmp_path):
    data = (corpus_dir / "classic_lrcn.h5").read_bytes()
    path = tmp_path / "truncated.h5"
    path.write_bytes(data[: len(data) // 3])
    assert_one_line_error(run_cli(path, "--no-html"), "truncated.h5")


def test_hdf5_that_is_not_keras(tmp_path):
    path = tmp_path / "data.h5"
    with h5py.File(path, "w") as handle:
        handle["x"] = np.zeros(3)
    assert_one_line_error(run_cli(path, "--no-html"), "model_config")


def test_keras_archive_without_config(tmp_path):
    path = tmp_path / "model.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("metadata.json", "{}")
    assert_one_line_error(run_cli(path, "--no-html"), "config.json")


def test_truncated_keras_archive(corpus_dir, tmp_path):
    data = (corpus_dir / "classic_lrcn.keras").read_bytes()
    path = tmp_path / "cut.keras"
    path.write_bytes(data[:200])
    assert_one_line_error(run_cli(path, "--no-html"))


def test_git_lfs_pointer(tmp_path):
    path = tmp_path / "model.h5"
    path.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:" + "a" * 64 + "\nsize 123456\n")
    assert_one_line_error(run_cli(path, "--no-html"), "Git LFS pointer", "git lfs pull")


@pytest.mark.parametrize("name,content", [("model.pt", b"\x80\x02garbage"), ("weights.bin", b"\x00\x01\x02"),
                                          ("model.h5", b"not really hdf5 at all")])
def test_unsupported_or_misnamed_format(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    assert_one_line_error(run_cli(path, "--no-html"))


def test_invalid_json(tmp_path):
    path = tmp_path / "arch.json"
    path.write_text('{"class_name": "Sequential", "config": {')
    assert_one_line_error(run_cli(path, "--no-html"), "invalid JSON")


def test_json_that_is_not_a_model(tmp_path):
    path = tmp_path / "arch.json"
    path.write_text('{"hello": "world"}')
    assert_one_line_error(run_cli(path, "--no-html"), "class_name")


def test_bad_frames_option(corpus_dir):
    done = run_cli(corpus_dir / "classic_lrcn.h5", "--frames", "0", "--no-html")
    assert done.returncode == 2 and "Traceback" not in done.stderr


def test_bad_config_key_names_the_key(corpus_dir, tmp_path):
    model = tmp_path / "m.h5"
    model.write_bytes((corpus_dir / "classic_lrcn.h5").read_bytes())
    (tmp_path / "lrcn-advise.toml").write_text("fail_on = 'warning'\n")
    assert_one_line_error(run_cli(model, "--no-html"), "fail_on", "unknown key")


def test_bad_threshold_value_names_the_key(corpus_dir, tmp_path):
    model = tmp_path / "m.h5"
    model.write_bytes((corpus_dir / "classic_lrcn.h5").read_bytes())
    (tmp_path / "lrcn-advise.toml").write_text("[rules.POL001]\nmax_side = 'big'\n")
    assert_one_line_error(run_cli(model, "--no-html"), "rules.POL001.max_side")
