"""Secrets named in the relay config (password_env / password_command), read once at start."""
from __future__ import annotations

import os
import subprocess


class CredentialError(Exception):
    """A configured secret could not be read; the message says which and why."""


def read_secret(source, what: str) -> str:
    """The password of a config secret source (an object with password_env/password_command)."""
    if getattr(source, "password_env", None):
        name = source.password_env
        value = os.environ.get(name)
        if value is None:
            raise CredentialError(f"{what}: environment variable {name} is not set")
        return value
    command = getattr(source, "password_command", None)
    if command:
        try:
            done = subprocess.run(command, shell=True, capture_output=True, timeout=30, check=False)
        except subprocess.TimeoutExpired:
            raise CredentialError(f"{what}: password_command did not finish within 30 s") from None
        if done.returncode != 0:
            raise CredentialError(f"{what}: password_command exited with status {done.returncode}")
        lines = done.stdout.decode("utf-8", "replace").splitlines()
        if not lines or not lines[0]:
            raise CredentialError(f"{what}: password_command printed no password")
        return lines[0]
    raise CredentialError(f"{what}: give password_env or password_command")
