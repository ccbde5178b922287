"""clean_message: the one pure entry point (bytes in -> bytes + findings out)."""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from pixelguard import cache as _cache
from pixelguard import message, notice, stamp
from pixelguard.budget import BudgetExceeded, Deadline
from pixelguard.cache import Cache, ListsNotLoaded
from pixelguard.detect import clean_nested, detect_html
from pixelguard.detect.vectors import NESTED_DOCUMENTS, Edit
from pixelguard.headers import insert_at, prepend_header
from pixelguard.htmlscan import Document
from pixelguard.model import Finding, LinkChange, Policy, Result
from pixelguard.notice import language, placement
from pixelguard.rewrite import apply_edits
from pixelguard.trackers import TrackerList, TrackerListError
from pixelguard.urls import REMOTE_MARKS, REMOTE_SCHEME_MARK

HEADER = stamp.NAME
# Cheap first pass: a part that cannot spell a remote URL (urls.REMOTE_MARKS) cannot load
# anything remote, unless it holds a nested document or a data: URL, whose content (cid:,
# srcdoc, base64 or percent-encoded) can load anything.
_NESTED_HINT = re.compile("<(?:" + "|".join(sorted(NESTED_DOCUMENTS)) + ")|data:",
                          re.IGNORECASE)


@dataclass
class _Change:
    """raw[start:end] replaced by `body`: the changed body of `part`."""
    part: message.Part
    body: bytes
    start: int
    end: int


def _change(raw: bytes, part: message.Part, body: bytes, skipped: list[str],
            reencoded: list[str] | None = None) -> _Change | None:
    """The change that puts a part's new body in place, or None (and why, in `skipped`)
    when it cannot be put in without touching bytes outside the change. A part whose
    encoding was broken is read leniently and written out well-formed: `reencoded` says so."""
    span = message.splice_span(raw, part, body)
    if span is None:
        skipped.append(f"part {part.path} could not be edited in place")
        return None
    if reencoded is not None and not message.decodes_exactly(raw, part):
        reencoded.append(part.path)
    return _Change(part, span[2], span[0], span[1])


def clean_message(raw: bytes, policy: Policy | None = None, cache: Cache | None = None) -> Result:
    """Clean one RFC 5322 message (CRLF or LF) or a bare HTML document.

    `cache`: what is kept between messages, with the lists the policy names, loaded by the
    caller (pixelguard.cache: `cache.load(policy)`; None: the process default, which reads
    those lists on first use).
    Never raises on bad input: on failure the result carries the input unchanged and `error`.
    A message with nothing to remove comes back byte-identical; one whose HTML could not all be
    checked (a part over `policy.max_html_bytes`) says so in `skipped` and in its header.
    """
    policy = policy or Policy()
    deadline = Deadline(policy.time_budget)
    try:
        cache = cache or _cache.default()
        if is_bare_html(raw):
            return _clean_bare_html(raw, policy, cache, deadline)
        return _clean_mime(raw, policy, cache, deadline)
    except message.MimeError as exc:
        return Result(raw=raw, error=str(exc))
    except BudgetExceeded:
        return Result(raw=raw, error=f"time budget of {policy.time_budget:g} s exceeded")
    except RecursionError:
        return Result(raw=raw, error="message nested too deeply to clean")
    except (ListsNotLoaded, TrackerListError) as exc:  # lists the caller could not load
        return Result(raw=raw, error=str(exc))
    except Exception as exc:  # noqa: BLE001 - the contract: never an exception to the caller
        return Result(raw=raw, error=f"internal error: {type(exc).__name__}: {exc}"[:300])


def is_bare_html(raw: bytes) -> bool:
    """A document that starts with markup (no RFC 5322 header can start with '<')."""
    head = raw[:512].lstrip(b"\xef\xbb\xbf \t\r\n")
    return head.startswith(b"<")


def _may_load_remote(text: str) -> bool:
    # plain searches (usually a hit within the first lines): no lower-cased copy of the part
    return (any(h in text for h in REMOTE_MARKS) or REMOTE_SCHEME_MARK.search(text) is not None
            or _NESTED_HINT.search(text) is not None)


