"""procmail runs pixelguard with the recipe of docs/recipes/procmailrc (docs/pipe.md).

Real procmail, as the recipient would run it (`nobody` under root), the message on stdin,
delivering into a Maildir. The test rcfile sets the folder and INCLUDERCs the recipe as it
is, with only pixelguard's install path replaced.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from imap_support import FIXTURES
from pipe_support import INSTALLED_PIXELGUARD, mail_user, pixelguard_for, recipe, write_executable

pytestmark = pytest.mark.e2e

COMMAND = f"{INSTALLED_PIXELGUARD} clean --unchanged-exit 1"  # the recipe's command


def _require_procmail() -> str:
    found = shutil.which("procmail")
    if found:
        return found
    reason = "PROCMAIL NOT INSTALLED: procmail recipe tests NOT RUN (apt-get install procmail)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason + " — CI=true, so this is a failure", pytrace=False)
    pytest.skip(reason)


class Procmail:
    def __init__(self, workdir: Path) -> None:
        self.procmail = _require_procmail()
        self.dir = workdir
        self.pixelguard = pixelguard_for(workdir / "pg")
        self.runs = 0

    def deliver(self, raw: bytes, recipe_text: str | None) -> tuple[bytes, str]:
        """Deliver `raw` with `recipe_text` included (None: no filter at all); returns the
        one message the Maildir holds and procmail's log."""
        self.runs += 1
        run = self.dir / f"run{self.runs}"
        maildir = run / "Maildir"
        run.mkdir()
        rc = ["SHELL=/bin/sh", f"MAILDIR={run}", f"DEFAULT={maildir}/", f"LOGFILE={run}/log"]
        if recipe_text is not None:
            (run / "pixelguard.rc").write_text(recipe_text)
            rc.append(f"INCLUDERC={run}/pixelguard.rc")
        (run / "rcfile").write_text("\n".join(rc) + "\n")
        as_user: dict = {}
        if os.geteuid() == 0:  # run as the recipient, as procmail -d or a ~/.forward would
            user = pwd.getpwnam(mail_user())
            shutil.chown(run, user.pw_uid, user.pw_gid)
            as_user = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
        proc = subprocess.run([self.procmail, "-m", str(run / "rcfile")], input=raw,
                              capture_output=True, timeout=60, check=False,
                              env={"PATH": "/usr/bin:/bin", "HOME": str(run)}, **as_user)
        assert proc.returncode == 0, proc.stderr
        delivered = list((maildir / "new").iterdir())
        assert len(delivered) == 1, delivered
        return delivered[0].read_bytes(), (run / "log").read_text()

    def the_recipe(self, command: str | None = None) -> str:
        return recipe("procmailrc", {COMMAND: command or COMMAND.replace(
            INSTALLED_PIXELGUARD, self.pixelguard)})


@pytest.fixture(scope="module")
def procmail():
    workdir = Path(tempfile.mkdtemp(prefix="pgprocmail", dir="/tmp"))  # the recipient reaches it
    workdir.chmod(0o755)
    (workdir / "pg").mkdir()
    try:
        yield Procmail(workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def test_recipe_is_a_waited_filter_without_lockfile():
    rules = [line for line in recipe("procmailrc").splitlines() if line.startswith(":0")]
    assert rules == [":0 fW"]
    assert f"| {COMMAND}" in recipe("procmailrc")


def test_newsletter_is_cleaned(procmail):
    original = (FIXTURES / "demo-newsletter.eml").read_bytes()
    stored, _ = procmail.deliver(original, procmail.the_recipe())
    assert stored.startswith(b"X-PixelGuard: removed=5;")
    assert b"list-manage.com/track/open.php" not in stored
    assert b"ct.sendgrid.net/wf/open" not in stored
    assert b"https://cdn.shop.example/autumn.jpg" in stored


@pytest.mark.parametrize("name", ["negative-content.eml", "imap-html-no-tracker.eml",
                                  "mime-plain-only.eml", "negative-spacers.eml"])
def test_message_with_nothing_to_remove_passes_byte_identical(procmail, name):
    original = (FIXTURES / name).read_bytes()
    with_filter, _ = procmail.deliver(original, procmail.the_recipe())
    without, _ = procmail.deliver(original, None)
    assert with_filter == without == original


def test_a_filter_that_changes_nothing_still_changes_the_last_line(procmail):
    """Why the recipe says --unchanged-exit 1: procmail ends any filter's output with an
    empty line, so clean mail stays byte-identical only when procmail keeps its copy."""
    original = (FIXTURES / "negative-content.eml").read_bytes()
    plain_exit = procmail.the_recipe(COMMAND.replace(INSTALLED_PIXELGUARD, procmail.pixelguard)
                                     .replace(" --unchanged-exit 1", ""))
    stored, _ = procmail.deliver(original, plain_exit)
    assert stored == original + b"\n"


def _dies_mid_output(procmail: Procmail) -> str:
    prog = write_executable(procmail.dir / "pg" / "dies.sh",
                            "#!/bin/sh\nid -un >&2\nhead -c 300\nexit 1\n")
    return str(prog)


FAILURES = {
    "config error": lambda p: COMMAND.replace(INSTALLED_PIXELGUARD, p.pixelguard)
    + " --config /nonexistent.yaml",
    "missing program": lambda p: COMMAND.replace(INSTALLED_PIXELGUARD, "/nonexistent/bin/pixelguard"),
    "dies mid-output": _dies_mid_output,
}


@pytest.mark.parametrize("failure", list(FAILURES))
def test_failing_filter_keeps_the_original(procmail, failure):
    original = (FIXTURES / "demo-newsletter.eml").read_bytes()
    stored, log = procmail.deliver(original, procmail.the_recipe(FAILURES[failure](procmail)))
    assert stored == original
    if failure == "config error":  # pixelguard's own message reaches procmail's log
        assert "pixelguard: config error: /nonexistent.yaml: no such file" in log
    if failure == "missing program":
        assert "/nonexistent/bin/pixelguard: No such file" in log
    if failure == "dies mid-output":  # it ran as the recipient
        assert f"{mail_user()}\n" in log


def test_without_w_a_dying_filter_loses_mail(procmail):
    """Why the recipe says `fw`: with `f` alone procmail takes whatever the filter wrote."""
    original = (FIXTURES / "demo-newsletter.eml").read_bytes()
    unwaited = procmail.the_recipe(_dies_mid_output(procmail)).replace(":0 fW", ":0 f")
    stored, _ = procmail.deliver(original, unwaited)
    assert stored == original[:300]
