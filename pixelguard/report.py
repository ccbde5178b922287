"""`pixelguard report`: how much tracking pixelguard removed, from the X-PixelGuard headers.

    pixelguard report [PATH | --imap ACCOUNT [--folder F]...] [--since YYYY-MM[-DD]]
                      [--by sender|vendor|month] [--top N] [--json] [--html FILE] [--config F]

PATH is a Maildir (cur/ and new/), an mbox file, a directory of .eml files, or one message;
`--imap ACCOUNT` reads the account's folders (or each `--folder`) read-only. Only headers are
read (From, Date, X-PixelGuard); bodies are never parsed, so 100k messages stay cheap.

Every source feeds the same counting: each message read is one `Seen` built by
`seen_from_headers`, and `Report.add` sorts it into exactly one of

- cleaned:   its X-PixelGuard says `removed=N` with N > 0 (a part left unchecked included);
- unchanged: no X-PixelGuard header, or `removed=0`: nothing was found (or it was never
  filtered: a Maildir cannot tell the two apart, so IMAP does not either);
- skipped:   `X-PixelGuard: skipped; …`: nothing removed, but not every part could be checked;
- error:     `X-PixelGuard: error; …`: passed on uncleaned.

The IMAP originals folder (`pixelguard/originals`) is never among an account's folders: its
messages are the originals of cleaned copies that are counted in their own folder.

The default text fits a screen (at most 40 lines however much mail):

    19 of 22 messages carried trackers (86 %), 29 removed
    Read 22 messages: 19 cleaned, 3 unchanged.

    Vendors (messages with their trackers)
      Mailchimp                         7  ████████████████████
      SendGrid                          7  ████████████████████
      (no vendor named)                 3  █████████
      Adobe                             3  █████████
      Amazon SES                        3  █████████
      Klaviyo                           3  █████████
      Salesforce Marketing Cloud        3  █████████

    Senders (messages with trackers, of messages read)
      shop.example                   7 of 7       14 trackers  Mailchimp, SendGrid
      airline.example                3 of 3        6 trackers  Adobe, Amazon SES
      bank.example                   3 of 3        3 trackers  Salesforce Marketing Cloud
      club.example                   3 of 3        3 trackers  Klaviyo
      paper.example                  3 of 3        3 trackers  (no vendor named)

    Trackers removed per month
              Jan  Feb  Mar  Apr  May  Jun  Jul  Aug  Sep  Oct  Nov  Dec
      2026     11    9    9

    More: --by sender|vendor|month, --since YYYY-MM, --json, --html FILE

A message counts once per vendor its header names ("removed=N" is the number of trackers).
`--by sender|vendor|month` prints full tables instead of the overview; `--since` keeps
messages dated (Date header, else the file's or IMAP's date) from that day on. `--json` has
the same numbers: messages_scanned (= read), messages_cleaned, messages_unchanged,
messages_skipped, errors, trackers_removed, percent_with_trackers, headline, by_sender,
by_vendor, months, by_month, and for link edits (config `links:`, docs/links.md)
messages_with_links_changed, links (unwrapped, stripped, marked) and links_by_vendor (the
tracked links per vendor: unwrapped or marked); text and HTML show them beside the vendors. `--html FILE` writes one self-contained page with charts
(report_html).
"""
from __future__ import annotations

import argparse
import email.utils
import json
import os
import sys
import tempfile
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from pixelguard import sources
from pixelguard.display import count as plural  # '1 message', '2 messages'
from pixelguard.stamp import NAME as HEADER
from pixelguard.stamp import Stamp
from pixelguard.stamp import parse as read_stamp

UNKNOWN_VENDOR = "(no vendor named)"  # generic rules (size, hidden…) name no vendor
UNKNOWN_SENDER = "(no sender)"
UNKNOWN_MONTH = "unknown"
_WANTED = (b"from", b"date", HEADER.lower().encode())
IMAP_BATCH = 500
MAX_NAME = 200  # sender and vendor names come from the mail: bounded, printable
VENDORS_SHOWN = 10  # rows of the default view's rankings (the rest summed)
SENDERS_SHOWN = 5
YEARS_SHOWN = 6