def _clean_html_text(text: str, policy: Policy, trackers: TrackerList, part: str, base: str | None,
                     sender_allowed: bool, deadline: Deadline, announced: list[Finding] | None = None,
                     content_language: str | None = None,
                     links: list[LinkChange] | None = None,
                     skipped: list[str] | None = None,
                     cache: Cache | None = None) -> tuple[str, list[Finding], str]:
    """The document cleaned (the same object when nothing changes), its findings and the
    language its notice speaks; the notice also counts `announced`, what was removed from
    the parts it shows. The link edits made (policy.links) are added to `links`, and why
    links were left as sent to `skipped`. `cache`: what may be kept between messages."""
    det = detect_html(text, policy, trackers, part, base, sender_allowed, deadline, 0, cache)
    shown = det.findings + (announced or [])
    found_links: list[LinkChange] = []
    edits = list(det.edits)
    if policy.links.active and links is not None:
        from pixelguard.links.edit import edit_links

        lang = language.choose(policy.notice_language, _document_lang(det.doc), content_language)
        found_links, link_edits, left = edit_links(det.doc, policy.links, part,
                                                   lambda vendor: notice.link_title(vendor, lang),
                                                   edits, deadline, cache)
        if left is not None and skipped is not None:
            skipped.append(left)
        edits += link_edits
        links += found_links
    if not (shown or found_links) or (not det.findings and not found_links and not policy.notice):
        return text, [], language.DEFAULT
    lang = language.DEFAULT
    if policy.notice:
        lang = language.choose(policy.notice_language, _document_lang(det.doc),
                               content_language)
        box = notice.html_notice(shown, lang, policy.originals_folder, found_links)
        at = placement.html_position(text, det.doc, det.sheets, policy.notice_position, box)
        if at is not None:
            edits.append(Edit(at, at, box))
    return apply_edits(text, edits), det.findings, lang


def _document_lang(doc: Document) -> str | None:
    """The language the document states: `lang` on <html>, else on <body>."""
    for el in doc.elements:
        if el.tag in ("html", "body") and not el.in_mso and el.ns == "html":
            value = el.get("lang").strip()
            if value:
                return value
        elif el.tag not in _HEAD_TAGS:
            break  # past the start of the body: nothing further states it
    return None


_HEAD_TAGS = frozenset(("html", "head", "meta", "title", "link", "style", "script", "base",
                        "body"))


def _showing_html(part: message.Part, html_leaves: list[message.Part]) -> message.Part:
    """The HTML part that shows a part it loads: the first one in the same multipart/related
    (else the message's first)."""
    node = part.parent
    while node is not None and node.content_type != "multipart/related":
        node = node.parent
    if node is not None:
        for html_part in html_leaves:
            up = html_part.parent
            while up is not None and up is not node:
                up = up.parent
            if up is node:
                return html_part
    return html_leaves[0]


def _clean_bare_html(raw: bytes, policy: Policy, cache: Cache, deadline: Deadline) -> Result:
    if len(raw) > policy.max_html_bytes:
        return Result(raw=raw, skipped=[f"document larger than {policy.max_html_bytes} bytes"])
    trackers = cache.tracker_list(policy.extra_lists)
    codec = "utf-8"
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        codec = "latin-1"
    text = raw.decode(codec, "surrogateescape")
    links: list[LinkChange] = []
    skipped: list[str] = []
    new_text, findings, _lang = _clean_html_text(text, policy, trackers, "1", None, False,
                                                 deadline, links=links, skipped=skipped,
                                                 cache=cache)
    if not findings and not links:
        return Result(raw=raw, skipped=skipped)
    return Result(raw=new_text.encode(codec, "surrogateescape"), findings=findings, links=links,
                  skipped=skipped)


