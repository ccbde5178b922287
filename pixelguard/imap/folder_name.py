"""INBOX in any case is INBOX: IMAP's one case-insensitive mailbox name (RFC 3501 section
5.1), alone or as the first level of a path; every other name is compared exactly."""
from __future__ import annotations


def inbox_canonical(name: str, separators: str = "/") -> str:
    """`name` with a first level spelled INBOX in any case written `INBOX`; the rest as
    given. `separators`: the characters that end a level ('/' in the config file; a server
    name may use its own delimiter, such as '.')."""
    ends = [i for i in (name.find(s) for s in separators) if i >= 0]
    end = min(ends, default=len(name))
    return "INBOX" + name[end:] if name[:end].upper() == "INBOX" else name
