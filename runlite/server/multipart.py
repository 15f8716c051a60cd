"""The parts of a ``multipart/form-data`` body, parsed by python-multipart.

LangSmith's SDKs send runs as multipart forms: a part per run (``post.<id>``), per large
field (``post.<id>.inputs``), per attachment (``attachment.<id>.<name>``) and per feedback
(``feedback.<id>``). Parts here are ``(name, content type, bytes)``; the whole body is in
memory already (its size is capped before this runs), so parts are slices of it.
"""

from __future__ import annotations

from typing import NamedTuple

from .. import errors

MAX_PARTS = 100_000


class Part(NamedTuple):
    name: str
    content_type: str
    data: bytes


def parse(body: bytes, content_type: str) -> list[Part]:
    """The parts of ``body``; ``ValidationError`` for a body that is not a well-formed form."""
    from python_multipart.exceptions import FormParserError
    from python_multipart.multipart import MultipartParser, MultipartState, parse_options_header

    kind, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise errors.ValidationError("the body must be multipart/form-data with a boundary")
    parts: list[Part] = []
    headers: dict[bytes, bytes] = {}
    field, value, chunks = [], [], []

    def on_part_begin() -> None:
        headers.clear()
        chunks.clear()

    def on_header_field(data: bytes, start: int, end: int) -> None:
        field.append(data[start:end])

    def on_header_value(data: bytes, start: int, end: int) -> None:
        value.append(data[start:end])

    def on_header_end() -> None:
        headers[b"".join(field).lower()] = b"".join(value)
        field.clear()
        value.clear()

    def on_part_data(data: bytes, start: int, end: int) -> None:
        chunks.append(data[start:end])

    def on_part_end() -> None:
        if len(parts) >= MAX_PARTS:
            raise errors.LimitError(f"the form has more than {MAX_PARTS:,} parts")
        _, disposition = parse_options_header(headers.get(b"content-disposition", b""))
        name = disposition.get(b"name")
        if name is None:
            raise errors.ValidationError("a part of the form has no name (Content-Disposition: form-data; name=...)")
        mime = parse_options_header(headers.get(b"content-type", b"application/octet-stream"))[0]
        try:
            parts.append(Part(name.decode("utf-8"), mime.decode("latin-1"), b"".join(chunks)))
        except UnicodeDecodeError:
            raise errors.ValidationError("a part's name is not UTF-8") from None

    try:  # (the parser refuses a boundary over 256 bytes as it is made)
        parser = MultipartParser(boundary, {
            "on_part_begin": on_part_begin, "on_header_field": on_header_field, "on_header_value": on_header_value,
            "on_header_end": on_header_end, "on_part_data": on_part_data, "on_part_end": on_part_end,
        }, max_header_count=32)
        parser.write(body)
        parser.finalize()
    except FormParserError as exc:
        raise errors.ValidationError(f"the multipart body is malformed: {str(exc)[:200]}") from None
    if parser.state != MultipartState.END:
        raise errors.ValidationError("the multipart body ends before its closing boundary")
    return parts

