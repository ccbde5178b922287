"""What the long-running services (`pixelguard relay`, `pixelguard milter`) tell systemd, and
SIGHUP until their reload handler is in place.

systemd starts a `Type=notify` unit and counts it as started when the service sends READY=1;
until then it holds back `systemctl reload`, whose SIGHUP would otherwise come while the
service is still importing and reading its config, when SIGHUP's default action ends the
process. `ignore_sighup()` covers a SIGHUP sent by other means in that time (`kill -HUP` by
hand), from as early as the command line is read (pixelguard/cli.py) until the service puts
its reload handler in place; only the interpreter's start and the import of the package come
before it.

The protocol (sd_notify(3)): one datagram of newline-separated VAR=value lines to the AF_UNIX
socket named by $NOTIFY_SOCKET, an abstract one when the name starts with '@'. Without the
variable (not started by systemd) nothing is sent. A failure to send is logged, never raised:
systemd then times the start out, which is what the unit's log shows.
"""
from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time

__all__ = ["ignore_sighup", "notify", "ready", "reloaded", "reloading", "stopping"]

log = logging.getLogger("pixelguard")


def ignore_sighup() -> None:
    """SIGHUP ignored from now on, until the service installs its reload handler."""
    signal.signal(signal.SIGHUP, signal.SIG_IGN)


def notify(*states: str) -> bool:
    """Send `states` ("READY=1", …) to $NOTIFY_SOCKET as one datagram; True when sent."""
    address = os.environ.get("NOTIFY_SOCKET", "")
    if not address or not states:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    elif not address.startswith("/"):
        return False  # vsock and other kinds: not for these services
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.sendto("\n".join(states).encode(), address)
    except OSError as exc:
        log.warning("cannot notify systemd at %s: %s", os.environ.get("NOTIFY_SOCKET"), exc.strerror or exc)
        return False
    return True


_started = False  # READY=1 sent once: the service is serving
_lock = threading.Lock()  # (READY=1 and a reload's RELOADING=1 in the order they happen)


def ready() -> bool:
    """The service is serving: systemd counts it as started and may now send reloads."""
    global _started
    with _lock:
        sent = notify("READY=1")
        _started = True
    return sent


def reloading() -> bool:
    """A reload begins: True when RELOADING=1 was sent, which `reloaded(True)` answers when
    the reload is over, applied or not. Nothing is sent for a reload that begins before the
    service is serving (a SIGHUP by hand while it starts): a READY=1 after it would tell
    systemd the service serves before it does."""
    with _lock:
        return _started and notify(
            "RELOADING=1", f"MONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}")


def reloaded(began: bool) -> bool:
    """A reload is over; `began`: what its `reloading()` returned."""
    return began and notify("READY=1")


def stopping() -> bool:
    """The service is stopping (it drains its messages meanwhile)."""
    return notify("STOPPING=1")
