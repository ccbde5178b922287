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
from collections.abc import Sequence

from pixelguard.config_file import add_config_option
from pixelguard.relay.cleaning import Cleaner
from pixelguard.relay.logline import add_level_option, start_logging
from pixelguard.relay.maildir import default_maildir
from pixelguard.relay.server import RelayServer
from pixelguard.relay.setup import SetupError, build_relay
from pixelguard.relay.workers import WorkerDied

__all__ = ["main"]

log = logging.getLogger("pixelguard.relay")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="pixelguard relay",
        description="SMTP/LMTP relay that removes tracking pixels in flight. "
        "250 only once the next hop has the message.",
    )
    add_config_option(p, "relay")
    p.add_argument("--listen", metavar="HOST:PORT", help="address to listen on (default 127.0.0.1:10025)")
    p.add_argument(
        "--next-hop",
        metavar="URL",
        help="smtp://host:port, lmtp://host:port, lmtp:/path.sock or maildir:/path "
        f"(default: maildir:{default_maildir()})",
    )
    # Benchmark baseline only: forward without cleaning.
    p.add_argument("--pass-through", action="store_true", help=argparse.SUPPRESS)
    add_level_option(p)
    return p


def main(argv: Sequence[str]) -> int:
    from pixelguard.config import find_and_load, parse_hostport, parse_next_hop

    parser = _parser()
    args = parser.parse_args(list(argv))
    path, config = find_and_load(args.config)
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

    start_logging(args.log_level)
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
