"""Extract the notice's messages and compile its gettext catalogues (needs Babel: the test
extra installs it; the installed program reads the .mo files with the stdlib only).

    python scripts/catalogues.py extract   # pixelguard.pot from the code, .po files updated
    python scripts/catalogues.py compile   # each .po -> its .mo (commit both)

The .mo files are committed beside their .po files so that an install from a source
checkout or sdist needs no build step; tests/test_notice_language.py fails when a .mo does
not say exactly what its .po says (run `compile` after editing a .po).
"""
from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_file
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
NOTICE = ROOT / "pixelguard" / "notice"
LOCALE = NOTICE / "locale"
DOMAIN = "pixelguard"
SOURCES = [NOTICE / "__init__.py"]
KEYWORDS = {"gettext": None, "ngettext": (1, 2)}


def po_files() -> list[Path]:
    return sorted(LOCALE.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))


def extract() -> None:
    template = Catalog(project="pixelguard", domain=DOMAIN, charset="utf-8",
                       copyright_holder="the pixelguard authors",
                       msgid_bugs_address="",
                       header_comment="# The messages of pixelguard's notice (see "
                                      "pixelguard/notice/__init__.py).\n#")
    for source in SOURCES:
        for lineno, message, comments, _context in extract_from_file(
                "python", str(source), keywords=KEYWORDS):
            template.add(message, None, [(str(source.relative_to(ROOT)), lineno)],
                         auto_comments=comments, flags=("python-brace-format",))
    with open(LOCALE / f"{DOMAIN}.pot", "wb") as fh:
        write_po(fh, template, omit_header=False, sort_output=True)
    for path in po_files():
        with open(path, "rb") as fh:
            catalog = read_po(fh)
        catalog.update(template, no_fuzzy_matching=True)
        with open(path, "wb") as fh:
            write_po(fh, catalog, sort_output=True, ignore_obsolete=True)
        print(f"updated {path.relative_to(ROOT)}")


def compile_all() -> None:
    for path in po_files():
        with open(path, "rb") as fh:
            catalog = read_po(fh)
        untranslated = [m.id for m in catalog if m.id and not _complete(m.string)]
        if untranslated:
            sys.exit(f"{path}: untranslated: {untranslated}")
        with open(path.with_suffix(".mo"), "wb") as fh:
            write_mo(fh, catalog)
        print(f"compiled {path.with_suffix('.mo').relative_to(ROOT)}")


def _complete(string: str | tuple[str, ...]) -> bool:
    return all(string) if isinstance(string, tuple) else bool(string)


if __name__ == "__main__":
    commands = {"extract": extract, "compile": compile_all}
    if len(sys.argv) != 2 or sys.argv[1] not in commands:
        sys.exit(f"usage: {sys.argv[0]} extract|compile")
    commands[sys.argv[1]]()
