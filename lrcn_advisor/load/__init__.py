"""Loaders: a model file -> LoadedModel (the architecture as plain data). Formats are recognised by content."""
from __future__ import annotations

import glob
import os
from pathlib import Path

from ..errors import InputError
from ..ir import LoadedModel

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
ZIP_MAGIC = b"PK\x03\x04"
LFS_PREFIX = b"version https://git-lfs.github.com/spec/"
MAX_MODEL_BYTES = 8 * 2**30
MALFORMED = (TypeError, AttributeError, KeyError, ValueError, IndexError, ZeroDivisionError, OverflowError,
             RecursionError)
SUFFIXES = {".h5": "h5", ".hdf5": "h5", ".keras": "keras", ".json": "json", ".onnx": "onnx"}
FOLDER_SUFFIXES = (".h5", ".hdf5", ".keras", ".onnx")  # a folder scan skips .json (package.json, ...)


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


def expand_paths(arguments: list[str]) -> list[Path]:
    """Model paths from files, folders (searched recursively) and quoted globs, in a stable order."""
    paths: list[Path] = []
    for argument in arguments:
        if any(ch in argument for ch in "*?[") and not Path(argument).exists():
            matches = sorted(glob.glob(argument, recursive=True))
            if not matches:
                raise InputError(f"{argument}: no file matches this pattern")
            paths.extend(Path(m) for m in matches if Path(m).is_file())
        elif Path(argument).is_dir():
            found = sorted(p for p in Path(argument).rglob("*")
                           if p.is_file() and p.suffix.lower() in FOLDER_SUFFIXES and ".git" not in p.parts)
            if not found:
                raise InputError(f"{argument}: folder holds no .h5, .hdf5, .keras or .onnx file "
                                 "(architecture .json files are only read when named)")
            paths.extend(found)
        else:
            paths.append(Path(argument))
    unique = list(dict.fromkeys(paths))
    return unique


def prefetch(paths: list[Path]) -> None:
    """Start background reads of the HDF5 files among `paths` (bad paths are left for load_model)."""
    from .keras_files import prefetch_h5

    for path in paths:
        try:
            if detect_format(path) == "h5":
                prefetch_h5(path)
        except InputError:
            continue


def load_model(path: str | os.PathLike) -> LoadedModel:
    """Read a model file as data, never executing anything in it."""
    path = Path(path)
    fmt = detect_format(path)
    if fmt == "onnx":
        from .onnx_loader import load_onnx
        return load_onnx(path)
    from .keras_files import read_keras_file
    from .keras_config import attach_weight_shapes, graph_from_config, loss_from_compile

    file = read_keras_file(path, fmt)
    try:
        graph = graph_from_config(file.config)
        attach_weight_shapes(graph, file.weight_shapes, fmt)
        return LoadedModel(graph=graph, path=str(path), format=fmt, keras_version=file.keras_version,
                           loss=loss_from_compile(file.compile_config))
    except MALFORMED as error:  # a value of the wrong type somewhere in untrusted data
        raise InputError(f"{path}: malformed model config ({type(error).__name__}: "
                         f"{str(error).splitlines()[0][:120] if str(error) else 'unexpected value'})") from None


def load_onnx_in_memory(model, name: str) -> LoadedModel:
    """An in-memory ONNX model (onnx.ModelProto or its bytes), e.g. a live torch.onnx export."""
    from .onnx_loader import load_onnx_proto
    return load_onnx_proto(model, name)


def load_keras_config(config: dict, name: str, keras_version: str = "") -> LoadedModel:
    """A Keras model's serialised config (what a .keras file's config.json holds), e.g. of a live model."""
    from .keras_config import graph_from_config

    try:
        graph = graph_from_config(config)
    except MALFORMED as error:
        raise InputError(f"{name}: malformed model config ({type(error).__name__}: "
                         f"{str(error).splitlines()[0][:120] if str(error) else 'unexpected value'})") from None
    return LoadedModel(graph=graph, path=name, format="keras", keras_version=keras_version)
