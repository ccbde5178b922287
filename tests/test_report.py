"""`pixelguard report`: X-PixelGuard headers of cleaned mail from a Maildir, an mbox file or a
directory of .eml files, summarised as sender domain x vendor x month."""
from __future__ import annotations

import json
import mailbox

import pytest

from pixelguard import Policy, clean_message
from pixelguard.cli import main as cli_main
from pixelguard.headers import mark_error
from pixelguard.report import Report, parse_stamp, seen_from_headers

SENDGRID = '<img src="https://u1.ct.sendgrid.net/wf/open?upn=Zx8Qw2Lm9Tb4Vn7Rk3Hp" width="1" height="1">'
MAILCHIMP = '<img src="https://shop.us1.list-manage.com/track/open.php?u=1a2b3c&id=4d5e6f" width="1" height="1">'
PLAIN = '<img src="https://cdn.example/logo.png" width="120" height="40" alt="Logo">'


def message(sender: str, date: str, *imgs: str) -> bytes:
    body = "<html><body><p>Hello</p>" + "".join(imgs) + "</body></html>"
    return (f"From: News <{sender}>\r\nTo: bob@example.org\r\nDate: {date}\r\n"
            f"Subject: news\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
            f"{body}\r\n").encode()


def cleaned(sender: str, date: str, *imgs: str) -> bytes:
    result = clean_message(message(sender, date, *imgs), Policy(recipients=("bob@example.org",)))
    assert result.error is None
    return result.raw


# A small mailbox: shop.example tracks twice in March (SendGrid, then SendGrid+Mailchimp) and
# once in April; club.example once; one message had nothing to remove; one could not be cleaned.
MESSAGES = [
    cleaned("news@shop.example", "Tue, 03 Mar 2026 10:00:00 +0000", SENDGRID),
    cleaned("offers@News.Shop.Example", "Wed, 18 Mar 2026 23:30:00 -0300", SENDGRID, MAILCHIMP),
    cleaned("news@shop.example", "Thu, 02 Apr 2026 08:00:00 +0000", MAILCHIMP),
    cleaned("hi@club.example", "Fri, 03 Apr 2026 08:00:00 +0000", MAILCHIMP, PLAIN),
    cleaned("friend@example.net", "Fri, 03 Apr 2026 09:00:00 +0000", PLAIN),
    mark_error(message("x@broken.example", "Fri, 03 Apr 2026 09:00:00 +0000"), "message nested too deeply"),
]


def check_summary(data: dict) -> None:
    assert data["messages_scanned"] == 6
    assert data["messages_cleaned"] == 4
    assert data["errors"] == 1
    assert data["trackers_removed"] == 5
    senders = data["by_sender"]
    assert [s["domain"] for s in senders] == ["shop.example", "club.example"]
    assert senders[0] == {"domain": "shop.example", "messages": 3, "trackers": 4,
                          "vendors": {"SendGrid": 2, "Mailchimp": 2}}
    assert data["by_vendor"] == {"Mailchimp": 3, "SendGrid": 2}
    months = {(r["month"], r["domain"], r["vendor"]): r["messages"] for r in data["by_month"]}
    # 18 Mar 23:30 -0300 is 19 Mar in UTC: still March
    assert months == {
        ("2026-03", "shop.example", "SendGrid"): 2,
        ("2026-03", "shop.example", "Mailchimp"): 1,
        ("2026-04", "shop.example", "Mailchimp"): 1,
        ("2026-04", "club.example", "Mailchimp"): 1,
    }


def run_json(capsys, *args: str) -> dict:
    assert cli_main(["report", "--json", *args]) == 0
    return json.loads(capsys.readouterr().out)


def test_maildir_cur_and_new(tmp_path, capsys):
    md = mailbox.Maildir(str(tmp_path / "Mail"), create=True)
    for i, raw in enumerate(MESSAGES):
        key = md.add(raw)
        if i % 2:  # half of them read (moved to cur/), half still in new/
            msg = md[key]
            msg.set_subdir("cur")
            md[key] = msg
    assert any((tmp_path / "Mail" / "cur").iterdir()) and any((tmp_path / "Mail" / "new").iterdir())
    check_summary(run_json(capsys, str(tmp_path / "Mail")))


def test_mbox_file(tmp_path, capsys):
    box = mailbox.mbox(str(tmp_path / "archive.mbox"))
    for raw in MESSAGES:
        box.add(raw)
    box.flush()
    box.close()
    check_summary(run_json(capsys, str(tmp_path / "archive.mbox")))


def test_directory_of_eml_files(tmp_path, capsys):
    for i, raw in enumerate(MESSAGES):
        (tmp_path / f"{i:02d}.eml").write_bytes(raw)
    (tmp_path / "notes.txt").write_text("not a message")
    check_summary(run_json(capsys, str(tmp_path)))


