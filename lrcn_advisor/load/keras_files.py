"""Read the saved architecture out of .h5, .keras and .json files, as data."""
from __future__ import annotations

import json
import os
import resource
import select
import signal
import tempfile
import time
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


def read_keras_file(path: Path, fmt: str) -> KerasFile:
    """The architecture, version, compile config and saved weight shapes of a Keras file."""
    if fmt == "h5":
        return _from_h5(path)
    if fmt == "keras":
        return _from_keras_zip(path)
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise InputError(f"{path}: architecture JSON over {MAX_CONFIG_BYTES:,} bytes")
    config = parse_json(path.read_bytes(), str(path))
    return KerasFile(config, str(config.get("keras_version", "")) if isinstance(config, dict) else "")


def read_keras_config(path: Path, fmt: str) -> tuple[dict, str]:
    """Return (model config dict, keras version string)."""
    done = read_keras_file(path, fmt)
    return done.config, done.keras_version


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


# The HDF5 C library can crash on damaged or hostile files, so the attributes are read in a child
# process with bounded memory and time; a crash there becomes a clear error here. The child is
# forked after h5py is imported once, so it inherits the import instead of repeating it, and at most
# one reader per core runs at a time.
H5_TIMEOUT_S = 120
H5_MEMORY_LIMIT = 4 << 30
_PENDING: dict[str, "_Reader"] = {}
_QUEUED: list[str] = []


class _Reader:
    """One forked child reading one HDF5 file's architecture into a pipe."""

    def __init__(self, path: str, weights_only: bool = False):
        import h5py  # noqa: F401  (imported once in the parent; every forked reader inherits it)

        read_end, write_end = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:  # the child: never returns
            os.close(read_end)
            _child_main(path, write_end, weights_only)
        os.close(write_end)
        self.fd, self.started = read_end, time.monotonic()

    def finish(self) -> tuple[int, bytes]:
        """(exit code or -signal, everything the child wrote); kills it past the timeout."""
        chunks: list[bytes] = []
        deadline = self.started + H5_TIMEOUT_S
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not select.select([self.fd], [], [], remaining)[0]:
                    os.kill(self.pid, signal.SIGKILL)
                    os.waitpid(self.pid, 0)
                    return -1, b""
                chunk = os.read(self.fd, 1 << 20)
                if not chunk:
                    break
                chunks.append(chunk)
        finally:
            os.close(self.fd)
        _, status = os.waitpid(self.pid, 0)
        code = os.waitstatus_to_exitcode(status)
        return (code if code >= 0 else 128 - code), b"".join(chunks)


def _child_main(path: str, fd: int, weights_only: bool = False) -> None:
    code = 70
    try:
        resource.setrlimit(resource.RLIMIT_AS, (H5_MEMORY_LIMIT, H5_MEMORY_LIMIT))
        code, payload = _read_weight_file(path) if weights_only else _read_h5_attributes(path)
        with os.fdopen(fd, "wb") as stream:
            stream.write(payload)
    except BaseException:  # noqa: BLE001  (the child reports by exit code only)
        pass
    finally:
        os._exit(code)


def _read_h5_attributes(path: str) -> tuple[int, bytes]:
    """(exit code, payload): 0 with b"version\ntraining_config\nweight shapes\nconfig", 3 unreadable,
    4 no model_config, 5 too big."""
    import h5py

    try:
        handle = h5py.File(path, "r")
        raw = handle.attrs.get("model_config")
        version = handle.attrs.get("keras_version", b"")
        training = handle.attrs.get("training_config", b"")
    except Exception as error:  # noqa: BLE001  (any failure of the library on this file)
        return 3, (str(error).strip().splitlines() or [type(error).__name__])[0][:160].encode("utf-8", "replace")
    if raw is None:
        return 4, b""
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogateescape")
    if not isinstance(raw, bytes) or len(raw) > MAX_CONFIG_BYTES:
        return 5, b""
    if isinstance(version, bytes):
        version = version.decode("utf-8", "replace")
    if isinstance(training, str):
        training = training.encode("utf-8", "surrogateescape")
    if not isinstance(training, bytes) or len(training) > MAX_CONFIG_BYTES:
        training = b""  # the loss is a hint; an odd training config only costs the loss check
    try:
        shapes = _weight_shapes(handle.get("model_weights"))
    except Exception:  # noqa: BLE001  (weight shapes are a hint; a damaged group only costs the hint)
        shapes = b"{}"
    return 0, (str(version).encode("unicode_escape") + b"\n" + training.replace(b"\n", b" ") + b"\n"
               + shapes + b"\n" + raw)


