"""`pixelguard relay`: an SMTP/LMTP relay that cleans mail in flight.

    pixelguard relay [--config F] [--listen HOST:PORT] [--next-hop URL]

With no config it listens on 127.0.0.1:10025 and writes cleaned mail into the Maildir
~/.local/share/pixelguard/Maildir. See docs/relay.md.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pixelguard import sd_notify
from pixelguard.relay.cleaning import Cleaner
from pixelguard.relay.maildir import default_maildir
from pixelguard.relay.server import RelayServer
from pixelguard.relay.setup import SetupError, build_relay
from pixelguard.relay.workers import WorkerDied
from pixelguard.service_command import add_level_option, checked, service_parser, start_logging

if TYPE_CHECKING:
    from pixelguard.config import Config

__all__ = ["Start", "main", "read_command_line", "run"]

log = logging.getLogger("pixelguard.relay")


def _parser() -> argparse.ArgumentParser:
    p = service_parser(
        "relay",
        "SMTP/LMTP relay that removes tracking pixels in flight. "
        "250 only once the next hop has the message.",
        "HOST:PORT",
        "address to listen on (default 127.0.0.1:10025)",
    )
    p.add_argument(
        "--next-hop",
        metavar="URL",
        help="smtp://host:port, lmtp://host:port, lmtp:/path.sock or maildir:/path "
        f"(default: maildir:{default_maildir()})",
    )
    add_level_option(p)
    return p


@dataclass(frozen=True)
class Start:
    """What the command line asks for: the config file (None: built-in defaults), the config
    with the command line's options applied, how to apply them again to a reloaded config,
    and the log level."""

    path: str | None
    config: Config
    with_options: Callable[[Config], Config]
    log_level: str


def read_command_line(argv: Sequence[str]) -> Start:
    """The relay's options and config; a usage or config error exits 2 with a message."""
    from pixelguard.config import find_and_load, parse_hostport, parse_next_hop

    parser = _parser()
    args = parser.parse_args(list(argv))
    path, config = find_and_load(args.config)
    update = {}
    if args.listen is not None:
        checked(parser, "--listen", args.listen, parse_hostport)
        update["listen"] = args.listen.strip()
    if args.next_hop is not None:
        checked(parser, "--next-hop", args.next_hop, parse_next_hop)
        update["next_hop"] = args.next_hop.strip()

    def with_options(config):  # the command line wins over the file, at start and on reload
        return config.model_copy(update={"relay": config.relay.model_copy(update=update)}) if update else config

    return Start(path, with_options(config), with_options, args.log_level)


def run(start: Start, cleaner: Cleaner) -> int:
    """Serve until SIGTERM/SIGINT with `cleaner` doing the cleaning; the exit code."""
    start_logging(start.log_level)
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd's per-command chatter

    try:
        server = build_relay(start.config, cleaner)
    except SetupError as exc:
        print(f"pixelguard relay: {exc}", file=sys.stderr)
        return 2
    return asyncio.run(_serve(server, start.config, start.path, start.with_options))


def main(argv: Sequence[str]) -> int:
    start = read_command_line(argv)
    return run(start, Cleaner(start.config.relay.workers, auth=start.config.auth))


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
    log.info(
        "listening on %s:%s (%s), next hop %s, %s%s; config %s",
        server.settings.host,
        server.port,
        relay.protocol,
        hop,
        cleaner.describe(),
        f", metrics on http://{relay.metrics}/metrics" if relay.metrics else "",
        path or "none (built-in defaults)",
    )
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    sd_notify.ready()  # listening: systemd counts the relay as started and may send reloads
    await stop.wait()
    sd_notify.stopping()
    reloader.close()  # a SIGHUP from now on is ignored (still handled: its default kills)
    log.info("shutting down: finishing transactions in flight")
    clean = await server.shutdown(grace=min(reloader.config.relay.timeout, 60.0))
    await loop.run_in_executor(None, cleaner.close)
    log.info("stopped%s", "" if clean else " (some sessions were cut off after the grace period)")
    return 0
