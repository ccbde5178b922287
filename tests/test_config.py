"""Config: YAML -> Config -> Policy; every bad file gives a ConfigError naming file, line and key."""
from __future__ import annotations

import os
import shlex
import textwrap
import warnings
from pathlib import Path

import pytest
import yaml
from cli_run import run_cli
from hypothesis import given, settings
from hypothesis import strategies as st

from pixelguard.config import (
    Config,
    ConfigError,
    ConfigWarning,
    ImapAccount,
    RelayConfig,
    describe_policies,
    load_config,
    parse_config,
    parse_hostport,
    parse_next_hop,
    parse_size,
)

REPO = Path(__file__).resolve().parent.parent


def parse(text: str, filename: str = "pg.yaml") -> Config:
    return parse_config(textwrap.dedent(text), filename)


def error_of(text: str, filename: str = "pg.yaml") -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse(text, filename)
    return info.value


ACCOUNT = """\
imap:
  accounts:
    - name: a
      host: {host}
      security: {security}
      username: alice
      password_env: PW
"""


# --- valid files and defaults -------------------------------------------------------------


def test_no_file_gives_all_defaults():
    cfg = load_config(None)
    assert cfg.defaults.action == "strip" and cfg.defaults.notice.enabled is True
    assert cfg.users == {} and cfg.lists == []
    assert cfg.auth.require_for_allow is True and cfg.auth.trusted_authserv_ids == []
    assert cfg.relay.listen == "127.0.0.1:10025"
    assert cfg.relay.protocol == "smtp"
    assert cfg.relay.next_hop is None
    assert cfg.relay.max_size == 50_000_000
    assert cfg.relay.timeout == 300 and cfg.relay.max_connections == 100
    assert cfg.relay.next_hop_tls.verify is True and cfg.relay.next_hop_tls.starttls is False
    assert cfg.imap.accounts == []


def test_empty_file_and_empty_sections_mean_defaults():
    assert parse("") == Config()
    cfg = parse("defaults:\nusers:\nrelay:\nimap:\n")
    assert cfg == Config()


def test_example_file_loads_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cfg = load_config(str(REPO / "config.example.yaml"))
    # a starter: the relay as a Postfix content filter, the IMAP account commented out
    # (every key, users and accounts included: docs/config.md, tests/test_config_reference.py)
    assert cfg.users == {} and cfg.imap.accounts == []
    assert cfg.relay.listen == "127.0.0.1:10025"
    assert cfg.relay.next_hop == "smtp://127.0.0.1:10026"


def test_design_doc_example_is_valid():
    cfg = parse(
        """\
        defaults:
          action: strip
          notice: true
          allow: {hosts: [], senders: []}
          deny:  {hosts: []}
        users:
          bob@example.org:
            allow: {hosts: [images.partner-bank.example], senders: [trusted-coop.example]}
            deny:  {hosts: [creepy-ads.example]}
        auth:
          trusted_authserv_ids: [mx.example.org]
          require_for_allow: true
        relay: {listen: "127.0.0.1:10025", next_hop: "smtp://127.0.0.1:10026", max_size: 50MB}
        imap:
          accounts:
            - name: personal
              host: imap.example.org
              port: 993
              security: tls
              username: alice@example.org
              password_command: "pass show mail/alice"
              folders: [INBOX]
              originals: "pixelguard/originals"
        """
    )
    assert cfg.users["bob@example.org"].deny.hosts == ["creepy-ads.example"]
    assert cfg.auth.trusted_authserv_ids == ["mx.example.org"]


def test_hosts_are_normalised():
    cfg = parse("defaults:\n  deny: {hosts: ['*.Tracker.EXAMPLE', .ads.example, 'cdn.example.']}\n")
    assert cfg.defaults.deny.hosts == ["tracker.example", "ads.example", "cdn.example"]


