"""`pixelguard report`: who tracks you most, from the X-PixelGuard headers of cleaned mail.

    pixelguard report [PATH | --imap ACCOUNT [--folder F]...] [--json] [--config F]

PATH is a Maildir (cur/ and new/), an mbox file, a directory of .eml files, or one message.
Only headers are read (From, Date, X-PixelGuard); bodies are never parsed. A message counts
once per vendor its header names; "removed=N" gives the number of trackers.
"""
from __future__ import annotations

import argparse
import email.utils
import json
import os
import re
import sys
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.parser import BytesHeaderParser
from email.policy import compat32
from pathlib import Path

from pixelguard import sources

HEADER = "X-PixelGuard"
UNKNOWN_VENDOR = "(no vendor named)"  # generic rules (size, hidden…) name no vendor
UNKNOWN_SENDER = "(no sender)"
UNKNOWN_MONTH = "unknown"
_PARSER = BytesHeaderParser(policy=compat32)
_FIELD = re.compile(r'\s*([A-Za-z_-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)\s*(?:;|$)')
IMAP_BATCH = 500


class ReportError(Exception):
    """A source that cannot be read (no such path, unknown account, IMAP failure)."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code  # 2 usage; IMAP failures keep `pixelguard imap`'s codes


@dataclass(frozen=True)
class Stamp:
    """What one message's X-PixelGuard header says."""

    removed: int
    vendors: tuple[str, ...]
    rules: tuple[str, ...]
    error: str | None = None


@dataclass(frozen=True)
class Seen:
    """One cleaned message: its sender domain, month (YYYY-MM) and stamp."""

    domain: str
    month: str
    stamp: Stamp


def parse_stamp(value: str) -> Stamp | None:
    """Parse an X-PixelGuard value (folded or not); None when it is not ours."""
    text = " ".join(value.split())
    if not text:
        return None
    if text.lower().startswith("error"):
        return Stamp(0, (), (), error=text.partition(";")[2].strip() or "error")
    fields: dict[str, str] = {}
    pos = 0
    while pos < len(text):
        m = _FIELD.match(text, pos)
        if not m or m.end() == pos:
            break
        raw = m.group(2).strip()
        if raw.startswith('"') and raw.endswith('"') and len(raw) >= 2:
            raw = raw[1:-1].replace('\\"', '"')
        fields[m.group(1).lower()] = raw
        pos = m.end()
    try:
        removed = int(fields["removed"])
    except (KeyError, ValueError):
        return None
    vendors = tuple(v.strip() for v in fields.get("vendors", "").split(",") if v.strip())
    rules = tuple(r.strip() for r in fields.get("rules", "").split(",") if r.strip())
    return Stamp(removed, vendors, rules)


def org_domain(host: str) -> str:
    """The organisation's domain of a mail host: news.shop.example -> shop.example, and
    bounce.shop.co.uk -> shop.co.uk (per-message VERP and ESP subdomains fold into one).
    A heuristic for the common two-part country suffixes, not the Public Suffix List."""
    labels = [x for x in host.strip(".").split(".") if x]
    if len(labels) <= 2:
        return ".".join(labels)
    keep = 3 if len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVEL else 2
    return ".".join(labels[-keep:])


# second-level labels under two-letter country codes (co.uk, com.au, ne.jp, gob.mx, …)
_SECOND_LEVEL = frozenset(["co", "com", "net", "org", "gov", "gob", "gouv", "edu", "ac", "ne",
                           "or", "go", "mil", "nic", "ltd", "plc", "nhs", "sch", "info", "biz"])


def sender_domain(from_value: str | None) -> str:
    addrs = email.utils.getaddresses([from_value or ""])
    for _, addr in addrs:
        if "@" in addr:
            host = addr.rpartition("@")[2].strip().strip(">").lower()
            return org_domain(host) or UNKNOWN_SENDER
    return UNKNOWN_SENDER


def month_of(date_value: str | None, fallback: datetime | None = None) -> str:
    when = None
    if date_value:
        try:
            when = email.utils.parsedate_to_datetime(str(date_value))
        except (TypeError, ValueError, IndexError):
            when = None
    when = when or fallback
    if when is None:
        return UNKNOWN_MONTH
    if when.tzinfo is not None:
        when = when.astimezone(UTC)
    return f"{when.year:04d}-{when.month:02d}"


