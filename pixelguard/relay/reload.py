"""`pixelguard relay` on SIGHUP: read the config file again, apply what can change at run time.

From the reload on, new transactions get the new per-user policies, allow/deny lists, extra
tracker lists, `limits`, `auth` (DKIM/ARC) and next hop (`next_hop`, `next_hop_tls`,
`next_hop_auth`, `timeout`); new client sessions get the new `max_size`, `timeout`,
`max_connections`, `allow_networks`, `tls_cert`/`tls_key` (read again, so a renewed
certificate is taken) and `auth_users`. Whatever is in progress keeps the policies, limits
and next hop it started with; its tracker and link lists are the files as they are when it
is cleaned. The cleaning workers keep running: each swaps in a new cache
before its next message (Cleaner.reload), so every tracker and link list is read anew from its
file, an edited one at the same path included.

Bound when the relay starts and kept until a restart (a warning names each that changed):
RESTART_ONLY. A file that does not load, or a configuration the relay would refuse to start
with (an open relay, an unreadable certificate, a failing password_command), changes
nothing: one error line, and the relay goes on with what it has. Under systemd each reload is
announced (RELOADING=1, then READY=1 when it is over, applied or not: sd_notify.py).
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from pixelguard import sd_notify, service_reload
from pixelguard.config import Config, ConfigError
from pixelguard.relay.logline import logfmt
from pixelguard.relay.server import RelayServer, Runtime, Settings
from pixelguard.relay.setup import SetupError, build_next_hop, build_settings

log = logging.getLogger("pixelguard.relay")

# relay.* keys bound at start: the listening socket, its protocol, the metrics endpoint and
# the number of cleaning processes.
RESTART_ONLY = ("listen", "protocol", "metrics", "workers")


def restart_only_changes(running: Config, new: Config) -> list[str]:
    """The dotted keys of the settings bound at start whose value differs in `new`."""
    return service_reload.restart_only_changes(running, new, "relay", RESTART_ONLY)


class Reloader:
    """Reloads the config file of a running relay; `request()` is the SIGHUP handler."""

    def __init__(self, server: RelayServer, path: str | None, started: Config,
                 adjust: Callable[[Config], Config] = lambda config: config) -> None:
        self.server = server
        self.path = path
        self.started = started  # as the relay started (command-line options applied)
        self.config = started  # in effect now (the keys of RESTART_ONLY as started)
        self.adjust = adjust  # the command-line options, which win over the file as at start
        self._lock = asyncio.Lock()  # one reload at a time, in the order asked
        self._tasks: set[asyncio.Task] = set()
        self._closed = False

    def request(self) -> None:
        """Reload in the background of the event loop (a signal handler must not wait)."""
        if self._closed:
            log.info(logfmt(msg="SIGHUP ignored: shutting down"))
            return
        task = asyncio.get_running_loop().create_task(self.reload())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def close(self) -> None:
        """Shutting down: drop the reloads not done yet, ignore further requests."""
        self._closed = True
        for task in list(self._tasks):
            task.cancel()

    async def reload(self) -> bool:
        """Read the file again and apply it; True when the new configuration is in effect."""
        if self.path is None:
            service_reload.log_no_file(log)
            return False
        async with self._lock:
            began = sd_notify.reloading()
            try:
                try:
                    # Off the event loop: reading the file and the tracker lists,
                    # certificates, password_command may all take a while.
                    loaded = await asyncio.get_running_loop().run_in_executor(None, self._load)
                except Exception as exc:  # noqa: BLE001 - a reload must never stop the relay
                    service_reload.log_refused(log, self.path, exc, expected=(ConfigError, SetupError))
                    return False
                got, settings, runtime = loaded
                service_reload.log_reread(log, self.started, got, "relay", RESTART_ONLY)
                self.server.reconfigure(settings, runtime)
                self.server.handler.cleaner.reload()  # the lists are read anew for the next messages
                self.config = got.effective
                service_reload.log_reloaded(log, self.path, next_hop=runtime.next_hop.url)
                return True
            finally:
                sd_notify.reloaded(began)  # the reload is over, applied or not

    def _load(self) -> tuple[service_reload.Reread, Settings, Runtime]:
        """(the file read again, the Settings and Runtime of its effective config). Raises
        ConfigError or SetupError."""
        assert self.path is not None
        got = service_reload.reread(self.path, self.started, "relay", RESTART_ONLY, self.adjust)
        effective = got.effective
        settings = build_settings(effective.relay)  # refuses an open relay, as at start
        next_hop = build_next_hop(effective.relay, self.server.settings.hostname)
        runtime = Runtime(next_hop, effective.policy_for, effective.auth)
        return got, settings, runtime
