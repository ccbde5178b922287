"""YAML config file -> one typed, validated Config -> the Policy for one recipient.

Every error in a file is reported as a ConfigError naming the file, the line and the
dotted key ("users.bob@example.org.deny.hosts[1]"). To get lines, the YAML is composed
into nodes first; the node marks give a key-path -> line map, and pydantic's error
locations are mapped back through it.
"""
from __future__ import annotations

import difflib
import email.utils
import ipaddress
import os
import re
import shlex
import stat
import types
import typing
import warnings
from typing import Any, Literal, NamedTuple, Optional, Union

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from pixelguard.links.settings import LinkSettings, UserLinkSettings, describe, link_options
from pixelguard.model import Action, NoticePosition, Policy

__all__ = [
    "AllowConfig",
    "AuthConfig",
    "Config",
    "ConfigError",
    "ConfigWarning",
    "DefaultsConfig",
    "DenyConfig",
    "ImapAccount",
    "ImapConfig",
    "NextHop",
    "NextHopAuth",
    "NextHopTLS",
    "NoticeConfig",
    "RelayAuthUser",
    "RelayConfig",
    "UserConfig",
    "UserNoticeConfig",
    "describe_policies",
    "load_config",
    "parse_config",
    "parse_hostport",
    "parse_next_hop",
    "parse_size",
]

DEFAULT_MAX_SIZE = 50_000_000  # "50MB"
_MAX_NODES = 100_000  # YAML alias bombs: refuse documents that expand past this


