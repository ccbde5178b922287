"""Dovecot Pigeonhole `vnd.dovecot.filter` runs pixelguard on LMTP delivery (docs/pipe.md).

A real Dovecot with the recipe of docs/recipes/dovecot/ installed as the docs say (the
config snippet included, pixelguard-filter in sieve_filter_bin_dir, pixelguard.sieve at
sieve_before compiled with `sievec`); only the install paths differ. Messages go in over
LMTP (smtplib.LMTP) and come back over IMAP.
"""

from __future__ import annotations

import email
import email.policy
import shutil
import smtplib
import subprocess
import tempfile
from pathlib import Path

import pytest
from imap_support import FIXTURES, running_dovecot
from pipe_support import INSTALLED_PIXELGUARD, mail_user, pixelguard_for, recipe, write_executable

pytestmark = pytest.mark.e2e

FILTER_DIR = "/etc/dovecot/sieve-filter"  # the paths docs/recipes/dovecot/ names
BEFORE_DIR = "/etc/dovecot/sieve-before.d"
TRACE = (b"return-path", b"delivered-to", b"received")  # what Dovecot itself adds on delivery


class SieveDovecot:
    """A running Dovecot with the recipe installed; `use_filter(text)` swaps the program."""

    def __init__(self, workdir: Path) -> None:
        self.pixelguard = pixelguard_for(workdir)
        self.server = None

    def install(self, root: Path) -> str:
        """Called by Dovecot.start with its root: the recipe files, as docs/pipe.md installs them."""
        (root / "sieve-filter").mkdir()
        (root / "sieve-before.d").mkdir()
        self.filter_path = root / "sieve-filter" / "pixelguard-filter"
        self.use_filter(self.recipe_filter())
        (root / "sieve-before.d" / "pixelguard.sieve").write_text(recipe("dovecot/pixelguard.sieve"))
        conf = recipe("dovecot/90-pixelguard.conf", {
            FILTER_DIR: str(root / "sieve-filter"), BEFORE_DIR: str(root / "sieve-before.d")})
        (root / "90-pixelguard.conf").write_text(conf)
        return f"!include {root}/90-pixelguard.conf\n"

    def recipe_filter(self, **replace: str) -> str:
        return recipe("dovecot/pixelguard-filter", {INSTALLED_PIXELGUARD: self.pixelguard, **replace})

    def use_filter(self, text: str) -> None:
        write_executable(self.filter_path, text)

    def compile_script(self) -> None:
        """The docs' `sievec` step (with -c: this Dovecot's config is not in /etc)."""
        root = self.server.root
        subprocess.run(["sievec", "-c", str(root / "dovecot.conf"),
                        str(root / "sieve-before.d" / "pixelguard.sieve")],
                       check=True, capture_output=True)
        assert (root / "sieve-before.d" / "pixelguard.svbin").exists()

    def log(self) -> str:
        return (self.server.root / "dovecot.log").read_text(errors="replace")


@pytest.fixture(scope="module")
def sieve():
    # Not under pytest's tmp_path: its parent is private to us, and the mail user must reach
    # the pixelguard it runs.
    workdir = Path(tempfile.mkdtemp(prefix="pgpipe", dir="/tmp"))
    try:
        box = SieveDovecot(workdir)
        for server in running_dovecot(extra_conf=box.install):
            box.server = server
            box.compile_script()
            yield box
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def recipe_filter(sieve):
    """The recipe's pixelguard-filter, whatever an earlier test put there."""
    sieve.use_filter(sieve.recipe_filter())
    return sieve


def deliver(server, user: str, raw: bytes) -> bytes:
    """LMTP delivery to `user` (CRLF line ends, as an MTA sends), then the one message in
    their INBOX, as IMAP returns it."""
    with smtplib.LMTP(server.host, server.lmtp_port) as lmtp:
        assert lmtp.sendmail("news@shop.example", [user], crlf(raw)) == {}
    client = server.client(user)
    try:
        client.select_folder("INBOX", readonly=True)
        uids = client.search("ALL")
        assert len(uids) == 1, f"{len(uids)} messages in INBOX"
        return client.fetch(uids, ["BODY.PEEK[]"])[uids[0]][b"BODY[]"]
    finally:
        client.logout()


