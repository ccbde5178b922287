"""IMAP hardening: what the server or another client does to us while we work, a full quota,
secrets on every error path, and DKIM-aware trust for allowed senders.

Faults are injected at an exact step: started through crash_at.py with <step>:stop, the
pixelguard process SIGSTOPs itself there (pixelguard/imap/replace.py); the test waits until
the process is stopped, changes the server (kills the connection's imap process, restarts
Dovecot, deletes or renames a folder), and resumes it with SIGCONT.
"""

from __future__ import annotations

import base64
import os
import re
import signal
import subprocess
import textwrap
import time
from collections.abc import Callable

import pytest
from dkim_keys import rsa_key, zone_dnsfunc
from imap_support import (
    PASSWORD_ENV,
    Mailbox,
    imap_account,
    run_imap,
    running_dovecot,
    snapshot,
    start_imap,
)
from imap_support import wait_until as _wait_until
from test_imap_backlog import (
    ALL_IDS,
    BACKLOG,
    KEYWORD,
    ORIGINALS,
    TRACKED,
    TRACKER_URL,
    by_message_id,
    fixture_bytes,
    message_id,
    seed,
)

EXIT_PARTIAL, EXIT_TEMPFAIL = 1, 75
SENTINEL = "Pg-S3cret-Sentinel-7781"  # a password that must never be printed
WAIT = 30.0  # seconds: bound of every condition wait below
# A Dovecot without MULTIAPPEND (one APPEND per copy) and without MOVE (UID COPY + EXPUNGE).
NO_MULTIAPPEND = "IMAP4rev1 SASL-IR LITERAL+ ENABLE IDLE NAMESPACE UNSELECT UIDPLUS"


def wait_until(predicate: Callable[[], object], what: str, timeout: float = WAIT):
    return _wait_until(predicate, what, timeout)


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


