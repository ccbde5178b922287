"""benchmarks/compare_outputs.py finds a difference between two trees when there is one."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "compare_outputs.py"


def _tree(tmp: Path, name: str) -> Path:
    tree = tmp / name
    shutil.copytree(ROOT / "pixelguard", tree / "pixelguard",
                    ignore=shutil.ignore_patterns("__pycache__"))
    return tree


def _compare(a: Path, b: Path, fixtures: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), str(a), str(b), "--no-corpus",
                           "--fixtures", str(fixtures), "--generated", "60"],
                          capture_output=True, text=True, timeout=600, check=False)


def test_a_changed_rule_is_reported_and_identical_trees_are_not(tmp_path: Path) -> None:
    fixtures = tmp_path / "inputs"
    fixtures.mkdir()
    for name in ("size-attr-1x1.eml", "negative-content.eml", "leak-md5.eml"):
        shutil.copy(ROOT / "fixtures" / name, fixtures / name)
    same_a, same_b = _tree(tmp_path, "a"), _tree(tmp_path, "b")
    changed = _tree(tmp_path, "changed")
    rules = next((changed / "pixelguard" / "detect").rglob("size.py"), None) \
        or changed / "pixelguard" / "detect" / "rules.py"
    text = rules.read_text()
    assert 'f"remote image of {s.tiny}"' in text
    rules.write_text(text.replace('f"remote image of {s.tiny}"', 'f"remote image sized {s.tiny}"'))

    same = _compare(same_a, same_b, fixtures)
    assert same.returncode == 0, same.stdout + same.stderr
    assert " 0 differences" in same.stdout

    differ = _compare(same_a, changed, fixtures)
    assert differ.returncode == 1, differ.stdout + differ.stderr
    assert "size-attr-1x1.eml [strip]: " in differ.stdout
    assert "remote image sized" in differ.stdout
