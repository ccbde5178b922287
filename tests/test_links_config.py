"""`links:` in the config, user lists (ours and ClearURLs'), the milter's combination of
several recipients, and links off by default (nothing changes, nothing is imported)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from links_mail import clean_doc, href_after, link

from pixelguard import clean_message
from pixelguard.config import ConfigError, describe_policies, parse_config
from pixelguard.milter.recipients import strictest
from pixelguard.model import LinkOptions, Policy

ROOT = Path(__file__).resolve().parents[1]


def _parse(text: str, tmp_path: Path | None = None):
    return parse_config(text, str(tmp_path / "pixelguard.yaml") if tmp_path else "pg.yaml")


def test_links_are_off_by_default():
    assert _parse("defaults: {}\n").policy_for("a@example.org").links == LinkOptions()
    assert not LinkOptions().active


def test_defaults_and_user_links():
    cfg = _parse("defaults:\n  links: {unwrap: true, strip_params: true}\n"
                 "users:\n  bob@example.org:\n    links: {strip_params: false, mark: true}\n"
                 "  eve@example.org:\n    links: false\n")
    assert cfg.policy_for("x@example.org").links == LinkOptions(unwrap=True, strip_params=True)
    assert cfg.policy_for("Bob@Example.org").links == LinkOptions(unwrap=True, mark=True)
    assert cfg.policy_for("eve@example.org").links == LinkOptions()
    text = describe_policies(cfg)
    assert "  links: unwrap, strip_params\n" in text
    assert "  links: unwrap, mark (user)\n" in text


def test_links_true_is_every_option_but_security_wrappers():
    cfg = _parse("defaults:\n  links: true\n")
    assert cfg.policy_for(None).links == LinkOptions(unwrap=True, strip_params=True, mark=True)


@pytest.mark.parametrize(("text", "line", "message"), [
    ("defaults:\n  links:\n    unwrap: perhaps\n", 3, "defaults.links.unwrap"),
    ("defaults:\n  links:\n    strip: true\n", 3, "unknown key 'strip'; known keys here: unwrap, strip_params, mark, unwrap_security, lists"),
    ("defaults:\n  links: [unwrap]\n", 2, "defaults.links"),
    ("users:\n  bob@example.org:\n    links:\n      mark: 3\n", 4, "users.bob@example.org.links.mark"),
    ("defaults:\n  links:\n    lists: [/nonexistent/links.json]\n", 3,
     "links list file not found: /nonexistent/links.json"),
])
def test_bad_links_settings_name_file_line_and_key(text, line, message):
    with pytest.raises(ConfigError) as info:
        _parse(text)
    assert f"pg.yaml:{line}:" in str(info.value) and message in str(info.value)


def test_a_broken_list_file_is_a_config_error_naming_it(tmp_path):
    bad = tmp_path / "mine.json"
    bad.write_text(json.dumps({"format": "pixelguard-links/1", "redirectors": [
        {"id": "x", "vendor": "X", "kind": "redirect", "hosts": ["go.x.example"],
         "encoding": "rot13"}]}))
    with pytest.raises(ConfigError) as info:
        _parse("defaults:\n  links:\n    lists: [mine.json]\n", tmp_path)
    assert f"{bad}: redirectors[0]: encoding 'rot13'" in str(info.value)
    (tmp_path / "other.json").write_text("{\"rules\": []}")
    with pytest.raises(ConfigError, match="neither a pixelguard links list"):
        _parse("defaults:\n  links:\n    lists: [other.json]\n", tmp_path)


def test_a_user_list_in_our_format_adds_redirectors_trackers_and_parameters(tmp_path):
    mine = tmp_path / "mine.json"
    mine.write_text(json.dumps({"format": "pixelguard-links/1", "redirectors": [
        {"id": "partner", "vendor": "Partner", "kind": "redirect", "hosts": ["go.partner.example"],
         "path": "/out", "dest": {"query": ["to"]}, "encoding": "plain", "source": "mine",
         "licence": "mine"}],
        "click_trackers": [{"id": "t", "vendor": "Tracky", "hosts": ["*.tracky.example"],
                            "path": "/c/*", "source": "mine", "licence": "mine"}],
        "params": [{"name": "ref_id", "source": "mine", "licence": "mine"}]}))
    cfg = _parse("defaults:\n  links: {unwrap: true, strip_params: true, mark: true, "
                 "lists: [mine.json]}\n", tmp_path)
    pol = cfg.policy_for(None)
    assert pol.links.lists == (str(mine),)
    out = clean_message(b"<p>x</p>" + link(
        "https://go.partner.example/out?to=https%3A%2F%2Fshop.example%2F%3Fref_id%3D7%26k%3D1"
    ).encode() + link("https://t.tracky.example/c/123").encode(), pol)
    assert [(c.action, c.vendor) for c in out.links] == [("unwrapped", "Partner"), ("stripped", None),
                                                         ("marked", "Tracky")]
    assert b'href="https://shop.example/?k=1"' in out.raw


CLEARURLS = {"providers": {
    "globalRules": {"urlPattern": ".*", "completeProvider": False,
                    "rules": ["(?:%3F)?utm(?:_[a-z_]*)?", "(?:%3F)?ga_[a-z_]+", "ref_?"],
                    "referralMarketing": ["referrer"], "exceptions": ["^https?:\\/\\/[^/]+\\.bank\\.example"],
                    "redirections": []},
    "outbound": {"urlPattern": "^https?:\\/\\/out\\.example", "completeProvider": False,
                 "rules": [], "exceptions": [],
                 "redirections": ["^https?:\\/\\/out\\.example\\/go\\?.*?target=([^&]+)"]},
}}


def test_a_clearurls_rules_file_is_read_as_a_user_list(tmp_path):
    path = tmp_path / "data.min.json"
    path.write_text(json.dumps(CLEARURLS))
    opts = {"unwrap": True, "strip_params": True, "lists": (str(path),)}
    assert href_after("https://out.example/go?x=1&target=https%3A%2F%2Fshop.example%2Fp", **opts) == \
        "https://shop.example/p"
    assert href_after("https://shop.example/p?ga_campaign=1&ref=2&referrer=x&id=3", **opts) == \
        "https://shop.example/p?id=3"
    # its exceptions hold: a URL its provider exempts keeps the provider's parameters
    assert href_after("https://www.bank.example/p?ref=2&utm_source=x", **opts) == \
        "https://www.bank.example/p?ref=2"  # the shipped list still strips utm_source
    cfg = _parse("defaults:\n  links:\n    lists: [data.min.json]\n", tmp_path)
    assert cfg.policy_for(None).links.lists == (str(path),)


def test_clearurls_file_with_a_bad_regex_names_the_provider(tmp_path):
    bad = {"providers": {"broken": {"urlPattern": "(", "rules": []}}}
    (tmp_path / "c.json").write_text(json.dumps(bad))
    with pytest.raises(ConfigError, match="provider 'broken'"):
        _parse("defaults:\n  links:\n    lists: [c.json]\n", tmp_path)


def test_milter_applies_an_option_only_when_every_recipient_has_it():
    a = Policy(recipients=("a@x.example",), links=LinkOptions(unwrap=True, mark=True,
                                                              lists=("/l1", "/l2")))
    b = Policy(recipients=("b@x.example",), links=LinkOptions(unwrap=True, strip_params=True,
                                                              lists=("/l2",)))
    assert strictest([a, b]).links == LinkOptions(unwrap=True, lists=("/l2",))
    assert strictest([a, Policy(recipients=("c@x.example",))]).links == LinkOptions()
    assert strictest([a]).links == a.links


FIXTURE_FILES = sorted(p for p in (ROOT / "fixtures").iterdir() if p.suffix in (".eml", ".html"))


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda p: p.name)
def test_links_off_changes_no_byte_of_any_fixture(path):
    raw = path.read_bytes()
    plain = clean_message(raw, Policy(recipients=("bob@example.org",)))
    off = clean_message(raw, Policy(recipients=("bob@example.org",),
                                    links=LinkOptions(unwrap_security=True)))
    assert off.raw == plain.raw and off.links == [] == plain.links
    if not plain.changed and plain.error is None:
        assert plain.raw == raw


def test_links_on_leaves_a_message_without_links_to_edit_as_it_was():
    body = link("https://shop.example/plain?id=1") + '<a href="mailto:x@shop.example">m</a>'
    _out, result = clean_doc(body)
    assert result.links == [] and not result.changed


def test_links_package_is_not_imported_when_links_are_off(tmp_path):
    code = ("import sys\nfrom pixelguard import clean_message\nfrom pixelguard.model import Policy\n"
            "raw = open(sys.argv[1], 'rb').read()\n"
            "clean_message(raw, Policy())\n"
            "print(any(m == 'pixelguard.links' or m.startswith('pixelguard.links.') "
            "for m in sys.modules))\n")
    news = str(ROOT / "fixtures" / "demo-newsletter.eml")
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code, news], capture_output=True, text=True,
                         env=env, check=True, timeout=60)
    assert out.stdout.strip() == "False"
    on = code.replace("Policy()", "Policy(links=__import__('pixelguard.model').model.LinkOptions(mark=True))")
    out = subprocess.run([sys.executable, "-c", on, news], capture_output=True, text=True,
                         env=env, check=True, timeout=60)
    assert out.stdout.strip() == "True"  # (the check can fail)


def test_a_user_list_edited_on_disk_is_read_again_after_a_reload(tmp_path):
    """A cache keeps the lists as it first read them (pixelguard.cache): an edit takes effect
    with the next cache, as a config reload swaps it in."""
    from pixelguard import cache

    path = tmp_path / "mine.json"

    def write(name: str) -> None:
        path.write_text(json.dumps({"format": "pixelguard-links/1",
                                    "params": [{"name": name, "source": "s", "licence": "l"}]}))

    write("ref_a")
    url = "https://shop.example/p?ref_a=1&ref_b=2"
    assert href_after(url, strip_params=True, lists=(str(path),)) == "https://shop.example/p?ref_b=2"
    write("ref_bb")
    assert href_after(url, strip_params=True, lists=(str(path),)) == "https://shop.example/p?ref_b=2"
    cache.swap()  # a reload
    assert href_after(url, strip_params=True, lists=(str(path),)) == url


def test_reading_a_config_loads_only_the_links_settings(tmp_path):
    (tmp_path / "pg.yaml").write_text("defaults: {}\n")
    code = ("import sys\nfrom pixelguard import clean_message\n"
            "from pixelguard.config import load_config\n"
            "cfg = load_config(sys.argv[2])\n"
            "clean_message(open(sys.argv[1], 'rb').read(), cfg.policy_for('bob@example.org'))\n"
            "print(sorted(m for m in sys.modules if m.startswith('pixelguard.links')))\n")
    news = str(ROOT / "fixtures" / "demo-newsletter.eml")
    out = subprocess.run([sys.executable, "-c", code, news, str(tmp_path / "pg.yaml")],
                         capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "['pixelguard.links', 'pixelguard.links.settings']"