def _clean_mime(raw: bytes, policy: Policy, cache: Cache, deadline: Deadline) -> Result:
    root = message.parse(raw)
    leaves = list(root.leaves())
    html_leaves = [p for p in leaves if p.content_type == "text/html"]
    nested = [(p, kind) for p in leaves if (kind := _nested_kind(p))] if html_leaves else []
    skipped = [f"part {p.path} nested deeper than {message.MAX_DEPTH} levels"
               for p in leaves if p.too_deep]
    if not html_leaves and not skipped:
        return Result(raw=raw)
    trackers = cache.tracker_list(policy.extra_lists)
    allowed = _sender_allowed(root, policy)
    findings: list[Finding] = []
    links: list[LinkChange] = []  # link edits (policy.links): not trackers
    changes: list[_Change] = []
    reencoded: list[str] = []  # parts with a broken transfer encoding, written out anew
    changed_html: list[tuple[message.Part, str]] = []  # with the language of its notice
    # parts the HTML loads (stylesheets, SVG images) first: the notice of the HTML that shows
    # them must count what was removed from them too
    nested_findings: list[Finding] = []
    announce: dict[int, list[Finding]] = {}  # id(HTML part) -> nested findings it announces
    for part, kind in nested:
        deadline.check()
        found = []
        change = _clean_nested_part(raw, part, kind, policy, trackers, cache, allowed, deadline,
                                    found, skipped, reencoded)
        if change is not None:
            changes.append(change)
            nested_findings.extend(found)
            announce.setdefault(id(_showing_html(part, html_leaves)), []).extend(found)
    for part in html_leaves:
        deadline.check()
        extra = announce.get(id(part), [])
        decoded = _decode_part(raw, part, policy, skipped)
        if decoded is None:
            continue
        codec, text = decoded
        base = part.headers.get("Content-Base") or part.headers.get("Content-Location")
        if base is None and not extra and not _may_load_remote(text):
            continue
        eol = message.body_line_ending(raw, part).decode()
        part_links: list[LinkChange] = []
        new_text, found, lang = _clean_html_text(
            text, policy, trackers, part.path, str(base).strip() if base else None, allowed,
            deadline, extra, _content_language(part), part_links, skipped, cache,
        )
        if not found and new_text is text:
            continue
        new_data = new_text.encode(codec, "surrogateescape")
        original = message.body_bytes(raw, part)
        change = _change(raw, part, message.encode_body(new_data, part, eol.encode(), original),
                         skipped, reencoded)
        if change is None:
            continue
        findings.extend(found)
        links.extend(part_links)
        changes.append(change)
        changed_html.append((part, lang))
    findings.extend(nested_findings)
    if not findings and not links:
        if skipped:
            return Result(raw=prepend_header(raw, HEADER, stamp.skipped(skipped)),
                          skipped=skipped)
        return Result(raw=raw)
    if policy.notice:
        changes.extend(_text_alternatives(raw, changed_html, findings, policy, skipped, links))
    value = notice.header_value(findings, skipped, links)
    value += "; reencoded=" + ",".join(reencoded) if reencoded else ""
    out = _splice(raw, prepend_header(b"", HEADER, value, like=raw), changes, insert_at(raw))
    return Result(raw=out, findings=findings, skipped=skipped, links=links)


def _decode_part(raw: bytes, part: message.Part, policy: Policy,
                 skipped: list[str]) -> tuple[str, str] | None:
    """A text part's codec and text, or None (and why, in `skipped`) when it cannot be read
    or is over the size limit."""
    try:
        data = message.decode_body(raw, part)
        codec = message.pick_codec(part, data)
        text = data.decode(codec, "surrogateescape")
    except (message.MimeError, UnicodeError, LookupError) as exc:
        skipped.append(f"part {part.path} could not be decoded ({exc})"[:200])
        return None
    if len(data) > policy.max_html_bytes:
        skipped.append(f"part {part.path} larger than {policy.max_html_bytes} bytes")
        return None
    return codec, text


def _nested_kind(part: message.Part) -> str | None:
    """How a part that is not the HTML body is loaded into it, when it can load something
    remote itself: "css" for a text/css part of a multipart/related (the HTML beside it
    loads it by cid: or Content-Location as a stylesheet), "html" for an SVG image shown in
    the message (an SVG document: its <image>s and CSS load). A file attached for the reader
    is left alone."""
    disposition = str(part.headers.get("Content-Disposition", "")).strip().lower()
    if disposition.startswith("attachment"):
        return None
    if part.content_type == "text/css" and part.parent is not None \
            and part.parent.content_type == "multipart/related":
        return "css"
    if part.content_type == "image/svg+xml":
        return "html"
    return None


def _clean_nested_part(raw: bytes, part: message.Part, kind: str, policy: Policy,
                       trackers: TrackerList, cache: Cache, allowed: bool, deadline: Deadline,
                       findings: list[Finding], skipped: list[str],
                       reencoded: list[str]) -> _Change | None:
    """Clean a stylesheet part like a <style> block, an SVG part like a document; its change,
    if any (findings added)."""
    decoded = _decode_part(raw, part, policy, skipped)
    if decoded is None:
        return None
    codec, text = decoded
    base = part.headers.get("Content-Base") or part.headers.get("Content-Location")
    new_text, found = clean_nested(kind, text, policy, trackers, part.path,
                                   str(base).strip() if base else None, allowed, deadline, 1,
                                   cache)
    if not found:
        return None
    eol = message.body_line_ending(raw, part)
    original = message.body_bytes(raw, part)
    change = _change(raw, part, message.encode_body(new_text.encode(codec, "surrogateescape"),
                                                    part, eol, original), skipped, reencoded)
    if change is not None:
        findings.extend(found)
    return change


