"""SA_NODEFER on the handler Python installed for a signal, so that the signal stays
unblocked in the thread while that thread runs the handler.

Linux gives a signal sent to the process to its main thread only while that thread does not
block it; otherwise to another thread that waits for it. The kernel blocks a signal in the
thread that runs its handler, for as long as the handler runs, unless the handler was
installed with SA_NODEFER; Python installs its handlers without it (signal.signal has no
flags). For SIGHUP that brief moment matters: libmilter's own signal thread waits for SIGHUP
too and takes one as "stop" (listener.py). Python's C handler is reentrant (it sets a flag
and writes a byte to the wakeup pipe), so it may run nested.

The flag is set through libc's sigaction (ctypes), on Linux only and only when the handler
is exactly as Python installs it (flags SA_ONSTACK, and SA_RESTORER, which libc adds), so
that a struct layout other than the one described here changes nothing.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import platform
import sys

__all__ = ["defer_nothing"]

SA_ONSTACK = 0x08000000
SA_NODEFER = 0x40000000
SA_RESTORER = 0x04000000  # libc's own, added to every handler it installs


class _SigAction(ctypes.Structure):
    # struct sigaction as glibc and musl lay it out on Linux (all but MIPS)
    _fields_ = [
        ("handler", ctypes.c_void_p),
        ("mask", ctypes.c_ulong * (1024 // (8 * ctypes.sizeof(ctypes.c_ulong)))),
        ("flags", ctypes.c_int),
        ("restorer", ctypes.c_void_p),
    ]


def defer_nothing(sig: int) -> bool:
    """Add SA_NODEFER to the handler Python installed for `sig` (signal.signal first); True
    when done. Never raises."""
    if sys.platform != "linux" or "mips" in platform.machine().lower():
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        action = _SigAction()
        if libc.sigaction(sig, None, ctypes.byref(action)) != 0:
            return False
        if action.flags & ~SA_RESTORER != SA_ONSTACK or not action.handler:
            return False  # not what signal.signal installs: leave it alone
        action.flags |= SA_NODEFER
        return libc.sigaction(sig, ctypes.byref(action), None) == 0
    except (OSError, AttributeError, ValueError):
        return False
