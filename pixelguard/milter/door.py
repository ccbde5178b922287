"""What the milter does with a whole message: choose the policy, clean it in a worker
process, turn the result into milter actions, count and log it.

Sessions run in libmilter's threads; cleaning runs in the relay's worker pool
(relay/cleaning.py's Cleaner), driven by one asyncio loop in a thread of its own. A slow
message ties up one worker and its own session, never the others.

A config reload (milter/reload.py) puts a new Runtime in place: a session takes the one in
effect at its MAIL FROM and handles that message with it to the end, so a message in flight
keeps the policy, max_size and timeout it began with. Its tracker and link lists are the
files as they are when it is cleaned: each worker reads them anew for the first message it
cleans after a reload (relay/cleaning.py), as in the relay. `max_concurrent` is one limit
(limit.py) that in-flight and new messages count against, at its current value; a stop
waits for each message in flight for as long as its own timeout allows.

Failure rule: the message is always accepted. Core error, crashed worker, a wait past
`timeout`, more than `max_concurrent` messages waiting, a message over `max_size`: it
passes unchanged, with `X-PixelGuard: error; …` (the relay's error header) when the MTA
granted header insertion.
"""
from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import logging
import threading
import time
from dataclasses import dataclass

import Milter

from pixelguard import stamp
from pixelguard.headers import mark_error
from pixelguard.milter.edits import Edits, NotExpressible, assemble, plan
from pixelguard.milter.limit import Limit
from pixelguard.milter.metrics import Metrics
from pixelguard.milter.recipients import strictest
from pixelguard.model import Policy
from pixelguard.relay.cleaning import Cleaned, Cleaner
from pixelguard.relay.logline import message_line, vendor_names

log = logging.getLogger("pixelguard.milter")

ERROR_HEADER = stamp.NAME
POLICIES_KEPT = 1024  # recipient lists whose combined policy is kept (then all are forgotten)
# Only lists this short are kept: a long list (a mailing list's, up to Postfix's 1,000) is
# rarely seen twice and its policy holds one member per recipient.
POLICY_KEY_MAX = 16


@dataclass(frozen=True)
class Settings:
    max_size: int
    timeout: float
    max_concurrent: int

    @classmethod
    def of(cls, milter) -> Settings:
        """The settings of the config's `milter:` section (MilterConfig)."""
        return cls(milter.max_size, milter.timeout, milter.max_concurrent)


@dataclass(frozen=True)
class Runtime:
    """What a message is handled with, from its MAIL FROM to the answer at its end."""

    config: object  # pixelguard.config.Config: policies, lists, auth
    settings: Settings