class ReportError(Exception):
    """A source that cannot be read (no such path, unknown account, IMAP failure)."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code  # 2 usage; IMAP failures keep `pixelguard imap`'s codes


@dataclass(frozen=True)
class Seen:
    """One message read: its sender domain, date (UTC, None if unknown) and stamp (None when
    it carries no X-PixelGuard header of ours)."""

    domain: str
    when: datetime | None
    stamp: Stamp | None

    @property
    def month(self) -> str:
        return UNKNOWN_MONTH if self.when is None else f"{self.when.year:04d}-{self.when.month:02d}"


def printable(text: str) -> str:
    """A name from a message made safe to show: undecodable bytes, control characters (a
    terminal's escape sequences included) and format characters (bidirectional overrides
    that would reorder the line) replaced, whitespace folded, length bounded."""
    if len(text) <= MAX_NAME and text.isprintable() and text == " ".join(text.split()):
        return text  # the usual case, already safe
    text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    text = "".join("\ufffd" if unicodedata.category(c) in ("Cc", "Cf", "Cs") else c
                   for c in " ".join(text.split()))
    return text if len(text) <= MAX_NAME else text[: MAX_NAME - 1] + "…"


def parse_stamp(value: str) -> Stamp | None:
    """Parse an X-PixelGuard value (folded or not); None when it is not ours. Names from
    the mail are made `printable`."""
    read = read_stamp(value)
    if read is None:
        return None
    return replace(read, vendors=tuple(printable(v) for v in read.vendors),
                   rules=tuple(printable(r) for r in read.rules),
                   error=read.error and printable(read.error),
                   skipped=read.skipped and printable(read.skipped),
                   links=tuple((printable(a), n) for a, n in read.links),
                   link_vendors=tuple((printable(v), n) for v, n in read.link_vendors))


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
    value = str(from_value or "")
    if value.count("<") == 1 and not any(c in value for c in '",;()'):
        # the common `Name <addr@host>`: the address between the brackets, no full parse
        addrs = [("", value.partition("<")[2].partition(">")[0].strip())]
    else:
        addrs = email.utils.getaddresses([value])
    for _, addr in addrs:
        if "@" in addr:
            host = addr.rpartition("@")[2].strip().strip(">").lower()
            return printable(org_domain(host)) or UNKNOWN_SENDER
    return UNKNOWN_SENDER


def date_of(date_value: str | None) -> datetime | None:
    """A Date header as an aware UTC datetime (a date without zone is taken as UTC)."""
    if not date_value:
        return None
    try:
        when = email.utils.parsedate_to_datetime(str(date_value))
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return _utc(when)


def _utc(when: datetime) -> datetime:
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def header_fields(head: bytes) -> dict[bytes, list[str]]:
    """The From, Date and X-PixelGuard fields of a header block (names lower-case), each
    value unfolded, in order. A line scan: the email package's full parse of every header
    would cost more than all the rest of the report."""
    fields: dict[bytes, list[list[bytes]]] = {}
    current: list[bytes] | None = None
    for line in head.splitlines():
        if line[:1] in (b" ", b"\t"):  # a continuation of the field above
            if current is not None:
                current.append(line)
            continue
        name, colon, value = line.partition(b":")
        current = None
        if colon and name.lower() in _WANTED:
            current = [value]
            fields.setdefault(name.lower(), []).append(current)
    return {name: [b" ".join(p.strip() for p in parts).decode("ascii", "surrogateescape")
                   for parts in values] for name, values in fields.items()}


def seen_from_headers(head: bytes, fallback: datetime | None = None) -> Seen:
    """The one reading of a message's header block that every source uses. `fallback` is
    the store's date of the message (file time, IMAP INTERNALDATE) for a missing Date."""
    fields = header_fields(head)
    values = fields.get(_WANTED[2], [])
    # ours is prepended: the first is the newest
    stamp = parse_stamp(values[0]) if values else None
    when = date_of(next(iter(fields.get(b"date", [])), None))
    if when is None and fallback is not None:
        when = _utc(fallback)
    return Seen(sender_domain(next(iter(fields.get(b"from", [])), None)), when, stamp)


# --- sources: each yields one Seen per message, built by seen_from_headers --------------------

def from_path(path: Path) -> Iterator[Seen]:
    """One Seen per message at `path` (pixelguard.sources walks it, as for `scan`)."""
    try:
        for msg in sources.messages(path):
            try:
                seen = seen_from_headers(msg.head())
                if seen.when is None:
                    when = msg.mtime()
                    seen = seen if when is None else replace(seen, when=when)
            except OSError as exc:  # moved (new/ -> cur/) or removed by a client meanwhile
                print(f"pixelguard report: skipped {msg.name}: {exc.strerror or exc}",
                      file=sys.stderr)
                continue
            yield seen
    except sources.SourceError as exc:
        raise ReportError(str(exc)) from None


