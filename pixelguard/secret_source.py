"""Reading a password from where the config says it is: `password_env` (an environment
variable) or `password_command` (a command whose first output line is the password).

The relay (AUTH users, the next hop's login), IMAP accounts and check-config all read
secrets here, so one source behaves the same everywhere: a variable must be set and not
empty; a command runs through the shell like isync's PassCmd or msmtp's passwordeval, with
no input, for at most TIMEOUT seconds, its standard error left to the user (a password
manager's own complaint explains itself), and must exit 0 and print a non-empty first
line. Errors name the source, never the secret.
"""
from __future__ import annotations

import os
import subprocess

TIMEOUT = 60  # seconds; a password manager may wait for its agent or a vault's login


class SecretError(Exception):
    """A configured secret could not be read; str() says which and why."""


def read_secret(source, what: str) -> str:
    """The password named by `source` (an object with `password_env` and
    `password_command`, at most one of them set); `what` starts each error message."""
    name = getattr(source, "password_env", None)
    if name:
        value = os.environ.get(name)
        if not value:
            raise SecretError(f"{what}: environment variable {name} (password_env) "
                              "is not set or empty")
        return value
    command = getattr(source, "password_command", None)
    if command:
        try:
            done = subprocess.run(command, shell=True, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, timeout=TIMEOUT, check=False)
        except subprocess.TimeoutExpired:
            raise SecretError(
                f"{what}: password_command did not finish within {TIMEOUT} s") from None
        if done.returncode != 0:
            raise SecretError(
                f"{what}: password_command failed with exit status {done.returncode}")
        lines = done.stdout.decode("utf-8", "replace").splitlines()
        if not lines or not lines[0]:
            raise SecretError(f"{what}: password_command printed no password")
        return lines[0]
    raise SecretError(f"{what}: give password_env or password_command")
