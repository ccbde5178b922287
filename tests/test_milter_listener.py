"""pixelguard/milter/listener.py: serve() returns when libmilter's listener ends on its own."""
from __future__ import annotations

import subprocess
import sys

import pytest

pytest.importorskip("Milter")

# A fresh process: serve() needs the stop signals blocked in every thread, as `main` does.
# serve() runs several times in it: the listener's thread may still be alive when the main
# thread wakes, and a wake-up left over from one call would end the next one early.
RUNS = 5
SCRIPT = """
import signal, sys
import Milter
from pixelguard.milter import listener

def broken(name, spec, timeout):
    raise {exc}

Milter.runmilter = broken
signal.pthread_sigmask(signal.SIG_BLOCK, listener.BLOCKED)
for _ in range({runs}):
    print("returned:", listener.serve("x", "inet:1@127.0.0.1", 5), flush=True)
"""


@pytest.mark.parametrize("exc", ['Milter.error("cannot bind")', 'RuntimeError("binding broke")'])
def test_serve_returns_the_error_of_a_listener_that_failed(exc):
    out = subprocess.run([sys.executable, "-c", SCRIPT.format(exc=exc, runs=RUNS)],
                         capture_output=True, text=True, timeout=30, check=False)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == RUNS, out.stdout
    assert all(line.startswith("returned: ") and line != "returned: None" for line in lines), out.stdout
