"""`pixelguard allow`: one entry added in place, everything else in the file byte-identical."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from pixelguard import cli
from pixelguard.config import ConfigError, load_config

ROOT = Path(__file__).resolve().parents[1]


def allow(capsys, *args: str) -> tuple[int, str, str]:
    try:
        code = cli.main(["allow", *args])
    except SystemExit as exc:  # argparse usage errors
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def write(tmp_path: Path, text: str, name: str = "pixelguard.yaml") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode())
    return path


def changed_lines(old: str, new: str) -> list[tuple[str, str]]:
    """(old line, new line) pairs that differ, for files with the same number of lines."""
    a, b = old.splitlines(keepends=True), new.splitlines(keepends=True)
    assert len(a) == len(b), (old, new)
    return [(x, y) for x, y in zip(a, b) if x != y]


def inserted_lines(old: str, new: str) -> list[str]:
    """The lines `new` has in addition to `old`, whose lines must all be there, in order."""
    a, b = old.splitlines(keepends=True), new.splitlines(keepends=True)
    out, i = [], 0
    for line in b:
        if i < len(a) and line == a[i]:
            i += 1
        else:
            out.append(line)
    assert i == len(a), "a line of the old file is missing or changed"
    return out


def test_example_config_keeps_every_comment_and_changes_only_the_list_line(tmp_path, capsys):
    old = (ROOT / "config.example.yaml").read_text()
    path = write(tmp_path, old)

    code, out, err = allow(capsys, "images.shop.example", "--config", str(path))

    assert code == 0, err
    assert "added images.shop.example to defaults.allow.hosts" in out
    ((before, after),) = changed_lines(old, path.read_text())
    assert before.startswith("    hosts: []")
    assert after.startswith("    hosts: [images.shop.example]")
    comment = before[before.index("#") :]
    assert after.endswith(comment)  # the comment, byte for byte
    assert "images.shop.example" in load_config(str(path)).defaults.allow.hosts


def test_block_list_gets_one_line_in_its_own_indentation(tmp_path, capsys):
    old = (
        "# my config\n"
        "defaults:\n"
        "    allow:\n"
        "        hosts:\n"
        "          -  a.example   # first\n"
        "          -  b.example\n"
        "        # senders come later\n"
        "    notice: true\n"
    )
    path = write(tmp_path, old)

    code, _, err = allow(capsys, "c.example", "--config", str(path))

    assert code == 0, err
    assert inserted_lines(old, path.read_text()) == ["          -  c.example\n"]
    assert load_config(str(path)).defaults.allow.hosts == ["a.example", "b.example", "c.example"]


def test_sender_for_an_existing_user_written_in_another_case(tmp_path, capsys):
    old = (
        "users:\n"
        "  Bob@Example.ORG:   # bob\n"
        "    notice: false\n"
        "    allow: {hosts: [x.example]}  # his\n"
        "relay: {listen: '127.0.0.1:10025'}\n"
    )
    path = write(tmp_path, old)

    code, out, err = allow(
        capsys, "News@Shop.Example", "--user", "bob@example.org", "--config", str(path)
    )

    assert code == 0, err
    assert "users.bob@example.org.allow.senders" in out
    assert "DKIM" in out  # a sender counts only when authenticated: said once
    ((_, after),) = changed_lines(old, path.read_text())
    assert after == "    allow: {hosts: [x.example], senders: [news@shop.example]} # his\n"
    cfg = load_config(str(path))
    assert cfg.users["bob@example.org"].allow.senders == ["news@shop.example"]
    assert cfg.policy_for("bob@example.org").allow_senders == ("news@shop.example",)


def test_new_user_and_missing_sections_are_added_as_lines(tmp_path, capsys):
    old = "# nothing but a relay\nrelay:\n  listen: '127.0.0.1:10025'   # loopback\n"
    path = write(tmp_path, old)

    assert (
        allow(capsys, "@lists.example", "--user", "carol@example.org", "--config", str(path))[0]
        == 0
    )
    assert allow(capsys, "https://cdn.shop.example/logo.png?x=1", "--config", str(path))[0] == 0

    new = path.read_text()
    assert inserted_lines(old, new) == [
        "users:\n",
        "  carol@example.org:\n",
        "    allow:\n",
        "      senders: [lists.example]\n",
        "defaults:\n",
        "  allow:\n",
        "    hosts: [cdn.shop.example]\n",
    ]
    cfg = load_config(str(path))
    assert cfg.users["carol@example.org"].allow.senders == ["lists.example"]
    assert cfg.defaults.allow.hosts == ["cdn.shop.example"]


def test_empty_file_and_null_values(tmp_path, capsys):
    empty = write(tmp_path, "# only a comment\n", "empty.yaml")
    nulls = write(tmp_path, "defaults:\n  allow:\n    hosts:    # none yet\n  deny: ~\n", "n.yaml")

    assert allow(capsys, "a.example", "--config", str(empty))[0] == 0
    assert allow(capsys, "a.example", "--config", str(nulls))[0] == 0

    assert empty.read_text() == "# only a comment\ndefaults:\n  allow:\n    hosts: [a.example]\n"
    assert (
        nulls.read_text() == "defaults:\n  allow:\n    hosts: [a.example] # none yet\n  deny: ~\n"
    )


def test_crlf_file_stays_crlf(tmp_path, capsys):
    path = write(tmp_path, "defaults:\r\n  notice: true\r\n")

    assert allow(capsys, "a.example", "--config", str(path))[0] == 0

    assert path.read_bytes() == (
        b"defaults:\r\n  notice: true\r\n  allow:\r\n    hosts: [a.example]\r\n"
    )


def test_adding_twice_changes_nothing_the_second_time(tmp_path, capsys):
    path = write(tmp_path, (ROOT / "config.example.yaml").read_text()
                 + "users:\n  bob@example.org:\n    allow: {hosts: [images.partner-bank.example]}\n")
    assert allow(capsys, "Images.Shop.Example", "--config", str(path))[0] == 0
    once = path.read_bytes()
    mtime = path.stat().st_mtime_ns

    again = allow(capsys, "*.images.shop.example", "--config", str(path))
    user_again = allow(
        capsys, "images.partner-bank.example", "--user", "BOB@example.org", "--config", str(path)
    )

    assert again[0] == 0 and "already in defaults.allow.hosts" in again[1]
    assert user_again[0] == 0 and "already in users.bob@example.org.allow.hosts" in user_again[1]
    assert path.read_bytes() == once
    assert path.stat().st_mtime_ns == mtime


@pytest.mark.parametrize(
    "args, message",
    [
        (["not a host"], "contains spaces"),
        (["https:///no-host"], "without a host"),
        (["a@"], "empty domain"),
        (["ok.example", "--user", "nobody"], "not an e-mail address"),
    ],
)
def test_bad_entries_are_usage_errors_and_change_nothing(tmp_path, capsys, args, message):
    old = (ROOT / "config.example.yaml").read_bytes()
    path = tmp_path / "c.yaml"
    path.write_bytes(old)

    code, _, err = allow(capsys, *args, "--config", str(path))

    assert code == 2
    assert message in err and "Traceback" not in err
    assert path.read_bytes() == old


def test_an_invalid_file_is_reported_and_left_alone(tmp_path, capsys):
    old = "defaults:\n  action: shred\n"
    path = write(tmp_path, old)

    code, _, err = allow(capsys, "a.example", "--config", str(path))

    assert code == 2
    assert f"{path}:2" in err and "defaults.action" in err
    assert path.read_text() == old


def test_an_edit_that_would_change_other_entries_is_refused(tmp_path, capsys):
    # bob's allow list is the same node as the defaults' (an alias): adding to one in the
    # text adds to both, which the check after the edit notices.
    old = (
        "defaults:\n"
        "  allow: &shared {hosts: [a.example]}\n"
        "users:\n"
        "  bob@example.org:\n"
        "    allow: *shared\n"
    )
    path = write(tmp_path, old)

    code, _, err = allow(capsys, "b.example", "--config", str(path))

    assert code == 2
    assert "file is unchanged" in err and "defaults.allow.hosts" in err
    assert path.read_text() == old
    assert os.listdir(tmp_path) == ["pixelguard.yaml"]  # no temporary file left


def test_a_result_the_loader_refuses_leaves_the_file_unchanged(tmp_path, capsys, monkeypatch):
    path = write(tmp_path, "defaults:\n  notice: true\n")
    old = path.read_bytes()
    real = load_config

    def loader_refusing_the_edit(p):
        if p != str(path):  # the edited successor, in a temporary file
            raise ConfigError("refused for the test", p, 1, "defaults")
        return real(p)

    monkeypatch.setattr("pixelguard.config.load_config", loader_refusing_the_edit)

    code, _, err = allow(capsys, "a.example", "--config", str(path))

    assert code == 2
    assert "the file is unchanged" in err and str(path) in err and "refused for the test" in err
    assert path.read_bytes() == old
    assert os.listdir(tmp_path) == ["pixelguard.yaml"]


def test_the_file_mode_is_kept(tmp_path, capsys):
    path = write(tmp_path, "defaults: {}\n")
    path.chmod(0o640)

    assert allow(capsys, "a.example", "--config", str(path))[0] == 0

    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert path.read_text() == "defaults: {allow: {hosts: [a.example]}}\n"


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a file to another user")
def test_owner_and_group_are_kept(tmp_path, capsys):
    path = write(tmp_path, "defaults: {}\n")
    os.chown(path, 4321, 4322)  # as for root:pixelguard, the service user must still read it

    assert allow(capsys, "a.example", "--config", str(path))[0] == 0

    assert (path.stat().st_uid, path.stat().st_gid) == (4321, 4322)
