"""The shipped tracker list, our JSON list format, Adblock Plus lists, and the matcher."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pixelguard.trackers import (
    TrackerList,
    TrackerListError,
    TrackerMatch,
    default_list,
    load_lists,
)
from pixelguard.trackers._entry import Entry, check_regex
from pixelguard.trackers._jsonlist import dump_json_list, parse_json_list

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "pixelguard" / "trackers" / "trackers.json"
UPSTREAM_LISTS = ROOT.parent / "shared" / "lists"
KNOWN_SOURCES = {"mailtrackerblocker@8a8c43c", "trocker@be36adc", "pixelguard"}


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


# --- the shipped list -------------------------------------------------------------------------

def test_shipped_list_loads_and_every_entry_names_vendor_and_source():
    entries = default_list().entries
    assert len(entries) > 450
    for entry in entries:
        assert entry.vendor.strip(), entry
        assert entry.source in KNOWN_SOURCES, entry
        assert entry.host or entry.path, entry
    assert {e.source for e in entries} == KNOWN_SOURCES


def test_shipped_vendor_names_are_human_names():
    vendors = {e.vendor for e in default_list().entries}
    for upstream_code in ("YW", "SK", "MC", "SG", "Intuit", "Sendinblue", "Blueshift.com"):
        assert upstream_code not in vendors
    assert {"Mailchimp", "SendGrid", "HubSpot", "Brevo", "Postmark"} <= vendors


def test_shipped_list_has_both_precise_and_host_only_entries():
    entries = default_list().entries
    precise = [e for e in entries if e.precise]
    loose = [e for e in entries if not e.precise]
    assert len(precise) > 400 and len(loose) > 50


def test_default_list_is_loaded_once():
    assert default_list() is default_list()


def test_shipped_regexes_are_all_vetted():
    for entry in default_list().entries:
        if entry.kind == "regex":
            assert check_regex(entry.path) is None, entry


@pytest.mark.skipif(not UPSTREAM_LISTS.is_dir(), reason="upstream lists not present")
def test_shipped_json_is_what_the_build_script_generates():
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_tracker_list.py"), "--check",
         "--lists", str(UPSTREAM_LISTS)], check=False, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


# Pixel URLs written for these tests, shaped like each vendor's documented open pixel.
KNOWN_PIXELS = [
    ("https://u1234567.ct.sendgrid.net/wf/open?upn=abcDEF123", "SendGrid"),
    ("https://url9999.news.example.com/wf/open?upn=u001.xyz", "SendGrid"),
    ("https://example.us21.list-manage.com/track/open.php?u=aa&id=bb&e=cc", "Mailchimp"),
    ("https://mandrillapp.com/track/open.php?u=1&id=2", "Mailchimp"),
    ("https://t.sidekickopen03.com/e1t/o/5/abc", "HubSpot"),
    ("https://track.brand.example/e2t/o/abc/def", "HubSpot"),
    ("https://e.customeriomail.com/e/o/eyJhbGciOi", "Customer.io"),
    ("http://email.mg.brand.example/o/eJwljUEOgjAQ", "Mailgun"),
    ("https://ea.pstmrk.it/open?m=v3_1.abc", "Postmark"),
    ("https://go.sparkpostmail.com/q/abcDEF~~/AAAA~/RgR", "SparkPost"),
    ("https://ctrk.klclick.com/o/01HJ82CP58", "Klaviyo"),
    ("https://links.brand.example/s/eo/abc-DEF_1/a1b2c3/12", "Iterable"),
    ("https://cl.s7.exct.net/open.aspx?ffcb10-fe8a1234", "Salesforce Marketing Cloud"),
    ("https://eotrx.substackcdn.com/open?token=abc", "Substack"),
    ("https://mailgun.substack.com/api/v1/email/open?token=abc", "Substack"),
    ("https://abc123.r.us-east-1.awstrack.me/I0/0100018f/xyz", "Amazon SES"),
    ("https://x1y2z.mjt.lu/oo/BAAAAB/abc", "Mailjet"),
    ("https://brand.cmail20.com/t/d-o-abcdef-l/o.gif", "Campaign Monitor"),
    ("https://r20.rs6.net/on.jsp?a=1&c=2", "Constant Contact"),
    ("https://www.google-analytics.com/collect?v=1&tid=UA-1", "Google"),
    ("https://dqmaer86.emltrk.com/v2/dqmaer86?d=abc", "Litmus"),
    ("https://abc.r.bh.d.sendibt3.com/tr/op/TOKEN", "Brevo"),
    ("https://lwapwz.maillist-manage.in/click/143208/open.gif", "Zoho Campaigns"),
    ("https://github.com/notifications/beacon/ABCDEF.gif", "GitHub"),
]


@pytest.mark.parametrize("url,vendor", KNOWN_PIXELS)
def test_well_known_pixel_urls_are_caught_as_precise(url, vendor):
    hit = default_list().match(url)
    assert hit is not None, url
    assert hit.vendor == vendor
    assert hit.precise, hit


CONTENT_IMAGES = [
    "https://mcusercontent.com/65696a478a009df233f128d88/images/hero.jpg",
    "https://gallery.mailchimp.com/0123456789abcdef/images/logo.png",
    "https://i1.createsend1.com/ei/r/ABCDEF/logo.png",
    "https://cdn-images.mailchimp.com/icons/social-block-v2/color-facebook-48.png",
    "https://substackcdn.com/image/fetch/w_1456,c_limit/https%3A%2F%2Fexample.com%2Fa.png",
    "https://images.example.com/newsletter/open-house.jpg",
    "https://r.email.brand.example/im/1463197/photo.jpg?e=abc",
    "https://media.beehiiv.net/uploads/asset/file/1/header.png",
]


@pytest.mark.parametrize("url", CONTENT_IMAGES)
def test_content_images_are_never_precise_matches(url):
    hit = default_list().match(url)
    assert hit is None or not hit.precise, hit


@pytest.mark.parametrize("url", [
    "https://media.mailer.example/m/open.gif",
    "https://cdn.example/t/images/logo.png",
    "https://cdn.example/o/abc/def.png",
    "https://cdn.example/gallery/1.gif",
])
def test_generic_shapes_are_left_to_the_size_and_url_shape_rules(url):
    assert default_list().match(url) is None


def test_esp_content_cdn_is_host_only_and_named():
    hit = default_list().match("https://mcusercontent.com/abc/images/hero.jpg")
    assert hit == TrackerMatch("Mailchimp", False, "mcusercontent.com", "pixelguard")


# --- matching semantics -----------------------------------------------------------------------

def make(*entries: Entry) -> TrackerList:
    return TrackerList(entries)


def entry(vendor="V", host="", path="", kind="prefix", precise=None, source="test") -> Entry:
    return Entry(vendor=vendor, host=host, path=path, kind=kind,
                 precise=bool(path) if precise is None else precise, source=source,
                 pattern=f"{host}{path}")


def test_host_entry_covers_subdomains_but_not_lookalikes():
    lst = make(entry("SendGrid", "sendgrid.net", "/wf/open"))
    assert lst.match("https://sendgrid.net/wf/open?x")
    assert lst.match("https://u1.ct.sendgrid.net/wf/open?x")
    assert lst.match("https://notsendgrid.net/wf/open?x") is None
    assert lst.match("https://sendgrid.net.evil.example/wf/open?x") is None
    assert lst.match("https://evil.example/sendgrid.net/wf/open") is None


def test_shipped_list_does_not_match_lookalike_host():
    assert default_list().match("https://notsendgrid.net/wf/open") is None
    assert default_list().match("https://notdemdex.net/event") is None
    assert default_list().match("https://dpm.demdex.net/event").vendor == "Adobe"


def test_prefix_path_must_start_the_path():
    lst = make(entry(host="ex.example", path="/track/open"))
    assert lst.match("https://ex.example/track/open?id=1")
    assert lst.match("https://ex.example/a/track/open") is None
    assert lst.match("https://ex.example/") is None


def test_contains_and_wildcard_paths():
    lst = make(entry("A", path="/wf/open?upn=", kind="contains"),
               entry("B", path="/open/*/image.gif", kind="wildcard"))
    assert lst.match("https://x.example/a/wf/open?upn=1").vendor == "A"
    assert lst.match("https://x.example/wf/open") is None
    assert lst.match("https://x.example/open/12/34/image.gif?x").vendor == "B"
    assert lst.match("https://x.example/open/image.png") is None


def test_regex_path_is_searched_case_insensitively():
    lst = make(entry(host="ex.example", path=r"^/[bc]to/\d+", kind="regex"))
    assert lst.match("https://ex.example/Cto/12")
    assert lst.match("https://ex.example/dto/12") is None


def test_matching_ignores_case_of_host_and_path():
    hit = default_list().match("HTTPS://U1.CT.SENDGRID.NET/WF/OPEN?UPN=ABC")
    assert hit is not None and hit.vendor == "SendGrid"


def test_precise_entry_beats_host_only_entry():
    lst = make(entry("CDN", host="esp.example"),
               entry("ESP", host="esp.example", path="/t/"))
    assert lst.match("https://i1.esp.example/t/d-o-1/o.gif") == TrackerMatch(
        "ESP", True, "esp.example/t/", "test")
    assert lst.match("https://i1.esp.example/ei/logo.png") == TrackerMatch(
        "CDN", False, "esp.example", "test")


def test_precise_path_only_entry_beats_host_only_entry():
    lst = make(entry("CDN", host="esp.example"), entry("Any", path="/open.aspx?",
                                                        kind="contains"))
    hit = lst.match("https://esp.example/open.aspx?x=1")
    assert hit.vendor == "Any" and hit.precise


def test_shipped_host_with_both_kinds():
    hit = default_list().match("https://brand.createsend1.com/t/d-o-abc/o.gif")
    assert hit.precise and hit.vendor == "Campaign Monitor"
    hit = default_list().match("https://i1.createsend1.com/ei/r/ABC/logo.png")
    assert hit is not None and not hit.precise


def test_digit_wildcard_in_host():
    lst = make(entry("H", host="t.sidekickopen#.com"))
    assert lst.match("https://t.sidekickopen07.com/e1t/o/1")
    assert lst.match("https://t.sidekickopen123.com/x")
    assert lst.match("https://t.sidekickopenx.com/x") is None
    assert lst.match("https://t.sidekickopen.com/x") is None


def test_non_http_urls_never_match():
    lst = default_list()
    for url in ("cid:part1@example", "data:image/gif;base64,R0lGOD", "ftp://demdex.net/x",
                "mailto:a@demdex.net", "", "https://"):
        assert lst.match(url) is None, url


def test_protocol_relative_url_is_treated_as_https():
    assert default_list().match("//u1.ct.sendgrid.net/wf/open?upn=x").vendor == "SendGrid"


def test_vendor_for_host_names_the_most_specific_entry():
    lst = default_list()
    assert lst.vendor_for_host("u1.ct.sendgrid.net") == "SendGrid"
    assert lst.vendor_for_host("MCUSERCONTENT.COM") == "Mailchimp"
    assert lst.vendor_for_host("t.sidekickopen42.com") == "HubSpot"
    assert lst.vendor_for_host("example.com") is None
    assert lst.vendor_for_host("") is None


def test_hostile_urls_match_in_linear_time():
    lst = load_lists([])
    hostile = [
        "https://x.example/" + "/q/" * 20000 + "~",
        "https://x.example/" + "/open/" * 20000,
        "https://x.example/" + "/?xol=&" * 20000,
        "https://a." * 50 + "example.com/" + "/ss/o/a." * 20000,
        "https://x.example/" + "/ci0/a/" * 20000,
    ]
    start = time.perf_counter()
    for url in hostile:
        lst.match(url)
    assert time.perf_counter() - start < 2.0


# --- our JSON format --------------------------------------------------------------------------

def test_json_format_round_trips():
    entries = [e for e in default_list().entries[:40]]
    text = dump_json_list(entries, {"description": "test"})
    again = parse_json_list(text, "x.json")
    assert again == entries


def test_user_json_list_is_added_to_the_shipped_list(tmp_path):
    path = write(tmp_path, "mine.json", json.dumps({"format": "pixelguard-trackers",
                                                    "entries": [
        {"vendor": "Acme Mail", "host": "trk.acme.example", "path": "/px"},
        {"vendor": "Acme Mail", "host": "img.acme.example"},
    ]}))
    lst = load_lists([path])
    assert lst.match("https://trk.acme.example/px?id=1") == TrackerMatch(
        "Acme Mail", True, "trk.acme.example/px", path)
    assert lst.match("https://img.acme.example/logo.png").precise is False
    assert lst.match("https://u1.ct.sendgrid.net/wf/open?upn=1").vendor == "SendGrid"


def test_user_json_list_may_be_a_bare_array(tmp_path):
    path = write(tmp_path, "mine.txt", '[{"vendor": "X", "path": "/pixel.gif?u=", '
                                       '"match": "contains", "source": "my notes"}]')
    hit = load_lists([path]).match("https://a.example/b/pixel.gif?u=1")
    assert hit.vendor == "X" and hit.source == "my notes"


@pytest.mark.parametrize("bad,message", [
    ({"host": "x.example"}, "missing 'vendor'"),
    ({"vendor": "X"}, "needs a host, a path or both"),
    ({"vendor": "X", "host": "bad host!"}, "invalid host"),
    ({"vendor": "X", "path": "px", "match": "prefix"}, "must start with '/'"),
    ({"vendor": "X", "path": "/a", "match": "glob"}, "'match' must be"),
    ({"vendor": "X", "path": "(a+)+$", "match": "regex"}, "nested quantifiers"),
    ({"vendor": "X", "path": r"(a)\1", "match": "regex"}, "back-references"),
    ({"vendor": "X", "path": "(", "match": "regex"}, "invalid regex"),
    ({"vendor": "X", "host": "a.example", "precise": "yes"}, "'precise' must be"),
    ({"vendor": "X", "host": "a.example", "hots": "b"}, "unknown key 'hots'"),
])
def test_json_entry_errors_name_file_and_line(tmp_path, bad, message):
    good = {"vendor": "Ok", "host": "ok.example"}
    text = ('{\n  "format": "pixelguard-trackers",\n  "entries": [\n    '
            + json.dumps(good) + ",\n    " + json.dumps(bad) + "\n  ]\n}\n")
    path = write(tmp_path, "bad.json", text)
    with pytest.raises(TrackerListError) as err:
        load_lists([path])
    assert str(err.value).startswith(f"{path}:5: ")
    assert message in str(err.value)


def test_invalid_json_names_the_line(tmp_path):
    path = write(tmp_path, "broken.json", '{\n"entries": [\n{"vendor": "X",,}\n]}')
    with pytest.raises(TrackerListError, match=r"broken\.json:3: invalid JSON"):
        load_lists([path])


def test_missing_list_file_is_an_error(tmp_path):
    with pytest.raises(TrackerListError, match="cannot read tracker list"):
        load_lists([str(tmp_path / "nope.txt")])


# --- Adblock Plus lists -----------------------------------------------------------------------

ABP = """[Adblock Plus 2.0]
! Title: test list
||pixel.example^
||trk.example/open/$image,third-party
.mail.example/o/$image
/track/open.php?
/email/*/open.gif
|https://anchored.example/px
||sep.example^px^
example.org##.ad-banner
||script-only.example^$script
||page-only.example^$domain=news.example
@@||pixel.example/allowed/
@@/track/open.php?ok=
"""


@pytest.fixture()
def abp_list(tmp_path):
    path = write(tmp_path, "easy.txt", ABP)
    return path, load_lists([path])


def test_abp_host_rule_alone_is_host_only(abp_list):
    path, lst = abp_list
    hit = lst.match("https://cdn.pixel.example/a.png")
    assert hit == TrackerMatch("pixel.example", False, "||pixel.example^", path)
    assert lst.match("https://pixel.example.com/a.png") is None
    assert lst.match("https://notpixel.example/a.png") is None


def test_abp_rules_with_a_path_are_precise(abp_list):
    path, lst = abp_list
    assert lst.match("https://a.trk.example/open/123").precise
    assert lst.match("https://a.trk.example/other/123") is None
    assert lst.match("https://x.mail.example/o/abc").precise
    hit = lst.match("https://any.example/x/track/open.php?id=1")
    assert hit.precise and hit.vendor == "listed in easy.txt" and hit.source == path


def test_abp_wildcard_separator_and_anchor(abp_list):
    _, lst = abp_list
    assert lst.match("https://a.example/email/42/7/open.gif")
    assert lst.match("https://a.example/email/open.png") is None
    assert lst.match("https://anchored.example/px?1")
    assert lst.match("https://other.example/?u=https://anchored.example/px") is None
    assert lst.match("https://sep.example/px?x")
    assert lst.match("https://sep.example/px")  # "^" also matches the end
    assert lst.match("https://sep.example/pxl") is None


def test_abp_ignores_element_hiding_and_non_image_rules(abp_list):
    _, lst = abp_list
    assert lst.match("https://example.org/ad-banner.png") is None
    assert lst.match("https://script-only.example/a.gif") is None
    assert lst.match("https://page-only.example/a.gif") is None


def test_abp_exceptions_override_every_list(abp_list):
    _, lst = abp_list
    assert lst.match("https://pixel.example/allowed/logo.png") is None
    assert lst.match("https://x.example/track/open.php?ok=1") is None
    # the exception also beats the shipped list's precise Mailchimp entry
    assert lst.match("https://a.us1.list-manage.com/track/open.php?ok=1") is None
    assert lst.match("https://a.us1.list-manage.com/track/open.php?u=1").vendor == "Mailchimp"


def test_abp_host_rule_takes_the_shipped_vendor_name(tmp_path):
    path = write(tmp_path, "l.txt", "||ct.sendgrid.net/foo\n")
    hit = load_lists([path]).match("https://ct.sendgrid.net/foo/1")
    assert hit.vendor == "SendGrid" and hit.source == path


@pytest.mark.parametrize("line,message", [
    ("||/open.gif$image", "without a host"),
    ("*$image", "would match every URL"),
    ("/track/$image,bogus-option", "unknown filter option 'bogus-option'"),
    ("/(a+)+x/", "nested quantifiers"),
    ("/(/", "invalid regex"),
    ("$image", "empty filter"),
])
def test_abp_errors_name_file_and_line(tmp_path, line, message):
    path = write(tmp_path, "bad.txt", "! comment\n||fine.example^\n" + line + "\n")
    with pytest.raises(TrackerListError) as err:
        load_lists([path])
    assert str(err.value).startswith(f"{path}:3: ")
    assert message in str(err.value)


def test_abp_regex_rule(tmp_path):
    path = write(tmp_path, "rx.txt", r"/\/px\/[0-9]+\.gif/" + "\n")
    lst = load_lists([path])
    assert lst.match("https://a.example/px/12.gif").precise
    assert lst.match("https://a.example/px/ab.gif") is None


@pytest.mark.skipif(not (UPSTREAM_LISTS / "easyprivacy_general_emailtrackers.txt").is_file(),
                    reason="upstream lists not present")
def test_real_easyprivacy_email_list_loads():
    lst = load_lists([str(UPSTREAM_LISTS / "easyprivacy_general_emailtrackers.txt")])
    assert len(lst) > len(default_list()) + 250
    assert lst.match("https://x.email.brand.example/tr/op/abc").precise


# --- regex vetting ----------------------------------------------------------------------------

@pytest.mark.parametrize("pattern", [r"(a+)+", r"(a*)*b", r"(?:ab+)+", r"(a|b+)*"])
def test_nested_quantifiers_are_refused(pattern):
    assert "nested" in check_regex(pattern)


@pytest.mark.parametrize("pattern", [r"/t/\w+/\w", r"^/[bc]to/", r"/q/[^/?#]+~~/", r"a{2,3}b?"])
def test_linear_regexes_are_accepted(pattern):
    assert check_regex(pattern) is None


# --- entries added from the labelled corpus (benchmarks/EVAL.md) ------------------------------

@pytest.mark.parametrize("url, vendor", [
    ("https://open.convertkit-mail4.com/r8und5ew3vioh27r27rs0", "ConvertKit"),
    ("https://open.convertkit-mail2.com/d0uo2xqod0a5fm76qdtm", "ConvertKit"),
    ("https://acme.my.salesforce.com/servlet/servlet.ImageServer?oid=00D41&esid=018Wj00", "Salesforce"),
    ("http://www.twelvehorses.com/mm/MarkRead?m=1&c=2&w=3&h=abc", "Twelvehorses"),
])
def test_corpus_pixels_have_precise_entries(url, vendor):
    hit = default_list().match(url)
    assert hit is not None and hit.precise and hit.vendor == vendor


@pytest.mark.parametrize("url", [
    "https://embed.filekitcdn.com/e/hQ3qu8vsrj2BCeYu74inyE/rpC2AvbLhnwfoudQ8Wz8G5?w=800",
    "https://acme.my.salesforce.com/servlet/servlet.ImageServer?id=0151&oid=00D41",
    "https://www.convertkit-mail4.com/images/logo.png",
])
def test_content_next_to_those_pixels_is_not_precise(url):
    hit = default_list().match(url)
    assert hit is None or not hit.precise
