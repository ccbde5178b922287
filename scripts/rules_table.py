"""Write the README's table of detection rules from the rules' own declarations
(pixelguard/detect/rules.py: id, `fires_when`, in ORDER), between its markers.

    python scripts/rules_table.py          # rewrite README.md
    python scripts/rules_table.py --check  # exit 1 when README.md is not what it would write

tests/test_rules_declared.py runs the check.
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
START = "<!-- rules table: written by scripts/rules_table.py from pixelguard/detect/rules.py -->"
END = "<!-- end of rules table -->"


def table() -> str:
    from pixelguard.detect.rules import RULES

    rows = ["| rule id | fires when |", "|---|---|"]
    rows += [f"| `{r.id}` | {r.fires_when} |" for r in RULES]
    return "\n".join(rows)


def rewritten(text: str) -> str:
    """`text` (the README) with the table between the markers written anew."""
    try:
        head, rest = text.split(START + "\n", 1)
        _old, tail = rest.split(END, 1)
    except ValueError:
        raise SystemExit(f"{README}: the rules table markers are missing") from None
    return f"{head}{START}\n{table()}\n{END}{tail}"


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(ROOT))
    text = README.read_text(encoding="utf-8")
    new = rewritten(text)
    if "--check" in argv:
        if new != text:
            print(f"{README} does not match the rules' declarations: run "
                  f"python scripts/rules_table.py", file=sys.stderr)
            return 1
        return 0
    if new != text:
        README.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
