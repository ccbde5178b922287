"""`pixelguard ARGS...` that signals itself at one step of the IMAP door's work: the launcher
of the crash and race tests.

    python tests/e2e/crash_at.py STEP[:term|:stop] imap --config F --once

At STEP the process sends itself SIGKILL (no cleanup at all); with `:term` SIGTERM (a graceful
stop request); with `:stop` SIGSTOP (the test changes the server, then resumes it with
SIGCONT). The steps are reached by wrapping, in this process only, the pixelguard function
that does the step and the IMAP commands it sends; pixelguard itself has no test hook.

    before-append       before the APPEND (or MULTIAPPEND) of a batch of cleaned copies
    after-append        the server accepted an APPEND (a MULTIAPPEND: the whole batch)
    after-move          originals retired: moved (MOVE) or copied (UID COPY) to the originals
                        folder, none marked \\Deleted yet (`originals: delete`: before that mark)
    before-expunge      originals marked \\Deleted, before their UID EXPUNGE
    before-keep-remove  originals put back by the user marked kept, before their cleaned
                        copies are removed (pixelguard/imap/keep.py)
    restore-after-copy  `pixelguard restore` without MOVE: the original copied back to the
                        copy's folder, not yet deleted from the originals folder
    restore-after-move  `pixelguard restore`: the original back in the copy's folder

A step is signalled each time the run reaches it (`before-keep-remove`: once per group of
put-back originals).
"""
from __future__ import annotations

import contextlib
import functools
import os
import signal
import sys
from collections.abc import Callable, Iterator

from pixelguard.imap import keep, replace, restore, run

SIGNALS = {"": signal.SIGKILL, "term": signal.SIGTERM, "stop": signal.SIGSTOP}


def _wrap(owner, name: str, wrapper: Callable) -> None:
    """Replace `owner.name` with `wrapper(real, *args, **kw)`."""
    real = getattr(owner, name)

    @functools.wraps(real)
    def patched(*args, **kw):
        return wrapper(real, *args, **kw)

    setattr(owner, name, patched)


@contextlib.contextmanager
def _commands(target, **hooks: Callable) -> Iterator[None]:
    """Within the block, `target.NAME(...)` calls `hooks[NAME](real, ...)` (this one object)."""
    for name, hook in hooks.items():
        setattr(target, name, functools.partial(hook, getattr(target, name)))
    try:
        yield
    finally:
        for name in hooks:
            delattr(target, name)  # the class's method again


def _before(fire: Callable[[], None]) -> Callable:
    def hook(command, *args, **kw):
        fire()
        return command(*args, **kw)

    return hook


def _after(fire: Callable[[], None]) -> Callable:
    def hook(command, *args, **kw):
        answer = command(*args, **kw)
        fire()
        return answer

    return hook


def before_append(fire: Callable[[], None]) -> None:
    def append(real, self, pending):
        if pending:
            fire()
        return real(self, pending)

    _wrap(replace.Replacer, "append", append)


def after_append(fire: Callable[[], None]) -> None:
    def multiappend(command, *args, **kw):
        answer = command(*args, **kw)
        if answer[0] == "OK":
            fire()
        return answer

    def append(real, self, pending):
        with _commands(self.client, append=_after(fire), multiappend=multiappend):
            return real(self, pending)

    _wrap(replace.Replacer, "append", append)


def after_move(fire: Callable[[], None]) -> None:
    def mark_deleted(command, messages, flags, *args, **kw):
        if b"\\Deleted" in flags:
            fire()
        return command(messages, flags, *args, **kw)

    def retire(real, self, *args, **kw):
        with _commands(self.client, move=_after(fire), add_flags=mark_deleted):
            return real(self, *args, **kw)

    _wrap(replace.Replacer, "retire", retire)


def before_expunge(fire: Callable[[], None]) -> None:
    def retire(real, self, *args, **kw):
        with _commands(self.client, uid_expunge=_before(fire)):
            return real(self, *args, **kw)

    _wrap(replace.Replacer, "retire", retire)


def before_keep_remove(fire: Callable[[], None]) -> None:
    # After the originals are marked kept and read back, keep_originals next removes the
    # copies (Replacer.remove_copies), then adds $PixelGuarded to the kept ones (add_flags),
    # then returns: the step is just before the first of these.
    def keep_originals(real, replacer, putbacks, where):
        if not putbacks:
            return real(replacer, putbacks, where)
        fired = []

        def once() -> None:
            if not fired:
                fired.append(True)
                fire()

        with _commands(replacer.client, add_flags=_before(once)), \
                _commands(replacer, remove_copies=_before(once)):
            kept = real(replacer, putbacks, where)
        once()
        return kept

    real = keep.keep_originals
    for module in (keep, run, restore):  # and where it was imported by name
        if getattr(module, "keep_originals", None) is real:
            _wrap(module, "keep_originals", keep_originals)


def restore_after_copy(fire: Callable[[], None]) -> None:
    def move_from_originals(real, session, *args, **kw):
        with _commands(session.client, copy=_after(fire)):
            return real(session, *args, **kw)

    _wrap(restore, "_move_from_originals", move_from_originals)


def restore_after_move(fire: Callable[[], None]) -> None:
    def move_from_originals(real, *args, **kw):
        moved = real(*args, **kw)
        if moved:  # False: not in the originals folder, nothing was moved
            fire()
        return moved

    _wrap(restore, "_move_from_originals", move_from_originals)


STEPS = {
    "before-append": before_append,
    "after-append": after_append,
    "after-move": after_move,
    "before-expunge": before_expunge,
    "before-keep-remove": before_keep_remove,
    "restore-after-copy": restore_after_copy,
    "restore-after-move": restore_after_move,
}


def main(argv: list[str]) -> int:
    step, _, how = (argv[0] if argv else "").partition(":")
    if step not in STEPS or how not in SIGNALS:
        print(f"usage: crash_at.py {{{'|'.join(STEPS)}}}[:term|:stop] PIXELGUARD-ARGS...",
              file=sys.stderr)
        return 2
    sig = SIGNALS[how]
    STEPS[step](lambda: os.kill(os.getpid(), sig))
    from pixelguard.cli import main as pixelguard_main

    return pixelguard_main(argv[1:])


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