def from_imap(cfg, name: str, folders: Sequence[str] | None) -> Iterator[Seen]:
    """One Seen per message of an IMAP account's folders (read-only, nothing marked \\Seen).
    Every message is read, stamped or not, as a Maildir's are."""
    from imapclient.exceptions import IMAPClientError

    from pixelguard.imap.connection import AccountError, connect

    accounts = {a.name: a for a in cfg.imap.accounts}
    if name not in accounts:
        known = ", ".join(sorted(accounts)) or "none configured"
        raise ReportError(f"no IMAP account named {name!r} in the config (accounts: {known})")
    account = accounts[name]
    if folders and account.originals in folders:
        print(f"pixelguard report: note: {account.originals!r} holds the originals of cleaned "
              "messages; they count here as read and unchanged, their cleaned copies count "
              "in the folders they are in", file=sys.stderr)
    try:
        session = connect(account)
    except AccountError as exc:
        raise ReportError(str(exc), exc.exit_code) from None
    client = session.client
    wanted = f"BODY.PEEK[HEADER.FIELDS ({HEADER.upper()} FROM DATE)]"
    try:
        for folder in folders or account.folders:
            try:
                client.select_folder(folder, readonly=True)
                uids = client.search("ALL")
                for i in range(0, len(uids), IMAP_BATCH):
                    batch = uids[i:i + IMAP_BATCH]
                    fetched = client.fetch(batch, [wanted, "INTERNALDATE"])
                    for uid in batch:
                        if uid not in fetched:
                            continue  # expunged by another client meanwhile
                        item = fetched[uid]
                        head = next((v for k, v in item.items()
                                     if k.startswith(b"BODY[HEADER.FIELDS")), b"") or b""
                        internal = item.get(b"INTERNALDATE")
                        yield seen_from_headers(head, internal if isinstance(internal, datetime)
                                                else None)
            except (IMAPClientError, OSError) as exc:
                raise ReportError(session.error(f"folder {folder!r}", exc), 1) from None
    finally:
        session.logout()


# --- counting ---------------------------------------------------------------------------------

@dataclass
class Month:
    read: int = 0
    cleaned: int = 0
    trackers: int = 0


