"""`polychrome serve`: where it listens, what it refuses, and the warning for other computers."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner, Result

from polychrome.cli import app
from polychrome.web.server import LocalServer


@pytest.fixture
def stop_at_once(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """serve_forever as if Ctrl-C were pressed at once; records the server's URL."""
    urls: list[str] = []

    def interrupted(self: LocalServer) -> None:
        urls.append(self.url)
        raise KeyboardInterrupt

    monkeypatch.setattr(LocalServer, "serve_forever", interrupted)
    return urls


def _serve(*args: str) -> Result:
    return CliRunner().invoke(app, ["serve", "--port", "0", *args])


def test_serve_listens_on_this_computer_by_default(stop_at_once: list[str]) -> None:
    result = _serve()
    assert result.exit_code == 0, result.output
    (url,) = stop_at_once
    assert url.startswith("http://127.0.0.1:")
    assert f"polychrome at {url} (API described at {url}docs); Ctrl-C stops." in result.output
    assert "warning" not in result.output


def test_serve_warns_when_other_computers_can_reach_it(stop_at_once: list[str]) -> None:
    result = _serve("--host", "0.0.0.0")
    assert result.exit_code == 0, result.output
    assert "warning: listening on 0.0.0.0: anyone who can reach it can upload photos to it" in result.stderr


def test_serve_reports_a_port_in_use_in_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(app, ["serve", "--port", str(port)])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: cannot listen on 127.0.0.1:{port}: ")
    assert len(result.stderr.splitlines()) == 1


def test_serve_reports_a_model_that_cannot_load(tmp_path: object, stop_at_once: list[str]) -> None:
    result = _serve("--model", "no-such-model")
    assert result.exit_code == 1 and stop_at_once == []
    assert result.stderr.startswith("error: could not load the model: no-such-model: no such model folder")


@pytest.mark.parametrize(
    "args",
    [["--queue", "-1"], ["--max-render-size", "4096"], ["--timeout", "0"], ["--video-jobs", "0"],
     ["--max-video-seconds", "0"], ["--max-video-mb", "0"]],
)  # fmt: skip
def test_serve_refuses_bad_limits(args: list[str]) -> None:
    assert _serve(*args).exit_code == 2


def test_serve_passes_the_video_limits_and_says_when_videos_are_off(monkeypatch: pytest.MonkeyPatch) -> None:
    apps: list[object] = []

    def interrupted(self: LocalServer) -> None:
        apps.append(self._server.config.app)
        raise KeyboardInterrupt

    monkeypatch.setattr(LocalServer, "serve_forever", interrupted)
    result = _serve("--video-jobs", "2", "--max-video-mb", "5", "--max-video-seconds", "30")
    assert result.exit_code == 0, result.output
    settings = apps[0].state.films.settings  # type: ignore[attr-defined]
    assert (settings.video_jobs, settings.max_video_bytes, settings.max_video_seconds) == (2, 5 << 20, 30.0)
    assert "videos are off" not in result.output

    monkeypatch.setitem(sys.modules, "av", None)  # as where PyAV is not installed
    result = _serve()
    assert result.exit_code == 0, result.output
    assert "videos are off: films need PyAV: pip install 'polychrome[video]'" in result.output


def test_every_option_of_serve_is_in_the_guide() -> None:
    command = typer.main.get_command(app).commands["serve"]  # type: ignore[attr-defined]
    options = {name for param in command.params for name in param.opts if name.startswith("--")}
    guide = (Path(__file__).parents[2] / "docs" / "web.md").read_text()
    assert len(options) >= 12
    assert sorted(name for name in options if f"`{name}`" not in guide) == []


def test_serve_colors_on_onnx_runtime_on_the_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    # PyTorch is installed here; on the CPU ONNX Runtime is the faster path (docs/backends.md).
    colorizers: list[object] = []

    def interrupted(self: LocalServer) -> None:
        colorizers.append(self._server.config.app.state.films.colorizer)
        raise KeyboardInterrupt

    monkeypatch.setattr(LocalServer, "serve_forever", interrupted)
    result = _serve()
    assert result.exit_code == 0, result.output
    assert colorizers[0].backend == "onnx"  # type: ignore[attr-defined]
