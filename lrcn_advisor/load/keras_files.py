"""Read the saved architecture out of .h5, .keras and .json files, as data."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError

MAX_CONFIG_BYTES = 64 * 2**20
MAX_WEIGHT_ENTRIES = 100_000  # datasets whose shapes are read (shapes only, never values)


@dataclass(frozen=True)
class KerasFile:
    """What a Keras file holds besides the architecture, as data."""

    config: dict
    keras_version: str = ""
    compile_config: dict | None = None  # training_config (.h5) or compile_config (.keras)
    # saved weight shapes per top-level weight group: .h5 layer names, .keras auto names (dense_1, ...)
    weight_shapes: dict[str, list[tuple[int, ...]]] = field(default_factory=dict)


def read_keras_config(path: Path, fmt: str) -> tuple[dict, str]:
    """Return (model config dict, keras version string)."""
    done = read_keras_file(path, fmt)
    return done.config, done.keras_version


def read_keras_file(path: Path, fmt: str) -> KerasFile:
    """The architecture, version, compile config and saved weight shapes of a Keras file."""
    if fmt == "h5":
        config, version, compile_config, shapes = _from_h5(path)
        return KerasFile(config, version, compile_config, shapes)
    if fmt == "keras":
        config, version, compile_config, shapes = _from_keras_zip(path)
        return KerasFile(config, version, compile_config, shapes)
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise InputError(f"{path}: architecture JSON over {MAX_CONFIG_BYTES:,} bytes")
    config = parse_json(path.read_bytes(), str(path))
    return KerasFile(config, str(config.get("keras_version", "")) if isinstance(config, dict) else "")


def parse_json(data: bytes, where: str):
    if len(data) > MAX_CONFIG_BYTES:
        raise InputError(f"{where}: architecture JSON over {MAX_CONFIG_BYTES:,} bytes")
    try:
        value = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise InputError(f"{where}: architecture JSON is not UTF-8") from None
    except json.JSONDecodeError as error:
        raise InputError(f"{where}: invalid JSON ({error.msg} at line {error.lineno})") from None
    except RecursionError:
        raise InputError(f"{where}: architecture JSON nested too deeply") from None
    if not isinstance(value, dict):
        raise InputError(f"{where}: architecture JSON is not an object")
    return value


# The HDF5 C library can crash on damaged or hostile files, so the attribute is read in a child
# process with bounded memory and time; a crash there becomes a clear error here.
H5_CHILD = r"""
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))
import h5py, json
weights_only = len(sys.argv) > 3 and sys.argv[3] == "weights"


def weight_shapes(group):
    # {top-level weight group: [dataset shapes in path order]}: shapes only, values are never read
    shapes, count = {}, [0]
    def visit(name, obj):
        if isinstance(obj, h5py.Dataset) and count[0] < 100000:
            count[0] += 1
            shapes.setdefault(name.split("/", 1)[0], []).append(list(obj.shape))
    if group is not None:
        group.visititems(visit)
    return json.dumps(shapes).encode()


try:
    handle = h5py.File(sys.argv[1], "r")
    if weights_only:
        sys.stdout.buffer.write(weight_shapes(handle.get("layers")))
        sys.exit(0)
    raw = handle.attrs.get("model_config")
    version = handle.attrs.get("keras_version", b"")
    training = handle.attrs.get("training_config", b"")
except Exception as error:
    sys.stderr.write((str(error).strip().splitlines() or [type(error).__name__])[0][:160])
    sys.exit(3)
if raw is None:
    sys.exit(4)
if isinstance(raw, str):
    raw = raw.encode("utf-8", "surrogateescape")
if not isinstance(raw, bytes) or len(raw) > int(sys.argv[2]):
    sys.exit(5)
if isinstance(version, bytes):
    version = version.decode("utf-8", "replace")
if isinstance(training, str):
    training = training.encode("utf-8", "surrogateescape")
if not isinstance(training, bytes) or len(training) > int(sys.argv[2]):
    training = b""
try:
    shapes = weight_shapes(handle.get("model_weights"))
except Exception:
    shapes = b"{}"  # weight shapes are a hint; a damaged weights group only costs the hint
sys.stdout.buffer.write(str(version).encode("unicode_escape") + b"\n" + training.replace(b"\n", b" ")
                        + b"\n" + shapes + b"\n" + raw)
