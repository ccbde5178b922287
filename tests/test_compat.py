"""pixelguard/compat.py: the private parts of aiosmtplib and imapclient it uses still exist,
it works against a real SMTP server, and no other module of pixelguard reaches into the
private parts of aiosmtpd, aiosmtplib or imapclient.

What counts as reaching in (checked over every module under pixelguard/ but compat.py):
1. `x._name` where `_name` (one leading underscore, not a dunder) is a private name the
   libraries define (a `def _name`, a class-level `_name = ...` or a `self._name = ...` in
   their sources), and `x` is not `self`/`cls`/`super()` of a pixelguard class unrelated to
   them: for a class that subclasses a library class, or is mixed into one in the same
   module, `self._name` counts too;
2. such a class defining a method `_name` of the libraries (overriding a private method);
3. `getattr`/`setattr`/`hasattr`/`delattr` with a constant private library name;
4. importing a private module or name of the libraries;
5. reaching through aiosmtplib's `SMTP.protocol` to a method of its (unexported) protocol
   class, e.g. `smtp.protocol.write(...)`, or calling one of that class's own methods
   (`read_response`, `execute_data_command`, `start_tls`) on anything.
aiosmtpd documents `_create_session` and `_create_envelope` as methods for subclasses to
override (docs/smtp.rst): those two are allowed.
"""
from __future__ import annotations

import ast
import asyncio
import imaplib
import importlib.util
import inspect
from pathlib import Path

import aiosmtplib
import aiosmtplib.protocol
import pytest
from aiosmtpd.smtp import SMTP
from imapclient import IMAPClient

from pixelguard.compat import imap_pending_responses, send_data_content

LIBRARIES = ("aiosmtpd", "aiosmtplib", "imapclient")
DOCUMENTED_HOOKS = {"_create_session", "_create_envelope"}
PACKAGE = Path(__file__).resolve().parents[1] / "pixelguard"
COMPAT = PACKAGE / "compat.py"


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__") and len(name) > 1


def _library_sources(library: str) -> list[Path]:
    spec = importlib.util.find_spec(library)
    assert spec is not None and spec.submodule_search_locations, library
    root = Path(next(iter(spec.submodule_search_locations)))
    return [p for p in root.rglob("*.py") if "tests" not in p.relative_to(root).parts]


def _defined_private_names(sources: list[Path]) -> set[str]:
    names: set[str] = set()
    for path in sources:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and _private(node.name):
                names.add(node.name)
            elif isinstance(node, ast.ClassDef):
                for stmt in node.body:
                    targets = stmt.targets if isinstance(stmt, ast.Assign) else (
                        [stmt.target] if isinstance(stmt, ast.AnnAssign) else [])
                    names.update(t.id for t in targets if isinstance(t, ast.Name) and _private(t.id))
            elif (isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store) and _private(node.attr)
                  and isinstance(node.value, ast.Name) and node.value.id == "self"):
                names.add(node.attr)
    return names - DOCUMENTED_HOOKS


LIBRARY_PRIVATE = set().union(*(_defined_private_names(_library_sources(lib)) for lib in LIBRARIES))
PROTOCOL_METHODS = {
    name for name, _ in inspect.getmembers(aiosmtplib.protocol.SMTPProtocol, inspect.isfunction)
    if not name.startswith("__")
}
# of those, the ones aiosmtplib's public SMTP class and asyncio's protocols do not have (a
# `write` is too common a name to tell apart, rule 5's `.protocol.write` catches it)
PROTOCOL_ONLY = {
    name for name in PROTOCOL_METHODS - set(dir(aiosmtplib.SMTP)) - set(dir(asyncio.StreamReaderProtocol))
    if not name.startswith("_")
} - {"write"}


def _from_library(module: str | None) -> bool:
    return module is not None and module.split(".")[0] in LIBRARIES


