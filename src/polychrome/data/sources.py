"""Where training images come from: folders (recursive), globs, WebDataset-style tar shards, zip archives.

Every source yields :class:`Record` s (a stable name and a way to get the encoded bytes), so the rest of the
pipeline never cares where an image lives. Names are unique and stable (``shard.tar.gz/000123.jpg``), which
is what makes seeded splits reproducible.
"""

from __future__ import annotations

import glob
import os
import stat
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from polychrome._messages import os_error_reason, printable_name
from polychrome.images import SUPPORTED_EXTENSIONS

# Everything the image reader opens except GIF, whose palette graphics are no photos to learn color from.
IMAGE_SUFFIXES = SUPPORTED_EXTENSIONS - {".gif"}
TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")


@dataclass(frozen=True)
class Record:
    """One image: ``name`` identifies it across runs, ``data`` holds its encoded bytes (or None for a file
    path to be read in the worker, which keeps folders cheap to list). ``problem`` says why an entry found
    while listing cannot be read at all (``"symlink loop"``), so that it is counted and reported with the
    photos that fail to decode rather than left out unseen."""

    name: str
    path: str | None = None
    data: bytes | None = None
    problem: str | None = None

    def read(self) -> bytes:
        if self.data is not None:
            return self.data
        assert self.path is not None
        return Path(self.path).read_bytes()


def is_tar(path: str | Path) -> bool:
    return str(path).lower().endswith(TAR_SUFFIXES)


def _iter_tar(path: Path) -> Iterator[Record]:
    try:
        with tarfile.open(path, mode="r:*") as archive:
            for member in archive:
                if not member.isfile() or Path(member.name).suffix.lower() not in IMAGE_SUFFIXES:
                    continue
                handle = archive.extractfile(member)
                if handle is not None:
                    yield Record(name=f"{path.name}/{member.name}", data=handle.read())
    except (tarfile.TarError, EOFError, OSError) as err:
        raise ValueError(f"{printable_name(path)}: unreadable tar archive ({err})") from None


def _iter_zip(path: Path) -> Iterator[Record]:
    try:
        with zipfile.ZipFile(path) as archive:
            for info in sorted(archive.infolist(), key=lambda i: i.filename):
                name = info.filename
                hidden = any(part.startswith((".", "__MACOSX")) for part in Path(name).parts)
                if info.is_dir() or hidden or Path(name).suffix.lower() not in IMAGE_SUFFIXES:
                    continue
                yield Record(name=f"{path.name}/{name}", data=archive.read(info))
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        raise ValueError(f"{printable_name(path)}: unreadable zip archive ({err})") from None


def _iter_folder(root: Path) -> Iterator[Record]:
    """The images below ``root`` (hidden entries below it left out), in the order of their sorted paths;
    a folder that cannot be listed and an image name that cannot be opened (a symlink loop) are records with
    their ``problem``."""
    found: list[tuple[Path, str | None]] = []

    def unlisted(err: OSError) -> None:
        found.append((Path(err.filename), os_error_reason(err)))

    for directory, folders, files in os.walk(root, onerror=unlisted):
        folders[:] = [name for name in folders if not name.startswith(".")]
        for name in files:
            path = Path(directory, name)
            if name.startswith(".") or path.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            try:
                if stat.S_ISREG(os.stat(path).st_mode):
                    found.append((path, None))
            except FileNotFoundError:  # a dangling link, which names nothing to read
                continue
            except OSError as err:
                found.append((path, os_error_reason(err)))
    for path, problem in sorted(found):
        name = str(path.relative_to(root.parent))
        yield Record(name=name, path=str(path), problem=problem)


def expand_source(source: str | Path) -> list[Path]:
    """The files or folders a source string names: a path as is, or the sorted matches of a glob."""
    text = str(source)
    if any(ch in text for ch in "*?["):
        matches = sorted(Path(p) for p in glob.glob(text, recursive=True))
        if not matches:
            raise FileNotFoundError(f"{printable_name(text)}: the pattern matches no file")
        return matches
    path = Path(text)
    try:
        os.stat(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"{printable_name(text)}: no such file or folder") from None
    except OSError as err:
        raise ValueError(f"{printable_name(text)}: {os_error_reason(err)}") from None
    return [path]


def iter_records(sources: list[str] | tuple[str, ...]) -> Iterator[Record]:
    """Every image record of every source, in a deterministic order."""
    for source in sources:
        for path in expand_source(source):
            if path.is_dir():
                yield from _iter_folder(path)
            elif is_tar(path):
                yield from _iter_tar(path)
            elif path.suffix.lower() == ".zip":
                yield from _iter_zip(path)
            elif path.suffix.lower() in IMAGE_SUFFIXES:
                yield Record(name=path.name, path=str(path))
