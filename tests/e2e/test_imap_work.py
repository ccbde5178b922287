"""Finding work when the server misbehaves: one broken message must not stop a folder.

A fake client stands in for the server here: Dovecot cannot be made to send a broken
BODYSTRUCTURE or refuse one message's FETCH on demand.
"""

from __future__ import annotations

from imapclient.exceptions import IMAPClientError

from pixelguard.imap.work import describe, fetch_bodies, has_html


class FlakyServer:
    """Answers FETCH for good UIDs; a batch containing a bad one is refused as a whole."""

    def __init__(self, bad_body: set[int], bad_structure: set[int]) -> None:
        self.bad_body, self.bad_structure = bad_body, bad_structure
        self.fetches: list[tuple[list[int], tuple[str, ...]]] = []

    def fetch(self, uids, items):
        self.fetches.append((list(uids), tuple(items)))
        if "BODYSTRUCTURE" in items and self.bad_structure & set(uids):
            raise ValueError("unparseable BODYSTRUCTURE")  # what imapclient's parser raises
        if "BODY.PEEK[]" in items and self.bad_body & set(uids):
            raise IMAPClientError("FETCH failed: [SERVERBUG] internal error")
        out = {}
        for uid in uids:
            item = {b"FLAGS": (b"\\Seen",), b"INTERNALDATE": None, b"RFC822.SIZE": 10}
            if "BODYSTRUCTURE" in items:
                item[b"BODYSTRUCTURE"] = _Plain()
            if "BODY.PEEK[]" in items:
                item[b"BODY[]"] = f"message {uid}".encode()
            out[uid] = item
        return out


class _Plain(tuple):
    """A text/plain BODYSTRUCTURE as imapclient returns it."""

    is_multipart = False

    def __new__(cls):
        return super().__new__(cls, (b"text", b"plain", None, None, None, b"7bit", 10))


def test_a_broken_bodystructure_counts_as_html_and_the_rest_are_described():
    server = FlakyServer(bad_body=set(), bad_structure={3})

    cands = describe(server, [1, 2, 3, 4])

    assert [c.uid for c in cands] == [1, 2, 3, 4]
    assert [c.html for c in cands] == [False, False, True, False]


def test_a_message_the_server_cannot_fetch_is_skipped_not_fatal():
    server = FlakyServer(bad_body={2}, bad_structure=set())
    cands = describe(server, [1, 2, 3])

    bodies = fetch_bodies(server, cands)

    assert bodies == {1: b"message 1", 3: b"message 3"}


def test_has_html_finds_html_in_an_attached_message():
    class Part(tuple):
        is_multipart = False

    class Multi(tuple):
        is_multipart = True

    html = Part((b"text", b"html", None, None, None, b"7bit", 10))
    plain = Part((b"text", b"plain", None, None, None, b"7bit", 10))
    attached = Part((b"message", b"rfc822", None, None, None, b"7bit", 10, None, html, 3))

    assert has_html(Multi(([plain, attached], b"mixed")))
    assert not has_html(Multi(([plain, plain], b"alternative")))
