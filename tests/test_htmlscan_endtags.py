"""End tags that browsers ignore (or read differently) must not close a hidden element in the
scanner's tree: otherwise a hidden, per-recipient image inside it looks visible and is kept.
Checked: an end tag ends where the WHATWG tokenizer ends it (not at the first '>'), and closes
an open element of its name only where the tree builder would, not across whatever lies
between."""
from __future__ import annotations

import pytest
from support import HIDDEN_ONLY_IMG, rules_for_body

IMG = HIDDEN_ONLY_IMG
rules = rules_for_body


def test_controls_hidden_image_is_found_and_a_real_close_ends_the_hiding() -> None:
    assert rules(f'<div style="display:none">{IMG}</div>') == ["hidden"]
    # "</div/>" is a real </div> to a browser (the slash is ignored): the image is visible
    assert rules(f'<div style="display:none"></div/>{IMG}') == []


def test_an_end_tag_out_of_scope_does_not_close_the_hidden_element() -> None:
    # In a cell, </div> with the <div> outside the table is ignored by browsers (the div is
    # not "in scope": td and table are scope boundaries); the image stays hidden.
    assert rules(f'<div style="display:none"><table><tr><td></div>{IMG}</td></tr></table></div>') \
        == ["hidden"]


@pytest.mark.parametrize("end", ["</div\x00>", "</div\x00 >", "</di\x00v>"])
def test_a_nul_in_an_end_tag_name_does_not_close_the_hidden_element(end: str) -> None:
    # The tokenizer turns NUL into U+FFFD inside the name: "</div\ufffd>" closes nothing.
    assert rules(f'<div style="display:none">{end}{IMG}</div>') == ["hidden"]


def test_a_quoted_gt_inside_an_end_tag_does_not_end_it() -> None:
    # End tags go through the same attribute states as start tags: `</x a="></div>">` is
    # one end tag (for x), not "</x a=\">" followed by a real "</div>".
    assert rules(f'<div style="display:none"></x a="></div>">{IMG}</div>') == ["hidden"]


def test_end_tags_past_the_depth_limit_do_not_close_the_hidden_element() -> None:
    # Past htmlscan.MAX_DEPTH (2000) open elements, further ones are not pushed, but their
    # end tags still pop pushed ones: 2500 nested divs and 2000 closes empty the scanner's
    # stack while a browser still has 501 divs open, the hidden one among them.
    assert rules(f'<div style="display:none">{"<div>" * 2500}{"</div>" * 2000}{IMG}') \
        == ["hidden"]
