"""The whole config file as one model: each top-level section, and the part of pixelguard
that owns it. A new section is one module declaring it (built from pixelguard/config_fields.py)
and one line here."""
from __future__ import annotations

import os
from typing import Any

from pydantic import Field, ValidationInfo, field_validator

from pixelguard.config import policy
from pixelguard.config.sections import (
    AuthConfig,
    DefaultsConfig,
    LimitsConfig,
    NoticeConfig,
    UserConfig,
)
from pixelguard.config_fields import Section, check_address, each, resolve_path
from pixelguard.imap.settings import ImapConfig
from pixelguard.milter.settings import MilterConfig
from pixelguard.model import Policy
from pixelguard.relay.settings import RelayConfig


class Config(Section):
    """The whole config file, validated. `policy_for(addr)` gives one recipient's Policy."""

    # the recipient's policy: pixelguard/config/sections.py
    defaults: DefaultsConfig = Field(default_factory=DefaultsConfig)
    users: dict[str, UserConfig] = Field(default_factory=dict)
    lists: list[str] = Field(default_factory=list)  # absolute paths of extra tracker lists
    auth: AuthConfig = Field(default_factory=AuthConfig)
    # the adapters, each declared in its own package
    relay: RelayConfig = Field(default_factory=RelayConfig)  # pixelguard/relay/settings.py
    imap: ImapConfig = Field(default_factory=ImapConfig)  # pixelguard/imap/settings.py
    milter: MilterConfig = Field(default_factory=MilterConfig)  # pixelguard/milter/settings.py
    # resource limits of the core: pixelguard/config/sections.py
    limits: LimitsConfig = Field(default_factory=LimitsConfig)

    @field_validator("users", mode="before")
    @classmethod
    def _user_keys(cls, v: Any) -> Any:
        if not isinstance(v, dict):
            return v
        out: dict[str, Any] = {}
        for key, value in v.items():
            try:
                addr = check_address(key)
            except ValueError as exc:
                raise ValueError(f"[{key}] users are keyed by address: {exc}") from None
            if addr in out:
                raise ValueError(f"[{key}] {addr} appears twice (addresses are case-insensitive)")
            out[addr] = value
        return out

    @field_validator("lists", mode="before")
    @classmethod
    def _lists(cls, v: Any, info: ValidationInfo) -> Any:
        def check(item: Any) -> str:
            if not isinstance(item, str) or not item.strip():
                raise ValueError("a list entry must be a file path")
            path = resolve_path(item, info)
            if not os.path.isfile(path):
                raise ValueError(f"tracker list file not found: {path}")
            return path

        return each(v, check)

    def notice_for(self, user: UserConfig | None) -> NoticeConfig:
        """The notice settings of a user (None: the defaults): see policy.notice_for."""
        return policy.notice_for(self, user)

    def policy_for(self, addr: str | None) -> Policy:
        """The Policy for one recipient: see policy.policy_for."""
        return policy.policy_for(self, addr)
