"""The `imap:` section of the config file: the accounts `pixelguard imap` cleans.

pixelguard/config composes this section into the whole file's model; the IMAP modules read
an account (`ImapAccount`) and nothing else of the config.
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from pixelguard.config_fields import ConfigPath, HostName, Section, dedupe
from pixelguard.imap.folder_name import inbox_canonical
from pixelguard.loopback import is_loopback

__all__ = ["ImapAccount", "ImapConfig"]


class ImapAccount(Section):
    """One mailbox the IMAP post-processor cleans."""

    name: str
    host: HostName
    security: Literal["tls", "starttls", "none"] = "tls"
    port: int | None = Field(default=None, ge=1, le=65535)  # None in the file: 993 tls, else 143
    username: str
    password_command: str | None = None
    password_env: str | None = None
    password: str | None = None  # refused unless allow_literal_password; then warned about
    allow_literal_password: bool = False  # opt in to a literal password (prefer the other two)
    folders: list[str] = Field(default_factory=lambda: ["INBOX"], min_length=1)
    originals: str = "pixelguard/originals"  # folder for the originals, or "delete"
    user: str | None = None  # whose policy applies; None in the file: the username
    verify_tls: bool = True
    ca_file: ConfigPath | None = None

    @field_validator("name", "username", mode="after")
    @classmethod
    def _not_empty(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be empty")
        return v.strip()

    @field_validator("password_command", "password_env", mode="after")
    @classmethod
    def _source_not_empty(cls, v: str | None) -> str | None:
        if v is not None and not v.strip():
            raise ValueError("must not be empty")
        return v

    @field_validator("security", mode="after")
    @classmethod
    def _security(cls, v: str, info: ValidationInfo) -> str:
        host = info.data.get("host")
        if v == "none" and host is not None and not is_loopback(host):
            raise ValueError(
                f"'none' sends the password in clear text; it is only allowed for a "
                f"loopback host (localhost, 127.0.0.1, ::1), not {host!r}; use tls or starttls"
            )
        return v

    @field_validator("folders", mode="after")
    @classmethod
    def _folders(cls, v: list[str]) -> list[str]:
        if any(not f.strip() for f in v):
            raise ValueError("folder names must not be empty")
        return dedupe(v)

    @model_validator(mode="after")
    def _complete(self) -> ImapAccount:
        sources = ("password_command", "password_env", "password")
        given = [n for n in sources if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError(
                (f"[{given[1]}] " if len(given) > 1 else "")
                + "give exactly one of password_command, password_env or password"
                + (f" (found {', '.join(given)})" if given else "")
            )
        if self.password is not None and not self.allow_literal_password:
            # Never the value itself: errors and logs must not carry the secret.
            raise ValueError(
                "[password] a literal password in the config file is refused; use "
                "password_command or password_env, or set allow_literal_password: true "
                "on this account to accept it"
            )
        if self.port is None:
            self.port = 993 if self.security == "tls" else 143
        if self.user is None:
            self.user = self.username

        def same(name: str) -> str:
            return inbox_canonical(name.strip().strip("/"))

        originals = same(self.originals)
        if originals in ("", "INBOX") or originals in {same(f) for f in self.folders}:
            raise ValueError(
                f"[originals] {self.originals!r} would put originals back into a cleaned folder; "
                "name another folder or 'delete'"
            )
        return self


class ImapConfig(Section):
    accounts: list[ImapAccount] = Field(default_factory=list)

    @field_validator("accounts", mode="after")
    @classmethod
    def _unique_names(cls, v: list[ImapAccount]) -> list[ImapAccount]:
        seen: dict[str, int] = {}
        for i, account in enumerate(v):
            if account.name in seen:
                raise ValueError(
                    f"[{i}] account name {account.name!r} is already used "
                    f"by accounts[{seen[account.name]}]"
                )
            seen[account.name] = i
        return v

    def account(self, name: str) -> ImapAccount | None:
        return next((a for a in self.accounts if a.name == name), None)
