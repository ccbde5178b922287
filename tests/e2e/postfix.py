"""A private Postfix (root only) for end-to-end tests of the relay as a content filter.

Recipe from shared/docs/TESTING.md: `postfix -c DIR start-fg` with its own main.cf and
master.cf under a temporary directory, stopped with `postfix -c DIR stop`; /etc/postfix is
only read (postfix-files), never written.

    front (smtpd, content_filter=pixelguard:[127.0.0.1]:FILTER)
      -> the relay under test on FILTER
      -> reinjection smtpd on REINJECT (no filter)
      -> relay_transport lmtp:inet:127.0.0.1:LMTP (Dovecot)

`front_lmtp_port` is a second front door whose filter transport speaks LMTP to
`filter_lmtp_port` (the relay with `protocol: lmtp`). `front_one_port` is a third one that
filters through FILTER too, one recipient per delivery (`_destination_recipient_limit = 1`,
as docs/relay.md recommends for an SMTP hand-over).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from dovecot import listen_port


def postfix_binary() -> str | None:
    return shutil.which("postfix") or next((p for p in ("/usr/sbin/postfix",) if os.access(p, os.X_OK)), None)


def require_postfix() -> None:
    """Skip the calling test without root or Postfix; under CI=true fail it instead (there
    the Postfix tests must run)."""
    import pytest

    if os.geteuid() != 0 or postfix_binary() is None:
        reason = "POSTFIX E2E NOT RUN: needs root and the postfix package (scripts/test.sh installs it)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason + " — CI=true, so this is a failure", pytrace=False)
        pytest.skip(reason)


_MAIN_CF = """\
compatibility_level = 3.6
queue_directory = {root}/queue
data_directory = {root}/data
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = pixelguard-test.localdomain
mydomain = localdomain
mydestination =
mynetworks = 127.0.0.0/8
relay_domains = example.org
relay_transport = lmtp:inet:127.0.0.1:{lmtp_port}
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
alias_maps =
alias_database =
local_recipient_maps =
smtputf8_enable = yes
smtp_tls_security_level = none
smtpd_tls_security_level = none
disable_dns_lookups = yes
smtp_host_lookup = native
lmtp_host_lookup = native
maillog_file = {root}/postfix.log
maillog_file_prefixes = {root}
queue_run_delay = 2s
minimal_backoff_time = 2s
maximal_backoff_time = 4s
smtp_connect_timeout = 5s
lmtp_connect_timeout = 5s
pixelguard-one_destination_recipient_limit = 1
"""

_MASTER_CF = """\
127.0.0.1:{front_port} inet n - n - - smtpd
  -o content_filter=pixelguard:[127.0.0.1]:{filter_port}
127.0.0.1:{front_lmtp_port} inet n - n - - smtpd
  -o content_filter=pixelguard-lmtp:[127.0.0.1]:{filter_lmtp_port}
127.0.0.1:{front_one_port} inet n - n - - smtpd
  -o content_filter=pixelguard-one:[127.0.0.1]:{filter_port}
127.0.0.1:{reinject_port} inet n - n - 10 smtpd
  -o content_filter=
  -o receive_override_options=no_unknown_recipient_checks,no_header_body_checks,no_milters
  -o smtpd_recipient_restrictions=permit_mynetworks,reject
  -o mynetworks=127.0.0.0/8
pixelguard unix - - n - 4 smtp
  -o smtp_send_xforward_command=no
pixelguard-lmtp unix - - n - 4 lmtp
pixelguard-one unix - - n - 4 smtp
  -o smtp_send_xforward_command=no
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


