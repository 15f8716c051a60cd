"""The multipart forms ``runlite serve`` takes (LangSmith's ``/runs/multipart``): every part as
an independent encoder wrote it, and a clear error for a form that is not well formed; and the
JSON of a part or a body read in any encoding JSON allows."""

from __future__ import annotations

import json

import pytest
from requests_toolbelt.multipart.encoder import MultipartEncoder  # independent of runlite's parser

from runlite import errors
from runlite.server import http, multipart


def _form(parts: list[tuple[str, bytes, str | None]], boundary: str = "Xb0undary") -> tuple[bytes, str]:
    fields = [(name, (None, data, kind) if kind else (None, data)) for name, data, kind in parts]
    encoder = MultipartEncoder(fields=fields, boundary=boundary)
    return encoder.to_string(), encoder.content_type


def _raw(*parts: bytes, boundary: bytes = b"b", end: bytes = b"--b--\r\n") -> tuple[bytes, str]:
    return b"".join(b"--" + boundary + b"\r\n" + part + b"\r\n" for part in parts) + end, \
        "multipart/form-data; boundary=" + boundary.decode()


def test_every_part_is_what_the_encoder_wrote():
    tricky = b"--Xb0undary\r\n\r\n--Xb0undar\r\n" + bytes(range(256)) + b"\r\n"  # near-boundaries, CRLFs
    parts = [
        ("post.1", b'{"id": "1", "name": "\xc3\xa9t\xc3\xa9"}', "application/json"),
        ("post.1.inputs", b'{"q": "' + b"x" * 100_000 + b'"}', "application/json; length=100009"),
        ("attachment.1.bin", tricky, "application/octet-stream"),
        ("attachment.1.empty", b"", "text/plain"),
        ("feedback.\u00e9\u6f22", b"{}", None),  # no Content-Type: octet-stream, as the RFC says
    ]
    body, content_type = _form(parts)
    got = multipart.parse(b"a preamble\r\n" + body + b"an epilogue", content_type)
    assert got == [(name, (kind or "application/octet-stream").split(";")[0], data) for name, data, kind in parts]


def test_an_empty_form_has_no_parts():
    assert multipart.parse(b"--b--\r\n", "multipart/form-data; boundary=b") == []


@pytest.mark.parametrize("body, content_type, error, message", [
    (*_raw(b'Content-Disposition: form-data; name="post.x"\r\n\r\n{}', end=b""), errors.ValidationError,
     "closing boundary"),
    (b"garbage", "multipart/form-data; boundary=b", errors.ValidationError, "no part begins with its boundary"),
    (*_raw(b"Content-Type: text/plain\r\n\r\nx"), errors.ValidationError, "malformed"),
    (*_raw(b'Content-Disposition: form-data; filename="f"\r\n\r\nx'), errors.ValidationError, "has no name"),
    (*_raw(b'Content-Disposition: form-data; name="\xff"\r\n\r\nx'), errors.ValidationError, "malformed"),
    (*_raw(b'Content-Disposition: form-data; name="x"\r\n' + b"X-A: 1\r\n" * 40 + b"\r\nx"),
     errors.ValidationError, "malformed"),
    (*_raw(b'Content-Disposition: form-data; name="x"\r\nbroken header\r\n\r\nx'), errors.ValidationError,
     "malformed"),
    (b"x", "text/plain", errors.ValidationError, "multipart/form-data"),
    (b"x", "multipart/form-data", errors.ValidationError, "with a boundary"),
    (b"x", "multipart/form-data; boundary=" + "a" * 10_000, errors.ValidationError, "at most 256"),
])
def test_a_form_that_is_not_well_formed_is_refused_clearly(body, content_type, error, message):
    with pytest.raises(error, match=message):
        multipart.parse(body, content_type)


def test_a_form_of_too_many_parts_is_refused(monkeypatch):
    monkeypatch.setattr(multipart, "MAX_PARTS", 3)
    part = b'Content-Disposition: form-data; name="x"\r\n\r\n{}'
    assert len(multipart.parse(*_raw(*[part] * 3))) == 3
    with pytest.raises(errors.LimitError, match="more than 3 parts"):
        multipart.parse(*_raw(*[part] * 4))


# -- the JSON of a part or a body (server.http.json_value), whatever its encoding

DOCUMENT = {"a": [1, "\u00e9\u6f22", "\ud800", {"b": None}]}


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-32-be"])
def test_json_in_any_encoding_json_takes_is_read_as_sent(encoding):
    text = json.dumps(DOCUMENT, ensure_ascii=False)
    assert http.json_value(text.encode(encoding, "surrogatepass")) == DOCUMENT


@pytest.mark.parametrize("data, message", [
    (b"{nope", "is not JSON: Expecting property name"),
    ("{nope".encode("utf-16"), "is not JSON: Expecting property name"),
    (b"\xef\xbb\xbf{nope", "is not JSON: Expecting property name"),
    (b"\xff\xfe{", "is not JSON"),
    (b"[" * 100_000, "is nested too deeply"),
])
def test_a_part_that_is_not_json_is_refused_naming_it(data, message):
    with pytest.raises(errors.ValidationError, match=f"form part 'post.x' {message}"):
        http.json_value(data, lambda: "form part 'post.x'")
