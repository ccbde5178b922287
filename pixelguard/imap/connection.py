"""Connecting and logging in to one account; errors that a person can act on; no secret leaks.

Every failure leaves this module as an AccountError whose text names the account, the
server and what to do, and never contains the password (it is redacted from anything
the server or a library says, just in case; only from that text, so that a short password
cannot mangle the account's own name, user or host in the line).
"""

from __future__ import annotations

import contextlib
import ssl
from dataclasses import dataclass

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError

from pixelguard.imap.settings import ImapAccount
from pixelguard.loopback import is_loopback
from pixelguard.secret_source import SecretError, read_secret

TIMEOUT = 60.0  # seconds for connect and for each command; IDLE waits use their own timeouts

# Exit codes a cron job or systemd unit can act on (documented in docs/imap.md).
EXIT_OK = 0
EXIT_PARTIAL = 1  # some messages or folders failed or were refused; the rest was done
EXIT_USAGE = 2  # bad arguments or config file
EXIT_AUTH = 3  # login, password source or TLS verification failed: needs a person
EXIT_TEMPFAIL = 75  # server unreachable or connection lost: try again later (EX_TEMPFAIL)


class AccountError(Exception):
    """One account could not be processed: str() is one line for people, `exit_code` how bad."""

    exit_code = EXIT_PARTIAL


class AuthError(AccountError):
    exit_code = EXIT_AUTH


class UnreachableError(AccountError):
    exit_code = EXIT_TEMPFAIL


class RefusedError(AccountError):
    """The server lacks something pixelguard needs to keep every message safe."""

    exit_code = EXIT_PARTIAL


def redact(text: str, secrets: tuple[str, ...]) -> str:
    """`text` with every secret replaced by '***'."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def _where(account: ImapAccount) -> str:
    return f"account {account.name!r} ({account.username} at {account.host}:{account.port})"


def resolve_password(account: ImapAccount) -> str:
    """The account's password from password_command, password_env (secret_source.read_secret)
    or the literal value."""
    if account.password_command is None and account.password_env is None:
        if account.password:
            return account.password
        raise AuthError(f"{_where(account)}: no password configured")
    try:
        return read_secret(account, _where(account))
    except SecretError as exc:
        raise AuthError(str(exc)) from None


def _tls_context(account: ImapAccount) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=account.ca_file)
    if not account.verify_tls:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


@dataclass
class Session:
    """A logged-in connection plus what we learnt about the server."""

    client: IMAPClient
    account: ImapAccount
    secrets: tuple[str, ...]

    def error(self, what: str, exc: BaseException | str) -> str:
        """One line: account, what failed, and the (redacted) reason."""
        return f"{_where(self.account)}: {what}: {redact(_reason(exc), self.secrets)}"

    def logout(self) -> None:
        try:
            self.client.logout()
        except Exception:  # noqa: BLE001 - the connection may be gone already; nothing to save
            with contextlib.suppress(Exception):
                self.client.shutdown()


def _reason(exc: BaseException | str) -> str:
    if isinstance(exc, str):
        return exc
    text = str(exc)
    if isinstance(exc, bytes):
        text = exc.decode("utf-8", "replace")
    if text.startswith(("b'", 'b"')):
        text = text[2:-1]
    text = " ".join(text.split())
    return text or type(exc).__name__


def connect(account: ImapAccount) -> Session:
    """Connect, secure the connection as configured, and log in. Raises AccountError."""
    if account.security == "none" and not is_loopback(account.host):
        raise RefusedError(f"{_where(account)}: security 'none' is only allowed for loopback hosts")
    password = resolve_password(account)
    secrets = (password,)
    where = _where(account)
    try:
        client = IMAPClient(
            account.host,
            port=account.port,
            ssl=account.security == "tls",
            ssl_context=_tls_context(account) if account.security == "tls" else None,
            timeout=TIMEOUT,
        )
    except ssl.SSLCertVerificationError as exc:
        raise AuthError(
            f"{where}: TLS certificate not trusted: {redact(_reason(exc), secrets)}"
        ) from None
    except (OSError, IMAPClientError) as exc:
        raise UnreachableError(
            f"{where}: cannot connect: {redact(_reason(exc), secrets)}"
        ) from None
    client.normalise_times = False  # keep each INTERNALDATE's own offset for the APPEND
    session = Session(client, account, secrets)
    try:
        if account.security == "starttls":
            if not client.has_capability("STARTTLS"):
                raise AuthError(  # a person must look: misconfigured, or a downgrade attack
                    f"{where}: security is starttls but the server does not offer STARTTLS"
                )
            client.starttls(_tls_context(account))
        client.login(account.username, password)
    except LoginError as exc:
        session.logout()
        raise AuthError(
            f"{where}: login failed: {redact(_reason(exc), secrets)} (check username and password)"
        ) from None
    except ssl.SSLCertVerificationError as exc:
        session.logout()
        raise AuthError(
            f"{where}: TLS certificate not trusted: {redact(_reason(exc), secrets)}"
        ) from None
    except AccountError:
        session.logout()
        raise
    except (OSError, IMAPClientError) as exc:  # socket.timeout is an OSError
        session.logout()
        raise UnreachableError(
            f"{where}: connection failed: {redact(_reason(exc), secrets)}"
        ) from None
    return session
