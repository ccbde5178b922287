"""The per-message log line of the relay and the milter (pixelguard.relay.logline)."""
from __future__ import annotations

from pixelguard.model import Finding
from pixelguard.relay.logline import message_line, vendor_names


def _finding(vendor: str | None) -> Finding:
    return Finding(url="https://t.example/o.gif", rule="known-tracker", vendor=vendor,
                   where="img[src]", part="1", reason="a known tracker")


def test_a_message_line_starts_with_what_both_doors_tell_then_the_details_in_order():
    line = message_line("4XyZ1", "cleaned", "news@shop.example", rcpts="a@x.example,b@x.example",
                        size=1234, removed=2, vendors=vendor_names([]), error=None, ms=12.34)
    assert line == ("msg=message id=4XyZ1 outcome=cleaned sender=<news@shop.example> "
                    "rcpts=a@x.example,b@x.example size=1234 removed=2 ms=12.3")


def test_a_message_line_quotes_what_needs_it_and_leaves_out_what_is_unknown():
    line = message_line(None, "deferred", "", nexthop='a@x.example: 451 4.3.0 "later"')
    assert line == ('msg=message outcome=deferred sender=<> '
                    'nexthop="a@x.example: 451 4.3.0 \\"later\\""')


def test_vendor_names_are_each_named_once_in_order():
    findings = [_finding("SendGrid"), _finding(None), _finding("Mailchimp"), _finding("SendGrid")]
    assert vendor_names(findings) == "Mailchimp,SendGrid"
    assert vendor_names([_finding(None)]) is None
