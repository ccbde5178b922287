"""The pixelguard package has no import cycles.

The graph is read from the source with `ast`, not by importing anything. An edge A -> B
means module A imports module B, wherever the import statement stands: at module level or
inside a function (a function-level import is a dependency too, only a later one; hiding a
cycle in a function keeps it). Importing `a.b.c` from a module outside package `a.b` also
runs `a/b/__init__.py` and `a/__init__.py`, so edges go to those packages as well; a module
inside a package does not get an edge to its own enclosing packages (they are already
being imported when it runs), which is what lets a package's `__init__` import its own
submodules. Imports under `if TYPE_CHECKING:` never run and are left out.
"""
from __future__ import annotations

import ast
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def module_names(root: Path, package: str) -> dict[str, Path]:
    """Every module of `package` (a folder below `root`) by dotted name."""
    out: dict[str, Path] = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _is_package(name: str, modules: dict[str, Path]) -> bool:
    return modules[name].name == "__init__.py"


def _type_checking_only(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and (
        (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING")
        or (isinstance(node.test, ast.Attribute) and node.test.attr == "TYPE_CHECKING")
    )


def _imports(tree: ast.AST):
    """Import nodes anywhere in the tree except under `if TYPE_CHECKING:`."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        for child in ast.iter_child_nodes(node):
            if _type_checking_only(child):
                stack.extend(child.orelse)
            else:
                stack.append(child)


def import_graph(root: Path, package: str) -> dict[str, set[str]]:
    """Module -> the package's modules it imports (see the module docstring)."""
    modules = module_names(root, package)
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        here = name if _is_package(name, modules) else name.rpartition(".")[0]
        targets: list[str] = []
        for node in _imports(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                targets += [alias.name for alias in node.names]
                continue
            base = node.module or ""
            if node.level:
                anchor = here.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            # `from a import b`: b is the submodule a.b, or a name defined in a
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                targets.append(sub if sub in modules else base)
        for target in targets:
            if target not in modules:
                continue
            parts = target.split(".")
            for n in range(1, len(parts) + 1):
                ancestor = ".".join(parts[:n])
                encloses = name == ancestor or name.startswith(ancestor + ".")
                if ancestor in modules and ancestor != name and (n == len(parts) or not encloses):
                    graph[name].add(ancestor)
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (or a module importing
    itself), each as a sorted list: Tarjan's algorithm, iterative."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    cycles: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in graph.get(node, ()):
                    cycles.append(sorted(component))
    return cycles


def test_pixelguard_has_no_import_cycle():
    graph = import_graph(ROOT, "pixelguard")
    assert "pixelguard.config" in graph and graph["pixelguard.cli"]  # it read the real package
    assert find_cycles(graph) == []


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return tmp_path


def test_a_cycle_through_a_function_level_import_is_found(tmp_path):
    root = _package(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": "from pkg.b import thing\n",
        "pkg/b.py": "def thing():\n    from pkg import a\n    return a\n",
        "pkg/c.py": "import pkg.a\n",
    })
    assert find_cycles(import_graph(root, "pkg")) == [["pkg.a", "pkg.b"]]


def test_importing_a_submodule_runs_its_package_init(tmp_path):
    root = _package(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/settings.py": "from pkg.config.fields import Field\n",
        "pkg/config/__init__.py": "from .model import Model\n",
        "pkg/config/fields.py": "Field = int\n",
        "pkg/config/model.py": "from ..settings import *\nfrom . import fields\n",
    })
    graph = import_graph(root, "pkg")
    assert graph["pkg.settings"] == {"pkg.config", "pkg.config.fields"}
    assert graph["pkg.config.model"] == {"pkg.settings", "pkg.config.fields"}
    assert find_cycles(graph) == [["pkg.config", "pkg.config.model", "pkg.settings"]]


def test_a_package_init_importing_its_submodules_is_no_cycle(tmp_path):
    root = _package(tmp_path, {
        "pkg/__init__.py": "from pkg.sub import x\n",
        "pkg/sub/__init__.py": "from pkg.sub.leaf import x\n",
        "pkg/sub/leaf.py": "x = 1\nif TYPE_CHECKING:\n    import pkg.sub\n",
    })
    assert find_cycles(import_graph(root, "pkg")) == []
