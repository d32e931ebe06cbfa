"""Reading an uploaded image: the checks every surface runs before it keeps or queues one."""

from __future__ import annotations

import asyncio
import codecs
import unicodedata
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fastapi import Request, UploadFile
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.exceptions import HTTPException

from pixelmill.config import Settings
from pixelmill.errors import EmptyUpload, InvalidParameter
from pixelmill.imaging import codec
from pixelmill.storage.models import FILENAME_CHARS

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks


async def read_image(
    upload: UploadFile | None, settings: Settings, fields: str = "image"
) -> tuple[bytes, codec.ImageInfo]:
    """The upload's bytes and header, after the size limit, emptiness and the header check.

    413 over the byte or pixel limit, 422 missing or empty, 415 not an image.
    """
    name = fields.split()[0].strip("`")
    if upload is None:
        raise InvalidParameter(f"an image is required: send it in the field {fields}")
    codec.check_bytes(upload.size or 0, settings.max_upload_bytes, name)
    data = await upload.read()
    if not data:
        raise EmptyUpload(f"{name} is empty (0 bytes)")
    # off the event loop: reading a header may mean an ICC profile or a GIF's frame headers
    info = await asyncio.to_thread(codec.sniff, data, max_pixels=settings.max_pixels, name=name)
    return data, info


def is_control(char: str) -> bool:
    """C0 and C1 controls and DEL, but for tab and line breaks, which wrap like spaces.

    PostgreSQL cannot store NUL, and bytes that are not UTF-8 reach us read as Latin-1
    (Starlette's fallback for form fields), where most of them are C1 controls.
    """
    return unicodedata.category(char) == "Cc" and char not in "\t\n\r"


def client_filename(upload: UploadFile | None) -> str | None:
    """The name the client gave the file, as a label: its last path part, without control
    characters, at most FILENAME_CHARS long; None when nothing is left."""
    if upload is None or not upload.filename:
        return None
    name = upload.filename.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if unicodedata.category(c) != "Cc")
    return name[:FILENAME_CHARS] or None


# --- a form read in one pass -----------------------------------------------------------------

MAX_FIELD_BYTES = 1024 * 1024  # a text field (Starlette's limit for a part without a file)
MAX_PARTS = 1000  # fields and files each (Starlette's)


@dataclass(frozen=True, slots=True)
class FilePart:
    """One file of a form: the name the client gave it and its bytes."""

    filename: str
    data: bytes
    content_type: str = ""


@dataclass(slots=True)
class Form:
    """A form's text fields and files by field name (the last one wins, as in Starlette)."""

    fields: dict[str, str] = field(default_factory=dict)
    files: dict[str, FilePart] = field(default_factory=dict)


async def read_form(request: Request) -> Form:
    """The request's form, its body read whole: a multipart body is parsed in one pass
    over one buffer, and each file is one slice of it, where Starlette copies every chunk
    into a spooled temporary file and back out (docs/performance.md, transform). Any other
    body (URL-encoded, or not a form at all) goes through Starlette's parser.

    400 for a multipart body that cannot be parsed, as Starlette answers it.
    """
    kind, options = parse_options_header(request.headers.get("content-type"))
    if kind != b"multipart/form-data":
        form = Form()
        async with request.form() as parsed:
            for name, value in parsed.multi_items():
                form.fields.pop(name, None)
                form.files.pop(name, None)
                if isinstance(value, str):
                    form.fields[name] = value
                else:
                    data = await value.read()
                    form.files[name] = FilePart(
                        value.filename or "", data, value.content_type or ""
                    )
        return form
    boundary = options.get(b"boundary")
    if not boundary:
        raise HTTPException(400, "Missing boundary in multipart.")
    charset = options.get(b"charset", b"utf-8").decode("latin-1")
    try:
        charset = codecs.lookup(charset).name
    except LookupError:
        charset = "latin-1"
    body = await request.body()
    parser = _Parts(body, charset)
    try:
        MultipartParser(boundary, parser.callbacks()).write(body)
    except FormParserError:
        raise HTTPException(400, "Invalid multipart data.") from None
    return parser.form


class _Parts:
    """python-multipart's callbacks over one body: a part's data is kept as offsets into the
    body while it comes in one piece (always, when the body is written at once)."""

    def __init__(self, body: bytes, charset: str) -> None:
        self.body, self.charset = body, charset
        self.form = Form()
        self._header_name = self._header_value = b""
        self._headers: dict[bytes, bytes] = {}
        self._name: str | None = None
        self._filename: str | None = None
        self._span: tuple[int, int] | None = None  # offsets into `body`
        self._pieces: bytearray | None = None  # when the data came in pieces
        self._fields = self._files = 0

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self._begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value_part,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._data,
            "on_part_end": self._end,
        }

    def _decode(self, raw: bytes) -> str:
        try:
            return raw.decode(self.charset)
        except UnicodeDecodeError:
            return raw.decode("latin-1")

    def _begin(self) -> None:
        self._headers, self._name, self._filename = {}, None, None
        self._span, self._pieces = None, None

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _header_value_part(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._header_name.lower()] = self._header_value
        self._header_name = self._header_value = b""

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition"))
        if b"name" not in options:
            raise HTTPException(
                400, 'The Content-Disposition header field "name" must be provided.'
            )
        self._name = self._decode(options[b"name"])
        if b"filename" in options:
            self._files += 1
            self._filename = self._decode(options[b"filename"])
            if self._files > MAX_PARTS:
                raise HTTPException(400, f"Too many files. Maximum number of files is {MAX_PARTS}.")
        else:
            self._fields += 1
            if self._fields > MAX_PARTS:
                raise HTTPException(
                    400, f"Too many fields. Maximum number of fields is {MAX_PARTS}."
                )

    def _data(self, data: bytes, start: int, end: int) -> None:
        size = end - start + self._size()
        if self._filename is None and size > MAX_FIELD_BYTES:
            raise HTTPException(400, f"Part exceeded maximum size of {MAX_FIELD_BYTES // 1024}KB.")
        if self._pieces is None:
            if self._span is None and data is self.body:
                self._span = (start, end)
                return
            if self._span is not None and data is self.body and start == self._span[1]:
                self._span = (self._span[0], end)
                return
            self._pieces = bytearray(self._value())
        self._pieces += data[start:end]

    def _size(self) -> int:
        if self._pieces is not None:
            return len(self._pieces)
        return 0 if self._span is None else self._span[1] - self._span[0]

    def _value(self) -> bytes:
        if self._pieces is not None:
            return bytes(self._pieces)
        if self._span is None:
            return b""
        return self.body[self._span[0] : self._span[1]]

    def _end(self) -> None:
        if self._name is None:
            return
        if self._filename is None:
            self.form.fields[self._name] = self._decode(self._value())
        else:
            content_type = self._headers.get(b"content-type", b"").decode("latin-1")
            self.form.files[self._name] = FilePart(self._filename, self._value(), content_type)
