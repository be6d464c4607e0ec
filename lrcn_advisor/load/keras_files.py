"""Read the saved architecture out of .h5, .keras and .json files, as data."""
from __future__ import annotations

import json
import os
import re
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
MAX_VERSION_CHARS = 64          # a keras_version longer than this is cut before it is echoed
MAX_INT_DIGITS = 18             # every integer in a Keras config fits in int64
MAX_INT = 2**63 - 1
MAX_WEIGHT_ENTRIES = 100_000  # datasets whose shapes are read (shapes only, never values)


@dataclass(frozen=True)
class KerasFile:
    """What a Keras file holds besides the architecture, as data."""

    config: dict
    keras_version: str = ""
    compile_config: dict | None = None  # training_config (.h5) or compile_config (.keras)
    # saved weight shapes per top-level weight group: .h5 layer names, .keras auto names (dense_1, ...);
    # read only when they may settle a guessed shape: a Lambda (.keras, .h5) or an unknown class (.h5)
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
    return KerasFile(config, short_version(config.get("keras_version", "")))


def read_keras_config(path: Path, fmt: str) -> tuple[dict, str]:
    """Return (model config dict, keras version string)."""
    done = read_keras_file(path, fmt)
    return done.config, done.keras_version


def short_version(value) -> str:
    """The keras_version as echoed in reports: text, cut to MAX_VERSION_CHARS."""
    text = value if isinstance(value, str) else "" if value is None else str(value)[:MAX_VERSION_CHARS + 1]
    if len(text) > MAX_VERSION_CHARS:
        return f"{text[:MAX_VERSION_CHARS]}… (cut from {len(text):,} characters)"
    return text


class _BigInt(str):
    """An integer literal with too many digits; kept as text so the check below can name its field."""


_BIG_INT_SEEN = "big-int"
_FLAGS: set[str] = set()
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")  # a lone surrogate can only come from a \u escape


def _parse_int(text: str):
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        _FLAGS.add(_BIG_INT_SEEN)
        return _BigInt(text)
    return int(text)


def parse_json(data: bytes, where: str):
    if len(data) > MAX_CONFIG_BYTES:
        raise InputError(f"{where}: architecture JSON over {MAX_CONFIG_BYTES:,} bytes")
    try:
        value = json.loads(data.decode("utf-8-sig"), parse_int=_parse_int)  # a leading BOM is allowed
    except UnicodeDecodeError:
        raise InputError(f"{where}: architecture JSON is not UTF-8") from None
    except json.JSONDecodeError as error:
        raise InputError(f"{where}: invalid JSON ({error.msg} at line {error.lineno})") from None
    except RecursionError:
        raise InputError(f"{where}: architecture JSON nested too deeply") from None
    if not isinstance(value, dict):
        raise InputError(f"{where}: architecture JSON is not an object")
    if _BIG_INT_SEEN in _FLAGS or _SURROGATE_ESCAPE.search(data):  # the walk is only needed then
        _FLAGS.discard(_BIG_INT_SEEN)
        check_values(value, where)
    return value


def check_values(document, where: str) -> None:
    """Refuse values no Keras config holds, naming the field: huge integers, lone surrogates, NaN sizes."""
    stack = [(document, "")]
    while stack:
        value, field = stack.pop()
        if isinstance(value, _BigInt) or (isinstance(value, int) and not isinstance(value, bool)
                                          and not -MAX_INT <= value <= MAX_INT):
            digits = len(str(value).lstrip("-"))
            raise InputError(f"{where}: {field or 'value'} is an integer of {digits:,} digits "
                             f"(out of range; at most {MAX_INT_DIGITS})")
        if isinstance(value, str):
            _check_text(value, field, where)
        elif isinstance(value, dict):
            for key, item in value.items():
                _check_text(key, f"{field}.{key[:40]}" if field else key[:40], where)
                stack.append((item, f"{field}.{key[:40]}" if field else key[:40]))
        elif isinstance(value, list):
            stack.extend((item, f"{field}[{index}]") for index, item in enumerate(value))


