"""Where the config file is when no --config is given: `$XDG_CONFIG_HOME/pixelguard.yaml`,
that is `~/.config/pixelguard.yaml` unless XDG_CONFIG_HOME says otherwise (XDG Base
Directory spec: a relative XDG_CONFIG_HOME is ignored). Only `os` is imported, so a command
that finds no file stays cheap to start.

One name in one place: `~/.config/pixelguard/config.yaml` is not read, so there is never a
question which of two files applies; a hint on stderr says so when only that one exists.
"""
from __future__ import annotations

import os

FILE_NAME = "pixelguard.yaml"


def config_home() -> str:
    xdg = os.environ.get("XDG_CONFIG_HOME", "")
    if xdg and os.path.isabs(xdg):
        return xdg
    return os.path.join(os.path.expanduser("~"), ".config")


def default_config_path() -> str:
    """The file every command reads when no --config is given (it need not exist)."""
    return os.path.join(config_home(), FILE_NAME)


def find_config(given: str | None) -> str | None:
    """The config file to load: `given` when set, else the default file when it exists,
    else None (built-in defaults)."""
    if given is not None:
        return given
    path = default_config_path()
    if os.path.exists(path):
        return path
    other = os.path.join(config_home(), "pixelguard", "config.yaml")
    if os.path.isfile(other):
        import sys

        print(f"pixelguard: warning: {other} is not read; pixelguard reads {path} "
              "(or the file given with --config)", file=sys.stderr)
    return None


def require_config(given: str | None, parser, why: str) -> str:
    """`find_config(given)` for a command that cannot run on built-in defaults: without a
    file it exits 2 through `parser.error` (an argparse parser), saying where one goes and
    `why` it is needed."""
    path = find_config(given)
    if path is None:
        parser.error(f"no config file: give --config F or create {default_config_path()}; {why}")
    return path


def add_config_option(parser, section: str) -> None:
    """`--config F` of a service that runs on built-in defaults without a file (argparse)."""
    parser.add_argument("--config", metavar="F", help=f"YAML config file ({section}: section); "
                        "default: ~/.config/pixelguard.yaml if it exists, else built-in defaults")


def add_required_config_option(parser, holds: str) -> None:
    """`--config F` of a command that needs a file (require_config); `holds`: what the file
    is to it (argparse)."""
    parser.add_argument("--config", metavar="F", help=f"{holds} (default: ~/.config/pixelguard.yaml)")


def describe_source(path: str | None) -> str:
    """One line saying which config applies, for -v and check-config."""
    if path is None:
        return f"config: none (built-in defaults; no {default_config_path()})"
    return f"config: {path}"
