"""The command line the long-running services share (`pixelguard relay`, `pixelguard milter`):
the opening of their parsers (--config for a service that runs on built-in defaults), the
--log-level option with `time name level message` lines on stderr, and options whose value a
parser function checks."""
from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from typing import TypeVar

from pixelguard.config_file import add_config_option

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")

T = TypeVar("T")


def service_parser(command: str, description: str, listen: str, listen_help: str) -> argparse.ArgumentParser:
    """The parser of `pixelguard COMMAND`, opened with --config (the file's COMMAND section)
    and --listen (metavar `listen`)."""
    parser = argparse.ArgumentParser(prog=f"pixelguard {command}", description=description)
    add_config_option(parser, command)
    parser.add_argument("--listen", metavar=listen, help=listen_help)
    return parser


def add_level_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--log-level", default="INFO", choices=LEVELS, help="default INFO")


def start_logging(level: str) -> None:
    """Log lines at `level` and above to stderr (journald keeps them as they are)."""
    logging.basicConfig(stream=sys.stderr, level=getattr(logging, level),
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")


def checked(parser: argparse.ArgumentParser, option: str, text: str, parse: Callable[[str], T]) -> T:
    """`parse(text)`, the value given to `option`; one it refuses (ValueError) ends the
    command through `parser.error` (exit 2), naming the option."""
    try:
        return parse(text)
    except ValueError as exc:
        parser.error(f"{option}: {exc}")
