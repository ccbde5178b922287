"""libmilter's listener, stopped promptly by SIGTERM or SIGINT, reloading on SIGHUP.

libmilter (`smfi_main`) waits for the stop signals in a thread of its own and then stops
taking connections, but its listener holds a lock while it polls the listening socket for up
to five seconds (MI_CHK_TIME), and the stop waits for that lock: a stop took up to five
seconds. So the listener runs in a thread here and the main thread waits for the signals
itself: on a stop signal it asks libmilter to stop (`smfi_stop`, in a thread, as it waits for
that same lock) and connects to the listening socket, which ends the poll at once. The
connection is closed unused; libmilter hands it to a session that reads end of file and ends.
Such a connection also tells when the listener is serving, the moment the milter tells
systemd it is ready (sd_notify.py).

The signals (and WAKE) must be blocked in every thread before this runs (see `main`). Linux
delivers a signal sent to the process to its main thread when that thread waits for it, so
libmilter's own signal thread does not see it; should it see one anyway, it stops the listener
itself, within its poll. A listener that returns on its own (that, or a socket it cannot open)
wakes the main thread with WAKE, sent to that thread alone.

SIGHUP asks for a reload (milter/reload.py), and libmilter's signal thread, which waits for it
too, would take it as "stop" whenever the main thread does not want it, e.g. a SIGHUP sent
while the main thread handles the one before. So the main thread never blocks SIGHUP while
serving, not even while it runs SIGHUP's handler (nodefer.py), and every other thread does:
Linux then gives it the SIGHUPs. Not quite all: when the main thread already has a signal
pending and is not running, Linux gives a signal sent to the process to another thread that
waits for it, so in a burst of SIGHUPs libmilter's thread may, rarely, get one and stop the
milter; it then finishes its messages and exits 0 (systemd's Restart=always starts it again). Its handler runs in C even while the thread waits in
sigwait, and writes the signal's number to a pipe (signal.set_wakeup_fd); a thread of its own
reads the pipe and runs the reloads, one at a time, in order. The listener, its connections
and the cleaning workers go on meanwhile.
"""
from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from collections.abc import Callable

import Milter

from pixelguard.milter.nodefer import defer_nothing

__all__ = ["BLOCKED", "RELOAD", "STOP_SIGNALS", "serve"]

log = logging.getLogger("pixelguard.milter")

STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}
RELOAD = signal.SIGHUP
WAKE = signal.SIGUSR1  # from the listener thread to the main thread: the listener returned
BLOCKED = STOP_SIGNALS | {RELOAD, WAKE}


def serve(name: str, spec: str, timeout: int, reload: Callable[[], object] = lambda: None,
          ready: Callable[[], object] = lambda: None) -> Milter.error | None:
    """Run the milter on libmilter socket `spec` (`inet:PORT@HOST`, `unix:/path`) until a stop
    signal, calling `reload` on each SIGHUP and `ready` once, when the listening socket takes a
    connection; returns libmilter's error when it could not start (e.g. the socket is taken)."""
    errors: list[Milter.error] = []
    main = threading.get_ident()

    def run() -> None:
        # started from here, not from the main thread: glibc blocks every signal in the
        # thread that creates a thread while it does, and libmilter's signal thread, once
        # it runs, would take a SIGHUP sent to the process meanwhile
        if not _taken(spec):  # (else libmilter cannot listen: no READY=1 for another's socket)
            _thread(_when_listening, "pixelguard-ready", threading.current_thread(), spec, ready).start()
        try:
            Milter.runmilter(name, spec, timeout=timeout)
        except Milter.error as exc:
            errors.append(exc)
        except Exception as exc:  # broad: the listener failed: the caller exits 1
            log.exception("libmilter listener failed")
            errors.append(Milter.error(f"{exc.__class__.__name__}: {exc}"))
        finally:
            signal.pthread_kill(main, WAKE)  # pending until the main thread waits for it

    reloads = _Reloads(reload)  # before the listener: from now on SIGHUP is the main thread's
    listener = _thread(run, "libmilter")
    try:
        listener.start()  # before libmilter's signal thread runs (see _thread)
        while listener.is_alive():
            # sigwait, not sigtimedwait: CPython's sigtimedwait can return an unfilled siginfo
            # when a SIGSTOP/SIGCONT interrupts it as its time runs out
            sig = signal.sigwait(STOP_SIGNALS | {WAKE})
            if sig in STOP_SIGNALS:
                log.info("%s received: stopping", signal.Signals(sig).name)
                _stop(listener, spec)
            elif sig == WAKE:
                break  # the listener returned; it may not have ended yet: join, wait no more
    finally:
        reloads.close()
    listener.join()
    return errors[0] if errors else None


