"""polychrome._atomic: a file appears whole under its name or not at all."""

import errno
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from polychrome import _atomic
from polychrome._atomic import WriteError, atomic_path, atomic_write, remove_stale_temporaries

_WRITER = """
import sys, time
from polychrome._atomic import atomic_path
with atomic_path(sys.argv[1]) as tmp:
    tmp.write_bytes(b"half")
    print(tmp, flush=True)
    time.sleep(600)
"""


def _start_writer(target: Path) -> tuple[subprocess.Popen, Path]:
    """A process stopped in the middle of an atomic write of ``target``, and its temporary file."""
    writer = subprocess.Popen([sys.executable, "-c", _WRITER, str(target)], stdout=subprocess.PIPE, text=True)
    assert writer.stdout is not None
    return writer, Path(writer.stdout.readline().strip())


def test_atomic_path_renames_only_when_the_block_ends(tmp_path: Path) -> None:
    target = tmp_path / "out.h5"
    with atomic_path(target) as tmp:
        tmp.write_bytes(b"new")
        assert tmp.parent == tmp_path and tmp.name.startswith(".out.h5.") and not target.exists()
    assert target.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["out.h5"]


def test_atomic_path_keeps_the_old_file_when_the_writer_fails(tmp_path: Path) -> None:
    target = tmp_path / "out.h5"
    target.write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise KeyboardInterrupt
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.h5"]


def test_atomic_path_can_write_through_another_folder(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    with atomic_path(tmp_path / "out.h5", temp_dir=work) as tmp:
        assert tmp.parent == work
        tmp.write_bytes(b"data")
    assert (tmp_path / "out.h5").read_bytes() == b"data" and not any(work.iterdir())


def test_atomic_write_creates_parents(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b.txt"
    atomic_write(target, lambda handle: handle.write(b"text"))
    assert target.read_bytes() == b"text"


@pytest.mark.parametrize("name", ["a" * 250 + ".png", "é" * 125 + ".png", "\udcff" * 250 + ".png"])
def test_a_name_of_254_bytes_can_be_written(tmp_path: Path, name: str) -> None:
    target = tmp_path / name
    assert len(os.fsencode(target.name)) == 254
    with atomic_path(target) as tmp:
        assert len(os.fsencode(tmp.name)) <= 255 and tmp.name.endswith(".tmp")
        tmp.write_bytes(b"data")
    assert target.read_bytes() == b"data" and [p.name for p in tmp_path.iterdir()] == [name]


def test_temporaries_of_killed_writers_are_removed_and_those_of_live_ones_kept(tmp_path: Path) -> None:
    killed, killed_tmp = _start_writer(tmp_path / "a.png")
    live, live_tmp = _start_writer(tmp_path / "b.png")
    try:
        killed.send_signal(signal.SIGKILL)
        killed.wait()
        mine = tmp_path / ".notes.tmp"  # the user's, and the nameless leftovers of older versions
        mine.write_text("keep")
        (tmp_path / ".c.png.a1d8f4eb1234.tmp").write_text("keep")

        removed = remove_stale_temporaries(tmp_path)

        assert removed == [killed_tmp] and not killed_tmp.exists()
        assert live_tmp.read_bytes() == b"half" and mine.read_text() == "keep"
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
            [live_tmp.name, ".notes.tmp", ".c.png.a1d8f4eb1234.tmp"]
        )
    finally:
        live.kill()
        live.wait()


def test_removing_stale_temporaries_of_a_missing_folder_does_nothing(tmp_path: Path) -> None:
    assert remove_stale_temporaries(tmp_path / "nowhere") == []


def test_a_full_disk_names_the_file_that_could_not_be_written(tmp_path: Path) -> None:
    target = tmp_path / "out.png"
    target.write_bytes(b"old")

    def fill_the_disk(handle) -> None:
        handle.write(b"half")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(WriteError) as info:
        atomic_write(target, fill_the_disk)

    assert str(info.value) == f"cannot write {target} (no space left on device)"
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(target)
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["out.png"]


@pytest.mark.parametrize(
    ("code", "reason"), [(errno.EROFS, "read-only file system"), (errno.EACCES, "permission denied")]
)
def test_a_folder_that_cannot_take_a_new_file_names_the_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int, reason: str
) -> None:
    def refuse(path: Path, folder: Path):
        raise OSError(code, os.strerror(code), str(folder / ".out.png.1-0123456789ab.tmp"))

    monkeypatch.setattr(_atomic, "_create_temp_beside", refuse)
    with pytest.raises(WriteError, match=rf"^cannot write {tmp_path}/out\.png \({reason}\)$"):
        atomic_write(tmp_path / "out.png", lambda handle: handle.write(b"x"))


def test_errors_that_are_no_failed_system_call_pass_unchanged(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="bad pixels"), atomic_path(tmp_path / "out.png"):
        raise ValueError("bad pixels")
    with pytest.raises(OSError, match="cannot write mode P") as info, atomic_path(tmp_path / "out.png"):
        raise OSError("cannot write mode P as JPEG")  # PIL's way to refuse a mode, not the disk's
    assert not isinstance(info.value, WriteError) and list(tmp_path.iterdir()) == []