def without_trace(stored: bytes) -> bytes:
    """`stored` without the header fields Dovecot adds on delivery (at the top)."""
    pos = 0
    name = b""
    while pos < len(stored):
        end = stored.index(b"\n", pos) + 1
        line = stored[pos:end]
        if line[:1] in (b" ", b"\t") and name in TRACE:
            pos = end
            continue
        name = line.split(b":", 1)[0].strip().lower()
        if name not in TRACE:
            break
        pos = end
    return stored[pos:]


def crlf(raw: bytes) -> bytes:
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def html_of(raw: bytes) -> str:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    return msg.get_body(("html",)).get_content()


def test_newsletter_is_cleaned_on_lmtp_delivery(recipe_filter):
    sieve = recipe_filter
    # The newsletter leaks bob@example.org: found only if pixelguard learns the recipient
    # from the Delivered-To field Dovecot's LMTP adds.
    user = sieve.server.add_user("bob@example.org")
    original = (FIXTURES / "demo-newsletter.eml").read_bytes()
    stored = deliver(sieve.server, user, original)

    assert stored.startswith(b"X-PixelGuard: removed=5;")
    assert b"recipient-leak" in stored.split(b"Return-Path:")[0]
    html = html_of(stored)
    assert "list-manage.com/track/open.php" not in html
    assert "ct.sendgrid.net/wf/open" not in html
    assert "https://cdn.shop.example/autumn.jpg" in html  # content stays
    assert html_of(original) != html


@pytest.mark.parametrize("name", ["negative-content.eml", "imap-html-no-tracker.eml",
                                  "mime-plain-only.eml"])
def test_message_with_nothing_to_remove_is_stored_as_without_the_filter(
        recipe_filter, dovecot, name):
    original = (FIXTURES / name).read_bytes()
    with_filter = deliver(recipe_filter.server, recipe_filter.server.new_user("clean"), original)
    plain = deliver(dovecot, dovecot.new_user("plain"), original)  # no Sieve at all

    assert without_trace(with_filter) == without_trace(plain) == crlf(original)
    assert b"X-PixelGuard" not in with_filter


FAILURES = {
    # the recipe's own program with a config error (exit 2, reason in Dovecot's log)
    "config error": lambda s: s.recipe_filter(**{" clean": " clean --config /nonexistent.yaml"}),
    # pixelguard not installed where the program says (exit 127)
    "missing program": lambda s: recipe("dovecot/pixelguard-filter",
                                        {INSTALLED_PIXELGUARD: "/nonexistent/bin/pixelguard"}),
    # a filter dying halfway through its output; says who it runs as
    "dies mid-output": lambda s: "#!/bin/sh\nid -un >&2\nhead -c 300\nexit 1\n",
}


@pytest.mark.parametrize("failure", list(FAILURES))
def test_failing_filter_stores_the_original(sieve, failure):
    sieve.use_filter(FAILURES[failure](sieve))
    original = (FIXTURES / "demo-newsletter.eml").read_bytes()
    user = sieve.server.new_user("fail")
    stored = deliver(sieve.server, user, original)

    assert without_trace(stored) == crlf(original)
    log = sieve.log()
    assert "pixelguard-filter" in log and "Terminated with non-zero exit code" in log
    if failure == "dies mid-output":  # the program ran as the mail user (docs/pipe.md)
        assert f"lmtp: Error: {mail_user()}\n" in log
    if failure == "config error":
        assert "pixelguard: config error: /nonexistent.yaml: no such file" in log



def test_a_hung_pixelguard_is_ended_by_the_program_and_the_original_stored(sieve):
    """The program's `timeout 25` (1 s here, to wait less) ends a hung pixelguard before
    Dovecot's sieve_filter_exec_timeout, which on Dovecot 2.3.19 aborts the delivery
    (the lmtp process panics): the message is stored as it came."""
    hang = write_executable(sieve.server.root / "hang", "#!/bin/sh\nexec sleep 60\n")
    sieve.use_filter(sieve.recipe_filter(**{INSTALLED_PIXELGUARD: str(hang),
                                            "timeout 25 ": "timeout 1 "}))
    original = (FIXTURES / "demo-newsletter.eml").read_bytes()
    stored = deliver(sieve.server, sieve.server.new_user("hung"), original)
    assert without_trace(stored) == crlf(original)
    assert "Terminated with non-zero exit code 124" in sieve.log()
