"""The milter (`pixelguard milter`, pixelguard/milter/command.py): cleans mail while the MTA
holds it. Here: the libmilter socket specs it listens on, and when it refuses one.
"""
from __future__ import annotations

from pixelguard.loopback import is_loopback

__all__ = ["libmilter_socket", "listen_refusal", "tcp_host", "tcp_port"]


def libmilter_socket(spec: str) -> str:
    """`inet:HOST:PORT` (Postfix's spelling) as libmilter wants it, `inet:PORT@HOST`; other
    forms (`inet:PORT@HOST`, `unix:/path`, `local:/path`) unchanged."""
    kind, _, rest = spec.partition(":")
    if kind in ("inet", "inet6") and "@" not in rest:
        host, _, port = rest.rpartition(":")
        return f"{kind}:{port}@{host.strip('[]')}"
    return spec


def tcp_host(spec: str) -> str | None:
    """The host of an `inet:`/`inet6:` socket spec; None for a unix socket."""
    kind, _, rest = libmilter_socket(spec).partition(":")
    return rest.partition("@")[2] if kind in ("inet", "inet6") else None


def tcp_port(spec: str) -> int | None:
    """The port of an `inet:`/`inet6:` socket spec; None for a unix socket."""
    kind, _, rest = libmilter_socket(spec).partition(":")
    return int(rest.partition("@")[0]) if kind in ("inet", "inet6") else None


def listen_refusal(listen: str, allow_remote: bool) -> str | None:
    """Why the milter will not listen on `listen` (a non-loopback address without
    allow_remote), or None."""
    host = tcp_host(listen)
    if host is None or allow_remote:
        return None
    if is_loopback(host):
        return None
    return (f"refusing to listen on {listen}: not a loopback address. Anyone who reaches the port "
            "can hand pixelguard mail to clean; if the MTA runs on another host, firewall the port "
            "and set milter.allow_remote: true.")
