"""Command line: clean / scan / check-config here; relay, milter, imap, report, restore and allow
delegate to their modules."""
from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence

# Services that reload on SIGHUP: ignored from the start until their handler is in place.
RELOADING_ON_SIGHUP = {"relay", "milter"}
# Subcommands implemented by an adapter module with its own `main(argv) -> int`.
DELEGATED = {
    "relay": "pixelguard.relay.command",
    "milter": "pixelguard.milter.command",
    "imap": "pixelguard.imap.command",
    "report": "pixelguard.report",
    "restore": "pixelguard.imap.restore",
    "allow": "pixelguard.allow",
}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] in DELEGATED:
            if argv[0] in RELOADING_ON_SIGHUP:
                from pixelguard.sd_notify import ignore_sighup

                ignore_sighup()  # before the imports and the config: SIGHUP's default ends the process
            module = importlib.import_module(DELEGATED[argv[0]])
            return int(module.main(argv[1:]) or 0)
        from pixelguard import cli_filter

        return cli_filter.main(argv)
    except BrokenPipeError:
        # The reader went away (`pixelguard scan DIR | head`): stop quietly, as `cat` does.
        # Python would otherwise print a traceback, and again when it flushes stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
