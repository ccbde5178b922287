"""Loading the config for a command: a problem is one line on stderr and exit status 2."""
from __future__ import annotations

import sys
import warnings
from collections.abc import Callable

from pixelguard.config.errors import ConfigError, ConfigWarning
from pixelguard.config.load import load_config
from pixelguard.config.model import Config


def print_config_warning(message: str) -> None:
    """One line per config warning, like the config errors: no Python file, line or class."""
    print(f"pixelguard: warning: {message}", file=sys.stderr)


def load_config_or_exit(
    path: str | None, warn: Callable[[str], None] = print_config_warning
) -> Config:
    """Load the config file (or defaults when path is None); on error print it and exit 2.

    Each ConfigWarning (e.g. an opted-in literal password) is handed to `warn` as its
    message alone ("FILE:LINE: key: what"), after the load, instead of Python's
    "path.py:N: ConfigWarning: ..." and source line; whatever the -W / PYTHONWARNINGS
    filters say. Other warnings raised meanwhile are shown as Python would show them.

    `clean` and `scan` without a file use `defaults.DEFAULTS` instead, which needs no
    pydantic (pixelguard/cli_filter.py)."""
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


def find_and_load(given: str | None) -> tuple[str | None, Config]:
    """The config file a service command uses (`given`, else the default file if it exists,
    else none: config_file.find_config) and its Config; on error print it and exit 2."""
    from pixelguard.config_file import find_config

    path = find_config(given)
    return path, load_config_or_exit(path)