def violations(source: str, filename: str = "<source>") -> list[str]:
    """Where `source` reaches into the libraries' private parts (see the module docstring)."""
    tree = ast.parse(source)
    found: list[str] = []
    imported: set[str] = set()  # names bound to the libraries' classes in this module
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and _from_library(node.module):
            for alias in node.names:
                imported.add(alias.asname or alias.name)
                if _private(alias.name) or any(_private(p) for p in node.module.split(".")):
                    found.append(f"{filename}:{node.lineno}: imports {node.module}.{alias.name}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if _from_library(alias.name) and any(_private(p) for p in alias.name.split(".")):
                    found.append(f"{filename}:{node.lineno}: imports {alias.name}")
    classes = {n.name: n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)}
    bound: set[str] = set()  # classes whose `self` is a library object
    for cls in classes.values():
        bases = {b.id for b in cls.bases if isinstance(b, ast.Name)} | {
            b.attr for b in cls.bases if isinstance(b, ast.Attribute)}
        if bases & imported:
            bound.add(cls.name)
            bound.update(b for b in bases if b in classes)  # mixed into a library class
    own_scope: dict[int, bool] = {}  # id(Attribute node) -> inside a bound class
    for name in bound:
        for node in ast.walk(classes[name]):
            own_scope[id(node)] = True
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in LIBRARY_PRIVATE:
                found.append(f"{filename}:{node.lineno}: {name} overrides {node.name}")
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in LIBRARY_PRIVATE:
            base = node.value
            on_self = (isinstance(base, ast.Name) and base.id in ("self", "cls")) or (
                isinstance(base, ast.Call) and isinstance(base.func, ast.Name) and base.func.id == "super")
            if not on_self or own_scope.get(id(node)):
                found.append(f"{filename}:{node.lineno}: .{node.attr}")
        elif isinstance(node, ast.Attribute) and (node.attr in PROTOCOL_ONLY or (
                node.attr in PROTOCOL_METHODS and isinstance(node.value, ast.Attribute)
                and node.value.attr == "protocol")):
            found.append(f"{filename}:{node.lineno}: .{node.attr} of aiosmtplib's protocol")
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
              and node.func.id in ("getattr", "setattr", "hasattr", "delattr") and len(node.args) >= 2
              and isinstance(node.args[1], ast.Constant) and node.args[1].value in LIBRARY_PRIVATE):
            found.append(f"{filename}:{node.lineno}: {node.func.id}(..., {node.args[1].value!r})")
    return found


def test_only_the_compat_module_reaches_into_the_libraries():
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path != COMPAT:
            found += violations(path.read_text(encoding="utf-8"), str(path.relative_to(PACKAGE.parent)))
    assert found == []


@pytest.mark.parametrize("source", [
    # private parts of aiosmtpd, aiosmtplib and imapclient reached in each way the check covers
    "from aiosmtpd.smtp import SMTP\nclass R(SMTP):\n    async def _handle_client(self):\n        pass\n",
    ("from aiosmtpd.smtp import SMTP\nclass M:\n    def f(self):\n        self._writer.write(b'')\n"
    "class R(M, SMTP):\n    pass\n"),
    "from aiosmtpd.smtp import SMTP\nclass R(SMTP):\n    def _timeout_cb(self):\n        super()._timeout_cb()\n",
    "def f(client):\n    return getattr(getattr(client, '_imap', None), 'untagged_responses', None)\n",
    "def f(client):\n    return client._imap.untagged_responses\n",
    "async def f(smtp):\n    smtp.protocol.write(b'.')\n",
    "async def f(smtp):\n    protocol = smtp.protocol\n    await protocol.read_response(timeout=1)\n",
    "from aiosmtplib.protocol import _something\n",
])
def test_the_check_catches_each_way_of_reaching_in(source):
    assert violations(source) != []


def test_the_check_leaves_a_classes_own_private_attributes_alone():
    own = "class Pool:\n    def __init__(self):\n        self._lock = None\n    def f(self):\n        return self._lock\n"
    documented = ("from aiosmtpd.smtp import SMTP\nclass R(SMTP):\n"
                  "    def _create_session(self):\n        return super()._create_session()\n")
    assert violations(own) == [] and violations(documented) == []


# ------------------------------------------------------------------ what compat.py relies on


def test_aiosmtplib_parts_used_by_compat_exist():
    assert aiosmtplib.SMTP().protocol is None  # set on connect
    params = inspect.signature(aiosmtplib.protocol.SMTPProtocol.write).parameters
    assert list(params) == ["self", "data"]
    params = inspect.signature(aiosmtplib.protocol.SMTPProtocol.read_response).parameters
    assert list(params) == ["self", "timeout"]


def test_imapclient_parts_used_by_compat_exist():
    assert "self._imap = " in inspect.getsource(IMAPClient.__init__)
    assert "self.untagged_responses" in inspect.getsource(imaplib.IMAP4)
    assert imap_pending_responses(object()) is None


def test_aiosmtpd_documented_session_factory_exists():
    assert callable(SMTP._create_session) and callable(SMTP._create_envelope)


class _Sink:
    def __init__(self) -> None:
        self.received: list[bytes] = []

    async def handle_DATA(self, server, session, envelope):
        self.received.append(envelope.original_content)
        return "250 2.0.0 stored"


def test_send_data_content_delivers_after_a_354_from_a_real_server():
    sink = _Sink()

    async def deliver() -> tuple[int, int]:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: SMTP(sink), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=10)
            await smtp.connect()
            await smtp.ehlo()
            await smtp.execute_command(b"MAIL", b"FROM:<a@example.org>")
            await smtp.execute_command(b"RCPT", b"TO:<b@example.org>")
            started = await smtp.execute_command(b"DATA")
            done = await send_data_content(smtp, b"Subject: x\r\n\r\n..dot\r\n.\r\n", 10)
            await smtp.quit()
        finally:
            server.close()
        return started.code, done.code

    assert asyncio.run(deliver()) == (354, 250)
    assert sink.received == [b"Subject: x\r\n\r\n.dot\r\n"]
