"""Building blocks of every config section: the `Section` base and the field types.

Each part of pixelguard declares its own section from these (pixelguard/relay/settings.py,
imap/settings.py, milter/settings.py, and the policy's in pixelguard/config/sections.py);
pixelguard/config composes them into one model. Errors raised here are ValueErrors, which
pydantic reports and pixelguard/config maps back to file, line and key; a message starting
with "[i] " names the list entry (or mapping key) i that is wrong.
"""
from __future__ import annotations

import email.utils
import ipaddress
import os
import types
import typing
from collections.abc import Callable
from typing import Annotated, Any, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    ValidationInfo,
    model_validator,
)

from pixelguard.hostname import check_hostname, host_entry

__all__ = [
    "ConfigPath", "HostList", "HostName", "HostPort", "Section", "SenderList",
    "Size", "check_address", "check_sender", "dedupe", "describe", "each", "parse_hostport",
    "parse_size",
]


def _admits_none(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin is Union or origin is types.UnionType:
        return any(a is type(None) for a in typing.get_args(annotation))
    return annotation is None or annotation is type(None) or annotation is Any


class Section(BaseModel):
    """Base of every config section: unknown keys are errors; `key:` left empty means default."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _empty_means_default(cls, data: Any) -> Any:
        if data is None:
            return {}
        if isinstance(data, dict):
            fields = cls.model_fields
            return {
                k: v
                for k, v in data.items()
                if not (
                    v is None
                    and k in fields
                    and not fields[k].is_required()
                    and not _admits_none(fields[k].annotation)
                )
            }
        return data


def dedupe(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def each(value: Any, check: Callable[[Any], str]) -> Any:
    """Run `check` on each item of a list, raising with the item's index in the message;
    the checked items, duplicates dropped.

    Pydantic would lose the index for a before-validator, so the index is recovered by the
    error mapper from the "[i]" prefix this puts in front of the message.
    """
    if not isinstance(value, list):
        return value  # pydantic reports the type error
    out = []
    for i, item in enumerate(value):
        try:
            out.append(check(item))
        except ValueError as exc:
            raise ValueError(f"[{i}] {exc}") from None
    return dedupe(out)


def describe(value: Any) -> str:
    """A value from the file, named for a message: "text 'x'", "a list", "nothing"."""
    if value is None:
        return "nothing"
    if isinstance(value, str):
        return f"text {value!r}"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"{type(value).__name__} {value!r}"


# ---------------------------------------------------------------------------
# Addresses


def check_address(value: Any) -> str:
    """An e-mail address local@domain, lower-cased."""
    if not isinstance(value, str):
        raise ValueError(f"an address must be text, not {type(value).__name__}")  # noqa: TRY004 - pydantic reports ValueErrors
    addr = value.strip()
    if "<" in addr:
        addr = email.utils.parseaddr(addr)[1]
    local, at, domain = addr.rpartition("@")
    if not at or not local or any(c.isspace() for c in addr):
        raise ValueError(f"{value!r} is not an e-mail address (expected local@domain)")
    return f"{local.lower()}@{check_hostname(domain, 'domain')}"


def check_sender(value: Any) -> str:
    """An allowed sender: an address (local@domain) or a domain ('@domain' also accepted)."""
    if not isinstance(value, str):
        raise ValueError(f"a sender must be text, not {type(value).__name__}")  # noqa: TRY004 - pydantic reports ValueErrors
    raw = value.strip()
    raw = raw.removeprefix("@")
    if "@" in raw:
        return check_address(raw)
    if "/" in raw or any(c.isspace() for c in raw):
        raise ValueError(f"{value!r} is neither an address nor a domain")
    return check_hostname(raw, "domain")


# ---------------------------------------------------------------------------
# host:port


def parse_hostport(
    value: str, default_port: int | None = None, *, allow_zero: bool = True
) -> tuple[str, int]:
    """'host:port' or '[v6]:port' -> (host, port). Raises ValueError with a readable message."""
    if not isinstance(value, str):
        raise ValueError(f"expected 'host:port' text, not {type(value).__name__}")  # noqa: TRY004 - pydantic reports ValueErrors
    text = value.strip()
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ValueError(f"{value!r}: missing ']' after the IPv6 address")
        host, rest = text[1:end], text[end + 1 :]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"{value!r}: {host!r} is not an IPv6 address") from None
        if rest and not rest.startswith(":"):
            raise ValueError(f"{value!r}: expected ':port' after ']'")
        port_text = rest[1:] if rest else ""
    else:
        if text.count(":") > 1:
            raise ValueError(f"{value!r}: write an IPv6 address in brackets, e.g. '[::1]:10025'")
        host, _, port_text = text.partition(":")
        host = check_hostname(host)
    if not port_text:
        if default_port is None:
            raise ValueError(f"{value!r}: a port is required ('host:port')")
        return host, default_port
    if not port_text.isdigit():
        raise ValueError(f"{value!r}: port {port_text!r} is not a number")
    port = int(port_text)
    if port > 65535 or (port == 0 and not allow_zero):
        raise ValueError(f"{value!r}: port {port} is out of range")
    return host, port


def _hostport_text(value: str) -> str:
    parse_hostport(value)
    return value.strip()


# ---------------------------------------------------------------------------
# Sizes. Not pydantic's ByteSize: it refuses the documented '512Ki' and '10Mi' spellings,
# reads '1.2.3M' as 1 byte and `true` as 1, and accepts 0.

_SIZE_UNITS = {
    "": 1, "b": 1,
    "k": 1000, "kb": 1000, "m": 1000**2, "mb": 1000**2, "g": 1000**3, "gb": 1000**3,
    "ki": 1024, "kib": 1024, "mi": 1024**2, "mib": 1024**2, "gi": 1024**3, "gib": 1024**3,
}


def parse_size(value: Any) -> int:
    """Bytes from an int or a string: '50MB', '10MiB', '512k' (k/M/G decimal, Ki/Mi/Gi binary)."""
    if isinstance(value, bool):
        raise ValueError("expected a size such as 50MB, not a boolean")  # noqa: TRY004 - pydantic reports ValueErrors
    if isinstance(value, int):
        size = value
    elif isinstance(value, float) and value.is_integer():
        size = int(value)
    elif isinstance(value, str):
        text = value.strip().replace("_", "")
        i = 0
        while i < len(text) and (text[i].isdigit() or text[i] == "."):
            i += 1
        number, unit = text[:i], text[i:].strip().lower()
        if not number or number.count(".") > 1 or unit not in _SIZE_UNITS:
            raise ValueError(
                f"{value!r} is not a size; use bytes or a number with a unit, "
                "e.g. 50MB, 10MiB, 512k"
            )
        size = int(float(number) * _SIZE_UNITS[unit])
    else:
        raise ValueError(f"expected a size such as 50MB, not {type(value).__name__}")
    if size <= 0:
        raise ValueError("the size must be positive")
    return size


# ---------------------------------------------------------------------------
# Paths


def resolve_path(value: str, info: ValidationInfo) -> str:
    """A path from the config, relative ones taken from the config file's directory."""
    path = os.path.expanduser(value.strip())
    base = (info.context or {}).get("base_dir")
    if base and not os.path.isabs(path):
        path = os.path.join(base, path)
    return os.path.normpath(path)


# ---------------------------------------------------------------------------
# The field types

HostName = Annotated[str, AfterValidator(check_hostname)]
"""A DNS name or IP literal, lower-case, no trailing dot."""

HostList = Annotated[list[str], BeforeValidator(lambda v: each(v, host_entry))]
"""Host list entries (each covers its subdomains), normalised, duplicates dropped."""

SenderList = Annotated[list[str], BeforeValidator(lambda v: each(v, check_sender))]
"""Allowed senders: addresses or domains."""

HostPort = Annotated[str, AfterValidator(_hostport_text)]
"""'host:port' or '[v6]:port', kept as written (stripped)."""

Size = Annotated[int, BeforeValidator(parse_size)]
"""Bytes, from 50MB, 10MiB, 512k or a number."""

ConfigPath = Annotated[str, AfterValidator(resolve_path)]
"""A file path; a relative one is taken from the config file's directory."""
