"""`pixelguard relay` on SIGHUP: read the config file again, apply what can change at run time.

From the reload on, new transactions get the new per-user policies, allow/deny lists, extra
tracker lists, `limits`, `auth` (DKIM/ARC) and next hop (`next_hop`, `next_hop_tls`,
`next_hop_auth`, `timeout`); new client sessions get the new `max_size`, `timeout`,
`max_connections`, `allow_networks`, `tls_cert`/`tls_key` (read again, so a renewed
certificate is taken) and `auth_users`. Whatever is in progress finishes with the
configuration it started with. The cleaning workers keep running: each swaps in a new cache
before its next message (Cleaner.reload), so every tracker and link list is read anew from its
file, an edited one at the same path included.

Bound when the relay starts and kept until a restart (a warning names each that changed):
RESTART_ONLY. A file that does not load, or a configuration the relay would refuse to start
with (an open relay, an unreadable certificate, a failing password_command), changes
nothing: one error line, and the relay goes on with what it has.
"""
from __future__ import annotations

import asyncio
import logging
import warnings
from collections.abc import Callable

from pixelguard.config import Config, ConfigError, ConfigWarning, load_config
from pixelguard.relay.logline import logfmt
from pixelguard.relay.server import RelayServer, Runtime, Settings
from pixelguard.relay.setup import SetupError, build_next_hop, build_settings

log = logging.getLogger("pixelguard.relay")

# relay.* keys bound at start: the listening socket, its protocol, the metrics endpoint and
# the number of cleaning processes.
RESTART_ONLY = ("listen", "protocol", "metrics", "workers")


def restart_only_changes(running: Config, new: Config) -> list[str]:
    """The dotted keys of the settings bound at start whose value differs in `new`."""
    return [f"relay.{key}" for key in RESTART_ONLY if getattr(running.relay, key) != getattr(new.relay, key)]


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
            log.warning(logfmt(msg="SIGHUP: started without --config, nothing to reload"))
            return False
        async with self._lock:
            try:
                # Off the event loop: reading the file and the tracker lists, certificates,
                # password_command may all take a while.
                loaded = await asyncio.get_running_loop().run_in_executor(None, self._load)
            except (ConfigError, SetupError) as exc:
                self._refused(str(exc))
                return False
            except Exception as exc:  # noqa: BLE001 - a reload must never stop the relay
                self._refused(f"{exc.__class__.__name__}: {exc}")
                return False
            config, effective, settings, runtime, notes = loaded
            for note in notes:
                log.warning(logfmt(msg="config warning", warning=note))
            for key in restart_only_changes(self.started, config):
                field = key.removeprefix("relay.")
                log.warning(
                    logfmt(
                        msg=f"{key} changed; restart pixelguard to apply",
                        running=getattr(self.started.relay, field),
                        configured=getattr(config.relay, field),
                    )
                )
            self.server.reconfigure(settings, runtime)
            self.server.handler.cleaner.reload()  # the lists are read anew for the next messages
            self.config = effective
            log.info(logfmt(msg="configuration reloaded", file=self.path, next_hop=runtime.next_hop.url))
            return True

    def _load(self) -> tuple[Config, Config, Settings, Runtime, list[str]]:
        """(the file's config, the one to put in effect, its Settings and Runtime, the
        ConfigWarnings' texts). Raises ConfigError or SetupError."""
        assert self.path is not None
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConfigWarning)
            config = self.adjust(load_config(self.path))
        notes = [str(w.message) for w in caught if issubclass(w.category, ConfigWarning)]
        kept = {key: getattr(self.started.relay, key) for key in RESTART_ONLY}
        effective = config.model_copy(update={"relay": config.relay.model_copy(update=kept)})
        settings = build_settings(effective.relay)  # refuses an open relay, as at start
        next_hop = build_next_hop(effective.relay, self.server.settings.hostname)
        runtime = Runtime(next_hop, effective.policy_for, effective.auth)
        return config, effective, settings, runtime, notes

    def _refused(self, error: str) -> None:
        # One line, whatever the error: the first problem (FILE:LINE: KEY: what), and how
        # many more the file has.
        first, *others = error.splitlines() or [""]
        log.error(
            logfmt(
                msg="configuration not reloaded; still running with the previous one",
                file=self.path,
                error=first,
                more_errors=len(others) or None,
            )
        )