def seen_from_headers(head: bytes, fallback: datetime | None = None) -> Seen | None:
    """A Seen for one message's header block, or None when it carries no X-PixelGuard."""
    msg = _PARSER.parsebytes(head)
    values = msg.get_all(HEADER) or []
    if not values:
        return None
    stamp = parse_stamp(str(values[0]))  # ours is prepended: the first is the newest
    if stamp is None:
        return None
    return Seen(sender_domain(msg.get("From")), month_of(msg.get("Date"), fallback), stamp)


# --- sources ----------------------------------------------------------------------------------

def from_path(path: Path) -> Iterator[Seen | None]:
    """One item per message at `path` (None for a message pixelguard did not mark)."""
    try:
        for msg in sources.messages(path):
            try:
                yield seen_from_headers(msg.head(), msg.mtime)
            except OSError as exc:  # moved (new/ -> cur/) or removed by a client meanwhile
                print(f"pixelguard report: skipped {msg.name}: {exc.strerror or exc}",
                      file=sys.stderr)
    except sources.SourceError as exc:
        raise ReportError(str(exc)) from None


def from_imap(cfg, name: str, folders: Sequence[str] | None) -> Iterator[Seen | None]:
    """Messages of an IMAP account's folders (read-only, nothing is marked \\Seen)."""
    from imapclient.exceptions import IMAPClientError

    from pixelguard.imap.connection import AccountError, connect

    accounts = {a.name: a for a in cfg.imap.accounts}
    if name not in accounts:
        known = ", ".join(sorted(accounts)) or "none configured"
        raise ReportError(f"no IMAP account named {name!r} in the config (accounts: {known})")
    account = accounts[name]
    try:
        session = connect(account)
    except AccountError as exc:
        raise ReportError(str(exc), exc.exit_code) from None
    client = session.client
    try:
        for folder in folders or account.folders:
            try:
                client.select_folder(folder, readonly=True)
                uids = client.search(["HEADER", HEADER, ""])
                for i in range(0, len(uids), IMAP_BATCH):
                    batch = uids[i:i + IMAP_BATCH]
                    fetched = client.fetch(batch, [
                        f"BODY.PEEK[HEADER.FIELDS ({HEADER.upper()} FROM DATE)]", "INTERNALDATE"])
                    for uid in batch:
                        item = fetched.get(uid, {})
                        head = next((v for k, v in item.items()
                                     if k.startswith(b"BODY[HEADER.FIELDS")), b"") or b""
                        internal = item.get(b"INTERNALDATE")
                        yield seen_from_headers(head, internal if isinstance(internal, datetime)
                                                else None)
            except (IMAPClientError, OSError) as exc:
                raise ReportError(session.error(f"folder {folder!r}", exc), 1) from None
    finally:
        session.logout()


# --- the report -------------------------------------------------------------------------------

@dataclass
class Report:
    scanned: int = 0
    cleaned: int = 0
    errors: int = 0
    trackers: int = 0
    by_sender: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    removed_by_sender: Counter = field(default_factory=Counter)
    messages_by_sender: Counter = field(default_factory=Counter)
    by_month: Counter = field(default_factory=Counter)  # (month, domain, vendor) -> messages
    vendors: Counter = field(default_factory=Counter)

    def add(self, seen: Seen | None) -> None:
        self.scanned += 1
        if seen is None:
            return
        if seen.stamp.error is not None:
            self.errors += 1
            return
        if seen.stamp.removed <= 0:
            return
        self.cleaned += 1
        self.trackers += seen.stamp.removed
        self.messages_by_sender[seen.domain] += 1
        self.removed_by_sender[seen.domain] += seen.stamp.removed
        for vendor in seen.stamp.vendors or (UNKNOWN_VENDOR,):
            self.by_sender[seen.domain][vendor] += 1
            self.by_month[(seen.month, seen.domain, vendor)] += 1
            self.vendors[vendor] += 1

    def senders(self) -> list[str]:
        """Sender domains, most-tracking first."""
        return sorted(self.messages_by_sender,
                      key=lambda d: (-self.messages_by_sender[d], -self.removed_by_sender[d], d))

    def as_dict(self) -> dict:
        return {
            "messages_scanned": self.scanned,
            "messages_cleaned": self.cleaned,
            "errors": self.errors,
            "trackers_removed": self.trackers,
            "by_sender": [
                {"domain": d, "messages": self.messages_by_sender[d],
                 "trackers": self.removed_by_sender[d],
                 "vendors": dict(self.by_sender[d].most_common())}
                for d in self.senders()
            ],
            "by_vendor": dict(self.vendors.most_common()),
            "by_month": [
                {"month": m, "domain": d, "vendor": v, "messages": n}
                for (m, d, v), n in sorted(self.by_month.items(),
                                           key=lambda kv: (kv[0][0], -kv[1], kv[0][1], kv[0][2]))
            ],
        }


