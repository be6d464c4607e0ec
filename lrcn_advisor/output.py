"""Writing outputs safely: atomic replacement, never over an input model."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .errors import AdvisorError


def write_atomic(path: Path, text: str, *, protect: list[Path] = ()) -> None:
    """Write `text` to `path` via a temporary file and rename; refuse to overwrite inputs."""
    path = Path(path)
    target = path.resolve()
    for item in protect:
        if target == Path(item).resolve():
            raise AdvisorError(f"{path}: refusing to overwrite an input model file")
    if target.is_dir():
        raise AdvisorError(f"{path}: is a directory")
    if target.exists() and not target.is_file():  # /dev/null, /dev/stdout, a FIFO: write through, never replace
        try:
            with target.open("w", encoding="utf-8", newline="") as stream:
                stream.write(text)
        except OSError as error:
            raise AdvisorError(f"{path}: cannot write ({error.strerror or error})") from None
        return
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        try:
            with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
                stream.write(text)
            os.chmod(temporary, _mode(target))  # mkstemp makes 0600; reports are meant to be shared
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    except OSError as error:
        raise AdvisorError(f"{path}: cannot write ({error.strerror or error})") from None


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
