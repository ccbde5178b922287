"""A throwaway Dovecot (IMAP + LMTP on free loopback ports) for end-to-end tests.

Recipe from shared/docs/TESTING.md: `dovecot -F -c ROOT/dovecot.conf` in the foreground,
a short root under /tmp (unix socket paths over ~100 chars fail), users in passwd-files
(one per user, so users can be added while it runs), optional
per-user quota, stopped with SIGTERM. It never touches /etc/dovecot.

    with Dovecot() as dc:
        dc.add_user("alice@example.org", "secret")
        client = dc.client("alice@example.org")
"""

from __future__ import annotations

import itertools
import os
import pwd
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Self

DEFAULT_PASSWORD = "secret"


def dovecot_binary() -> str | None:
    """Path of the dovecot binary, or None when it is not installed."""
    return shutil.which("dovecot") or next(
        (p for p in ("/usr/sbin/dovecot", "/usr/local/sbin/dovecot") if os.access(p, os.X_OK)), None
    )


def _kernel_port() -> int:
    """A loopback TCP port that was free a moment ago (the kernel picks it, from its
    ephemeral range: a client socket may be given it before our server binds it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_HANDED_OUT: set[int] = set()  # ports listen_port gave this test run: never given twice


def listen_port() -> int:
    """A free loopback port below the kernel's ephemeral range, for a server started later
    (or restarted on the same port, or meant to be down): no client socket is ever given it
    as its local port, and no other caller in this test run is given it too."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(20000, max(low, 20001))
        if port in _HANDED_OUT:  # maybe not bound yet by whoever asked for it
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port
    return _kernel_port()



def _wait_for_greeting(port: int, prefix: bytes, deadline: float) -> None:
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                if s.recv(200).startswith(prefix):
                    return
        except OSError as exc:
            last = exc
        time.sleep(0.02)  # polling interval while the server binds, not a wait for luck
    raise RuntimeError(f"dovecot did not greet on 127.0.0.1:{port} ({last})")


_CONF = """\
protocols = imap lmtp
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
instance_name = pixelguard-test-{imap_port}
log_path = {root}/dovecot.log
{ssl}
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
mail_location = maildir:{root}/mail/%u
{identity}
mail_plugins = $mail_plugins quota
{capability}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users/%u
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {root}/users/%u
  default_fields = home={root}/mail/%u
}}
namespace inbox {{
  inbox = yes
  separator = {separator}
  prefix = {prefix}
}}
plugin {{
  quota = maildir:User quota
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap_port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps_port}
  }}
{login_chroot}
}}
service anvil {{
{anvil_chroot}
  # No growing login delays after the failed-login tests (all clients share 127.0.0.1).
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {lmtp_port}
  }}
  unix_listener lmtp {{
    mode = 0666
  }}
}}
protocol imap {{
  mail_plugins = $mail_plugins imap_quota
  mail_max_userip_connections = 100
}}
protocol lmtp {{
  postmaster_address = postmaster@example.org
}}
"""


