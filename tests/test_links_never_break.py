"""Links a reader needs stay exactly as sent, and an edit changes only the href's bytes."""
from __future__ import annotations

import pytest
from links_mail import ALL, clean_doc, doc, link, message

from pixelguard import clean_message
from pixelguard.model import Policy

TRACKED = "https://news.example/u/Zk3q9?utm_source=newsletter&utm_medium=email"
GOOGLE = "https://www.google.com/url?q=https%3A%2F%2Fshop.example%2F%3Futm_source%3Dx&sa=D"


def _unchanged(body: str) -> None:
    _out, result = clean_doc(body)
    assert result.links == [], result.links
    assert result.raw == doc(body)


@pytest.mark.parametrize("text", [
    "Unsubscribe", "unsubscribe from this list", "Opt out", "Manage your preferences",
    "Update subscription preferences", "Abmelden", "Newsletter abbestellen",
    "Se désinscrire", "Désabonnement", "Darse de baja", "Cancelar suscripción",
    "Annulla iscrizione", "Disiscriviti", "Afmelden", "Uitschrijven", "Cancelar inscrição",
    "Descadastre-se", "Gérer mon abonnement", "Voorkeuren beheren", "Preferências de e-mail",
])
def test_unsubscribe_and_preference_links_by_their_text_stay(text):
    _unchanged(link(TRACKED, text))
    _unchanged(link(GOOGLE, text))
    _unchanged(link("https://shop.us5.list-manage.com/track/click?u=1&id=2", text))


@pytest.mark.parametrize("before", [
    "If you no longer wish to receive these emails,",
    "To stop receiving our newsletter",
    "Wenn Sie den Newsletter nicht mehr erhalten möchten,",
    "Pour ne plus recevoir nos e-mails,",
    "Si quieres dejar de recibir estos correos,",
    "Per non ricevere più questa newsletter,",
    "Wilt u zich afmelden?",
    "Para deixar de receber estes e-mails,",
    "Caso não deseje mais receber nossos e-mails,",
    "Si no desea recibir más correos,",
    "Vous ne souhaitez plus recevoir nos offres ?",
    "Se non desideri più ricevere le nostre email,",
    "Wilt u deze e-mails niet meer ontvangen?",
    "Sie möchten diese E-Mails nicht mehr empfangen?",
    "Don't want to receive these emails?",
])
def test_links_whose_surrounding_text_is_about_unsubscribing_stay(before):
    _unchanged(f"<p>{before} {link(TRACKED, 'click here')}.</p>")


@pytest.mark.parametrize("attrs", [' title="Unsubscribe"', ' aria-label="Abmelden"'])
def test_links_titled_or_labelled_unsubscribe_stay(attrs):
    _unchanged(link(TRACKED, "here", attrs))


def test_link_with_an_unsubscribe_image_stays():
    _unchanged(link(TRACKED, '<img src="cid:u1" alt="Unsubscribe">'))


@pytest.mark.parametrize("url", [
    "https://shop.example/unsubscribe?utm_source=nl&id=9",
    "https://shop.example/email/preferences?utm_campaign=x",
    "https://shop.example/opt-out?mkt_tok=abc",
    "https://shop.example/newsletter/abmelden?utm_source=x",
])
def test_links_to_unsubscribe_pages_stay(url):
    _unchanged(link(url, "here"))


def test_words_that_only_contain_an_opt_out_word_do_not_protect():
    _, result = clean_doc(f"<p>Free cancellation on every room: {link(TRACKED, 'Book now')}</p>")
    assert [c.action for c in result.links] == ["stripped"]


def test_an_unrelated_link_next_to_an_unsubscribe_link_is_still_cleaned():
    body = (f"<p>{link(TRACKED, 'Read the story')}</p>"
            f"<p>{link('https://news.example/unsub?id=1', 'Unsubscribe')}</p>")
    out, result = clean_doc(body)
    assert [c.action for c in result.links] == ["stripped"]
    assert 'href="https://news.example/unsub?id=1"' in out


@pytest.mark.parametrize("href", [
    "mailto:news@shop.example?subject=Hi&utm_source=x", "tel:+49301234567",
    "#utm_source=top", "/local/page?utm_source=x", "//cdn.shop.example/p?utm_source=x",
    "sms:+4930123?body=utm_source", "cid:part1@shop.example", "data:text/plain,utm_source=x",
])
def test_non_http_relative_and_anchor_links_stay(href):
    _unchanged(f'<a href="{href}">x</a>')


