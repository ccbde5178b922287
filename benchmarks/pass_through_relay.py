"""`pixelguard relay` with cleaning switched off: relay_bench.py's baseline, the same relay
(listener, admission, next-hop connections) forwarding every message untouched.

    .venv/bin/python benchmarks/pass_through_relay.py [the options of pixelguard relay]

A benchmark's tool, not a way to run pixelguard: mail relayed by it is not cleaned.
"""
from __future__ import annotations

import sys

from pixelguard.relay import command
from pixelguard.relay.cleaning import Cleaned, Cleaner


class PassThrough(Cleaner):
    """A cleaner that starts no workers and hands every message back as it came."""

    def __init__(self) -> None:
        super().__init__(workers=0)

    def describe(self) -> str:
        return "pass-through (NOT cleaning)"

    async def clean(self, raw, policy, auth=None) -> Cleaned:
        return Cleaned(raw)


def main(argv: list[str]) -> int:
    start = command.read_command_line(argv)
    return command.run(start, PassThrough())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
