"""pixelguard/milter/listener.py: serve() returns when libmilter's listener ends on its own."""
from __future__ import annotations

import subprocess
import sys

import pytest

pytest.importorskip("Milter")

# A fresh process: serve() needs the stop signals blocked in every thread, as `main` does.
SCRIPT = """
import signal, sys
import Milter
from pixelguard.milter import listener

def broken(name, spec, timeout):
    raise {exc}

Milter.runmilter = broken
signal.pthread_sigmask(signal.SIG_BLOCK, listener.BLOCKED)
print("returned:", listener.serve("x", "inet:1@127.0.0.1", 5), flush=True)
"""


@pytest.mark.parametrize("exc", ['Milter.error("cannot bind")', 'RuntimeError("binding broke")'])
def test_serve_returns_the_error_of_a_listener_that_failed(exc):
    for _ in range(5):  # the listener's thread may still be alive when the main thread wakes
        out = subprocess.run([sys.executable, "-c", SCRIPT.format(exc=exc)],
                             capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        assert out.stdout.startswith("returned: ") and out.stdout.strip() != "returned: None"
