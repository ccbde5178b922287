"""The `links:` section of the config (in `defaults:` and per user) and its Policy value."""
from __future__ import annotations

import os
from typing import Any

from pydantic import Field, ValidationInfo, field_validator, model_validator

from pixelguard.config_fields import Section, each, resolve_path
from pixelguard.model import LinkOptions

__all__ = ["LinkSettings", "UserLinkSettings", "describe", "link_options"]


def _shorthand(data: Any) -> Any:
    """`links: true|false` is unwrap, strip_params and mark all on or off (security
    wrappers stay a separate choice)."""
    if isinstance(data, bool):
        return {"unwrap": data, "strip_params": data, "mark": data}
    return data


def _list_file(path: str) -> str:
    """An existing file that reads as a links list (ours or ClearURLs')."""
    from pixelguard.links.rules import LinkListError, read_list

    if not os.path.isfile(path):
        raise ValueError(f"links list file not found: {path}")
    try:
        read_list(path)
    except LinkListError as exc:
        raise ValueError(str(exc)) from None
    return path


class _Links(Section):
    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return _shorthand(data)

    @field_validator("lists", mode="before", check_fields=False)
    @classmethod
    def _lists(cls, v: Any, info: ValidationInfo) -> Any:
        def check(item: Any) -> str:
            if not isinstance(item, str) or not item.strip():
                raise ValueError("a list entry must be a file path")
            return _list_file(resolve_path(item, info))

        return each(v, check)


class LinkSettings(_Links):
    """`links:` in defaults. Every option is off unless set."""

    unwrap: bool = False  # a redirect link becomes the destination it carries
    strip_params: bool = False  # campaign and recipient parameters removed from destinations
    mark: bool = False  # links that still report the click get a title saying to whom
    unwrap_security: bool = False  # also unwrap Safe Links, Proofpoint URL Defense (with unwrap)
    lists: list[str] = Field(default_factory=list)  # extra redirector/parameter lists


class UserLinkSettings(_Links):
    """`links:` for one user: each key left out is the defaults' one; `lists` add to theirs."""

    unwrap: bool | None = None
    strip_params: bool | None = None
    mark: bool | None = None
    unwrap_security: bool | None = None
    lists: list[str] = Field(default_factory=list)  # added to the defaults' lists


def link_options(defaults: LinkSettings, user: UserLinkSettings | None) -> LinkOptions:
    """The Policy value for one recipient: the user's keys over the defaults'."""

    def pick(name: str) -> bool:
        own = getattr(user, name) if user is not None else None
        return bool(getattr(defaults, name) if own is None else own)

    lists = list(defaults.lists) + [p for p in (user.lists if user else []) if p not in defaults.lists]
    return LinkOptions(unwrap=pick("unwrap"), strip_params=pick("strip_params"),
                       mark=pick("mark"), unwrap_security=pick("unwrap_security"),
                       lists=tuple(lists))


def describe(options: LinkOptions) -> str:
    """One line for check-config: 'unwrap, strip_params; lists: /etc/…' or 'off'."""
    on = [name for name in ("unwrap", "strip_params", "mark", "unwrap_security")
          if getattr(options, name)]
    text = ", ".join(on) if options.active else "off"
    return text + (f"; lists: {', '.join(options.lists)}" if options.lists else "")
