"""Run the `pixelguard` command line inside the test process, as `python -m pixelguard ARGS`
would run it, and get back what the process would give: its exit status, stdout and stderr.

A subprocess costs a Python start and every import again (0.15 s for `clean`, 0.4 s for a
command that reads a config file), so a test about what a command prints or which status it
exits with runs it here. What only a
process shows (a cold start's imports, `-W` flags, a closed or full stdout at the file
descriptor level, reading the real stdin) stays a real subprocess in the test about it.

The call sees the given environment, stdin and stdout/stderr in memory
(with a pipe's 80 columns for argparse), and `sys.argv` as `python -m pixelguard` sets it.
What a command changes that outlives it in a process (environment, working directory, the
SIGTERM/SIGINT handlers and the signal mask, the pixelguard loggers and the root logger's
handlers, the warnings filters, the cyclic
collector's settings) is put back afterwards, and each run starts with an empty process cache
(pixelguard.cache) as a new process does, so one run cannot reach the next test."""
from __future__ import annotations

import gc
import io
import logging
import os
import signal
import sys
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pixelguard
from pixelguard import cache

MAIN_PATH = str(Path(pixelguard.__file__).with_name("__main__.py"))  # sys.argv[0] under -m


@dataclass
class Ran:
    """What `subprocess.run(..., capture_output=True)` gives, for the same command."""

    args: list[str]
    returncode: int
    stdout: bytes | str
    stderr: bytes | str


def _loggers() -> list[logging.Logger]:
    return [logging.getLogger()] + [lg for lg in logging.root.manager.loggerDict.values()
                                    if isinstance(lg, logging.Logger)]


def _restore_logging(saved: dict[logging.Logger, tuple[list, bool, int]]) -> None:
    """Loggers as they were; one first made during the run as a new logger is (pixelguard
    configures loggers in functions only, never when a module is imported)."""
    for logger in _loggers():
        handlers, propagate, level = saved.get(logger, ([], True, logging.NOTSET))
        logger.handlers[:] = handlers
        logger.propagate = propagate
        logger.setLevel(level)


def _decode(data: bytes) -> str:
    return data.decode("utf-8", "replace").replace("\r\n", "\n").replace("\r", "\n")


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """warnings.showwarning as the interpreter's: the formatted warning on sys.stderr."""
    sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


def run_cli(*args: str, stdin: bytes = b"", env: Mapping[str, str] | None = None,
            text: bool = False) -> Ran:
    """`pixelguard ARGS` in this process. `env`, as for subprocess, is the whole environment
    of the command (default: this process's); `text` decodes stdout and stderr."""
    from pixelguard.cli import main

    out, err = io.BytesIO(), io.BytesIO()
    saved_std = sys.stdin, sys.stdout, sys.stderr, sys.argv
    saved_env = dict(os.environ)
    saved_cwd = os.getcwd()
    saved_signals = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    saved_logging = {lg: (list(lg.handlers), lg.propagate, lg.level) for lg in _loggers()}
    saved_gc = gc.isenabled(), gc.get_threshold(), gc.get_freeze_count()
    saved_mask = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    # a process's root logger has no handler (pytest's capture handlers would take its lines)
    logging.getLogger().handlers[:] = []
    cache.swap()  # a process's first message finds nothing kept
    # kept in locals too: a wrapper that is collected closes the BytesIO under it
    sys.stdin = stdin_w = io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8")
    sys.stdout = stdout_w = io.TextIOWrapper(out, encoding="utf-8", write_through=True)
    sys.stderr = stderr_w = io.TextIOWrapper(err, encoding="utf-8", errors="backslashreplace",
                                             write_through=True)
    sys.argv = [MAIN_PATH, *args]
    if env is not None:
        os.environ.clear()
        os.environ.update(env)
    os.environ.setdefault("COLUMNS", "80")  # argparse's width when stdout is a pipe
    try:
        # warnings as a process shows them: on its stderr, with the interpreter's default
        # filters (pytest records them instead, and sets its own filters)
        with warnings.catch_warnings():
            warnings.resetwarnings()
            warnings.simplefilter("default")
            warnings.showwarning = _show_warning
            try:
                code = main(list(args))
            except SystemExit as exc:  # what the interpreter makes of it at exit
                if exc.code is None or isinstance(exc.code, int):
                    code = exc.code or 0
                else:
                    print(exc.code, file=sys.stderr)
                    code = 1
        stdout_w.flush()
        stderr_w.flush()
    finally:
        sys.stdin, sys.stdout, sys.stderr, sys.argv = saved_std
        os.environ.clear()
        os.environ.update(saved_env)
        os.chdir(saved_cwd)
        for sig, handler in saved_signals.items():
            signal.signal(sig, handler)
        signal.pthread_sigmask(signal.SIG_SETMASK, saved_mask)
        _restore_logging(saved_logging)
        enabled, threshold, frozen = saved_gc
        if gc.get_freeze_count() != frozen:
            gc.unfreeze()
        gc.set_threshold(*threshold)
        if enabled:
            gc.enable()
        else:
            gc.disable()
        cache.swap()
    stdout, stderr = out.getvalue(), err.getvalue()
    del stdin_w, stdout_w, stderr_w
    if text:
        return Ran(list(args), code, _decode(stdout), _decode(stderr))
    return Ran(list(args), code, stdout, stderr)
