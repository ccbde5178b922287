"""The all-defaults configuration, for a command given no config file, without pydantic.

`pixelguard clean` runs once per message as a pipe filter, so its start-up is paid per
message; importing pydantic and building the config models costs more than cleaning a
newsletter. With no config file there is nothing to validate, and `DEFAULTS` stands in for
`config.Config()`: the same `policy_for`, `auth`, `limits`, `lists` and `users` (what
the core and `trust.clean_with_trust` read), and any other attribute (`relay`, `imap`,
`defaults`, ...) is taken from a real `Config()`, built on first use. tests/test_cold_start.py
holds it equal to the validated model, so the config model stays the one definition.
"""
from __future__ import annotations

import dataclasses
import email.utils
import functools
import types
from typing import Any

from pixelguard.model import Policy

__all__ = ["DEFAULTS", "DefaultConfig"]

_POLICY = Policy()  # the dataclass defaults are the config's defaults (held by the test)


@functools.cache
def _validated() -> Any:
    from pixelguard.config import Config

    return Config()


# Plain classes with class attributes, not dataclasses: a dataclass costs about a
# millisecond to create, paid by every pipe-filter process.
class DefaultAuth:
    """`Config().auth` where it matters without a config: no allowed sender, no ARC key,
    so `clean_with_trust` never verifies DKIM; `authserv_id` (the host name, checked)
    comes from the validated model if anything asks."""

    trusted_authserv_ids: tuple[str, ...] = ()
    require_for_allow = True
    verify_dkim = True
    arc = None

    def __getattr__(self, name: str) -> Any:
        return getattr(_validated().auth, name)


class DefaultLimits:
    max_html_size = _POLICY.max_html_bytes
    time_budget = _POLICY.time_budget


class DefaultConfig:
    """Duck-typed `Config()`: see the module docstring."""

    users = types.MappingProxyType({})
    lists: tuple[str, ...] = ()
    auth = DefaultAuth()
    limits = DefaultLimits()

    def policy_for(self, addr: str | None) -> Policy:
        """`Config().policy_for(addr)`: the defaults, with `addr` as the leak-checked recipient."""
        if addr:
            addr = addr.strip()
            if "<" in addr:  # "Name <addr>": the bare address is what a tracker would leak
                addr = email.utils.parseaddr(addr)[1] or addr
        return dataclasses.replace(_POLICY, recipients=(addr,) if addr else ())

    def __getattr__(self, name: str) -> Any:
        return getattr(_validated(), name)


DEFAULTS = DefaultConfig()
