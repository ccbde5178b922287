"""config.example.yaml runs as it is: `pixelguard relay --config` on the starter (its ports
moved to free ones) takes a message over SMTP and hands it on, cleaned, to its next hop."""
from __future__ import annotations

import os
import signal
import smtplib
import subprocess
import sys
from pathlib import Path

import pytest
from dovecot import listen_port
from relay_harness import NextHopServer, greets, is_cleaned, tracker_message, wait_for

pytestmark = pytest.mark.e2e

EXAMPLE = Path(__file__).resolve().parents[2] / "config.example.yaml"


def test_the_starter_config_runs_the_relay(tmp_path: Path) -> None:
    hop = NextHopServer().start()
    port = listen_port()
    text = EXAMPLE.read_text()
    # the starter's own addresses, each once: only the port numbers change
    for old in ('listen: "127.0.0.1:10025"', 'next_hop: "smtp://127.0.0.1:10026"'):
        assert text.count(old) == 1, old
    text = text.replace('"127.0.0.1:10025"', f'"127.0.0.1:{port}"')
    text = text.replace('"smtp://127.0.0.1:10026"', f'"{hop.url}"')
    config = tmp_path / "pixelguard.yaml"
    config.write_text(text)
    env = {**os.environ, "HOME": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-m", "pixelguard", "relay", "--config", str(config)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: greets(port) or proc.poll() is not None, 60, "the relay to listen")
        assert proc.poll() is None, proc.communicate()[1]
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
            refused = client.sendmail("news@shop.example", ["alice@example.org"],
                                      tracker_message())
        assert refused == {}
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
        hop.stop()
    assert proc.returncode == 0, err
    assert f"config {config}" in err
    (received,) = hop.received
    assert received.rcpts == ["alice@example.org"]
    assert is_cleaned(received.content)