def _weight_shapes(group) -> bytes:
    """{top-level weight group: [dataset shapes in path order]} as JSON: shapes only, never values."""
    import h5py

    shapes: dict[str, list] = {}
    count = 0

    def visit(name, obj):
        nonlocal count
        if isinstance(obj, h5py.Dataset) and count < MAX_WEIGHT_ENTRIES:
            count += 1
            shapes.setdefault(name.split("/", 1)[0], []).append(list(obj.shape))
    if group is not None:
        group.visititems(visit)
    return json.dumps(shapes).encode()


def _read_weight_file(path: str) -> tuple[int, bytes]:
    """(exit code, weight-shape JSON) of a Keras 3 model.weights.h5 (groups under layers/)."""
    import h5py

    try:
        return 0, _weight_shapes(h5py.File(path, "r").get("layers"))
    except Exception:  # noqa: BLE001
        return 3, b""


def prefetch_h5(path: Path) -> None:
    """Start reading an HDF5 file's architecture in the background (the CLI overlaps its imports);
    past one reader per core, the file waits for a free one."""
    key = str(path)
    if key in _PENDING or key in _QUEUED:
        return
    if len(_PENDING) < (os.cpu_count() or 1):
        _PENDING[key] = _Reader(key)
    else:
        _QUEUED.append(key)


def _from_h5(path: Path) -> KerasFile:
    key = str(path)
    if key in _QUEUED:
        _QUEUED.remove(key)
    if key not in _PENDING:
        _PENDING[key] = _Reader(key)
    code, output = _PENDING.pop(key).finish()
    while _QUEUED and len(_PENDING) < (os.cpu_count() or 1):
        waiting = _QUEUED.pop(0)
        _PENDING[waiting] = _Reader(waiting)
    if code == -1:
        raise InputError(f"{path}: reading the HDF5 file took over {H5_TIMEOUT_S} s; it may be hostile")
    reason = output.decode("utf-8", "replace").strip()
    if code == 3:
        raise InputError(f"{path}: cannot open HDF5 file ({reason}); the file may be truncated or damaged")
    if code == 4:
        raise InputError(f"{path}: HDF5 file has no 'model_config': not a saved Keras model "
                         "(a weights-only file? save with model.save() or pass the architecture .json)")
    if code == 5:
        raise InputError(f"{path}: 'model_config' is not text of at most {MAX_CONFIG_BYTES:,} bytes")
    if code != 0:
        raise InputError(f"{path}: the HDF5 library failed on this file (exit {code}); "
                         "it is damaged or hostile")
    version, _, rest = output.partition(b"\n")
    training, _, rest = rest.partition(b"\n")
    shapes, _, data = rest.partition(b"\n")
    try:
        compile_config = parse_json(training, "") if training.strip() else None
    except InputError:
        compile_config = None  # a damaged training config only costs the loss check
    return KerasFile(parse_json(data, f"{path} model_config"), version.decode("unicode_escape", "replace"),
                     compile_config, _shapes(shapes))


def _shapes(data: bytes) -> dict[str, list[tuple[int, ...]]]:
    """Parse the reader's weight-shape JSON; anything malformed is dropped (shapes are hints)."""
    try:
        value = json.loads(data.decode("utf-8")) if data.strip() else {}
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return {}
    if not isinstance(value, dict):
        return {}
    shapes = {}
    for name, items in value.items():
        if isinstance(name, str) and isinstance(items, list):
            shapes[name] = [tuple(item) for item in items
                            if isinstance(item, list) and all(isinstance(d, int) and d >= 0 for d in item)]
    return shapes


def _weights_of_archive(archive: zipfile.ZipFile) -> dict[str, list[tuple[int, ...]]]:
    """Shapes of model.weights.h5 inside a .keras archive, read by a forked reader (values never read)."""
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
        code, output = _Reader(target, weights_only=True).finish()
    return _shapes(output) if code == 0 else {}


def _has_opaque(config: dict) -> bool:
    """Whether the architecture has a Lambda layer, the only case where weight shapes are needed."""
    text = json.dumps(config)
    return '"Lambda"' in text or '"TFOpLambda"' in text or '"SlicingOpLambda"' in text


def _from_keras_zip(path: Path) -> KerasFile:
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
        shapes = _weights_of_archive(archive) if _has_opaque(config) else {}
    compile_config = config.get("compile_config")
    return KerasFile(config, version, compile_config if isinstance(compile_config, dict) else None, shapes)


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