class Door:
    def __init__(self, config, cleaner: Cleaner, settings: Settings, metrics: Metrics | None = None) -> None:
        self.cleaner = cleaner
        self.runtime = Runtime(config, settings)
        self.slots = Limit(settings.max_concurrent)  # places for messages handed to the workers
        self.metrics = metrics or Metrics()
        self.tcp_port: int | None = None  # the listening TCP port (None: a unix socket)
        self._idle = threading.Condition()
        self._in_flight = 0  # messages between end of message and our answer
        self._timeouts: collections.Counter[float] = collections.Counter()  # theirs, each counted
        # the policy of each recipient list seen, for the config it was made from: a Policy
        # is a pure function of the two, and making one costs more than the rest of the
        # milter's own work on a message
        self._policies: tuple[object, dict[tuple[str, ...], Policy]] = (None, {})
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="pixelguard-clean", daemon=True)
        self._thread.start()

    @property
    def config(self):
        return self.runtime.config

    @property
    def settings(self) -> Settings:
        return self.runtime.settings

    def reconfigure(self, config) -> None:
        """Handle the messages that start from now on with `config` (its `milter:` section's
        max_size and timeout included); those in flight keep theirs. The new max_concurrent
        applies to all, those in flight included (one limit)."""
        settings = Settings.of(config.milter)
        # The workers' caches first: a message that gets the new config must not be cleaned
        # with the lists as they were read before the reload.
        self.cleaner.reload()
        self.slots.set_max(settings.max_concurrent)
        self.runtime = Runtime(config, settings)

    def close(self, grace: float | None = None) -> bool:
        """Wait up to `grace` seconds for the messages being cleaned, then stop the workers,
        then the cleaning loop. True if none was left in flight. The default grace is the
        longest timeout a message in flight was given, or the current one: a reload that
        lowered milter.timeout does not cut short a message begun with a longer one.

        The loop runs while the workers stop: a job that timed out still runs in its worker,
        and only the loop reads its answer and then lets that worker exit."""
        with self._idle:
            if grace is None:
                grace = max([self.settings.timeout, *self._timeouts])
            deadline = time.monotonic() + grace
            while self._in_flight and time.monotonic() < deadline:
                self._idle.wait(deadline - time.monotonic())
            finished = not self._in_flight
        self.cleaner.close()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        return finished

    # -- one message -------------------------------------------------------------------

    def policy(self, rcpts: list[str], config=None) -> Policy:
        """The strictest combination of the recipients' policies (recipients.py) under
        `config` (default: the one in effect)."""
        config = self.config if config is None else config
        made_from, known = self._policies
        if made_from is not config:
            known = {}
            self._policies = (config, known)
        if len(rcpts) > POLICY_KEY_MAX:
            return strictest([config.policy_for(r) for r in rcpts])
        key = tuple(rcpts)
        policy = known.get(key)
        if policy is None:
            if len(known) >= POLICIES_KEPT:
                known.clear()
            policy = known[key] = strictest([config.policy_for(r) for r in rcpts] or [config.policy_for(None)])
        return policy

    def _clean(self, raw: bytes, policy, runtime: Runtime | None = None) -> tuple[Cleaned, str]:
        """(the core's answer or the marked original, the outcome word), within `runtime`'s
        limits (default: the one in effect)."""
        runtime = self.runtime if runtime is None else runtime
        settings = runtime.settings
        deadline = time.monotonic() + settings.timeout  # the wait for a place included
        if not self.slots.acquire(timeout=settings.timeout):
            error = f"more than {self.slots.maximum} messages waiting for cleaning"
            return Cleaned(mark_error(raw, error), [], error), "busy"
        try:
            job = asyncio.run_coroutine_threadsafe(
                self.cleaner.clean(raw, policy, runtime.config.auth), self._loop)
            try:
                cleaned = job.result(max(0.0, deadline - time.monotonic()))
            except concurrent.futures.TimeoutError:
                job.cancel()  # the worker finishes the job; nobody waits for it
                error = f"cleaning took longer than {settings.timeout:g} s"
                return Cleaned(mark_error(raw, error), [], error), "timeout"
        finally:
            self.slots.release()
        if cleaned.error:
            return cleaned, "error"
        return cleaned, "cleaned" if cleaned.findings or cleaned.links else "unchanged"

    def finish(self, session, queue_id: str | None, started: float) -> None:
        """Clean the session's message and apply the result (see the module)."""
        timeout = session.runtime.settings.timeout
        with self._idle:
            self._in_flight += 1
            self._timeouts[timeout] += 1
        try:
            self._finish(session, queue_id, started)
        finally:
            with self._idle:
                self._in_flight -= 1
                self._timeouts[timeout] -= 1
                if not self._timeouts[timeout]:
                    del self._timeouts[timeout]
                self._idle.notify_all()

    def _finish(self, session, queue_id: str | None, started: float) -> None:
        runtime = session.runtime  # as at the message's MAIL FROM
        if session.oversize or session.failed is not None:
            if session.oversize:
                error = f"message larger than max_size ({runtime.settings.max_size} bytes); not checked"
                outcome = "oversize"
            else:
                error, outcome = f"{session.failed}; not checked", "error"
            cleaned = Cleaned(b"", [], error)
            edits = Edits(((0, ERROR_HEADER, f" {stamp.error(error)}".encode()),))
        else:
            body = b"".join(session.chunks)
            raw = assemble(session.fields, body)
            policy = self.policy(session.rcpts, runtime.config)
            cleaned, outcome = self._clean(raw, policy, runtime)
            try:
                # the core changed nothing (most mail): nothing to compare
                edits = Edits() if cleaned.raw == raw else plan(session.fields, body, cleaned.raw)
            except NotExpressible as exc:
                error = f"cleaned message not expressible as milter edits: {exc}"
                cleaned, outcome = Cleaned(raw, [], error), "error"
                edits = plan(session.fields, body, mark_error(raw, error))
        note = self._apply(session, edits, cleaned)
        if note is not None:
            outcome = "not-granted"
        elapsed = time.monotonic() - started
        m = self.metrics
        m.messages.labels(outcome=outcome).inc()
        m.latency.observe(elapsed)
        if outcome != "not-granted":
            m.found(cleaned.findings)
        if outcome == "error":
            m.clean_errors.inc()
        if log.isEnabledFor(logging.INFO):
            log.info(message_line(
                queue_id, outcome, session.sender,
                rcpts=",".join(session.rcpts), size=session.size,
                removed=len(cleaned.findings) if outcome == "cleaned" else None,
                vendors=vendor_names(cleaned.findings), error=cleaned.error, note=note,
                ms=round(elapsed * 1000, 1),
            ))

    def _apply(self, session, edits: Edits, cleaned: Cleaned) -> str | None:
        """Ask the MTA for `edits`; None when done, else why not (the message then passes
        unchanged, or with only the error header)."""
        if edits.empty:
            return None
        can_add = bool(session.granted & Milter.ADDHDRS)
        can_body = bool(session.granted & Milter.CHGBODY)
        if edits.body is not None and not can_body:
            if can_add:
                value = " " + stamp.error(f"the MTA did not grant body replacement ({len(cleaned.findings)} trackers left in)")
                session.addheader(ERROR_HEADER, value, 0)
            return "body replacement not granted by the MTA: message passed unchanged"
        if edits.insert and not can_add:
            if edits.body is not None:
                return "header insertion not granted by the MTA: message passed unchanged"
            return "header insertion not granted by the MTA: no header added"
        for index, name, value in reversed(edits.insert):  # from the bottom: indexes stay right
            session.addheader(name, value.replace(b"\r\n", b"\n").decode("utf-8", "surrogateescape"), index)
        if edits.body is not None:
            session.replacebody(edits.body)
        return None
