"""Command line: clean / scan / check-config here; relay, imap and report delegate to their modules."""
from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

# Subcommands implemented by an adapter module with its own `main(argv) -> int`.
DELEGATED = {"relay": "pixelguard.relay", "imap": "pixelguard.imap", "report": "pixelguard.report"}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in DELEGATED:
        module = importlib.import_module(DELEGATED[argv[0]])
        return int(module.main(argv[1:]) or 0)
    from pixelguard import cli_filter

    return cli_filter.main(argv)


def load_config_or_exit(path: str | None):
    """Load the config file (or defaults when path is None); on error print it and exit 2."""
    from pixelguard.config import ConfigError, load_config

    try:
        return load_config(path)
    except ConfigError as exc:
        print(f"pixelguard: config error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def usage_error(parser: argparse.ArgumentParser, message: str) -> None:
    parser.error(message)  # exits 2 with usage on stderr
