"""Loaders: a model file -> GraphSpec -> ModelIR. Formats are recognised by content."""
from __future__ import annotations

import os
from pathlib import Path

from ..errors import InputError
from ..ir import ModelIR

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
ZIP_MAGIC = b"PK\x03\x04"
LFS_PREFIX = b"version https://git-lfs.github.com/spec/"
MAX_MODEL_BYTES = 8 * 2**30
SUFFIXES = {".h5": "h5", ".hdf5": "h5", ".keras": "keras", ".json": "json", ".onnx": "onnx"}


def detect_format(path: Path) -> str:
    """Check the path and return h5 | keras | json | onnx, or raise InputError."""
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, not a model file")
    if not path.is_file():
        raise InputError(f"{path}: not a regular file")
    size = path.stat().st_size
    if size == 0:
        raise InputError(f"{path}: empty file")
    if size > MAX_MODEL_BYTES:
        raise InputError(f"{path}: {size:,} bytes is over the {MAX_MODEL_BYTES:,}-byte limit")
    try:
        with path.open("rb") as handle:
            head = handle.read(512)
    except OSError as error:
        raise InputError(f"{path}: cannot read ({error.strerror or error})") from None
    if head.startswith(LFS_PREFIX):
        raise InputError(f"{path}: is a Git LFS pointer, not the model; fetch the real file with "
                         f"`git lfs pull --include=\"{path.name}\"` (in GitHub Actions: "
                         "actions/checkout with `lfs: true`)")
    suffix = path.suffix.lower()
    if head.startswith(HDF5_MAGIC):
        return "h5"
    if head.startswith(ZIP_MAGIC):
        return "keras"
    if head.lstrip()[:1] in (b"{", b"["):
        return "json"
    if suffix == ".onnx":
        return "onnx"
    if suffix in SUFFIXES:
        raise InputError(f"{path}: not a valid {suffix} file (its content is neither HDF5, "
                         "a .keras zip archive nor JSON)")
    raise InputError(f"{path}: unsupported format {suffix or '(no suffix)'}; "
                     "expected .h5, .hdf5, .keras, .json or .onnx")


def load_model(path: str | os.PathLike, *, frames: int | None = None) -> ModelIR:
    """Read a model file as data (never executing anything in it) and analyse it."""
    from ..analyze import analyse

    path = Path(path)
    fmt = detect_format(path)
    if fmt == "onnx":
        from .onnx_loader import load_onnx
        return load_onnx(path, frames=frames)
    from .keras_files import read_keras_config
    from .keras_config import graph_from_config

    config, keras_version = read_keras_config(path, fmt)
    graph = graph_from_config(config)
    return analyse(graph, path=str(path), fmt=fmt, frames=frames, keras_version=keras_version)