class Postfix:
    """One private Postfix instance in front of the relay (see the module docstring)."""

    def __init__(self, lmtp_port: int, filter_port: int | None = None, filter_lmtp_port: int | None = None,
                 fronts: dict[str, list[str]] | None = None, prefix: str = "pgpf",
                 services: str = "", files: dict[str, str] | None = None):
        self.lmtp_port = lmtp_port
        # more master.cf services (a template: {root} is the instance's directory), and files
        # written to its etc/ before it starts (e.g. a header_checks table they name)
        self.services = services
        self.files = dict(files or {})
        # more front doors: name -> smtpd `-o` options (e.g. smtpd_milters=...); their ports
        # are in self.ports[name] once started
        self.fronts = dict(fronts or {})
        self.ports: dict[str, int] = {}
        self.prefix = prefix  # of the private directory under /tmp
        self.filter_port = filter_port or listen_port()
        self.filter_lmtp_port = filter_lmtp_port or listen_port()
        self.front_port = self.front_lmtp_port = self.front_one_port = self.reinject_port = 0
        self.root: Path | None = None
        self.proc: subprocess.Popen | None = None

    @property
    def config_dir(self) -> str:
        assert self.root is not None
        return str(self.root / "etc")

    def start(self, timeout: float = 30.0) -> Postfix:
        binary = postfix_binary()
        if binary is None:
            raise FileNotFoundError("postfix not installed (apt-get install postfix)")
        self.root = Path(tempfile.mkdtemp(prefix=self.prefix, dir="/tmp"))
        self.root.chmod(0o755)
        for sub in ("etc", "queue", "data"):
            (self.root / sub).mkdir()
        shutil.chown(self.root / "data", "postfix")
        ports = set()
        while len(ports) < 4 + len(self.fronts):
            ports.add(listen_port())
        ordered = sorted(ports)
        self.front_port, self.front_lmtp_port, self.front_one_port, self.reinject_port = ordered[:4]
        self.ports = dict(zip(self.fronts, ordered[4:]))
        fields = {
            "root": self.root,
            "lmtp_port": self.lmtp_port,
            "front_port": self.front_port,
            "front_lmtp_port": self.front_lmtp_port,
            "front_one_port": self.front_one_port,
            "filter_port": self.filter_port,
            "filter_lmtp_port": self.filter_lmtp_port,
            "reinject_port": self.reinject_port,
        }
        (self.root / "etc" / "main.cf").write_text(_MAIN_CF.format(**fields))
        extra = "".join(
            f"127.0.0.1:{self.ports[name]} inet n - n - - smtpd\n" + "".join(f"  -o {o}\n" for o in options)
            for name, options in self.fronts.items()
        )
        for name, text in self.files.items():
            (self.root / "etc" / name).write_text(text)
        services = self.services.format(**fields)
        (self.root / "etc" / "master.cf").write_text(extra + _MASTER_CF.format(**fields) + services)
        check = subprocess.run([binary, "-c", self.config_dir, "check"], capture_output=True, text=True, timeout=60, check=False)
        if check.returncode != 0:
            log = self.log_tail()
            self.stop()
            raise RuntimeError(f"postfix check failed: {check.stderr}\n{log}")
        self.proc = subprocess.Popen(
            [binary, "-c", self.config_dir, "start-fg"],
            stdout=subprocess.DEVNULL,
            stderr=open(self.root / "start-fg.log", "wb"),  # noqa: SIM115 - lives as long as the process
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        from relay_harness import greets, wait_for

        try:
            wait_for(lambda: greets(self.front_port) and greets(self.reinject_port) or self._died(),
                     max(0.1, deadline - time.monotonic()), "postfix to listen")
            if self._died():
                raise RuntimeError("postfix exited")
        except (AssertionError, RuntimeError) as exc:
            log = self.log_tail()
            self.stop()
            raise RuntimeError(f"postfix did not start: {exc}\n{log}") from None
        return self

    def _died(self) -> bool:
        return self.proc is None or self.proc.poll() is not None

    def flush(self) -> None:
        """Retry deferred mail now (postqueue -f)."""
        subprocess.run(["postqueue", "-c", self.config_dir, "-f"], check=True, capture_output=True, timeout=30)

    def purge(self) -> None:
        """Delete every message still queued (postsuper -d ALL): what one test leaves behind,
        such as a bounce nobody can receive, is not another test's queue to drain."""
        subprocess.run(["postsuper", "-c", self.config_dir, "-d", "ALL"], check=True, capture_output=True, timeout=30)

    def queue(self) -> str:
        """The queue listing (postqueue -p)."""
        done = subprocess.run(["postqueue", "-c", self.config_dir, "-p"], capture_output=True, text=True, timeout=30, check=False)
        return done.stdout

    def log_tail(self, lines: int = 60) -> str:
        if self.root is None:
            return ""
        out = []
        for name in ("start-fg.log", "postfix.log"):
            p = self.root / name
            if p.exists():
                out += p.read_text(errors="replace").splitlines()[-lines:]
        return "\n".join(out)

    def stop(self) -> None:
        binary = postfix_binary()
        if self.proc is not None and self.proc.poll() is None and binary:
            subprocess.run([binary, "-c", self.config_dir, "stop"], capture_output=True, timeout=60, check=False)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if self.root is not None and not os.environ.get("PIXELGUARD_KEEP_POSTFIX"):
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None
