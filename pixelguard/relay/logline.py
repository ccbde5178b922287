"""One structured log line per message, logfmt style: key=value, values quoted when needed."""
from __future__ import annotations

from typing import Any


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

