"""The milter's view of a message and the edits that make it the cleaned one."""
from __future__ import annotations

import pytest

from pixelguard import clean_message
from pixelguard.headers import mark_error
from pixelguard.milter.edits import NotExpressible, assemble, header_fields, plan
from pixelguard.model import Policy

FIELDS = [
    ("Received", b" from a.example\r\n\tby b.example"),
    ("From", b" News <news@shop.example>"),
    ("Subject", b" Offers"),
    ("Content-Type", b" text/html; charset=utf-8"),
]
BODY = b'<p>Hi</p>\r\n<img src="https://t.example/open?u=1" width="1" height="1">\r\n'


def test_assembled_message_splits_back_into_the_same_fields_and_body():
    assert header_fields(assemble(FIELDS, BODY)) == (FIELDS, BODY)


def test_folding_sent_with_bare_lf_is_read_as_crlf():
    fields = [("Received", b" from a.example\n\tby b.example")]
    assert assemble(fields, b"x\r\n").startswith(b"Received: from a.example\r\n\tby b.example\r\n")


def test_unchanged_message_needs_no_edit():
    assert plan(FIELDS, BODY, assemble(FIELDS, BODY)).empty


def test_error_mark_is_one_inserted_header_and_no_body():
    raw = assemble(FIELDS, BODY)
    edits = plan(FIELDS, BODY, mark_error(raw, "boom"))
    assert edits.insert == ((0, "X-PixelGuard", b" error; boom"),) and edits.body is None


def test_cleaned_message_is_inserted_headers_and_a_new_body():
    raw = assemble(FIELDS, BODY)
    result = clean_message(raw, Policy())
    assert result.findings
    edits = plan(FIELDS, BODY, result.raw)
    assert [name for _i, name, _v in edits.insert] == ["X-PixelGuard"]
    assert edits.body is not None and b"t.example/open" not in edits.body


def test_a_changed_existing_field_is_refused():
    raw = assemble(FIELDS, BODY)
    with pytest.raises(NotExpressible):
        plan(FIELDS, BODY, raw.replace(b"Subject: Offers", b"Subject: Changed"))