@dataclass
class Report:
    """Counts over the messages read; `since` (UTC) leaves out older and undated messages."""

    since: datetime | None = None
    scanned: int = 0  # messages read
    cleaned: int = 0
    unchanged: int = 0
    skipped: int = 0
    errors: int = 0
    trackers: int = 0
    by_sender: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    removed_by_sender: Counter = field(default_factory=Counter)
    messages_by_sender: Counter = field(default_factory=Counter)  # cleaned messages
    read_by_sender: Counter = field(default_factory=Counter)
    by_month: Counter = field(default_factory=Counter)  # (month, domain, vendor) -> messages
    months: dict[str, Month] = field(default_factory=lambda: defaultdict(Month))
    vendors: Counter = field(default_factory=Counter)
    with_links: int = 0  # messages whose links were changed (unwrapped, stripped, marked)
    link_actions: Counter = field(default_factory=Counter)  # unwrapped/stripped/marked -> links
    link_vendors: Counter = field(default_factory=Counter)  # vendor -> tracked links

    def add(self, seen: Seen) -> None:
        if self.since is not None and (seen.when is None or seen.when < self.since):
            return
        self.scanned += 1
        self.read_by_sender[seen.domain] += 1
        month = self.months[seen.month]
        month.read += 1
        stamp = seen.stamp
        if stamp is not None and stamp.error is not None:
            self.errors += 1
            return
        if stamp is not None and stamp.skipped is not None:
            self.skipped += 1
            return
        if stamp is not None and stamp.links:
            self.with_links += 1
            for action, n in stamp.links:
                self.link_actions[action] += n
            for vendor, n in stamp.link_vendors:
                self.link_vendors[vendor] += n
        if stamp is None or stamp.removed <= 0:
            self.unchanged += 1
            return
        self.cleaned += 1
        self.trackers += stamp.removed
        month.cleaned += 1
        month.trackers += stamp.removed
        self.messages_by_sender[seen.domain] += 1
        self.removed_by_sender[seen.domain] += stamp.removed
        for vendor in stamp.vendors or (UNKNOWN_VENDOR,):
            self.by_sender[seen.domain][vendor] += 1
            self.by_month[(seen.month, seen.domain, vendor)] += 1
            self.vendors[vendor] += 1

    def senders(self) -> list[str]:
        """Sender domains that tracked, most-tracking first."""
        return sorted(self.messages_by_sender,
                      key=lambda d: (-self.messages_by_sender[d], -self.removed_by_sender[d], d))

    def vendor_ranking(self) -> list[tuple[str, int]]:
        """Vendors by messages with their trackers (then by tracked links: a vendor seen
        only in links counts 0 messages)."""
        names = set(self.vendors) | set(self.link_vendors)
        return sorted(((v, self.vendors[v]) for v in names),
                      key=lambda kv: (-kv[1], -self.link_vendors[kv[0]], kv[0]))

    def month_keys(self) -> list[str]:
        """Every month from the first to the last with mail (gaps included), then unknown."""
        known = sorted(m for m in self.months if m != UNKNOWN_MONTH)
        out: list[str] = []
        if known:
            y, m = map(int, known[0].split("-"))
            last = tuple(map(int, known[-1].split("-")))
            while (y, m) <= last:
                out.append(f"{y:04d}-{m:02d}")
                y, m = (y + 1, 1) if m == 12 else (y, m + 1)
        return out + ([UNKNOWN_MONTH] if UNKNOWN_MONTH in self.months else [])

    def month(self, key: str) -> Month:
        return self.months.get(key) or Month()

    def headline(self) -> str:
        """'19 of 22 messages carried trackers (86 %), 42 removed'."""
        since = f"Since {self.since:%Y-%m-%d}: " if self.since is not None else ""
        if not self.scanned:
            return since + "No messages read."
        return (f"{since}{self.cleaned} of {plural(self.scanned, 'message')} carried trackers "
                f"({percent(self.cleaned, self.scanned)}), {self.trackers} removed")

    def counts_line(self) -> str:
        parts = [f"{self.cleaned} cleaned", f"{self.unchanged} unchanged"]
        if self.skipped:
            parts.append(f"{self.skipped} skipped (not every part could be checked)")
        if self.errors:
            parts.append(f"{plural(self.errors, 'error')} (passed on uncleaned)")
        if self.with_links:
            done = ", ".join(f"{self.link_actions[a]} {a}" for a in ("unwrapped", "stripped", "marked")
                             if self.link_actions[a])
            parts.append(f"links changed in {plural(self.with_links, 'message')} ({done})")
        return f"Read {plural(self.scanned, 'message')}: {', '.join(parts)}."

    def as_dict(self) -> dict:
        return {
            "headline": self.headline(),
            "since": None if self.since is None else f"{self.since:%Y-%m-%d}",
            "messages_scanned": self.scanned,
            "messages_cleaned": self.cleaned,
            "messages_unchanged": self.unchanged,
            "messages_skipped": self.skipped,
            "errors": self.errors,
            "trackers_removed": self.trackers,
            "percent_with_trackers": (round(100 * self.cleaned / self.scanned, 1)
                                      if self.scanned else 0.0),
            "by_sender": [
                {"domain": d, "messages": self.messages_by_sender[d],
                 "read": self.read_by_sender[d],
                 "trackers": self.removed_by_sender[d],
                 "vendors": dict(self.by_sender[d].most_common())}
                for d in self.senders()
            ],
            "by_vendor": {v: n for v, n in self.vendor_ranking() if n},
            "messages_with_links_changed": self.with_links,
            "links": {a: self.link_actions[a] for a in ("unwrapped", "stripped", "marked")},
            "links_by_vendor": dict(sorted(self.link_vendors.items(), key=lambda kv: (-kv[1], kv[0]))),
            "months": [{"month": m, "read": self.month(m).read, "cleaned": self.month(m).cleaned,
                        "trackers": self.month(m).trackers} for m in self.month_keys()],
            "by_month": [
                {"month": m, "domain": d, "vendor": v, "messages": n}
                for (m, d, v), n in sorted(self.by_month.items(),
                                           key=lambda kv: (kv[0][0], -kv[1], kv[0][1], kv[0][2]))
            ],
        }


# --- words and numbers ------------------------------------------------------------------------

def percent(part: int, whole: int) -> str:
    """A share rounded to a whole percent that never says 0 % or 100 % when it is not."""
    if not whole:
        return "0 %"
    value = 100 * part / whole
    if 0 < value < 1:
        return "<1 %"
    if 99 < value < 100:
        return ">99 %"
    return f"{round(value)} %"


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _bar(n: int, most: int, width: int = 20) -> str:
    return "█" * max(1, round(width * n / most)) if n and most else ""


