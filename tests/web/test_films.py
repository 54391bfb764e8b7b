"""POST /api/videos and its job over real HTTP: a film colored with progress, downloaded once, its files
removed; what is refused and why; one film at a time, cancelling, expiry and shutdown; where films are not
available. The films are made in the tests (tests/video/clips.py)."""

from __future__ import annotations

import stat
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import av
import httpx
import numpy as np
import pytest

from polychrome import Colorizer
from polychrome.video.io import VideoReadError
from polychrome.video.pipeline import VideoColorizer
from polychrome.web.settings import WebSettings
from tests.base.test_without_torch import no_torch  # noqa: F401 - the fixture, shared
from tests.video.clips import audio_payloads, make_clip, read_frames
from tests.web.helpers import Live, photo_bytes, start


def _send(live: Live, data: bytes | Path, name: str = "film.mp4", **fields: Any) -> httpx.Response:
    body = data.read_bytes() if isinstance(data, Path) else data
    files = {"video": (name, body, "application/octet-stream")}
    return httpx.post(f"{live.url}/api/videos", files=files, data=fields, timeout=60)


def _error(reply: httpx.Response) -> tuple[int, str]:
    assert reply.headers["content-type"] == "application/json"
    body = reply.json()
    assert list(body) == ["error"] and "\n" not in body["error"]
    return reply.status_code, body["error"]


