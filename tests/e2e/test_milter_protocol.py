"""The milter's negotiation, spoken to the real `pixelguard milter` process by a minimal MTA
side of the milter protocol (what Postfix's milter8 client sends): which edits it asks
for when the MTA grants body replacement, and when it grants only header insertion."""
from __future__ import annotations

import signal

import pytest
from milter_harness import ADDHDRS, CHGBODY, MTA, NO, NR, MilterProcess, accepts
from relay_harness import TRACKER_URL, tracker_message

pytestmark = pytest.mark.e2e

@pytest.fixture(scope="module")
def milter(tmp_path_factory):
    m = MilterProcess(tmp_path_factory.mktemp("milter")).start()
    yield m
    m.stop()


def test_granted_both_actions_it_inserts_the_header_and_replaces_the_body(milter):
    mta = MTA(milter.port)
    granted, protocol = mta.negotiate(0x1FF)
    assert granted == ADDHDRS | CHGBODY  # asks for nothing more than it uses
    answers = mta.message(protocol, tracker_message())
    mta.close()
    assert answers[-1][0] == b"c"  # accepted
    inserted = [d for c, d in answers if c == b"i"]
    assert len(inserted) == 1 and inserted[0][4:].startswith(b"X-PixelGuard\x00 removed=1")
    body = b"".join(d for c, d in answers if c == b"b")
    assert body and TRACKER_URL.encode() not in body


SKIPPED_STEPS = 0x02 | 0x200 | 0x40 | 0x100  # HELO, DATA, end of header, unknown command
UNANSWERED_STEPS = NR["C"] | NR["M"] | NR["R"] | NR["L"] | NR["B"]


def test_it_skips_the_steps_it_ignores_and_answers_only_the_end_of_message(milter):
    mta = MTA(milter.port)
    _granted, protocol = mta.negotiate(0x1FF)
    assert protocol & SKIPPED_STEPS == SKIPPED_STEPS
    assert protocol & UNANSWERED_STEPS == UNANSWERED_STEPS
    assert not protocol & (NO["C"] | NO["M"] | NO["R"] | NO["L"] | NO["B"])  # it needs those
    answers = mta.message(protocol, tracker_message(msgid="<nr@shop.example>"))
    mta.close()
    assert answers[-1][0] == b"c"
    assert [d for c, d in answers if c == b"b"]


def test_an_mta_that_cannot_skip_steps_gets_an_answer_to_each_and_the_same_edits(milter):
    mta = MTA(milter.port)
    _granted, protocol = mta.negotiate(0x1FF, offered=0x100000)  # leading space only
    assert protocol & (SKIPPED_STEPS | UNANSWERED_STEPS) == 0
    answers = mta.message(protocol, tracker_message(msgid="<all@shop.example>"))  # reads each "c"
    mta.close()
    assert answers[-1][0] == b"c"
    (inserted,) = [d for c, d in answers if c == b"i"]
    assert inserted[4:].startswith(b"X-PixelGuard\x00 removed=1")
    assert TRACKER_URL.encode() not in b"".join(d for c, d in answers if c == b"b")


def test_without_body_replacement_it_adds_only_the_error_header_and_logs_why(milter):
    mta = MTA(milter.port)
    granted, protocol = mta.negotiate(ADDHDRS)
    assert granted == ADDHDRS
    answers = mta.message(protocol, tracker_message(msgid="<nb@shop.example>"))
    mta.close()
    assert answers[-1][0] == b"c"
    assert not [d for c, d in answers if c == b"b"]
    (inserted,) = [d for c, d in answers if c == b"i"]
    assert inserted[4:].startswith(b"X-PixelGuard\x00 error; the MTA did not grant body replacement")
    assert any("outcome=not-granted" in ln and "body replacement not granted" in ln
               for ln in milter.message_lines())


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stop_signal_stops_it_through_its_own_wait_for_signals_and_it_exits_0(tmp_path, sig):
    m = MilterProcess(tmp_path).start()
    try:
        mta = MTA(m.port)  # an open, idle MTA connection, as Postfix keeps them
        mta.negotiate(ADDHDRS | CHGBODY)
        m.signal(sig)
        assert m.proc.wait(60) == 0, m.log_text()
        mta.sock.close()
    finally:
        m.stop()
    log = m.log_text()
    # the main thread took the signal (listener.py), not libmilter's own signal thread
    assert f"{signal.Signals(sig).name} received: stopping" in log, log
    assert "INFO stopped" in log, log
    assert not accepts(m.port)


LINKS_ONLY = (b"From: News <news@shop.example>\r\nTo: alice@example.org\r\nSubject: Links\r\n"
              b"Message-ID: <links@shop.example>\r\nMIME-Version: 1.0\r\n"
              b"Content-Type: text/html; charset=utf-8\r\n\r\n"
              b'<html><body><p>Hi</p><a href="https://shop.example/p?utm_source=nl&amp;id=4">Shop</a>'
              b"</body></html>\r\n")


def test_a_message_whose_only_change_is_its_links_is_counted_cleaned(tmp_path):
    milter = MilterProcess(tmp_path, "milter: {workers: 1}\ndefaults:\n  links: {strip_params: true}\n")
    milter.start()
    try:
        results = []
        for raw in (LINKS_ONLY, LINKS_ONLY.replace(b"utm_source=nl&amp;", b"")):
            mta = MTA(milter.port)
            _granted, protocol = mta.negotiate(ADDHDRS | CHGBODY)
            results.append(mta.message(protocol, raw))
            mta.close()
        answers, plain = results
    finally:
        milter.stop()
    body = b"".join(d for c, d in answers if c == b"b")
    assert b'href="https://shop.example/p?id=4"' in body
    assert not [d for c, d in plain if c in (b"b", b"i")]  # nothing to change: no edit
    outcomes = [ln.split("outcome=")[1].split()[0] for ln in milter.message_lines()]
    assert outcomes == ["cleaned", "unchanged"]
