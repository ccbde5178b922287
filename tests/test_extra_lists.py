"""User tracker lists named in the config: ABP syntax works end to end; a broken one is a config error."""
from __future__ import annotations

import json
from pathlib import Path

from cli_run import run_cli
from support import FIXTURES


def _scan(cfg: Path, fixture: str):
    return run_cli("scan", "--json", "--config", str(cfg), str(FIXTURES / fixture))


def test_adblock_list_from_config_flags_a_visible_image(tmp_path: Path) -> None:
    (tmp_path / "mine.txt").write_text("! my list\n||cdn.shop.example/product.jpg\n")
    cfg = tmp_path / "pg.yaml"
    cfg.write_text("lists: [mine.txt]\n")
    proc = _scan(cfg, "negative-content.eml")
    assert proc.returncode == 0, proc.stderr
    trackers = json.loads(proc.stdout)["trackers"]
    assert [(t["rule"], t["url"]) for t in trackers] == [
        ("known-tracker", "https://cdn.shop.example/product.jpg")]


def test_broken_list_is_a_config_error_naming_the_list_line(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text('{"entries": [{"vendor": 5}]}\n')
    cfg = tmp_path / "pg.yaml"
    cfg.write_text("lists: [bad.json]\n")
    proc = _scan(cfg, "size-attr-1x1.eml")
    assert proc.returncode == 2
    err = proc.stderr.decode()
    assert "bad.json" in err and "Traceback" not in err
