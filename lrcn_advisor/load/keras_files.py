"""Read the saved architecture out of .h5, .keras and .json files, as data."""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

from ..errors import InputError

MAX_CONFIG_BYTES = 64 * 2**20


def read_keras_config(path: Path, fmt: str) -> tuple[dict, str]:
    """Return (model config dict, keras version string)."""
    if fmt == "h5":
        return _from_h5(path)
    if fmt == "keras":
        return _from_keras_zip(path)
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise InputError(f"{path}: architecture JSON over {MAX_CONFIG_BYTES:,} bytes")
    config = parse_json(path.read_bytes(), str(path))
    return config, str(config.get("keras_version", "")) if isinstance(config, dict) else ""


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


def _from_h5(path: Path) -> tuple[dict, str]:
    import h5py

    try:
        handle = h5py.File(path, "r")
    except Exception as error:  # h5py raises OSError and others for damaged files
        raise InputError(f"{path}: cannot open HDF5 file ({_first_line(error)}); "
                         "the file may be truncated or damaged") from None
    try:
        with handle:
            raw = handle.attrs.get("model_config")
            version = handle.attrs.get("keras_version", b"")
    except Exception as error:
        raise InputError(f"{path}: cannot read HDF5 attributes ({_first_line(error)})") from None
    if raw is None:
        raise InputError(f"{path}: HDF5 file has no 'model_config': not a saved Keras model "
                         "(a weights-only file? save with model.save() or pass the architecture .json)")
    if isinstance(raw, bytes):
        data = raw
    elif isinstance(raw, str):
        data = raw.encode("utf-8")
    else:
        raise InputError(f"{path}: 'model_config' is not text")
    if isinstance(version, bytes):
        version = version.decode("utf-8", "replace")
    return parse_json(data, f"{path} model_config"), str(version)


def _from_keras_zip(path: Path) -> tuple[dict, str]:
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
    return config, version


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
