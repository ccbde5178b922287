"""css.py: the fast path for simple inline styles agrees with the tinycss2 path."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pixelguard import css

names = st.sampled_from(["display", "width", "max-height", "opacity", "visibility", "mso-hide", "color"])
values = st.sampled_from(["none", "1px", "0", "hidden", "0.0", "100%", "block", "auto", "all", "#fff", "1PX"])
decl = st.tuples(names, st.sampled_from([":", " : ", ":  "]), values,
                 st.sampled_from(["", " !important", "!important", " ! important"]))


@settings(max_examples=300, deadline=None)
@given(st.lists(decl, max_size=6), st.sampled_from([";", "; ", " ;"]))
def test_simple_styles_parse_the_same_on_both_paths(parts, sep) -> None:
    text = sep.join(f"{n}{c}{v}{imp}" for n, c, v, imp in parts)
    fast = list(css._simple_declarations(text.lower()))
    slow, refs = css._parse_inline_tokens(text)
    assert refs == []
    assert [(d.name, d.value, d.important) for d in fast] == [(d.name, d.value, d.important) for d in slow]