def _until(condition: Callable[[], Any], timeout_s: float = 120.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while not (value := condition()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
    return value


def _progress_until_ended(live: Live, job_id: str) -> list[dict[str, Any]]:
    """Every answer of GET /api/videos/{id} until the job is done or failed."""
    seen: list[dict[str, Any]] = []

    def ended() -> bool:
        reply = httpx.get(f"{live.url}/api/videos/{job_id}")
        assert reply.status_code == 200, reply.text
        seen.append(reply.json())
        return seen[-1]["state"] in ("done", "failed")

    _until(ended)
    return seen


def _send_until_running(live: Live, film: Path) -> dict[str, Any]:
    """Send ``film`` and wait until the server colors it; its job as the upload's answer told it."""
    job = _send(live, film).json()
    _until(lambda: httpx.get(f"{live.url}/api/videos/{job['id']}").json()["state"] == "running")
    return job


def _films(live: Live) -> dict[str, Any]:
    return httpx.get(f"{live.url}/api/health").json()["films"]


@pytest.fixture
def private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The folder the server's temporary folders are made in."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[threading.Event, list[str]]]:
    """Films wait after their first batch until the event is set; how each film's coloring ended is
    recorded ("finished" or the exception's name)."""
    release = threading.Event()
    outcomes: list[str] = []
    real = VideoColorizer.colorize_file

    def held(self: VideoColorizer, source: Any, output: Any, on_progress: Any = None) -> Any:
        def progress(done: int, total: int | None) -> None:
            assert release.wait(30)
            on_progress(done, total)

        try:
            result = real(self, source, output, on_progress=progress)
        except BaseException as err:
            outcomes.append(type(err).__name__)
            raise
        outcomes.append("finished")
        return result

    monkeypatch.setattr(VideoColorizer, "colorize_file", held)
    yield release, outcomes
    release.set()


def test_a_film_is_colored_with_progress_downloaded_once_and_removed(
    colorizer: Colorizer, tmp_path: Path, private: Path
) -> None:
    source = tmp_path / "old film.mp4"
    times = make_clip(source, frames=12, audio=True)
    run = start(colorizer)
    try:
        reply = _send(run, source, source.name, saturation="1.5", temperature="0.2")
        assert reply.status_code == 202, reply.text
        job = reply.json()
        assert reply.headers["location"] == f"/api/videos/{job['id']}"
        assert job["state"] in ("queued", "running") and job["result"] is None
        assert job["frames_total"] == 12  # from the film's header, before any frame is colored
        assert job["name"] == "old film.mp4"
        assert len(job["id"]) >= 20  # a random token, not a name or a number
        (root,) = private.iterdir()
        assert stat.S_IMODE(root.stat().st_mode) == 0o700

        seen = _progress_until_ended(run, job["id"])
        assert seen[-1] == {
            "id": job["id"],
            "name": "old film.mp4",
            "state": "done",
            "frames_done": 12,
            "frames_total": 12,
            "error": None,
            "warnings": [],
            "result": f"/api/videos/{job['id']}/result",
        }
        done = [answer["frames_done"] for answer in seen]
        assert done == sorted(done) and all(answer["frames_total"] == 12 for answer in seen)

        download = httpx.get(run.url + seen[-1]["result"], timeout=60)
        assert download.status_code == 200
        assert download.headers["content-type"] == "video/mp4"
        assert download.headers["content-disposition"] == 'attachment; filename="old_film-colorized.mp4"'
        colored = tmp_path / "colored.mp4"
        colored.write_bytes(download.content)
        # The film that `Colorizer.colorize_video` makes with the same options: every frame, time and sound.
        expected = tmp_path / "expected.mp4"
        colorizer.colorize_video(source, expected, saturation=1.5, temperature=0.2, preview=60.0)
        frames, wanted = read_frames(colored), read_frames(expected)
        assert [round(t * 1000) for t, _, _ in frames] == times
        assert all(np.array_equal(a, b) for (_, a, _), (_, b, _) in zip(frames, wanted, strict=True))
        assert audio_payloads(colored) == audio_payloads(source)

        # Downloaded once: then gone, files included.
        _until(lambda: httpx.get(f"{run.url}/api/videos/{job['id']}").status_code == 404, 10)
        assert _error(httpx.get(run.url + seen[-1]["result"]))[0] == 404
        assert list(root.iterdir()) == []
    finally:
        run.stop()
    assert list(private.iterdir()) == []


def _sound_only(film: Path, path: Path) -> Path:
    """The sound of ``film`` alone, in an MP4."""
    with av.open(str(film)) as source, av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream_from_template(source.streams.audio[0])
        for packet in source.demux(source.streams.audio[0]):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    return path


def test_what_is_not_a_readable_short_film_is_refused_in_one_line(
    colorizer: Colorizer, tmp_path: Path
) -> None:
    settings = WebSettings(max_video_seconds=1.0, max_video_pixels=64 * 48, max_video_bytes=200 * 1024)
    film = tmp_path / "film.mp4"
    make_clip(film, frames=6, audio=True)
    whole = film.read_bytes()
    make_clip(tmp_path / "long.mp4", frames=40)
    make_clip(tmp_path / "wide.mp4", size=(96, 64))
    noise = np.random.default_rng(0).integers(0, 256, 300 * 1024, np.uint8).tobytes()
    run = start(colorizer, settings)
    try:
        assert _error(_send(run, b"shopping list: milk, eggs\n" * 20, "notes.mp4")) == (
            415, "not a video polychrome reads (MP4, MOV, MKV, WebM, AVI, animated GIF or WebP)"
        )  # fmt: skip
        assert _error(_send(run, photo_bytes(), "photo.jpg")) == (
            415, "a still JPEG image, not a video: photos go to POST /api/colorize"
        )  # fmt: skip
        assert _error(_send(run, _sound_only(film, tmp_path / "sound.m4a"))) == (
            415, "the file has no video stream (only audio)"
        )  # fmt: skip
        status, reason = _error(_send(run, whole[: len(whole) // 2]))
        assert status == 400 and reason.startswith("the video is damaged or cut off: ")
        assert str(tmp_path) not in reason and "/" not in reason  # no path of the server's
        assert _error(_send(run, b"")) == (400, "the video is empty (0 bytes)")
        assert _error(_send(run, tmp_path / "long.mp4")) == (
            413, "the video is 1.6 s long, over the limit of 1 s"
        )  # fmt: skip
        assert _error(_send(run, tmp_path / "wide.mp4")) == (
            413, "the video is 96x64, over the limit of 0.003072 megapixels a frame"
        )  # fmt: skip
        assert _error(_send(run, noise)) == (413, "the request is over the 200 KB limit")
        assert _error(_send(run, film, saturation="lots")) == (400, "saturation must be a number, got 'lots'")
        assert _error(_send(run, film, format="png")) == (400, "unknown field 'format'")
        misnamed = {"image": ("film.mp4", film.read_bytes(), "video/mp4")}
        assert _error(httpx.post(f"{run.url}/api/videos", files=misnamed)) == (
            400, "unknown field 'image'; send the video in 'video'"
        )  # fmt: skip
        assert _error(httpx.post(f"{run.url}/api/videos", files={"saturation": (None, "1")})) == (
            400, "no video: send it in the multipart field 'video'"
        )  # fmt: skip
        assert _error(httpx.post(f"{run.url}/api/videos", json={"video": "x"})) == (
            415, "send the video as multipart/form-data in the field 'video'"
        )  # fmt: skip
        unknown = "no such video: it was downloaded, cancelled, expired or never made"
        for address in ("/api/videos/nope", "/api/videos/nope/result"):
            assert _error(httpx.get(run.url + address)) == (404, unknown)
        assert _error(httpx.get(f"{run.url}/api/videos/..%2F..%2Fetc%2Fpasswd/result"))[0] == 404
        assert _error(httpx.delete(f"{run.url}/api/videos/nope")) == (404, unknown)
        # Every refusal gave its place back: a good film is taken.
        assert _films(run)["accepted"] == 0
        assert _send(run, film).status_code == 202
    finally:
        run.stop()


def test_one_film_at_a_time_a_second_is_503_and_cancelling_frees_the_place(
    colorizer: Colorizer, tmp_path: Path, private: Path, gate: tuple[threading.Event, list[str]]
) -> None:
    release, outcomes = gate
    film = tmp_path / "film.mp4"
    make_clip(film, frames=20)
    run = start(colorizer)
    try:
        first = _send_until_running(run, film)
        assert _films(run) | {"limits": None} == {
            "available": True, "reason": None, "busy": 1, "accepted": 1, "capacity": 1, "limits": None
        }  # fmt: skip
        busy = _send(run, film)
        assert _error(busy) == (503, "busy: another video is being colored; try again later")
        assert busy.headers["retry-after"] == "10"
        waiting = httpx.get(f"{run.url}/api/videos/{first['id']}/result")
        assert _error(waiting) == (409, "the video is not colored yet (running)")

        assert httpx.delete(f"{run.url}/api/videos/{first['id']}").status_code == 204
        assert httpx.get(f"{run.url}/api/videos/{first['id']}").status_code == 404
        release.set()  # the film reaches its next batch, and stops there
        _until(lambda: _films(run)["accepted"] == 0, 30)
        assert outcomes == ["_Cancelled"]
        (root,) = private.iterdir()
        _until(lambda: list(root.iterdir()) == [], 10)

        second = _send(run, film)
        assert second.status_code == 202
        assert _progress_until_ended(run, second.json()["id"])[-1]["state"] == "done"
        assert outcomes == ["_Cancelled", "finished"]
    finally:
        release.set()
        run.stop()


def test_stopping_the_server_stops_the_film_and_removes_every_file(
    colorizer: Colorizer, tmp_path: Path, private: Path, gate: tuple[threading.Event, list[str]]
) -> None:
    release, outcomes = gate
    film = tmp_path / "film.mp4"
    make_clip(film, frames=20)
    run = start(colorizer)
    _send_until_running(run, film)
    stopping = threading.Thread(target=run.stop)
    stopping.start()
    time.sleep(0.5)  # the server is stopping and has asked the film to stop
    release.set()
    stopping.join(30)
    assert not stopping.is_alive()
    assert outcomes == ["_Cancelled"]
    assert list(private.iterdir()) == []


def test_a_film_not_downloaded_is_removed_after_the_keeping_time(
    colorizer: Colorizer, tmp_path: Path, private: Path
) -> None:
    film = tmp_path / "film.mp4"
    make_clip(film, frames=4)
    run = start(colorizer, WebSettings(video_keep_s=0.5))
    try:
        job = _send(run, film).json()
        assert _progress_until_ended(run, job["id"])[-1]["state"] == "done"
        (root,) = private.iterdir()
        _until(lambda: list(root.iterdir()) == [], 10)  # without any request asking for it
        assert _error(httpx.get(f"{run.url}/api/videos/{job['id']}/result"))[0] == 404
    finally:
        run.stop()


def test_a_film_that_breaks_off_is_colored_as_far_as_it_decodes_and_says_so(
    colorizer: Colorizer, tmp_path: Path
) -> None:
    film = tmp_path / "film.mkv"  # Matroska is read up to where it is cut, unlike MP4 (its index is last)
    make_clip(film, frames=30)
    data = film.read_bytes()
    run = start(colorizer)
    try:
        job = _send(run, data[: int(len(data) * 0.6)], "film.mkv").json()
        done = _progress_until_ended(run, job["id"])[-1]
        assert done["state"] == "done" and 0 < done["frames_done"] < 30
        assert len(done["warnings"]) == 1 and done["warnings"][0].startswith("unreadable after frame ")
        download = httpx.get(run.url + done["result"], timeout=60)
        (tmp_path / "out.mp4").write_bytes(download.content)
        assert len(read_frames(tmp_path / "out.mp4")) == done["frames_done"]
    finally:
        run.stop()


def test_a_film_that_fails_while_colored_says_why_in_one_line_without_server_paths(
    colorizer: Colorizer, tmp_path: Path, private: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing(self: VideoColorizer, source: Path, output: Path, on_progress: Any = None) -> Any:
        on_progress(8, 12)
        raise VideoReadError(f"{source}: unreadable after frame 8 (Invalid data found when processing input)")

    monkeypatch.setattr(VideoColorizer, "colorize_file", failing)
    film = tmp_path / "film.mp4"
    make_clip(film, frames=12)
    run = start(colorizer)
    try:
        job = _send(run, film).json()
        ended = _progress_until_ended(run, job["id"])[-1]
        reason = "unreadable after frame 8 (Invalid data found when processing input)"
        assert (ended["state"], ended["error"], ended["frames_done"], ended["result"]) == (
            "failed",
            reason,
            8,
            None,
        )
        assert _error(httpx.get(f"{run.url}/api/videos/{job['id']}/result")) == (
            409,
            f"the video failed: {reason}",
        )
        assert _films(run)["accepted"] == 0  # its place is free again
        (root,) = private.iterdir()
        (folder,) = root.iterdir()
        assert list(folder.iterdir()) == []  # the upload is gone; the job is kept to say why, then expires
    finally:
        run.stop()


def test_without_the_film_packages_videos_are_501_and_health_says_why(
    colorizer: Colorizer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    film = tmp_path / "film.mp4"
    make_clip(film, frames=2)
    reason = "films need PyAV and OpenCV: pip install 'polychrome[video]'"
    with monkeypatch.context() as patch:
        for name in ("av", "cv2"):
            patch.setitem(sys.modules, name, None)  # as where the package is not installed
        run = start(colorizer)
    try:
        films = _films(run)
        assert (films["available"], films["reason"]) == (False, reason)
        assert _error(_send(run, film)) == (501, reason)
        assert httpx.get(f"{run.url}/api/health").json()["status"] == "ok"  # photos are still colored
    finally:
        run.stop()


def test_a_server_on_onnx_runtime_colors_films_too_in_8_bits(tmp_path: Path, private: Path) -> None:
    source = tmp_path / "film.mkv"
    times = make_clip(source, frames=4, audio=True, pixel_format="yuv420p10le")
    run = start(Colorizer.from_pretrained(backend="onnx"))  # what the base install colors with
    try:
        assert _films(run)["available"] is True
        reply = _send(run, source, render_size="64")
        assert reply.status_code == 202, reply.text
        assert _progress_until_ended(run, reply.json()["id"])[-1]["state"] == "done"
        result = httpx.get(f"{run.url}/api/videos/{reply.json()['id']}/result", timeout=60)
        assert result.status_code == 200
        (tmp_path / "color.mp4").write_bytes(result.content)
        assert [round(t * 1000) for t, _, _ in read_frames(tmp_path / "color.mp4")] == times
        with av.open(str(tmp_path / "color.mp4")) as colored:  # a 10-bit film comes back as browsers play it
            assert colored.streams.video[0].codec_context.format.name == "yuv420p"
    finally:
        run.stop()


def test_the_video_api_is_described_by_openapi(live: Live) -> None:
    schema = httpx.get(f"{live.url}/openapi.json").json()
    add = schema["paths"]["/api/videos"]["post"]
    form = add["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert set(form["properties"]) == {"video", "saturation", "temperature", "render_size"}
    assert form["required"] == ["video"]
    assert {"202", "400", "408", "413", "415", "501", "503"} <= set(add["responses"])
    progress = schema["paths"]["/api/videos/{video_id}"]
    assert set(progress) == {"get", "delete"}
    assert progress["get"]["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/VideoProgress"
    }
    assert {"frames_done", "frames_total", "state", "error"} <= set(
        schema["components"]["schemas"]["VideoProgress"]["properties"]
    )
    result = schema["paths"]["/api/videos/{video_id}/result"]["get"]
    assert "video/mp4" in result["responses"]["200"]["content"]
    docs = httpx.get(f"{live.url}/docs").text
    assert "POST /api/videos" in docs and "GET /api/videos/{video_id}/result" in docs


def test_a_web_install_without_pytorch_or_pyav_serves_photos_and_turns_videos_off(
    no_torch: dict[str, str],  # noqa: F811 - the fixture imported above
) -> None:
    script = textwrap.dedent(
        """
        import sys
        from fastapi.testclient import TestClient
        from polychrome import Colorizer
        from polychrome.web.app import create_app

        with TestClient(create_app(Colorizer.from_pretrained())) as client:
            films = client.get("/api/health").json()["films"]
            video = client.post("/api/videos", files={"video": ("a.mp4", b"x" * 100)})
            photo = client.post("/api/colorize", files={"image": ("a.png", sys.stdin.buffer.read())})
        print(films["available"], films["reason"])
        print(video.status_code, video.json()["error"])
        print(photo.status_code, photo.headers["content-type"])
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        input=photo_bytes(kind="PNG"),
        env=no_torch,
        capture_output=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    reason = "films need PyAV and OpenCV: pip install 'polychrome[video]'"
    assert done.stdout.decode().splitlines() == [
        f"False {reason}",
        f"501 {reason}",
        "200 image/png",
    ]  # and nothing imported PyTorch, PyAV or OpenCV: the shim makes that an ImportError
