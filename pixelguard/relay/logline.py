"""One structured log line per message, logfmt style: key=value, values quoted when needed."""
from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pixelguard.model import Finding


def _value(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.1f}"
    text = str(v)
    if text and not any(c in text for c in ' "=\\\n\r\t'):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r") + '"'


def logfmt(**fields: Any) -> str:
    """`id=abc from=<a@b> to=x@y ...` in the order given; None values are left out."""
    return " ".join(f"{k}={_value(v)}" for k, v in fields.items() if v is not None)


def message_line(queue_id: str | None, outcome: str, sender: str, **details: Any) -> str:
    """The one log line of a message, the relay's and the milter's: `msg=message`, its queue
    id, what became of it and its envelope sender first, then what the door tells (`details`)."""
    return logfmt(msg="message", id=queue_id, outcome=outcome, sender=f"<{sender}>", **details)


def vendor_names(findings: Iterable[Finding]) -> str | None:
    """`Mailchimp,SendGrid`: the vendors of a message's findings, once each, sorted."""
    return ",".join(sorted({f.vendor for f in findings if f.vendor})) or None
