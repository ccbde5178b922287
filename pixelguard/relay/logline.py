"""One structured log line per message, logfmt style: key=value, values quoted when needed;
and the log setup the long-running commands share (relay, milter): a --log-level option and
`time name level message` lines on stderr."""
from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def _value(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.1f}"
    text = str(v)
    if text and not any(c in text for c in ' "=\\\n\r\t'):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r") + '"'


def logfmt(**fields: Any) -> str:
    """`id=abc from=<a@b> to=x@y ...` in the order given; None values are left out."""
    return " ".join(f"{k}={_value(v)}" for k, v in fields.items() if v is not None)


def add_level_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--log-level", default="INFO", choices=LEVELS, help="default INFO")


def start_logging(level: str) -> None:
    """Log lines at `level` and above to stderr (journald keeps them as they are)."""
    logging.basicConfig(stream=sys.stderr, level=getattr(logging, level),
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
