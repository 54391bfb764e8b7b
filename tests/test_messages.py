"""polychrome._messages: file names and reasons in messages that always stay one line."""

import errno

import pytest

from polychrome._messages import os_error_reason, printable_name


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("scans/photo 1.jpg", "scans/photo 1.jpg"),
        ("été/日本 \\ x.png", "été/日本 \\ x.png"),  # readable text and backslashes stay as they are
        ("new\nline.jpg", "new\\nline.jpg"),
        ("tab\there\r.jpg", "tab\\there\\r.jpg"),
        ("\x1b[31mred.jpg", "\\x1b[31mred.jpg"),
        ("para\u2028graph.jpg", "para\\u2028graph.jpg"),
        ("\udcff\udce9.jpg", "\\xff\\xe9.jpg"),  # the bytes b"\xff\xe9" that are not UTF-8
    ],
)
def test_printable_name_escapes_what_would_break_a_line_or_utf8(name: str, shown: str) -> None:
    assert printable_name(name) == shown
    assert "\n" not in printable_name(name) and printable_name(name).encode("utf-8")


def test_printable_name_takes_paths() -> None:
    from pathlib import Path

    assert printable_name(Path("a") / "b\nc.jpg") == "a/b\\nc.jpg"


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (errno.ENOSPC, "no space left on device"),
        (errno.EROFS, "read-only file system"),
        (errno.EACCES, "permission denied"),
        (errno.ELOOP, "symlink loop"),
        (errno.EIO, "input/output error"),
    ],
)
def test_os_error_reason_is_a_few_lower_case_words(code: int, reason: str) -> None:
    import os

    assert os_error_reason(OSError(code, os.strerror(code), "x.jpg")) == reason
