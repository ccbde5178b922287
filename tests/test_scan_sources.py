"""`pixelguard scan` over directories, Maildirs and mboxes, its totals line and its wording;
and the display helpers it uses (plurals, shortened URLs, safe header text). The command
runs in this process (tests/cli_run.py); test_cli.py reads stdin in a real one."""
from __future__ import annotations

import json
import mailbox
import shutil
from pathlib import Path

from cli_run import run_cli
from support import FIXTURES, fixture

from pixelguard.display import count, from_and_subject, header_text, shorten_url

TRACKED = ["size-attr-1x1.eml", "known-mailchimp.eml"]  # each with trackers
CLEAN = "negative-content.eml"


def run(*args: str):
    return run_cli("scan", *args, text=True)


def _trackers(name: str) -> int:
    (obj,) = [json.loads(x) for x in run("--json", str(FIXTURES / name)).stdout.splitlines()]
    return len(obj["trackers"])


def _maildir(root: Path) -> Path:
    box = root / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (box / sub).mkdir(parents=True)
    shutil.copy(FIXTURES / TRACKED[0], box / "new" / "1.host:2,")
    shutil.copy(FIXTURES / TRACKED[1], box / "cur" / "2.host:2,S")
    shutil.copy(FIXTURES / CLEAN, box / "cur" / "3.host:2,S")
    return box


def test_scan_maildir_mbox_and_directory_agree(tmp_path: Path) -> None:
    per_message = [_trackers(n) for n in TRACKED]
    assert all(per_message) and _trackers(CLEAN) == 0
    expected = sum(per_message)
    box = _maildir(tmp_path)
    mbox_path = tmp_path / "mail.mbox"
    mb = mailbox.mbox(str(mbox_path))
    for name in (*TRACKED, CLEAN):
        mb.add(fixture(name))
    mb.close()
    folder = tmp_path / "dir"
    folder.mkdir()
    for name in (*TRACKED, CLEAN):
        shutil.copy(FIXTURES / name, folder / name)
    (folder / "notes.txt").write_text("not a message")  # not .eml/.msg/bare: left out

    totals = f"3 messages scanned, 2 with trackers, {count(expected, 'tracker')}"
    for source in (box, mbox_path, folder):
        proc = run(str(source))
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.splitlines()[-1] == totals, (source, proc.stdout)
        assert proc.stdout.count("  From: ") == 3 and proc.stdout.count("  Subject: ") == 3

    listed = run("--json", str(mbox_path)).stdout.splitlines()
    objs = [json.loads(line) for line in listed]
    assert [o["file"] for o in objs] == [f"{mbox_path}[{n}]" for n in (1, 2, 3)]
    assert [len(o["trackers"]) for o in objs][2] == 0
    assert all(set(o) >= {"file", "from", "subject", "trackers"} for o in objs)


def test_scan_one_message_says_from_subject_and_a_natural_count() -> None:
    proc = run(str(FIXTURES / "known-mailchimp.eml"), str(FIXTURES / CLEAN))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    sender, subject = from_and_subject(fixture("known-mailchimp.eml"))
    assert lines[0] == f"{FIXTURES / 'known-mailchimp.eml'}: 1 tracker"
    assert lines[1:3] == [f"  From: {sender}", f"  Subject: {subject}"]
    assert f"{FIXTURES / CLEAN}: no trackers" in lines
    assert lines[-1] == "2 messages scanned, 1 with trackers, 1 tracker"


def test_scan_of_a_missing_path_is_one_line_and_exit_2(tmp_path: Path) -> None:
    proc = run(str(tmp_path / "nothing"), str(FIXTURES / CLEAN))
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"pixelguard: cannot read {tmp_path / 'nothing'}: no such " \
                                  "file or directory"
    assert proc.stdout.splitlines()[-1] == "1 message scanned, 0 with trackers, 0 trackers"


def test_count_plurals() -> None:
    assert [count(n, "tracker") for n in (0, 1, 2)] == ["0 trackers", "1 tracker", "2 trackers"]
    assert count(1, "box", "boxes") == "1 box" and count(3, "box", "boxes") == "3 boxes"


def test_shorten_url_keeps_host_and_end() -> None:
    short = "https://t.example/o.gif"
    assert shorten_url(short) == short
    url = "https://click.news.example/track/open.php?u=" + "a" * 200 + "&id=END42"
    out = shorten_url(url, 80)
    assert len(out) <= 80
    assert out.startswith("https://click.news.example/") and out.endswith("&id=END42")
    assert out.count("…") == 1
    # a very long host is never cut
    host = "x" * 90 + ".example"
    assert shorten_url(f"https://{host}/p/" + "b" * 100, 80).startswith(f"https://{host}/")


def test_header_text_is_decoded_and_harmless_on_a_terminal() -> None:
    assert header_text("=?utf-8?q?Gr=C3=BC=C3=9Fe?=") == "Grüße"
    assert header_text("Sale\x1b[31m now\r\n today") == "Sale?[31m now today"
    assert header_text("a" * 300).endswith("…") and len(header_text("a" * 300)) == 100
    assert shorten_url("https://e.example/\x1b]0;x\x07") == "https://e.example/?]0;x?"


def test_scan_reads_a_message_on_stdin() -> None:
    proc = run_cli("scan", "-", stdin=fixture("known-mailchimp.eml"))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.decode().splitlines()
    assert lines[0] == "-: 1 tracker" and lines[-1] == "1 message scanned, 1 with trackers, 1 tracker"
