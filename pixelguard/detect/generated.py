"""Images that CSS generates (`content: url()` on a ::before or ::after): the engine draws them
in the box of each element the rule selects, so they are never shown when every such element
is never shown (and load nothing when no element is selected)."""
from __future__ import annotations

import re

from pixelguard.detect.vectors import Resource
from pixelguard.detect.visibility import Visibility, compound_index, last_compound, matches
from pixelguard.htmlscan import Document, Element

MAX_RULES = 64  # generated images per document judged by their elements (the rest: by URL)
MAX_ELEMENTS = 64  # elements looked at per rule; more means "shown somewhere"
_PSEUDO = re.compile(r"::?(?:before|after)\b", re.IGNORECASE)


def generated_images(doc: Document, resources: list[Resource]) -> dict[int, list[Element]]:
    """For each generated image (by id of its Resource), the elements whose box shows it
    (at most MAX_ELEMENTS + 1: more are not counted)."""
    items = []
    for res in resources:
        ref = res.css_ref
        if res.element is not None or ref is None or ref.prop != "content":
            continue
        for part in ref.selector.split(","):
            if _PSEUDO.search(part) is None:
                continue
            comp = last_compound(_PSEUDO.sub("", part))
            if comp.exact:
                items.append((comp, id(res)))
        if len(items) >= MAX_RULES:
            break
    if not items:
        return {}
    index = compound_index(items)
    out: dict[int, list[Element]] = {key: [] for _comp, key in items}
    for el in doc.elements:
        if el.clone_of >= 0:
            continue
        for comp, key in index.candidates(el):
            shown_in = out[key]
            if len(shown_in) <= MAX_ELEMENTS and matches(comp, el):
                shown_in.append(el)
    return out


def hidden_reason(elements: list[Element], vis: Visibility) -> tuple[str, str] | None:
    """("never", why) when no element that shows a generated image is ever shown."""
    if not elements or len(elements) > MAX_ELEMENTS:
        return None
    states = [vis.state(el) for el in elements]
    if all(s is not None and s[0] == "never" for s in states):
        return ("never", f"generated content of elements never shown ({states[0][1]})")
    return None