def test_senders_accept_address_domain_and_at_domain():
    cfg = parse("defaults:\n  allow: {senders: [News@Shop.Example, coop.example, '@club.example']}\n")
    assert cfg.defaults.allow.senders == ["news@shop.example", "coop.example", "club.example"]


def test_user_keys_are_lower_cased():
    cfg = parse("users:\n  Bob@Example.ORG: {action: rewrite}\n")
    assert list(cfg.users) == ["bob@example.org"]


# --- policy_for and precedence -------------------------------------------------------------

PRECEDENCE = """\
defaults:
  action: strip
  notice: true
  allow: {hosts: [cdn.example, img.shop.example], senders: [default.example]}
  deny: {hosts: [shop.example, both.example, ads.example]}
users:
  bob@example.org:
    action: rewrite
    allow: {hosts: [ads.example], senders: [bob-only.example]}
    deny: {hosts: [pixel.cdn.example, tie.example]}
  carol@example.org:
    notice: false
    allow: {hosts: [tie.example]}
    deny: {hosts: [tie.example]}
"""


def test_policy_for_unknown_or_none_is_defaults():
    cfg = parse(PRECEDENCE)
    for addr in (None, "stranger@example.net"):
        p = cfg.policy_for(addr)
        assert p.action == "strip" and p.notice is True
        assert p.user_allow_hosts == () and p.user_deny_hosts == ()
        assert p.allow_senders == ("default.example",)
    assert cfg.policy_for(None).recipients == ()
    assert cfg.policy_for("stranger@example.net").recipients == ("stranger@example.net",)


def test_policy_for_is_case_insensitive_and_keeps_given_address():
    p = parse(PRECEDENCE).policy_for("BOB@Example.org")
    assert p.action == "rewrite"
    assert p.recipients == ("BOB@Example.org",)


def test_user_action_overrides_and_notice_inherits():
    cfg = parse(PRECEDENCE)
    bob = cfg.policy_for("bob@example.org")
    assert (bob.action, bob.notice) == ("rewrite", True)
    carol = cfg.policy_for("carol@example.org")
    assert (carol.action, carol.notice) == ("strip", False)


def test_allow_senders_are_user_then_defaults():
    p = parse(PRECEDENCE).policy_for("bob@example.org")
    assert p.allow_senders == ("bob-only.example", "default.example")


def test_user_allow_beats_default_deny():
    p = parse(PRECEDENCE).policy_for("bob@example.org")
    assert p.host_verdict("ads.example") == "allow"
    assert parse(PRECEDENCE).policy_for(None).host_verdict("ads.example") == "deny"


def test_user_deny_beats_default_allow():
    p = parse(PRECEDENCE).policy_for("bob@example.org")
    assert p.host_verdict("pixel.cdn.example") == "deny"
    assert p.host_verdict("static.cdn.example") == "allow"  # only the default allow applies


def test_more_specific_host_wins_within_one_level():
    p = parse(PRECEDENCE).policy_for(None)
    assert p.host_verdict("img.shop.example") == "allow"
    assert p.host_verdict("a.img.shop.example") == "allow"
    assert p.host_verdict("www.shop.example") == "deny"


def test_deny_wins_a_tie():
    p = parse(PRECEDENCE).policy_for("carol@example.org")
    assert p.host_verdict("tie.example") == "deny"


def test_policy_carries_auth_and_lists(tmp_path):
    (tmp_path / "extra.txt").write_text("||t.example^\n")
    cfg_file = tmp_path / "pg.yaml"
    cfg_file.write_text("lists: [extra.txt]\nauth: {trusted_authserv_ids: [MX.Example.org], require_for_allow: false}\n")
    p = load_config(str(cfg_file)).policy_for(None)
    assert p.extra_lists == (str(tmp_path / "extra.txt"),)
    assert p.trusted_authserv_ids == ("mx.example.org",)
    assert p.require_auth_for_allow is False


def test_policy_is_hashable():
    assert hash(parse(PRECEDENCE).policy_for("bob@example.org")) == hash(
        parse(PRECEDENCE).policy_for("bob@example.org")
    )


