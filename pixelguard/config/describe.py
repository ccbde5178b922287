"""The effective policy of the defaults and of each user, for people (check-config)."""
from __future__ import annotations

from pixelguard.config.model import Config
from pixelguard.config.sections import UserConfig
from pixelguard.links.settings import describe
from pixelguard.model import Policy


def describe_policies(cfg: Config) -> str:
    """Human-readable effective policy of the defaults and of each user (for check-config)."""
    out: list[str] = []

    def hosts(items: tuple[str, ...]) -> str:
        return ", ".join(items) if items else "(none)"

    def block(title: str, p: Policy, user: UserConfig | None) -> None:
        origin_action = " (user)" if user and user.action is not None else ""
        origin_notice = " (user)" if user and user.notice is not None else ""
        out.append(title)
        out.append(f"  action: {p.action}{origin_action}")
        where = (f", {p.notice_position}, in "
                 + (p.notice_language or "the message's language (else en)")) if p.notice else ""
        out.append(f"  notice: {'on' if p.notice else 'off'}{where}{origin_notice}")
        origin_keep = " (user)" if user and user.keep is not None else ""
        out.append(f"  keep: {', '.join(sorted(p.keep)) or '(none)'}{origin_keep}")
        out.append(f"  links: {describe(p.links)}{' (user)' if user and user.links else ''}")
        if user is not None:
            out.append(f"  user allow hosts: {hosts(p.user_allow_hosts)}")
            out.append(f"  user deny hosts: {hosts(p.user_deny_hosts)}")
        level = "default " if user is not None else ""
        out.append(f"  {level}allow hosts: {hosts(p.default_allow_hosts)}")
        out.append(f"  {level}deny hosts: {hosts(p.default_deny_hosts)}")
        auth = (
            "only with a DKIM/DMARC pass from "
            + (", ".join(p.trusted_authserv_ids) or "(no trusted authserv-id: never)")
            if p.require_auth_for_allow
            else "without authentication"
        )
        suffix = f" — {auth}" if p.allow_senders else ""
        out.append(f"  allow senders: {hosts(p.allow_senders)}{suffix}")

    block("defaults:", cfg.policy_for(None), None)
    for addr, user in cfg.users.items():
        block(f"user {addr}:", cfg.policy_for(addr), user)
    out.append("extra tracker lists: " + (", ".join(cfg.lists) if cfg.lists else "(none)"))
    out.append("precedence: user over defaults; the more specific host wins; deny wins a tie")
    return "\n".join(out) + "\n"
