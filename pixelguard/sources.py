"""The messages at a path: a Maildir (cur/ and new/), an mbox file, a directory of message
files, or one message file. Shared by `pixelguard scan` and `pixelguard report`, so both
accept the same sources and walk them in the same order.

Each message is read only when asked for: `head()` reads the header block alone (no more of
the body than one chunk), `raw()` all of it, `mtime()` stats the file; so a report over a
100k-message Maildir reads headers only.
"""
from __future__ import annotations

import mailbox
import os
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

HEAD_CHUNK = 8192
HEAD_LIMIT = 262144  # a header block longer than this is cut (nothing of ours lies beyond)
MESSAGE_SUFFIXES = (".eml", ".msg", "")  # files taken from a plain directory


class SourceError(Exception):
    """A path that holds no messages (missing, or neither a file nor a directory)."""


def head_end(data: bytes) -> int:
    """Offset past the blank line ending the header block in `data`, or -1."""
    ends = [i + len(sep) for sep in (b"\r\n\r\n", b"\n\n") if (i := data.find(sep)) >= 0]
    if data.startswith((b"\r\n", b"\n")):  # no header at all
        ends.append(2 if data.startswith(b"\r\n") else 1)
    return min(ends, default=-1)


def head_of(data: bytes) -> bytes:
    """The header block of a message in memory (up to and including the blank line)."""
    end = head_end(data)
    return data if end < 0 else data[:end]


def read_head(fh: BinaryIO) -> bytes:
    """The header block from a binary file object, reading no more of the body than a chunk."""
    data = b""
    while len(data) < HEAD_LIMIT:
        chunk = fh.read(HEAD_CHUNK)
        if not chunk:
            break
        data += chunk
        end = head_end(data)
        if end >= 0:
            return data[:end]
    return data[:HEAD_LIMIT]


def is_maildir(path: Path) -> bool:
    return (path / "cur").is_dir() or (path / "new").is_dir()


def files_in(folder: Path) -> list[str]:
    """Regular files of a folder, sorted by name, dot files left out."""
    with os.scandir(folder) as entries:
        names = sorted(e.name for e in entries if not e.name.startswith(".") and e.is_file())
    return [os.path.join(folder, name) for name in names]


class Message:
    """One message of a source. `name` says where it is (a file path, or `box.mbox[3]` for
    the third message of an mbox); `head()`, `raw()` and `mtime()` read it, and raise
    OSError when its file vanished meanwhile (a client moved it from new/ to cur/)."""

    __slots__ = ("_open", "_path", "name")

    def __init__(self, name: str, opener: Callable[[], BinaryIO], path: str | None = None):
        self.name = name
        self._open = opener
        self._path = path

    def head(self) -> bytes:
        with self._open() as fh:
            return read_head(fh)

    def raw(self) -> bytes:
        with self._open() as fh:
            return fh.read()

    def mtime(self) -> datetime | None:
        """The file's modification time in UTC; None for a message inside an mbox."""
        if self._path is None:
            return None
        return datetime.fromtimestamp(os.stat(self._path).st_mtime, UTC)


def _file(path: str) -> Message:
    return Message(path, lambda: open(path, "rb"), path)


def messages(path: Path) -> Iterator[Message]:
    """Every message at `path`, in a stable order. Raises SourceError for a missing path."""
    if path.is_dir():
        if is_maildir(path):
            files: Iterable[str] = (f for sub in ("cur", "new") if (path / sub).is_dir()
                                    for f in files_in(path / sub))
        else:
            files = (f for f in files_in(path)
                     if os.path.splitext(f)[1].lower() in MESSAGE_SUFFIXES)
        for f in files:
            yield _file(f)
        return
    if not path.is_file():
        raise SourceError(f"{path}: no such file or directory")
    with path.open("rb") as fh:
        start = fh.read(5)
    if start == b"From ":
        box = mailbox.mbox(str(path), create=False)
        try:
            for n, key in enumerate(box.iterkeys(), 1):
                # get_file: the message past its "From " line, read lazily
                yield Message(f"{path}[{n}]", lambda key=key: box.get_file(key))
        finally:
            box.close()
        return
    yield _file(str(path))
