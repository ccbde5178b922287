"""Pydantic's validation errors mapped back to the file: line and dotted key of each, and a
message for people ("unknown key 'lisen' (did you mean 'listen'?)")."""
from __future__ import annotations

import difflib
import types
import typing
from typing import Any, Union

from pydantic import BaseModel

from pixelguard.config.errors import ConfigError
from pixelguard.config.yaml_lines import Path, dotted
from pixelguard.config_fields import describe


def _data_path(data: Any, loc: tuple[Any, ...]) -> Path:
    """Keep only the parts of a pydantic loc that index into the data (drops union tags etc.)."""
    path: list[Any] = []
    current = data
    for part in loc:
        if isinstance(current, dict) and part in current or isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current):
            current = current[part]
            path.append(part)
        elif isinstance(current, dict) and isinstance(part, str) and not _is_tag(part):
            path.append(part)  # a missing or unknown key: name it, there is nothing below
            break
    return tuple(path)


def _is_tag(part: str) -> bool:
    """pydantic loc parts that name a schema step, not a key: '[key]', 'function-after[...]'."""
    return part.startswith(("[", "function-"))


def _known_keys(root: type[BaseModel], path: Path) -> list[str]:
    """The keys the schema `root` allows in the mapping at `path` (for 'did you mean')."""
    model: Any = root
    for part in path:
        if isinstance(model, type) and issubclass(model, BaseModel):
            field = model.model_fields.get(part) if isinstance(part, str) else None
            if field is None:
                return []
            model = field.annotation
        else:
            args = [a for a in typing.get_args(model) if a is not type(None)]
            origin = typing.get_origin(model)
            if origin is dict and len(args) == 2:
                model = args[1]
            elif origin is list and args:
                model = args[0]
            else:
                return []
        while typing.get_origin(model) in (Union, types.UnionType):
            args = [a for a in typing.get_args(model) if a is not type(None)]
            model = args[0] if len(args) == 1 else None
    # Optional[X] at the last step
    while typing.get_origin(model) in (Union, types.UnionType):
        args = [a for a in typing.get_args(model) if a is not type(None)]
        model = args[0] if len(args) == 1 else None
    if isinstance(model, type) and issubclass(model, BaseModel):
        return list(model.model_fields)
    return []


def line_for(path: Path, lines: dict[Path, int]) -> int | None:
    for n in range(len(path), -1, -1):
        if path[:n] in lines:
            return lines[path[:n]]
    return None


_PREFIXES = ("Value error, ", "Assertion failed, ")


def error_from_pydantic(
    err: dict[str, Any], data: Any, lines: dict[Path, int], filename: str,
    root: type[BaseModel],
) -> ConfigError:
    """One pydantic error of validating `data` (read from `filename`, key lines in `lines`)
    as the model `root`, as a ConfigError naming file, line and key."""
    path = _data_path(data, tuple(err.get("loc", ())))
    message = str(err.get("msg", "invalid value"))
    for prefix in _PREFIXES:
        message = message.removeprefix(prefix)
    # A list/mapping check that knows which entry is wrong says so with a "[i] " prefix.
    if message.startswith("[") and "] " in message:
        index, rest = message[1:].split("] ", 1)
        target = _lookup(data, path)
        if isinstance(target, list) and index.isdigit() and int(index) < len(target):
            path, message = path + (int(index),), rest
        elif isinstance(target, dict) and index in target:
            path, message = path + (index,), rest
    kind = err.get("type")
    if kind == "extra_forbidden" and path:
        known = _known_keys(root, path[:-1])
        message = f"unknown key {path[-1]!r}"
        close = difflib.get_close_matches(str(path[-1]), known, n=1, cutoff=0.6)
        if close:
            message += f" (did you mean {close[0]!r}?)"
        elif known:
            message += f"; known keys here: {', '.join(known)}"
    elif kind == "missing" and path:
        message = f"required key {path[-1]!r} is missing"
    elif kind in ("list_type", "dict_type", "model_type", "model_attributes_type"):
        want = "a list, e.g. [a, b]" if kind == "list_type" else "a mapping of key: value lines"
        message = f"expected {want}, got {describe(err.get('input'))}"
    return ConfigError(message, filename, line_for(path, lines), dotted(path) or None)


def _lookup(data: Any, path: Path) -> Any:
    for part in path:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data

