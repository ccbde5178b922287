"""Tracking parameters removed from a URL, every other byte of it kept."""
from __future__ import annotations

from urllib.parse import unquote

from pixelguard.links.rules import LinkRules
from pixelguard.links.unwrap import valid_url

__all__ = ["strip_params"]


def strip_params(url: str, rules: LinkRules) -> str | None:
    """`url` without the query parameters `rules` name as tracking ones (the others, their
    order and their encoding as written; no '?' left when none remain), or None when there
    is nothing to remove or the result would not be a valid URL."""
    q = url.find("?", 0, url.find("#") if "#" in url else len(url))  # not in the fragment
    if q < 0:
        return None
    h = url.find("#", q)
    query, rest = (url[q + 1 : h], url[h:]) if h >= 0 else (url[q + 1 :], "")
    applicable = [p for p in rules.params if p.applies(url)]
    if not applicable or not query:
        return None
    pieces = query.split("&")
    kept = [p for p in pieces
            if not (p and any(rule.strips(unquote(p.partition("=")[0])) for rule in applicable))]
    if len(kept) == len(pieces):
        return None
    new_query = "&".join(kept)
    new = url[:q] + ("?" + new_query if new_query else "") + rest
    return new if valid_url(new) else None
