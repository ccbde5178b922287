"""Every shipped redirector, security wrapper and click tracker, with a URL of its shape
written for these tests: unwrapped to the destination it carries, left alone, or marked."""
from __future__ import annotations

import base64
import json
import zlib

import pytest
from links_mail import clean_doc, href_after, link

from pixelguard.links.rules import SHIPPED
from pixelguard.links.unwrap import valid_url

SHIPPED_LIST = json.loads(SHIPPED.read_text())


def _b64url(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


_SUBSTACK_TOKEN = _b64url(json.dumps({"e": "https://writer.example/p/hello?token=t1", "p": 7}))


def _mailgun_token(query: str) -> str:
    return base64.urlsafe_b64encode(zlib.compress(query.encode())).decode().rstrip("=")


_MAILGUN = _mailgun_token("category=post&d=4d1858&h=0a1b&l=https%3A%2F%2Fpaper.example%2Fp%2F"
                          "story%3Fref%3Dmail&i=20260101.1.abc%40mg.example&r=bob%40example.org")

# entry id -> (a URL of its shape, the destination it carries)
REDIRECTS = {
    "google-url": (("https://www.google.com/url?q=https%3A%2F%2Fnews.example%2Fa%3Fb%3D1&sa=D"
                   "&source=editors"), "https://news.example/a?b=1"),
    "facebook-l": ("https://l.facebook.com/l.php?u=https%3A%2F%2Fshop.example%2Fsale&h=AT3xQ",
                   "https://shop.example/sale"),
    "instagram-l": ("https://l.instagram.com/?u=https%3A%2F%2Fshop.example%2F&e=AT0b",
                    "https://shop.example/"),
    "youtube-redirect": (("https://www.youtube.com/redirect?event=video_description&redir_token="
                         "QUFFLUhq&q=https%3A%2F%2Fblog.example%2Fpost"), "https://blog.example/post"),
    "linkedin-redir": (("https://www.linkedin.com/redir/redirect?url=https%3A%2F%2Fjobs.example"
                       "%2F42&urlhash=Ab1c"), "https://jobs.example/42"),
    "slack-redir": ("https://slack-redir.net/link?url=https%3A%2F%2Fdocs.example%2Fguide",
                    "https://docs.example/guide"),
    "steam-linkfilter": ("https://steamcommunity.com/linkfilter/?url=https://game.example/page",
                         "https://game.example/page"),
    "vk-away": ("https://vk.com/away.php?to=https%3A%2F%2Fsite.example%2F&cc_key=",
                "https://site.example/"),
    "reddit-out": (("https://out.reddit.com/t3_abc123?url=https%3A%2F%2Farticle.example%2Fstory"
                   "&token=xyz&app_name=email"), "https://article.example/story"),
    "substack-redirect-2": (f"https://substack.com/redirect/2/{_SUBSTACK_TOKEN}.c2lnbmF0dXJl?r=1",
                            "https://writer.example/p/hello?token=t1"),
    "convertkit-click": ("https://click.convertkit-mail2.com/abc123xyz/def456/"
                         + base64.b64encode(b"https://site.example/page?x=1").decode(),
                         "https://site.example/page?x=1"),
    "mailjet-lnk": ("https://x1y2.mjt.lu/lnk/AAAAbbbb/1/CcDdEe/"
                    + _b64url("https://store.example/shoes?size=42"),
                    "https://store.example/shoes?size=42"),
    "mailgun-c": (f"https://email.shop.example/c/{_MAILGUN}", "https://paper.example/p/story?ref=mail"),
    "substack-mailgun": (f"https://email.mg1.substack.com/c/{_MAILGUN}",
                         "https://paper.example/p/story?ref=mail"),
    "amazon-ses-l0": (("https://abc123.r.us-east-1.awstrack.me/L0/https:%2F%2Fdocs.example%2F"
                      "start%3Fa=1/1/0100018c-aaaa-bbbb/Zm9vYmFy=123"),
                      "https://docs.example/start?a=1"),
    "bronto-bl1": ("https://app.bl-1.com/t/?url=https%3A%2F%2Fshop.example%2Fnew&id=5",
                   "https://shop.example/new"),
    "icontact-relay": (("https://click.icptrack.com/icp/relay.php?r=1&msgid=2&destination="
                       "https%3A%2F%2Fevents.example%2F"), "https://events.example/"),
    "signl-tracker": ("https://signl.live/tracker?redirect=https%3A%2F%2Fdeal.example%2F&id=9",
                      "https://deal.example/"),
    "yesware-tl": ("https://t.yesware.com/tl/abc/def?ytl=https%3A%2F%2Fproduct.example%2F",
                   "https://product.example/"),
}
SECURITY = {
    "safelinks": (("https://eur02.safelinks.protection.outlook.com/?url=https%3A%2F%2Fintranet"
                  ".example%2Fpolicy&data=05%7C01%7Cbob%40example.org&sdata=x&reserved=0"),
                  "https://intranet.example/policy"),
    "proofpoint-v2": (("https://urldefense.proofpoint.com/v2/url?u=https-3A__www.partner.example"
                      "_docs-3Fid-3D7&d=DwMF&c=x&r=y"), "https://www.partner.example/docs?id=7"),
    "proofpoint-v3": (("https://urldefense.com/v3/__https://www.partner.example/page__;!!ABC!de"
                      "f$"), "https://www.partner.example/page"),
    "symantec-clicktime": (("https://clicktime.symantec.com/3AbCdE?u=https%3A%2F%2Fportal"
                           ".example%2F"), "https://portal.example/"),
    "barracuda-linkprotect": (("https://linkprotect.cudasvc.com/url?a=https%3A%2F%2Fvendor"
                              ".example%2F&c=E,1,x&typo=1"), "https://vendor.example/"),
    "mimecast-protect": ("https://protect-eu.mimecast.com/s/AbCdEfGh?domain=site.example", None),
}
TRACKERS = {
    "mailchimp": "https://shop.us5.list-manage.com/track/click?u=0a1b2c&id=3d4e5f&e=6a7b8c",
    "mandrill": "https://mandrillapp.com/track/click/30000000/shop.example?p=eyJzIjoiYWJjIn0",
    "sendgrid-host": "https://u1234567.ct.sendgrid.net/ls/click?upn=AbCd-2FeFgH",
    "sendgrid-ls-click": "https://links.shop.example/ls/click?upn=u001.AbCdEf-3D",
    "sendgrid-ss-c": "https://elink.paper.example/ss/c/AbCdEf/3q8/HbKK/h1/xyz",
    "hubspot-host": "https://d2abc.na1.hubspotlinks.com/Ctc/5B+113/d2abc/VW1",
    "hubspot-e3t": "https://info.shop.example/e3t/Ctc/UB+113/d2q-Vf04/VW4Dp",
    "salesforce-mc": "https://cl.s7.exct.net/?qs=a1b2c3d4e5",
    "pardot": "https://go.pardot.com/e/123456/2026-01-01/abcd/987",
    "braze": "https://links.iad-03.braze.com/l/abc/def",
    "substack-redirect": "https://substack.com/redirect/94f5c722-b33f-4dd6-959b-429b6b093a82?j=ey",
    "customerio": "https://e.customeriomail.com/e/c/eyJlbWFpbF9pZCI6IkFCQyJ9/abc",
    "customerio-path": "https://track.shop.example/e/c/eyJlbWFpbF9pZCI6IkFCQyJ9/abc",
    "beehiiv": "https://link.mail.beehiiv.com/ss/c/AbCdEf/4a1/xYz/h2/abc",
    "klaviyo": "https://ctrk.klclick.com/l/01HJ7RYTZ4QEWHYVTJWG5ST50G_0",
    "constantcontact": "https://r20.rs6.net/tn.jsp?f=001abc&c=def&ch=ghi",
    "brevo": "https://abcdef.r.bh.d.sendibt3.com/tr/cl/AbCd-EfGh_IjKl",
    "brevo-path": "https://r.news.shop.example/tr/cl/AbCd-EfGh_IjKl",
    "postmark": "https://click.pstmrk.it/3s/shop.example%2Fsale/AbCd/EfGh/1/Xy",
    "sparkpost": "https://clicks.shop.example/f/a/AbCdEf~~/AAQxARA~/RgRm",
    "sparkpost-host": "https://go.sparkpostmail.com/f/a/AbCd~~/AAA~/Rg",
    "zoho-campaigns": "https://abc-def.maillist-manage.com/click/1432081260/14320812",
    "mailerlite": "https://click.mlsend.com/link/c/YT0xMjM0",
    "iterable": "https://links.iterable.com/a/abc123/def456",
    "campaignmonitor": "https://shop.cmail20.com/t/d-l-abcdef-l-r/",
    "activecampaign": "https://shop.lt.acemlnb.com/Prod/link-tracker?redirectUrl=aHR0c",
    "eloqua": "https://s1234.t.eloqua.com/e/er?s=1234&lid=56&elqTrackId=abc",
    "mixmax": "https://links.mixmax.com/b/abcdef",
    "sidekick": "https://t.sidekickopen01.com/s1t/c/5/f18dQhb0S7lC8dDMPbW2n0x6l2B9nMJW7t5X",
    "strongview": "https://shop.strongview.com/t/abc/def",
    "mkt4477": "https://x.mkt4477.com/ctt?kn=5&ms=abc",
    "intercom": "https://via.intercom.io/e?ob=abc&h=def",
}


def test_every_shipped_entry_has_a_case_here():
    ids = {e["id"] for e in SHIPPED_LIST["redirectors"]} | {e["id"] for e in SHIPPED_LIST["click_trackers"]}
    assert ids == set(REDIRECTS) | set(SECURITY) | set(TRACKERS)


def test_every_shipped_entry_names_source_vendor_and_licence():
    for section in ("redirectors", "click_trackers", "params"):
        for e in SHIPPED_LIST[section]:
            assert e.get("source") and e.get("licence"), e
            if section != "params":
                assert e.get("vendor") and e.get("hosts"), e


@pytest.mark.parametrize("entry", sorted(REDIRECTS))
def test_redirector_is_unwrapped_to_its_destination(entry):
    url, dest = REDIRECTS[entry]
    assert valid_url(url)
    assert href_after(url, unwrap=True) == dest


@pytest.mark.parametrize("entry", sorted(REDIRECTS))
def test_redirector_left_alone_without_unwrap_and_marked_with_mark(entry):
    url, _ = REDIRECTS[entry]
    vendor = next(e["vendor"] for e in SHIPPED_LIST["redirectors"] if e["id"] == entry)
    _out, result = clean_doc(link(url), mark=True)
    assert href_after(url, mark=True) == url
    assert [(c.action, c.vendor) for c in result.links] == [("marked", vendor)]


@pytest.mark.parametrize("entry", sorted(SECURITY))
def test_security_wrapper_is_kept_unless_unwrap_security(entry):
    url, dest = SECURITY[entry]
    assert href_after(url, unwrap=True, strip_params=True, mark=True) == url
    _, result = clean_doc(link(url), unwrap=True, strip_params=True, mark=True)
    assert result.links == []  # not marked either: a company put it there on purpose
    expected = dest if dest is not None else url
    assert href_after(url, unwrap=True, unwrap_security=True) == expected


def test_unwrap_security_alone_does_nothing_without_unwrap():
    url, _ = SECURITY["safelinks"]
    assert href_after(url, unwrap_security=True, strip_params=True) == url


@pytest.mark.parametrize("entry", sorted(TRACKERS))
def test_click_tracker_gets_a_title_naming_its_vendor(entry):
    url = TRACKERS[entry]
    vendor = next(e["vendor"] for e in SHIPPED_LIST["click_trackers"] if e["id"] == entry)
    out, result = clean_doc(link(url), unwrap=True, strip_params=True, mark=True)
    assert [(c.action, c.vendor) for c in result.links] == [("marked", vendor)]
    assert f'<a title="Clicking tells {vendor} you clicked" href=' in out.replace("&amp;", "&")
    assert href_after(url, unwrap=True, strip_params=True, mark=True) == url  # href as sent


@pytest.mark.parametrize("entry", sorted(TRACKERS))
def test_click_tracker_untouched_without_mark(entry):
    url = TRACKERS[entry]
    out, result = clean_doc(link(url), unwrap=True, strip_params=True)
    assert result.links == [] and "title=" not in out


def test_nested_redirectors_are_unwrapped_to_the_innermost_destination_once():
    inner = "https://l.facebook.com/l.php?u=https%3A%2F%2Fshop.example%2Fx%3Futm_source%3Dfb&h=A"
    from urllib.parse import quote

    outer = "https://www.google.com/url?q=" + quote(inner, safe="")
    _out, result = clean_doc(link(outer))
    assert href_after(outer) == "https://shop.example/x"
    assert [(c.action, c.vendor) for c in result.links] == [("unwrapped", "Google"),
                                                           ("stripped", None)]


def test_redirector_inside_a_kept_security_wrapper_is_not_touched():
    from urllib.parse import quote

    inner = "https://www.google.com/url?q=https%3A%2F%2Fshop.example%2F%3Futm_source%3Dx"
    url = ("https://nam01.safelinks.protection.outlook.com/?url=" + quote(inner, safe="")
           + "&data=x")
    assert href_after(url) == url
    assert href_after(url, unwrap=True, unwrap_security=True, strip_params=True) == \
        "https://shop.example/"


def test_redirect_chains_deeper_than_the_bound_stay_as_sent():
    from urllib.parse import quote

    from pixelguard.links.edit import MAX_HOPS

    url = "https://shop.example/end"
    for _ in range(MAX_HOPS + 1):
        url = "https://www.google.com/url?q=" + quote(url, safe="")
    assert href_after(url, unwrap=True) == url


def test_destination_that_is_not_an_absolute_http_url_is_not_unwrapped():
    for url in ("https://www.google.com/url?q=%2Flocal%2Fpath",
                "https://www.google.com/url?q=javascript%3Aalert(1)",
                "https://www.google.com/url?q=https%3A%2F%2Fbad%20host.example%2F",
                "https://l.facebook.com/l.php?u=ftp%3A%2F%2Ffiles.example%2F",
                "https://x1.mjt.lu/lnk/AAAA/1/BB/" + _b64url("not a url")):
        assert href_after(url, unwrap=True) == url, url
        _, result = clean_doc(link(url), unwrap=True, mark=True)
        assert [c.action for c in result.links] == ["marked"]  # still reports the click


def test_destination_that_is_an_unsubscribe_page_is_not_unwrapped():
    url = "https://www.google.com/url?q=https%3A%2F%2Fshop.example%2Funsubscribe%3Ft%3D1"
    assert href_after(url, unwrap=True, strip_params=True) == url


def test_google_country_domains_are_redirectors_too():
    url = "https://www.google.co.uk/url?q=https%3A%2F%2Fnews.example%2F&sa=D"
    assert href_after(url, unwrap=True) == "https://news.example/"
    assert href_after("https://www.google.evil.example/url?q=https%3A%2F%2Fx.example%2F",
                      unwrap=True) == "https://www.google.evil.example/url?q=https%3A%2F%2Fx.example%2F"


def test_mailgun_token_that_does_not_inflate_or_names_no_l_is_marked():
    for token in ("eJxNkE1uwyAQRk9TlhgM2GbBopv", _mailgun_token("category=post&u=https%3A%2F%2Fx.example")):
        url = f"https://email.shop.example/c/{token}"
        _, result = clean_doc(link(url), unwrap=True, mark=True)
        assert [(c.action, c.vendor) for c in result.links] == [("marked", "Mailgun")]


def test_a_token_that_inflates_past_the_bound_is_not_read():
    bomb = zlib.compress(b"a=" + b"a" * 1_000_000 + b"&l=https%3A%2F%2Fx.example%2F", 9)
    url = "https://email.shop.example/c/" + base64.urlsafe_b64encode(bomb).decode()
    assert len(url) < 8192  # short enough to be read at all
    assert href_after(url, unwrap=True) == url  # its l= lies past the inflation bound
    small = _mailgun_token("a=" + "a" * 1000 + "&l=https%3A%2F%2Fx.example%2F")
    assert href_after(f"https://email.shop.example/c/{small}", unwrap=True) == "https://x.example/"


def test_a_link_whose_class_says_title_is_still_marked():
    url = TRACKERS["mailchimp"]
    out, result = clean_doc(link(url, "Story", ' class="title-link"'), mark=True)
    assert [(c.action, c.vendor) for c in result.links] == [("marked", "Mailchimp")]
    assert '<a title="Clicking tells Mailchimp you clicked" class="title-link"' in out


def test_an_empty_destination_parameter_gives_way_to_the_next_name():
    url = ("https://www.google.com/url?sa=t&rct=j&q=&esrc=s"
           "&url=https%3A%2F%2Fnews.example%2Fa&usg=x")
    assert href_after(url, unwrap=True) == "https://news.example/a"
