"""Atomic file writes: the one way polychrome writes a file that a user or a resumed run depends on.

Data goes to a hidden temporary file beside the target, is flushed to disk, then renamed onto the target, so
an interrupted write never leaves a half-written file and never destroys the previous version. The temporary
file is created with mode 0o666 so the user's umask decides the permissions, as for any ordinary file.

A temporary file's name holds the id of the process writing it (``.photo.png.<pid>-<12 hex>.tmp``), so that
:func:`remove_stale_temporaries` can tell the leftovers of a killed process from a file being written now.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from polychrome._messages import os_error_reason, printable_name

logger = logging.getLogger(__name__)

# The longest file name of the usual file systems: 255 bytes (ext4, XFS, Btrfs, APFS), 255 UTF-16 units (NTFS)
_NAME_MAX = 255
_TEMPORARY_NAME = re.compile(r"\..*\.(?P<pid>[0-9]{1,9})-[0-9a-f]{12}\.tmp", re.DOTALL)


def _temporary_name(name: str) -> str:
    """A hidden name beside ``name`` that fits in a file name: ``name`` is shortened to leave room."""
    suffix = f".{os.getpid()}-{secrets.token_hex(6)}.tmp"
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


class WriteError(OSError):
    """A file could not be written. The message is one line, ``cannot write FILE (no space left on
    device)``; ``filename`` is the file the caller asked for, not a temporary one, and ``errno`` says why."""

    @classmethod
    def of(cls, path: str | Path, error: OSError) -> WriteError:
        if isinstance(error, WriteError):
            return error
        return cls(error.errno, error.strerror, os.fspath(path))

    @property
    def reason(self) -> str:
        return os_error_reason(self)

    def __str__(self) -> str:
        return f"cannot write {printable_name(self.filename)} ({self.reason})"


@contextmanager
def atomic_path(path: str | Path, temp_dir: str | Path | None = None) -> Iterator[Path]:
    """A temporary path to write ``path`` through, for writers that need a file name (HDF5).

    When the block ends normally the file is flushed to disk and renamed onto ``path``; when it raises, the
    temporary file is removed, and a failed system call (a full disk, a read-only file system, a folder that
    may not be written) is raised as a :class:`WriteError` that names ``path``. ``temp_dir`` (default:
    beside ``path``) must be on the same file system; a folder that a resumed run clears keeps the leftovers
    of a killed process out of the user's sight.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp_path, fd = _create_temp_beside(path, Path(temp_dir) if temp_dir is not None else path.parent)
    except OSError as err:
        raise WriteError.of(path, err) from err
    os.close(fd)
    try:
        yield tmp_path
        fd = os.open(tmp_path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp_path, path)
    except BaseException as err:
        tmp_path.unlink(missing_ok=True)
        if isinstance(err, OSError) and err.errno is not None:  # a system call failed: the disk said no
            raise WriteError.of(path, err) from err
        raise
    _sync_folder(path.parent)


def atomic_write(path: str | Path, write: Callable[[BinaryIO], None]) -> Path:
    """Call ``write(handle)`` on a temporary file, then move it onto ``path`` (parents created); a failed
    write raises :class:`WriteError`."""
    with atomic_path(path) as tmp_path, open(tmp_path, "wb") as handle:
        write(handle)
    return Path(path)


def _is_running(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)  # signal 0 only asks whether the process exists
    except ProcessLookupError:
        return False
    except OSError:  # it exists but belongs to another user, or the system will not say
        return True
    return True


def remove_stale_temporaries(folder: str | Path) -> list[Path]:
    """Remove the temporary files that processes which are no longer running left in ``folder`` (a writer
    killed by SIGKILL or a power cut never removes its own); returns them.

    Only files named as this module names them are considered, and only those of a process that no longer
    exists are removed: a live process may be writing its file right now. A process id is only meaningful
    on this machine, so do not call this on a folder that processes on other machines write into. Scans the
    folder once: call it once per output folder at the start of a batch, not once per file written. Does
    nothing where processes cannot be asked for (Windows) or the folder cannot be listed.

    Example:
        >>> remove_stale_temporaries("runs/checkpoints")  # doctest: +SKIP
        [PosixPath('runs/checkpoints/.last.safetensors.48213-6f1c0a9e2b7d.tmp')]
    """
    if os.name != "posix":  # os.kill(pid, 0) would send CTRL_C_EVENT on Windows
        return []
    removed: list[Path] = []
    try:
        with os.scandir(folder) as entries:
            stale = [
                entry.path
                for entry in entries
                if (match := _TEMPORARY_NAME.fullmatch(entry.name)) is not None
                and entry.is_file(follow_symlinks=False)
                and not _is_running(int(match["pid"]))
            ]
    except OSError:
        return []
    for path in stale:
        try:
            os.unlink(path)
        except OSError:
            continue
        removed.append(Path(path))
    if removed:
        logger.debug("removed %d temporary files of stopped processes in %s", len(removed), folder)
    return removed
