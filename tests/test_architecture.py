"""The shape of the package, read from its source with ``ast``.

- The import graph of ``thinc_fast`` has no cycle, counting the imports made
  only for type checkers (under ``if TYPE_CHECKING:``) as arrows too: a cycle
  through them is still a circle in the design, even though Python never runs it.
- No module writes another module's private attributes: ``obj._x = ...``
  with ``obj`` other than ``self``/``cls`` is allowed only where the same
  module also sets ``self._x`` (its own class's state).

Run it as a script to print the modules floor by floor (each imports only
from floors below it) and any cycle: ``python tests/test_architecture.py``.
"""
import ast
import sys
from pathlib import Path
from typing import Dict, List, Optional, Set, Tuple

PACKAGE = Path(__file__).resolve().parent.parent / "thinc_fast"


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def sources() -> Dict[str, ast.Module]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        out[module_name(path)] = ast.parse(path.read_text(), filename=str(path))
    return out


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST, module: str, is_package: bool, known: Set[str], *,
             type_checking: bool = True) -> Set[str]:
    """The modules of ``known`` that `module` imports, anywhere in it (function
    bodies too); with `type_checking`, also those imported under ``if
    TYPE_CHECKING:``."""
    found: Set[str] = set()
    package = module if is_package else module.rpartition(".")[0]
    root = module.partition(".")[0]  # "thinc_fast": imports of other packages are left out

    def inside(name: str) -> bool:
        return name == root or name.startswith(root + ".")

    def resolve(name: str) -> str:
        # the longest known module that `name` starts with
        while name and name not in known:
            name = name.rpartition(".")[0]
        return name

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node) and not type_checking:
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                if inside(alias.name):
                    found.add(resolve(alias.name))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            if inside(target):
                for alias in node.names:
                    full = f"{target}.{alias.name}"
                    found.add(full if full in known else resolve(target))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    found.discard(module)
    found.discard("")
    return found


def import_graph(trees: Optional[Dict[str, ast.Module]] = None,
                 packages: Optional[Set[str]] = None, *,
                 type_checking: bool = True) -> Dict[str, Set[str]]:
    """``{module: modules it imports}`` for the package's sources (or `trees`,
    with `packages` naming those that are packages); with `type_checking`
    (the default), the imports under ``if TYPE_CHECKING:`` count too."""
    if trees is None:
        trees = sources()
        packages = {module_name(p) for p in PACKAGE.rglob("__init__.py")}
    packages = packages or set()
    known = set(trees)
    graph = {}
    for name, tree in trees.items():
        deps = _imports(tree, name, name in packages, known, type_checking=type_checking)
        # a module importing its own package's __init__ (for a sibling) is not a cycle
        # through the package: count the sibling itself where it can be seen
        graph[name] = {d for d in deps if not (name.startswith(d + ".") and d in packages)}
    return graph


def find_cycles(graph: Dict[str, Set[str]]) -> List[List[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    cycles: List[List[str]] = []
    counter = [0]

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in graph:
                continue
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for v in sorted(graph):
        if v not in index:
            strong(v)
    return cycles


def floors(graph: Dict[str, Set[str]]) -> Dict[str, int]:
    """Floor 0 imports nothing of the package; floor n imports from floors < n."""
    memo: Dict[str, int] = {}

    def floor(v: str, seen: Tuple[str, ...] = ()) -> int:
        if v in memo:
            return memo[v]
        if v in seen:
            return 0
        deps = [d for d in graph.get(v, ()) if d in graph]
        memo[v] = 1 + max((floor(d, seen + (v,)) for d in deps), default=-1)
        return memo[v]

    return {v: floor(v) for v in graph}


def private_writes() -> List[str]:
    """``obj._x = ...`` where obj is not self/cls and the module never sets self._x."""
    problems = []
    for name, tree in sources().items():
        own: Set[str] = set()
        writes: List[Tuple[int, str, str]] = []
        for node in ast.walk(tree):
            targets: List[ast.AST] = []
            if isinstance(node, ast.Assign):
                targets = list(node.targets)
            elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
                targets = [node.target]
            flat: List[ast.AST] = []
            for t in targets:
                flat.extend(t.elts if isinstance(t, ast.Tuple) else [t])
            for t in flat:
                while isinstance(t, ast.Subscript):  # obj._x[k] = ... mutates obj._x
                    t = t.value
                if isinstance(t, ast.Attribute) and t.attr.startswith("_") \
                        and not t.attr.startswith("__"):
                    owner = ast.unparse(t.value)
                    if owner in ("self", "cls"):
                        own.add(t.attr)
                    else:
                        writes.append((t.lineno, owner, t.attr))
        for line, owner, attr in writes:
            if attr not in own:
                problems.append(f"{name}:{line}: writes {owner}.{attr}, a private attribute "
                                "of another module's objects")
    return problems


def test_the_import_graph_has_no_cycle():
    cycles = find_cycles(import_graph())
    assert not cycles, f"import cycles: {cycles}"


def test_no_module_writes_another_modules_private_attributes():
    problems = private_writes()
    assert not problems, "\n".join(problems)


def test_the_checker_sees_a_cycle_through_type_checking_imports():
    """A cycle closed only by an import under ``if TYPE_CHECKING:`` (the shape
    ``model.py`` <-> ``util.py`` once had) is found, in either spelling of the
    guard, and is not there when such imports are left out."""
    trees = {
        "pkg": ast.parse(""),
        "pkg.model": ast.parse("from .util import helper\n"),
        "pkg.util": ast.parse("from typing import TYPE_CHECKING\n"
                              "if TYPE_CHECKING:\n    from .model import Model\n"),
        "pkg.layer": ast.parse("import typing\n"
                               "if typing.TYPE_CHECKING:\n    from pkg.other import Thing\n"
                               "from .model import Model\n"),
        "pkg.other": ast.parse("from . import layer\n"),
    }
    graph = import_graph(trees, {"pkg"})
    assert graph["pkg.util"] == {"pkg.model"} and graph["pkg.layer"] >= {"pkg.other"}
    assert sorted(find_cycles(graph)) == [["pkg.layer", "pkg.other"], ["pkg.model", "pkg.util"]]
    assert find_cycles(import_graph(trees, {"pkg"}, type_checking=False)) == []


def test_the_checker_sees_a_cycle_and_a_private_write():
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    tree = ast.parse("def f(node):\n    node._params = {}\n")
    writes = [n for n in ast.walk(tree) if isinstance(n, ast.Assign)]
    assert ast.unparse(writes[0].targets[0]) == "node._params"


if __name__ == "__main__":
    graph = import_graph()
    by_floor: Dict[int, List[str]] = {}
    for module, level in floors(graph).items():
        by_floor.setdefault(level, []).append(module)
    for level in sorted(by_floor, reverse=True):
        print(f"floor {level}: {', '.join(sorted(by_floor[level]))}")
    cycles = find_cycles(graph)
    print("cycles (counting imports under TYPE_CHECKING):", cycles or "none")
    for problem in private_writes():
        print(problem)
