"""Links that are never changed: unsubscribe and preference links (by their URL, their text,
title or label, or the text just around them, in en de fr es it nl pt), and links inside
quoted replies (blockquote type=cite, Gmail's, Yahoo's and Outlook's reply markers), and markup
inside text-only elements.

Protecting a link too many costs only an edit not made, so the words are generous.
"""
from __future__ import annotations

import html
import re

from pixelguard.htmlscan import RAW_TEXT, Document, Element

__all__ = ["KeptRegions", "unsubscribe_context", "unsubscribe_url"]

# Words and phrases of unsubscribe, opt-out and preference links (lower case, accents as
# written and without). Plain alternatives: one pass, no nested quantifiers.
_CONTEXT = re.compile(
    r"unsubscri|un-subscri|opt[ -]?out|optout|preferen|manage (?:your |my )?subscription"
    r"|subscription (?:settings|center|centre)|email settings|no longer (?:wish|want) to receive"
    r"|no longer receive|(?:do not|don't) (?:wish|want) to receive|stop receiving|remove me|"
    # de
    r"abmelden|abmeldung|abbestellen|austragen|newsletter-einstellungen|einstellungen"
    r"|abonnement verwalten|nicht mehr erhalten|nicht mehr empfangen|präferenzen|praeferenzen|"
    # fr
    r"désabonn|desabonn|désinscri|desinscri|se désinscrire|gérer (?:mon|votre|vos) abonnement"
    r"|gerer (?:mon|votre|vos) abonnement|plus recevoir|préférences|"
    # es
    r"darse de baja|darte de baja|dar de baja|date de baja|\bbaja\b|cancelar (?:la )?suscripci"
    r"|desuscribi|anular (?:la )?suscripci|dejar de recibir|no (?:desea|deseas|quiere|quieres)"
    r" (?:seguir )?recibir|preferencias|"
    # it
    r"disiscriv|disiscrizione|annulla (?:l'|la )?iscrizione|\bcancellati\b|cancellazione dalla"
    r"|non ricevere più|più ricevere|preferenze|"
    # nl
    r"afmelden|uitschrijven|schrijf (?:je|u) uit|voorkeuren|abonnement beheren|niet meer ontvangen|"
    # pt
    r"descadastr|cancelar (?:a )?inscrição|cancelar (?:a )?subscrição|cancelar inscricao"
    r"|deixar de receber|mais receber|preferências|remover inscrição|sair da lista",
    re.IGNORECASE,
)
# The same, as the URL of such a page (path or parameters) spells it.
_URL = re.compile(
    r"unsub|opt-?out|opt_out|preference|/prefs?\b|subscription|manage[-_]?email"
    r"|abmeld|abbestell|desabonn|desinscri|d%c3%a9sinscri|d%c3%a9sabonn|/baja|darse-de-baja"
    r"|disiscri|afmeld|uitschrijv|descadastr|cancelar-inscri|list-manage\.com/profile"
    r"|/profile\?",
    re.IGNORECASE,
)
_URL_LOWER = re.compile(_URL.pattern)  # the same, on a lower-cased ASCII URL: several times faster
_TAG = re.compile(r"<[^>]*>")
_TEXT_REACH = 2000  # characters searched for the link's end tag
_BEFORE = 160  # characters of text before the link looked at
_AFTER = 60  # ... and after it
_END_A = re.compile(r"</a[\t\n\f\r />]", re.IGNORECASE)
_START_A = re.compile(r"<a[\t\n\f\r />]", re.IGNORECASE)


def unsubscribe_url(url: str) -> bool:
    """The URL looks like an unsubscribe or preference page (or carries one)."""
    if url.isascii():
        return _URL_LOWER.search(url.lower()) is not None
    return _URL.search(url) is not None


def _text(markup: str) -> str:
    return " ".join(html.unescape(_TAG.sub(" ", markup)).split())


