"""The messages at a path: a Maildir (cur/ and new/), an mbox file, a directory of message
files, or one message file. Shared by `pixelguard scan` and `pixelguard report`, so both
accept the same sources and walk them in the same order.

Each message is read only when asked for (`head()` for the header block alone, `raw()` for
all of it), so a report over a large Maildir reads headers only.
"""
from __future__ import annotations

import mailbox
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path

HEAD_LIMIT = 262144  # bytes read from a message file to find its header block
MESSAGE_SUFFIXES = (".eml", ".msg", "")  # files taken from a plain directory


class SourceError(Exception):
    """A path that holds no messages (missing, or neither a file nor a directory)."""


def head_of(data: bytes) -> bytes:
    """The header block of a message (up to and including the blank line)."""
    for sep in (b"\r\n\r\n", b"\n\n"):
        i = data.find(sep)
        if i >= 0:
            return data[: i + len(sep)]
    return data


def is_maildir(path: Path) -> bool:
    return (path / "cur").is_dir() or (path / "new").is_dir()


def files_in(folder: Path) -> Iterator[Path]:
    """Regular files of a folder, sorted by name, dot files left out."""
    for p in sorted(folder.iterdir()):
        if p.is_file() and not p.name.startswith("."):
            yield p


class Message:
    """One message of a source: `name` says where it is, `mtime` is its file's modification
    time (None inside an mbox), `head()` and `raw()` read it (OSError when it vanished)."""

    __slots__ = ("_read", "mtime", "name")

    def __init__(self, name: str, mtime: datetime | None, read: Callable[[int | None], bytes]):
        self.name = name
        self.mtime = mtime
        self._read = read

    def head(self) -> bytes:
        return head_of(self._read(HEAD_LIMIT))

    def raw(self) -> bytes:
        return self._read(None)


def _file_message(path: Path) -> Message:
    def read(limit: int | None) -> bytes:
        with path.open("rb") as fh:
            return fh.read() if limit is None else fh.read(limit)

    try:
        mtime: datetime | None = datetime.fromtimestamp(path.stat().st_mtime, UTC)
    except OSError:
        mtime = None  # gone already: reading it says so
    return Message(str(path), mtime, read)


def is_mbox(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(5) == b"From "


def messages(path: Path) -> Iterator[Message]:
    """Every message at `path`, in a stable order. Raises SourceError for a missing path."""
    if path.is_dir():
        if is_maildir(path):
            files: Iterable[Path] = (f for sub in ("cur", "new") if (path / sub).is_dir()
                                     for f in files_in(path / sub))
        else:
            files = (f for f in files_in(path) if f.suffix.lower() in MESSAGE_SUFFIXES)
        for f in files:
            yield _file_message(f)
        return
    if not path.is_file():
        raise SourceError(f"{path}: no such file or directory")
    if is_mbox(path):
        box = mailbox.mbox(str(path), create=False)
        try:
            for n, key in enumerate(box.iterkeys(), 1):
                yield Message(f"{path}[{n}]", None,
                              lambda _limit, key=key: box.get_bytes(key))
        finally:
            box.close()
        return
    yield _file_message(path)
