"""libmilter's listener, stopped promptly by SIGTERM or SIGINT; SIGHUP asks for a reload.

libmilter (`smfi_main`) waits for the stop signals in a thread of its own and then stops
taking connections, but its listener holds a lock while it polls the listening socket for up
to five seconds (MI_CHK_TIME), and the stop waits for that lock: a stop took up to five
seconds. So the listener runs in a thread here and the main thread waits for the signals
itself: on a stop signal it asks libmilter to stop (`smfi_stop`, in a thread, as it waits for that same
lock) and connects to the listening socket, which ends the poll at once. The connection is
closed unused; libmilter hands it to a session that reads end of file and ends.

On SIGHUP the main thread hands the reload it was given (milter/reload.py) to a thread of
its own and waits again at once: the listener, its connections and the cleaning workers go on
meanwhile, and reloads run one at a time, in the order asked. The main thread is back in its
wait within moments because a signal that comes while it is not waiting is delivered to
libmilter's own signal thread, for which SIGHUP, like SIGTERM, means stop.

The signals (and WAKE) must be blocked in every thread before this runs (see `main`). Linux
delivers a signal sent to the process to its main thread when that thread waits for it, so
libmilter's own signal thread does not see it; should it see one anyway, it stops the listener
itself, within its poll. A listener that returns on its own (that, or a socket it cannot open)
wakes the main thread with WAKE, sent to that thread alone.
"""
from __future__ import annotations

import logging
import queue
import signal
import socket
import threading
from collections.abc import Callable

import Milter

__all__ = ["BLOCKED", "RELOAD", "STOP_SIGNALS", "serve"]

log = logging.getLogger("pixelguard.milter")

STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}
RELOAD = signal.SIGHUP
WAKE = signal.SIGUSR1  # from the listener thread to the main thread: the listener returned
BLOCKED = STOP_SIGNALS | {RELOAD, WAKE}


def serve(name: str, spec: str, timeout: int, reload: Callable[[], object] = lambda: None) -> Milter.error | None:
    """Run the milter on libmilter socket `spec` (`inet:PORT@HOST`, `unix:/path`) until a stop
    signal, calling `reload` on each SIGHUP; returns libmilter's error when it could not start
    (e.g. the socket is taken)."""
    errors: list[Milter.error] = []
    main = threading.get_ident()

    def run() -> None:
        try:
            Milter.runmilter(name, spec, timeout=timeout)
        except Milter.error as exc:
            errors.append(exc)
        except Exception as exc:  # the listener failed: the caller exits 1
            log.exception("libmilter listener failed")
            errors.append(Milter.error(f"{exc.__class__.__name__}: {exc}"))
        finally:
            signal.pthread_kill(main, WAKE)  # pending until the main thread waits for it

    listener = threading.Thread(target=run, name="libmilter")
    listener.start()
    reloads: queue.SimpleQueue[Callable[[], object]] = queue.SimpleQueue()
    threading.Thread(target=_reloading, args=(reloads,), name="pixelguard-reload", daemon=True).start()
    while listener.is_alive():
        # sigwait, not sigtimedwait: CPython's sigtimedwait can return an unfilled siginfo
        # when a SIGSTOP/SIGCONT interrupts it as its time runs out
        sig = signal.sigwait(BLOCKED)
        if sig in STOP_SIGNALS:
            log.info("%s received: stopping", signal.Signals(sig).name)
            _stop(listener, spec)
        elif sig == RELOAD:
            reloads.put(reload)
        elif sig == WAKE:
            break  # the listener returned; it may not have ended yet: join, wait no more
    listener.join()
    return errors[0] if errors else None


def _reloading(reloads: queue.SimpleQueue[Callable[[], object]]) -> None:
    """Run each reload asked for, in order (a daemon thread: a reload still running when the
    milter stops is dropped with it)."""
    while True:
        reload = reloads.get()
        try:
            reload()
        except Exception:  # a failed reload must not end the milter
            log.exception("reload failed; still running with the previous configuration")


def _stop(listener: threading.Thread, spec: str) -> None:
    threading.Thread(target=Milter.stop, name="libmilter-stop", daemon=True).start()
    # Until smfi_stop has set its flag, a connection only ends one poll early: connect again
    # until the listener has returned.
    while listener.is_alive():
        _connect(spec)
        listener.join(0.05)


def _connect(spec: str) -> None:
    """Open and close one connection to the listening socket (errors ignored: a socket
    already closed is what the stop is waiting for)."""
    kind, _, rest = spec.partition(":")
    try:
        if kind in ("unix", "local") or not rest:
            with socket.socket(socket.AF_UNIX) as sock:
                sock.settimeout(1)
                sock.connect(rest or spec)
            return
        port, _, host = rest.partition("@")
        host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1", "[::]": "::1"}.get(host, host)
        with socket.create_connection((host.strip("[]"), int(port)), timeout=1):
            pass
    except (OSError, ValueError):
        pass
