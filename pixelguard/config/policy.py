"""Policy derivation: the validated config and one recipient's address -> the Policy the
core cleans that recipient's copy with (user over defaults, each key at a time)."""
from __future__ import annotations

import email.utils
from typing import TYPE_CHECKING

from pixelguard.config.sections import NoticeConfig, UserConfig
from pixelguard.config_fields import check_address, dedupe
from pixelguard.links.settings import link_options
from pixelguard.model import Policy

if TYPE_CHECKING:
    from pixelguard.config.model import Config


def notice_for(cfg: Config, user: UserConfig | None) -> NoticeConfig:
    """The notice settings of a user (None: the defaults): each key the user's if set."""
    d = cfg.defaults.notice
    own = user.notice if user is not None else None
    if own is None:
        return d
    return NoticeConfig.model_construct(
        enabled=d.enabled if own.enabled is None else own.enabled,
        position=own.position or d.position,
        language=own.language or d.language,
    )


def policy_for(cfg: Config, addr: str | None) -> Policy:
    """The Policy for one recipient (case-insensitive); unknown or None: the defaults.

    Everything the core's cleaning of one message depends on comes from here: a new
    setting that changes cleaning is a field of model.Policy filled in below."""
    key = None
    if addr:
        addr = addr.strip()
        if "<" in addr:  # "Name <addr>": the bare address is what a tracker would leak
            addr = email.utils.parseaddr(addr)[1] or addr
        try:
            key = check_address(addr)
        except ValueError:
            key = addr.lower()
    user = cfg.users.get(key) if key else None
    d = cfg.defaults
    notice = notice_for(cfg, user)
    return Policy(
        action=user.action if user and user.action is not None else d.action,
        notice=notice.enabled,
        notice_position=notice.position,
        notice_language=None if notice.language == "auto" else notice.language,
        keep=frozenset(user.keep if user and user.keep is not None else d.keep),
        links=link_options(d.links, user.links if user else None),
        recipients=(addr,) if addr else (),
        default_allow_hosts=tuple(d.allow.hosts),
        default_deny_hosts=tuple(d.deny.hosts),
        user_allow_hosts=tuple(user.allow.hosts) if user else (),
        user_deny_hosts=tuple(user.deny.hosts) if user else (),
        allow_senders=tuple(dedupe((user.allow.senders if user else []) + d.allow.senders)),
        trusted_authserv_ids=tuple(cfg.auth.trusted_authserv_ids),
        require_auth_for_allow=cfg.auth.require_for_allow,
        extra_lists=tuple(cfg.lists),
        max_html_bytes=cfg.limits.max_html_size,
        time_budget=cfg.limits.time_budget,
    )
