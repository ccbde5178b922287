"""A second, tiny milter for the ordering tests: it plays the verifier that runs before
pixelguard (rspamd, OpenDKIM) and adds one header field at end of message.

    python tiny_milter.py PORT 'Name: value'
"""
from __future__ import annotations

import sys

import Milter


class Tiny(Milter.Base):
    def eom(self):
        name, _, value = FIELD.partition(":")
        self.addheader(name, value.strip(), 0)
        return Milter.CONTINUE


if __name__ == "__main__":
    port, FIELD = sys.argv[1], sys.argv[2]
    Milter.factory = Tiny
    Milter.set_flags(Milter.ADDHDRS)
    Milter.runmilter("tiny", f"inet:{port}@127.0.0.1", timeout=60)
