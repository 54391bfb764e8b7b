"""A preparation killed part-way continues where it stopped and writes exactly what a straight run writes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

import polychrome
from polychrome.cli import app
from polychrome.data import prepare as prepare_module
from polychrome.data.cache import build_cache
from polychrome.data.prepare import PrepareOptions
from polychrome.data.resume import WorkFolder, work_folder
from polychrome.data.sources import iter_records
from tests.data.synthetic import smooth_photo

IMAGES = 300
CHUNK = 64  # build_cache's default, which the command uses

# Runs `polychrome prepare` with decoding slowed down, so that the test can kill it part-way; its decoding
# workers are forked, so they decode slowly too.
SLOW_PREPARE = """
import multiprocessing, sys, time
from polychrome.data import prepare
multiprocessing.set_start_method("fork", force=True)
decode = prepare._prepare_chunk
def slow(args):
    time.sleep(0.5)
    return decode(args)
prepare._prepare_chunk = slow
from polychrome.cli import app
app(sys.argv[1:])
"""


HOLD_LOCK = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.lockf(fd, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(60)
"""


def _children(pid: int) -> list[int]:
    """The processes ``pid`` started (Linux's /proc), or [] where that cannot be seen."""
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _running(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status  # a zombie has exited


def _photo(seed: int, h: int = 64, w: int = 72) -> np.ndarray:
    return smooth_photo(seed, h, w, max_frequency=3)


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A few hundred tiny photos, one of them unreadable."""
    root = tmp_path_factory.mktemp("photos")
    for i in range(IMAGES - 1):
        Image.fromarray(_photo(i)).save(root / f"{i:03d}.png")
    (root / "broken.jpg").write_bytes(b"not a photo")
    return root


@pytest.fixture(scope="module")
def few_photos(photos: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 100 of them: two chunks, quicker to prepare again and again."""
    root = tmp_path_factory.mktemp("few")
    for path in sorted(photos.iterdir())[:100]:
        (root / path.name).write_bytes(path.read_bytes())
    return root


def _args(photos: Path, out: Path, *extra: str, workers: int = 1) -> list[str]:
    return ["prepare", str(photos), "-o", str(out), "--size", "64", "--workers", str(workers), *extra]


def _straight(photos: Path, out: Path, *extra: str) -> bytes:
    result = CliRunner().invoke(app, _args(photos, out, *extra))
    assert result.exit_code == 0, result.output
    return out.read_bytes()


def _count_decoding(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    decoded: list[str] = []
    prepare_one = prepare_module.prepare_one

    def counted(record, options):
        decoded.append(record.name)
        return prepare_one(record, options)

    monkeypatch.setattr(prepare_module, "prepare_one", counted)
    return decoded


def _interrupt_after(chunks: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Stop the next preparation with Ctrl-C once ``chunks`` chunks are saved."""
    save = WorkFolder.save

    def save_then_stop(self, index, records, results):
        save(self, index, records, results)
        if len(list(self.path.glob("chunk-*.npz"))) == chunks:
            raise KeyboardInterrupt

    monkeypatch.setattr(WorkFolder, "save", save_then_stop)


def test_a_killed_run_continues_where_it_stopped_and_writes_the_same_bytes(
    photos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "resumed" / "cache.h5"
    partial = work_folder(out)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(polychrome.__file__).parents[1])])}
    process = subprocess.Popen(
        [sys.executable, "-c", SLOW_PREPARE, *_args(photos, out, workers=2)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while len(list(partial.glob("chunk-*.npz"))) < 2 and process.poll() is None:
        assert time.monotonic() < deadline, "the preparation showed no progress"
        time.sleep(0.02)
    workers = _children(process.pid)
    assert len(workers) == 2 or not Path("/proc").is_dir()
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL  # killed, not finished
    done = len(list(partial.glob("chunk-*.npz")))
    assert 2 <= done < -(-IMAGES // CHUNK) and not out.exists()

    decoded = _count_decoding(monkeypatch)
    result = CliRunner().invoke(app, _args(photos, out))  # at once: lingering workers hold no lock
    assert result.exit_code == 0, result.output
    assert "continuing" in result.stderr
    assert len(decoded) == IMAGES - done * CHUNK  # nothing decoded twice
    monkeypatch.undo()
    try:
        while any(_running(pid) for pid in workers):  # the killed run's workers leave too
            assert time.monotonic() < deadline, "decoding workers outlived their killed parent"
            time.sleep(0.1)
    finally:
        for pid in filter(_running, workers):
            os.kill(pid, signal.SIGKILL)

    assert out.read_bytes() == _straight(photos, tmp_path / "straight.h5")
    assert not partial.exists()


def test_a_different_command_refuses_the_unfinished_work_until_restart(
    few_photos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "cache.h5"
    partial = work_folder(out)
    with monkeypatch.context() as patch:
        _interrupt_after(2, patch)
        result = CliRunner().invoke(app, _args(few_photos, out))
    assert result.exit_code == 130 and "run the same command again" in result.stderr
    kept = {p.name: p.read_bytes() for p in partial.iterdir()}

    changes = {"--size 96": "image_size was 64, now 96", "--gray-chroma 3": "gray_chroma was 2.0, now 3.0"}
    for extra, difference in changes.items():
        refused = CliRunner().invoke(app, [*_args(few_photos, out), *extra.split()])
        assert refused.exit_code == 1 and not out.exists()
        message = refused.stderr.replace("\n", " ")
        assert str(partial) in message and difference in message and "--restart" in message
        assert {p.name: p.read_bytes() for p in partial.iterdir()} == kept  # untouched

    decoded = _count_decoding(monkeypatch)
    result = CliRunner().invoke(app, [*_args(few_photos, out), "--size", "96", "--restart"])
    assert result.exit_code == 0, result.output
    assert len(decoded) == 100  # everything decoded afresh
    monkeypatch.undo()
    assert out.read_bytes() == _straight(few_photos, tmp_path / "straight.h5", "--size", "96")


def test_options_that_do_not_change_the_decoded_images_may_change_on_resume(
    few_photos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "cache.h5"
    with monkeypatch.context() as patch:
        _interrupt_after(1, patch)
        assert CliRunner().invoke(app, _args(few_photos, out)).exit_code == 130
    extra = ["--seed", "7", "--split", "0.6", "0.2", "0.2", "--no-dedup", "--bins"]
    decoded = _count_decoding(monkeypatch)
    assert CliRunner().invoke(app, [*_args(few_photos, out), *extra]).exit_code == 0
    assert len(decoded) == 100 - CHUNK
    monkeypatch.undo()
    assert out.read_bytes() == _straight(few_photos, tmp_path / "straight.h5", *extra)


def test_a_chunk_whose_files_changed_or_that_is_damaged_or_wrong_is_decoded_again(
    photos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "photos"
    source.mkdir()
    for path in sorted(photos.iterdir())[:40]:
        (source / path.name).write_bytes(path.read_bytes())
    out = tmp_path / "cache.h5"
    options = PrepareOptions(64, 32)

    def build(target: Path) -> None:
        build_cache(iter_records([str(source)]), target, options, sources=["photos"], workers=1, chunk=8)

    with monkeypatch.context() as patch:
        _interrupt_after(4, patch)
        with pytest.raises(KeyboardInterrupt):
            build(out)
    Image.fromarray(_photo(1000)).save(source / "003.png")  # chunk 0 changes
    chunk = work_folder(out) / "chunk-000001.npz"
    with np.load(chunk) as stored:  # readable, its inputs unchanged, but images of another size
        np.savez(chunk, **{**stored, "images": np.zeros((8, 32, 32, 3), np.uint8)})
    (work_folder(out) / "chunk-000002.npz").write_bytes(b"damaged")

    decoded = _count_decoding(monkeypatch)
    build(out)
    assert sorted(decoded) == [f"photos/{i:03d}.png" for i in [*range(24), *range(32, 40)]]
    monkeypatch.undo()
    build(tmp_path / "straight.h5")
    assert out.read_bytes() == (tmp_path / "straight.h5").read_bytes()


def test_a_work_folder_locked_by_another_process_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "cache.h5"
    work_folder(out).mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(work_folder(out) / "lock")], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        with pytest.raises(ValueError, match="another `polychrome prepare` is writing"):
            WorkFolder.open(out, {"image_size": 64})
    finally:
        holder.kill()
        holder.wait()
    with WorkFolder.open(out, {"image_size": 64}):  # free once its holder died
        pass


def test_two_runs_never_share_a_work_folder(tmp_path: Path) -> None:
    out = tmp_path / "cache.h5"
    with (
        WorkFolder.open(out, {"image_size": 64}),
        pytest.raises(ValueError, match="another `polychrome prepare` is writing"),
    ):
        WorkFolder.open(out, {"image_size": 64})
    with WorkFolder.open(out, {"image_size": 64}) as again:  # released when the first closed
        assert again.path == work_folder(out)
