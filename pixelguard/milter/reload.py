"""`pixelguard milter` on SIGHUP: read the config file again, apply what can change at run time.

From the reload on, messages whose MAIL FROM comes after it get the new per-user policies,
allow/deny lists, extra tracker lists and `links` lists, `limits`, `auth` (DKIM/ARC) and the
new `milter.max_size` and `milter.timeout`; `milter.max_concurrent` is one limit for every
message, in flight or new. A message in flight keeps the policy and the size and time limits
it began with; its tracker and link lists are the files as they are when it is cleaned. No
connection is dropped and libmilter's listener goes on; the cleaning workers keep running
and each swaps in a new cache before its next message (Cleaner.reload), so every tracker and
link list is read anew from its file, an edited one at the same path included.

Under systemd the reload is announced (RELOADING=1, then READY=1 when it is over, applied or
not: sd_notify.py).

Bound when the milter starts and kept until a restart (a warning names each that changed):
RESTART_ONLY. A file that does not load changes nothing: one error line naming file, line
and key, and the milter goes on with what it has (pixelguard/service_reload.py, as the relay).
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from pixelguard import sd_notify, service_reload
from pixelguard.config import Config
from pixelguard.milter.door import Door

log = logging.getLogger("pixelguard.milter")

# milter.* keys bound at start: the listening socket (and whether it may be remote), the
# metrics endpoint and the number of cleaning processes.
RESTART_ONLY = ("listen", "allow_remote", "metrics", "workers")


class Reloader:
    """Reloads the config file of a running milter; `reload` is what SIGHUP runs
    (listener.serve)."""

    def __init__(self, door: Door, path: str | None, started: Config,
                 adjust: Callable[[Config], Config] = lambda config: config) -> None:
        self.door = door
        self.path = path
        self.started = started  # as the milter started (command-line options applied)
        self.adjust = adjust  # the command-line options, which win over the file as at start
        self._lock = threading.Lock()  # one reload at a time

    def reload(self) -> bool:
        """Read the file again and apply it; True when the new configuration is in effect."""
        if self.path is None:
            service_reload.log_no_file(log)
            return False
        with self._lock:
            began = sd_notify.reloading()
            try:
                got = service_reload.reread(self.path, self.started, "milter", RESTART_ONLY, self.adjust)
            except Exception as exc:  # noqa: BLE001 - a reload must never stop the milter
                service_reload.log_refused(log, self.path, exc)
                return False
            else:
                service_reload.log_reread(log, self.started, got, "milter", RESTART_ONLY)
                self.door.reconfigure(got.effective)
                service_reload.log_reloaded(log, self.path)
                return True
            finally:
                sd_notify.reloaded(began)  # the reload is over, applied or not
