"""`pixelguard report`: X-PixelGuard headers of cleaned mail from a Maildir, an mbox file or a
directory of .eml files, summarised as sender domain x vendor x month."""
from __future__ import annotations

import io
import json
import mailbox

import pytest

from pixelguard import Policy, clean_message
from pixelguard.cli import main as cli_main
from pixelguard.headers import mark_error
from pixelguard.report import SENDERS_SHOWN, VENDORS_SHOWN, Report, parse_stamp, seen_from_headers

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
    assert data["messages_unchanged"] == 1
    assert data["messages_skipped"] == 0
    assert data["errors"] == 1
    assert data["trackers_removed"] == 5
    assert data["headline"] == "4 of 6 messages carried trackers (67 %), 5 removed"
    assert data["percent_with_trackers"] == 66.7
    senders = data["by_sender"]
    assert [s["domain"] for s in senders] == ["shop.example", "club.example"]
    assert senders[0] == {"domain": "shop.example", "messages": 3, "read": 3, "trackers": 4,
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
    assert data["months"] == [{"month": "2026-03", "read": 2, "cleaned": 2, "trackers": 3},
                              {"month": "2026-04", "read": 4, "cleaned": 2, "trackers": 2}]


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


def eml_dir(tmp_path, messages=MESSAGES):
    for i, raw in enumerate(messages):
        (tmp_path / f"{i:02d}.eml").write_bytes(raw)
    return str(tmp_path)


def run_text(capsys, *args: str) -> list[str]:
    assert cli_main(["report", *args]) == 0
    return capsys.readouterr().out.splitlines()


def test_text_opens_with_the_headline_then_vendors_senders_and_months(tmp_path, capsys):
    lines = run_text(capsys, eml_dir(tmp_path))
    assert lines[0] == "4 of 6 messages carried trackers (67 %), 5 removed"
    assert lines[1] == "Read 6 messages: 4 cleaned, 1 unchanged, 1 error (passed on uncleaned)."
    vendors = lines.index("Vendors (messages with their trackers)")
    assert lines[vendors + 1].split()[:2] == ["Mailchimp", "3"]
    assert lines[vendors + 2].split()[:2] == ["SendGrid", "2"]
    senders = next(i for i, line in enumerate(lines) if line.startswith("Senders"))
    assert lines[senders + 1].split() == ["shop.example", "3", "of", "3", "4", "trackers",
                                          "SendGrid,", "Mailchimp"]
    grid = lines.index("Trackers removed per month")
    assert lines[grid + 1].split()[:4] == ["Jan", "Feb", "Mar", "Apr"]
    # 2026: nothing in Jan and Feb, 3 trackers in March, 2 in April (in their columns)
    row = lines[grid + 2]
    assert row.startswith("  2026") and row[8 + 2 * 5:8 + 4 * 5].split() == ["3", "2"]
    assert row[8:8 + 2 * 5].strip() == ""
    assert lines[-1].startswith("More: --by")


def test_top_limits_the_rankings_and_sums_the_rest(tmp_path, capsys):
    unnamed = '<img src="https://t.third.example/o/Zx8Qw2Lm9Tb4.gif" width="1" height="1">'
    third = cleaned("deals@third.example", "Fri, 03 Apr 2026 10:00:00 +0000", unnamed)
    lines = run_text(capsys, "--top", "1", eml_dir(tmp_path, [*MESSAGES, third]))
    assert next(line for line in lines if "other vendors" in line).split() == [
        "2", "other", "vendors", "3"]  # SendGrid 2 + (no vendor named) 1
    rest = next(line for line in lines if "other senders" in line)
    assert rest.split()[3:8] == ["2", "of", "2", "2", "trackers"]  # club + third: 1 each


def test_a_single_rest_row_is_shown_by_name(tmp_path, capsys):
    lines = run_text(capsys, "--top", "1", eml_dir(tmp_path))
    assert not any("other" in line for line in lines)
    assert any(line.split()[:2] == ["club.example", "1"] for line in lines)


def test_by_tables_list_everything(tmp_path, capsys):
    lines = run_text(capsys, "--by", "sender", "--by", "vendor", "--by", "month", eml_dir(tmp_path))
    text = "\n".join(lines)
    assert "SendGrid (2), Mailchimp (2)" in text
    vendor = lines.index("By vendor")
    assert lines[vendor + 2].split() == ["Mailchimp", "3", "75", "%", "2"]  # 3 of 4 cleaned, 2 senders
    month = lines.index("By month")
    assert lines[month + 2].split() == ["2026-03", "2", "2", "100", "%", "3", "SendGrid,", "Mailchimp"]
    assert lines[month + 3].split()[:6] == ["2026-04", "4", "2", "50", "%", "2"]
    assert "Trackers removed per month" not in text  # the overview gives way to the tables


def test_since_keeps_messages_dated_from_then_on(tmp_path, capsys):
    folder = eml_dir(tmp_path)
    assert run_text(capsys, "--since", "2026-04", folder)[0] == (
        "Since 2026-04-01: 2 of 4 messages carried trackers (50 %), 2 removed")
    data = run_json(capsys, "--since", "2026-03-18", folder)
    # 18 Mar 23:30 -0300 is 19 Mar 02:30 UTC: in; 3 Mar: out
    assert (data["messages_scanned"], data["messages_cleaned"], data["since"]) == (5, 3, "2026-03-18")


@pytest.mark.parametrize("bad", ["2026", "03-2026", "2026-13", "yesterday"])
def test_a_bad_since_is_a_usage_error(bad, capsys):
    with pytest.raises(SystemExit) as err:
        cli_main(["report", "--since", bad, "."])
    assert err.value.code == 2
    assert "not a date like 2026-03" in capsys.readouterr().err


def test_plurals_read_naturally(tmp_path, capsys):
    one = [cleaned("news@shop.example", "Tue, 03 Mar 2026 10:00:00 +0000", SENDGRID)]
    lines = run_text(capsys, eml_dir(tmp_path, one))
    assert lines[0] == "1 of 1 message carried trackers (100 %), 1 removed"
    assert lines[1] == "Read 1 message: 1 cleaned, 0 unchanged."
    assert "1 tracker " in next(line for line in lines if "shop.example" in line)


@pytest.mark.parametrize("part, whole, shown", [
    (0, 5, "0 %"), (1, 300, "<1 %"), (299, 300, ">99 %"), (19, 22, "86 %"), (5, 5, "100 %"),
    (1, 2, "50 %"),
])
def test_percent_never_rounds_to_none_or_all(part, whole, shown):
    from pixelguard.report import percent

    assert percent(part, whole) == shown


def test_every_message_read_is_counted_exactly_once():
    """read = cleaned + unchanged + skipped + errors, whatever each header says."""
    heads = [
        b"X-PixelGuard: removed=2; vendors=\"A\"; rules=size\r\n\r\n",
        b"X-PixelGuard: removed=1; rules=size; skipped=part 2 larger than 5 bytes\r\n\r\n",
        b"X-PixelGuard: removed=0; rules=\r\n\r\n",
        b"X-PixelGuard: skipped; part 1.2 larger than 10 bytes\r\n\r\n",
        b"X-PixelGuard: error; message nested too deeply\r\n\r\n",
        b"Subject: never filtered\r\n\r\n",
        b"X-PixelGuard: something foreign\r\n\r\n",
    ]
    report = Report()
    for head in heads:
        report.add(seen_from_headers(b"From: a@b.example\r\n" + head))
    assert (report.scanned, report.cleaned, report.unchanged, report.skipped, report.errors) == (
        7, 2, 3, 1, 1)
    assert report.trackers == 3


def test_a_skipped_header_from_the_core_counts_as_skipped():
    big = message("news@shop.example", "Tue, 03 Mar 2026 10:00:00 +0000", SENDGRID)
    result = clean_message(big, Policy(recipients=("bob@example.org",), max_html_bytes=10))
    assert result.raw.startswith(b"X-PixelGuard: skipped")
    report = Report()
    report.add(seen_from_headers(result.raw))
    assert (report.scanned, report.skipped, report.cleaned) == (1, 1, 0)


def test_the_default_text_fits_a_screen_for_a_big_varied_maildir(tmp_path, capsys):
    from report_mail import maildir, varied_messages

    box = maildir(tmp_path / "Mail", varied_messages(300))
    lines = run_text(capsys, str(box))
    assert len(lines) <= 40, "\n".join(lines)
    data = run_json(capsys, str(box))
    assert data["messages_scanned"] == 300
    assert len(data["by_vendor"]) > VENDORS_SHOWN and len(data["by_sender"]) > SENDERS_SHOWN
    assert any("other vendors" in line for line in lines)
    assert any("other senders" in line for line in lines)
    assert lines[0] == data["headline"]


def test_twenty_years_of_mail_still_fit_a_screen(tmp_path, capsys):
    msgs = [cleaned(f"n@s{y}.example", f"Tue, 03 Mar {y} 10:00:00 +0000", SENDGRID)
            for y in range(2000, 2020)]
    lines = run_text(capsys, eml_dir(tmp_path, msgs))
    assert len(lines) <= 40
    assert "  2000–2013: 14 removed (--by month)" in lines
    assert sum(line.startswith("  20") and len(line.split()) == 2 for line in lines) == 6


def test_names_from_mail_cannot_drive_the_terminal(tmp_path, capsys):
    head = (b'X-PixelGuard: removed=1; vendors="Evil\x1b[2J\x1b]0;owned\x07Corp\xff"; rules=size\r\n'
            b"From: a@b.example\r\nDate: Tue, 03 Mar 2026 10:00:00 +0000\r\n\r\n")
    (tmp_path / "a.eml").write_bytes(head)
    out = "\n".join(run_text(capsys, str(tmp_path)))
    assert "\x1b" not in out and "\x07" not in out
    assert "Evil\ufffd[2J\ufffd]0;owned\ufffdCorp\ufffd" in out


def test_names_from_mail_cannot_reorder_the_line(tmp_path, capsys):
    """A right-to-left override in a name would turn the rest of the line around."""
    head = ('X-PixelGuard: removed=1; vendors="Evil\u202eroC\u2066x"; rules=size\r\n'
            "From: a@b.example\r\nDate: Tue, 03 Mar 2026 10:00:00 +0000\r\n\r\n").encode()
    (tmp_path / "a.eml").write_bytes(head)
    out = "\n".join(run_text(capsys, str(tmp_path)))
    assert "\u202e" not in out and "\u2066" not in out
    assert "Evil\ufffdroC\ufffdx" in out


def test_only_the_header_block_is_read_from_a_file():
    from pixelguard.sources import read_head

    class Counting(io.BytesIO):
        taken = 0

        def read(self, n=-1):
            data = super().read(n)
            Counting.taken += len(data)
            return data

    raw = message("a@b.example", "Tue, 03 Mar 2026 10:00:00 +0000", SENDGRID) + b"x" * 10_000_000
    fh = Counting(raw)
    assert read_head(fh).endswith(b"charset=utf-8\r\n\r\n")
    assert Counting.taken <= 8192


def test_empty_maildir_says_so(tmp_path, capsys):
    mailbox.Maildir(str(tmp_path / "Mail"), create=True)
    assert cli_main(["report", str(tmp_path / "Mail")]) == 0
    assert capsys.readouterr().out == "No messages read.\n"


def test_mail_without_trackers_says_so(tmp_path, capsys):
    plain = [cleaned("friend@example.net", "Fri, 03 Apr 2026 09:00:00 +0000", PLAIN)] * 2
    assert run_text(capsys, eml_dir(tmp_path, plain)) == [
        "0 of 2 messages carried trackers (0 %), 0 removed",
        "Read 2 messages: 0 cleaned, 2 unchanged.",
        "No message carries a pixelguard report of removed trackers."]


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


def test_header_block_reading_unfolds_and_ignores_look_alikes():
    head = (b"X-PixelGuard-Original: sha256=ab12 run=1\r\n"
            b"x-pixelguard: removed=3; vendors=\"Mailchimp,\r\n\tSalesforce Marketing Cloud\";\r\n"
            b" rules=known-tracker\r\n"
            b"X-PixelGuard: removed=9; vendors=\"Older\"; rules=size\r\n"
            b"Subject: From: x@wrong.example\r\n"
            b"FROM: \"Shop, News\" <news@\r\n mail.shop.example>\r\n"
            b"Date: Tue, 03 Mar 2026\r\n 10:00:00 +0000\r\n\r\n")
    seen = seen_from_headers(head)
    assert seen.stamp.removed == 3
    assert seen.stamp.vendors == ("Mailchimp", "Salesforce Marketing Cloud")
    assert seen.domain == "shop.example"
    assert seen.month == "2026-03"


@pytest.mark.parametrize("value, domain", [
    ("News <news@mail.shop.example>", "shop.example"),
    ("news@shop.example", "shop.example"),
    ('"Shop <sales>" <news@shop.example>', "shop.example"),
    ("<a@one.example>, <b@two.example>", "one.example"),
    ("Shop (news) <n@shop.example>", "shop.example"),
    ("no address at all", "(no sender)"),
    ("", "(no sender)"),
])
def test_sender_domain_of_common_from_fields(value, domain):
    from pixelguard.report import sender_domain

    assert sender_domain(value) == domain


def test_mail_without_a_date_is_shown_apart_in_the_month_grid(tmp_path, capsys):
    box = mailbox.mbox(str(tmp_path / "old.mbox"))
    box.add(cleaned("news@shop.example", "Tue, 03 Mar 2026 10:00:00 +0000", SENDGRID))
    box.add(cleaned("news@shop.example", "not a date", SENDGRID, MAILCHIMP))
    box.flush()
    box.close()
    lines = run_text(capsys, str(tmp_path / "old.mbox"))
    assert "  no date: 2 removed" in lines
    assert run_json(capsys, str(tmp_path / "old.mbox"))["months"][-1] == {
        "month": "unknown", "read": 1, "cleaned": 1, "trackers": 2}
    # undated mail is left out once a --since asks for dates
    assert run_json(capsys, "--since", "2026-01", str(tmp_path / "old.mbox"))["messages_scanned"] == 1