class _Reloads:
    """SIGHUP taken by the main thread and turned into reloads run by a thread of their own
    (see the module). From creation to close(), in the main thread."""

    def __init__(self, reload: Callable[[], object]) -> None:
        self._read, self._write = os.pipe()
        os.set_blocking(self._write, False)  # (set_wakeup_fd wants it so)
        self._thread = threading.Thread(target=self._run, args=(reload,), name="pixelguard-reload", daemon=True)
        self._thread.start()  # while SIGHUP is still blocked here: so it is in that thread
        self._handler = signal.signal(RELOAD, _noted)
        defer_nothing(RELOAD)  # not blocked even while its handler runs (nodefer.py)
        self._wakeup = signal.set_wakeup_fd(self._write)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {RELOAD})

    def _run(self, reload: Callable[[], object]) -> None:
        while data := os.read(self._read, 64):
            if RELOAD not in data:
                continue
            # SIGHUPs read together make one reload: it reads the file as it is now
            try:
                reload()
            except Exception:  # broad: a failed reload must not end the milter
                log.exception("reload failed; still running with the previous configuration")
        os.close(self._read)

    def close(self) -> None:
        """No more reloads (the milter is stopping; a reload running now still ends): the
        signal state as before."""
        signal.pthread_sigmask(signal.SIG_BLOCK, {RELOAD})
        signal.set_wakeup_fd(self._wakeup)
        signal.signal(RELOAD, self._handler)
        os.close(self._write)  # the thread reads end of file and ends


def _thread(target: Callable[..., object], name: str, *args: object) -> threading.Thread:
    """A thread (daemon unless it is libmilter's listener) that blocks SIGHUP first thing, as
    every thread but the main one does. The main thread does not block it to start the
    thread. A SIGHUP that reaches the new thread before it blocks SIGHUP runs Python's C
    handler there, which asks for a reload as in the main thread. (While the main thread
    creates a thread, glibc blocks every signal in it, and a SIGHUP sent then goes to another
    thread: once libmilter's signal thread runs, the main thread creates none but the one
    that stops the listener.)"""

    def run() -> None:
        signal.pthread_sigmask(signal.SIG_BLOCK, {RELOAD})
        target(*args)

    return threading.Thread(target=run, name=name, daemon=name != "libmilter")


def _noted(signum: int, frame: object) -> None:
    """SIGHUP's handler in Python: nothing to do, its C part wrote to the wakeup pipe."""


def _when_listening(listener: threading.Thread, spec: str, ready: Callable[[], object]) -> None:
    """Call `ready` once the listening socket takes a connection (libmilter opens it in the
    listener thread, then waits for connections), unless the listener returns first."""
    while listener.is_alive():
        if _connect(spec):
            ready()
            return
        listener.join(0.02)  # polling interval of a wait that ends with the listener


def _taken(spec: str) -> bool:
    """Whether another process already takes connections on TCP socket `spec` (libmilter then
    fails to listen; a unix socket's path it takes over, runmilter's rmsock)."""
    kind = spec.partition(":")[0]
    return kind in ("inet", "inet6") and _connect(spec)


def _stop(listener: threading.Thread, spec: str) -> None:
    _thread(Milter.stop, "libmilter-stop").start()
    # Until smfi_stop has set its flag, a connection only ends one poll early: connect again
    # until the listener has returned.
    while listener.is_alive():
        _connect(spec)
        listener.join(0.05)


def _connect(spec: str) -> bool:
    """Open and close one connection to the listening socket; True when it took it (errors
    ignored: a socket not yet open, or already closed, is what the caller waits for)."""
    kind, _, rest = spec.partition(":")
    try:
        if kind in ("unix", "local") or not rest:
            with socket.socket(socket.AF_UNIX) as sock:
                sock.settimeout(1)
                sock.connect(rest or spec)
            return True
        port, _, host = rest.partition("@")
        host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1", "[::]": "::1"}.get(host, host)
        with socket.create_connection((host.strip("[]"), int(port)), timeout=1):
            return True
    except (OSError, ValueError):
        return False
