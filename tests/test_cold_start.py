"""The pipe filter starts once per message, so `clean` and `scan` must stay cheap to start.

Not timed (speed lives in benchmarks/cold_start.py): these hold the reasons it is cheap.
- Without a config file, `clean`/`scan` import none of the heavy modules (pydantic, YAML,
  dkimpy, the relay and IMAP stacks): checked in sys.modules of a real `pixelguard` process.
- `defaults.DEFAULTS`, which stands in for `Config()` then, equals the validated model.
- The shipped tracker list, whose regexes are not re-checked in each process, passes the
  check here.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from pixelguard.cli_filter import policy_for
from pixelguard.config import Config
from pixelguard.defaults import DEFAULTS
from pixelguard.trackers import SHIPPED_FILE
from pixelguard.trackers._entry import check_regex
from pixelguard.trackers._jsonlist import parse_json_list
from pixelguard.trust import clean_with_trust

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures"
NEWSLETTER = FIXTURES / "demo-newsletter.eml"

# Imported only by the commands that need them (or by a config that asks for them).
HEAVY = (
    "pydantic", "pydantic_core", "yaml", "dkim", "dns", "aiosmtpd", "aiosmtplib",
    "imapclient", "prometheus_client", "tqdm", "asyncio", "logging", "importlib.resources",
    "pixelguard.config", "pixelguard.relay", "pixelguard.imap", "pixelguard.report",
    "pixelguard.dkim_verify", "pixelguard.arc_seal", "pixelguard.check_config",
    "pixelguard.allow", "pixelguard.links", "ruamel", "babel", "matplotlib",
)

# Runs the real command line in a fresh interpreter; at exit, writes the imported module names
# to the file named by PIXELGUARD_TEST_MODULES.
_RUNNER = (
    "import atexit, json, os, sys\n"
    "def dump():\n"
    "    with open(os.environ['PIXELGUARD_TEST_MODULES'], 'w') as fh:\n"
    "        json.dump(sorted(sys.modules), fh)\n"
    "atexit.register(dump)\n"
    "from pixelguard.cli import main\n"
    "raise SystemExit(main())\n"
)


def run_pixelguard(*args: str) -> tuple[subprocess.CompletedProcess[bytes], set[str]]:
    with tempfile.TemporaryDirectory() as tmp:
        listing = Path(tmp) / "modules.json"
        # an empty config home: no ~/.config/pixelguard.yaml of whoever runs the tests
        env = {**os.environ, "PIXELGUARD_TEST_MODULES": str(listing), "XDG_CONFIG_HOME": tmp}
        proc = subprocess.run([sys.executable, "-c", _RUNNER, *args], capture_output=True,
                              cwd=ROOT, env=env, timeout=60, check=False)
        modules = set(json.loads(listing.read_text()))
    return proc, modules


def heavy_in(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY))


@pytest.mark.parametrize("command", [
    ("clean", str(NEWSLETTER)),
    ("clean", "-v", "--user", "reader@example.org", str(NEWSLETTER)),
    ("scan", str(NEWSLETTER)),
    ("scan", "--json", str(FIXTURES / "mime-plain-only.eml")),
])
def test_clean_and_scan_without_config_import_no_heavy_module(command):
    proc, modules = run_pixelguard(*command)
    assert proc.returncode == 0, proc.stderr
    assert "pixelguard.core" in modules  # the runner saw the real work
    if command[0] == "clean":
        assert b"X-PixelGuard: removed=" in proc.stdout
    assert heavy_in(modules) == []


def test_the_check_sees_a_heavy_import_when_one_happens(tmp_path):
    """A config with an allowed sender needs pydantic and pixelguard's own DKIM check:
    the same runner reports them, so the test above can fail."""
    cfg = tmp_path / "pixelguard.yaml"
    cfg.write_text("defaults:\n  allow: {senders: [news.example]}\n")
    proc, modules = run_pixelguard("clean", "--config", str(cfg), str(NEWSLETTER))
    assert proc.returncode == 0, proc.stderr
    assert {"pydantic", "pixelguard.config", "dkim", "pixelguard.dkim_verify"} <= modules


def test_clean_with_a_plain_config_does_not_load_dkim(tmp_path):
    cfg = tmp_path / "pixelguard.yaml"
    cfg.write_text("defaults:\n  action: rewrite\n  deny: {hosts: [ads.example]}\n")
    proc, modules = run_pixelguard("clean", "--config", str(cfg), str(NEWSLETTER))
    assert proc.returncode == 0, proc.stderr
    assert "pydantic" in modules
    assert not {m for m in modules if m == "dkim" or m.startswith(("dkim.", "dns."))}


ADDRESSES = [None, "", "reader@example.org", "  Reader@Example.ORG ",
             "Reader <reader@example.org>", "not an address", "<>", "a@b@c"]


@pytest.mark.parametrize("addr", ADDRESSES)
def test_defaults_give_the_policy_of_the_validated_model(addr):
    assert DEFAULTS.policy_for(addr) == Config().policy_for(addr)


def test_defaults_equal_the_validated_model_field_by_field():
    full = Config()
    assert dict(DEFAULTS.users) == full.users
    assert list(DEFAULTS.lists) == full.lists
    assert DEFAULTS.limits.max_html_size == full.limits.max_html_size
    assert DEFAULTS.limits.time_budget == full.limits.time_budget
    for name in type(full.auth).model_fields:  # every auth field, including a future one
        want = getattr(full.auth, name)
        got = getattr(DEFAULTS.auth, name)
        assert (list(got) if isinstance(got, tuple) else got) == want, name
    for name in type(full).model_fields:  # sections not mirrored come from the model itself
        assert getattr(DEFAULTS, name) is not None, name
    assert DEFAULTS.relay == full.relay and DEFAULTS.imap == full.imap
    assert DEFAULTS.defaults == full.defaults


@pytest.mark.parametrize("name", ["demo-newsletter.eml", "known-sendgrid.eml", "leak-md5.eml",
                                  "negative-content.eml", "allow-sender-dkim-pass.eml"])
def test_defaults_clean_like_the_validated_model(name):
    raw = (FIXTURES / name).read_bytes()
    full = Config()
    light = clean_with_trust(raw, policy_for(DEFAULTS, None, raw), DEFAULTS.auth)
    model = clean_with_trust(raw, policy_for(full, None, raw), full.auth)
    assert light[0] == model[0]
    assert light[1].findings == model[1].findings


def test_every_shipped_regex_passes_the_check_skipped_at_run_time():
    text = (ROOT / "pixelguard" / "trackers" / SHIPPED_FILE).read_text(encoding="utf-8")
    checked = parse_json_list(text, SHIPPED_FILE)  # runs check_regex on each regex entry
    assert checked == parse_json_list(text, SHIPPED_FILE, vetted=True)
    regexes = [e.path for e in checked if e.kind == "regex"]
    assert regexes and all(check_regex(p) is None for p in regexes)