def unsubscribe_context(doc: Document, el: Element) -> bool:
    """The link's text, title, label or alt text, or the text just before or after it,
    speaks of unsubscribing, opting out or preferences."""
    text = doc.text
    for name in ("title", "aria-label", "alt"):
        if _CONTEXT.search(el.get(name)):
            return True
    end = el.end
    if el.tag == "a":
        m = _END_A.search(text, el.end, el.end + _TEXT_REACH)
        inner_end = m.start() if m else min(len(text), el.end + _TEXT_REACH)
        inner = text[el.end:inner_end]
        if _CONTEXT.search(_text(inner)):
            return True
        # images as link text speak through their alt
        for alt in re.findall(r"""alt\s*=\s*["']([^"']*)""", inner, re.IGNORECASE):
            if _CONTEXT.search(alt):
                return True
        end = m.end() if m else inner_end
    # the text around the link that belongs to no other link: back to the previous link's
    # end, on to the next link's start
    before = text[max(0, el.start - 4 * _BEFORE):el.start]
    prev = before.lower().rfind("</a")
    if prev >= 0:
        before = before[prev:]
    gt, lt = before.find(">"), before.find("<")
    if gt >= 0 and (lt < 0 or gt < lt):
        before = before[gt + 1:]  # the end of a tag cut in half
    before_text = _text(before)[-_BEFORE:]
    after = text[end:end + 4 * _AFTER]
    nxt = _START_A.search(after)
    if nxt is not None:
        after = after[:nxt.start()]
    cut = after.rfind("<")
    if cut > after.rfind(">"):
        after = after[:cut]  # the start of a tag cut in half
    after_text = _text(after)[:_AFTER]
    return _CONTEXT.search(before_text) is not None or _CONTEXT.search(after_text) is not None


_QUOTE_CLASSES = frozenset(("gmail_quote", "gmail_quote_container", "yahoo_quoted",
                            "moz-cite-prefix", "outlookmessageheader"))
_QUOTE_IDS = frozenset(("divrplyfwdmsg", "appendonsend", "mail-editor-reference-message-container"))
# "-----Original Message-----" (Outlook's plain reply header), in the seven languages; the
# dashes before it by a fixed-width look-behind (linear on a long run of dashes)
_ORIGINAL = re.compile(r"(?<=---) ?(?:original message|ursprüngliche nachricht"
                       r"|message d'origine|mensaje original|messaggio originale"
                       r"|oorspronkelijk bericht|mensagem original) ?---", re.IGNORECASE)
_MAX_UP = 512  # ancestors looked through


class KeptRegions:
    """Which links of a document are in a quoted reply: inside a blockquote type=cite or a
    Gmail/Yahoo quote container, or after Outlook's reply header (its divRplyFwdMsg, or an
    '-----Original Message-----' line), which starts a quote that runs to the end. Markup
    read inside text-only elements (textarea, title, xmp, noembed…) is no link either."""

    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.from_offset = len(doc.text) + 1
        self._quoted: dict[int, bool] = {}
        m = _ORIGINAL.search(doc.text)
        if m is not None:
            self.from_offset = m.start()
        for el in doc.elements:
            if el.get("id").strip().lower() in _QUOTE_IDS:
                self.from_offset = min(self.from_offset, el.start)
                break

    def quoted(self, el: Element) -> bool:
        if el.start >= self.from_offset:
            return True
        elements = self.doc.elements
        seen: list[int] = []
        index = el.parent
        result = False
        for _ in range(_MAX_UP):
            if index < 0:
                break
            known = self._quoted.get(index)
            if known is not None:
                result = known
                break
            seen.append(index)
            up = elements[index]
            if _quotes(up):
                result = True
                break
            index = up.parent
        for i in seen:
            self._quoted[i] = result
        return result


def _quotes(el: Element) -> bool:
    if el.tag in RAW_TEXT:
        return True
    if el.tag == "blockquote" and el.get("type").strip().lower() == "cite":
        return True
    if el.classes & _QUOTE_CLASSES:
        return True
    return el.get("id").strip().lower() in _QUOTE_IDS