class Dovecot:
    """One Dovecot instance under a private root directory.

    Attributes once started: `root`, `imap_port`, `lmtp_port`, `lmtp_socket`, `host`;
    with tls=True also `imaps_port` (implicit TLS), STARTTLS on `imap_port`, and `ca_file`.
    `capabilities`, when given, replaces the advertised IMAP capability list
    (`imap_capability`), to test clients against a server that lacks e.g. MOVE or UIDPLUS.
    `separator` and `prefix` shape the personal namespace (e.g. "." and "INBOX.").
    `extra_conf`, when given, is appended to the config: called with the root directory,
    it returns settings (e.g. "!include ROOT/90-pixelguard.conf" for the Sieve tests).
    """

    host = "127.0.0.1"

    def __init__(
        self,
        capabilities: str | None = None,
        tls: bool = False,
        separator: str = "/",
        prefix: str = "",
        extra_conf: Callable[[Path], str] | None = None,
        root_prefix: str = "pgdc",
    ) -> None:
        self.capabilities = capabilities
        self.root_prefix = root_prefix  # of the private root under /tmp (short: socket paths)
        self.tls = tls
        self.separator = separator  # hierarchy delimiter of the personal namespace
        self.prefix = prefix  # e.g. "INBOX." for a Courier/Cyrus-like layout
        self.extra_conf = extra_conf
        self.root: Path | None = None
        self.imap_port = 0
        self.imaps_port = 0  # only with tls=True
        self.lmtp_port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self._users: dict[str, str] = {}
        self._counter = itertools.count(1)

    @property
    def ca_file(self) -> str:
        """With tls=True: the self-signed certificate (CN localhost, IP 127.0.0.1) to trust."""
        assert self.root is not None and self.tls
        return str(self.root / "tls" / "cert.pem")

    def _make_certificate(self) -> str:
        assert self.root is not None
        tls = self.root / "tls"
        tls.mkdir()
        subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=localhost",
                "-addext",
                "subjectAltName=IP:127.0.0.1,DNS:localhost",
                "-keyout",
                str(tls / "key.pem"),
                "-out",
                str(tls / "cert.pem"),
            ],
            check=True,
            capture_output=True,
        )
        return f"ssl = yes\nssl_cert = <{tls / 'cert.pem'}\nssl_key = <{tls / 'key.pem'}"

    # -- lifecycle -------------------------------------------------------------------------
    def start(self, timeout: float = 15.0) -> Dovecot:
        binary = dovecot_binary()
        if binary is None:
            raise FileNotFoundError(
                "dovecot binary not found (apt-get install dovecot-imapd dovecot-lmtpd)"
            )
        self.root = Path(tempfile.mkdtemp(prefix=self.root_prefix, dir="/tmp"))
        self.root.chmod(0o755)  # the mail uid (nobody) must traverse it
        for sub in ("run", "state", "mail", "users"):
            (self.root / sub).mkdir()
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            os.chown(self.root / "mail", nobody.pw_uid, nobody.pw_gid)
            identity = "mail_uid = nobody\nmail_gid = nogroup\nfirst_valid_uid = 1"
            login_chroot = anvil_chroot = ""
        else:
            me = pwd.getpwuid(os.geteuid()).pw_name
            identity = (
                f"default_login_user = {me}\ndefault_internal_user = {me}\n"
                f"default_internal_group = {me}\nfirst_valid_uid = 1"
            )
            login_chroot = anvil_chroot = "  chroot ="
        ports: set[int] = set()
        while len(ports) < 3:
            ports.add(listen_port())
        self.imap_port, self.lmtp_port, self.imaps_port = sorted(ports)
        if not self.tls:
            self.imaps_port = 0
        ssl_conf = self._make_certificate() if self.tls else "ssl = no"
        capability = f"imap_capability = {self.capabilities}" if self.capabilities else ""
        (self.root / "dovecot.conf").write_text(
            _CONF.format(
                root=self.root,
                imap_port=self.imap_port,
                imaps_port=self.imaps_port,
                lmtp_port=self.lmtp_port,
                ssl=ssl_conf,
                separator=self.separator,
                prefix=self.prefix,
                identity=identity,
                capability=capability,
                login_chroot=login_chroot,
                anvil_chroot=anvil_chroot,
            )
            + (self.extra_conf(self.root) if self.extra_conf else "")
        )
        return self._launch(binary, timeout)

    def _launch(self, binary: str, timeout: float) -> Dovecot:
        assert self.root is not None
        with open(self.root / "stderr.log", "ab") as err:
            self.proc = subprocess.Popen(
                [binary, "-F", "-c", str(self.root / "dovecot.conf")],
                stdout=subprocess.DEVNULL,
                stderr=err,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        try:
            _wait_for_greeting(self.imap_port, b"* OK", deadline)
            _wait_for_greeting(self.lmtp_port, b"220", deadline)
        except RuntimeError as exc:
            self.stop()
            raise RuntimeError(f"{exc}\n{self.log_tail()}") from None
        return self

    def restart(self, down: Callable[[], None] | None = None, timeout: float = 15.0) -> Dovecot:
        """Stop the server and start it again on the same ports with the same mailboxes.

        `down`, if given, runs while the server is stopped (e.g. to observe a client coping).
        """
        self._terminate()
        if down is not None:
            down()
        binary = dovecot_binary()
        assert binary is not None
        return self._launch(binary, timeout)

    def _terminate(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            # The whole process group at once: the master alone waits ~1 s for its children.
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        # Mail processes serving open connections can outlive a foreground master; end them
        # too (they share its process group), as a real server shutdown would.
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.proc = None

    def stop(self) -> None:
        self._terminate()
        if self.root is not None and not os.environ.get("PIXELGUARD_KEEP_DOVECOT"):
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- users -----------------------------------------------------------------------------
    @property
    def lmtp_socket(self) -> str:
        assert self.root is not None
        return str(self.root / "run" / "lmtp")

    def add_user(
        self, user: str, password: str = DEFAULT_PASSWORD, quota: str | None = None
    ) -> str:
        """Add a passwd-file user (e.g. quota="1K" for a storage quota). Returns the user name."""
        assert self.root is not None, "start() first"
        if any(c in user + password for c in ":\n"):
            raise ValueError("user and password must not contain ':' or newlines")
        if "/" in user or user.startswith("."):
            raise ValueError("user must not contain '/' or start with '.'")
        extra = f"userdb_quota_rule=*:storage={quota}" if quota else ""
        # One passwd-file per user: Dovecot re-reads a changed passwd-file at most once a
        # second, while a file it has never opened is read at the first login.
        (self.root / "users" / user).write_text(f"{user}:{{PLAIN}}{password}::::::{extra}\n")
        self._users[user] = password
        return user

    def new_user(self, prefix: str = "user", **kw: object) -> str:
        """A fresh user with an empty mailbox, unique within this instance."""
        return self.add_user(f"{prefix}{next(self._counter)}-{os.getpid()}@example.org", **kw)  # type: ignore[arg-type]

    def password(self, user: str) -> str:
        return self._users[user]

    def client(self, user: str, password: str | None = None, **kw: object):
        """A logged-in imapclient.IMAPClient for `user` (plain loopback connection)."""
        from imapclient import IMAPClient

        c = IMAPClient(self.host, port=self.imap_port, ssl=False, timeout=30, **kw)
        c.login(user, password if password is not None else self._users[user])
        return c

    def log_tail(self, lines: int = 40) -> str:
        if self.root is None:
            return ""
        out = []
        for name in ("stderr.log", "dovecot.log"):
            p = self.root / name
            if p.exists():
                out += p.read_text(errors="replace").splitlines()[-lines:]
        return "\n".join(out)