# --- text -------------------------------------------------------------------------------------

MORE = "More: --by sender|vendor|month, --since YYYY-MM, --json, --html FILE"
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def render(report: Report, top: int | None = None, by: Sequence[str] = ()) -> str:
    """The text report: headline and overview, or the full tables named in `by`."""
    lines = [report.headline()]
    if report.scanned:
        lines.append(report.counts_line())
    if not report.cleaned and not report.link_vendors:
        if report.scanned:
            lines.append("No message carries a pixelguard report of removed trackers.")
        return "\n".join(lines) + "\n"
    if by:
        for table in by:
            lines += ["", *TABLES[table](report)]
        return "\n".join(lines) + "\n"
    lines += ["", *_vendor_lines(report, top or VENDORS_SHOWN),
              "", *_sender_lines(report, top or SENDERS_SHOWN),
              "", *_month_grid(report), "", MORE]
    return "\n".join(lines) + "\n"


def _top(rows: list, top: int | None) -> list:
    """The first `top` rows; all of them when the rest would be a single row anyway."""
    return rows if top is None or len(rows) <= top + 1 else rows[:top]


def _vendor_lines(report: Report, top: int | None) -> list[str]:
    ranking = report.vendor_ranking()
    shown = _top(ranking, top)
    most = ranking[0][1] if ranking else 0
    if report.link_vendors:  # a column of tracked links (unwrapped or marked) beside
        lines = ["Vendors (messages with their trackers; tracked links)"]
        lines += [f"  {_cut(v, 28):<28} {n:>6} {report.link_vendors[v]:>6}  {_bar(n, most)}".rstrip()
                  for v, n in shown]
    else:
        lines = ["Vendors (messages with their trackers)"]
        lines += [f"  {_cut(v, 28):<28} {n:>6}  {_bar(n, most)}" for v, n in shown]
    rest = ranking[len(shown):]
    if rest:
        lines.append(f"  {plural(len(rest), 'other vendor'):<28} {sum(n for _, n in rest):>6}")
    return lines


def _sender_row(name: str, cleaned: int, read: int, trackers: int, vendors: str) -> str:
    return (f"  {_cut(name, 26):<26} {cleaned:>5} of {read:<5}{trackers:>5} "
            f"{'tracker' if trackers == 1 else 'trackers':<8}  {vendors}").rstrip()


def _sender_lines(report: Report, top: int | None) -> list[str]:
    senders = report.senders()
    shown = _top(senders, top)
    lines = ["Senders (messages with trackers, of messages read)"]
    for d in shown:
        vendors = report.by_sender[d].most_common()
        names = (", ".join(f"{v} ({n})" for v, n in vendors) if top is None
                 else _cut(", ".join(v for v, _ in vendors), 40))
        lines.append(_sender_row(d, report.messages_by_sender[d], report.read_by_sender[d],
                                 report.removed_by_sender[d], names))
    rest = senders[len(shown):]
    if rest:
        lines.append(_sender_row(plural(len(rest), "other sender"),
                                 sum(report.messages_by_sender[d] for d in rest),
                                 sum(report.read_by_sender[d] for d in rest),
                                 sum(report.removed_by_sender[d] for d in rest), ""))
    return lines


def _month_grid(report: Report) -> list[str]:
    """Trackers removed per month: one line per year, the latest YEARS_SHOWN years."""
    keys = [m for m in report.month_keys() if m != UNKNOWN_MONTH]
    years = sorted({k[:4] for k in keys})
    lines = ["Trackers removed per month",
             "        " + "".join(f"{m:>5}" for m in _MONTHS)]
    earlier, years = years[:-YEARS_SHOWN], years[-YEARS_SHOWN:]
    if earlier:
        total = sum(report.month(k).trackers for k in keys if k[:4] in earlier)
        span = earlier[0] if len(earlier) == 1 else f"{earlier[0]}–{earlier[-1]}"
        lines.append(f"  {span}: {total} removed (--by month)")
    for year in years:
        cells = []
        for i in range(1, 13):
            m = report.months.get(f"{year}-{i:02d}")
            cells.append(f"{m.trackers:>5}" if m else " " * 5)
        lines.append(f"  {year}  " + "".join(cells).rstrip())
    unknown = report.months.get(UNKNOWN_MONTH)
    if unknown:
        lines.append(f"  no date: {unknown.trackers} removed")
    return lines