@pytest.mark.parametrize("wrap", [
    '<blockquote type="cite">{}</blockquote>',
    '<div class="gmail_quote"><div dir="ltr">On Mon, Bob wrote:</div><div>{}</div></div>',
    '<div class="yahoo_quoted">{}</div>',
    '<div id="divRplyFwdMsg" dir="ltr"><b>From:</b> Bob</div><div>{}</div>',
    '<p>-----Original Message-----<br>From: Bob</p><p>{}</p>',
    '<p>----- Ursprüngliche Nachricht -----</p><p>{}</p>',
])
def test_links_in_quoted_replies_stay(wrap):
    _unchanged("<p>See below.</p>" + wrap.format(link(TRACKED) + " " + link(GOOGLE)))


def test_link_before_the_quote_is_cleaned_and_the_quoted_one_kept():
    body = link(TRACKED) + '<blockquote type="cite">' + link(TRACKED) + "</blockquote>"
    out, result = clean_doc(body)
    assert len(result.links) == 1
    assert out.count("utm_source") == 1 and out.index("utm_source") > out.index("<blockquote")


def test_amp_part_is_left_byte_identical():
    amp = f'<html amp4email><body><a href="{GOOGLE}">Shop</a></body></html>'
    raw = message(f'<html><body><a href="{GOOGLE}">Shop</a></body></html>', amp=amp)
    result = clean_message(raw, Policy(links=ALL))
    assert [c.action for c in result.links] == ["unwrapped", "stripped"]
    assert amp.encode() in result.raw
    assert b'<a href="https://shop.example/">Shop</a>' in result.raw


def test_only_the_href_value_bytes_change():
    body = ("<table><tr><td><a  class=btn HREF='https://shop.example/a?utm_source=n&amp;id=1'"
            " style='color:red' >Buy</a></td></tr></table>"
            "<a href=https://www.google.com/url?q=https%3A%2F%2Fx.example%2F>G</a>"
            "<area shape=rect coords=0,0,1,1 href=\"https://x.example/?fbclid=1&amp;k=2\">")
    out, result = clean_doc(body, unwrap=True, strip_params=True)
    expected = doc(body).decode() \
        .replace("'https://shop.example/a?utm_source=n&amp;id=1'", "'https://shop.example/a?id=1'") \
        .replace("href=https://www.google.com/url?q=https%3A%2F%2Fx.example%2F>",
                 'href="https://x.example/">') \
        .replace('"https://x.example/?fbclid=1&amp;k=2"', '"https://x.example/?k=2"')
    assert out == expected
    assert [c.where for c in result.links] == ["a[href]", "a[href]", "area[href]"]


def test_ampersands_and_quotes_are_escaped_for_the_attribute():
    dest = "https://shop.example/p?a=1&b='x'&c=\"y\""
    from urllib.parse import quote

    google = "https://www.google.com/url?q=" + quote(dest, safe="")
    out, _ = clean_doc(f'<a href="{google}">x</a><a href=\'{google}\'>y</a>', unwrap=True)
    assert 'href="https://shop.example/p?a=1&amp;b=\'x\'&amp;c=&quot;y&quot;"' in out
    assert "href='https://shop.example/p?a=1&amp;b=&#39;x&#39;&amp;c=\"y\"'" in out


def test_an_existing_title_is_kept_and_the_link_not_marked():
    url = "https://shop.us5.list-manage.com/track/click?u=1&id=2"
    _unchanged(link(url, "Shop", ' title="Our shop"'))


def test_links_in_svg_and_in_text_are_not_links():
    _unchanged(f'<svg><a href="{TRACKED}"><text>x</text></a></svg>'
               f"<p>{TRACKED}</p><textarea>{link(TRACKED)}</textarea>")


def test_text_plain_twin_keeps_its_urls_and_gets_the_notice():
    text = f"Read the story: {TRACKED}\r\n"
    raw = message(f"<html><body><p>Hi</p>{link(TRACKED)}</body></html>", text_body=text)
    result = clean_message(raw, Policy(links=ALL))
    assert result.changed and result.findings == []
    assert TRACKED.encode() in result.raw  # the text part's URL as sent
    assert b"[pixelguard checked the links of this message. Tracking parameters were removed " \
           b"from 1 link.]" in result.raw


def test_list_unsubscribe_headers_stay_byte_identical():
    unsub = ("List-Unsubscribe: <https://news.example/unsub?utm_source=x&u=1>,\r\n"
             " <mailto:unsub@news.example?subject=utm_source>\r\n"
             "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n")
    raw = message(f"<html><body><p>Hi</p>{link(TRACKED)}</body></html>")
    raw = raw.replace(b"Subject: News\r\n", b"Subject: News\r\n" + unsub.encode())
    result = clean_message(raw, Policy(links=ALL))
    assert result.links and unsub.encode() in result.raw
    head, _, _ = result.raw.partition(b"\r\n\r\n")
    assert head.endswith(raw.partition(b"\r\n\r\n")[0])  # only X-PixelGuard was added on top