def run_with_pause(
    config: str, step: str, at_first_pause: Callable[[int], None], password: str = "secret"
) -> subprocess.CompletedProcess:
    """Run `pixelguard imap --once -v` stopping at `step`; the first time, call
    `at_first_pause(pid)` while it is stopped; every time, resume it. Bounded."""
    proc = start_imap(
        config,
        "--once",
        "-v",
        password=password,
        crash_at=step + ":stop",
    )
    paused = 0
    try:
        while True:
            # "T": stopped at the step; a poll() result: finished (reaped below).
            wait_until(
                lambda: _state(proc.pid) == "T" or proc.poll() is not None,
                f"pixelguard to reach {step} or exit",
            )
            if proc.poll() is not None:
                break
            if paused == 0:
                at_first_pause(proc.pid)
            paused += 1
            os.kill(proc.pid, signal.SIGCONT)
            wait_until(lambda: _state(proc.pid) != "T", "pixelguard to resume")
        out, err = proc.communicate(timeout=WAIT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert paused, f"pixelguard never reached {step}:\n{err}"
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def server_imap_pids(client_pid: int, port: int) -> list[int]:
    """The Dovecot imap processes serving `client_pid`'s connections to `port` (via ss)."""
    lines = subprocess.run(
        ["ss", "-tnpH", "state", "established"], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    ours = set()
    for line in lines:
        cols = line.split()
        if len(cols) >= 5 and f"pid={client_pid}," in line and cols[3].endswith(f":{port}"):
            ours.add(cols[2].rsplit(":", 1)[1])  # our local port
    pids = set()
    for line in lines:
        cols = line.split()
        if len(cols) >= 5 and cols[2].endswith(f":{port}") and cols[3].rsplit(":", 1)[1] in ours:
            pids.update(
                int(p) for name, p in re.findall(r'\("([^"]+)",pid=(\d+)', line) if name == "imap"
            )
    return sorted(pids)


def error_lines(run) -> list[str]:
    return [x for x in run.stderr.splitlines() if x.startswith("pixelguard imap: error:")]


def assert_originals_untouched(client, before: dict[str, dict], folder: str = "INBOX") -> None:
    """Every message of `before` is still in `folder`, byte for byte, same date, and nothing
    else is there (no stray copy). A tracked one has exactly its flags (no keyword: the next
    run tries again); the others may have gained the keyword (nothing to remove in them)."""
    now = by_message_id(snapshot(client, folder))
    assert set(now) == set(before)
    for mid, old in before.items():
        assert now[mid]["raw"] == old["raw"], mid
        assert now[mid]["date"] == old["date"], mid
        if mid in TRACKED:
            assert now[mid]["flags"] == old["flags"], mid
        else:
            assert now[mid]["flags"] in (old["flags"], old["flags"] | {KEYWORD}), mid


def assert_all_clean_once(client, before: dict[str, dict]) -> None:
    """After a complete run: each message once in INBOX, clean, its flags and date kept;
    each tracked original once in the originals folder, byte-identical."""
    inbox = by_message_id(snapshot(client))  # raises on a duplicate
    assert set(inbox) == set(before)
    for mid, msg in inbox.items():
        assert TRACKER_URL not in msg["raw"], mid
        assert msg["flags"] == before[mid]["flags"] | {KEYWORD}, mid
        assert msg["date"] == before[mid]["date"], mid
    kept = by_message_id(snapshot(client, ORIGINALS))
    assert TRACKED <= set(kept) <= TRACKED | {"<later@shop.example>"}
    assert all(kept[mid]["raw"] == before[mid]["raw"] for mid in TRACKED)


def sentinel_user(server, prefix: str) -> Mailbox:
    user = server.add_user(f"{prefix}{time.monotonic_ns()}@example.org", SENTINEL)
    return Mailbox(server, user, SENTINEL)


# -- the server goes away mid-batch --------------------------------------------------------


@pytest.fixture(scope="module")
def own_dovecot():
    """A Dovecot of this module's own: one test restarts it."""
    yield from running_dovecot()


@pytest.mark.parametrize(
    "step, fault, recovered",
    [
        ("before-append", "kill", 0),  # fetched and cleaned, nothing appended yet
        ("after-append", "kill", 2),  # copies appended, originals not yet retired
        ("before-append", "restart", 0),  # Dovecot restarts: still down when we go on
    ],
    ids=["kill-before-append", "kill-after-append", "restart-before-append"],
)
def test_disconnect_mid_batch_loses_and_doubles_nothing_and_a_rerun_finishes(
    own_dovecot, imap_config, step, fault, recovered
):
    mailbox = sentinel_user(own_dovecot, "drop")
    c = mailbox.client()
    seed(c)
    before = by_message_id(snapshot(c))
    c.create_folder("Later")  # configured after INBOX: worked on after the fault
    later = fixture_bytes("imap-tracker-newsletter.eml").replace(b"<imap-tracker-1@", b"<later@")
    c.append("Later", later)
    c.logout()
    config = imap_config(imap_account(mailbox, folders=["INBOX", "Later"]))
    killed: list[int] = []

    def fault_now(pid: int) -> None:
        if fault == "kill":
            killed.extend(server_imap_pids(pid, own_dovecot.imap_port))
            assert killed, "found no imap process serving pixelguard"
            for p in killed:
                os.kill(p, signal.SIGKILL)
        else:
            # Resume pixelguard while the server is down; wait for it to give up.
            def down():
                os.kill(pid, signal.SIGCONT)
                wait_until(lambda: _state(pid) in ("Z", "gone"), "pixelguard to give up")

            own_dovecot.restart(down=down)

    run = run_with_pause(config, step, fault_now, password=SENTINEL)

    assert run.returncode == EXIT_TEMPFAIL, run.stderr
    (line,) = error_lines(run)
    assert "connection lost while cleaning folder 'INBOX'" in line, run.stderr
    assert "nothing was lost" in line and "next run" in line
    assert mailbox.user in line and "Traceback" not in run.stderr
    assert SENTINEL not in run.stdout + run.stderr
    c = mailbox.client()
    if step == "before-append":
        assert_originals_untouched(c, before)
    else:  # originals and their copies: every message there, none lost
        present = [message_id(m["raw"]) for m in snapshot(c).values()]
        assert set(present) == ALL_IDS and len(present) == len(ALL_IDS) + len(TRACKED)
    (later_now,) = snapshot(c, "Later").values()
    if fault == "kill":  # logged in again and went on with the next folder
        assert TRACKER_URL not in later_now["raw"] and KEYWORD in later_now["flags"]
    else:  # the server was still down: the account stopped there, Later untouched
        assert later_now["raw"] == later and KEYWORD not in later_now["flags"]

    rerun = run_imap(config, "--once", "-v", password=SENTINEL)

    assert rerun.returncode == 0, rerun.stderr
    assert f"{recovered} recovered" in rerun.stdout, rerun.stdout
    assert SENTINEL not in rerun.stdout + rerun.stderr
    assert_all_clean_once(c, before)
    assert [TRACKER_URL in m["raw"] for m in snapshot(c, "Later").values()] == [False]
    c.logout()


# -- folders that vanish, or never were --------------------------------------------------


def _seed_folder(client, folder: str) -> None:
    client.create_folder(folder)
    for name, flags, date in BACKLOG:
        client.append(folder, fixture_bytes(name), flags=flags, msg_time=date)


@pytest.mark.parametrize("how", ["delete", "rename"])
def test_folder_deleted_or_renamed_under_us_stops_only_that_folder(
    dovecot, mailbox, imap_config, how
):
    c = mailbox.client()
    _seed_folder(c, "Lists")
    seed(c)  # INBOX, configured after Lists
    lists_before = by_message_id(snapshot(c, "Lists"))
    inbox_before = by_message_id(snapshot(c))
    other = Mailbox(dovecot, dovecot.new_user("other"), "secret")
    oc = other.client()
    seed(oc)
    other_before = by_message_id(snapshot(oc))
    config = imap_config(
        imap_account(mailbox, name="main", folders=["Lists", "Missing", "INBOX"]),
        imap_account(other, name="other"),
    )

    def change_folder(_pid: int) -> None:
        admin = mailbox.client()
        if how == "delete":
            admin.delete_folder("Lists")
        else:
            admin.rename_folder("Lists", "Lists-renamed")
        admin.logout()

    run = run_with_pause(config, "before-append", change_folder)

    assert run.returncode == EXIT_PARTIAL, run.stderr
    lines = error_lines(run)
    assert len(lines) == 2, run.stderr  # one per lost folder, nothing else
    assert "folder 'Lists': it no longer exists" in lines[0], lines
    assert "folder 'Missing': it no longer exists" in lines[1], lines
    assert all("'main'" in line for line in lines) and "Traceback" not in run.stderr
    # the other folder of the same account and the other account were cleaned
    assert "2 accounts, 2 failures: " in run.stdout and " 4 cleaned" in run.stdout, run.stdout
    assert_all_clean_once(c, inbox_before)
    assert_all_clean_once(oc, other_before)
    if how == "rename":  # the renamed folder holds what it held: nothing lost or replaced
        assert_originals_untouched(c, lists_before, "Lists-renamed")
    c.logout()
    oc.logout()


@pytest.mark.parametrize("caps", [None, "no-move"], ids=["move", "copy-expunge"])
def test_originals_folder_deleted_under_us_is_created_again(
    dovecot, dovecot_with, imap_config, caps
):
    server = dovecot if caps is None else dovecot_with(NO_MULTIAPPEND)  # no MOVE either
    mailbox = Mailbox(server, server.new_user("orig"), "secret")
    c = mailbox.client()
    seed(c)
    before = by_message_id(snapshot(c))
    config = imap_config(imap_account(mailbox))

    def delete_originals(_pid: int) -> None:
        admin = mailbox.client()
        assert admin.folder_exists(ORIGINALS)  # created at the start of the pass
        admin.delete_folder(ORIGINALS)
        admin.logout()

    run = run_with_pause(config, "after-append", delete_originals)

    assert run.returncode == 0, run.stderr
    assert "originals folder 'pixelguard/originals' is gone" in run.stderr
    assert "2 cleaned" in run.stdout and "0 errors" in run.stdout, run.stdout
    assert_all_clean_once(c, before)  # no copy left next to its original
    c.logout()


# -- a full quota ---------------------------------------------------------------------------


@pytest.mark.parametrize("caps", [None, NO_MULTIAPPEND], ids=["multiappend", "one-append-each"])
def test_over_quota_append_leaves_each_original_exactly_as_it_was(
    dovecot, dovecot_with, imap_config, caps
):
    server = dovecot if caps is None else dovecot_with(caps)
    user = server.new_user("quota", quota="2K")  # the backlog fits, the cleaned copies do not
    mailbox = Mailbox(server, user, server.password(user))
    c = mailbox.client()
    seed(c)
    before = by_message_id(snapshot(c))
    config = imap_config(imap_account(mailbox))

    for attempt in range(2):  # a retry changes nothing either
        run = run_imap(config, "--once")

        assert run.returncode == EXIT_PARTIAL, run.stderr
        refused = [x for x in run.stderr.splitlines() if "(original kept)" in x]
        assert len(refused) == len(TRACKED), run.stderr  # one line per message
        assert all("quota" in x.lower() for x in refused), refused
        assert "0 cleaned" in run.stdout and "2 errors" in run.stdout, run.stdout
        # bytes, flags (no keyword: the next run tries again), INTERNALDATE, no stray copy
        assert_originals_untouched(c, before)
        assert snapshot(c, ORIGINALS) == {}
    c.logout()


def test_append_refused_with_trycreate_stops_the_folder_in_one_line(mailbox, monkeypatch):
    """A server that keeps the connection and answers TRYCREATE (RFC 3501) when the selected
    folder has gone: the folder stops with one FolderGoneError, the original untouched."""
    from imapclient.exceptions import IMAPClientError

    from pixelguard.config import ImapAccount
    from pixelguard.imap.connection import connect
    from pixelguard.imap.progress import Progress
    from pixelguard.imap.run import FolderGoneError, Options, clean_folder
    from pixelguard.model import Policy

    c = mailbox.client()
    seed(c)
    before = by_message_id(snapshot(c))
    monkeypatch.setenv(PASSWORD_ENV, mailbox.password)
    session = connect(ImapAccount(**imap_account(mailbox, name="t")))

    def refuse(*_a, **_k):
        raise IMAPClientError("append failed: [TRYCREATE] Mailbox doesn't exist: INBOX")

    monkeypatch.setattr(session.client, "multiappend", refuse)
    monkeypatch.setattr(session.client, "append", refuse)

    with pytest.raises(FolderGoneError, match="folder 'INBOX': it no longer exists"):
        clean_folder(session, "INBOX", Policy(), Options(), Progress(tty=False), "delete")

    session.logout()
    assert_originals_untouched(c, before)
    c.logout()


# -- secrets ------------------------------------------------------------------------------


def test_no_secret_on_error_paths_even_verbose(dovecot, imap_config):
    """Missing folder, refused APPEND (quota), and a password_command: the password and the
    command's output appear nowhere, also at -v."""
    user = dovecot.add_user(f"secret{time.monotonic_ns()}@example.org", SENTINEL, quota="2K")
    mailbox = Mailbox(dovecot, user, SENTINEL)
    c = mailbox.client()
    seed(c)
    c.logout()
    account = imap_account(
        mailbox,
        folders=["INBOX", "Missing"],
        password_command=f"echo {SENTINEL}; echo second-line-{SENTINEL}",
    )
    del account["password_env"]

    run = run_imap(imap_config(account), "--once", "-v", password="unused")

    assert run.returncode == EXIT_PARTIAL, run.stderr
    assert "Missing" in run.stderr and "quota" in run.stderr.lower()
    assert SENTINEL not in run.stdout + run.stderr
    assert base64.b64encode(SENTINEL.encode()).decode() not in run.stdout + run.stderr


# -- DKIM-aware trust for allowed senders -------------------------------------------------

OUR_ID = "pg.example.net"


@pytest.fixture(scope="module")
def keys():
    return {"shop": rsa_key(), "forger": rsa_key(), "arc": rsa_key()}


@pytest.fixture
def dns(keys, monkeypatch):
    """pixelguard's DKIM lookups in this process answered from the test's keys: no network."""
    from pixelguard import dkim_verify

    dnsfunc = zone_dnsfunc(
        {
            b"s1._domainkey.shop.example.": keys["shop"][1],
            b"seal._domainkey.pg.example.net.": keys["arc"][1],
        }
    )
    monkeypatch.setattr(dkim_verify, "dns_txt", dnsfunc)
    return dnsfunc


def shop_message(n: int) -> bytes:
    return (
        textwrap.dedent(
            f"""\
            From: Shop News <news@shop.example>
            To: Bob <bob@example.org>
            Subject: Our news {n}
            Date: Mon, 23 Nov 2026 10:00:00 +0000
            Message-ID: <dkim-{n}@shop.example>
            MIME-Version: 1.0
            Content-Type: text/html; charset=utf-8

            <html><body><p>Hello Bob, news number {n}.</p>
            <img src="http://127.0.0.1/open?id={n}" width="1" height="1" alt="">
            </body></html>
            """
        )
        .replace("\n", "\r\n")
        .encode()
    )


def signed(raw: bytes, key: bytes) -> bytes:
    import dkim

    return dkim.sign(raw, b"s1", b"shop.example", key) + raw


def _clean_in_process(mailbox, monkeypatch, tmp_path, auth_extra: str = "") -> tuple:
    """clean_account in this process (so the `dns` fixture answers its lookups), shop.example allowed for the user."""
    from pixelguard.config import parse_config
    from pixelguard.imap.progress import Progress
    from pixelguard.imap.run import Options, clean_account

    monkeypatch.setenv(PASSWORD_ENV, mailbox.password)
    text = f"""\
auth:
  authserv_id: {OUR_ID}
{auth_extra}users:
  {mailbox.user}:
    allow: {{senders: [shop.example]}}
imap:
  accounts:
    - {{name: t, host: 127.0.0.1, port: {mailbox.server.imap_port}, security: none,
        username: {mailbox.user}, password_env: {PASSWORD_ENV}, originals: delete}}
"""
    cfg = parse_config(text, str(tmp_path / "pixelguard.yaml"))
    result = clean_account(cfg.imap.accounts[0], cfg, Options(), Progress(tty=False))
    return result


def _by_subject(client) -> dict[str, bytes]:
    out = {}
    for msg in snapshot(client).values():
        m = re.search(rb"^Subject: (.*?)\r?$", msg["raw"], re.MULTILINE)
        out[m.group(1).decode()] = msg["raw"]
    return out


def test_allowed_sender_is_honoured_only_with_a_dkim_pass(
    mailbox, monkeypatch, tmp_path, keys, dns
):
    genuine = signed(shop_message(1), keys["shop"][0])
    spoofed = shop_message(2)  # From: the allowed domain, no signature
    forged = signed(shop_message(3), keys["forger"][0])  # signed, but not with shop's key
    c = mailbox.client()
    for raw in (genuine, spoofed, forged):
        c.append("INBOX", raw)

    result = _clean_in_process(mailbox, monkeypatch, tmp_path)

    assert result.failures == [] and result.stats.cleaned == 2, result.stats
    assert b"s1._domainkey.shop.example." in dns.asked
    after = _by_subject(c)
    assert after["Our news 1"] == genuine  # honoured: untouched, byte for byte
    for n, verdict in ((2, b"dkim=none"), (3, b"dkim=fail")):
        raw = after[f"Our news {n}"]
        assert b"127.0.0.1/open" not in raw, n  # still cleaned
        assert re.search(
            rb"^Authentication-Results: " + OUR_ID.encode() + rb";.*" + verdict, raw, re.MULTILINE
        ), raw[:600]
        assert re.match(rb"X-PixelGuard-Original:\s+sha256=", raw), raw[:200]  # digest kept first
    c.logout()


def test_cleaned_copy_is_arc_sealed_when_configured(mailbox, monkeypatch, tmp_path, keys, dns):
    import dkim

    (tmp_path / "seal.key").write_bytes(keys["arc"][0])
    other = shop_message(4).replace(b"news@shop.example", b"news@elsewhere.example")
    c = mailbox.client()
    c.append("INBOX", other)

    result = _clean_in_process(
        mailbox,
        monkeypatch,
        tmp_path,
        "  arc: {domain: pg.example.net, selector: seal, key_file: seal.key}\n",
    )

    assert result.failures == [] and result.stats.cleaned == 1, result.stats
    (raw,) = _by_subject(c).values()
    assert b"127.0.0.1/open" not in raw
    assert re.match(rb"X-PixelGuard-Original:\s+sha256=", raw)
    cv, results, reason = dkim.arc_verify(raw, dnsfunc=dns)
    assert cv == dkim.CV_Pass, reason
    assert results[0]["as-domain"] == b"pg.example.net"
    c.logout()
