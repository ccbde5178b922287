"""clean_message opens no file but the package's own shipped data: the lists a policy names
come in through the Cache, loaded by the caller. Watched with an audit hook (`open` events)
in a fresh interpreter, so nothing this test process has read or cached counts."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pixelguard

PACKAGE = os.path.realpath(os.path.dirname(pixelguard.__file__))

# argv: the tracker list and links list the watched messages' policy names, two others for
# the warm-up, the mode, and a file holding the messages (JSON: latin-1 strings).
SCRIPT = r"""
import json, os, sys
from pixelguard import clean_message
from pixelguard.cache import Cache
from pixelguard.links.rules import load_rules
from pixelguard.model import LinkOptions, Policy
from pixelguard.trackers import load_lists

trackers, links, warm_trackers, warm_links, mode, mail = sys.argv[1:7]
messages = [m.encode("latin-1") for m in json.load(open(mail))]

def policy(tracker_list, links_list):
    return Policy(extra_lists=(tracker_list,), allow_senders=("partner.example",),
                  links=LinkOptions(unwrap=True, strip_params=True, mark=True,
                                    lists=(links_list,)))

# The same mail through lists at other paths first: whatever the core imports on first use
# is imported before the watch, and no list the watched run names has been read by the core.
warm = Cache()
warm.load(policy(warm_trackers, warm_links))
for raw in messages:
    clean_message(raw, policy(warm_trackers, warm_links), warm)
if mode == "handed-in":
    cache = Cache(lists={(trackers,): load_lists([trackers])}, links={(links,): load_rules([links])})
else:  # the loaders in the cache, nothing loaded: the core reads the lists itself
    cache = Cache(load_lists=load_lists, load_links=load_rules)

opened = []
sys.addaudithook(lambda event, args: opened.append(args[0]) if event == "open" else None)
results = [clean_message(raw, policy(trackers, links), cache) for raw in messages]
seen = [p if isinstance(p, int) else os.fsdecode(p) for p in opened]
print(json.dumps({"opened": seen,
                  "vendors": [f.vendor for r in results for f in r.findings],
                  "links": [c.action for r in results for c in r.links],
                  "errors": [r.error for r in results]}))
"""

BANNER = "https://cdn.shop.example/banner/summer.png"
LINK = "https://shop.example/sale?pgref=nl7&amp;id=4"
HTML = (f'<p>Sale</p><img src="{BANNER}" width="600" height="200" alt="Summer">'
        '<img src="https://u1.ct.sendgrid.net/wf/open?upn=abc" width="1" height="1">'
        f'<p style="color:red"><a href="{LINK}">Shop</a></p>')
MESSAGES = [
    # multipart/alternative: the notice goes into the text part too
    ("From: news@shop.example\r\nTo: bob@example.org\r\nMIME-Version: 1.0\r\n"
     'Content-Type: multipart/alternative; boundary="b"\r\n\r\n'
     "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSale\r\n"
     "--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
     f"<html><head><style>.x{{display:none}}</style></head><body>{HTML}</body></html>\r\n"
     "--b--\r\n"),
    f"<html><body>{HTML}</body></html>",  # a bare document
]


def _watch(tmp_path: Path, mode: str) -> tuple[dict, str, str]:
    def lists(stem: str) -> tuple[str, str]:
        trackers = tmp_path / f"{stem}-trackers.txt"
        trackers.write_text("[Adblock Plus 2.0]\n||cdn.shop.example/banner/\n")
        links = tmp_path / f"{stem}-links.json"
        links.write_text(json.dumps({"format": "pixelguard-links/1", "params": [{"name": "pgref"}]}))
        return str(trackers), str(links)

    trackers, links = lists("watched")
    mail = tmp_path / "mail.json"
    mail.write_text(json.dumps(MESSAGES))
    out = subprocess.run([sys.executable, "-c", SCRIPT, trackers, links, *lists("warm"), mode,
                          str(mail)], capture_output=True, text=True, timeout=120, check=True)
    return json.loads(out.stdout), trackers, links


def _outside_the_package(opened: list) -> list:
    return [p for p in opened
            if isinstance(p, int) or os.path.commonpath([os.path.realpath(p), PACKAGE]) != PACKAGE]


def test_clean_message_opens_no_file_outside_the_package_with_lists_handed_in(tmp_path):
    seen, _trackers, _links = _watch(tmp_path, "handed-in")
    assert seen["errors"] == [None, None]
    # the lists handed in were used: the banner (extra list) and the pixel (shipped list)
    # removed, the parameter the links list names stripped, in both messages
    assert seen["vendors"] == ["cdn.shop.example", "SendGrid"] * 2
    assert seen["links"] == ["stripped", "stripped"]
    assert _outside_the_package(seen["opened"]) == []


def test_the_watch_sees_a_core_that_reads_the_lists_itself(tmp_path):
    # the same run, but the core loads the lists on first use: the hook catches the files
    seen, trackers, links = _watch(tmp_path, "loaded-by-the-core")
    assert seen["links"] == ["stripped", "stripped"]
    outside = _outside_the_package(seen["opened"])
    assert trackers in outside and links in outside
