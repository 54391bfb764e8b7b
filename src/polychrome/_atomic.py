"""Atomic file writes: the one way polychrome writes a file that a user or a resumed run depends on.

Data goes to a hidden temporary file beside the target, is flushed to disk, then renamed onto the target, so
an interrupted write never leaves a half-written file and never destroys the previous version. The temporary
file is created with mode 0o666 so the user's umask decides the permissions, as for any ordinary file.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

# The longest file name of the usual file systems: 255 bytes (ext4, XFS, Btrfs, APFS), 255 UTF-16 units (NTFS)
_NAME_MAX = 255


def _temporary_name(name: str) -> str:
    """A hidden name beside ``name`` that fits in a file name: ``name`` is shortened to leave room."""
    suffix = f".{secrets.token_hex(6)}.tmp"
    room = _NAME_MAX - 1 - len(suffix)
    kept = name[:room]
    while len(os.fsencode(kept)) > room:  # cut whole characters, so the name stays valid UTF-8
        kept = kept[:-1]
    return f".{kept}{suffix}"


def _create_temp_beside(path: Path, folder: Path) -> tuple[Path, int]:
    while True:
        tmp_path = folder / _temporary_name(path.name)
        try:
            return tmp_path, os.open(tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue


def _sync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` survive power loss (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: str | Path, temp_dir: str | Path | None = None) -> Iterator[Path]:
    """A temporary path to write ``path`` through, for writers that need a file name (HDF5).

    When the block ends normally the file is flushed to disk and renamed onto ``path``; when it raises, the
    temporary file is removed. ``temp_dir`` (default: beside ``path``) must be on the same file system; a
    folder that a resumed run clears keeps the leftovers of a killed process out of the user's sight.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp_path, fd = _create_temp_beside(path, Path(temp_dir) if temp_dir is not None else path.parent)
    os.close(fd)
    try:
        yield tmp_path
        fd = os.open(tmp_path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise
    _sync_folder(path.parent)


def atomic_write(path: str | Path, write: Callable[[BinaryIO], None]) -> Path:
    """Call ``write(handle)`` on a temporary file, then move it onto ``path`` (parents created)."""
    with atomic_path(path) as tmp_path, open(tmp_path, "wb") as handle:
        write(handle)
    return Path(path)
