"""INBOX in any case is INBOX, for the config's originals check and the server-side one."""
from __future__ import annotations

import pytest

from pixelguard.config import ConfigError, parse_config
from pixelguard.imap.folder_name import inbox_canonical
from pixelguard.imap.run import same_folder


@pytest.mark.parametrize("name, want", [
    ("inbox", "INBOX"), ("Inbox/Sub", "INBOX/Sub"), ("INBOXES", "INBOXES"),
    ("Archive/inbox", "Archive/inbox"), ("inbox.sub", "inbox.sub"),
])
def test_slash_separated(name, want):
    assert inbox_canonical(name) == want


def test_a_server_delimiter_counts_when_given():
    assert inbox_canonical("inbox.Sub", "/.") == "INBOX.Sub"
    assert same_folder("inbox.Sub", "INBOX.Sub") and not same_folder("inbox.sub", "INBOX.Sub")


@pytest.mark.parametrize("originals", ["inbox", "/Inbox/", "INBOX/x"])
def test_the_config_refuses_originals_in_a_cleaned_folder(originals):
    text = ("imap:\n  accounts:\n    - {name: a, host: 127.0.0.1, username: u, password_env: P,\n"
            f"       folders: [INBOX, inbox/x], originals: '{originals}'}}\n")
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    assert info.value.key == "imap.accounts[0].originals"
