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

from pixelguard import sd_notify
from pixelguard.service_command import add_level_option, checked, service_parser, start_logging

__all__ = ["main"]

log = logging.getLogger("pixelguard.milter")


def _parser() -> argparse.ArgumentParser:
    p = service_parser(
        "milter",
        "Milter that removes tracking pixels while the MTA (Postfix, Sendmail) holds "
        "the message. It never rejects or defers mail.",
        "SOCKET",
        "inet:127.0.0.1:10030 (default), inet:PORT@HOST or unix:/path/milter.sock",
    )
    add_level_option(p)
    return p


def main(argv: Sequence[str]) -> int:
    from pixelguard.config import find_and_load, parse_milter_socket
    from pixelguard.milter import libmilter_socket, listen_refusal, tcp_port

    parser = _parser()
    args = parser.parse_args(list(argv))
    path, config = find_and_load(args.config)
    update = {}
    if args.listen is not None:
        update["listen"] = checked(parser, "--listen", args.listen, parse_milter_socket)

    def with_options(config):  # the command line wins over the file, at start and on reload
        return config.model_copy(update={"milter": config.milter.model_copy(update=update)}) if update else config

    config = with_options(config)
    milter = config.milter
    listen = milter.listen
    refusal = listen_refusal(listen, milter.allow_remote)
    if refusal is not None:
        print(f"pixelguard milter: {refusal}", file=sys.stderr)
        return 2
    start_logging(args.log_level)

    try:
        import Milter
    except ImportError:
        print("pixelguard milter: needs pymilter, an optional dependency: "
              "pip install 'pixelguard[milter]' (it builds against libmilter: on Debian, "
              "apt-get install libmilter-dev python3-dev gcc first)", file=sys.stderr)
        return 2

    from pixelguard.milter.door import Door, Settings
    from pixelguard.milter.listener import BLOCKED, serve
    from pixelguard.milter.reload import Reloader
    from pixelguard.milter.session import WANTED_ACTIONS, Session
    from pixelguard.relay.cleaning import Cleaner
    from pixelguard.relay.workers import WorkerDied

    # SIGTERM/SIGINT stop the milter and SIGHUP reloads it: the main thread takes them
    # (listener.py) and every other thread must block them, or the kernel may give one to a
    # thread whose default action ends the process with messages in flight, or a SIGHUP to
    # libmilter's signal thread, which stops the milter. Threads inherit the mask: block them
    # before any starts. (Worker processes unblock the stop signals for themselves,
    # relay/workers.py.)
    signal.pthread_sigmask(signal.SIG_BLOCK, BLOCKED)
    cleaner = Cleaner(milter.workers, auth=config.auth)
    try:
        cleaner.start()
    except (OSError, WorkerDied) as exc:
        print(f"pixelguard milter: cannot start the cleaning workers: {exc}", file=sys.stderr)
        cleaner.close()
        return 1
    door = Door(config, cleaner, Settings.of(milter))
    if milter.metrics:
        from pixelguard.config_fields import parse_hostport

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
        error = serve("pixelguard", libmilter_socket(listen), timeout=max(60, int(milter.timeout) * 2),
                      reload=Reloader(door, path, config, with_options).reload, ready=sd_notify.ready)
    finally:
        sd_notify.stopping()
        log.info("shutting down: finishing the messages in flight")
        finished = door.close()  # each message in flight gets the timeout it began with
    if error is not None:
        print(f"pixelguard milter: cannot listen on {listen}: {error}", file=sys.stderr)
        return 1
    log.info("stopped%s", "" if finished else " (messages still in flight were left to the MTA's default action)")
    return 0
