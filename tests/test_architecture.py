"""The package stack, read from the source with `ast` alone (nothing is imported).

Packages stack core < blender_assets < dataset < render < models < attacks < eval < mindseye, and
imports go downwards only. Each folder is imported as `mindseye.<folder>` (the top, `mindseye/`,
as `mindseye`), and nothing imports a folder by its bare name. Every import counts, including
those inside functions (a lazy import is still a dependency, only a later one), so a cycle cannot
hide behind an import moved into a function body.
"""

import ast
from collections.abc import Iterator
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# Bottom to top: a package may import only the packages before it.
PACKAGE_STACK = (
    "core", "blender_assets", "dataset", "render", "models", "attacks", "eval", "mindseye",
)


SUBPACKAGES = PACKAGE_STACK[:-1]  # mindseye.core, ..., mindseye.eval


def module_name(path: Path) -> str:
    """core/files.py -> mindseye.core.files; mindseye/cli.py -> mindseye.cli."""
    parts = list(path.relative_to(PROJECT_ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    if parts[0] in SUBPACKAGES:
        parts.insert(0, "mindseye")
    return ".".join(parts)


def package_of(module: str) -> str:
    """mindseye.core.files -> core; mindseye.cli -> mindseye."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in SUBPACKAGES else "mindseye"


def project_modules() -> dict[str, Path]:
    """Every module of the stack's packages, by dotted name."""
    return {
        module_name(path): path
        for package in PACKAGE_STACK
        for path in sorted((PROJECT_ROOT / package).rglob("*.py"))
    }


def imported_names(module: str, path: Path) -> Iterator[str]:
    """Every dotted name an import statement anywhere in the module may load."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: `from . import x`, `from ..a import b`
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            yield base
            # `from package import module` imports the module itself.
            yield from (f"{base}.{alias.name}" for alias in node.names)


def import_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports (the most specific module each name resolves to)."""
    modules = project_modules()
    graph = {}
    for module, path in modules.items():
        targets = set()
        for name in imported_names(module, path):
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name and name != module:
                targets.add(name)
        graph[module] = targets
    return graph


def package_graph(graph: dict[str, set[str]]) -> dict[str, dict[str, list[str]]]:
    """Package -> imported package -> the module imports that make the edge (for messages)."""
    packages: dict[str, dict[str, list[str]]] = {package: {} for package in PACKAGE_STACK}
    for module, targets in graph.items():
        for target in sorted(targets):
            source_package, target_package = package_of(module), package_of(target)
            if source_package != target_package:
                packages[source_package].setdefault(target_package, []).append(
                    f"{module} -> {target}")
    return packages


def cycles(graph: dict[str, set[str]] | dict[str, dict[str, list[str]]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    lowest: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []

    def visit(node: str) -> None:
        index[node] = lowest[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for neighbour in graph.get(node, ()):
            if neighbour not in index:
                visit(neighbour)
                lowest[node] = min(lowest[node], lowest[neighbour])
            elif neighbour in on_stack:
                lowest[node] = min(lowest[node], index[neighbour])
        if lowest[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_scan_sees_function_level_and_relative_imports(tmp_path: Path) -> None:
    # What the checks below rely on: an import inside a function body is found, and a relative
    # import resolves against the importing module's package.
    path = tmp_path / "example.py"
    path.write_text("def later():\n    from mindseye.dataset.shards import load_split\n"
                    "from . import composite\nfrom .manifest import Manifest\n")
    names = set(imported_names("mindseye.dataset.example", path))
    assert {"mindseye.dataset.shards", "mindseye.dataset.composite",
            "mindseye.dataset.manifest"} <= names
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_two_modules_import_each_other_in_a_cycle() -> None:
    graph = import_graph()
    assert "mindseye.dataset.shards" in graph and "mindseye.render.driver" in graph
    found = cycles(graph)
    details = [
        "; ".join(f"{module} -> {target}" for module in cycle for target in sorted(graph[module])
                  if target in cycle)
        for cycle in found
    ]
    assert not found, "module import cycles: " + " | ".join(details)


def test_no_two_packages_import_each_other_in_a_cycle() -> None:
    packages = package_graph(import_graph())
    found = cycles(packages)
    details = [
        "; ".join(edge for package in cycle for target, edges in packages[package].items()
                  if target in cycle for edge in edges)
        for cycle in found
    ]
    assert not found, "package import cycles: " + " | ".join(details)


def test_packages_import_only_the_packages_below_them() -> None:
    upward = [
        edge
        for package, targets in package_graph(import_graph()).items()
        for target, edges in targets.items()
        if PACKAGE_STACK.index(target) > PACKAGE_STACK.index(package)
        for edge in edges
    ]
    assert not upward, f"imports up the stack {' < '.join(PACKAGE_STACK)}: {upward}"


def test_everything_imports_the_packages_through_the_mindseye_namespace() -> None:
    # A bare `import models` would find a user's models.py first (issue 20): the packages, the
    # tests and the benchmarks all say `mindseye.models`.
    bare = []
    for folder in (*PACKAGE_STACK, "tests", "benchmarks"):
        for path in sorted((PROJECT_ROOT / folder).rglob("*.py")):
            module = module_name(path)
            for name in imported_names(module, path):
                if name.split(".")[0] in SUBPACKAGES:
                    bare.append(f"{path.relative_to(PROJECT_ROOT)}: {name}")
    assert not bare, f"imports outside the mindseye namespace: {bare}"
