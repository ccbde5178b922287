"""YAML with line numbers: the file composed into nodes first, whose marks give a map from
key path to 1-based line, then constructed into plain data (safe loader, no duplicate
keys, no alias bombs)."""
from __future__ import annotations

from typing import Any

import yaml

from pixelguard.config.errors import ConfigError

_MAX_NODES = 100_000  # YAML alias bombs: refuse documents that expand past this

Path = tuple[Any, ...]


def compose(text: str, filename: str) -> tuple[Any, dict[Path, int]]:
    """Parse YAML into plain data plus a map from key path to 1-based line."""
    loader = None
    try:
        loader = yaml.SafeLoader(text)  # checks for unprintable characters right away
        node = loader.get_single_node()
        if node is None:
            return None, {}
        lines: dict[Path, int] = {(): node.start_mark.line + 1}
        _index(node, (), lines, loader, filename, set(), [0])
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = " ".join(p for p in (exc.context, exc.problem) if p) or "YAML syntax error"
        line = mark.line + 1 if mark else None
        raise ConfigError(f"YAML syntax error: {message}", filename, line) from None
    except yaml.reader.ReaderError as exc:
        line = text[: exc.position].count("\n") + 1
        raise ConfigError(
            f"character #x{exc.character:04x} is not allowed in YAML", filename, line
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"YAML error: {exc}", filename) from None
    except RecursionError:
        raise ConfigError("the YAML nests too deeply", filename) from None
    finally:
        if loader is not None:
            loader.dispose()
    return data, lines


def _index(
    node: yaml.Node,
    path: Path,
    lines: dict[Path, int],
    loader: yaml.SafeLoader,
    filename: str,
    active: set[int],
    count: list[int],
) -> None:
    count[0] += 1
    if count[0] > _MAX_NODES:
        raise ConfigError("the YAML is too large (too many nodes or aliases)", filename)
    if id(node) in active:
        raise ConfigError("recursive YAML alias", filename, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        active.add(id(node))
        loader.flatten_mapping(node)  # resolve '<<' merge keys the way construction will
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode):
                raise ConfigError("a key must be plain text", filename, line, dotted(path))
            # Every key in our schema is text: '1:' or 'yes:' keep their spelling.
            key_node.tag = "tag:yaml.org,2002:str"
            key = key_node.value
            if key in seen:
                raise ConfigError(
                    f"duplicate key (first given on line {seen[key]})",
                    filename,
                    line,
                    dotted(path + (key,)),
                )
            seen[key] = line
            lines[path + (key,)] = line
            _index(value_node, path + (key,), lines, loader, filename, active, count)
        active.discard(id(node))
    elif isinstance(node, yaml.SequenceNode):
        active.add(id(node))
        for i, item in enumerate(node.value):
            lines[path + (i,)] = item.start_mark.line + 1
            _index(item, path + (i,), lines, loader, filename, active, count)
        active.discard(id(node))


def dotted(path: Path) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out

