"""A local lock per account, so two runs on one machine never work on a mailbox at once.

The state that matters lives on the server (see replace.py: a cleaned copy that lost a race
with another run is dropped again); this lock only spares the second run on the same
machine the wasted work. It is an flock(2) on a file in the directory systemd made for
the service ($RUNTIME_DIRECTORY, which `RuntimeDirectory=pixelguard` in the unit sets to
/run/pixelguard), else under $XDG_RUNTIME_DIR/pixelguard (a login session), else
~/.cache/pixelguard; named after host, port and username, so two config entries for the
same mailbox share it. The kernel releases it when the process ends, however it ends: a
crash leaves nothing to clean up.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pixelguard.imap.connection import UnreachableError, _where
from pixelguard.imap.settings import ImapAccount

log = logging.getLogger("pixelguard.imap")

LOCK_WAIT = 5.0  # seconds a second run waits for the first before giving up (exit 75)
_POLL = 0.05  # how often the lock is tried while waiting


class BusyError(UnreachableError):
    """Another pixelguard process on this machine is working on the account: retry later."""


def lock_dir() -> Path:
    service = os.environ.get("RUNTIME_DIRECTORY", "").split(":")[0]  # systemd: may list several
    if service and os.path.isabs(service):
        return Path(service)
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isabs(runtime):
        return Path(runtime) / "pixelguard"
    return Path.home() / ".cache" / "pixelguard"


def lock_path(account: ImapAccount) -> Path:
    key = f"{account.host.lower()}:{account.port}:{account.username}"
    return lock_dir() / f"imap-{hashlib.sha256(key.encode()).hexdigest()[:24]}.lock"


@contextmanager
def account_lock(account: ImapAccount, wait: float = LOCK_WAIT) -> Iterator[None]:
    """Hold the account's lock for the block. Raises BusyError when another process holds
    it for longer than `wait` seconds. When no lock file can be made (read-only home, …) the
    block runs without it, after a debug line: the server-side checks still prevent
    duplicates."""
    path = lock_path(account)
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        log.debug("%s: no local lock (%s); relying on the server-side checks", account.name, exc)
        yield
        return
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise BusyError(
                        f"{_where(account)}: another pixelguard process on this machine is "
                        f"cleaning this account (lock {path}); skipped, the next run continues"
                    ) from None
                time.sleep(_POLL)  # polling interval while waiting for the other process
        yield
    finally:
        os.close(fd)  # also releases the lock
