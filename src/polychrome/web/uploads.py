"""A multipart upload taken in as it arrives: the photo (or film) into a private folder, a few small text
fields.

The file never passes through memory whole and lands only in the folder it is given (made by the caller
with :func:`tempfile.mkdtemp`, readable by this user alone, removed after the request), under a fixed name:
nothing a client sends becomes part of a path. Limits are checked while the bytes arrive.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, MultipartState, parse_options_header

from polychrome.web.guards import BodyError

__all__ = ["Upload", "receive_upload"]

_MAX_FIELD_BYTES = 16 * 1024  # the longest field is `hints`: the page sends up to 100 (45 bytes each)
_MAX_FIELDS = 16


@dataclass
class Upload:
    """What a multipart request held: the file of ``file_field`` (None if absent), its name as the client
    gave it, and the other fields as text."""

    path: Path | None = None
    filename: str = ""
    fields: dict[str, str] = field(default_factory=dict)


class _Parts:
    """python-multipart callbacks that write the file field to disk and keep the small fields."""

    def __init__(self, file_field: str, folder: Path, what: str, fields: Collection[str] | None) -> None:
        self.file_field = file_field
        self.what = what
        self.fields = fields
        self.target = folder / "upload"
        self.upload = Upload()
        self._header_name = b""
        self._header_value = b""
        self._disposition = b""
        self._name: str | None = None
        self._value = bytearray()
        self._file = None

    def on_part_begin(self) -> None:
        self._disposition, self._name, self._value = b"", None, bytearray()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        if self._header_name.lower() == b"content-disposition":
            self._disposition = self._header_value
        self._header_name, self._header_value = b"", b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        name = options.get(b"name")
        if name is None:
            raise _Refused(HTTPStatus.BAD_REQUEST, "a multipart part has no name")
        self._name = name.decode("utf-8", "replace")
        if self._name == self.file_field:
            if self._file is not None or self.upload.path is not None:
                raise _Refused(
                    HTTPStatus.BAD_REQUEST, f"send one {self.what} per request in '{self.file_field}'"
                )
            self.upload.filename = options.get(b"filename", b"").decode("utf-8", "replace")
            self._file = open(self.target, "xb")  # noqa: SIM115 - closed at the part's end or on error
        elif self.fields is not None and self._name not in self.fields:
            # Refused before its bytes arrive: a photo sent under another name would otherwise be refused as
            # a text field too long, which does not say what to do.
            message = unknown_field(self._name, self.file_field, self.what, b"filename" in options)
            raise _Refused(HTTPStatus.BAD_REQUEST, message)
        elif len(self.upload.fields) >= _MAX_FIELDS:
            raise _Refused(HTTPStatus.BAD_REQUEST, "too many form fields")

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._file is not None:
            self._file.write(data[start:end])
            return
        self._value += data[start:end]
        if len(self._value) > _MAX_FIELD_BYTES:
            raise _Refused(
                HTTPStatus.BAD_REQUEST, f"form field '{self._name}' is over {_MAX_FIELD_BYTES} bytes"
            )

    def on_part_end(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
            self.upload.path = self.target
        elif self._name is not None:
            self.upload.fields[self._name] = self._value.decode("utf-8", "replace")

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


class _Refused(Exception):
    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


async def receive_upload(
    content_type: str,
    chunks: AsyncIterator[bytes],
    folder: Path,
    file_field: str = "image",
    what: str = "photo",
    fields: Collection[str] | None = None,
) -> Upload:
    """Parse a ``multipart/form-data`` body from ``chunks`` (already bounded in size and time); the file is
    sent in ``file_field`` and is a ``what`` (for the messages); ``fields`` are the text fields the request
    may hold (None: any), another is refused as soon as its headers arrive.

    Raises:
        BodyError: 415 for a body that is not multipart, 400 for a malformed one or bad fields, or what
            ``chunks`` raised (413, 408).
    """
    kind, options = parse_options_header(content_type)
    if kind != b"multipart/form-data":
        raise BodyError(
            HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
            f"send the {what} as multipart/form-data in the field '{file_field}'",
        )
    boundary = options.get(b"boundary")
    if not boundary:
        raise BodyError(HTTPStatus.BAD_REQUEST, "the multipart body has no boundary")
    parts = _Parts(file_field, folder, what, fields)
    try:
        parser = MultipartParser(boundary, _callbacks(parts))  # type: ignore[arg-type]
        async for chunk in chunks:
            parser.write(chunk)
        parser.finalize()
        if parser.state != MultipartState.END:  # finalize() does not check it
            raise _Refused(HTTPStatus.BAD_REQUEST, "the multipart body is cut off before its end")
    except _Refused as err:
        raise BodyError(err.status, str(err)) from None
    except (FormParserError, ValueError) as err:
        raise BodyError(HTTPStatus.BAD_REQUEST, f"malformed multipart body ({err})") from None
    finally:
        parts.close()
    return parts.upload


def unknown_field(name: str, file_field: str, what: str, is_file: bool) -> str:
    """The refusal of a field the request does not take; a file in it is most likely the photo (or film)
    under another name (``curl -F photo=@cat.jpg``), so it says where that goes."""
    return f"unknown field '{name}'" + (f"; send the {what} in '{file_field}'" if is_file else "")


def _callbacks(parts: _Parts) -> dict[str, object]:
    names = (
        "on_part_begin",
        "on_part_data",
        "on_part_end",
        "on_header_field",
        "on_header_value",
        "on_header_end",
        "on_headers_finished",
    )
    return {name: getattr(parts, name) for name in names}
