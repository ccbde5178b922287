"""Maildir delivery: one file per recipient, written to tmp/, fsynced, then renamed into new/."""
from __future__ import annotations

import itertools
import os
import socket
import time

from pixelguard.headers import prepend_header

_counter = itertools.count(1)


def default_maildir() -> str:
    """Where `pixelguard relay` delivers when no next hop is configured.

    $XDG_DATA_HOME/pixelguard/Maildir, i.e. ~/.local/share/pixelguard/Maildir by default:
    the user's own data directory, never their real ~/Maildir.
    """
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(base, "pixelguard", "Maildir")


def ensure_maildir(path: str) -> None:
    """Create path/{tmp,new,cur} (and parents) if missing."""
    for sub in ("tmp", "new", "cur"):
        os.makedirs(os.path.join(path, sub), mode=0o700, exist_ok=True)


def _unique_name() -> str:
    now = time.time()
    host = socket.gethostname().replace("/", "\\057").replace(":", "\\072")
    return f"{int(now)}.M{int(now % 1 * 1e6)}P{os.getpid()}Q{next(_counter)}.{host}"


def deliver(path: str, content: bytes, recipient: str, sender: str) -> str:
    """Write one message for `recipient`; return its file name once it is safely in new/.

    Adds Return-Path and Delivered-To (as an MDA does) and stores LF line endings.
    Raises OSError when the message could not be stored.
    """
    ensure_maildir(path)
    raw = content.replace(b"\r\n", b"\n")
    raw = prepend_header(raw, "Delivered-To", recipient)
    raw = prepend_header(raw, "Return-Path", f"<{sender}>")
    name = _unique_name()
    tmp = os.path.join(path, "tmp", name)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        os.rename(tmp, os.path.join(path, "new", name))
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    dir_fd = os.open(os.path.join(path, "new"), os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # the rename itself must survive a crash before we say 250
    finally:
        os.close(dir_fd)
    return name
