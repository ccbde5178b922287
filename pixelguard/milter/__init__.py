"""`pixelguard milter`: a milter (Postfix `smtpd_milters`, Sendmail `INPUT_MAIL_FILTER`) that
cleans mail while the MTA holds it.

    pixelguard milter [--config F] [--listen inet:127.0.0.1:10030 | unix:/path]

Built on pymilter (libmilter, the protocol's reference implementation). See docs/milter.md.
"""
from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Sequence

__all__ = ["libmilter_socket", "listen_refusal", "main"]

log = logging.getLogger("pixelguard.milter")


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
    from pixelguard.relay.admission import is_loopback

    if is_loopback(host):
        return None
    return (f"refusing to listen on {listen}: not a loopback address. Anyone who reaches the port "
            "can hand pixelguard mail to clean; if the MTA runs on another host, firewall the port "
            "and set milter.allow_remote: true.")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="pixelguard milter",
        description="Milter that removes tracking pixels while the MTA (Postfix, Sendmail) holds "
        "the message. It never rejects or defers mail.",
    )
    p.add_argument("--config", metavar="F", help="YAML config file (milter: section); "
                   "default: ~/.config/pixelguard.yaml if it exists, else built-in defaults")
    p.add_argument("--listen", metavar="SOCKET",
                   help="inet:127.0.0.1:10030 (default), inet:PORT@HOST or unix:/path/milter.sock")
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                   help="default INFO")
    return p


def main(argv: Sequence[str]) -> int:
    from pixelguard.cli import load_config_or_exit
    from pixelguard.config import parse_milter_socket
    from pixelguard.config_file import find_config

    parser = _parser()
    args = parser.parse_args(list(argv))
    path = find_config(args.config)
    config = load_config_or_exit(path)
    milter = config.milter
    listen = milter.listen
    if args.listen is not None:
        try:
            listen = parse_milter_socket(args.listen)
        except ValueError as exc:
            parser.error(f"--listen: {exc}")
    refusal = listen_refusal(listen, milter.allow_remote)
    if refusal is not None:
        print(f"pixelguard milter: {refusal}", file=sys.stderr)
        return 2
    logging.basicConfig(stream=sys.stderr, level=getattr(logging, args.log_level),
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")

    try:
        import Milter
    except ImportError:
        print("pixelguard milter: needs pymilter, an optional dependency: "
              "pip install 'pixelguard[milter]' (it builds against libmilter: on Debian, "
              "apt-get install libmilter-dev python3-dev gcc first)", file=sys.stderr)
        return 2

    from pixelguard.milter.door import Door, Settings
    from pixelguard.milter.session import WANTED_ACTIONS, Session
    from pixelguard.relay.cleaning import Cleaner
    from pixelguard.relay.workers import WorkerDied

    # libmilter waits for SIGTERM/SIGINT/SIGHUP in a thread of its own (sigwait) and then
    # stops taking connections; every other thread must block them, or the kernel may give
    # one to a thread whose default action ends the process with messages in flight.
    # Threads inherit the mask: block them before any starts. (Worker processes unblock
    # them for themselves, relay/workers.py.)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT, signal.SIGHUP})
    cleaner = Cleaner(milter.workers, auth=config.auth)
    try:
        cleaner.start()
    except (OSError, WorkerDied) as exc:
        print(f"pixelguard milter: cannot start the cleaning workers: {exc}", file=sys.stderr)
        cleaner.close()
        return 1
    door = Door(config, cleaner, Settings(milter.max_size, milter.timeout, milter.max_concurrent))
    if milter.metrics:
        from pixelguard.config import parse_hostport

        try:
            door.metrics.serve(*parse_hostport(milter.metrics))
        except OSError as exc:
            print(f"pixelguard milter: cannot serve metrics on {milter.metrics}: {exc.strerror or exc}",
                  file=sys.stderr)
            door.close()
            return 1
    door.tcp_port = tcp_port(listen)
    Milter.factory = lambda: Session(door)
    # the actions pixelguard may ask for; the MTA grants them or not (see Door._apply)
    Milter.set_flags(WANTED_ACTIONS)
    log.info("listening on %s, cleaning with %s workers; config %s", listen,
             cleaner.workers or "thread", path or "none (built-in defaults)")
    try:
        Milter.runmilter("pixelguard", libmilter_socket(listen), timeout=max(60, int(milter.timeout) * 2))
    except Milter.error as exc:
        print(f"pixelguard milter: cannot listen on {listen}: {exc}", file=sys.stderr)
        return 1
    finally:
        log.info("shutting down: finishing the messages in flight")
        finished = door.close(grace=milter.timeout)
    log.info("stopped%s", "" if finished else " (messages still in flight were left to the MTA's default action)")
    return 0