def test_describe_policies_shows_each_user_and_effective_values():
    text = describe_policies(parse(PRECEDENCE))
    assert "defaults:" in text
    assert "user bob@example.org:" in text and "user carol@example.org:" in text
    bob = text.split("user bob@example.org:")[1].split("user carol")[0]
    assert "action: rewrite" in bob and "pixel.cdn.example" in bob
    assert "bob-only.example, default.example" in bob


# --- errors: file, line, key ---------------------------------------------------------------


def test_error_str_format():
    e = ConfigError("bad", "f.yaml", 3, "a.b")
    assert str(e) == "f.yaml:3: a.b: bad"
    assert str(ConfigError("bad", "f.yaml")) == "f.yaml: bad"
    assert str(ConfigError("bad", "f.yaml", None, "a")) == "f.yaml: a: bad"


def test_bad_host_names_file_line_and_key():
    e = error_of(
        """\
        users:
          bob@example.org:
            deny:
              hosts:
                - creepy-ads.example
                - https://tracker.example/pixel.gif
        """
    )
    assert (e.file, e.line, e.key) == ("pg.yaml", 6, "users.bob@example.org.deny.hosts[1]")
    assert "URL" in e.message
    assert str(e).startswith("pg.yaml:6: users.bob@example.org.deny.hosts[1]: ")


@pytest.mark.parametrize(
    "entry, words",
    [("'a host.example'", "spaces"), ("tracker.example/x", "path"), ("'tracker.example:443'", "port"),
     ("'a*.example'", "leading"), ("'bad_!.example'", "not a valid")],
)
def test_bad_host_entries_are_explained(entry, words):
    e = error_of(f"defaults:\n  allow:\n    hosts: [ok.example, {entry}]\n")
    assert e.line == 3 and e.key == "defaults.allow.hosts[1]"
    assert words in e.message


def test_bad_sender():
    e = error_of("defaults:\n  allow:\n    senders:\n      - 'not an address'\n")
    assert (e.line, e.key) == (4, "defaults.allow.senders[0]")


def test_unknown_key_with_suggestion():
    e = error_of("defaults:\n  action: strip\n  notise: true\n")
    assert (e.line, e.key) == (3, "defaults.notise")
    assert "unknown key" in e.message and "did you mean 'notice'" in e.message


def test_unknown_top_level_key_lists_known_keys():
    e = error_of("defaults: {}\nzzz: 1\n")
    assert (e.line, e.key) == (2, "zzz")
    assert "relay" in e.message


def test_unknown_key_inside_a_user_and_inside_an_account():
    e = error_of("users:\n  bob@example.org:\n    deny: {hosts: []}\n    alow: {hosts: []}\n")
    assert (e.line, e.key) == (4, "users.bob@example.org.alow")
    assert "did you mean 'allow'" in e.message
    e = error_of(ACCOUNT.format(host="imap.example.org", security="tls") + "      foldres: [INBOX]\n")
    assert (e.line, e.key) == (8, "imap.accounts[0].foldres")
    assert "did you mean 'folders'" in e.message


def test_wrong_enum_value():
    e = error_of("defaults:\n  notice: true\n  action: delete\n")
    assert (e.line, e.key) == (3, "defaults.action")
    assert "strip" in e.message and "rewrite" in e.message


def test_wrong_type_for_list():
    e = error_of("defaults:\n  deny:\n    hosts: tracker.example\n")
    assert (e.line, e.key) == (3, "defaults.deny.hosts")
    assert "expected a list" in e.message


def test_bad_user_address_key():
    e = error_of("users:\n  bob@example.org: {}\n  not-an-address: {}\n")
    assert (e.line, e.key) == (3, "users.not-an-address")
    assert "address" in e.message


def test_duplicate_key_is_an_error():
    e = error_of("defaults:\n  action: strip\n  action: rewrite\n")
    assert (e.line, e.key) == (3, "defaults.action")
    assert "duplicate" in e.message and "line 2" in e.message