def _splice(raw: bytes, head: bytes, changes: list[_Change], head_at: int) -> bytes:
    """raw with `head` inserted at `head_at` and each changed body put in place, built in one
    pass (a 25 MB message with attachments is copied once, not once per changed part)."""
    view = memoryview(raw)
    pieces: list[bytes | memoryview] = [view[:head_at], head]
    pos = head_at
    for ch in sorted(changes, key=lambda c: c.start):
        pieces.append(view[pos : ch.start])
        pieces.append(ch.body)
        pos = ch.end
    pieces.append(view[pos:])
    return b"".join(pieces)


def _sender_allowed(root: message.Part, policy: Policy) -> bool:
    if not policy.allow_senders:
        return False
    from pixelguard.auth import sender_allowed

    allowed, _reason = sender_allowed(root.headers, policy)
    return allowed


def _content_language(part: message.Part) -> str | None:
    """The Content-Language of a part, else of the nearest enclosing part that states one."""
    node: message.Part | None = part
    while node is not None:
        value = node.headers.get("Content-Language")
        if value is not None and str(value).strip():
            return str(value)
        node = node.parent
    return None


def _text_alternatives(raw: bytes, changed: list[tuple[message.Part, str]],
                       findings: list[Finding], policy: Policy,
                       skipped: list[str], links: list[LinkChange] | None = None) -> list[_Change]:
    """A notice line in each text/plain alternative of a changed HTML part, in the language
    of that HTML part's notice and at the same position (top: past the preview window)."""
    alternatives: dict[int, tuple[message.Part, str]] = {}
    for html_part, lang in changed:
        node = html_part.parent
        while node is not None and node.content_type != "multipart/alternative":
            node = node.parent
        if node is not None:
            alternatives.setdefault(id(node), (node, lang))
    out: list[_Change] = []
    for node, lang in alternatives.values():  # each alternative once, however many HTML parts
        for sibling in node.children:
            if sibling.content_type != "text/plain" or sibling.children:
                continue
            if sibling.start == sibling.body_end or \
                    raw[sibling.body_end : sibling.body_end + 1] not in (b"", b"\r", b"\n"):
                continue  # no header, no body, or no line break before the next delimiter
            try:
                data = message.decode_body(raw, sibling)
            except message.MimeError:
                continue
            codec = message.pick_codec(sibling, data)
            if codec.startswith(("utf-16", "utf-32")):
                continue  # not ASCII-compatible: an inserted line would garble the text
            eol = message.body_line_ending(raw, sibling).decode()
            text = data.decode(codec, "surrogateescape")
            line = _encodable_notice(findings, lang, policy.originals_folder,
                                     _carried(sibling, codec), links or ())
            at = placement.text_position(text, policy.notice_position)
            if at < len(text):  # a paragraph of its own before the one that starts here
                new = text[:at] + line + eol + eol + text[at:]
            elif text.endswith("\n"):  # the last line, after an empty one
                new = text + eol + line + eol
            else:  # (a body without a final line break keeps none)
                new = text + eol + eol + line
            original = message.body_bytes(raw, sibling)
            change = _change(raw, sibling, message.encode_body(
                new.encode(codec, "surrogateescape"), sibling, eol.encode(), original), skipped)
            if change is not None:
                out.append(change)
    return out


def _carried(part: message.Part, codec: str) -> str:
    """The codec an added line must fit: the part's own where it names a charset and its
    transfer encoding carries 8-bit bytes; else ASCII (a 7bit part, or one without a
    charset, which means US-ASCII)."""
    if part.charset and part.cte in {"8bit", "binary", "base64", "quoted-printable"}:
        return codec
    return "ascii"


def _encodable_notice(findings: list[Finding], lang: str, folder: str | None,
                      codec: str, links: Sequence[LinkChange] = ()) -> str:
    """The text notice in `lang` if the part's charset can carry it, else in English (ASCII
    apart from a folder name, which is replaced where it cannot be carried)."""
    line = notice.text_notice(findings, lang, folder, links)
    try:
        line.encode(codec)
        return line
    except UnicodeError:
        line = notice.text_notice(findings, language.DEFAULT, folder, links)
        return line.encode(codec, "replace").decode(codec)
