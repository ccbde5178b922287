"""`pixelguard report --imap` against a real Dovecot: reads X-PixelGuard headers of a folder
without changing anything."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone

from imap_support import PASSWORD_ENV, ROOT, imap_account, run_imap

from pixelguard import Policy, clean_message
from pixelguard.headers import mark_error

PIXEL = '<img src="https://u1.ct.sendgrid.net/wf/open?upn=Zx8Qw2Lm9Tb4Vn7Rk3Hp" width="1" height="1">'
MC = '<img src="https://shop.us1.list-manage.com/track/open.php?u=1a2b3c&id=4d5e6f" width="1" height="1">'


def message(sender: str, date: str, *imgs: str) -> bytes:
    body = "<html><body><p>Hi</p>" + "".join(imgs) + "</body></html>"
    return (f"From: <{sender}>\r\nTo: bob@example.org\r\nDate: {date}\r\nSubject: s\r\n"
            "MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
            f"{body}\r\n").encode()


def cleaned(*args: str) -> bytes:
    return clean_message(message(*args), Policy()).raw


def run_report(config: str, *args: str, password: str) -> subprocess.CompletedProcess:
    # a local zone far from UTC: dates must not be read as local time anywhere
    env = {**os.environ, PASSWORD_ENV: password, "TZ": "Asia/Tokyo"}
    return subprocess.run([sys.executable, "-m", "pixelguard", "report", "--config", config, *args],
                          check=False, capture_output=True, text=True, env=env, timeout=120,
                          cwd=ROOT)


def test_report_reads_an_imap_folder_read_only(mailbox, imap_config):
    c = mailbox.client()
    c.append("INBOX", cleaned("news@shop.example", "Tue, 03 Mar 2026 10:00:00 +0000", PIXEL))
    c.append("INBOX", cleaned("news@shop.example", "Thu, 02 Apr 2026 10:00:00 +0000", PIXEL, MC))
    c.append("INBOX", cleaned("hi@club.example", "Thu, 02 Apr 2026 11:00:00 +0000", MC))
    c.append("INBOX", message("friend@example.net", "Thu, 02 Apr 2026 12:00:00 +0000"))
    c.append("INBOX", mark_error(message("x@bad.example", "Thu, 02 Apr 2026 12:00:00 +0000"), "bad"))
    c.create_folder("Archive")
    c.append("Archive", cleaned("old@shop.example", "Mon, 05 Jan 2026 10:00:00 +0000", PIXEL))
    config = imap_config(imap_account(mailbox, folders=["INBOX", "Archive"]))

    proc = run_report(config, "--imap", "test", "--json", password=mailbox.password)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    # every message is read, stamped or not (as from a Maildir): 5 in INBOX, 1 in Archive
    assert data["messages_scanned"] == 6
    assert data["messages_cleaned"] == 4 and data["errors"] == 1
    assert data["messages_unchanged"] == 1
    assert data["headline"] == "4 of 6 messages carried trackers (67 %), 5 removed"
    assert data["trackers_removed"] == 5
    assert [(s["domain"], s["messages"]) for s in data["by_sender"]] == [
        ("shop.example", 3), ("club.example", 1)]
    months = {(r["month"], r["domain"], r["vendor"]): r["messages"] for r in data["by_month"]}
    assert months[("2026-01", "shop.example", "SendGrid")] == 1
    assert months[("2026-04", "shop.example", "Mailchimp")] == 1

    one = run_report(config, "--imap", "test", "--folder", "Archive", "--json",
                     password=mailbox.password)
    assert one.returncode == 0, one.stderr
    assert json.loads(one.stdout)["messages_cleaned"] == 1

    # read-only: nothing was marked \Seen or otherwise changed
    c.select_folder("INBOX", readonly=True)
    flags = c.get_flags(c.search("ALL"))
    assert all(b"\\Seen" not in f for f in flags.values())
    c.logout()


def test_report_on_a_wrong_password_names_the_account_and_fails(mailbox, imap_config):
    config = imap_config(imap_account(mailbox))
    proc = run_report(config, "--imap", "test", password="Zq7-not-the-password")
    assert proc.returncode == 3, proc.stderr
    assert "account 'test'" in proc.stderr and "login failed" in proc.stderr
    assert "Zq7-not-the-password" not in proc.stderr


def test_report_on_an_unknown_folder_fails_with_a_reason(mailbox, imap_config):
    config = imap_config(imap_account(mailbox, folders=["NoSuchFolder"]))
    proc = run_report(config, "--imap", "test", password=mailbox.password)
    assert proc.returncode == 1
    assert "NoSuchFolder" in proc.stderr


def test_imap_and_maildir_reports_of_one_folder_agree(mailbox, imap_config):
    """`pixelguard imap` cleans INBOX (originals go to pixelguard/originals); the report read
    over IMAP and the report read from the same folder's Maildir on disk say the same."""
    c = mailbox.client()
    c.append("INBOX", message("news@shop.example", "Tue, 03 Mar 2026 10:00:00 +0000", PIXEL))
    c.append("INBOX", message("news@shop.example", "Thu, 02 Apr 2026 10:00:00 +0000", PIXEL, MC))
    c.append("INBOX", message("hi@club.example", "Thu, 02 Apr 2026 11:00:00 +0000", MC))
    c.append("INBOX", message("friend@example.net", "Thu, 02 Apr 2026 12:00:00 +0000"))
    c.append("INBOX", mark_error(message("x@bad.example", "Thu, 02 Apr 2026 12:00:00 +0000"), "bad"))
    # no Date header: the month comes from INTERNALDATE (on disk: the file's time, which
    # Dovecot sets to it); 31 Jan 17:00 at -03:00 is January in UTC, February in Tokyo
    undated = message("news@shop.example", "", PIXEL).replace(b"Date: \r\n", b"")
    c.append("INBOX", undated, msg_time=datetime(2026, 1, 31, 17, 0,
                                                 tzinfo=timezone(timedelta(hours=-3))))
    c.logout()
    config = imap_config(imap_account(mailbox))
    cleaning = run_imap(config, "--once", password=mailbox.password)
    assert cleaning.returncode == 0, cleaning.stderr

    over_imap = run_report(config, "--imap", "test", "--json", password=mailbox.password)
    assert over_imap.returncode == 0, over_imap.stderr
    inbox_maildir = mailbox.server.root / "mail" / mailbox.user
    assert (inbox_maildir / "cur").is_dir()
    on_disk = run_report(config, str(inbox_maildir), "--json", password=mailbox.password)
    assert on_disk.returncode == 0, on_disk.stderr
    data = json.loads(over_imap.stdout)
    assert data == json.loads(on_disk.stdout)
    # the four originals kept in pixelguard/originals are not counted a second time
    assert data["headline"] == "4 of 6 messages carried trackers (67 %), 5 removed"
    assert (data["messages_cleaned"], data["messages_unchanged"], data["errors"]) == (4, 1, 1)
    assert data["months"][0] == {"month": "2026-01", "read": 1, "cleaned": 1, "trackers": 1}
    text = [run_report(config, *src, password=mailbox.password).stdout
            for src in (["--imap", "test"], [str(inbox_maildir)])]
    assert text[0] == text[1] and text[0].startswith(data["headline"] + "\n")

    originals = run_report(config, "--imap", "test", "--folder", "pixelguard/originals", "--json",
                           password=mailbox.password)
    assert originals.returncode == 0, originals.stderr
    assert "holds the originals of cleaned messages" in originals.stderr
    kept = json.loads(originals.stdout)
    assert (kept["messages_scanned"], kept["messages_unchanged"]) == (4, 4)
