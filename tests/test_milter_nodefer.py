"""pixelguard/milter/nodefer.py: SA_NODEFER added to the handler Python installed for a signal,
and nothing done to one Python did not install. In a fresh process: it changes signal state."""
from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import ctypes, signal
from pixelguard.milter import nodefer

def flags(sig):
    action = nodefer._SigAction()
    assert ctypes.CDLL(None).sigaction(sig, None, ctypes.byref(action)) == 0
    return action.flags

print("default:", nodefer.defer_nothing(signal.SIGUSR2), flags(signal.SIGUSR2) & nodefer.SA_NODEFER)
signal.signal(signal.SIGHUP, lambda *a: None)
print("python's:", nodefer.defer_nothing(signal.SIGHUP), flags(signal.SIGHUP) & nodefer.SA_NODEFER)
print("again:", nodefer.defer_nothing(signal.SIGHUP))
"""


def test_sa_nodefer_is_added_to_pythons_handler_only():
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "default: False 0",  # SIG_DFL: not Python's handler, left alone
        f"python's: True {0x40000000}",
        "again: False",  # flags no longer as Python installs them: left alone
    ], done.stdout
