"""The notice's words: one sentence per language for one and for many trackers, the choice of
language, the catalogues (.mo says what .po says, every message of the code translated), and
`notice:` in the config."""
from __future__ import annotations

import gettext
import importlib.util
import textwrap
from pathlib import Path

import pytest

from pixelguard import Policy, clean_message
from pixelguard.config import ConfigError, parse_config
from pixelguard.model import Finding
from pixelguard.notice import html_notice, summary, text_notice
from pixelguard.notice.language import LANGUAGES, LOCALE_DIR, catalogue, choose

ROOT = Path(__file__).resolve().parent.parent


def _script(name: str):
    """scripts/NAME.py as a module (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
babel_pofile = pytest.importorskip("babel.messages.pofile")


def _found(vendor: str | None, rule: str = "known-tracker") -> Finding:
    return Finding("https://t.example/o.gif", rule, vendor, "img[src]", "1", "a reason")


ONE = [_found(None)]
MANY = [_found("SendGrid"), _found(None), _found(None)]
# (one unnamed tracker, three trackers of which one SendGrid) per language
EXPECTED = {
    "en": ("pixelguard removed 1 tracker from this message.",
           "pixelguard removed 3 trackers: 1 SendGrid, 2 unnamed."),
    "de": ("pixelguard hat 1 Tracker aus dieser Nachricht entfernt.",
           "pixelguard hat 3 Tracker entfernt: 1 SendGrid, 2 unbenannte."),
    "fr": ("pixelguard a supprimé 1 traceur de ce message.",
           "pixelguard a supprimé 3 traceurs\u00a0: 1 SendGrid, 2 anonymes."),
    "es": ("pixelguard eliminó 1 rastreador de este mensaje.",
           "pixelguard eliminó 3 rastreadores: 1 SendGrid, 2 sin nombre."),
    "it": ("pixelguard ha rimosso 1 tracker da questo messaggio.",
           "pixelguard ha rimosso 3 tracker: 1 SendGrid, 2 senza nome."),
    "nl": ("pixelguard heeft 1 tracker uit dit bericht verwijderd.",
           "pixelguard heeft 3 trackers verwijderd: 1 SendGrid, 2 zonder naam."),
    "pt": ("pixelguard removeu 1 rastreador desta mensagem.",
           "pixelguard removeu 3 rastreadores: 1 SendGrid, 2 sem nome."),
}


def test_every_language_has_its_expected_sentences():
    assert set(EXPECTED) == set(LANGUAGES)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_notice_speaks_each_language_for_one_and_many(lang):
    one, many = EXPECTED[lang]
    assert summary(ONE, lang) == one
    assert summary(MANY, lang) == many


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_original_folder_and_a_redirect_are_said_in_each_language(lang):
    english = summary(MANY + [_found(None, "meta-refresh")], "en", "pixelguard/originals")
    said = summary(MANY + [_found(None, "meta-refresh")], lang, "pixelguard/originals")
    assert "pixelguard/originals" in said
    assert said.count(".") >= 3  # three sentences: trackers, redirect, original
    assert (said == english) == (lang == "en")


def test_one_vendor_for_all_is_named_without_a_count():
    both = [_found("Mailchimp"), _found("Mailchimp")]
    assert summary(both) == "pixelguard removed 2 trackers: Mailchimp."


def test_vendors_past_the_eighth_are_counted_together():
    found = [_found(f"V{i}") for i in range(10)] + [_found("V0")]
    text = summary(found)
    assert text.startswith("pixelguard removed 11 trackers: 2 V0, 1 V1,")
    assert text.endswith("1 V7, 2 from other vendors.")


def test_a_redirect_alone_is_not_called_a_tracker():
    assert summary([_found(None, "meta-refresh")]) == \
        "pixelguard removed a redirect of this message to a remote web page."


def test_the_notice_has_no_link_and_escapes_what_it_quotes():
    box = html_notice(MANY, "de", 'a<b>"&')
    assert "<a " not in box and "href" not in box
    assert "a&lt;b&gt;&quot;&amp;" in box and box.isascii()
    assert text_notice(ONE).startswith("[pixelguard removed 1 tracker")


@pytest.mark.parametrize(("configured", "html_lang", "content_language", "expected"), [
    (None, None, None, "en"),
    ("fr", "de", "es", "fr"),  # the user's choice first
    (None, "de-CH", "es", "de"),  # then the HTML lang, by its primary subtag
    (None, None, "pt-BR", "pt"),  # then Content-Language
    (None, None, "nl, en", "nl"),  # its first language
    (None, "ja", "de", "en"),  # a language we do not speak: English, not the next hint
    (None, "", "it", "it"),  # an empty lang says nothing
])
def test_the_language_is_the_users_else_the_messages_else_english(
        configured, html_lang, content_language, expected):
    assert choose(configured, html_lang, content_language) == expected


def test_the_message_language_reaches_the_notice_in_html_and_text():
    raw = (ROOT / "fixtures" / "notice-short-preheader.eml").read_bytes()  # <html lang="de">
    out = clean_message(raw, Policy(recipients=("bob@example.org",))).raw.decode()
    assert "pixelguard hat 3 Tracker entfernt: 1 SendGrid, 2 unbenannte." in out
    assert "[pixelguard hat 3 Tracker entfernt" in out  # the text/plain twin too
    forced = clean_message(raw, Policy(notice_language="es")).raw.decode()
    assert "pixelguard elimin" in forced and "Tracker entfernt" not in forced


def test_a_text_part_whose_charset_cannot_carry_the_language_gets_english():
    raw = (b"From: a@shop.example\nTo: bob@example.org\nSubject: s\nMIME-Version: 1.0\n"
           b'Content-Type: multipart/alternative; boundary="b"\n\n--b\n'
           b"Content-Type: text/plain; charset=us-ascii\n\nHello.\n--b\n"
           b'Content-Type: text/html; charset=utf-8\n\n<html lang="fr"><body><p>Hello.</p>'
           b'<img src="https://t.example/open.gif" width="1" height="1"></body></html>\n--b--\n')
    out = clean_message(raw, Policy()).raw.decode("ascii")
    assert "[pixelguard removed 1 tracker from this message.]" in out
    assert "pixelguard a supprim&#233; 1 traceur" in out  # the HTML part carries French


@pytest.mark.parametrize(("cte", "expected"), [
    (b"", "[pixelguard removed 1 tracker from this message."),  # no header: 7bit
    (b"Content-Transfer-Encoding: 7bit\n", "[pixelguard removed 1 tracker from this message."),
    (b"Content-Transfer-Encoding: 8bit\n", "[pixelguard a supprimé 1 traceur de ce message."),
])
def test_a_7bit_text_part_gets_no_8bit_bytes(cte, expected):
    """A UTF-8 text part sent as 7bit may carry only ASCII: the notice there is English,
    and a folder name outside ASCII is replaced, so the part stays what it declares."""
    raw = (b"From: a@shop.example\nTo: bob@example.org\nSubject: s\nMIME-Version: 1.0\n"
           b'Content-Type: multipart/alternative; boundary="b"\n\n--b\n'
           b"Content-Type: text/plain; charset=utf-8\n" + cte + b"\nHello.\n--b\n"
           b'Content-Type: text/html; charset=utf-8\n\n<html lang="fr"><body><p>Hello.</p>'
           b'<img src="https://t.example/open.gif" width="1" height="1"></body></html>\n--b--\n')
    out = clean_message(raw, Policy(originals_folder="Müll")).raw
    text_part = out.split(b"--b\n")[1]
    assert expected in text_part.decode("utf-8")
    if b"8bit" not in cte:
        assert text_part.isascii(), text_part


# --- the catalogues -----------------------------------------------------------------------

def _po(lang: str):
    with open(LOCALE_DIR / lang / "LC_MESSAGES" / "pixelguard.po", "rb") as fh:
        return babel_pofile.read_po(fh)


@pytest.mark.parametrize("lang", [lang for lang in LANGUAGES if lang != "en"])
def test_each_compiled_catalogue_says_what_its_po_file_says(lang):
    """The .mo files are committed; this fails when a .po was edited and not compiled
    (python scripts/catalogues.py compile)."""
    po = _po(lang)
    mo = catalogue(lang)
    assert isinstance(mo, gettext.GNUTranslations)
    plural = gettext.c2py(po.plural_expr)
    for message in po:
        if not message.id:
            continue
        assert message.string, f"{lang}: untranslated {message.id!r}"
        if isinstance(message.id, tuple):
            for n in (0, 1, 2, 5, 21):
                assert mo.ngettext(*message.id, n) == message.string[plural(n)], (lang, n)
        else:
            assert mo.gettext(message.id) == message.string


@pytest.mark.parametrize("lang", [lang for lang in LANGUAGES if lang != "en"])
def test_each_catalogue_translates_every_message_of_the_code(lang):
    from babel.messages.extract import extract_from_file

    catalogues = _script("catalogues")

    wanted = {msg for source in catalogues.SOURCES
              for _line, msg, _c, _x in extract_from_file("python", str(source),
                                                          keywords=catalogues.KEYWORDS)}
    have = {m.id for m in _po(lang) if m.id and m.string}
    assert wanted <= have, f"{lang}: run scripts/catalogues.py extract, translate, compile"


@pytest.mark.parametrize(("lang", "forms"), [("fr", {0: 0, 1: 0, 2: 1}), ("de", {0: 1, 1: 0, 2: 1})])
def test_plural_forms_follow_the_language(lang, forms):
    plural = gettext.c2py(_po(lang).plural_expr)
    assert {n: plural(n) for n in forms} == forms


# --- notice: in the config ----------------------------------------------------------------

def _parse(text: str):
    return parse_config(textwrap.dedent(text), "pg.yaml")


def test_notice_true_and_false_still_work():
    cfg = _parse("defaults:\n  notice: false\nusers:\n  bob@example.org:\n    notice: true\n")
    assert cfg.policy_for("alice@example.org").notice is False
    bob = cfg.policy_for("bob@example.org")
    assert bob.notice is True and bob.notice_position == "top" and bob.notice_language is None


def test_a_user_overrides_only_the_notice_keys_it_sets():
    cfg = _parse("""\
        defaults:
          notice: {position: bottom, language: de}
        users:
          bob@example.org:
            notice: {language: pt-BR}
          carol@example.org:
            notice: {language: auto}
        """)
    d = cfg.policy_for(None)
    assert (d.notice, d.notice_position, d.notice_language) == (True, "bottom", "de")
    bob = cfg.policy_for("bob@example.org")
    assert (bob.notice, bob.notice_position, bob.notice_language) == (True, "bottom", "pt")
    assert cfg.policy_for("carol@example.org").notice_language is None


@pytest.mark.parametrize(("text", "line", "key"), [
    ("defaults:\n  action: strip\n  notice:\n    language: klingon\n", 4,
     "defaults.notice.language"),
    ("users:\n  bob@example.org:\n    notice: {language: ja}\n", 3,
     "users.bob@example.org.notice.language"),
])
def test_an_unsupported_notice_language_names_file_line_and_key(text, line, key):
    with pytest.raises(ConfigError) as info:
        _parse(text)
    e = info.value
    assert (e.file, e.line, e.key) == ("pg.yaml", line, key)
    assert "not a notice language" in e.message and "de" in e.message
    assert str(e).startswith(f"pg.yaml:{line}: {key}: ")


def test_a_bad_notice_position_or_value_is_a_config_error():
    with pytest.raises(ConfigError) as info:
        _parse("defaults:\n  notice: {position: middle}\n")
    assert info.value.key == "defaults.notice.position" and info.value.line == 2
    with pytest.raises(ConfigError) as info:
        _parse("defaults:\n  notice: sometimes\n")
    assert info.value.key == "defaults.notice" and "true, false or a mapping" in info.value.message
    with pytest.raises(ConfigError) as info:
        _parse("defaults:\n  notice: {enable: true}\n")
    assert "did you mean 'enabled'" in info.value.message


def test_check_config_shows_where_and_in_which_language_the_notice_goes():
    from pixelguard.config import describe_policies

    cfg = _parse("defaults:\n  notice: {position: bottom}\n"
                 "users:\n  bob@example.org:\n    notice: {language: nl}\n"
                 "  carol@example.org:\n    notice: false\n")
    out = describe_policies(cfg)
    assert "  notice: on, bottom, in the message's language (else en)\n" in out
    assert "  notice: on, bottom, in nl (user)\n" in out
    assert "  notice: off (user)\n" in out


@pytest.mark.parametrize(("markup", "expected"), [
    ('<html lang="it"><body lang="de">', "it"),
    ('<html><head><title>t</title></head><body lang="nl-BE">', "nl"),
    ("<html><body>", "en"),
])
def test_the_document_language_comes_from_html_else_body(markup, expected):
    raw = (f"{markup}<p>Hello</p>"
           '<img src="https://t.example/open.gif" width="1" height="1"></body></html>').encode()
    out = clean_message(raw, Policy()).raw.decode()
    assert f'data-pixelguard="notice" lang="{expected}"' in out
