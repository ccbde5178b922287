"""Inline styles that hide an element however they spell the property: the ancestor walk
skips styles that name no hiding property, so escapes and entities must still count."""
from __future__ import annotations

import pytest
from support import HIDDEN_ONLY_IMG, rules_for_body

IMG = HIDDEN_ONLY_IMG
rules = rules_for_body


@pytest.mark.parametrize("style", [
    "display:none",
    "DISPLAY: NONE",
    r"dis\70 lay:none",  # CSS escape of "p"
    r"\64 isplay:none",  # CSS escape of "d"
    "&#100;isplay:none",  # HTML entity of "d"
    "visibility:hidden",
    r"visibilit\79:hidden",
    "opacity:0",
    "&#111;pacity:0",
    "overflow:hidden;max-height:0",
    "position:absolute;left:-9999px",
    r"positio\6e:absolute;left:-9999px",
])
def test_a_hiding_parent_is_found_however_its_style_spells_the_property(style: str) -> None:
    assert rules(f'<div style="{style}">{IMG}</div>') == ["hidden"]


@pytest.mark.parametrize("style", ["color:red", "padding:0;font-size:12px", "disp:none"])
def test_a_parent_whose_style_does_not_hide_leaves_the_image_alone(style: str) -> None:
    assert rules(f'<div style="{style}">{IMG}</div>') == []


def test_an_inline_display_still_overrides_a_hiding_stylesheet_rule() -> None:
    sheet = "<style>.x{display:none}</style>"
    assert rules(f'{sheet}<div class="x">{IMG}</div>') == ["hidden"]
    assert rules(f'{sheet}<div class="x" style="display:block">{IMG}</div>') == []
    assert rules(f'{sheet}<div class="x" style="&#100;isplay:block">{IMG}</div>') == []


@pytest.mark.parametrize("style", [
    "background-image:url(https://t.shop.example/o/Zx8Kq2Lm9Rt4Vb7Np3Wd)",
    r"background-image:\75rl(https://t.shop.example/o/Zx8Kq2Lm9Rt4Vb7Np3Wd)",
    "background-image:&#117;rl(https://t.shop.example/o/Zx8Kq2Lm9Rt4Vb7Np3Wd)",
    "background-image:image-set(&quot;https://t.shop.example/o/Zx8Kq2Lm9Rt4Vb7Np3Wd&quot; 1x)",
])
def test_a_style_load_is_found_however_url_is_spelled(style: str) -> None:
    # extraction only parses a style= whose tag mentions url, image-set, a CSS escape or an
    # entity: each spelling must still reach the CSS parser
    assert rules(f'<div style="{style}" width="1" height="1">x</div>') != []
