"""`pixelguard allow`: add a host or a sender to an allow list of the config file, in place.

    pixelguard allow HOST|SENDER|URL [--user ADDR] --config F

An entry with an `@` is a sender (`news@shop.example`, or `@shop.example` for the whole
domain); a URL stands for its host; anything else is a host. Without `--user` it goes to
`defaults.allow`, with it to `users.ADDR.allow` (the user's entry is created if needed).

The file is edited as text, not re-serialised: the YAML is composed into nodes (PyYAML,
which the config loader already uses for its line numbers), their marks tell where the
list, or the nearest mapping above it, is and whether it is written in block or flow style,
and one entry (or the few lines of the missing keys) is inserted there. Every other byte
(comments, quoting, indentation, blank lines, key order) stays as it was; a round-trip
dump would re-indent, re-align comments and turn `null` into nothing. The result must parse
to the old data plus the entry (else the file is left alone: anchors shared with other
entries, say) and pass the normal config loader; then it replaces the file atomically
(temporary file in the same directory, same mode, owner and group, rename).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
import tempfile
import warnings
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import yaml

from pixelguard.config_file import add_required_config_option, require_config

PROG = "pixelguard allow"
EXIT_OK, EXIT_USAGE = 0, 2


class EditError(Exception):
    """The entry cannot be added to this file without rewriting more than the entry."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Add a host (resources from it are never flagged) or a sender (its "
        "authenticated mail is left alone) to an allow list of the config file, keeping "
        "the file's comments and layout.",
        epilog="ENTRY: a host (images.shop.example, covers its subdomains), a URL (its host), "
        "a sender address (news@shop.example) or a sender domain (@shop.example). "
        "exit codes: 0 added or already there; 2 bad entry or config error (file unchanged).",
    )
    p.add_argument("entry", metavar="ENTRY", help="HOST, URL, SENDER or @DOMAIN")
    p.add_argument("--user", metavar="ADDR", help="only for this recipient (users.ADDR.allow)")
    add_required_config_option(p, "the config file to edit")
    return p


def classify(entry: str) -> tuple[str, str]:
    """('hosts' | 'senders', the entry as the config loader normalises it). ValueError."""
    from pixelguard.config_fields import check_sender
    from pixelguard.hostname import host_entry

    raw = entry.strip()
    if "://" in raw:
        host = urlsplit(raw).hostname
        if not host:
            raise ValueError(f"{entry!r}: a URL without a host")
        return "hosts", host_entry(host)
    if "@" in raw:
        return "senders", check_sender(raw)
    return "hosts", host_entry(raw)


def main(argv: Sequence[str]) -> int:
    from pixelguard.config import load_config_or_exit
    from pixelguard.config_fields import check_address

    parser = _parser()
    args = parser.parse_args(list(argv))
    args.config = require_config(args.config, parser, "the entry is added to it")
    try:
        kind, value = classify(args.entry)
        user = check_address(args.user) if args.user is not None else None
    except ValueError as exc:
        parser.error(str(exc))
    config = load_config_or_exit(args.config)  # the file must be valid before we touch it
    section = config.defaults.allow if user is None else _user_allow(config, user)
    where = "defaults.allow" if user is None else f"users.{user}.allow"
    if section is not None and value in getattr(section, kind):
        print(f"{PROG}: {value} is already in {where}.{kind} of {args.config}; nothing changed")
        return EXIT_OK
    path = os.path.realpath(args.config)
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
        text = raw.decode("utf-8")
        new = add_entry(text, user, kind, value)
        _check_result(text, new, user, kind, value)
        _replace(path, new.encode("utf-8"), args.config)
    except EditError as exc:
        _say(
            f"{args.config}: {exc}; the file is unchanged. Add it by hand: {where}.{kind}: "
            f"[..., {_scalar(value)}]"
        )
        return EXIT_USAGE
    except _Invalid as exc:
        _say(f"config error after adding the entry (the file is unchanged): {exc}")
        return EXIT_USAGE
    except (OSError, UnicodeDecodeError) as exc:
        _say(f"{args.config}: cannot update: {exc}; the file is unchanged")
        return EXIT_USAGE
    print(f"{PROG}: added {value} to {where}.{kind} in {args.config}")
    if kind == "senders" and config.auth.require_for_allow:
        print(
            f"{PROG}: note: an allowed sender counts only when its mail passes DKIM/DMARC "
            "for its domain (auth.require_for_allow; see docs)"
        )
    return EXIT_OK


def _say(line: str) -> None:
    print(f"{PROG}: {line}", file=sys.stderr)


def _user_allow(config, user: str):
    entry = config.users.get(user)
    return None if entry is None else entry.allow


# -- the edit ----------------------------------------------------------------------------


