"""The X-PixelGuard header: every form pixelguard writes is read back by report."""
from __future__ import annotations

from pixelguard import stamp
from pixelguard.headers import mark_error
from pixelguard.report import parse_stamp


def test_removed_round_trips():
    value = stamp.removed(3, ["Mailchimp", 'Sales"force\\'], ["size", "known-tracker", "size"])
    assert value == 'removed=3; vendors="Mailchimp, Salesforce"; rules=known-tracker,size'
    read = stamp.parse(value)
    assert (read.removed, read.vendors, read.rules) == (3, ("Mailchimp", " Salesforce"),
                                                        ("known-tracker", "size"))
    assert parse_stamp(value).vendors == ("Mailchimp", "Salesforce")


def test_at_most_twenty_vendors_are_named():
    value = stamp.removed(30, [f"V{i}" for i in range(30)], ["size"])
    assert len(stamp.parse(value).vendors) == stamp.MAX_VENDORS


def test_skipped_parts_ride_along_with_removed():
    value = stamp.removed(1, [], ["size"], ["part 1.2 could not be edited in place"])
    assert value == "removed=1; rules=size; skipped=part 1.2 could not be edited in place"
    assert stamp.parse(value).removed == 1


def test_skipped_and_error_forms():
    assert stamp.parse(stamp.skipped(["a", "b"])).skipped == "a; b"
    assert stamp.parse(stamp.error("nested too deeply")).error == "nested too deeply"
    assert stamp.parse("scanned by something else") is None


def test_the_adapters_error_header_is_the_stamp_form():
    out = mark_error(b"Subject: x\r\n\r\nbody\r\n", "worker died")
    name, _, value = out.split(b"\r\n", 1)[0].decode().partition(":")
    assert name == stamp.NAME
    assert parse_stamp(value).error == "worker died"