def test_yaml_syntax_error_has_line():
    e = error_of("defaults:\n  action: strip\n  allow: {hosts: [a.example\n")
    assert e.file == "pg.yaml" and e.line is not None and e.line >= 3
    assert "YAML" in e.message


def test_top_level_must_be_a_mapping():
    e = error_of("- just\n- a list\n")
    assert (e.file, e.line) == ("pg.yaml", 1)
    assert "mapping" in e.message


def test_missing_required_account_key_points_at_the_account():
    e = error_of("imap:\n  accounts:\n    - name: a\n      username: u\n      password_env: PW\n")
    assert (e.line, e.key) == (3, "imap.accounts[0].host")
    assert "missing" in e.message


def test_several_errors_are_all_reported_first_by_line():
    e = error_of("defaults:\n  action: nope\nrelay:\n  max_connections: lots\n")
    assert e.line == 2 and len(e.others) == 1 and e.others[0].line == 4
    assert str(e).count("pg.yaml:") == 2


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config(str(tmp_path / "nope.yaml"))
    assert info.value.file == str(tmp_path / "nope.yaml")
    assert "no such file" in str(info.value)


def test_directory_and_non_utf8_file(tmp_path):
    with pytest.raises(ConfigError):
        load_config(str(tmp_path))
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"defaults:\n  action: \xff\n")
    with pytest.raises(ConfigError) as info:
        load_config(str(bad))
    assert info.value.line == 2


def test_alias_bomb_is_refused_not_expanded():
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 12):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i-1}"] * 10) + "]")
    with pytest.raises(ConfigError) as info:
        parse("\n".join(lines) + "\n")
    assert "too large" in info.value.message


# --- lists ---------------------------------------------------------------------------------


def test_lists_are_relative_to_the_config_file(tmp_path):
    sub = tmp_path / "etc"
    sub.mkdir()
    (sub / "mine.txt").write_text("")
    (sub / "pg.yaml").write_text("lists: [mine.txt]\n")
    cwd = os.getcwd()
    try:
        os.chdir(tmp_path)  # not the config's directory
        cfg = load_config("etc/pg.yaml")
    finally:
        os.chdir(cwd)
    assert cfg.lists == [str(sub / "mine.txt")]


def test_missing_list_file_is_named(tmp_path):
    (tmp_path / "pg.yaml").write_text("defaults: {}\nlists:\n  - missing.txt\n")
    with pytest.raises(ConfigError) as info:
        load_config(str(tmp_path / "pg.yaml"))
    e = info.value
    assert (e.line, e.key) == (3, "lists[0]")
    assert str(tmp_path / "missing.txt") in e.message