def _scalar(value: str) -> str:
    """`value` as a YAML scalar that reads back as itself, plain when that is safe."""
    plain = re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._@+-]*", value) is not None
    if plain and yaml.safe_load(f"[{value}]") == [value]:
        return value
    return json.dumps(value)  # a JSON string is a YAML double-quoted scalar


def _flow(keys: Sequence[str], value: str) -> str:
    """'a: {b: [value]}' for keys ['a', 'b']."""
    inner = f"[{_scalar(value)}]"
    for key in reversed(keys[1:]):
        inner = f"{{{_scalar(key)}: {inner}}}"
    return f"{_scalar(keys[0])}: {inner}"


def _is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null"


def _last_leaf(node: yaml.Node) -> yaml.Node:
    """The last scalar or flow collection inside a block collection: where its text ends."""
    while (
        isinstance(node, (yaml.MappingNode, yaml.SequenceNode))
        and not node.flow_style
        and node.value
    ):
        last = node.value[-1]
        node = last[1] if isinstance(node, yaml.MappingNode) else last
    return node


def _after_line(text: str, index: int) -> int:
    """The index just after the line break that ends the line holding `index` (a node that
    ends at the start of a line, like a block scalar, ends on the line before)."""
    if index > 0 and text[index - 1 : index] == "\n":
        index -= 1
    end = text.find("\n", index)
    return len(text) if end < 0 else end + 1


def _indent_step(root: yaml.Node | None) -> int:
    """How far this file indents a nested block mapping (2 when it shows no example)."""
    stack = [root] if root is not None else []
    while stack:
        node = stack.pop()
        if isinstance(node, yaml.MappingNode):
            for key, val in node.value:
                if isinstance(val, yaml.MappingNode) and not val.flow_style and val.value:
                    step = val.value[0][0].start_mark.column - key.start_mark.column
                    if step > 0:
                        return step
                stack.append(val)
    return 2


def _path(root: yaml.Node | None, user: str | None, kind: str) -> list[str]:
    """The keys down to the list; a user's existing key keeps its spelling in the file."""
    if user is None:
        return ["defaults", "allow", kind]
    from pixelguard.config_fields import check_address

    key = user
    users = _child(root, "users")
    if isinstance(users, yaml.MappingNode):
        for k, _ in users.value:
            with contextlib.suppress(ValueError):
                if check_address(k.value) == user:
                    key = k.value
                    break
    return ["users", key, "allow", kind]


