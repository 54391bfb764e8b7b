"""How a message names a file and says what went wrong with it, so that every message stays one line.

A file name may hold anything but ``/`` and NUL: a newline, an escape sequence, bytes that are not UTF-8
(Python hands those over as surrogate escapes, ``b"\\xff"`` as ``"\\udcff"``). :func:`printable_name` shows
such characters escaped, as Python would in a ``repr``; :func:`os_error_reason` gives the short reason of a
failed system call.

Example:
    >>> printable_name("scans/new\\nline \\udcff.jpg")
    'scans/new\\\\nline \\\\xff.jpg'
    >>> import errno
    >>> os_error_reason(OSError(errno.ENOSPC, "No space left on device"))
    'no space left on device'
"""

from __future__ import annotations

import errno
import os
import unicodedata

__all__ = ["os_error_reason", "printable_name"]

# Characters that break a line or cannot be written as UTF-8: controls, line and paragraph separators and
# lone surrogates (undecodable bytes of a file name).
_UNPRINTABLE_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})

# Phrasings that do not depend on the platform's strerror (which says "Too many levels of symbolic links").
_REASONS = {
    errno.ELOOP: "symlink loop",
    errno.EACCES: "permission denied",
    errno.ENOSPC: "no space left on device",
    errno.EROFS: "read-only file system",
    errno.ENOENT: "no such file or directory",
}


def _escaped(character: str) -> str:
    code = ord(character)
    if 0xDC80 <= code <= 0xDCFF:  # the surrogate escape of one undecodable byte: show that byte
        return f"\\x{code - 0xDC00:02x}"
    return character.encode("unicode_escape").decode("ascii")


def printable_name(name: str | os.PathLike[str]) -> str:
    """``name`` with control characters, line separators and undecodable bytes escaped: one line, always
    encodable as UTF-8. Other characters (accents, CJK, spaces, backslashes) are kept as they are."""
    text = os.fspath(name)
    if text.isprintable():
        return text
    return "".join(_escaped(ch) if unicodedata.category(ch) in _UNPRINTABLE_CATEGORIES else ch for ch in text)


def os_error_reason(error: OSError) -> str:
    """The reason of a failed system call in a few lower-case words (``"no space left on device"``)."""
    if error.errno in _REASONS:
        return _REASONS[error.errno]
    reason = error.strerror or str(error) or type(error).__name__
    return reason[:1].lower() + reason[1:]
