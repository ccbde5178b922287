"""`pixelguard report --imap` against a real Dovecot: reads X-PixelGuard headers of a folder
without changing anything."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import PASSWORD_ENV, ROOT, imap_account

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
    env = {**os.environ, PASSWORD_ENV: password}
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
    # the server-side search returns only stamped messages: 4 in INBOX, 1 in Archive
    assert data["messages_scanned"] == 5
    assert data["messages_cleaned"] == 4 and data["errors"] == 1
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