def _month_table(report: Report) -> list[str]:
    lines = ["By month",
             f"  {'month':<8} {'read':>6} {'with trackers':>14} {'':>6} {'removed':>8}  top vendors"]
    vendors_by_month: dict[str, Counter] = defaultdict(Counter)
    for (m, _, v), n in report.by_month.items():
        vendors_by_month[m][v] += n
    for key in report.month_keys():
        m = report.month(key)
        top = ", ".join(v for v, _ in vendors_by_month[key].most_common(3))
        lines.append(f"  {key:<8} {m.read:>6} {m.cleaned:>14} {percent(m.cleaned, m.read):>6} "
                     f"{m.trackers:>8}  {_cut(top, 40)}".rstrip())
    return lines


def _vendor_table(report: Report) -> list[str]:
    senders: Counter = Counter(v for d in report.by_sender for v in report.by_sender[d])
    links = bool(report.link_vendors)
    lines = ["By vendor",
             f"  {'vendor':<28} {'messages':>8} {'of cleaned':>10} {'senders':>8}"
             + (f" {'links':>6}" if links else "")]
    for v, n in report.vendor_ranking():
        lines.append(f"  {_cut(v, 28):<28} {n:>8} {percent(n, report.cleaned):>10} "
                     f"{senders[v]:>8}" + (f" {report.link_vendors[v]:>6}" if links else ""))
    return lines


TABLES = {
    "sender": lambda r: _sender_lines(r, None),
    "vendor": _vendor_table,
    "month": _month_table,
}


# --- command line -----------------------------------------------------------------------------

def since_date(text: str) -> datetime:
    """--since YYYY-MM or YYYY-MM-DD, as the start of that day (UTC)."""
    for fmt in ("%Y-%m-%d", "%Y-%m"):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-03 or 2026-03-15")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="pixelguard report",
        description="How much tracking pixelguard removed, by vendor, sender and month, "
                    "from the X-PixelGuard headers of mail (headers only).")
    p.add_argument("path", nargs="?", metavar="PATH",
                   help="a Maildir, an mbox file, a directory of .eml files, or one message")
    p.add_argument("--imap", metavar="ACCOUNT", help="read an IMAP account from the config instead")
    p.add_argument("--folder", action="append", metavar="F",
                   help="IMAP folder (repeatable; default: the account's folders)")
    p.add_argument("--config", metavar="F",
                   help="YAML config file (for --imap; default: ~/.config/pixelguard.yaml)")
    p.add_argument("--since", type=since_date, metavar="YYYY-MM[-DD]",
                   help="only messages dated from then on (by their Date header)")
    p.add_argument("--by", action="append", choices=sorted(TABLES), metavar="sender|vendor|month",
                   help="print the full table by sender, vendor or month (repeatable)")
    p.add_argument("--top", type=int, default=None, metavar="N",
                   help=f"rows of each ranking (default: {VENDORS_SHOWN} vendors, "
                        f"{SENDERS_SHOWN} senders)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--html", metavar="FILE",
                   help="also write the report as one self-contained HTML page with charts")
    return p


def write_page(path: str, text: str) -> None:
    """Write `text` to `path` whole or not at all (a temporary file renamed into place)."""
    target = Path(os.path.expanduser(path))
    fd, tmp = tempfile.mkstemp(prefix=".pixelguard-report-", suffix=".html",
                               dir=target.parent if str(target.parent) else ".")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def main(argv: Sequence[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(list(argv))
    if (args.path is None) == (args.imap is None):
        parser.error("give either PATH or --imap ACCOUNT")
    if args.folder and args.imap is None:
        parser.error("--folder only applies with --imap")
    if args.top is not None and args.top < 1:
        parser.error("--top must be at least 1")
    report = Report(since=args.since)
    try:
        if args.imap is not None:
            from pixelguard.config import load_config_or_exit
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
    if args.html:
        from pixelguard.report_html import page

        source_name = args.path if args.imap is None else f"IMAP account {args.imap}"
        try:
            write_page(args.html, page(report, source_name))
        except OSError as exc:
            print(f"pixelguard report: cannot write {args.html}: {exc.strerror or exc}",
                  file=sys.stderr)
            return 2
        print(f"pixelguard report: wrote {args.html}", file=sys.stderr)
    if args.json:
        print(json.dumps(report.as_dict(), indent=1, ensure_ascii=False))
    else:
        sys.stdout.write(render(report, args.top, args.by or ()))
    return 0
