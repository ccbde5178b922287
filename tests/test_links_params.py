"""Tracking parameters: each shipped rule removes its parameter and nothing else; every other
parameter keeps its place and its encoding."""
from __future__ import annotations

import json

import pytest
from links_mail import clean_doc, href_after, link

from pixelguard.links.rules import SHIPPED, shipped_rules
from pixelguard.links.strip import strip_params

PARAMS = [e["name"] for e in json.loads(SHIPPED.read_text())["params"]]


def _name(rule: str) -> str:
    return rule[:-1] + "source" if rule.endswith("*") else rule


@pytest.mark.parametrize("rule", PARAMS)
def test_each_parameter_rule_strips_only_its_parameter(rule):
    url = f"https://shop.example/item?id=3&{_name(rule)}=v1-AbC&color=red#top"
    assert href_after(url, strip_params=True) == "https://shop.example/item?id=3&color=red#top"


@pytest.mark.parametrize("name", ["utm_source", "utm_medium", "utm_campaign", "utm_term",
                                  "utm_content", "utm_id", "UTM_Source", "utm%5Fsource"])
def test_utm_family_in_any_case_and_encoding(name):
    assert strip_params(f"https://a.example/?{name}=x&k=1", shipped_rules()) == "https://a.example/?k=1"


def test_other_parameters_keep_order_and_exact_encoding():
    url = ("https://shop.example/s?q=caf%C3%A9+cr%c3%a8me&utm_source=nl&x=%2F%2f&&flag"
           "&mc_eid=abc123&z=a%26b")
    assert strip_params(url, shipped_rules()) == \
        "https://shop.example/s?q=caf%C3%A9+cr%c3%a8me&x=%2F%2f&&flag&z=a%26b"


def test_no_question_mark_left_when_every_parameter_goes():
    assert strip_params("https://a.example/p?utm_source=x&fbclid=y#frag", shipped_rules()) == \
        "https://a.example/p#frag"


def test_nothing_to_strip_gives_none_and_the_link_stays():
    assert strip_params("https://a.example/p?id=5&utm=1&source=x", shipped_rules()) is None
    assert strip_params("https://a.example/p#utm_source=x", shipped_rules()) is None
    out, result = clean_doc(link("https://a.example/p?id=5&utm=1"), strip_params=True)
    assert result.links == [] and result.raw.decode() == out


def test_parameters_in_the_fragment_are_kept():
    assert strip_params("https://a.example/p?utm_source=x#a?utm_medium=y", shipped_rules()) == \
        "https://a.example/p#a?utm_medium=y"


def test_strip_params_off_leaves_parameters():
    url = "https://shop.example/item?utm_source=nl&id=3"
    assert href_after(url, unwrap=True, mark=True) == url


def test_an_href_that_is_not_a_valid_url_is_never_edited():
    for url in ("https://shop example/?utm_source=x", "https://shop.example:99999/?utm_source=x",
                "https:/shop.example/?utm_source=x", "https://shop.example\\x/?utm_source=x"):
        out, result = clean_doc(f'<a href="{url}">x</a>', strip_params=True)
        assert result.links == [] and f'href="{url}"' in out, url


def test_stripped_link_records_old_and_new_url():
    _, result = clean_doc(link("https://shop.example/a?gclid=1&b=2"), strip_params=True)
    (change,) = result.links
    assert (change.action, change.url, change.new_url, change.vendor, change.where) == \
        ("stripped", "https://shop.example/a?gclid=1&b=2", "https://shop.example/a?b=2", None,
         "a[href]")


_NAMES = ["id", "q", "page", "utm_source", "utm_x", "fbclid", "mc_eid", "_hsenc", "ref",
          "gclid", "color", "sid", "UTM_Medium", "mkt_tok", "a%20b", ""]
_VALUES = ["", "1", "a%26b", "caf%C3%A9", "x+y", "%2F", "=", "AbC-_.~"]


def test_strip_removes_exactly_the_listed_names_keeping_the_rest_as_written():
    from hypothesis import given
    from hypothesis import strategies as st

    piece = st.tuples(st.sampled_from(_NAMES), st.sampled_from(["=", ""]),
                      st.sampled_from(_VALUES)).map(lambda t: "".join(t))
    rules = shipped_rules()

    @given(st.lists(piece, min_size=1, max_size=8), st.sampled_from(["", "#frag", "#a?utm_source=1"]))
    def check(pieces, fragment):
        url = "https://shop.example/p?" + "&".join(pieces) + fragment
        kept = [p for p in pieces
                if not (p and any(r.strips(p.partition("=")[0].replace("%20", " "))
                                  for r in rules.params))]
        got = strip_params(url, rules)
        if len(kept) == len(pieces):
            assert got is None
        else:
            query = "&".join(kept)
            assert got == "https://shop.example/p" + ("?" + query if query else "") + fragment

    check()


def test_a_question_mark_in_the_fragment_starts_no_query():
    assert strip_params("https://a.example/app#/route?utm_source=x&id=1", shipped_rules()) is None
