"""Command line: clean / scan / check-config here; relay, milter, imap, report, restore and allow
delegate to their modules."""
from __future__ import annotations

import importlib
import os
import sys
import warnings
from collections.abc import Callable, Sequence

# Subcommands implemented by an adapter module with its own `main(argv) -> int`.
DELEGATED = {
    "relay": "pixelguard.relay",
    "milter": "pixelguard.milter",
    "imap": "pixelguard.imap",
    "report": "pixelguard.report",
    "restore": "pixelguard.imap.restore",
    "allow": "pixelguard.allow",
}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] in DELEGATED:
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


def print_config_warning(message: str) -> None:
    """One line per config warning, like the config errors: no Python file, line or class."""
    print(f"pixelguard: warning: {message}", file=sys.stderr)


def load_config_or_exit(
    path: str | None, warn: Callable[[str], None] = print_config_warning, *, light: bool = False
):
    """Load the config file (or defaults when path is None); on error print it and exit 2.

    `light`: with no file, return `defaults.DEFAULTS`, which stands in for `Config()`
    without importing pydantic (for clean/scan, which start once per message).

    Each ConfigWarning (e.g. an opted-in literal password) is handed to `warn` as its
    message alone ("FILE:LINE: key: what"), after the load, instead of Python's
    "path.py:N: ConfigWarning: ..." and source line; whatever the -W / PYTHONWARNINGS
    filters say. Other warnings raised meanwhile are shown as Python would show them."""
    if path is None and light:
        from pixelguard.defaults import DEFAULTS

        return DEFAULTS
    from pixelguard.config import ConfigError, ConfigWarning, load_config

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConfigWarning)
        try:
            config = load_config(path)
        except ConfigError as exc:
            print(f"pixelguard: config error: {exc}", file=sys.stderr)
            raise SystemExit(2) from None
    for w in caught:
        if issubclass(w.category, ConfigWarning):
            warn(str(w.message))
        else:
            warnings.showwarning(w.message, w.category, w.filename, w.lineno, w.file, w.line)
    return config