# --- relay -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, size",
    [("50MB", 50_000_000), ("10MiB", 10 * 1024 * 1024), ("512k", 512_000), ("512KiB", 524_288),
     ("1000", 1000), (1234, 1234), ("1.5M", 1_500_000), ("2 gb", 2_000_000_000)],
)
def test_size_strings(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("bad", ["lots", "10XB", "-5", "0", "", "1.2.3M", True])
def test_bad_sizes(bad):
    with pytest.raises(ValueError):
        parse_size(bad)


def test_max_size_in_file_and_its_error_line():
    assert parse("relay:\n  max_size: 10MiB\n").relay.max_size == 10 * 1024 * 1024
    e = error_of("relay:\n  listen: '127.0.0.1:25'\n  max_size: huge\n")
    assert (e.line, e.key) == (3, "relay.max_size")


def test_relay_listen_forms():
    assert parse_hostport("[::1]:10025") == ("::1", 10025)
    assert parse_hostport("127.0.0.1:10025") == ("127.0.0.1", 10025)
    assert parse("relay: {listen: '[::1]:2525'}\n").relay.listen_address() == ("::1", 2525)
    for bad in ("::1:25", "127.0.0.1", "host:99999", "host:x"):
        e = error_of(f"relay:\n  listen: '{bad}'\n")
        assert (e.line, e.key) == (2, "relay.listen"), bad


@pytest.mark.parametrize(
    "url, parsed",
    [("smtp://127.0.0.1:10026", ("smtp", "127.0.0.1", 10026, None)),
     ("lmtp://[::1]:24", ("lmtp", "::1", 24, None)),
     ("lmtp:/run/dovecot/lmtp", ("lmtp", None, None, "/run/dovecot/lmtp")),
     ("maildir:/var/mail/bob", ("maildir", None, None, "/var/mail/bob")),
     ("smtp://mx.example", ("smtp", "mx.example", 25, None))],
)
def test_next_hop_urls(url, parsed):
    assert tuple(parse_next_hop(url)) == parsed
    assert parse(f"relay: {{next_hop: '{url}'}}\n").relay.next_hop == url


@pytest.mark.parametrize("url", ["http://x.example", "smtp:/path", "lmtp:relative.sock", "maildir:", "x"])
def test_bad_next_hop(url):
    e = error_of(f"relay:\n  next_hop: '{url}'\n")
    assert (e.line, e.key) == (2, "relay.next_hop")


def test_allow_networks_validated_and_normalised():
    cfg = parse("relay: {allow_networks: [192.0.2.7/24, '2001:db8::/32']}\n")
    assert cfg.relay.allow_networks == ["192.0.2.0/24", "2001:db8::/32"]
    e = error_of("relay:\n  allow_networks:\n    - 10.0.0.0/8\n    - 10.0.0.300/8\n")
    assert (e.line, e.key) == (4, "relay.allow_networks[1]")


def test_tls_cert_and_key_go_together():
    e = error_of("relay:\n  tls_cert: /etc/cert.pem\n")
    assert (e.line, e.key) == (2, "relay.tls_cert")
    assert "both or neither" in e.message
    cfg = parse("relay: {tls_cert: cert.pem, tls_key: key.pem}\n", filename="/etc/pg/pg.yaml")
    assert cfg.relay.tls_cert == "/etc/pg/cert.pem"


def test_relay_secrets_need_exactly_one_source():
    cfg = parse(
        "relay:\n  auth_users: {client: {password_env: PW}}\n"
        "  next_hop_auth: {username: u, password_command: 'pass show x'}\n"
    )
    assert cfg.relay.auth_users["client"].password_env == "PW"
    assert cfg.relay.next_hop_auth.username == "u"
    e = error_of("relay:\n  next_hop_auth:\n    username: u\n")
    assert e.key == "relay.next_hop_auth" and "exactly one" in e.message


def test_relay_config_is_constructible_directly():
    r = RelayConfig(listen="127.0.0.1:0", next_hop="lmtp:/tmp/x.sock", max_size="1MB")
    assert r.max_size == 1_000_000 and r.next_hop_parsed().path == "/tmp/x.sock"


# --- imap ----------------------------------------------------------------------------------


def test_imap_port_defaults_by_security():
    tls = parse(ACCOUNT.format(host="imap.example.org", security="tls")).imap.accounts[0]
    assert tls.port == 993 and tls.folders == ["INBOX"] and tls.originals == "pixelguard/originals"
    assert tls.user == "alice" and tls.verify_tls is True
    starttls = parse(ACCOUNT.format(host="imap.example.org", security="starttls")).imap.accounts[0]
    assert starttls.port == 143


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "'::1'", "127.0.0.53"])
def test_security_none_allowed_for_loopback(host):
    assert parse(ACCOUNT.format(host=host, security="none")).imap.accounts[0].security == "none"


@pytest.mark.parametrize("host", ["imap.example.org", "192.0.2.1", "localhost.example.org"])
def test_security_none_refused_elsewhere(host):
    e = error_of(ACCOUNT.format(host=host, security="none"))
    assert (e.line, e.key) == (5, "imap.accounts[0].security")
    assert "loopback" in e.message


