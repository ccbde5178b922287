"""Reading a running service's config file again on SIGHUP: what the relay and the milter
share (relay/reload.py, milter/reload.py say what a reload changes for each).

The file is read as at start (the command-line options applied again, ConfigWarnings
collected); the settings of the service's section that are bound at start keep the value the
service started with, and each that changed in the file is named in a warning (a restart
applies it). The log lines are the same for both services: "configuration reloaded", one
error line naming file, line and key when the file does not load, and a warning when the
service started without a file.
"""
from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pixelguard.config import Config, ConfigError, ConfigWarning, load_config
from pixelguard.relay.logline import logfmt

__all__ = ["Reread", "log_no_file", "log_refused", "log_reloaded", "log_reread", "reread", "restart_only_changes"]


@dataclass(frozen=True)
class Reread:
    """A config file read again."""

    config: Config  # as the file says (command-line options applied)
    effective: Config  # what to put in effect: the restart-only settings as the service started
    notes: list[str]  # the texts of the file's ConfigWarnings


def reread(path: str, started: Config, section: str, restart_only: Sequence[str],
           adjust: Callable[[Config], Config]) -> Reread:
    """The file at `path` loaded again, `adjust` (the command-line options) applied; in its
    `effective` config the keys `restart_only` of `section` are as in `started`. Raises
    ConfigError."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConfigWarning)
        config = adjust(load_config(path))
    notes = [str(w.message) for w in caught if issubclass(w.category, ConfigWarning)]
    kept = {key: getattr(getattr(started, section), key) for key in restart_only}
    effective = config.model_copy(update={section: getattr(config, section).model_copy(update=kept)})
    return Reread(config, effective, notes)


def restart_only_changes(running: Config, new: Config, section: str, restart_only: Sequence[str]) -> list[str]:
    """The dotted keys of `section` bound at start (`restart_only`) whose value differs in `new`."""
    before, after = getattr(running, section), getattr(new, section)
    return [f"{section}.{key}" for key in restart_only if getattr(before, key) != getattr(after, key)]


def log_reread(log: logging.Logger, started: Config, got: Reread, section: str,
               restart_only: Sequence[str]) -> None:
    """Warn of the file's ConfigWarnings and of each restart-only setting that changed."""
    for note in got.notes:
        log.warning(logfmt(msg="config warning", warning=note))
    for key in restart_only_changes(started, got.config, section, restart_only):
        field = key.removeprefix(f"{section}.")
        log.warning(
            logfmt(
                msg=f"{key} changed; restart pixelguard to apply",
                running=getattr(getattr(started, section), field),
                configured=getattr(getattr(got.config, section), field),
            )
        )


def log_reloaded(log: logging.Logger, path: str, **more: object) -> None:
    log.info(logfmt(msg="configuration reloaded", file=path, **more))


def log_no_file(log: logging.Logger) -> None:
    log.warning(logfmt(msg="SIGHUP: started without --config, nothing to reload"))


def log_refused(log: logging.Logger, path: str | None, exc: Exception,
                expected: tuple[type[Exception], ...] = (ConfigError,)) -> None:
    """One error line for a reload that changed nothing: the first problem (FILE:LINE: KEY:
    what; the exception's class too when it is not one of `expected`), and how many more
    the file has."""
    error = str(exc) if isinstance(exc, expected) else f"{exc.__class__.__name__}: {exc}"
    first, *others = error.splitlines() or [""]
    log.error(
        logfmt(
            msg="configuration not reloaded; still running with the previous one",
            file=path,
            error=first,
            more_errors=len(others) or None,
        )
    )
