"""Helpers for the pipe-filter doors (Dovecot Sieve, procmail): the recipe files and a
pixelguard the delivering user can run.

The recipes in docs/recipes/ are used as they are; only their install paths are replaced
(by `recipe`, each replacement checked to be there), so the tests run the docs' commands.

A delivery agent runs the filter as the mail user (Dovecot: the delivery's mail user;
procmail: the recipient), not as whoever installed pixelguard. Under root the test Dovecot
delivers as `nobody`, and this checkout's venv may live behind a directory `nobody` cannot
enter (a pyenv under /root): `pixelguard_for(user)` then builds a small venv on a Python
that user can run, seeing the checkout's packages, like an install in /opt/pixelguard.
"""

from __future__ import annotations

import os
import pwd
import stat
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RECIPES = ROOT / "docs" / "recipes"
INSTALLED_PIXELGUARD = "/opt/pixelguard/bin/pixelguard"  # the path the recipes name


def recipe(name: str, replace: dict[str, str] | None = None) -> str:
    """The text of docs/recipes/NAME with install paths replaced (each must occur)."""
    text = (RECIPES / name).read_text()
    for old, new in (replace or {}).items():
        assert old in text, f"{name} no longer mentions {old!r}"
        text = text.replace(old, new)
    return text


def write_executable(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o755)
    return path


def _others_can_run(path: Path) -> bool:
    """True when a user who is neither owner nor in the group can execute `path`."""
    path = path.resolve()
    for parent in path.parents:
        if not parent.stat().st_mode & stat.S_IXOTH:
            return False
    return bool(path.stat().st_mode & stat.S_IXOTH)


def mail_user() -> str:
    """The user the test servers deliver as: `nobody` under root, else the current user."""
    return "nobody" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name


def pixelguard_for(workdir: Path) -> str:
    """A `pixelguard` command the mail user can run (see the module docstring)."""
    script = Path(sys.executable).with_name("pixelguard")
    if os.geteuid() != 0 or (_others_can_run(Path(sys.executable)) and _others_can_run(script)):
        return str(script)
    base = Path(f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}")
    if not (base.exists() and _others_can_run(base)):
        raise RuntimeError(f"no Python {sys.version_info[:2]} the mail user can run ({base})")
    dev_site = sysconfig.get_paths()["purelib"]  # this venv's packages and the editable finder
    for needed in (Path(dev_site), ROOT / "pixelguard"):
        if not _others_can_run(needed):  # a directory: "run" is "enter"
            raise RuntimeError(f"the mail user cannot enter {needed}: run the tests from a "
                               "checkout and venv that other users can read")
    venv = workdir / "venv"
    subprocess.run([str(base), "-m", "venv", "--without-pip", str(venv)], check=True)
    site = Path(sysconfig.get_paths(vars={"base": str(venv), "platbase": str(venv)})["purelib"])
    (site / "pixelguard-dev.pth").write_text(f"import site; site.addsitedir({dev_site!r})\n")
    body = script.read_text().split("\n", 1)[1]  # the console script pip wrote, new shebang
    workdir.chmod(0o755)
    return str(write_executable(venv / "bin" / "pixelguard", f"#!{venv}/bin/python\n{body}"))
