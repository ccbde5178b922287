"""The errors and warnings of the config file."""
from __future__ import annotations


class ConfigError(Exception):
    """A problem with the config file: where (file, 1-based line, dotted key) and what.

    str(e) is "FILE:LINE: KEY: MESSAGE", leaving out the parts that are unknown. When a
    file has several problems, the first (by line) is this error's own fields and the
    rest are in `others` (and on further lines of str(e)).
    """

    def __init__(
        self,
        message: str,
        file: str | None = None,
        line: int | None = None,
        key: str | None = None,
        others: list[ConfigError] | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.key = key
        self.others = list(others or [])
        super().__init__(str(self))

    def _one(self) -> str:
        where = ""
        if self.file:
            where = self.file + (f":{self.line}" if self.line else "") + ": "
        elif self.line:
            where = f"line {self.line}: "
        key = f"{self.key}: " if self.key else ""
        return f"{where}{key}{self.message}"

    def __str__(self) -> str:
        return "\n".join([self._one()] + [o._one() for o in self.others])


class ConfigWarning(UserWarning):
    """Something legal but unwise in the config (e.g. a literal password)."""

