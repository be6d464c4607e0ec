"""Read the saved architecture out of .h5, .keras and .json files, as data."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from collections import deque
from pathlib import Path

from ..errors import InputError

MAX_CONFIG_BYTES = 64 * 2**20
MAX_VERSION_CHARS = 64          # a keras_version longer than this is cut before it is echoed
MAX_INT_DIGITS = 18             # every integer in a Keras config fits in int64
MAX_INT = 2**63 - 1


def read_keras_config(path: Path, fmt: str) -> tuple[dict, str]:
    """Return (model config dict, keras version string)."""
    if fmt == "h5":
        return _from_h5(path)
    if fmt == "keras":
        return _from_keras_zip(path)
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise InputError(f"{path}: architecture JSON over {MAX_CONFIG_BYTES:,} bytes")
    config = parse_json(path.read_bytes(), str(path))
    return config, short_version(config.get("keras_version", ""))


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


# The HDF5 C library can crash on damaged or hostile files, so the attribute is read in a child
# process with bounded memory and time; a crash there becomes a clear error here.
H5_CHILD = r"""
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
import h5py
limit, version_limit = int(sys.argv[2]), int(sys.argv[3])
def attribute(handle, name, most):
    # the stored size is checked before the value is read, so a 200 MB attribute costs nothing
    if name not in handle.attrs:
        return None
    if h5py.h5a.open(handle.id, name.encode()).get_storage_size() > most:
        return b"\0too-large"
    return handle.attrs.get(name)
try:
    handle = h5py.File(sys.argv[1], "r")
    raw = attribute(handle, "model_config", limit)
    version = attribute(handle, "keras_version", version_limit) or b""
except Exception as error:
    sys.stderr.write((str(error).strip().splitlines() or [type(error).__name__])[0][:160])
    sys.exit(3)
if raw is None:
    sys.exit(4)
if isinstance(raw, str):
    raw = raw.encode("utf-8", "surrogateescape")
if not isinstance(raw, bytes) or len(raw) > limit or raw == b"\0too-large":
    sys.exit(5)
if version == b"\0too-large":
    version = "(a keras_version attribute over %d bytes, not read)" % version_limit
if isinstance(version, bytes):
    version = version.decode("utf-8", "replace")
sys.stdout.buffer.write(str(version)[:version_limit].encode("unicode_escape") + b"\n" + raw)
"""
H5_TIMEOUT_S = 120
_PENDING: dict[str, subprocess.Popen] = {}   # reader processes started, by path
_QUEUED: deque[str] = deque()                # paths waiting for a free core


def max_readers() -> int:
    """HDF5 reader processes at once: one per core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _start(key: str) -> None:
    _PENDING[key] = subprocess.Popen([sys.executable, "-I", "-c", H5_CHILD, key, str(MAX_CONFIG_BYTES),
                                      str(4 * MAX_VERSION_CHARS)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _fill() -> None:
    while _QUEUED and len(_PENDING) < max_readers():
        key = _QUEUED.popleft()
        if key not in _PENDING:
            _start(key)


def prefetch_h5(path: Path) -> None:
    """Queue a background read of an HDF5 file's architecture (the CLI overlaps its imports).

    At most max_readers() readers run at once; the others wait for a free one.
    """
    key = str(path)
    if key not in _PENDING and key not in _QUEUED:
        _QUEUED.append(key)
    _fill()


def cancel_readers() -> None:
    _QUEUED.clear()
    for child in list(_PENDING.values()):
        child.kill()
    _PENDING.clear()


def _from_h5(path: Path) -> tuple[dict, str]:
    key = str(path)
    if key not in _PENDING:
        if key in _QUEUED:
            _QUEUED.remove(key)
        _start(key)
    child = _PENDING.pop(key)
    try:
        stdout, stderr = child.communicate(timeout=H5_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        child.kill()
        child.communicate()
        raise InputError(f"{path}: reading the HDF5 file took over {H5_TIMEOUT_S} s; it may be hostile") from None
    finally:
        _fill()
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
    version, _, data = done.stdout.partition(b"\n")
    return parse_json(data, f"{path} model_config"), short_version(version.decode("unicode_escape", "replace"))


def _from_keras_zip(path: Path) -> tuple[dict, str]:
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
    return config, version


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
