"""Writing outputs safely: atomic replacement, never over an input model, never through a symlink.

A checkout that a pull request controls can commit `lrcn-reports` (or `lrcn-reports/x.html`, or the
SARIF path) as a symlink to a file outside the work tree. So no component of the output path may be a
symlink: the write is refused with one line. Devices such as /dev/null and /dev/stdout are the
exception: they are written through, never replaced.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .errors import AdvisorError

_PARTIAL: set[str] = set()  # temporary files being written, removed if the run is stopped mid-write


def discard_partial_writes() -> None:
    """Remove the temporary files of writes still in progress (the run is being stopped)."""
    for temporary in list(_PARTIAL):
        try:
            os.unlink(temporary)
        except OSError:
            pass
        _PARTIAL.discard(temporary)


def write_atomic(path: Path, text: str, *, protect: list[Path] = ()) -> None:
    """Write `text` to `path` via a temporary file and rename; refuse to overwrite inputs."""
    path = Path(path)
    if _is_device(path):
        _write_through(path, text)
        return
    _refuse_symlinks(path)
    target = path.resolve()
    for item in protect:
        if target == Path(item).resolve():
            raise AdvisorError(f"{path}: refusing to overwrite an input model file")
    if target.is_dir():
        raise AdvisorError(f"{path}: is a directory")
    if target.exists() and not target.is_file():  # a FIFO, a device: write through, never replace
        _write_through(target, text)
        return
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        _PARTIAL.add(temporary)
        try:
            with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
                stream.write(text)
            os.chmod(temporary, _mode(target))  # mkstemp makes 0600; reports are meant to be shared
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        finally:
            _PARTIAL.discard(temporary)
    except OSError as error:
        raise AdvisorError(f"{path}: cannot write ({error.strerror or error})") from None


def _is_device(path: Path) -> bool:
    """/dev/null, /dev/stdout, /dev/fd/N: a device path, where the symlinks are the system's own."""
    parts = path.absolute().parts
    return len(parts) > 2 and parts[1] == "dev"


def _write_through(path: Path, text: str) -> None:
    try:
        with path.open("w", encoding="utf-8", newline="") as stream:
            stream.write(text)
    except OSError as error:
        raise AdvisorError(f"{path}: cannot write ({error.strerror or error})") from None


def _refuse_symlinks(path: Path) -> None:
    """Refuse when the path, or any folder on it as written, is a symlink.

    A relative path is checked from the current folder down; an absolute one from the root, except
    the current folder and its parents (where the user chose to work).
    """
    here = Path.cwd()
    current = Path(path.anchor) if path.is_absolute() else Path()
    for part in path.parts[1:] if path.is_absolute() else path.parts:
        current = current / part
        if part in ("", ".") or (current.is_absolute() and (current == here or current in here.parents)):
            continue
        if current.is_symlink():
            where = "is a symlink" if current == path else f"passes through the symlink {current}"
            raise AdvisorError(f"{path}: refusing to write: the output path {where} "
                               f"(to {os.readlink(current)}); write to a real folder instead")


def _mode(target: Path) -> int:
    """The existing file's mode, else 0666 less the umask (what open() would have given)."""
    try:
        return target.stat().st_mode & 0o777
    except OSError:
        mask = os.umask(0)
        os.umask(mask)
        return 0o666 & ~mask


def repo_relative(path: Path) -> str:
    """Path relative to the enclosing git work tree (or the current folder), with '/' separators."""
    resolved = path.resolve()
    for folder in [resolved.parent, *resolved.parent.parents]:
        if (folder / ".git").exists():
            return resolved.relative_to(folder).as_posix()
    try:
        return resolved.relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return path.as_posix()
