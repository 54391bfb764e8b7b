"""Planning and running batches over real (tiny) files, with fake "process one file" callables."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from polychrome._atomic import remove_stale_temporaries
from polychrome.pipelines import batch
from polychrome.pipelines.batch import BatchReport, Job, normalize_suffix, plan_jobs, run_jobs


def _image(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", (6, 4), 128).save(path)
    return path


def _touch(path: Path, text: str = "x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _pairs(jobs: list[Job], base: Path) -> list[tuple[str, str]]:
    return [
        (job.source.relative_to(base).as_posix(), job.output.relative_to(base).as_posix()) for job in jobs
    ]


# --- plan_jobs ----------------------------------------------------------------------------------------


def test_folder_is_walked_recursively_and_mirrored(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    for name in ["b.jpg", "a/b.JPG", "a/c/d.png", "a/e.tif"]:
        _image(photos / name)
    _touch(photos / "notes.txt")
    _image(photos / ".hidden.jpg")
    _image(photos / ".cache" / "x.jpg")

    jobs, problems = plan_jobs([photos], tmp_path / "out")

    assert problems == []
    assert _pairs(jobs, tmp_path) == [
        ("photos/b.jpg", "out/b.jpg"),
        ("photos/a/b.JPG", "out/a/b.JPG"),
        ("photos/a/e.tif", "out/a/e.tif"),
        ("photos/a/c/d.png", "out/a/c/d.png"),
    ]


def test_output_folder_inside_the_input_folder_is_not_walked(tmp_path: Path) -> None:
    _image(tmp_path / "photos" / "a.jpg")
    _image(tmp_path / "photos" / "colorized" / "a.jpg")  # last run's output

    jobs, problems = plan_jobs([tmp_path / "photos"], tmp_path / "photos" / "colorized", suffix="png")

    assert problems == []
    assert _pairs(jobs, tmp_path) == [("photos/a.jpg", "photos/colorized/a.png")]


def test_glob_matches_go_straight_into_the_output_folder(tmp_path: Path) -> None:
    for name in ["scans/1.jpg", "scans/deep/2.jpg", "scans/deep/3.png", "scans/deep/skip.txt"]:
        (_image if name.endswith(("jpg", "png")) else _touch)(tmp_path / name)

    jobs, problems = plan_jobs([str(tmp_path / "scans" / "**" / "*.jpg")], tmp_path / "out")

    assert problems == []
    assert _pairs(jobs, tmp_path) == [("scans/1.jpg", "out/1.jpg"), ("scans/deep/2.jpg", "out/2.jpg")]


def test_glob_matching_nothing_is_a_problem_not_an_error(tmp_path: Path) -> None:
    _image(tmp_path / "a.jpg")
    _touch(tmp_path / "b.txt")
    pattern_none, pattern_text = str(tmp_path / "*.webp"), str(tmp_path / "*.txt")

    jobs, problems = plan_jobs([pattern_none, pattern_text, tmp_path / "a.jpg"], tmp_path / "out")

    assert _pairs(jobs, tmp_path) == [("a.jpg", "out/a.jpg")]
    assert problems == [(pattern_none, "matched nothing"), (pattern_text, "matched no image files")]


def test_single_file_to_output_file(tmp_path: Path) -> None:
    source = _image(tmp_path / "old.jpg")

    jobs, problems = plan_jobs([source], tmp_path / "new" / "color.PNG")

    assert problems == []
    assert jobs == [Job(source, tmp_path / "new" / "color.PNG")]


def test_single_file_to_output_folder(tmp_path: Path) -> None:
    source = _image(tmp_path / "old.jpg")

    jobs, _ = plan_jobs([source], tmp_path / "out")

    assert jobs == [Job(source, tmp_path / "out" / "old.jpg")]


def test_output_named_like_a_file_is_never_silently_made_a_folder(tmp_path: Path) -> None:
    a, b = _image(tmp_path / "a.jpg"), _image(tmp_path / "b.jpg")

    with pytest.raises(ValueError, match="names one image file"):
        plan_jobs([a, b], tmp_path / "out.png")
    with pytest.raises(ValueError, match="cannot write '.heic' files"):
        plan_jobs([a], tmp_path / "out.heic")
    assert not (tmp_path / "out.png").exists() and not (tmp_path / "out.heic").exists()

    (tmp_path / "out.png").mkdir()  # a folder that already exists may have any name
    jobs, _ = plan_jobs([a, b], tmp_path / "out.png")
    assert [job.output for job in jobs] == [tmp_path / "out.png" / "a.jpg", tmp_path / "out.png" / "b.jpg"]


@pytest.mark.parametrize("suffix", [".png", "png", "PNG", ".Png"])
def test_suffix_changes_the_output_extension(tmp_path: Path, suffix: str) -> None:
    _image(tmp_path / "photos" / "a" / "b.jpg")

    jobs, _ = plan_jobs([tmp_path / "photos"], tmp_path / "out", suffix=suffix)

    assert [job.output for job in jobs] == [tmp_path / "out" / "a" / "b.png"]


def test_unknown_suffix_and_contradicting_output_file_are_usage_errors(tmp_path: Path) -> None:
    source = _image(tmp_path / "a.jpg")
    with pytest.raises(ValueError, match="unsupported output format"):
        plan_jobs([source], tmp_path / "out", suffix="psd")
    with pytest.raises(ValueError, match="does not end in .png"):
        plan_jobs([source], tmp_path / "out.jpg", suffix="png")
    _touch(tmp_path / "existing.txt")
    with pytest.raises(ValueError, match="existing file"):
        plan_jobs([source, source], tmp_path / "existing.txt")


def test_gif_is_read_but_written_as_png(tmp_path: Path) -> None:
    source = _image(tmp_path / "anim.gif")
    jobs, _ = plan_jobs([source], tmp_path / "out")
    assert jobs == [Job(source, tmp_path / "out" / "anim.png")]
    with pytest.raises(ValueError, match="unsupported output format"):
        plan_jobs([source], tmp_path / "out", suffix="gif")
    with pytest.raises(ValueError, match="unsupported output format"):
        plan_jobs([source], tmp_path / "copy.gif")


def test_normalize_suffix() -> None:
    assert normalize_suffix(" JPG ") == ".jpg"
    with pytest.raises(ValueError):
        normalize_suffix("")


def test_missing_input_is_reported_and_the_rest_is_planned(tmp_path: Path) -> None:
    good = _image(tmp_path / "a.jpg")
    missing = str(tmp_path / "nope.jpg")

    jobs, problems = plan_jobs([missing, good], tmp_path / "out")

    assert [job.source for job in jobs] == [good]
    assert problems == [(missing, "no such file or directory")]


def test_missing_single_input_with_file_output_is_reported(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.jpg")
    jobs, problems = plan_jobs([missing], tmp_path / "out.jpg")
    assert jobs == []
    assert problems == [(missing, "no such file or directory")]


def test_unsupported_file_and_empty_folder_are_reported(tmp_path: Path) -> None:
    text = _touch(tmp_path / "notes.txt")
    (tmp_path / "empty").mkdir()

    jobs, problems = plan_jobs([text, tmp_path / "empty"], tmp_path / "out")

    assert jobs == []
    assert [item for item, _ in problems] == [str(text), str(tmp_path / "empty")]
    assert "not a supported image type ('.txt')" in problems[0][1]
    assert "folder contains no images" in problems[1][1]


def _symlink_loop(path: Path) -> Path:
    """`path` and a sibling that link to each other: neither can be opened."""
    path.parent.mkdir(parents=True, exist_ok=True)
    other = path.with_name("other-" + path.name)
    path.symlink_to(other.name)
    other.symlink_to(path.name)
    return path


def test_a_symlink_loop_in_a_folder_is_one_problem_and_the_rest_is_planned(tmp_path: Path) -> None:
    good = _image(tmp_path / "photos" / "a.jpg")
    loop = _symlink_loop(tmp_path / "photos" / "sub" / "loop.jpg")

    jobs, problems = plan_jobs([tmp_path / "photos"], tmp_path / "out")

    assert [job.source for job in jobs] == [good]
    assert problems == [(str(loop), "symlink loop"), (str(loop.with_name("other-loop.jpg")), "symlink loop")]


def test_an_unreadable_folder_is_one_problem_and_the_rest_is_planned(
    tmp_path: Path, unreadable: Callable[[Path], Path]
) -> None:
    good = _image(tmp_path / "photos" / "a.jpg")
    _image(tmp_path / "photos" / "locked" / "b.jpg")
    locked = unreadable(tmp_path / "photos" / "locked")

    jobs, problems = plan_jobs([tmp_path / "photos"], tmp_path / "out")

    assert [job.source for job in jobs] == [good]
    assert problems == [(str(locked), "permission denied")]


@pytest.mark.parametrize("output", ["out", "out.png"])
def test_a_symlink_loop_named_directly_or_by_a_glob_says_so(tmp_path: Path, output: str) -> None:
    loop = _symlink_loop(tmp_path / "loop.jpg")

    assert plan_jobs([loop], tmp_path / output) == ([], [(str(loop), "symlink loop")])
    jobs, problems = plan_jobs([str(tmp_path / "l*.jpg")], tmp_path / "out")
    assert jobs == [] and problems == [(str(loop), "symlink loop")]


def test_output_equal_to_source_is_never_planned(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    a = _image(photos / "a.jpg")

    jobs, problems = plan_jobs([photos], photos)
    assert jobs == []
    assert problems == [(str(a), "the output would replace this original; choose another output")]

    jobs, problems = plan_jobs([a], a)  # single file -> the same file
    assert jobs == []
    assert len(problems) == 1


def test_output_that_is_another_original_is_never_planned(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    jpg, png = _image(photos / "a.jpg"), _image(photos / "a.png")

    jobs, problems = plan_jobs([photos], photos, suffix="png")  # a.jpg -> a.png, the user's own a.png

    assert jobs == []
    assert problems[0] == (str(jpg), f"would overwrite the original {png}; choose another output")
    assert problems[1][0] == str(png)


def test_two_inputs_colliding_on_one_output_are_reported(tmp_path: Path) -> None:
    first, second = _image(tmp_path / "x" / "photo.jpg"), _image(tmp_path / "y" / "photo.jpg")

    jobs, problems = plan_jobs([first, second], tmp_path / "out")

    assert jobs == [Job(first, tmp_path / "out" / "photo.jpg")]
    assert len(problems) == 1
    item, reason = problems[0]
    assert item == str(second)
    assert reason.startswith(f"would overwrite the output of {first}")


def test_same_photo_named_twice_is_planned_once(tmp_path: Path) -> None:
    a = _image(tmp_path / "a.jpg")

    jobs, problems = plan_jobs([a, str(tmp_path / "*.jpg")], tmp_path / "out")

    assert problems == []
    assert jobs == [Job(a, tmp_path / "out" / "a.jpg")]


def test_literal_name_with_glob_characters_is_a_file(tmp_path: Path) -> None:
    odd = _image(tmp_path / "scan[1].jpg")
    jobs, problems = plan_jobs([str(odd)], tmp_path / "out")
    assert problems == []
    assert [job.source for job in jobs] == [odd]


# --- run_jobs -----------------------------------------------------------------------------------------


def _copy(job: Job) -> None:
    job.output.write_bytes(job.source.read_bytes())


def test_run_processes_skips_existing_and_creates_folders(tmp_path: Path) -> None:
    a, b = _touch(tmp_path / "a.jpg", "A"), _touch(tmp_path / "b.jpg", "B")
    existing = _touch(tmp_path / "out" / "b.jpg", "old")
    jobs = [Job(a, tmp_path / "out" / "deep" / "a.jpg"), Job(b, existing)]
    seen: list[tuple[str, str]] = []

    report = run_jobs(jobs, _copy, on_progress=lambda job, status: seen.append((job.source.name, status)))

    assert report.done == [jobs[0]] and report.skipped == [jobs[1]] and report.failed == []
    assert report.ok
    assert (tmp_path / "out" / "deep" / "a.jpg").read_text() == "A"
    assert existing.read_text() == "old"
    assert seen == [("a.jpg", "done"), ("b.jpg", "skipped")]


def test_overwrite_replaces_existing_outputs(tmp_path: Path) -> None:
    job = Job(_touch(tmp_path / "a.jpg", "new"), _touch(tmp_path / "out.jpg", "old"))

    report = run_jobs([job], _copy, overwrite=True)

    assert report.done == [job]
    assert job.output.read_text() == "new"


def test_a_failure_is_recorded_and_the_batch_goes_on(tmp_path: Path) -> None:
    jobs = [Job(tmp_path / f"{name}.jpg", tmp_path / "out" / f"{name}.png") for name in "abc"]
    for job in jobs:
        _touch(job.source)

    def process(job: Job) -> None:
        if job.source.name == "b.jpg":
            job.output.write_text("half a photo")
            raise ValueError("cannot decode\n  second line")
        _copy(job)

    statuses: list[str] = []
    report = run_jobs(jobs, process, on_progress=lambda job, status: statuses.append(status))

    assert not report.ok
    assert report.done == [jobs[0], jobs[2]]
    assert report.failed == [(str(jobs[1].source), f"{jobs[1].source}: cannot decode; second line")]
    assert statuses == ["done", "failed", "done"]
    assert not jobs[1].output.exists()  # a later run must not skip a half-written output as done


def test_failure_reason_does_not_repeat_a_file_name_the_message_already_has(tmp_path: Path) -> None:
    class FakeReadError(Exception):
        pass

    source = tmp_path / "bad.jpg"

    def process(job: Job) -> None:
        raise FakeReadError(f"{job.source}: not an image (cannot identify image file)")

    report = run_jobs([Job(source, tmp_path / "out.jpg")], process)

    assert report.failed == [(str(source), f"{source}: not an image (cannot identify image file)")]


def test_an_unwritable_output_folder_is_named_and_found_before_the_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, out = tmp_path / "big.jpg", tmp_path / "ro" / "big.jpg"
    _touch(source)
    (tmp_path / "ro").mkdir()
    worked: list[Job] = []
    real_access = os.access
    # A read-only mount: access() says no (root ignores permission bits, so the mount is simulated).
    monkeypatch.setattr(os, "access", lambda p, mode: p != out.parent and real_access(p, mode))

    report = run_jobs([Job(source, out)], worked.append)

    assert worked == []
    assert report.failed == [(str(source), f"{source}: cannot write {out} (its folder is not writable)")]


def test_a_failed_write_names_the_output_not_its_temporary_file(tmp_path: Path) -> None:
    source, out = tmp_path / "big.jpg", tmp_path / "out" / "big.jpg"

    def process(job: Job) -> None:
        temporary = job.output.parent / f".{job.output.name}.a1d8f4eb.tmp"
        raise OSError(errno.EROFS, "Read-only file system", str(temporary))

    report = run_jobs([Job(source, out)], process)

    assert report.failed == [(str(source), f"{source}: cannot write {out} (read-only file system)")]


def test_empty_exception_message_becomes_its_class_name(tmp_path: Path) -> None:
    source = tmp_path / "a.jpg"

    def process(job: Job) -> None:
        raise MemoryError

    report = run_jobs([Job(source, tmp_path / "out.jpg")], process)

    assert report.failed == [(str(source), f"{source}: MemoryError")]


def test_failure_on_an_existing_output_with_overwrite_keeps_it(tmp_path: Path) -> None:
    job = Job(tmp_path / "a.jpg", _touch(tmp_path / "out.jpg", "previous"))

    def process(job: Job) -> None:
        raise OSError("disk on fire")

    report = run_jobs([job], process, overwrite=True)

    assert len(report.failed) == 1
    assert job.output.read_text() == "previous"


@pytest.mark.parametrize("workers", [1, 2])
def test_keyboard_interrupt_stops_the_batch(tmp_path: Path, workers: int) -> None:
    calls: list[Job] = []

    def process(job: Job) -> None:
        calls.append(job)
        raise KeyboardInterrupt

    jobs = [Job(tmp_path / f"{i}.jpg", tmp_path / f"{i}.png") for i in range(20)]
    with pytest.raises(KeyboardInterrupt):
        run_jobs(jobs, process, workers=workers)
    # Only the jobs already in flight ran; none was started after the interrupt was seen.
    assert 1 <= len(calls) <= workers and set(calls) <= set(jobs[:workers])


def test_empty_batch_is_ok() -> None:
    assert run_jobs([], _copy) == BatchReport()
    assert BatchReport().ok


# --- run_jobs with several workers ----------------------------------------------------------------------


def test_workers_run_jobs_at_once(tmp_path: Path) -> None:
    # Each job waits for the other inside `process`: one worker at a time would break the barrier.
    barrier = threading.Barrier(2, timeout=10)
    jobs = [Job(_touch(tmp_path / f"{name}.jpg", name), tmp_path / "out" / f"{name}.jpg") for name in "ab"]

    def process(job: Job) -> None:
        barrier.wait()
        _copy(job)

    report = run_jobs(jobs, process, workers=2)

    assert report.done == jobs and report.ok
    assert [job.output.read_text() for job in jobs] == ["a", "b"]


def test_workers_never_exceed_the_limit_and_report_in_the_given_order(tmp_path: Path) -> None:
    lock = threading.Lock()
    running, most = 0, 0
    jobs = [Job(_touch(tmp_path / f"{i}.jpg", str(i)), tmp_path / "out" / f"{i}.jpg") for i in range(12)]
    _touch(jobs[3].output, "old")
    second_done = threading.Event()

    def process(job: Job) -> None:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        try:
            if job is jobs[0]:
                assert second_done.wait(timeout=10)  # the first job finishes after the second
            if job is jobs[5]:
                raise ValueError("cannot decode")
            _copy(job)
            if job is jobs[1]:
                second_done.set()
        finally:
            with lock:
                running -= 1

    seen: list[str] = []
    report = run_jobs(jobs, process, workers=3, on_progress=lambda job, status: seen.append(job.source.name))

    assert most <= 3
    assert sorted(seen) == sorted(job.source.name for job in jobs)
    assert report.done == [job for i, job in enumerate(jobs) if i not in (3, 5)]
    assert report.skipped == [jobs[3]]
    assert report.failed == [(str(jobs[5].source), f"{jobs[5].source}: cannot decode")]
    assert jobs[3].output.read_text() == "old" and not jobs[5].output.exists()


def test_progress_is_reported_from_the_calling_thread(tmp_path: Path) -> None:
    jobs = [Job(_touch(tmp_path / f"{i}.jpg"), tmp_path / "out" / f"{i}.jpg") for i in range(5)]
    threads: set[str] = set()

    run_jobs(
        jobs, _copy, workers=2, on_progress=lambda job, status: threads.add(threading.current_thread().name)
    )

    assert threads == {threading.current_thread().name}


def test_workers_must_be_positive() -> None:
    with pytest.raises(ValueError, match="workers"):
        run_jobs([], _copy, workers=0)


def test_reasons_show_names_escaped_on_one_line(tmp_path: Path) -> None:
    source, out = tmp_path / "new\nline.jpg", tmp_path / "out" / "new\nline.png"

    def process(job: Job) -> None:
        raise ValueError("cannot decode")

    def unwritable(job: Job) -> None:
        raise OSError(errno.EROFS, "Read-only file system", str(job.output))

    failed = run_jobs([Job(source, out)], process).failed + run_jobs([Job(source, out)], unwritable).failed

    shown_source, shown_out = f"{tmp_path}/new\\nline.jpg", f"{tmp_path}/out/new\\nline.png"
    assert [reason for _, reason in failed] == [
        f"{shown_source}: cannot decode",
        f"{shown_source}: cannot write {shown_out} (read-only file system)",
    ]


def test_a_batch_removes_killed_runs_temporaries_listing_each_output_folder_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    jobs = [Job(_touch(tmp_path / f"{i}.jpg"), tmp_path / "out" / f"{i % 2}" / f"{i}.jpg") for i in range(40)]
    for folder in ("0", "1"):
        (tmp_path / "out" / folder).mkdir(parents=True)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
    stale = tmp_path / "out" / "0" / f".8.jpg.{int(dead.stdout)}-0123456789ab.tmp"
    stale.write_text("left by a killed run")
    listed: list[Path] = []
    monkeypatch.setattr(
        batch,
        "remove_stale_temporaries",
        lambda folder: listed.append(folder) or remove_stale_temporaries(folder),
    )

    report = run_jobs(jobs, _copy, workers=2)

    assert len(report.done) == 40 and not stale.exists()
    assert listed == [tmp_path / "out" / "0", tmp_path / "out" / "1"]


@pytest.mark.parametrize(("inputs", "output"), [([""], "out"), (["a.jpg", ""], "out"), (["a.jpg"], "")])
def test_an_empty_path_is_refused_not_read_as_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, inputs: list[str], output: str
) -> None:
    monkeypatch.chdir(tmp_path)
    _image(tmp_path / "a.jpg")
    with pytest.raises(ValueError, match="^empty (input|output) path$"):
        plan_jobs(inputs, output)
