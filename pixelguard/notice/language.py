"""The notice's language: which catalogue speaks to this reader, and loading it.

The catalogues are gettext .mo files compiled from the .po files beside them
(pixelguard/notice/locale/<lang>/LC_MESSAGES/pixelguard.po; `scripts/catalogues.py`
extracts and compiles them, tests/test_notice_language.py checks that each .mo says what
its .po says). The stdlib reads them, so nothing beyond Python is needed at run time.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Protocol

DOMAIN = "pixelguard"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DEFAULT = "en"
# English is the source text (the msgids); the others have a catalogue each.
LANGUAGES = ("en", "de", "es", "fr", "it", "nl", "pt")


def primary(tag: str | None) -> str | None:
    """The primary subtag of a language tag ('de-CH' -> 'de', 'pt_BR.UTF-8' -> 'pt'), lower
    case; None for an empty or malformed one."""
    if not tag:
        return None
    head = tag.strip().split(",")[0].strip().replace("_", "-").split("-")[0].split(".")[0]
    head = head.lower()
    return head if 2 <= len(head) <= 8 and head.isascii() and head.isalpha() else None


def supported(tag: str | None) -> str | None:
    """The supported language a tag asks for, or None."""
    lang = primary(tag)
    return lang if lang in LANGUAGES else None


def choose(configured: str | None, html_lang: str | None, content_language: str | None) -> str:
    """The user's configured language, else the message's (its HTML `lang`, else its
    Content-Language), else English; an unsupported message language also gives English."""
    if configured:
        return supported(configured) or DEFAULT
    for tag in (html_lang, content_language):
        if primary(tag) is not None:  # the first one the message states decides
            return supported(tag) or DEFAULT
    return DEFAULT


class Catalogue(Protocol):
    def gettext(self, message: str) -> str: ...
    def ngettext(self, singular: str, plural: str, n: int) -> str: ...


class _Source:
    """English: the messages as the code writes them (no file, no gettext import)."""

    def gettext(self, message: str) -> str:
        return message

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return singular if n == 1 else plural


@lru_cache(maxsize=len(LANGUAGES))  # bounded by the shipped catalogues; read on first use
def catalogue(lang: str) -> Catalogue:
    """The translations for a supported language (English: the msgids themselves)."""
    if lang == DEFAULT or lang not in LANGUAGES:
        return _Source()
    import gettext  # (only when a translation is needed: a pipe filter starts per message)

    path = LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.mo"
    with open(path, "rb") as fh:
        return gettext.GNUTranslations(fh)
