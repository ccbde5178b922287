"""The relay as the config describes it: its listening settings, next hop and server, built
at start and on reload; what it refuses to start with (an open relay, clear-text AUTH,
unreadable TLS files or secrets) is a SetupError saying why and what to do."""
from __future__ import annotations

import ipaddress
import socket
import ssl

from pixelguard.config_fields import parse_hostport
from pixelguard.loopback import is_loopback
from pixelguard.relay.cleaning import Cleaner
from pixelguard.relay.maildir import default_maildir
from pixelguard.relay.metrics import Metrics
from pixelguard.relay.nexthop import (
    LMTPNextHop,
    MaildirNextHop,
    NextHop,
    SMTPNextHop,
    SMTPSettings,
)
from pixelguard.relay.server import RelayServer, Settings
from pixelguard.secret_source import SecretError, read_secret

__all__ = ["SetupError", "build_next_hop", "build_relay", "build_settings"]


class SetupError(Exception):
    """The relay cannot start as configured; the message says why and what to do."""


def build_next_hop(relay, helo_name: str) -> NextHop:
    """The next hop named by relay.next_hop (RelayConfig), or the default Maildir."""
    hop = relay.next_hop_parsed()
    if hop is None:
        return MaildirNextHop(default_maildir())
    if hop.scheme == "maildir":
        return MaildirNextHop(hop.path)
    if hop.scheme == "lmtp":
        return LMTPNextHop(hop.host, hop.port, hop.path, relay.timeout, helo_name)
    username = password = None
    if relay.next_hop_auth is not None:
        username = relay.next_hop_auth.username
        password = _secret(relay.next_hop_auth, "relay.next_hop_auth")
    tls = relay.next_hop_tls
    return SMTPNextHop(
        SMTPSettings(
            host=hop.host,
            port=hop.port,
            timeout=relay.timeout,
            helo_name=helo_name,
            starttls=tls.starttls,
            verify=tls.verify,
            ca_file=tls.ca_file,
            username=username,
            password=password,
        )
    )


def _secret(source, key: str) -> str:
    """A password from its configured source; a failure is a SetupError naming the key."""
    try:
        return read_secret(source, key)
    except SecretError as exc:
        raise SetupError(str(exc)) from None


def build_settings(relay) -> Settings:
    """Listening-side settings from RelayConfig; refuses an open relay."""
    host, port = relay.listen_address()
    networks = tuple(ipaddress.ip_network(n) for n in relay.allow_networks)
    if not is_loopback(host) and not networks:
        raise SetupError(
            f"refusing to listen on {relay.listen}: not a loopback address, and relay.allow_networks "
            "is empty. List the client networks allowed to use the relay (e.g. allow_networks: "
            "[192.0.2.0/24]) or listen on 127.0.0.1."
        )
    tls_context = None
    if relay.tls_cert:
        tls_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            tls_context.load_cert_chain(relay.tls_cert, relay.tls_key)
        except (OSError, ssl.SSLError) as exc:
            raise SetupError(f"relay.tls_cert/tls_key: cannot load {relay.tls_cert}: {exc}") from None
    auth_users = None
    if relay.auth_users:
        auth_users = {
            user: _secret(src, f"relay.auth_users.{user}") for user, src in relay.auth_users.items()
        }
        if tls_context is None and not is_loopback(host):
            raise SetupError("relay.auth_users on a non-loopback address needs tls_cert/tls_key (no clear-text passwords)")
    return Settings(
        host=host,
        port=port,
        protocol=relay.protocol,
        allow_networks=networks,
        max_size=relay.max_size,
        timeout=relay.timeout,
        max_connections=relay.max_connections,
        tls_context=tls_context,
        auth_users=auth_users,
        metrics=_hostport(relay.metrics) if relay.metrics else None,
        hostname=socket.gethostname(),
    )


def build_relay(config, cleaner: Cleaner | None = None, metrics: Metrics | None = None) -> RelayServer:
    """A RelayServer for a loaded Config (call start() on a running event loop)."""
    settings = build_settings(config.relay)
    next_hop = build_next_hop(config.relay, settings.hostname)
    cleaner = cleaner if cleaner is not None else Cleaner(config.relay.workers, auth=config.auth)
    return RelayServer(settings, next_hop, cleaner, config.policy_for, metrics)


def _hostport(text: str) -> tuple[str, int]:
    return parse_hostport(text)
