"""The `relay:` section of the config file: its keys, defaults and checks.

Only shapes are validated here (a readable next hop URL, a host:port, a size); what the
relay makes of them at start (no open relay, TLS files that load, secrets that can be
read) is pixelguard/relay/setup.py. pixelguard/config composes this section into the
whole file's model.
"""
from __future__ import annotations

import ipaddress
from typing import Any, Literal, NamedTuple

from pydantic import Field, field_validator, model_validator

from pixelguard.config_fields import ConfigPath, HostPort, Section, Size, each, parse_hostport

__all__ = ["DEFAULT_MAX_SIZE", "NextHopAuth", "NextHopTLS", "NextHopURL", "RelayAuthUser",
           "RelayConfig", "SecretSource", "parse_next_hop"]

DEFAULT_MAX_SIZE = 50_000_000  # "50MB"


class NextHopURL(NamedTuple):
    """A parsed next-hop URL: scheme smtp/lmtp with host+port, or lmtp/maildir with a path."""

    scheme: Literal["smtp", "lmtp", "maildir"]
    host: str | None
    port: int | None
    path: str | None


_NEXT_HOP_DEFAULT_PORTS = {"smtp": 25, "lmtp": 24}


def parse_next_hop(url: str) -> NextHopURL:
    """Parse smtp://host[:port], lmtp://host[:port], lmtp:/socket/path or maildir:/path."""
    if not isinstance(url, str):
        raise ValueError(f"expected a URL, not {type(url).__name__}")  # noqa: TRY004 - pydantic reports ValueErrors
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
        return NextHopURL(scheme, host, port, None)  # type: ignore[arg-type]
    if scheme == "smtp":
        raise ValueError(f"{url!r}: expected smtp://host:port")
    path = rest[2:] if rest.startswith("///") else rest
    if not path:
        raise ValueError(f"{url!r}: a path is required after '{scheme}:'")
    if scheme == "lmtp" and not path.startswith("/"):
        raise ValueError(f"{url!r}: an LMTP socket path must be absolute (lmtp:/path/to/socket)")
    return NextHopURL(scheme, None, None, path)  # type: ignore[arg-type]


class SecretSource(Section):
    """Where a password is read from (pixelguard/secret_source.py): exactly one of the two."""

    password_env: str | None = None  # name of an environment variable holding the password
    password_command: str | None = None  # a command whose first output line is the password

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretSource:
        given = [n for n in ("password_env", "password_command") if getattr(self, n)]
        if len(given) != 1:
            where = f"[{given[1]}] " if len(given) > 1 else ""
            raise ValueError(where + "give exactly one of password_env or password_command")
        return self


class RelayAuthUser(SecretSource):
    """A client allowed to AUTH to the relay."""


class NextHopAuth(SecretSource):
    username: str


class NextHopTLS(Section):
    starttls: bool = False
    verify: bool = True
    ca_file: ConfigPath | None = None


class RelayConfig(Section):
    """The `relay:` section. The relay module owns its meaning; config only validates shapes."""

    listen: HostPort = "127.0.0.1:10025"
    protocol: Literal["smtp", "lmtp"] = "smtp"
    next_hop: str | None = None  # smtp://h:p, lmtp://h:p, lmtp:/path.sock, maildir:/path
    allow_networks: list[str] = Field(default_factory=list)  # client CIDRs besides loopback
    max_size: Size = DEFAULT_MAX_SIZE  # bytes
    timeout: float = Field(default=300, gt=0)  # seconds
    max_connections: int = Field(default=100, ge=1)
    tls_cert: ConfigPath | None = None
    tls_key: ConfigPath | None = None
    auth_users: dict[str, RelayAuthUser] | None = None
    next_hop_tls: NextHopTLS = Field(default_factory=NextHopTLS)
    next_hop_auth: NextHopAuth | None = None
    metrics: HostPort | None = None  # "host:port" of the Prometheus endpoint
    workers: int | None = Field(default=None, ge=0)  # cleaning processes; None: automatic

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

        return each(v, check)

    @model_validator(mode="after")
    def _cert_and_key(self) -> RelayConfig:
        if (self.tls_cert is None) != (self.tls_key is None):
            given = "tls_cert" if self.tls_cert is not None else "tls_key"
            raise ValueError(f"[{given}] tls_cert and tls_key go together: give both or neither")
        return self

    def listen_address(self) -> tuple[str, int]:
        return parse_hostport(self.listen)

    def next_hop_parsed(self) -> NextHopURL | None:
        return None if self.next_hop is None else parse_next_hop(self.next_hop)
