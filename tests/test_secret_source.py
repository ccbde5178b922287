"""One secret reader for the relay, IMAP and check-config: the same rules and messages."""
from __future__ import annotations

import types

import pytest

from pixelguard.imap.connection import AuthError, resolve_password
from pixelguard.imap.settings import ImapAccount
from pixelguard.relay.settings import NextHopAuth
from pixelguard.secret_source import SecretError, read_secret


def source(**kw):
    return types.SimpleNamespace(password_env=kw.get("env"), password_command=kw.get("command"))


def test_a_variable_gives_its_value(monkeypatch):
    monkeypatch.setenv("PG_SECRET_TEST", "s3cret")
    assert read_secret(source(env="PG_SECRET_TEST"), "x") == "s3cret"


@pytest.mark.parametrize("value", [None, ""])
def test_an_unset_or_empty_variable_is_an_error(monkeypatch, value):
    if value is None:
        monkeypatch.delenv("PG_SECRET_TEST", raising=False)
    else:
        monkeypatch.setenv("PG_SECRET_TEST", value)
    with pytest.raises(SecretError) as info:
        read_secret(source(env="PG_SECRET_TEST"), "relay.next_hop_auth")
    assert str(info.value) == ("relay.next_hop_auth: environment variable PG_SECRET_TEST "
                               "(password_env) is not set or empty")


def test_a_command_gives_its_first_line():
    assert read_secret(source(command="printf 'pw one\\nsecond\\n'"), "x") == "pw one"


@pytest.mark.parametrize("command, message", [
    ("echo oops-secret; exit 3", "x: password_command failed with exit status 3"),
    ("true", "x: password_command printed no password"),
    ("printf '\\nlater\\n'", "x: password_command printed no password"),
])
def test_a_failing_command_says_why_without_its_output(command, message):
    with pytest.raises(SecretError) as info:
        read_secret(source(command=command), "x")
    assert str(info.value) == message


def test_a_command_reads_no_input():
    # `cat` would wait for input forever; it gets none and prints nothing
    with pytest.raises(SecretError, match="printed no password"):
        read_secret(source(command="cat"), "x")


def test_relay_and_imap_read_the_same_way(monkeypatch):
    monkeypatch.setenv("PG_SECRET_TEST", "")
    relay = NextHopAuth(username="u", password_env="PG_SECRET_TEST")
    account = ImapAccount(name="a", host="127.0.0.1", username="u", password_env="PG_SECRET_TEST")
    with pytest.raises(SecretError) as from_relay:
        read_secret(relay, "relay.next_hop_auth")
    with pytest.raises(AuthError) as from_imap:
        resolve_password(account)
    tail = "environment variable PG_SECRET_TEST (password_env) is not set or empty"
    assert str(from_relay.value).endswith(tail) and str(from_imap.value).endswith(tail)
    assert str(from_imap.value).startswith("account 'a' (u at 127.0.0.1:993)")
