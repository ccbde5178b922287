"""Start tags and their attributes are read by the WHATWG tokenizer states: checked
against a plain state-machine transcription of those states, on hostile markup."""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pixelguard.htmlscan import scan

_WS = "\t\n\f\r "


def whatwg_start_tag(text: str) -> tuple[int, list[tuple[str, str, int, int, int]]] | None:
    """The start tag at text[0] ('<' + ASCII letter), by the WHATWG tokenizer: where it ends
    and its attributes as (lower-case name, raw value, name start, value start, value end),
    the first of duplicates kept; None when the input ends inside the tag (it is dropped).
    No character references or NUL replacement: the scanner keeps the source as written.
    An attribute without a value has the empty span at the end of its name; one whose value
    is missing before '>' (`a=>`), the empty span at the '>'."""
    n = len(text)
    p = 1
    while p < n and text[p] not in _WS + "/>":
        p += 1
    attrs: list[tuple[str, str, int, int, int]] = []
    seen: set[str] = set()
    cur: list | None = None  # [name, value, name start, value start, value end]
    # (a value span of None until there is a value: then the end of the name)

    def finish() -> None:
        nonlocal cur
        if cur is not None and cur[0].lower() not in seen:
            seen.add(cur[0].lower())
            vstart = cur[3] if cur[3] is not None else cur[2] + len(cur[0])
            vend = cur[4] if cur[4] is not None else vstart
            attrs.append((cur[0].lower(), cur[1], cur[2], vstart, vend))
        cur = None

    state = "before attribute name"
    while p < n:
        c = text[p]
        if state == "before attribute name":
            if c in _WS:
                p += 1
            elif c in "/>":
                state = "after attribute name"
            else:  # "=" here starts a name too
                finish()
                cur = [c, "", p, None, None]
                p += 1
                state = "attribute name"
        elif state == "attribute name":
            if c in _WS + "/>":
                state = "after attribute name"
            elif c == "=":
                p += 1
                state = "before attribute value"
            else:
                cur[0] += c
                p += 1
        elif state == "after attribute name":
            if c in _WS:
                p += 1
            elif c == "/":
                p += 1
                state = "self-closing start tag"
            elif c == "=":
                p += 1
                state = "before attribute value"
            elif c == ">":
                finish()
                return p + 1, attrs
            else:
                finish()
                cur = ["", "", p, None, None]
                state = "attribute name"
        elif state == "self-closing start tag":
            if c == ">":
                finish()
                return p + 1, attrs
            state = "before attribute name"
        elif state == "before attribute value":
            if c in _WS:
                p += 1
            elif c in "\"'":
                close = text.find(c, p + 1)
                if close < 0:
                    return None
                cur[1], cur[3], cur[4] = text[p + 1 : close], p + 1, close
                p = close + 1
                state = "after attribute value (quoted)"
            elif c == ">":
                cur[3] = cur[4] = p
                finish()
                return p + 1, attrs
            else:
                start = p
                while p < n and text[p] not in _WS + ">":
                    p += 1
                cur[1], cur[3], cur[4] = text[start:p], start, p
                state = "before attribute name"
        else:  # after attribute value (quoted)
            if c in _WS:
                p += 1
                state = "before attribute name"
            elif c == "/":
                p += 1
                state = "self-closing start tag"
            elif c == ">":
                finish()
                return p + 1, attrs
            else:
                state = "before attribute name"
    return None


_PIECES = st.sampled_from([
    "src", "SRC", "background", "style", "a", "x", "=", "==", '"', "'", " ", "\t", "\n", "\r\n",
    "\f", "/", "/>", ">", "<", "\x00", "\xa0", "\x0b", "\u2028", "&amp;", "https://t.example/p",
    "url(x)", "`",
])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(["img", "div", "v:fill", "IMG", "a"]),
       body=st.lists(_PIECES, max_size=16).map("".join),
       end=st.sampled_from(["", ">", '">', "'>", " >"]))
def test_start_tag_and_attributes_follow_the_whatwg_states(name: str, body: str, end: str) -> None:
    text = f"<{name} {body}{end}<p>after</p>"
    expected = whatwg_start_tag(text)
    doc = scan(text)
    if expected is None:  # the tag runs to the end of the input: dropped, as browsers do
        assert doc.elements == []
        return
    tag_end, attrs = expected
    el = doc.elements[0]
    assert (el.start, el.end, el.tag) == (0, tag_end, name.lower())
    assert [(a.name, a.raw, a.start, a.vstart, a.vend) for a in el.attrs] == attrs
    # the scan resumes right after the tag: what follows is read as if it stood alone (the
    # body may itself hold "<src" and so swallow the "<p" of the marker, as browsers do)
    rest = scan(text[tag_end:])
    assert [(e.tag, e.start) for e in doc.elements[1:]] == \
        [(e.tag, e.start + tag_end) for e in rest.elements]