def _check_text(text: str, field: str, where: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        code = ord(text[error.start])
        raise InputError(f"{where}: {field or 'a key'} holds a lone surrogate U+{code:04X}, which is not "
                         "valid Unicode text") from None


# The HDF5 C library can crash on damaged or hostile files, so the attributes are read in a child
# process with bounded memory and time; a crash there becomes a clear error here. The child is
# forked after h5py is imported once, so it inherits the import instead of repeating it, and at most
# one reader per core runs at a time. Most Keras saves never get here: the fast path further down
# reads the root attributes with the standard library (hdf5_attrs) and leaves only what it declines.
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

    def attribute(handle, name: str, most: int):
        """The stored size is checked before the value is read: a 200 MB attribute costs nothing."""
        if name not in handle.attrs:
            return None
        if h5py.h5a.open(handle.id, name.encode()).get_storage_size() > most:
            return _TOO_LARGE
        return handle.attrs.get(name)

    try:
        handle = h5py.File(path, "r")
        raw = attribute(handle, "model_config", MAX_CONFIG_BYTES)
        version = attribute(handle, "keras_version", 4 * MAX_VERSION_CHARS) or b""
        training = attribute(handle, "training_config", MAX_CONFIG_BYTES) or b""
    except Exception as error:  # noqa: BLE001  (any failure of the library on this file)
        return 3, (str(error).strip().splitlines() or [type(error).__name__])[0][:160].encode("utf-8", "replace")

    def shapes() -> bytes:
        try:
            return _weight_shapes(handle.get("model_weights"))
        except Exception:  # noqa: BLE001  (weight shapes are a hint; a damaged group only costs the hint)
            return b"{}"
    return _payload(raw, version, training, shapes)


def _payload(raw, version, training, shapes) -> tuple[int, bytes]:
    """(exit code, payload) from the attribute values as h5py returns them (None when absent,
    _TOO_LARGE when over the limit); `shapes()` gives the weight-shape JSON, read only on success."""
    if raw is None:
        return 4, b""
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogateescape")
    if not isinstance(raw, bytes) or len(raw) > MAX_CONFIG_BYTES or raw is _TOO_LARGE:
        return 5, b""
    if version is _TOO_LARGE:
        version = f"(a keras_version attribute over {4 * MAX_VERSION_CHARS} bytes, not read)"
    if isinstance(version, bytes):
        version = version.decode("utf-8", "replace")
    if isinstance(training, str):
        training = training.encode("utf-8", "surrogateescape")
    if not isinstance(training, bytes) or len(training) > MAX_CONFIG_BYTES:
        training = b""  # the loss is a hint; an odd training config only costs the loss check
    weight_json = shapes()
    if training is _TOO_LARGE:
        training = b""
    return 0, (str(version)[:4 * MAX_VERSION_CHARS].encode("unicode_escape") + b"\n" + training.replace(b"\n", b" ") + b"\n"
               + weight_json + b"\n" + raw)


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


_TOO_LARGE = b"\0too-large"


def max_readers() -> int:
    """HDF5 readers at once: one per core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def cancel_readers() -> None:
    """Kill the readers still running (the run is being stopped)."""
    _QUEUED.clear()
    _FAST.clear()
    _FAST_LATER.clear()
    for reader in list(_PENDING.values()):
        try:
            os.kill(reader.pid, signal.SIGKILL)
        except OSError:
            pass
    _PENDING.clear()


def prefetch_h5(path: Path) -> None:
    """Read an HDF5 file's architecture ahead (the CLI overlaps its imports): directly when the
    standard-library reader settles it, else in a background HDF5 reader; past one reader per core,
    the file waits for a free one."""
    key = str(path)
    if key in _PENDING or key in _QUEUED or key in _FAST or key in _FAST_LATER:
        return
    fast = _fast_h5(key)
    if fast is not None:
        if len(_FAST) < MAX_FAST_AHEAD:
            _FAST[key] = fast
        else:
            _FAST_LATER.add(key)  # read again when loaded: a folder of many files is not all kept parsed
        return
    if len(_PENDING) < max_readers():
        _PENDING[key] = _Reader(key)
    else:
        _QUEUED.append(key)


def _from_h5(path: Path) -> KerasFile:
    key = str(path)
    if key in _FAST:
        return _FAST.pop(key)
    _FAST_LATER.discard(key)
    if key not in _PENDING and key not in _QUEUED:
        fast = _fast_h5(key)
        if fast is not None:
            return fast
    return _from_h5_reader(path)


def _from_h5_reader(path: Path) -> KerasFile:
    """The architecture as the HDF5 library reads it, in a forked reader (the authority on odd files)."""
    key = str(path)
    if key in _QUEUED:
        _QUEUED.remove(key)
    if key not in _PENDING:
        _PENDING[key] = _Reader(key)
    code, output = _PENDING.pop(key).finish()
    while _QUEUED and len(_PENDING) < max_readers():
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
    return _file_from_payload(path, output)


def _file_from_payload(path: Path, output: bytes) -> KerasFile:
    version, _, rest = output.partition(b"\n")
    training, _, rest = rest.partition(b"\n")
    shapes, _, data = rest.partition(b"\n")
    try:
        compile_config = parse_json(training, "") if training.strip() else None
    except InputError:
        compile_config = None  # a damaged training config only costs the loss check
    return KerasFile(parse_json(data, f"{path} model_config"),
                     short_version(version.decode("unicode_escape", "replace")),
                     compile_config, _shapes(shapes))


# The fast path: the root attributes read by the standard-library reader (hdf5_attrs), without
# importing h5py or numpy. It settles a file only when the reader understood every byte it needed,
# the values are well-formed and no weight shapes are needed; anything else (an error to word, an
# odd layout, a Lambda or unknown layer) goes to the HDF5 reader above, exactly as before.
MAX_FAST_AHEAD = 64       # files read ahead by prefetch_h5 and kept parsed until loaded
_FAST: dict[str, KerasFile] = {}
_FAST_LATER: set[str] = set()  # settled by the fast path past MAX_FAST_AHEAD: no HDF5 reader started
_ROOT_ATTRIBUTES = {"model_config", "keras_version", "training_config"}


def _fast_h5(key: str) -> KerasFile | None:
    """The file as the HDF5 reader would give it, or None to ask the HDF5 reader."""
    from .hdf5_attrs import root_string_attributes

    found = root_string_attributes(key, _ROOT_ATTRIBUTES, MAX_CONFIG_BYTES)
    if found is None:
        return None

    def value(name: str, most: int):
        attribute = found.get(name)
        if attribute is None:
            return None
        return _TOO_LARGE if attribute.storage_size > most else attribute.as_h5py()

    code, payload = _payload(value("model_config", MAX_CONFIG_BYTES),
                             value("keras_version", 4 * MAX_VERSION_CHARS) or b"",
                             value("training_config", MAX_CONFIG_BYTES) or b"", lambda: b"{}")
    if code != 0:
        return None
    try:
        file = _file_from_payload(Path(key), payload)
    except InputError:
        return None
    return None if _needs_weight_shapes(file.config) else file


def _needs_weight_shapes(config: dict) -> bool:
    """Whether the analysis may use saved weight shapes: a Lambda or a layer class the advisor does not
    know, at any depth (their output shape is guessed, and the next layer's kernel settles it)."""
    from ..layer_types import layer_type
    from .keras_config import graph_from_config

    try:
        stack = list(graph_from_config(config).layers)
    except Exception:  # noqa: BLE001  (a malformed config: let the HDF5 reader give the whole file)
        return True
    while stack:
        spec = stack.pop()
        if spec.graph is not None:
            stack.extend(spec.graph.layers)
        elif spec.wrapped is not None:
            stack.extend(inner for inner in (spec.wrapped, spec.backward) if inner is not None)
        else:
            found = layer_type(spec.class_name)
            if found is None or found.opaque:
                return True
    return False


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
        for name in ("config.json", "metadata.json"):
            if names.count(name) > 1:
                raise InputError(f"{path}: .keras archive holds {names.count(name)} members named {name}; "
                                 "which one Keras would read is not defined, so none is read")
        config = parse_json(_member(archive, "config.json", path), f"{path} config.json")
        version = ""
        if "metadata.json" in names:
            try:
                version = short_version(parse_json(_member(archive, "metadata.json", path), "")
                                        .get("keras_version", ""))
            except InputError:
                version = ""
        shapes = _weights_of_archive(archive) if _has_opaque(config) else {}
    compile_config = config.get("compile_config")
    return KerasFile(config, version, compile_config if isinstance(compile_config, dict) else None, shapes)


def _member(archive: zipfile.ZipFile, name: str, path: Path) -> bytes:
    info = archive.getinfo(name)
    if info.flag_bits & 0x1:
        raise InputError(f"{path}: {name} in the archive is encrypted (ZipCrypto flag set); "
                         "a Keras save never is")
    if info.file_size > MAX_CONFIG_BYTES:
        raise InputError(f"{path}: {name} is {info.file_size:,} bytes uncompressed "
                         f"(limit {MAX_CONFIG_BYTES:,})")
    try:
        with archive.open(info) as member:
            data = member.read(MAX_CONFIG_BYTES + 1)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError, RuntimeError) as error:
        raise InputError(f"{path}: cannot read {name} from the archive ({_first_line(error)})") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise InputError(f"{path}: {name} expands past {MAX_CONFIG_BYTES:,} bytes")
    return data


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return text[0][:160] if text else type(error).__name__
