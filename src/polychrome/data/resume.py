"""A preparation in progress, kept beside its cache so that a killed run continues where it stopped.

``<cache>.partial/`` is the work folder of ``polychrome prepare -o <cache>``:

- ``progress.json``: what the decoded images depend on (sources, layout, decode options, chunk size and
  :func:`~polychrome.data.prepare.decoder_version`). A run that differs in any of them refuses the folder
  rather than mix two preparations in one cache;
- ``chunk-000012.npz``: the results of the 13th chunk of records (kept images, every name, drop reasons) and
  a digest of those records (each name with the size and modification time of its file, or a hash of the
  bytes read from an archive), so a chunk whose inputs changed since is decoded again;
- ``lock``: locked by the running process, so two runs never write one folder.

Every file is written atomically, so a kill (Ctrl-C, SIGKILL, power loss) loses at most the chunks being
decoded. The finished cache is written through this folder, renamed onto its name, and the folder removed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import zipfile
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from polychrome._atomic import WriteError, atomic_write
from polychrome.data.prepare import Decoded
from polychrome.data.sources import Record

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; one run at a time is then up to the user
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)

WORK_FORMAT = 1
PROGRESS = "progress.json"


def work_folder(output: str | Path) -> Path:
    """The work folder of the cache ``output``: ``data.h5`` -> ``data.h5.partial``."""
    output = Path(output)
    return output.with_name(output.name + ".partial")


def records_digest(records: list[Record]) -> str:
    """Identity of a chunk's inputs: names, and the size and modification time of files (reading every file
    twice would cost more than decoding a few again) or a hash of bytes already in memory."""
    digest = hashlib.sha256()
    for record in records:
        digest.update(record.name.encode("utf-8", "surrogateescape") + b"\0")
        if record.data is not None:
            digest.update(hashlib.sha256(record.data).digest())
        else:
            try:
                stat = os.stat(record.path or "")
                digest.update(f"{stat.st_size} {stat.st_mtime_ns}".encode())
            except OSError:
                digest.update(b"missing")
        digest.update(b"\n")
    return digest.hexdigest()


def _differences(old: dict[str, Any], new: dict[str, Any]) -> str:
    keys = sorted(set(old) | set(new))
    return "; ".join(f"{k} was {old.get(k)!r}, now {new.get(k)!r}" for k in keys if old.get(k) != new.get(k))


_HELD: set[Path] = set()  # work folders this process has open (POSIX locks do not exclude their own process)


def _lock(path: Path, message: str) -> int:
    """An open descriptor holding an exclusive lock on ``path``; ValueError(``message``) if it is taken.

    A POSIX record lock belongs to this process alone: decoding workers forked from it do not hold it, so
    it is free the moment this process dies, even when killed while its workers linger."""
    if path.resolve() in _HELD:
        raise ValueError(message)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    if fcntl is not None:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise ValueError(message) from None
    _HELD.add(path.resolve())
    return fd


class WorkFolder:
    """The work folder of one cache, locked while open; a :class:`~polychrome.data.prepare.ChunkStore`."""

    def __init__(self, path: Path, fingerprint: dict[str, Any], lock_fd: int) -> None:
        self.path = path
        self.fingerprint = fingerprint
        self._lock_fd: int | None = lock_fd
        self._lock_key = (path / "lock").resolve()

    @classmethod
    def open(cls, output: str | Path, fingerprint: dict[str, Any], restart: bool = False) -> WorkFolder:
        """Open (or start) the work folder of ``output`` for a preparation described by ``fingerprint``.

        Raises ValueError when another process holds the folder, or when it holds the unfinished work of a
        different preparation and ``restart`` is false (with ``restart`` that work is discarded);
        :class:`~polychrome._atomic.WriteError` when the folder cannot be made.
        """
        # as progress.json will read it back (tuples become lists), so that equal preparations compare equal
        fingerprint = json.loads(json.dumps({"work_format": WORK_FORMAT, **fingerprint}))
        path = work_folder(output)
        try:
            path.mkdir(parents=True, exist_ok=True)
            fd = _lock(
                path / "lock", f"{output}: another `polychrome prepare` is writing it ({path} is locked)"
            )
        except OSError as err:
            raise WriteError.of(path, err) from err
        folder = cls(path, fingerprint, fd)
        try:
            folder._start(output, restart)
        except BaseException:
            folder.close()
            folder._remove_if_nothing_decoded()
            raise
        return folder

    def _start(self, output: str | Path, restart: bool) -> None:
        for stale in self.path.glob(".*.tmp"):  # left by a process killed while writing a file
            stale.unlink()
        progress = self.path / PROGRESS
        chunks = sorted(self.path.glob("chunk-*.npz"))
        if progress.is_file() and not restart:
            try:
                recorded = json.loads(progress.read_text())
            except (OSError, ValueError) as err:
                raise ValueError(
                    f"{self.path}: unreadable progress record ({err}); pass --restart to start over"
                ) from None
            if recorded != self.fingerprint:
                raise ValueError(
                    f"{self.path} holds the unfinished preparation of {output} by a different command "
                    f"({_differences(recorded, self.fingerprint)}); run that command again to continue "
                    "it, or pass --restart to discard it"
                )
            if chunks:
                logger.info("%s: continuing, %d chunks already decoded", self.path, len(chunks))
            return
        for chunk in chunks:
            chunk.unlink()
        text = json.dumps(self.fingerprint, indent=1, sort_keys=True)
        atomic_write(progress, lambda handle: handle.write(text.encode()))

    def _chunk_path(self, index: int) -> Path:
        return self.path / f"chunk-{index:06d}.npz"

    def load(self, index: int, records: list[Record]) -> list[Decoded] | None:
        path = self._chunk_path(index)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as stored:
                if str(stored["digest"]) != records_digest(records):
                    logger.warning("%s: its input files changed since; decoding them again", path.name)
                    return None
                names, reasons, images = stored["names"], stored["reasons"], stored["images"]
            size = int(self.fingerprint["image_size"])
            if images.dtype != np.uint8 or images.shape[1:] != (size, size, 3) or len(names) != len(reasons):
                raise ValueError("arrays of the wrong shape")
            if len(images) != sum(not reason for reason in reasons):
                raise ValueError("as many images as kept names expected")
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
            logger.warning("%s: unreadable (%s); decoding it again", path, err)
            return None
        kept = iter(images)
        return [
            (str(name), None, str(reason)) if reason else (str(name), next(kept), None)
            for name, reason in zip(names, reasons, strict=True)
        ]

    def save(self, index: int, records: list[Record], results: list[Decoded]) -> None:
        size = int(self.fingerprint["image_size"])
        kept = [array for _, array, _ in results if array is not None]
        arrays = {
            "digest": np.array(records_digest(records)),
            "names": np.array([name for name, _, _ in results], dtype=str),
            "reasons": np.array([reason or "" for _, _, reason in results], dtype=str),
            "images": np.stack(kept) if kept else np.zeros((0, size, size, 3), np.uint8),
        }
        atomic_write(self._chunk_path(index), lambda handle: np.savez(handle, **arrays))

    def remove(self) -> None:
        """Delete the folder: its cache is complete."""
        shutil.rmtree(self.path)

    def close(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the lock
            _HELD.discard(self._lock_key)
            self._lock_fd = None

    def __enter__(self) -> WorkFolder:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()
        if error is not None:
            self._remove_if_nothing_decoded()

    def _remove_if_nothing_decoded(self) -> None:
        # A preparation that failed before it decoded anything leaves nothing worth continuing.
        if self.path.is_dir() and not any(self.path.glob("chunk-*.npz")):
            shutil.rmtree(self.path, ignore_errors=True)
