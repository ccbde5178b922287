"""docs/config.md documents every key of the config model, and nothing else; its full example
and config.example.yaml are files pixelguard accepts."""
from __future__ import annotations

import os
import re
import types
import typing
from pathlib import Path

from cli_run import run_cli
from pydantic import BaseModel

from pixelguard.config import Config, parse_config

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "docs" / "config.md"
EXAMPLE = ROOT / "config.example.yaml"
_PLACEHOLDER = re.compile(r"<[^>]*>")


def _unwrap(annotation):
    """The model class inside X | None, list[X] or dict[str, X], with the path suffix it adds."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _unwrap(args[0]) if len(args) == 1 else (None, "")
    if origin is list:
        inner, _ = _unwrap(typing.get_args(annotation)[0])
        return (inner, "[]") if inner else (None, "")
    if origin is dict:
        inner, _ = _unwrap(typing.get_args(annotation)[1])
        return (inner, ".<>") if inner else (None, "")
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, ""
    return None, ""


def model_keys(model: type[BaseModel] = Config, prefix: str = "") -> tuple[set[str], set[str]]:
    """(leaf keys, section keys) of the model as dotted paths: `relay.next_hop_tls.verify`,
    `users.<>.action` (a placeholder for a key the user chooses), `imap.accounts[].host`."""
    leaves: set[str] = set()
    sections: set[str] = set()
    for name, info in model.model_fields.items():
        path = f"{prefix}{name}"
        inner, suffix = _unwrap(info.annotation)
        if inner is None:
            leaves.add(path)
            continue
        sections.add(path)
        sub_leaves, sub_sections = model_keys(inner, f"{path}{suffix}.")
        leaves |= sub_leaves
        sections |= sub_sections
    return leaves, sections


def documented_keys() -> set[str]:
    """The first column of every table row in docs/config.md, placeholders as `<>`."""
    keys = set()
    for line in REFERENCE.read_text().splitlines():
        m = re.match(r"\|\s*`([^`]+)`\s*\|", line)
        if m:
            keys.add(_PLACEHOLDER.sub("<>", m.group(1)))
    return keys


def test_every_config_key_is_documented_and_every_documented_key_exists() -> None:
    leaves, sections = model_keys()
    documented = documented_keys()
    assert len(leaves) > 50  # the walk found the nested sections
    assert sorted(leaves - documented) == [], "keys missing from docs/config.md"
    assert sorted(documented - leaves - sections) == [], "docs/config.md names unknown keys"


def test_the_full_example_in_the_reference_is_a_valid_config() -> None:
    text = REFERENCE.read_text()
    (block,) = re.findall(r"```yaml\n(.*?)```", text, re.DOTALL)
    cfg = parse_config(block, str(REFERENCE))
    assert cfg.relay.next_hop == "smtp://127.0.0.1:10026"
    assert cfg.imap.accounts[0].name == "personal"
    assert cfg.users["bob@example.org"].action == "rewrite"


def test_the_starter_passes_check_config(tmp_path: Path) -> None:
    env = {**os.environ, "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    proc = run_cli("check-config", str(EXAMPLE), env=env, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert f"config: {EXAMPLE}" in proc.stdout
    assert "listen: 127.0.0.1:10025 (smtp)" in proc.stdout
    assert "next hop: smtp://127.0.0.1:10026" in proc.stdout
    assert proc.stdout.rstrip().endswith("config OK")


def test_the_starter_has_its_imap_account_commented_out() -> None:
    text = EXAMPLE.read_text()
    cfg = parse_config(text, str(EXAMPLE))
    assert cfg.imap.accounts == []
    # uncommented, the account is a valid one
    head, sep, tail = text.partition("\n# imap:\n")
    assert sep, "the starter has no commented-out imap: section"
    uncommented = head + "\nimap:\n" + re.sub(r"(?m)^# ", "", tail)
    cfg = parse_config(uncommented, str(EXAMPLE))
    (account,) = cfg.imap.accounts
    assert (account.name, account.host, account.folders) == ("personal", "imap.example.org",
                                                             ["INBOX"])
