"""The time budget holds inside every step, and every limit on hostile text has its outcome:
a URL, stylesheet, srcset or tag past its limit is removed unread (rule `over-limit`); a
message past its budget passes unchanged with an error. Timings live in
benchmarks/scaling_bench.py (`--budget`), not here."""
from __future__ import annotations

import pytest
from budget_mail import long_host_message, over_budget_message
from cli_run import run_cli
from support import BOB, rules_for_body

from pixelguard import Policy, clean_message
from pixelguard.budget import BudgetExceeded, Deadline
from pixelguard.detect.vectors import extract
from pixelguard.htmlscan import scan
from pixelguard.trackers import default_list
from pixelguard.urls import MAX_URL_CHARS, over_limit


def _rules(html: str) -> list[str]:
    return [f.rule for f in clean_message(html.encode(), Policy(recipients=(BOB,))).findings]


# --- where a URL is past its limits -----------------------------------------------------

@pytest.mark.parametrize("url", [
    "https://" + "a." * 121 + "example.com/x.png",  # 253 characters: as long as DNS allows
    "https://" + "a" * 63 + ".example.com/x.png",
    "https://m\u00fcnchen.example/x.png",  # an IDN label well within 63 octets as punycode
    "https://cdn.example.net/" + "p" * (MAX_URL_CHARS - 40),
])
def test_urls_within_the_limits_are_judged_as_usual(url: str) -> None:
    assert over_limit(url) is None


@pytest.mark.parametrize(("url", "why"), [
    ("https://" + "a." * 122 + "example.com/x.png", "host name of 255"),
    ("https://" + "a" * 64 + ".example.com/x.png", "host label of 64"),
    ("https://" + "%61." * 64 + "example.com/x.png", "host name of 267"),  # as written
    # 60 characters, 72 octets as punycode
    ("https://" + "a" * 55 + "\u00e4\u00f6\u00fc\u00e9\u00e8.example/x.png", "IDNA form"),
    ("https://cdn.example.net/" + "p" * MAX_URL_CHARS, "URL of"),
])
def test_urls_past_a_limit_say_which(url: str, why: str) -> None:
    reason = over_limit(url)
    assert reason is not None and why in reason


def test_the_long_host_message_is_cleaned_at_once_by_its_host_length() -> None:
    raw = long_host_message(200_000)  # 400 kB
    result = clean_message(raw, Policy(recipients=(BOB,)))
    assert result.error is None
    assert [(f.rule, f.where) for f in result.findings] == [("over-limit", "img[src]")]
    assert "a URL of 400025 characters" in result.findings[0].reason
    assert len(result.findings[0].url) <= 1024  # (reports and logs show it)
    assert b"a.a.a." not in result.raw
    # under the URL limit, the host's own limit
    result = clean_message(long_host_message(10_000), Policy(recipients=(BOB,)))
    assert "a host name of 20011 characters" in result.findings[0].reason


def test_a_known_tracker_under_a_host_of_many_labels_is_still_found() -> None:
    # the index skips suffixes longer than any of its keys: the matching one is still looked up
    assert default_list().match("https://" + "x." * 50_000 + "ct.sendgrid.net/wf/open?upn=a") \
        is not None
    assert _rules('<img src="https://' + "x." * 60 + 'ct.sendgrid.net/wf/open?upn=abc">') \
        == ["known-tracker"]


# --- CSS, srcset and attributes past their limits --------------------------------------

def test_a_style_block_past_the_limit_is_removed_unread() -> None:
    css = ".a { color: red }\n" * 16_000  # 288,000 characters
    html = f"<html><head><style>{css}</style></head><body><p>Hi</p></body></html>"
    result = clean_message(html.encode(), Policy())
    assert [(f.rule, f.where) for f in result.findings] == [("over-limit", "style")]
    assert b"<style></style>" in result.raw and b"color: red" not in result.raw


def test_an_allowed_senders_long_style_block_is_kept() -> None:
    from pixelguard.detect import detect_html

    css = ".a { color: red }\n" * 16_000
    det = detect_html(f"<style>{css}</style><p>Hi</p>", Policy(), default_list(), "1",
                      sender_allowed=True)
    assert det.findings == [] and det.edits == []