def render(report: Report, top: int) -> str:
    lines = [f"{report.scanned} messages read, {report.cleaned} cleaned by pixelguard, "
             f"{report.trackers} trackers removed"
             + (f", {report.errors} not cleaned (errors)" if report.errors else "")]
    if not report.cleaned:
        lines.append("No message carries a pixelguard report of removed trackers.")
        return "\n".join(lines) + "\n"
    lines += ["", "Who tracks you most", f"  {'sender domain':<32} {'messages':>8} {'trackers':>8}  vendors"]
    for d in report.senders()[:top]:
        vendors = ", ".join(f"{v} ({n})" for v, n in report.by_sender[d].most_common())
        lines.append(f"  {d[:32]:<32} {report.messages_by_sender[d]:>8} "
                     f"{report.removed_by_sender[d]:>8}  {vendors}")
    hidden = len(report.senders()) - top
    if hidden > 0:
        lines.append(f"  … and {hidden} more sender domains (--top, or --json for all)")
    lines += ["", f"By month (messages per sender domain and vendor, top {top} a month)",
              f"  {'month':<8} {'sender domain':<32} {'vendor':<24} {'messages':>8}"]
    rows_by_month: dict[str, list[dict]] = defaultdict(list)
    for row in report.as_dict()["by_month"]:  # sorted by month, then most messages
        rows_by_month[row["month"]].append(row)
    for month, rows in rows_by_month.items():
        for row in rows[:top]:
            lines.append(f"  {month:<8} {row['domain'][:32]:<32} {row['vendor'][:24]:<24} "
                         f"{row['messages']:>8}")
        if len(rows) > top:
            lines.append(f"  {month:<8} … and {len(rows) - top} more rows")
    return "\n".join(lines) + "\n"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="pixelguard report",
        description="Who tracks you most: sender domains x vendors x months, from the "
                    "X-PixelGuard headers of cleaned mail.")
    p.add_argument("path", nargs="?", metavar="PATH",
                   help="a Maildir, an mbox file, a directory of .eml files, or one message")
    p.add_argument("--imap", metavar="ACCOUNT", help="read an IMAP account from the config instead")
    p.add_argument("--folder", action="append", metavar="F",
                   help="IMAP folder (repeatable; default: the account's folders)")
    p.add_argument("--config", metavar="F",
                   help="YAML config file (for --imap; default: ~/.config/pixelguard.yaml)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--top", type=int, default=20, metavar="N", help="sender domains shown (20)")
    return p


def main(argv: Sequence[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(list(argv))
    if (args.path is None) == (args.imap is None):
        parser.error("give either PATH or --imap ACCOUNT")
    if args.folder and args.imap is None:
        parser.error("--folder only applies with --imap")
    report = Report()
    try:
        if args.imap is not None:
            from pixelguard.cli import load_config_or_exit
            from pixelguard.config_file import find_config

            source = from_imap(load_config_or_exit(find_config(args.config)), args.imap,
                               args.folder)
        else:
            source = from_path(Path(os.path.expanduser(args.path)))
        for seen in source:
            report.add(seen)
    except ReportError as exc:
        print(f"pixelguard report: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:
        print(f"pixelguard report: {args.path}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(report.as_dict(), indent=1, ensure_ascii=False))
    else:
        sys.stdout.write(render(report, max(args.top, 1)))
    return 0