class ConfigError(Exception):
    """A problem with the config file: where (file, 1-based line, dotted key) and what.

    str(e) is "FILE:LINE: KEY: MESSAGE", leaving out the parts that are unknown. When a
    file has several problems, the first (by line) is this error's own fields and the
    rest are in `others` (and on further lines of str(e)).
    """

    def __init__(
        self,
        message: str,
        file: str | None = None,
        line: int | None = None,
        key: str | None = None,
        others: list[ConfigError] | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.key = key
        self.others = list(others or [])
        super().__init__(str(self))

    def _one(self) -> str:
        where = ""
        if self.file:
            where = self.file + (f":{self.line}" if self.line else "") + ": "
        elif self.line:
            where = f"line {self.line}: "
        key = f"{self.key}: " if self.key else ""
        return f"{where}{key}{self.message}"

    def __str__(self) -> str:
        return "\n".join([self._one()] + [o._one() for o in self.others])


class ConfigWarning(UserWarning):
    """Something legal but unwise in the config (e.g. a literal password)."""


# ---------------------------------------------------------------------------
# Value checks shared by several fields


_HOST_CHARS = re.compile(r"[a-z0-9_-]+")  # one label, no nested quantifiers


def _check_hostname(value: str, what: str = "host") -> str:
    """A DNS name or IP literal, lower-case, without a trailing dot."""
    host = value.strip().lower().rstrip(".")
    if not host:
        raise ValueError(f"empty {what}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    try:
        ascii_host = host.encode("idna").decode("ascii") if not host.isascii() else host
    except UnicodeError:
        raise ValueError(f"{value!r} is not a valid {what} name") from None
    labels = ascii_host.split(".")
    if any(not label or len(label) > 63 or not _HOST_CHARS.fullmatch(label) for label in labels):
        raise ValueError(f"{value!r} is not a valid {what} name")
    return host


def _check_host_entry(value: Any) -> str:
    """A host list entry: a bare host name; '*.x' and '.x' mean x (subdomains always match)."""
    if not isinstance(value, str):
        raise ValueError(f"a host entry must be text, not {type(value).__name__}")
    raw = value.strip()
    if "://" in raw or "/" in raw:
        raise ValueError(
            f"{value!r} looks like a URL or path; give only the host name "
            "(e.g. 'tracker.example.com'), which also covers its subdomains"
        )
    if any(c.isspace() for c in raw):
        raise ValueError(f"{value!r} contains spaces; give one host name per entry")
    if raw.startswith("*."):
        raw = raw[2:]
    elif raw.startswith("."):
        raw = raw[1:]
    if "*" in raw:
        raise ValueError(
            f"{value!r}: only a leading '*.' is understood (and not needed: "
            "an entry always covers its subdomains)"
        )
    if ":" in raw and not raw.startswith("["):
        try:
            ipaddress.IPv6Address(raw)
        except ValueError:
            raise ValueError(f"{value!r}: give the host without a port") from None
    host = _check_hostname(raw)
    if not host.isascii():  # compared with URL hosts, which are IDNA-normalised (urls.host_of)
        host = host.encode("idna").decode("ascii")
    return host


def _check_address(value: Any) -> str:
    """An e-mail address local@domain, lower-cased."""
    if not isinstance(value, str):
        raise ValueError(f"an address must be text, not {type(value).__name__}")
    addr = value.strip()
    if "<" in addr:
        addr = email.utils.parseaddr(addr)[1]
    local, at, domain = addr.rpartition("@")
    if not at or not local or any(c.isspace() for c in addr):
        raise ValueError(f"{value!r} is not an e-mail address (expected local@domain)")
    return f"{local.lower()}@{_check_hostname(domain, 'domain')}"


def _check_sender(value: Any) -> str:
    """An allowed sender: an address (local@domain) or a domain ('@domain' also accepted)."""
    if not isinstance(value, str):
        raise ValueError(f"a sender must be text, not {type(value).__name__}")
    raw = value.strip()
    if raw.startswith("@"):
        raw = raw[1:]
    if "@" in raw:
        return _check_address(raw)
    if "/" in raw or any(c.isspace() for c in raw):
        raise ValueError(f"{value!r} is neither an address nor a domain")
    return _check_hostname(raw, "domain")


class NextHop(NamedTuple):
    """A parsed next-hop URL: scheme smtp/lmtp with host+port, or lmtp/maildir with a path."""

    scheme: Literal["smtp", "lmtp", "maildir"]
    host: str | None
    port: int | None
    path: str | None


def parse_hostport(
    value: str, default_port: int | None = None, *, allow_zero: bool = True
) -> tuple[str, int]:
    """'host:port' or '[v6]:port' -> (host, port). Raises ValueError with a readable message."""
    if not isinstance(value, str):
        raise ValueError(f"expected 'host:port' text, not {type(value).__name__}")
    text = value.strip()
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ValueError(f"{value!r}: missing ']' after the IPv6 address")
        host, rest = text[1:end], text[end + 1 :]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"{value!r}: {host!r} is not an IPv6 address") from None
        if rest and not rest.startswith(":"):
            raise ValueError(f"{value!r}: expected ':port' after ']'")
        port_text = rest[1:] if rest else ""
    else:
        if text.count(":") > 1:
            raise ValueError(f"{value!r}: write an IPv6 address in brackets, e.g. '[::1]:10025'")
        host, _, port_text = text.partition(":")
        host = _check_hostname(host)
    if not port_text:
        if default_port is None:
            raise ValueError(f"{value!r}: a port is required ('host:port')")
        return host, default_port
    if not port_text.isdigit():
        raise ValueError(f"{value!r}: port {port_text!r} is not a number")
    port = int(port_text)
    if port > 65535 or (port == 0 and not allow_zero):
        raise ValueError(f"{value!r}: port {port} is out of range")
    return host, port


_NEXT_HOP_DEFAULT_PORTS = {"smtp": 25, "lmtp": 24}


def parse_next_hop(url: str) -> NextHop:
    """Parse smtp://host[:port], lmtp://host[:port], lmtp:/socket/path or maildir:/path."""
    if not isinstance(url, str):
        raise ValueError(f"expected a URL, not {type(url).__name__}")
    scheme, colon, rest = url.strip().partition(":")
    scheme = scheme.lower()
    if not colon or scheme not in ("smtp", "lmtp", "maildir"):
        raise ValueError(
            f"{url!r}: unsupported next hop; use smtp://host:port, lmtp://host:port, "
            "lmtp:/path/to/socket or maildir:/path/to/Maildir"
        )
    if scheme in ("smtp", "lmtp") and rest.startswith("//") and not rest.startswith("///"):
        hostport = rest[2:].rstrip("/")
        if not hostport or "/" in hostport:
            raise ValueError(f"{url!r}: expected {scheme}://host:port")
        host, port = parse_hostport(hostport, _NEXT_HOP_DEFAULT_PORTS[scheme], allow_zero=False)
        return NextHop(scheme, host, port, None)  # type: ignore[arg-type]
    if scheme == "smtp":
        raise ValueError(f"{url!r}: expected smtp://host:port")
    path = rest[2:] if rest.startswith("///") else rest
    if not path:
        raise ValueError(f"{url!r}: a path is required after '{scheme}:'")
    if scheme == "lmtp" and not path.startswith("/"):
        raise ValueError(f"{url!r}: an LMTP socket path must be absolute (lmtp:/path/to/socket)")
    return NextHop(scheme, None, None, path)  # type: ignore[arg-type]


_SIZE_UNITS = {
    "": 1, "b": 1,
    "k": 1000, "kb": 1000, "m": 1000**2, "mb": 1000**2, "g": 1000**3, "gb": 1000**3,
    "ki": 1024, "kib": 1024, "mi": 1024**2, "mib": 1024**2, "gi": 1024**3, "gib": 1024**3,
}


def parse_size(value: Any) -> int:
    """Bytes from an int or a string: '50MB', '10MiB', '512k' (k/M/G decimal, Ki/Mi/Gi binary)."""
    if isinstance(value, bool):
        raise ValueError("expected a size such as 50MB, not a boolean")
    if isinstance(value, int):
        size = value
    elif isinstance(value, float) and value.is_integer():
        size = int(value)
    elif isinstance(value, str):
        text = value.strip().replace("_", "")
        i = 0
        while i < len(text) and (text[i].isdigit() or text[i] == "."):
            i += 1
        number, unit = text[:i], text[i:].strip().lower()
        if not number or number.count(".") > 1 or unit not in _SIZE_UNITS:
            raise ValueError(
                f"{value!r} is not a size; use bytes or a number with a unit, "
                "e.g. 50MB, 10MiB, 512k"
            )
        size = int(float(number) * _SIZE_UNITS[unit])
    else:
        raise ValueError(f"expected a size such as 50MB, not {type(value).__name__}")
    if size <= 0:
        raise ValueError("the size must be positive")
    return size


def _resolve_path(value: str, info: ValidationInfo) -> str:
    """A path from the config, relative ones taken from the config file's directory."""
    path = os.path.expanduser(value.strip())
    base = (info.context or {}).get("base_dir")
    if base and not os.path.isabs(path):
        path = os.path.join(base, path)
    return os.path.normpath(path)


def _is_loopback(host: str) -> bool:
    if host.lower().rstrip(".") in ("localhost", "localhost.localdomain") or host.lower().endswith(
        ".localhost"
    ):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _dedupe(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


# ---------------------------------------------------------------------------
# The models


def _admits_none(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin is Union or origin is types.UnionType:
        return any(a is type(None) for a in typing.get_args(annotation))
    return annotation is None or annotation is type(None) or annotation is Any


class _Section(BaseModel):
    """Base of every config section: unknown keys are errors; `key:` left empty means default."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _empty_means_default(cls, data: Any) -> Any:
        if data is None:
            return {}
        if isinstance(data, dict):
            fields = cls.model_fields
            return {
                k: v
                for k, v in data.items()
                if not (
                    v is None
                    and k in fields
                    and not fields[k].is_required()
                    and not _admits_none(fields[k].annotation)
                )
            }
        return data


class AllowConfig(_Section):
    hosts: list[str] = Field(default_factory=list)  # resource hosts never flagged (and subdomains)
    senders: list[str] = Field(default_factory=list)  # From address or domain; needs authentication

    @field_validator("hosts", mode="before")
    @classmethod
    def _hosts_each(cls, v: Any) -> Any:
        return _each(v, _check_host_entry)

    @field_validator("senders", mode="before")
    @classmethod
    def _senders_each(cls, v: Any) -> Any:
        return _each(v, _check_sender)


class DenyConfig(_Section):
    hosts: list[str] = Field(default_factory=list)  # every remote resource from these is removed

    @field_validator("hosts", mode="before")
    @classmethod
    def _hosts_each(cls, v: Any) -> Any:
        return _each(v, _check_host_entry)


def _each(value: Any, check: Any) -> Any:
    """Run `check` on each item of a list, raising with the item's index in the message.

    Pydantic would lose the index for a before-validator, so the index is recovered by the
    error mapper from the "[i]" prefix this puts in front of the message.
    """
    if not isinstance(value, list):
        return value  # pydantic reports the type error
    out = []
    for i, item in enumerate(value):
        try:
            out.append(check(item))
        except ValueError as exc:
            raise ValueError(f"[{i}] {exc}") from None
    return _dedupe(out)


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
            f"language: de}}, got {_describe(data)}"
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


class NoticeConfig(_Section):
    """`notice:` in defaults: whether, where and in which language cleaned mail says so."""

    enabled: bool = True
    # top: after the sender's preheader and the preview window; bottom: at the end. Both keep
    # the inbox preview (see pixelguard/notice/placement.py); top is where a reader sees it.
    position: NoticePosition = "top"
    language: str = "auto"  # a supported language, or auto: the message's own, else en

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return _notice_shorthand(data)

    @field_validator("language", mode="before")
    @classmethod
    def _language(cls, v: Any) -> Any:
        return _notice_language(v)


class UserNoticeConfig(_Section):
    """`notice:` for one user: each key left out is the defaults' one."""

    enabled: bool | None = None
    position: NoticePosition | None = None
    language: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return _notice_shorthand(data)

    @field_validator("language", mode="before")
    @classmethod
    def _language(cls, v: Any) -> Any:
        return _notice_language(v)


class DefaultsConfig(_Section):
    action: Action = "strip"
    notice: NoticeConfig = Field(default_factory=NoticeConfig)
    keep: list[Keepable] = Field(default_factory=list)
    links: LinkSettings = Field(default_factory=LinkSettings)  # click tracking (docs/links.md)
    allow: AllowConfig = Field(default_factory=AllowConfig)
    deny: DenyConfig = Field(default_factory=DenyConfig)


class UserConfig(_Section):
    action: Optional[Action] = None  # None: the defaults' action
    notice: UserNoticeConfig | None = None  # None: the defaults' notice
    keep: Optional[list[Keepable]] = None  # None: the defaults' keep
    links: UserLinkSettings | None = None  # None: the defaults' links
    allow: AllowConfig = Field(default_factory=AllowConfig)
    deny: DenyConfig = Field(default_factory=DenyConfig)


def _default_authserv_id() -> str:
    """This machine's host name, or "pixelguard" when it is not usable as an authserv-id."""
    import socket

    try:
        return _check_hostname(socket.gethostname(), "authserv-id")
    except (OSError, ValueError):
        return "pixelguard"


class ArcConfig(_Section):
    """`auth.arc`: ARC-seal the messages pixelguard changed (RFC 8617) with this key.

    The public key must be published at `<selector>._domainkey.<domain>` as for DKIM.
    """

    domain: str  # d= of the seal
    selector: str  # s= of the seal
    key_file: str  # RSA private key, PEM; relative paths are taken from the config's directory

    @field_validator("domain", "selector", mode="before")
    @classmethod
    def _names(cls, v: Any, info: ValidationInfo) -> Any:
        return _check_hostname(v, info.field_name or "name") if isinstance(v, str) else v

    @field_validator("key_file", mode="after")
    @classmethod
    def _key(cls, v: str, info: ValidationInfo) -> str:
        from pixelguard.arc_seal import SealError, load_private_key

        path = _resolve_path(v, info)
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


class AuthConfig(_Section):
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
        return _check_hostname(v, "authserv-id") if isinstance(v, str) else v

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

        return _each(v, check)


class _SecretSource(_Section):
    password_env: Optional[str] = None  # name of an environment variable holding the password
    password_command: Optional[str] = None  # a command whose first output line is the password

    @model_validator(mode="after")
    def _exactly_one(self) -> _SecretSource:
        given = [n for n in ("password_env", "password_command") if getattr(self, n)]
        if len(given) != 1:
            where = f"[{given[1]}] " if len(given) > 1 else ""
            raise ValueError(where + "give exactly one of password_env or password_command")
        return self


class RelayAuthUser(_SecretSource):
    """A client allowed to AUTH to the relay."""


class NextHopAuth(_SecretSource):
    username: str


class NextHopTLS(_Section):
    starttls: bool = False
    verify: bool = True
    ca_file: Optional[str] = None

    @field_validator("ca_file", mode="after")
    @classmethod
    def _path(cls, v: str | None, info: ValidationInfo) -> str | None:
        return None if v is None else _resolve_path(v, info)


class RelayConfig(_Section):
    """The `relay:` section. The relay module owns its meaning; config only validates shapes."""

    listen: str = "127.0.0.1:10025"
    protocol: Literal["smtp", "lmtp"] = "smtp"
    next_hop: Optional[str] = None  # smtp://h:p, lmtp://h:p, lmtp:/path.sock, maildir:/path
    allow_networks: list[str] = Field(default_factory=list)  # client CIDRs besides loopback
    max_size: int = DEFAULT_MAX_SIZE  # bytes
    timeout: float = Field(default=300, gt=0)  # seconds
    max_connections: int = Field(default=100, ge=1)
    tls_cert: Optional[str] = None
    tls_key: Optional[str] = None
    auth_users: Optional[dict[str, RelayAuthUser]] = None
    next_hop_tls: NextHopTLS = Field(default_factory=NextHopTLS)
    next_hop_auth: Optional[NextHopAuth] = None
    metrics: Optional[str] = None  # "host:port" of the Prometheus endpoint
    workers: Optional[int] = Field(default=None, ge=0)  # cleaning processes; None: automatic

    @field_validator("listen", "metrics", mode="after")
    @classmethod
    def _hostport(cls, v: str | None) -> str | None:
        if v is None:
            return None
        parse_hostport(v)
        return v.strip()

    @field_validator("next_hop", mode="after")
    @classmethod
    def _next_hop(cls, v: str | None) -> str | None:
        if v is None:
            return None
        parse_next_hop(v)
        return v.strip()

    @field_validator("allow_networks", mode="before")
    @classmethod
    def _networks(cls, v: Any) -> Any:
        def check(item: Any) -> str:
            try:
                return str(ipaddress.ip_network(str(item).strip(), strict=False))
            except ValueError:
                raise ValueError(
                    f"{item!r} is not a network (e.g. 192.0.2.0/24 or 2001:db8::/32)"
                ) from None

        return _each(v, check)

    @field_validator("max_size", mode="before")
    @classmethod
    def _size(cls, v: Any) -> int:
        return parse_size(v)

    @field_validator("tls_cert", "tls_key", mode="after")
    @classmethod
    def _path(cls, v: str | None, info: ValidationInfo) -> str | None:
        return None if v is None else _resolve_path(v, info)

    @model_validator(mode="after")
    def _cert_and_key(self) -> RelayConfig:
        if (self.tls_cert is None) != (self.tls_key is None):
            given = "tls_cert" if self.tls_cert is not None else "tls_key"
            raise ValueError(f"[{given}] tls_cert and tls_key go together: give both or neither")
        return self

    def listen_address(self) -> tuple[str, int]:
        return parse_hostport(self.listen)

    def next_hop_parsed(self) -> NextHop | None:
        return None if self.next_hop is None else parse_next_hop(self.next_hop)


class ImapAccount(_Section):
    """One mailbox the IMAP post-processor cleans."""

    name: str
    host: str
    security: Literal["tls", "starttls", "none"] = "tls"
    port: Optional[int] = Field(default=None, ge=1, le=65535)  # None in the file: 993 tls, else 143
    username: str
    password_command: Optional[str] = None
    password_env: Optional[str] = None
    password: Optional[str] = None  # refused unless allow_literal_password; then warned about
    allow_literal_password: bool = False  # opt in to a literal password (prefer the other two)
    folders: list[str] = Field(default_factory=lambda: ["INBOX"], min_length=1)
    originals: str = "pixelguard/originals"  # folder for the originals, or "delete"
    user: Optional[str] = None  # whose policy applies; None in the file: the username
    verify_tls: bool = True
    ca_file: Optional[str] = None

    @field_validator("name", "username", mode="after")
    @classmethod
    def _not_empty(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be empty")
        return v.strip()

    @field_validator("password_command", "password_env", mode="after")
    @classmethod
    def _source_not_empty(cls, v: str | None) -> str | None:
        if v is not None and not v.strip():
            raise ValueError("must not be empty")
        return v

    @field_validator("host", mode="after")
    @classmethod
    def _host(cls, v: str) -> str:
        return _check_hostname(v)

    @field_validator("security", mode="after")
    @classmethod
    def _security(cls, v: str, info: ValidationInfo) -> str:
        host = info.data.get("host")
        if v == "none" and host is not None and not _is_loopback(host):
            raise ValueError(
                f"'none' sends the password in clear text; it is only allowed for a "
                f"loopback host (localhost, 127.0.0.1, ::1), not {host!r}; use tls or starttls"
            )
        return v

    @field_validator("folders", mode="after")
    @classmethod
    def _folders(cls, v: list[str]) -> list[str]:
        if any(not f.strip() for f in v):
            raise ValueError("folder names must not be empty")
        return _dedupe(v)

    @field_validator("ca_file", mode="after")
    @classmethod
    def _path(cls, v: str | None, info: ValidationInfo) -> str | None:
        return None if v is None else _resolve_path(v, info)

    @model_validator(mode="after")
    def _complete(self) -> ImapAccount:
        sources = ("password_command", "password_env", "password")
        given = [n for n in sources if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError(
                (f"[{given[1]}] " if len(given) > 1 else "")
                + "give exactly one of password_command, password_env or password"
                + (f" (found {', '.join(given)})" if given else "")
            )
        if self.password is not None and not self.allow_literal_password:
            # Never the value itself: errors and logs must not carry the secret.
            raise ValueError(
                "[password] a literal password in the config file is refused; use "
                "password_command or password_env, or set allow_literal_password: true "
                "on this account to accept it"
            )
        if self.port is None:
            self.port = 993 if self.security == "tls" else 143
        if self.user is None:
            self.user = self.username

        def same(name: str) -> str:  # INBOX, alone or as the first level, in any case
            head, sep, rest = name.strip().strip("/").partition("/")
            return ("INBOX" if head.upper() == "INBOX" else head) + sep + rest

        originals = same(self.originals)
        if originals in ("", "INBOX") or originals in {same(f) for f in self.folders}:
            raise ValueError(
                f"[originals] {self.originals!r} would put originals back into a cleaned folder; "
                "name another folder or 'delete'"
            )
        return self


class ImapConfig(_Section):
    accounts: list[ImapAccount] = Field(default_factory=list)

    @field_validator("accounts", mode="after")
    @classmethod
    def _unique_names(cls, v: list[ImapAccount]) -> list[ImapAccount]:
        seen: dict[str, int] = {}
        for i, account in enumerate(v):
            if account.name in seen:
                raise ValueError(
                    f"[{i}] account name {account.name!r} is already used "
                    f"by accounts[{seen[account.name]}]"
                )
            seen[account.name] = i
        return v

    def account(self, name: str) -> ImapAccount | None:
        return next((a for a in self.accounts if a.name == name), None)


def parse_milter_socket(value: str) -> str:
    """A libmilter socket: `inet:PORT@HOST` / `inet:HOST:PORT`, `inet6:...`, or `unix:/path`
    (`local:` is the same). Returns it stripped; ValueError says what is wrong."""
    text = str(value).strip()
    kind, colon, rest = text.partition(":")
    if colon and kind in ("unix", "local"):
        if not rest.startswith("/"):
            raise ValueError(f"{text!r}: a unix socket needs an absolute path, e.g. unix:/run/pixelguard/milter.sock")
        return text
    if colon and kind in ("inet", "inet6"):
        if "@" in rest:
            port, _, host = rest.partition("@")
        else:
            host, _, port = rest.rpartition(":")
        if port.isdigit() and 0 < int(port) < 65536 and host:
            return text
    raise ValueError(f"{text!r} is not a milter socket: use inet:127.0.0.1:10030 or unix:/path/milter.sock")


class MilterConfig(_Section):
    """The `milter:` section. pixelguard/milter owns its meaning; config only validates shapes."""

    listen: str = "inet:127.0.0.1:10030"
    max_size: int = DEFAULT_MAX_SIZE  # bytes; a larger message passes unchanged, marked
    timeout: float = Field(default=60, gt=0)  # seconds to wait for one message's cleaning
    max_concurrent: int = Field(default=20, ge=1)  # messages handed to the workers at once
    metrics: Optional[str] = None  # "host:port" of the Prometheus endpoint
    workers: Optional[int] = Field(default=None, ge=0)  # cleaning processes; None: automatic
    allow_remote: bool = False  # listen on a non-loopback address (an MTA on another host)

    @field_validator("listen", mode="after")
    @classmethod
    def _listen(cls, v: str) -> str:
        return parse_milter_socket(v)

    @field_validator("metrics", mode="after")
    @classmethod
    def _metrics(cls, v: str | None) -> str | None:
        if v is None:
            return None
        parse_hostport(v)
        return v.strip()

    @field_validator("max_size", mode="before")
    @classmethod
    def _size(cls, v: Any) -> int:
        return parse_size(v)


class LimitsConfig(_Section):
    """Resource limits for cleaning one message (none of them loses mail)."""

    max_html_size: int = 16 * 1024 * 1024  # larger HTML parts pass through unchecked, with a header
    time_budget: float = Field(default=20.0, gt=0)  # seconds per message; past it: unchanged + error

    @field_validator("max_html_size", mode="before")
    @classmethod
    def _size(cls, v: Any) -> int:
        return parse_size(v)


class Config(_Section):
    """The whole config file, validated. `policy_for(addr)` gives one recipient's Policy."""

    defaults: DefaultsConfig = Field(default_factory=DefaultsConfig)
    users: dict[str, UserConfig] = Field(default_factory=dict)
    lists: list[str] = Field(default_factory=list)  # absolute paths of extra tracker lists
    auth: AuthConfig = Field(default_factory=AuthConfig)
    relay: RelayConfig = Field(default_factory=RelayConfig)
    imap: ImapConfig = Field(default_factory=ImapConfig)
    milter: MilterConfig = Field(default_factory=MilterConfig)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)

    @field_validator("users", mode="before")
    @classmethod
    def _user_keys(cls, v: Any) -> Any:
        if not isinstance(v, dict):
            return v
        out: dict[str, Any] = {}
        for key, value in v.items():
            try:
                addr = _check_address(key)
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
            path = _resolve_path(item, info)
            if not os.path.isfile(path):
                raise ValueError(f"tracker list file not found: {path}")
            return path

        return _each(v, check)

    def notice_for(self, user: UserConfig | None) -> NoticeConfig:
        """The notice settings of a user (None: the defaults): each key the user's if set."""
        d = self.defaults.notice
        own = user.notice if user is not None else None
        if own is None:
            return d
        return NoticeConfig.model_construct(
            enabled=d.enabled if own.enabled is None else own.enabled,
            position=own.position or d.position,
            language=own.language or d.language,
        )

    def policy_for(self, addr: str | None) -> Policy:
        """The Policy for one recipient (case-insensitive); unknown or None: the defaults."""
        key = None
        if addr:
            addr = addr.strip()
            if "<" in addr:  # "Name <addr>": the bare address is what a tracker would leak
                addr = email.utils.parseaddr(addr)[1] or addr
            try:
                key = _check_address(addr)
            except ValueError:
                key = addr.lower()
        user = self.users.get(key) if key else None
        d = self.defaults
        notice = self.notice_for(user)
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
            allow_senders=tuple(_dedupe((user.allow.senders if user else []) + d.allow.senders)),
            trusted_authserv_ids=tuple(self.auth.trusted_authserv_ids),
            require_auth_for_allow=self.auth.require_for_allow,
            extra_lists=tuple(self.lists),
            max_html_bytes=self.limits.max_html_size,
            time_budget=self.limits.time_budget,
        )


# ---------------------------------------------------------------------------
# YAML with line numbers


Path = tuple[Any, ...]


def _compose(text: str, filename: str) -> tuple[Any, dict[Path, int]]:
    """Parse YAML into plain data plus a map from key path to 1-based line."""
    loader = None
    try:
        loader = yaml.SafeLoader(text)  # checks for unprintable characters right away
        node = loader.get_single_node()
        if node is None:
            return None, {}
        lines: dict[Path, int] = {(): node.start_mark.line + 1}
        _index(node, (), lines, loader, filename, set(), [0])
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = " ".join(p for p in (exc.context, exc.problem) if p) or "YAML syntax error"
        line = mark.line + 1 if mark else None
        raise ConfigError(f"YAML syntax error: {message}", filename, line) from None
    except yaml.reader.ReaderError as exc:
        line = text[: exc.position].count("\n") + 1
        raise ConfigError(
            f"character #x{exc.character:04x} is not allowed in YAML", filename, line
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"YAML error: {exc}", filename) from None
    except RecursionError:
        raise ConfigError("the YAML nests too deeply", filename) from None
    finally:
        if loader is not None:
            loader.dispose()
    return data, lines


def _index(
    node: yaml.Node,
    path: Path,
    lines: dict[Path, int],
    loader: yaml.SafeLoader,
    filename: str,
    active: set[int],
    count: list[int],
) -> None:
    count[0] += 1
    if count[0] > _MAX_NODES:
        raise ConfigError("the YAML is too large (too many nodes or aliases)", filename)
    if id(node) in active:
        raise ConfigError("recursive YAML alias", filename, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        active.add(id(node))
        loader.flatten_mapping(node)  # resolve '<<' merge keys the way construction will
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode):
                raise ConfigError("a key must be plain text", filename, line, _dotted(path))
            # Every key in our schema is text: '1:' or 'yes:' keep their spelling.
            key_node.tag = "tag:yaml.org,2002:str"
            key = key_node.value
            if key in seen:
                raise ConfigError(
                    f"duplicate key (first given on line {seen[key]})",
                    filename,
                    line,
                    _dotted(path + (key,)),
                )
            seen[key] = line
            lines[path + (key,)] = line
            _index(value_node, path + (key,), lines, loader, filename, active, count)
        active.discard(id(node))
    elif isinstance(node, yaml.SequenceNode):
        active.add(id(node))
        for i, item in enumerate(node.value):
            lines[path + (i,)] = item.start_mark.line + 1
            _index(item, path + (i,), lines, loader, filename, active, count)
        active.discard(id(node))


def _dotted(path: Path) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _data_path(data: Any, loc: tuple[Any, ...]) -> Path:
    """Keep only the parts of a pydantic loc that index into the data (drops union tags etc.)."""
    path: list[Any] = []
    current = data
    for part in loc:
        if isinstance(current, dict) and part in current:
            current = current[part]
            path.append(part)
        elif isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current):
            current = current[part]
            path.append(part)
        elif isinstance(current, dict) and isinstance(part, str) and not _is_tag(part):
            path.append(part)  # a missing or unknown key: name it, there is nothing below
            break
    return tuple(path)


def _is_tag(part: str) -> bool:
    """pydantic loc parts that name a schema step, not a key: '[key]', 'function-after[...]'."""
    return part.startswith(("[", "function-"))


def _known_keys(path: Path) -> list[str]:
    """The keys the schema allows in the mapping at `path` (for 'did you mean')."""
    model: Any = Config
    for part in path:
        if isinstance(model, type) and issubclass(model, BaseModel):
            field = model.model_fields.get(part) if isinstance(part, str) else None
            if field is None:
                return []
            model = field.annotation
        else:
            args = [a for a in typing.get_args(model) if a is not type(None)]
            origin = typing.get_origin(model)
            if origin is dict and len(args) == 2:
                model = args[1]
            elif origin is list and args:
                model = args[0]
            else:
                return []
        while typing.get_origin(model) in (Union, types.UnionType):
            args = [a for a in typing.get_args(model) if a is not type(None)]
            model = args[0] if len(args) == 1 else None
    # Optional[X] at the last step
    while typing.get_origin(model) in (Union, types.UnionType):
        args = [a for a in typing.get_args(model) if a is not type(None)]
        model = args[0] if len(args) == 1 else None
    if isinstance(model, type) and issubclass(model, BaseModel):
        return list(model.model_fields)
    return []


def _line_for(path: Path, lines: dict[Path, int]) -> int | None:
    for n in range(len(path), -1, -1):
        if path[:n] in lines:
            return lines[path[:n]]
    return None


_PREFIXES = ("Value error, ", "Assertion failed, ")


def _error_from_pydantic(
    err: dict[str, Any], data: Any, lines: dict[Path, int], filename: str
) -> ConfigError:
    path = _data_path(data, tuple(err.get("loc", ())))
    message = str(err.get("msg", "invalid value"))
    for prefix in _PREFIXES:
        if message.startswith(prefix):
            message = message[len(prefix) :]
    # A list/mapping check that knows which entry is wrong says so with a "[i] " prefix.
    if message.startswith("[") and "] " in message:
        index, rest = message[1:].split("] ", 1)
        target = _lookup(data, path)
        if isinstance(target, list) and index.isdigit() and int(index) < len(target):
            path, message = path + (int(index),), rest
        elif isinstance(target, dict) and index in target:
            path, message = path + (index,), rest
    kind = err.get("type")
    if kind == "extra_forbidden" and path:
        known = _known_keys(path[:-1])
        message = f"unknown key {path[-1]!r}"
        close = difflib.get_close_matches(str(path[-1]), known, n=1, cutoff=0.6)
        if close:
            message += f" (did you mean {close[0]!r}?)"
        elif known:
            message += f"; known keys here: {', '.join(known)}"
    elif kind == "missing" and path:
        message = f"required key {path[-1]!r} is missing"
    elif kind in ("list_type", "dict_type", "model_type", "model_attributes_type"):
        want = "a list, e.g. [a, b]" if kind == "list_type" else "a mapping of key: value lines"
        message = f"expected {want}, got {_describe(err.get('input'))}"
    return ConfigError(message, filename, _line_for(path, lines), _dotted(path) or None)


def _lookup(data: Any, path: Path) -> Any:
    for part in path:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _describe(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, str):
        return f"text {value!r}"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"{type(value).__name__} {value!r}"


# ---------------------------------------------------------------------------
# Public entry points


def parse_config(text: str, filename: str = "<config>") -> Config:
    """Validate config text. Relative paths in it are taken from `filename`'s directory."""
    return _parse(text, filename, None)


def _parse(text: str, filename: str, file_mode: int | None) -> Config:
    """parse_config; `file_mode` is the permission bits of the file the text was read from
    (None: not read from a regular file), for the warning about a literal password."""
    data, lines = _compose(text, filename)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            "the config must be a mapping of sections (defaults:, users:, ...), "
            f"got {_describe(data)}",
            filename,
            lines.get((), 1),
        )
    # "<config>"-style names are not files: relative paths are then taken from the cwd.
    in_file = not filename.startswith("<")
    base_dir = os.path.dirname(os.path.abspath(filename)) if in_file else os.getcwd()
    try:
        cfg = Config.model_validate(data, context={"base_dir": base_dir})
    except ValidationError as exc:
        errors = [_error_from_pydantic(e, data, lines, filename) for e in exc.errors()]
        errors.sort(key=lambda e: (e.line or 0))
        first = errors[0]
        raise ConfigError(first.message, first.file, first.line, first.key, errors[1:]) from None
    _warn_literal_passwords(cfg, lines, filename, file_mode)
    return cfg


def _warn_literal_passwords(
    cfg: Config, lines: dict[Path, int], filename: str, file_mode: int | None
) -> None:
    """One warning per account with an (opted-in) literal password; louder when the file is
    readable by group or others, like fetchmail's check of .fetchmailrc. Never the value."""
    exposed = file_mode & 0o077 if file_mode is not None else 0
    who = " and ".join(w for w, bits in (("group", 0o070), ("others", 0o007)) if exposed & bits)
    for i, account in enumerate(cfg.imap.accounts):
        if account.password is not None:
            path: Path = ("imap", "accounts", i, "password")
            line = _line_for(path, lines)
            where = f"{filename}:{line}" if line else filename
            if who:
                advice = (
                    f", and the file is readable by {who} (mode {file_mode:04o}): "
                    f"chmod 600 {shlex.quote(filename)} (owned by the user pixelguard runs as), "
                    "or better use password_command or password_env"
                )
            else:
                advice = "; prefer password_command or password_env (and keep this file private)"
            warnings.warn(
                f"{where}: imap.accounts[{i}].password: a literal password in the config file "
                f"(allow_literal_password: true){advice}",
                ConfigWarning,
                stacklevel=4,
            )


def load_config(path: str | None) -> Config:
    """Read and validate a config file; None gives the all-defaults Config. Raises ConfigError."""
    if path is None:
        return Config()
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
            st = os.fstat(fh.fileno())
    except FileNotFoundError:
        raise ConfigError("no such file", path) from None
    except IsADirectoryError:
        raise ConfigError("is a directory, not a config file", path) from None
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror or exc}", path) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError("not valid UTF-8 text", path, line) from None
    # Only a regular file's mode says who can read it (not a pipe, not /dev/stdin).
    regular = stat.S_ISREG(st.st_mode) and os.name == "posix"
    file_mode = stat.S_IMODE(st.st_mode) if regular else None
    cfg = _parse(text, path, file_mode)
    _check_lists(cfg)
    return cfg


def _check_lists(cfg: Config) -> None:
    """Load the extra tracker lists once now, so a broken list is a config error at start-up
    (naming the list file and line) rather than a surprise on the first message."""
    if not cfg.lists:
        return
    from pixelguard.trackers import TrackerListError, load_lists

    try:
        load_lists(list(cfg.lists))
    except TrackerListError as exc:
        raise ConfigError(exc.message, exc.file, exc.line or None, "lists") from None


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
