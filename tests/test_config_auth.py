"""Config `auth:` — our authserv-id, DKIM verification on/off, the ARC sealing key."""
from __future__ import annotations

import socket
import textwrap
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from pixelguard.config import Config, ConfigError, load_config, parse_config


@pytest.fixture(scope="module")
def pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,  # "BEGIN PRIVATE KEY", as openssl genpkey writes it
        serialization.NoEncryption(),
    )


def write(tmp_path: Path, text: str, name: str = "pixelguard.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def error_of(path: Path) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_config(str(path))
    return info.value


def test_defaults_verify_and_do_not_seal():
    auth = Config().auth
    assert auth.verify_dkim is True and auth.arc is None
    host = socket.gethostname().strip().lower().rstrip(".")
    assert auth.authserv_id in (host, "pixelguard")
    assert auth.authserv_id and " " not in auth.authserv_id


def test_default_authserv_id_falls_back_when_the_host_name_is_unusable(monkeypatch):
    monkeypatch.setattr(socket, "gethostname", lambda: "bad host;name")
    assert Config().auth.authserv_id == "pixelguard"


def test_authserv_id_is_normalised():
    cfg = parse_config("auth: {authserv_id: PG.Example.NET.}")
    assert cfg.auth.authserv_id == "pg.example.net"


@pytest.mark.parametrize("value", ["two words", "a;b", "'x=y'", "''"])
def test_bad_authserv_id_names_line_and_key(value):
    with pytest.raises(ConfigError) as info:
        parse_config(f"defaults: {{}}\nauth:\n  authserv_id: {value}\n", "pg.yaml")
    err = info.value
    assert (err.file, err.line, err.key) == ("pg.yaml", 3, "auth.authserv_id")


def test_verify_dkim_can_be_turned_off():
    assert parse_config("auth: {verify_dkim: false}").auth.verify_dkim is False


def test_arc_key_file_is_taken_from_the_config_directory(tmp_path, pem, monkeypatch):
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "arc.pem").write_bytes(pem)
    path = write(
        tmp_path,
        """\
        auth:
          arc:
            domain: PG.example.net
            selector: seal2026
            key_file: keys/arc.pem
        """,
    )
    monkeypatch.chdir("/")  # not from the working directory
    arc = load_config(str(path)).auth.arc
    assert arc is not None
    assert (arc.domain, arc.selector) == ("pg.example.net", "seal2026")
    assert arc.key_file == str(tmp_path / "keys" / "arc.pem")


def test_missing_arc_key_file_is_a_config_error_with_line_and_key(tmp_path):
    path = write(
        tmp_path,
        """\
        auth:
          arc:
            domain: pg.example.net
            selector: seal
            key_file: nowhere.pem
        """,
    )
    err = error_of(path)
    assert (err.line, err.key) == (5, "auth.arc.key_file")
    assert "no such key file" in err.message and str(tmp_path / "nowhere.pem") in err.message


def test_arc_key_file_that_is_not_a_key_is_a_config_error(tmp_path):
    (tmp_path / "arc.pem").write_text("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    path = write(tmp_path, "auth:\n  arc: {domain: pg.example.net, selector: s, key_file: arc.pem}\n")
    err = error_of(path)
    assert err.key == "auth.arc.key_file" and "RSA private key" in err.message


def test_arc_key_file_that_is_a_directory_is_a_config_error(tmp_path):
    (tmp_path / "keys").mkdir()
    path = write(tmp_path, "auth:\n  arc: {domain: pg.example.net, selector: s, key_file: keys}\n")
    assert error_of(path).key == "auth.arc.key_file"


def test_arc_needs_all_three_keys(tmp_path, pem):
    (tmp_path / "arc.pem").write_bytes(pem)
    path = write(tmp_path, "auth:\n  arc:\n    domain: pg.example.net\n    key_file: arc.pem\n")
    err = error_of(path)
    assert err.key == "auth.arc.selector" and "missing" in err.message


def test_arc_bad_domain_is_named(tmp_path, pem):
    (tmp_path / "arc.pem").write_bytes(pem)
    path = write(tmp_path, "auth:\n  arc: {domain: 'not a domain', selector: s, key_file: arc.pem}\n")
    assert error_of(path).key == "auth.arc.domain"


def test_arc_unknown_key_suggests_the_right_one(tmp_path, pem):
    (tmp_path / "arc.pem").write_bytes(pem)
    path = write(
        tmp_path, "auth:\n  arc: {domain: pg.example.net, selectr: s, key_file: arc.pem}\n"
    )
    err = error_of(path)
    assert "did you mean 'selector'" in str(err)


def test_arc_without_verification_is_refused(tmp_path, pem):
    (tmp_path / "arc.pem").write_bytes(pem)
    path = write(
        tmp_path,
        """\
        auth:
          verify_dkim: false
          arc: {domain: pg.example.net, selector: s, key_file: arc.pem}
        """,
    )
    err = error_of(path)
    assert (err.line, err.key) == (2, "auth.verify_dkim") and "arc" in err.message


def test_empty_arc_means_no_sealing():
    assert parse_config("auth:\n  arc:\n").auth.arc is None


def test_auth_section_keeps_its_earlier_keys():
    cfg = parse_config("auth: {trusted_authserv_ids: [MX.example.org], require_for_allow: false}")
    policy = cfg.policy_for("bob@example.org")
    assert policy.trusted_authserv_ids == ("mx.example.org",)
    assert policy.require_auth_for_allow is False


def test_own_authserv_id_cannot_also_be_trusted():
    # pixelguard strips incoming headers of its own id: trusting that id would lose them
    text = "auth:\n  authserv_id: mx.example.org\n  trusted_authserv_ids: [mx.example.org]\n"
    with pytest.raises(ConfigError) as info:
        parse_config(text, "pg.yaml")
    err = info.value
    assert (err.line, err.key) == (3, "auth.trusted_authserv_ids")
    assert "authserv_id: pixelguard.mx.example.org" in err.message


def test_default_authserv_id_colliding_with_a_trusted_id_is_explained(monkeypatch):
    monkeypatch.setattr(socket, "gethostname", lambda: "mail.example.org")
    with pytest.raises(ConfigError) as info:
        parse_config("auth:\n  trusted_authserv_ids: [mail.example.org]\n", "pg.yaml")
    assert "defaults to this machine's host name" in info.value.message