def test_exactly_one_password_source():
    text = ACCOUNT.format(host="imap.example.org", security="tls") + "      password_command: x\n"
    e = error_of(text)
    assert (e.line, e.key) == (7, "imap.accounts[0].password_env")  # one of the two given
    assert "exactly one" in e.message and "password_env" in e.message


LITERAL = (
    "imap:\n  accounts:\n    - name: a\n      host: imap.example.org\n"
    "      username: u\n      password: Hunter2-Literal-Sentinel\n"
)
OPT_IN = "      allow_literal_password: true\n"


def _write(tmp_path: Path, text: str, mode: int) -> Path:
    f = tmp_path / "pg.yaml"
    f.write_text(text)
    f.chmod(mode)
    return f


def test_literal_password_is_refused_without_the_opt_in(tmp_path):
    f = _write(tmp_path, LITERAL, 0o600)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # refused, not warned about
        with pytest.raises(ConfigError) as info:
            load_config(str(f))
    e = info.value
    assert (e.file, e.line, e.key) == (str(f), 6, "imap.accounts[0].password")
    assert str(e) == (
        f"{f}:6: imap.accounts[0].password: a literal password in the config file is refused; "
        "use password_command or password_env, or set allow_literal_password: true "
        "on this account to accept it"
    )


def test_refusal_never_shows_the_password(tmp_path):
    # also with other errors in the same file, and through the real CLI (one line, exit 2)
    text = LITERAL.replace("imap.example.org", "imap.example.org\n      port: 0")
    for body in (LITERAL, text):
        f = _write(tmp_path, body, 0o644)
        with pytest.raises(ConfigError) as info:
            load_config(str(f))
        assert "Hunter2-Literal-Sentinel" not in str(info.value)
        assert "Hunter2" not in repr(info.value) and "Hunter2" not in str(info.value.__cause__)
    f = _write(tmp_path, LITERAL, 0o644)
    proc = run_cli("check-config", str(f), text=True)
    assert proc.returncode == 2
    assert f"{f}:6: imap.accounts[0].password: a literal password" in proc.stderr
    assert "Traceback" not in proc.stderr and "Hunter2" not in proc.stderr + proc.stdout


def test_literal_password_with_the_opt_in_warns_with_file_and_line(tmp_path):
    f = _write(tmp_path, LITERAL + OPT_IN, 0o600)
    with pytest.warns(ConfigWarning) as record:
        cfg = load_config(str(f))
    assert cfg.imap.accounts[0].password == "Hunter2-Literal-Sentinel"
    assert len(record) == 1
    message = str(record[0].message)
    assert message == (
        f"{f}:6: imap.accounts[0].password: a literal password in the config file "
        "(allow_literal_password: true); prefer password_command or password_env "
        "(and keep this file private)"
    )
    assert "Hunter2" not in message


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
@pytest.mark.parametrize(
    ("mode", "who"),
    [(0o640, "group"), (0o604, "others"), (0o644, "group and others"), (0o660, "group")],
)
def test_opted_in_literal_password_in_a_readable_file_says_chmod_600(tmp_path, mode, who):
    f = _write(tmp_path, LITERAL + OPT_IN, mode)
    with pytest.warns(ConfigWarning) as record:
        load_config(str(f))
    assert len(record) == 1
    message = str(record[0].message)
    assert message == (
        f"{f}:6: imap.accounts[0].password: a literal password in the config file "
        f"(allow_literal_password: true), and the file is readable by {who} "
        f"(mode {mode:04o}): chmod 600 {shlex.quote(str(f))} "
        "(owned by the user pixelguard runs as), "
        "or better use password_command or password_env"
    )
    assert "Hunter2" not in message


def test_readability_is_only_checked_for_a_real_file():
    # parse_config has text, not a file: the plain warning, whatever "pg.yaml" might be
    with pytest.warns(ConfigWarning) as record:
        parse(LITERAL + OPT_IN)
    message = str(record[0].message)
    assert "chmod" not in message and "keep this file private" in message


