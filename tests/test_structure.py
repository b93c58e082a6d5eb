"""The package structure the design promises (issue 17), read from every import statement in the code.

Dependencies point one way (ui → verify → unlearn → ledger; policies beside ledger), no module imports in a circle
(type-checking-only imports count too: a drawing of the structure shows them), and no package reaches into another
package's private module when a public name exists.

One module stands outside the layers: ``verify.standalone``, the one implementation of the evidence formats' checks
(the file a regulator copies, issue 18). It imports nothing of Lethe, only the standard library and
``cryptography``, so every layer may use it without a circle: the ledger reads its own notes and keys with it.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"ledger": 0, "policies": 0, "unlearn": 1, "verify": 2, "ui": 3}
LEAF_MODULES = {"verify.standalone"}  # below every layer: they import nothing of Lethe (checked below)


def _import_graph() -> dict[str, set[str]]:
    modules = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            modules[name] = path
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in graph[node]:
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_no_module_imports_in_a_circle() -> None:
    assert _cycles(_import_graph()) == []


def test_dependencies_point_one_way() -> None:
    upward = [(module, target) for module, targets in _import_graph().items() for target in targets
              if target not in LEAF_MODULES and PACKAGES[target.split(".")[0]] > PACKAGES[module.split(".")[0]]]
    assert upward == []


def test_the_standalone_verifier_imports_only_the_standard_library_and_cryptography() -> None:
    import sys

    for module in LEAF_MODULES:
        tree = ast.parse((ROOT / (module.replace(".", "/") + ".py")).read_text())
        imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                    for alias in node.names}
        imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                     if isinstance(node, ast.ImportFrom) and node.module and node.level == 0}
        assert imported - set(sys.stdlib_module_names) <= {"cryptography"}, module


def _reaches_into(module: str, target: str) -> bool:
    """Whether ``target`` is a private module (or inside one) of a package ``module`` is not part of."""
    parts = target.split(".")
    for position, part in enumerate(parts[1:], 1):
        owner = ".".join(parts[:position])
        if part.startswith("_") and not (module == owner or module.startswith(owner + ".")):
            return True
    return False


def test_no_package_imports_another_packages_private_module() -> None:
    private = [(module, target) for module, targets in _import_graph().items() for target in targets
               if _reaches_into(module, target)]
    assert private == []
