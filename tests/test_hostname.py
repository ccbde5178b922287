"""One host normal form for the config's host lists, the tracker lists and URLs in mail."""
from __future__ import annotations

import pytest

from pixelguard.hostname import check_hostname, host_entry, normalise
from pixelguard.trackers._entry import normalize_host
from pixelguard.urls import host_of


@pytest.mark.parametrize("raw, want", [
    ("Tracker.Example.COM.", "tracker.example.com"),
    ("bücher.example", "xn--bcher-kva.example"),
    ("BÜCHER.example.", "xn--bcher-kva.example"),
])
def test_normal_form(raw, want):
    assert normalise(raw) == want


def test_a_name_without_idna_form_is_an_error():
    with pytest.raises(ValueError):
        normalise("a..bü")


@pytest.mark.parametrize("raw", ["*.Bücher.example.", ".bücher.example", "BÜCHER.EXAMPLE"])
def test_config_entries_tracker_entries_and_urls_agree(raw):
    want = "xn--bcher-kva.example"
    assert host_entry(raw) == want
    assert normalize_host(raw) == want
    assert host_of(f"https://{raw.lstrip('*.')}/pixel.gif") == want


@pytest.mark.parametrize("raw, want", [("[::1]", "::1"), ("a..example", None),
                                       ("Mail.Example.org.", "mail.example.org")])
def test_check_hostname(raw, want):
    if want is None:
        with pytest.raises(ValueError):
            check_hostname(raw)
    else:
        assert check_hostname(raw) == want


@pytest.mark.parametrize("bad, message", [
    ("https://t.example/x", "looks like a URL"),
    ("t.example:8080", "without a port"),
    ("a b.example", "contains spaces"),
    ("x.*.example", "only a leading"),
    ("bad_label!.example", "not a valid host name"),
    (3, "must be text"),
])
def test_bad_host_entries_say_why(bad, message):
    with pytest.raises(ValueError, match=message):
        host_entry(bad)
