"""One loopback check for every "loopback only" rule: the config's `security: none`, the
IMAP connection, the relay's and the milter's listening address agree."""
from __future__ import annotations

import pytest

from pixelguard.config import ConfigError, parse_config
from pixelguard.loopback import is_loopback
from pixelguard.milter import listen_refusal
from pixelguard.relay.settings import RelayConfig
from pixelguard.relay.setup import SetupError, build_settings

LOOPBACK = ["localhost", "LOCALHOST.", "localhost.localdomain", "mail.localhost", "127.0.0.1",
            "127.8.9.10", "::1", "[::1]", " 127.0.0.1 "]
NOT_LOOPBACK = ["", "example.org", "localhost.example.org", "notlocalhost", "192.0.2.1",
                "0.0.0.0", "::", "[2001:db8::1]", "::ffff:192.0.2.1"]


@pytest.mark.parametrize("host", LOOPBACK)
def test_loopback_names_and_addresses(host):
    assert is_loopback(host)


@pytest.mark.parametrize("host", NOT_LOOPBACK)
def test_other_hosts_are_not_loopback(host):
    assert not is_loopback(host)


def _account(host: str) -> str:
    return ("imap:\n  accounts:\n    - {name: a, security: none, username: u, password_env: PW,\n"
            f"       host: '{host}'}}\n")


@pytest.mark.parametrize("host", ["localhost", "localhost.localdomain", "127.0.0.1", "::1"])
def test_config_and_connection_agree_on_clear_text_imap(host, monkeypatch):
    from pixelguard.imap.connection import RefusedError, connect

    monkeypatch.delenv("PW", raising=False)
    account = parse_config(_account(host)).imap.accounts[0]
    # the config accepts it, and connect() gets past its own loopback check: it fails only
    # at reading the (unset) password, not with RefusedError
    with pytest.raises(Exception) as info:
        connect(account)
    assert not isinstance(info.value, RefusedError)
    assert "PW" in str(info.value)


def test_clear_text_imap_to_another_host_is_a_config_error():
    with pytest.raises(ConfigError) as info:
        parse_config(_account("imap.example.org"))
    assert info.value.key == "imap.accounts[0].security"


@pytest.mark.parametrize("listen, refused", [("localhost:10025", False),
                                             ("127.0.0.1:10025", False),
                                             ("[::1]:10025", False),
                                             ("192.0.2.1:10025", True)])
def test_the_relay_and_the_milter_use_the_same_check(listen, refused):
    relay = RelayConfig(listen=listen)
    if refused:
        with pytest.raises(SetupError):
            build_settings(relay)
    else:
        build_settings(relay)
    host = listen.rpartition(":")[0]
    assert (listen_refusal(f"inet:{host}:10030", allow_remote=False) is not None) == refused
