"""Reading a config file: text -> YAML with line numbers -> the validated Config, every
problem a ConfigError naming file, line and dotted key."""
from __future__ import annotations

import os
import shlex
import stat
import warnings

from pydantic import ValidationError

from pixelguard.config.error_map import error_from_pydantic, line_for
from pixelguard.config.errors import ConfigError, ConfigWarning
from pixelguard.config.model import Config
from pixelguard.config.yaml_lines import Path, compose
from pixelguard.config_fields import describe


def parse_config(text: str, filename: str = "<config>") -> Config:
    """Validate config text. Relative paths in it are taken from `filename`'s directory."""
    return _parse(text, filename, None)


def _parse(text: str, filename: str, file_mode: int | None) -> Config:
    """parse_config; `file_mode` is the permission bits of the file the text was read from
    (None: not read from a regular file), for the warning about a literal password."""
    data, lines = compose(text, filename)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            "the config must be a mapping of sections (defaults:, users:, ...), "
            f"got {describe(data)}",
            filename,
            lines.get((), 1),
        )
    # "<config>"-style names are not files: relative paths are then taken from the cwd.
    in_file = not filename.startswith("<")
    base_dir = os.path.dirname(os.path.abspath(filename)) if in_file else os.getcwd()
    try:
        cfg = Config.model_validate(data, context={"base_dir": base_dir})
    except ValidationError as exc:
        errors = [error_from_pydantic(e, data, lines, filename, Config) for e in exc.errors()]
        errors.sort(key=lambda e: (e.line or 0))
        first = errors[0]
        raise ConfigError(first.message, first.file, first.line, first.key, errors[1:]) from None
    _warn_literal_passwords(cfg, lines, filename, file_mode)
    return cfg


def _warn_literal_passwords(
    cfg: Config, lines: dict[Path, int], filename: str, file_mode: int | None
) -> None:
    """One warning per account with an (opted-in) literal password; louder when the file is
    readable by group or others, like fetchmail's check of .fetchmailrc. Never the value."""
    exposed = file_mode & 0o077 if file_mode is not None else 0
    who = " and ".join(w for w, bits in (("group", 0o070), ("others", 0o007)) if exposed & bits)
    for i, account in enumerate(cfg.imap.accounts):
        if account.password is not None:
            path: Path = ("imap", "accounts", i, "password")
            line = line_for(path, lines)
            where = f"{filename}:{line}" if line else filename
            if who:
                advice = (
                    f", and the file is readable by {who} (mode {file_mode:04o}): "
                    f"chmod 600 {shlex.quote(filename)} (owned by the user pixelguard runs as), "
                    "or better use password_command or password_env"
                )
            else:
                advice = "; prefer password_command or password_env (and keep this file private)"
            warnings.warn(
                f"{where}: imap.accounts[{i}].password: a literal password in the config file "
                f"(allow_literal_password: true){advice}",
                ConfigWarning,
                stacklevel=4,
            )


def load_config(path: str | None) -> Config:
    """Read and validate a config file; None gives the all-defaults Config. Raises ConfigError."""
    if path is None:
        return Config()
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
            st = os.fstat(fh.fileno())
    except FileNotFoundError:
        raise ConfigError("no such file", path) from None
    except IsADirectoryError:
        raise ConfigError("is a directory, not a config file", path) from None
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror or exc}", path) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError("not valid UTF-8 text", path, line) from None
    # Only a regular file's mode says who can read it (not a pipe, not /dev/stdin).
    regular = stat.S_ISREG(st.st_mode) and os.name == "posix"
    file_mode = stat.S_IMODE(st.st_mode) if regular else None
    cfg = _parse(text, path, file_mode)
    _check_lists(cfg)
    return cfg


def _check_lists(cfg: Config) -> None:
    """Load the extra tracker lists once now, so a broken list is a config error at start-up
    (naming the list file and line) rather than a surprise on the first message."""
    if not cfg.lists:
        return
    from pixelguard.trackers import TrackerListError, load_lists

    try:
        load_lists(list(cfg.lists))
    except TrackerListError as exc:
        raise ConfigError(exc.message, exc.file, exc.line or None, "lists") from None