def test_a_style_attribute_past_the_limit_is_removed_with_what_it_would_load() -> None:
    style = "color:red;" * 27_000 + "background:url(https://cdn.example.net/bg.png)"
    html = f'<html><body><div style="{style}">Hi</div></body></html>'
    result = clean_message(html.encode(), Policy())
    assert [(f.rule, f.where) for f in result.findings] == [("over-limit", "div[style]")]
    assert b"<div>Hi</div>" in result.raw


def test_a_long_style_attribute_hiding_its_url_in_references_is_removed_too() -> None:
    # past htmlscan.MAX_DECODED the references are not decoded: the attribute goes unread
    style = "color:red;" * 27_000 + "background:url&#40;https://t.example.net/o.gif&#41;"
    assert rules_for_body(f'<div style="{style}">Hi</div>') == ["over-limit"]


def test_a_srcset_past_the_limit_is_removed() -> None:
    cands = ", ".join(f"https://cdn.example.net/i{i}.png {i + 1}w" for i in range(2_000))
    html = (f'<html><body><img srcset="{cands}" src="https://cdn.example.net/a.png" '
            'width="600"></body></html>')
    result = clean_message(html.encode(), Policy())
    assert [(f.rule, f.where) for f in result.findings] == [("over-limit", "img[srcset]")]
    assert b'<img src="https://cdn.example.net/a.png" width="600">' in result.raw


def test_a_tag_with_too_many_attributes_is_removed_whole() -> None:
    attrs = " ".join(f"data-a{i}=v" for i in range(1_001))
    assert rules_for_body(f'<img {attrs} src="https://cdn.example.net/a.png" width="600">') \
        == ["over-limit"]
    # at the limit it is read as usual: a content image stays
    attrs = " ".join(f"data-a{i}=v" for i in range(997))
    assert rules_for_body(f'<img {attrs} src="https://cdn.example.net/a.png" width="600">') == []


def test_a_long_entity_encoded_url_is_removed_by_its_length() -> None:
    # past htmlscan.MAX_DECODED only its start is decoded: enough to see that it is remote
    url = "&#104;ttps://t.example.net/o.gif?" + "&amp;k=v" * 40_000
    assert rules_for_body(f'<img src="{url}" width="600">') == ["over-limit"]


# --- past the time budget: unchanged, with an error ------------------------------------

def test_a_message_past_the_budget_comes_back_unchanged_with_an_error() -> None:
    raw = over_budget_message()  # about a second of work: 100 times the budget
    result = clean_message(raw, Policy(recipients=(BOB,), time_budget=0.01))
    assert result.raw == raw and result.findings == []
    assert result.error == "time budget of 0.01 s exceeded"
    # and with a budget it fits, the same message has trackers to remove
    assert clean_message(raw[:3000] + b"</div></body></html>\r\n",
                         Policy(recipients=(BOB,))).findings


def test_the_cli_passes_a_message_past_the_budget_through_unchanged(tmp_path) -> None:
    cfg = tmp_path / "pixelguard.yaml"
    cfg.write_text("limits:\n  time_budget: 0.01\n")
    raw = over_budget_message()
    proc = run_cli("clean", "--config", str(cfg), "-", stdin=raw)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == raw
    assert b"passed through unchanged: time budget of 0.01 s exceeded" in proc.stderr


# --- the deadline is looked at inside the steps, not only between them ------------------

class _CountingDeadline(Deadline):
    def __init__(self) -> None:
        super().__init__(1e9)
        self.checks = 0

    def check(self) -> None:
        self.checks += 1
        super().check()


def test_the_tag_scanner_looks_at_the_deadline_every_thousand_tags() -> None:
    deadline = _CountingDeadline()
    scan("<p>x</p>" * 5_000, deadline)  # 10,000 tags
    assert deadline.checks >= 9


def test_resource_extraction_looks_at_the_deadline_as_it_goes() -> None:
    body = "".join(f'<img src="https://cdn.example.net/{i}.png" width="600">' for i in range(640))
    text = f"<html><body>{body}</body></html>"
    doc = scan(text)
    deadline = _CountingDeadline()
    assert len(extract(doc, None, [], deadline)) == 640
    assert deadline.checks >= 10


def test_past_the_deadline_the_scanner_stops() -> None:
    with pytest.raises(BudgetExceeded):
        scan("<p>x</p>" * 1_000, Deadline(-1.0))
