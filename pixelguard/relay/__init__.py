"""`pixelguard relay`: an SMTP/LMTP relay that cleans mail in flight.

    pixelguard relay [--config F] [--listen HOST:PORT] [--next-hop URL]

With no config it listens on 127.0.0.1:10025 and writes cleaned mail into the Maildir
~/.local/share/pixelguard/Maildir. See docs/relay.md.
"""
from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import signal
import socket
import ssl
import sys
from collections.abc import Sequence

from pixelguard.relay.admission import is_loopback
from pixelguard.relay.cleaning import Cleaner
from pixelguard.relay.credentials import CredentialError, read_secret
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
from pixelguard.relay.workers import WorkerDied

__all__ = ["RelayServer", "Settings", "build_relay", "main"]

log = logging.getLogger("pixelguard.relay")


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
    except CredentialError as exc:
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


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="pixelguard relay",
        description="SMTP/LMTP relay that removes tracking pixels in flight. "
        "250 only once the next hop has the message.",
    )
    p.add_argument("--config", metavar="F", help="YAML config file (relay: section); "
                   "default: ~/.config/pixelguard.yaml if it exists, else built-in defaults")
    p.add_argument("--listen", metavar="HOST:PORT", help="address to listen on (default 127.0.0.1:10025)")
    p.add_argument(
        "--next-hop",
        metavar="URL",
        help="smtp://host:port, lmtp://host:port, lmtp:/path.sock or maildir:/path "
        f"(default: maildir:{default_maildir()})",
    )
    # Benchmark baseline only: forward without cleaning.
    p.add_argument("--pass-through", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="default INFO")
    return p


def main(argv: Sequence[str]) -> int:
    from pixelguard.cli import load_config_or_exit
    from pixelguard.config import parse_hostport, parse_next_hop
    from pixelguard.config_file import find_config

    parser = _parser()
    args = parser.parse_args(list(argv))
    path = find_config(args.config)
    config = load_config_or_exit(path)
    update = {}
    if args.listen is not None:
        try:
            parse_hostport(args.listen)
        except ValueError as exc:
            parser.error(f"--listen: {exc}")
        update["listen"] = args.listen.strip()
    if args.next_hop is not None:
        try:
            parse_next_hop(args.next_hop)
        except ValueError as exc:
            parser.error(f"--next-hop: {exc}")
        update["next_hop"] = args.next_hop.strip()

    def with_options(config):  # the command line wins over the file, at start and on reload
        return config.model_copy(update={"relay": config.relay.model_copy(update=update)}) if update else config

    config = with_options(config)

    logging.basicConfig(
        stream=sys.stderr,
        level=getattr(logging, args.log_level),
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd's per-command chatter

    try:
        server = build_relay(config, Cleaner(config.relay.workers, enabled=not args.pass_through, auth=config.auth))
    except SetupError as exc:
        print(f"pixelguard relay: {exc}", file=sys.stderr)
        return 2
    return asyncio.run(_serve(server, config, path, with_options))


async def _serve(server: RelayServer, config, path: str | None, with_options) -> int:
    from pixelguard.relay.reload import Reloader

    relay = config.relay
    cleaner = server.handler.cleaner
    loop = asyncio.get_running_loop()
    reloader = Reloader(server, path, config, with_options)
    loop.add_signal_handler(signal.SIGHUP, reloader.request)  # from the start: SIGHUP's default kills
    try:
        await loop.run_in_executor(None, cleaner.start)
    except (OSError, WorkerDied) as exc:
        print(f"pixelguard relay: cannot start the cleaning workers: {exc}", file=sys.stderr)
        cleaner.close()
        return 1
    try:
        await server.start()
    except OSError as exc:
        what = f"listen on {relay.listen}" if server.port is None else f"serve metrics on {relay.metrics}"
        print(f"pixelguard relay: cannot {what}: {exc.strerror or exc}", file=sys.stderr)
        cleaner.close()
        return 1
    hop = server.handler.runtime.next_hop.url
    mode = "pass-through (NOT cleaning)" if not cleaner.enabled else f"cleaning with {cleaner.workers or 'thread'} workers"
    log.info(
        "listening on %s:%s (%s), next hop %s, %s%s; config %s",
        server.settings.host,
        server.port,
        relay.protocol,
        hop,
        mode,
        f", metrics on http://{relay.metrics}/metrics" if relay.metrics else "",
        path or "none (built-in defaults)",
    )
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    reloader.close()  # a SIGHUP from now on is ignored (still handled: its default kills)
    log.info("shutting down: finishing transactions in flight")
    clean = await server.shutdown(grace=min(reloader.config.relay.timeout, 60.0))
    await loop.run_in_executor(None, cleaner.close)
    log.info("stopped%s", "" if clean else " (some sessions were cut off after the grace period)")
    return 0


def _hostport(text: str) -> tuple[str, int]:
    from pixelguard.config import parse_hostport

    return parse_hostport(text)
