"""The limits of `polychrome serve`, in one frozen dataclass that the command line fills in."""

from __future__ import annotations

from dataclasses import dataclass

from polychrome.pipelines.render_size import MAX_RENDER_SIZE

__all__ = ["WebSettings"]


@dataclass(frozen=True)
class WebSettings:
    """What the colorizing server accepts and how long it waits.

    Attributes:
        max_upload_bytes: a request body over this is refused (413) before or while it arrives.
        max_pixels: a photo with more pixels than this is refused (413) from its header, before decoding.
            Memory follows it: about 65 bytes a pixel while one photo is colored (1.6 GB for 24 MP).
        max_render_size: the largest render size a request may ask for (the network's memory grows with it).
        queue: requests that may wait while one photo is colored; beyond them the answer is 503 at once.
        request_timeout_s: an upload must arrive, and then its turn come, within this many seconds
            (408 / 503 past it); a photo being colored is finished.
        max_video_bytes: a film upload over this is refused (413) before or while it arrives.
        max_video_seconds: a longer film is refused (413) from its header; one that does not say is cut there.
        max_video_pixels: a film with larger frames is refused (413); memory follows it (a few batches of
            frames as floats).
        video_jobs: films accepted and not yet colored at once (colored one at a time); beyond them 503.
        video_keep_s: a colored film not downloaded within this many seconds is removed.
    """

    max_upload_bytes: int = 50 * 1024 * 1024
    max_pixels: int = 40_000_000
    max_render_size: int = 1024
    queue: int = 8
    request_timeout_s: float = 60.0
    max_video_bytes: int = 100 * 1024 * 1024
    max_video_seconds: float = 60.0
    max_video_pixels: int = 3840 * 2160
    video_jobs: int = 1
    video_keep_s: float = 600.0

    def __post_init__(self) -> None:
        if self.max_upload_bytes < 1024:
            raise ValueError(f"the upload limit must be at least 1 KB, got {self.max_upload_bytes} bytes")
        if self.max_pixels < 1:
            raise ValueError(f"the pixel limit must be at least 1, got {self.max_pixels}")
        if not 16 <= self.max_render_size <= MAX_RENDER_SIZE:
            raise ValueError(
                f"the largest render size must be 16 to {MAX_RENDER_SIZE}, got {self.max_render_size}"
            )
        if self.queue < 0:
            raise ValueError(f"the queue must be 0 or more, got {self.queue}")
        if not self.request_timeout_s > 0:
            raise ValueError(f"the request timeout must be > 0 s, got {self.request_timeout_s}")
        if self.max_video_bytes < 1024:
            raise ValueError(f"the video upload limit must be at least 1 KB, got {self.max_video_bytes}")
        if not self.max_video_seconds > 0:
            raise ValueError(f"the video length limit must be > 0 s, got {self.max_video_seconds}")
        if self.max_video_pixels < 1:
            raise ValueError(f"the video frame limit must be at least 1 pixel, got {self.max_video_pixels}")
        if self.video_jobs < 1:
            raise ValueError(f"video jobs must be 1 or more, got {self.video_jobs}")
        if not self.video_keep_s > 0:
            raise ValueError(f"the time a video is kept must be > 0 s, got {self.video_keep_s}")
