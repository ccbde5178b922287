"""The `milter:` section of the config file. pixelguard/milter owns its meaning; this
validates the shapes, and pixelguard/config composes it into the whole file's model."""
from __future__ import annotations

from pydantic import Field, field_validator

from pixelguard.config_fields import HostPort, Section, Size
from pixelguard.relay.settings import DEFAULT_MAX_SIZE

__all__ = ["MilterConfig", "parse_milter_socket"]


def parse_milter_socket(value: str) -> str:
    """A libmilter socket: `inet:PORT@HOST` / `inet:HOST:PORT`, `inet6:...`, or `unix:/path`
    (`local:` is the same). Returns it stripped; ValueError says what is wrong."""
    text = str(value).strip()
    kind, colon, rest = text.partition(":")
    if colon and kind in ("unix", "local"):
        if not rest.startswith("/"):
            raise ValueError(f"{text!r}: a unix socket needs an absolute path, e.g. unix:/run/pixelguard/milter.sock")
        return text
    if colon and kind in ("inet", "inet6"):
        if "@" in rest:
            port, _, host = rest.partition("@")
        else:
            host, _, port = rest.rpartition(":")
        if port.isdigit() and 0 < int(port) < 65536 and host:
            return text
    raise ValueError(f"{text!r} is not a milter socket: use inet:127.0.0.1:10030 or unix:/path/milter.sock")


class MilterConfig(Section):
    """The `milter:` section."""

    listen: str = "inet:127.0.0.1:10030"
    max_size: Size = DEFAULT_MAX_SIZE  # bytes; a larger message passes unchanged, marked
    timeout: float = Field(default=60, gt=0)  # seconds to wait for one message's cleaning
    max_concurrent: int = Field(default=20, ge=1)  # messages handed to the workers at once
    metrics: HostPort | None = None  # "host:port" of the Prometheus endpoint
    workers: int | None = Field(default=None, ge=0)  # cleaning processes; None: automatic
    allow_remote: bool = False  # listen on a non-loopback address (an MTA on another host)

    @field_validator("listen", mode="after")
    @classmethod
    def _listen(cls, v: str) -> str:
        return parse_milter_socket(v)