def _child(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    return next((v for k, v in node.value if k.value == key), None)


def add_entry(text: str, user: str | None, kind: str, value: str) -> str:
    """`text` with `value` added to the allow list `kind` (of `user`, or of the defaults)."""
    eol = "\r\n" if "\r\n" in text else "\n"
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise EditError(f"cannot read the YAML: {exc}") from None
    keys = _path(root, user, kind)
    node, depth = root, 0
    while depth < len(keys):
        child = _child(node, keys[depth])
        if child is None:
            break
        node, depth = child, depth + 1
    missing = keys[depth:]
    where = ".".join(keys[:depth]) or "the top level"
    if node is None:  # an empty file, or only comments
        return _block_lines(text, len(text), 0, 2, keys, value, eol, root)
    if not missing:  # the list itself (or an empty `key:`)
        if isinstance(node, yaml.SequenceNode):
            return _append_item(text, node, value, eol, where)
        if _is_null(node):
            return _splice(text, node, f"[{_scalar(value)}]")
        raise EditError(f"{where} is not a list")
    if isinstance(node, yaml.MappingNode):
        if node.flow_style:
            return _flow_insert(text, node, _flow(missing, value), "}", where)
        col = node.value[0][0].start_mark.column if node.value else 0
        at = _after_line(text, _last_leaf(node).end_mark.index)
        return _block_lines(text, at, col, _indent_step(root), missing, value, eol, root)
    if _is_null(node):
        return _splice(text, node, "{" + _flow(missing, value) + "}")
    raise EditError(f"{where} is not a mapping")


def _insert(text: str, at: int, new: str, rest: int) -> str:
    """Insert `new` at `at`; a comment later on that line (after `rest`, where the edited
    node ends) keeps its column when the spaces before it allow, one space at least."""
    gap = len(text[rest:]) - len(text[rest:].lstrip(" "))
    if text[rest + gap : rest + gap + 1] == "#":
        cut = max(0, min(len(new), gap - 1))
        text = text[:rest] + text[rest + cut :]
    return text[:at] + new + text[at:]


def _splice(text: str, node: yaml.Node, new: str) -> str:
    """Replace a null scalar (`~`, `null`, or nothing after the colon) with `new`."""
    start, end = node.start_mark.index, node.end_mark.index
    new = (" " if start == end else "") + new
    text = _insert(text, end, new, end)
    return text[:start] + text[end:]


def _flow_insert(text: str, node: yaml.Node, item: str, close: str, where: str) -> str:
    """Insert `item` as the last entry of a flow collection, before its closing bracket."""
    end = node.end_mark.index - 1
    if text[end : end + 1] != close:
        raise EditError(f"{where}: cannot find the closing {close!r}")
    if not node.value:
        return _insert(text, end, item, end + 1)
    last = node.value[-1]
    after = (last[1] if isinstance(last, tuple) else last).end_mark.index
    return _insert(text, after, ", " + item, end + 1)


def _append_item(text: str, node: yaml.SequenceNode, value: str, eol: str, where: str) -> str:
    if node.flow_style:
        return _flow_insert(text, node, _scalar(value), "]", where)
    last = node.value[-1]
    line_start = text.rfind("\n", 0, last.start_mark.index) + 1
    prefix = text[line_start : last.start_mark.index]
    if not re.fullmatch(r"[ \t]*-[ \t]+", prefix):
        raise EditError(f"{where}: its last entry is not written as '- entry' on one line")
    at = _after_line(text, _last_leaf(last).end_mark.index)
    head = text[:at] if text[:at].endswith("\n") or not at else text[:at] + eol
    return head + prefix + _scalar(value) + eol + text[at:]


def _block_lines(text, at, col, step, keys, value, eol, root) -> str:
    """Insert `keys` as nested block keys at column `col`, the last holding [value]."""
    lines = [" " * (col + i * step) + _scalar(k) + ":" for i, k in enumerate(keys[:-1])]
    lines.append(" " * (col + (len(keys) - 1) * step) + f"{_scalar(keys[-1])}: [{_scalar(value)}]")
    head = text[:at]
    if head and not head.endswith("\n"):
        head += eol
    return head + eol.join(lines) + eol + text[at:]


# -- checks and the write ----------------------------------------------------------------


class _Invalid(Exception):
    """The edited file does not pass the config loader (message: the loader's error)."""


def _unshared(data: Any) -> Any:
    """A copy in which no two places share an object (as YAML aliases make them)."""
    if isinstance(data, dict):
        return {k: _unshared(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_unshared(v) for v in data]
    return data


def _expected(old: Any, user: str | None, keys: list[str], value: str) -> Any:
    """The old data with the entry added at `keys` (and only there)."""
    data = _unshared(old) if isinstance(old, dict) else {}
    node = data
    for key in keys[:-1]:
        if not isinstance(node.get(key), dict):
            node[key] = {}
        node = node[key]
    if not isinstance(node.get(keys[-1]), list):
        node[keys[-1]] = []
    node[keys[-1]].append(value)
    return data


def _check_result(old_text: str, new_text: str, user: str | None, kind: str, value: str) -> None:
    """The edit added exactly the entry: the new text parses to the old data plus it."""
    try:
        old = yaml.safe_load(old_text)
        new = yaml.safe_load(new_text)
    except yaml.YAMLError as exc:
        raise EditError(f"the edited YAML does not parse ({exc})") from None
    keys = _path(yaml.compose(old_text, Loader=yaml.SafeLoader), user, kind)
    if new != _expected(old, user, keys, value):
        raise EditError("adding the entry there would change other entries too (anchors?)")


def _same_owner(tmp: str, st: os.stat_result) -> None:
    """Give `tmp` the owner and group of the file it replaces; OSError when that is not
    possible and they would differ (the service user might lose access to its config)."""
    now = os.stat(tmp)
    if (now.st_uid, now.st_gid) == (st.st_uid, st.st_gid):
        return
    try:
        os.chown(tmp, st.st_uid, st.st_gid)
    except PermissionError:
        raise OSError(
            f"cannot keep its owner and group ({st.st_uid}:{st.st_gid}); run as its owner "
            "or as root"
        ) from None


def _replace(path: str, data: bytes, shown: str) -> None:
    """Validate `data` with the config loader as the file's successor, then put it in place
    atomically with the file's mode. Raises _Invalid (nothing changed) or OSError."""
    from pixelguard.config import ConfigError, load_config

    st = os.stat(path)
    directory = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path) + ".")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        _same_owner(tmp, st)  # e.g. root:pixelguard 0640, so the service can still read it
        os.chmod(tmp, st.st_mode & 0o7777)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # shown already when the file was first loaded
            try:
                load_config(tmp)  # relative paths resolve as for the file: same directory
            except ConfigError as exc:
                raise _Invalid(str(exc).replace(tmp, shown)) from None
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):
        dir_fd = os.open(directory or ".", os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