"""
H5_TIMEOUT_S = 120
_PENDING: dict[str, subprocess.Popen] = {}


def prefetch_h5(path: Path) -> None:
    """Start reading an HDF5 file's architecture in the background (the CLI overlaps its imports)."""
    key = str(path)
    if key not in _PENDING:
        _PENDING[key] = subprocess.Popen([sys.executable, "-I", "-c", H5_CHILD, key, str(MAX_CONFIG_BYTES)],
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _from_h5(path: Path):
    prefetch_h5(path)
    child = _PENDING.pop(str(path))
    try:
        stdout, stderr = child.communicate(timeout=H5_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        child.kill()
        child.communicate()
        raise InputError(f"{path}: reading the HDF5 file took over {H5_TIMEOUT_S} s; it may be hostile") from None
    done = subprocess.CompletedProcess(child.args, child.returncode, stdout, stderr)
    reason = done.stderr.decode("utf-8", "replace").strip()
    if done.returncode == 3:
        raise InputError(f"{path}: cannot open HDF5 file ({reason}); the file may be truncated or damaged")
    if done.returncode == 4:
        raise InputError(f"{path}: HDF5 file has no 'model_config': not a saved Keras model "
                         "(a weights-only file? save with model.save() or pass the architecture .json)")
    if done.returncode == 5:
        raise InputError(f"{path}: 'model_config' is not text of at most {MAX_CONFIG_BYTES:,} bytes")
    if done.returncode != 0:
        raise InputError(f"{path}: the HDF5 library failed on this file (exit {done.returncode}); "
                         "it is damaged or hostile")
    version, _, rest = done.stdout.partition(b"\n")
    training, _, rest = rest.partition(b"\n")
    shapes, _, data = rest.partition(b"\n")
    try:
        compile_config = parse_json(training, "") if training.strip() else None
    except InputError:
        compile_config = None  # a damaged training config only costs the loss check
    return (parse_json(data, f"{path} model_config"), version.decode("unicode_escape", "replace"),
            compile_config, _shapes(shapes))


def _shapes(data: bytes) -> dict[str, list[tuple[int, ...]]]:
    """Parse the child's weight-shape JSON; anything malformed is dropped (shapes are hints)."""
    try:
        value = json.loads(data.decode("utf-8")) if data.strip() else {}
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return {}
    if not isinstance(value, dict):
        return {}
    shapes = {}
    for name, items in value.items():
        if isinstance(name, str) and isinstance(items, list):
            shapes[name] = [tuple(d for d in item) for item in items
                            if isinstance(item, list) and all(isinstance(d, int) and d >= 0 for d in item)]
    return shapes


def _weights_of_archive(archive: zipfile.ZipFile, path: Path) -> dict[str, list[tuple[int, ...]]]:
    """Shapes of model.weights.h5 inside a .keras archive (read in the child; values never read)."""
    if "model.weights.h5" not in archive.namelist():
        return {}
    info = archive.getinfo("model.weights.h5")
    if info.file_size > 2 * 2**30:
        return {}
    with tempfile.TemporaryDirectory(prefix="lrcn-weights-") as folder:
        target = os.path.join(folder, "model.weights.h5")
        try:
            with archive.open(info) as member, open(target, "wb") as out:
                while chunk := member.read(1 << 20):
                    out.write(chunk)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError):
            return {}
        try:
            done = subprocess.run([sys.executable, "-I", "-c", H5_CHILD, target, str(MAX_CONFIG_BYTES), "weights"],
                                  capture_output=True, timeout=H5_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            return {}
    return _shapes(done.stdout) if done.returncode == 0 else {}


def _from_keras_zip(path: Path, with_weights: bool = True):
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise InputError(f"{path}: not a readable .keras archive ({_first_line(error)})") from None
    with archive:
        names = archive.namelist()
        if "config.json" not in names:
            raise InputError(f"{path}: .keras archive has no config.json (not a Keras 3 model save)")
        config = parse_json(_member(archive, "config.json", path), f"{path} config.json")
        version = ""
        if "metadata.json" in names:
            try:
                version = str(parse_json(_member(archive, "metadata.json", path), "")
                              .get("keras_version", ""))
            except InputError:
                version = ""
        shapes = _weights_of_archive(archive, path) if with_weights and _has_opaque(config) else {}
    compile_config = config.get("compile_config")
    return config, version, compile_config if isinstance(compile_config, dict) else None, shapes


def _has_opaque(config: dict) -> bool:
    """Whether the architecture has a Lambda/custom layer, the only case where weight shapes are needed."""
    text = json.dumps(config)
    return '"Lambda"' in text or '"TFOpLambda"' in text or '"SlicingOpLambda"' in text


def _member(archive: zipfile.ZipFile, name: str, path: Path) -> bytes:
    info = archive.getinfo(name)
    if info.file_size > MAX_CONFIG_BYTES:
        raise InputError(f"{path}: {name} is {info.file_size:,} bytes uncompressed "
                         f"(limit {MAX_CONFIG_BYTES:,})")
    try:
        with archive.open(info) as member:
            data = member.read(MAX_CONFIG_BYTES + 1)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as error:
        raise InputError(f"{path}: cannot read {name} from the archive ({_first_line(error)})") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise InputError(f"{path}: {name} expands past {MAX_CONFIG_BYTES:,} bytes")
    return data


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return text[0][:160] if text else type(error).__name__
