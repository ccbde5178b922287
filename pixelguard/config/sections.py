"""The sections of the config file that make up a recipient's Policy: `defaults:` and
`users:` (action, notice, keep, allow and deny lists), `auth:` and `limits:`.
pixelguard/config/model.py composes them with the adapters' own sections."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from pixelguard.config_fields import (
    HostList,
    Section,
    SenderList,
    Size,
    describe,
    each,
    resolve_path,
)
from pixelguard.hostname import check_hostname
from pixelguard.links.settings import LinkSettings, UserLinkSettings
from pixelguard.model import Action, NoticePosition


class AllowConfig(Section):
    hosts: HostList = Field(default_factory=list)  # resource hosts never flagged (and subdomains)
    senders: SenderList = Field(default_factory=list)  # From address or domain; needs authentication


class DenyConfig(Section):
    hosts: HostList = Field(default_factory=list)  # every remote resource from these is removed


# Families of elements no mail needs (removed by default as `needless-element`) that a
# user may keep: their loads are then judged like any image.
Keepable = Literal["iframes", "media"]


def _notice_shorthand(data: Any) -> Any:
    """`notice: true|false` is `notice: {enabled: true|false}`."""
    if isinstance(data, bool):
        return {"enabled": data}
    if data is not None and not isinstance(data, dict):
        raise ValueError(
            f"expected true, false or a mapping such as {{enabled: true, position: top, "
            f"language: de}}, got {describe(data)}"
        )
    return data


def _notice_language(value: Any) -> Any:
    """A supported notice language ('de', 'pt-BR' -> 'pt'), or 'auto': the message's own."""
    from pixelguard.notice.language import LANGUAGES, supported

    if not isinstance(value, str):
        return value  # pydantic reports the type error
    if value.strip().lower() == "auto":
        return "auto"
    lang = supported(value)
    if lang is None:
        raise ValueError(
            f"{value!r} is not a notice language; use one of {', '.join(LANGUAGES)}, "
            "or auto (the message's own language, else en)"
        )
    return lang


class _NoticeShape(Section):
    """What both `notice:` forms accept: `true`/`false` for `{enabled: …}`, and a language
    checked against the catalogues."""

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return _notice_shorthand(data)

    @field_validator("language", mode="before", check_fields=False)
    @classmethod
    def _language(cls, v: Any) -> Any:
        return _notice_language(v)


class NoticeConfig(_NoticeShape):
    """`notice:` in defaults: whether, where and in which language cleaned mail says so."""

    enabled: bool = True
    # top: after the sender's preheader and the preview window; bottom: at the end. Both keep
    # the inbox preview (see pixelguard/notice/placement.py); top is where a reader sees it.
    position: NoticePosition = "top"
    language: str = "auto"  # a supported language, or auto: the message's own, else en


class UserNoticeConfig(_NoticeShape):
    """`notice:` for one user: each key left out is the defaults' one."""

    enabled: bool | None = None
    position: NoticePosition | None = None
    language: str | None = None


class DefaultsConfig(Section):
    action: Action = "strip"
    notice: NoticeConfig = Field(default_factory=NoticeConfig)
    keep: list[Keepable] = Field(default_factory=list)
    links: LinkSettings = Field(default_factory=LinkSettings)  # click tracking (docs/links.md)
    allow: AllowConfig = Field(default_factory=AllowConfig)
    deny: DenyConfig = Field(default_factory=DenyConfig)


class UserConfig(Section):
    action: Action | None = None  # None: the defaults' action
    notice: UserNoticeConfig | None = None  # None: the defaults' notice
    keep: list[Keepable] | None = None  # None: the defaults' keep
    links: UserLinkSettings | None = None  # None: the defaults' links
    allow: AllowConfig = Field(default_factory=AllowConfig)
    deny: DenyConfig = Field(default_factory=DenyConfig)


def _default_authserv_id() -> str:
    """This machine's host name, or "pixelguard" when it is not usable as an authserv-id."""
    import socket

    try:
        return check_hostname(socket.gethostname(), "authserv-id")
    except (OSError, ValueError):
        return "pixelguard"


class ArcConfig(Section):
    """`auth.arc`: ARC-seal the messages pixelguard changed (RFC 8617) with this key.

    The public key must be published at `<selector>._domainkey.<domain>` as for DKIM.
    """

    domain: str  # d= of the seal
    selector: str  # s= of the seal
    key_file: str  # RSA private key, PEM; relative paths are taken from the config's directory

    @field_validator("domain", "selector", mode="before")
    @classmethod
    def _names(cls, v: Any, info: ValidationInfo) -> Any:
        return check_hostname(v, info.field_name or "name") if isinstance(v, str) else v

    @field_validator("key_file", mode="after")
    @classmethod
    def _key(cls, v: str, info: ValidationInfo) -> str:
        from pixelguard.arc_seal import SealError, load_private_key

        path = resolve_path(v, info)
        try:
            with open(path, "rb") as fh:
                load_private_key(fh.read(1_000_000))
        except FileNotFoundError:
            raise ValueError(f"no such key file: {path}") from None
        except OSError as exc:
            raise ValueError(f"cannot read the key file {path}: {exc.strerror or exc}") from None
        except SealError as exc:
            raise ValueError(f"{path}: {exc}") from None
        return path


class AuthConfig(Section):
    trusted_authserv_ids: list[str] = Field(default_factory=list)
    require_for_allow: bool = True
    # pixelguard's own Authentication-Results headers carry this id; incoming ones that
    # claim it are removed (RFC 8601 section 5)
    authserv_id: str = Field(default_factory=_default_authserv_id)
    verify_dkim: bool = True  # verify DKIM on the original bytes and record the result
    arc: ArcConfig | None = None  # ARC-seal changed messages (needs verify_dkim)

    @field_validator("authserv_id", mode="before")
    @classmethod
    def _own_id(cls, v: Any) -> Any:
        return check_hostname(v, "authserv-id") if isinstance(v, str) else v

    @model_validator(mode="after")
    def _consistent(self) -> AuthConfig:
        if self.authserv_id in self.trusted_authserv_ids:
            raise ValueError(
                f"[trusted_authserv_ids] {self.authserv_id!r} is also pixelguard's own "
                "auth.authserv_id (which defaults to this machine's host name); pixelguard "
                "removes incoming Authentication-Results headers carrying its own id "
                "(RFC 8601 section 5), so give it one of its own, e.g. "
                f"authserv_id: pixelguard.{self.authserv_id}"
            )
        if self.arc is not None and not self.verify_dkim:
            raise ValueError(
                "[verify_dkim] auth.arc needs verify_dkim: true "
                "(the seal vouches for pixelguard's own DKIM results)"
            )
        return self

    @field_validator("trusted_authserv_ids", mode="before")
    @classmethod
    def _ids(cls, v: Any) -> Any:
        def check(item: Any) -> str:
            text = item.strip() if isinstance(item, str) else ""
            if not text or any(c.isspace() for c in text):
                raise ValueError(
                    f"{item!r} is not an authserv-id (a host name such as mx.example.org)"
                )
            return item.strip().lower()

        return each(v, check)




class LimitsConfig(Section):
    """Resource limits for cleaning one message (none of them loses mail)."""

    max_html_size: Size = 16 * 1024 * 1024  # larger HTML parts pass through unchecked, with a header
    time_budget: float = Field(default=20.0, gt=0)  # seconds per message; past it: unchanged + error

