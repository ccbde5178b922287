"""`pixelguard check-config`: what a config file means, and whether its secrets can be read.

Prints which file applies, each user's policy, the relay, milter and IMAP sections as the commands
will use them, and tries every password source the way the services do (environment
variable set and not empty; password_command run, its first line non-empty). Secrets are
never printed: a source is shown by its kind and variable name, and "ok" or what failed.
The relay settings also go through the relay's own start-up check (no open relay, TLS
files readable). Exit 0 when everything checks out, 1 when a password source or that check
fails (the file itself is valid; config errors exit 2 before this module runs).
"""
from __future__ import annotations

from typing import TextIO

from pixelguard.config import Config, describe_policies
from pixelguard.config_file import describe_source
from pixelguard.display import count
from pixelguard.secret_source import read_secret

EXIT_OK = 0
EXIT_SECRETS = 1


def _secret_status(read, prefix: str) -> tuple[bool, str]:
    """(ok, text) for one password source; `read` returns the secret or raises an error
    whose text starts with `prefix` (the helpers name the source; the listing already does)."""
    try:
        value = read()
    except Exception as exc:  # noqa: BLE001 - read_secret's SecretError, IMAP's AuthError
        text = str(exc)
        return False, "FAILED: " + text.removeprefix(prefix)
    if not value:
        return False, "FAILED: empty password"
    return True, "ok"


def _source_name(src) -> str:
    if getattr(src, "password_env", None):
        return f"password_env {src.password_env}"
    if getattr(src, "password_command", None):
        return "password_command"
    return "literal password in the file (allow_literal_password)"


def _size(n: int) -> str:
    for unit, factor in (("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if n >= factor and n % factor == 0:
            return f"{n // factor} {unit}"
    return count(n, "byte")


def _relay_lines(cfg: Config, failures: list[str]) -> list[str]:
    from pixelguard.relay.maildir import default_maildir

    r = cfg.relay
    hop = r.next_hop or f"maildir:{default_maildir()} (no next_hop given)"
    clients = "loopback" + (f" and {', '.join(r.allow_networks)}" if r.allow_networks else " only")
    lines = [
        "relay (pixelguard relay):",
        f"  listen: {r.listen} ({r.protocol}), clients: {clients}",
        f"  next hop: {hop}",
        (f"  max size: {_size(r.max_size)}, timeout {r.timeout:g} s, "
         f"{count(r.max_connections, 'connection')} at most"),
        f"  STARTTLS for clients: {'on (' + r.tls_cert + ')' if r.tls_cert else 'off'}",
    ]
    if r.next_hop_tls.starttls:
        lines.append("  next hop TLS: STARTTLS, certificate "
                     + ("verified" if r.next_hop_tls.verify else "NOT verified"))
    sources = [(f"relay.auth_users.{user}", src) for user, src in (r.auth_users or {}).items()]
    if r.next_hop_auth is not None:
        sources.append((f"relay.next_hop_auth ({r.next_hop_auth.username})", r.next_hop_auth))
    if not sources:
        lines.append("  passwords: none used")
    for what, src in sources:
        ok, text = _secret_status(lambda src=src, what=what: read_secret(src, what), f"{what}: ")
        lines.append(f"  {what}: {_source_name(src)}: {text}")
        if not ok:
            failures.append(what)
    if r.metrics:
        lines.append(f"  metrics: http://{r.metrics}/metrics")
    # What `pixelguard relay` refuses at start (an open relay, unreadable TLS files), by the
    # relay's own check; its passwords were tried above.
    from pixelguard.relay.setup import SetupError, build_settings

    try:
        build_settings(r.model_copy(update={"auth_users": None}))
    except SetupError as exc:
        lines.append(f"  FAILED: the relay would not start: {exc}")
        failures.append("relay")
    return lines


def _imap_lines(cfg: Config, failures: list[str]) -> list[str]:
    accounts = cfg.imap.accounts
    if not accounts:
        return ["imap (pixelguard imap): no accounts"]
    import ssl

    from pixelguard.imap.connection import _tls_context, _where, resolve_password

    lines = [f"imap (pixelguard imap): {count(len(accounts), 'account')}"]
    for a in accounts:
        tls = a.security + ("" if a.verify_tls or a.security == "none" else ", certificate NOT verified")
        originals = "deleted" if a.originals == "delete" else f"kept in {a.originals}"
        ok, text = _secret_status(lambda a=a: resolve_password(a), f"{_where(a)}: ")
        lines += [
            f"  {a.name}: {a.username} at {a.host}:{a.port} ({tls})",
            f"    folders: {', '.join(a.folders)}; originals {originals}; policy of {a.user}",
            f"    password: {_source_name(a)}: {text}",
        ]
        if a.ca_file and a.security != "none":
            try:
                _tls_context(a)  # as the connection builds it: the CA bundle must load
                lines.append(f"    ca_file: {a.ca_file}: ok")
            except (OSError, ssl.SSLError) as exc:
                lines.append(f"    ca_file: {a.ca_file}: FAILED: {exc}")
                ok = False
        if not ok:
            failures.append(f"imap account {a.name}")
    return lines


def _milter_lines(cfg: Config, failures: list[str]) -> list[str]:
    from pixelguard.milter import listen_refusal

    m = cfg.milter
    lines = [
        "milter (pixelguard milter):",
        f"  listen {m.listen}, max_size {_size(m.max_size)}, timeout {m.timeout:g} s, "
        f"max_concurrent {m.max_concurrent}, workers {m.workers if m.workers is not None else 'one per core'}"
        + (f", metrics on {m.metrics}" if m.metrics else ""),
    ]
    refusal = listen_refusal(m.listen, m.allow_remote)
    if refusal is not None:
        lines.append(f"  FAILED: the milter would not start: {refusal}")
        failures.append("milter")
    return lines


def check_config(path: str | None, cfg: Config, out: TextIO) -> int:
    failures: list[str] = []
    lines = [describe_source(path), ""]
    lines.append(describe_policies(cfg).rstrip("\n"))
    lines += ["", *_relay_lines(cfg, failures), "", *_milter_lines(cfg, failures),
              "", *_imap_lines(cfg, failures), ""]
    if failures:
        lines.append(f"{count(len(failures), 'check')} failed: {', '.join(failures)}"
                     " (run check-config as the user the service runs as, with its environment)")
    else:
        lines.append("config OK")
    print("\n".join(lines), file=out)
    return EXIT_SECRETS if failures else EXIT_OK