def test_text_table_names_top_senders_and_months(tmp_path, capsys):
    for i, raw in enumerate(MESSAGES):
        (tmp_path / f"{i:02d}.eml").write_bytes(raw)
    assert cli_main(["report", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "6 messages read, 4 cleaned by pixelguard, 5 trackers removed, 1 not cleaned" in out
    lines = out.splitlines()
    first = next(i for i, line in enumerate(lines) if "sender domain" in line)
    assert lines[first + 1].split()[:3] == ["shop.example", "3", "4"]
    assert "SendGrid (2), Mailchimp (2)" in lines[first + 1]
    assert any(line.split()[:4] == ["2026-03", "shop.example", "SendGrid", "2"] for line in lines)


def test_top_limits_senders_and_rows_per_month(tmp_path, capsys):
    for i, raw in enumerate(MESSAGES):
        (tmp_path / f"{i:02d}.eml").write_bytes(raw)
    assert cli_main(["report", "--top", "1", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "… and 1 more sender domains" in out
    assert "2026-03  … and 1 more rows" in out and "2026-04  … and 1 more rows" in out


def test_empty_maildir_says_so(tmp_path, capsys):
    mailbox.Maildir(str(tmp_path / "Mail"), create=True)
    assert cli_main(["report", str(tmp_path / "Mail")]) == 0
    assert "No message carries a pixelguard report" in capsys.readouterr().out


@pytest.mark.parametrize("host, org", [
    ("shop.example", "shop.example"),
    ("news.shop.example", "shop.example"),
    ("a1b2.reply.bounce.shop.example", "shop.example"),
    ("mail.shop.co.uk", "shop.co.uk"),
    ("e.brand.com.au", "brand.com.au"),
    ("em.brand.de", "brand.de"),
    ("news.gmx.de", "gmx.de"),
    ("mail.bbc.co.uk", "bbc.co.uk"),
])
def test_sender_subdomains_fold_into_the_organisation_domain(host, org):
    from pixelguard.report import org_domain

    assert org_domain(host) == org


def test_folded_header_and_quoted_vendors_with_commas():
    stamp = parse_stamp('removed=3; vendors="Mailchimp, Salesforce Marketing\r\n Cloud";\r\n'
                        " rules=known-tracker,size")
    assert stamp.removed == 3
    assert stamp.vendors == ("Mailchimp", "Salesforce Marketing Cloud")
    assert stamp.rules == ("known-tracker", "size")


def test_error_values_and_foreign_headers():
    assert parse_stamp("error; message nested too deeply").error == "message nested too deeply"
    assert parse_stamp("scanned by something else") is None
    assert parse_stamp("removed=2; rules=size").vendors == ()


def test_a_stamp_without_vendors_counts_under_an_unnamed_vendor():
    head = b"X-PixelGuard: removed=2; rules=size\r\nFrom: a@b.example\r\nDate: Sun, 01 Feb 2026 00:00:00 +0000\r\n\r\n"
    report = Report()
    report.add(seen_from_headers(head))
    assert report.as_dict()["by_vendor"] == {"(no vendor named)": 1}
    assert report.as_dict()["by_month"][0]["month"] == "2026-02"


def test_missing_date_without_a_file_time_is_an_unknown_month():
    seen = seen_from_headers(b"X-PixelGuard: removed=1; vendors=\"X\"; rules=size\r\nFrom: a@b.example\r\n\r\n")
    assert seen.month == "unknown"


@pytest.mark.parametrize("args", [[], ["a", "--imap", "x"], ["--folder", "INBOX", "somewhere"]])
def test_usage_errors_exit_2(args, capsys):
    with pytest.raises(SystemExit) as err:
        cli_main(["report", *args])
    assert err.value.code == 2


def test_missing_path_and_unknown_account_exit_2(tmp_path, capsys):
    assert cli_main(["report", str(tmp_path / "nope")]) == 2
    assert "no such file" in capsys.readouterr().err
    cfg = tmp_path / "c.yaml"
    cfg.write_text("defaults: {action: strip}\n")
    assert cli_main(["report", "--imap", "work", "--config", str(cfg)]) == 2
    assert "no IMAP account named 'work'" in capsys.readouterr().err


def test_maildir_written_by_the_relay(tmp_path, capsys):
    from pixelguard.relay.maildir import deliver

    box = str(tmp_path / "relay-Maildir")
    for raw in MESSAGES:  # as the relay's maildir: next hop stores them (LF, Delivered-To first)
        deliver(box, raw, "bob@example.org", "sender@example.net")
    check_summary(run_json(capsys, box))
