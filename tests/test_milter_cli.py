"""`pixelguard milter` start-up errors: clear, exit 2, no traceback. The command line runs in
this process (tests/cli_run.py): each case stops before the milter would listen."""
from __future__ import annotations

import sys

from cli_run import run_cli


def run(*args: str, config: str | None = None, tmp_path=None):
    cmd = ["milter", *args]
    if config is not None:
        path = tmp_path / "pg.yaml"
        path.write_text(config)
        cmd += ["--config", str(path)]
    return run_cli(*cmd, text=True)


def test_refuses_a_non_loopback_address_without_allow_remote(tmp_path):
    done = run("--listen", "inet:192.0.2.1:10030", config="milter: {workers: 0}\n", tmp_path=tmp_path)
    assert done.returncode == 2
    assert "refusing to listen on inet:192.0.2.1:10030" in done.stderr and "allow_remote" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_bad_listen_option_is_a_usage_error():
    done = run("--listen", "tcp:somewhere")
    assert done.returncode == 2 and "--listen" in done.stderr and "not a milter socket" in done.stderr


def test_a_bad_listen_in_the_file_names_file_line_and_key(tmp_path):
    done = run(config="milter:\n  listen: nowhere\n", tmp_path=tmp_path)
    assert done.returncode == 2
    assert "pg.yaml:2" in done.stderr and "milter.listen" in done.stderr


def test_check_config_shows_the_milter_and_fails_on_what_it_would_refuse(tmp_path):
    path = tmp_path / "pg.yaml"
    path.write_text("milter:\n  listen: inet:192.0.2.1:10030\n  max_size: 10MB\n")
    done = run_cli("check-config", str(path), text=True)
    assert done.returncode == 1
    assert "milter (pixelguard milter):" in done.stdout
    assert "listen inet:192.0.2.1:10030, max_size 10 MB" in done.stdout
    assert "FAILED: the milter would not start: refusing to listen" in done.stdout


def test_without_pymilter_it_says_how_to_install_it(monkeypatch):
    """pymilter is an optional dependency: a Python where `import Milter` fails."""
    monkeypatch.setitem(sys.modules, "Milter", None)
    done = run("--listen", "inet:127.0.0.1:10030")
    assert done.returncode == 2
    assert "pip install 'pixelguard[milter]'" in done.stderr and "libmilter-dev" in done.stderr
    assert "Traceback" not in done.stderr