def test_allow_literal_password_without_a_password_is_harmless():
    text = ACCOUNT.format(host="imap.example.org", security="tls") + OPT_IN
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cfg = parse(text)
    assert cfg.imap.accounts[0].allow_literal_password is True
    assert cfg.imap.accounts[0].password is None


def test_literal_password_with_another_source_is_still_exactly_one():
    e = error_of(LITERAL + OPT_IN + "      password_env: PW\n")
    assert e.key == "imap.accounts[0].password" and "exactly one" in e.message
    assert "Hunter2" not in str(e)


def test_allow_literal_password_must_be_a_boolean():
    e = error_of(LITERAL + "      allow_literal_password: maybe\n")
    assert (e.line, e.key) == (7, "imap.accounts[0].allow_literal_password")
    assert "Hunter2" not in str(e)


def test_no_warning_without_literal_password():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        parse(ACCOUNT.format(host="imap.example.org", security="tls"))


def test_account_names_unique():
    text = ACCOUNT.format(host="imap.example.org", security="tls")
    text += "    - name: a\n      host: imap.example.org\n      username: b\n      password_env: Q\n"
    e = error_of(text)
    assert (e.line, e.key) == (8, "imap.accounts[1]")
    assert "already used" in e.message


def test_originals_may_not_be_a_cleaned_folder():
    e = error_of(ACCOUNT.format(host="imap.example.org", security="tls") + "      originals: INBOX\n")
    assert (e.line, e.key) == (8, "imap.accounts[0].originals")
    assert "cleaned folder" in e.message


def test_imap_account_constructible_directly():
    a = ImapAccount(name="x", host="127.0.0.1", security="none", username="u", password_env="P")
    assert a.port == 143 and a.user == "u"


def test_policy_for_display_name_form_uses_bare_address():
    p = parse(PRECEDENCE).policy_for("Bob <BOB@example.org>")
    assert p.action == "rewrite" and p.recipients == ("BOB@example.org",)


def test_non_text_keys_keep_their_spelling():
    e = error_of("defaults: {}\n1: x\n")
    assert (e.line, e.key) == (2, "1") and "unknown key" in e.message


def test_merge_keys_are_understood_and_errors_still_located():
    e = error_of("base: &b {action: strip}\n")
    assert e.key == "base"
    cfg = parse("users:\n  a@example.org: &u {action: rewrite}\n  b@example.org:\n    <<: *u\n    notice: false\n")
    assert cfg.policy_for("b@example.org").action == "rewrite"


def test_control_character_gives_a_line():
    e = error_of("defaults:\n  action: st\x00rip\n")
    assert (e.file, e.line) == ("pg.yaml", 2)


def test_python_tags_are_refused():
    e = error_of("defaults:\n  action: !!python/object/apply:os.system [echo]\n")
    assert e.line == 2


def test_empty_password_source_is_an_error():
    e = error_of(ACCOUNT.format(host="imap.example.org", security="tls").replace("PW", "''"))
    assert (e.line, e.key) == (7, "imap.accounts[0].password_env")


_yaml_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20))
_yaml_values = st.recursive(
    _yaml_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=10,
)
_keys = st.sampled_from(["defaults", "users", "lists", "auth", "relay", "imap", "action", "hosts",
                         "allow", "deny", "accounts", "listen", "max_size", "bob@example.org"])


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(_keys, _yaml_values | st.dictionaries(_keys, _yaml_values, max_size=3), max_size=4))
def test_any_yaml_document_gives_config_or_config_error(doc):
    text = yaml.safe_dump(doc)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            parse_config(text, "pg.yaml")
        except ConfigError as e:
            assert e.file == "pg.yaml" and e.message


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_any_text_gives_config_or_config_error(text):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            parse_config(text, "pg.yaml")
        except ConfigError:
            pass
