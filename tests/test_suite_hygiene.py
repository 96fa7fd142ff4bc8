"""The test suite itself, read with `ast` (nothing is imported): test modules import shared code
from tests/fixtures/ only, no module under tests/ changes global state when imported (that is
the job of the fixtures and hooks in tests/conftest.py), and no test folder is a package that
could shadow a product package."""

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent

# Calls that change process-wide state, by their dotted name as written.
GLOBAL_STATE_CALLS = {
    "torch.set_num_threads", "torch.set_num_interop_threads", "torch.manual_seed",
    "torch.set_default_dtype", "torch.set_default_device", "torch.use_deterministic_algorithms",
    "torch.set_grad_enabled", "np.random.seed", "numpy.random.seed", "random.seed",
    "os.chdir", "os.putenv", "os.environ.update", "os.environ.setdefault", "os.environ.pop",
    "sys.path.insert", "sys.path.append", "matplotlib.use", "warnings.filterwarnings",
    "warnings.simplefilter", "np.seterr", "numpy.seterr", "signal.signal", "atexit.register",
}
# Modules whose import alone changes the process (bpy: os.environ, sys.path, 200 modules).
IMPORT_HAS_EFFECTS = {"bpy", "mathutils"}


def dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{dotted(node.value)}.{node.attr}"
    return ""


def module_level(tree: ast.Module):
    """Statements run at import: the module body and the bodies of if/try/with at top level
    (not function or class bodies, whose code runs later)."""
    pending = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.If | ast.Try | ast.With | ast.For | ast.While | ast.ExceptHandler):
            # The header (condition, context managers, iterable) here; the bodies one by one.
            for field in ("test", "iter", "items"):
                value = getattr(node, field, None)
                yield from value if isinstance(value, list) else [value] if value else []
            for field in ("body", "orelse", "finalbody", "handlers"):
                pending.extend(getattr(node, field, []))
        else:
            yield node


def import_time_effects(tree: ast.Module) -> list[str]:
    found = []
    for statement in module_level(tree):
        if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            # Decorators and default values run at import; bodies do not.
            nodes = [*statement.decorator_list, *getattr(statement, "bases", [])]
        else:
            nodes = [statement]
        for node in (n for root in nodes for n in ast.walk(root)):
            if isinstance(node, ast.Call) and dotted(node.func) in GLOBAL_STATE_CALLS:
                found.append(f"line {node.lineno}: {dotted(node.func)}()")
            elif (isinstance(node, ast.Call) and dotted(node.func) == "pytest.importorskip"
                  and node.args and isinstance(node.args[0], ast.Constant)
                  and str(node.args[0].value).partition(".")[0] in IMPORT_HAS_EFFECTS):
                found.append(f"line {node.lineno}: import {node.args[0].value}")
            elif isinstance(node, ast.Assign | ast.AugAssign | ast.Delete):
                targets = getattr(node, "targets", None) or [getattr(node, "target", None)]
                for target in targets:
                    if isinstance(target, ast.Subscript) and dotted(target.value) == "os.environ":
                        found.append(f"line {node.lineno}: os.environ[...] changed")
            elif isinstance(node, ast.Import | ast.ImportFrom):
                names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [
                    alias.name for alias in node.names]
                for name in names:
                    if name.partition(".")[0] in IMPORT_HAS_EFFECTS:
                        found.append(f"line {node.lineno}: import {name}")
    return found


def python_files() -> list[Path]:
    return sorted(path for path in TESTS.rglob("*.py") if "__pycache__" not in path.parts)


def test_no_module_under_tests_changes_global_state_when_imported() -> None:
    offenders = {str(path.relative_to(TESTS)): effects for path in python_files()
                 if (effects := import_time_effects(ast.parse(path.read_text())))}
    assert not offenders, f"move these into fixtures (tests/conftest.py): {offenders}"


def test_test_modules_import_shared_code_from_tests_fixtures_only() -> None:
    offenders = {}
    for path in python_files():
        for node in ast.walk(ast.parse(path.read_text())):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [
                alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            bad = [name for name in names if (name == "tests" or name.startswith("tests."))
                   and not name.startswith("tests.fixtures")]
            if bad or (isinstance(node, ast.ImportFrom) and node.level):
                offenders.setdefault(str(path.relative_to(TESTS)), []).append(
                    f"line {node.lineno}: {', '.join(bad) or 'relative import'}")
    assert not offenders, f"import these from tests/fixtures/ instead: {offenders}"


def test_test_folders_are_not_packages() -> None:
    """With --import-mode=importlib, a test folder with an __init__.py is imported as a top-level
    package of its own name: tests/attacks/ became `attacks`, replacing the product's `attacks`
    in sys.modules (it only worked through the editable install's finder). tests/fixtures/ holds
    no test or conftest module, so it is only ever imported as `tests.fixtures`."""
    packages = [str(path.parent.relative_to(TESTS)) for path in TESTS.rglob("__init__.py")
                if path.parent != TESTS / "fixtures" and "__pycache__" not in path.parts]
    assert not packages, f"remove the __init__.py of: {packages}"
    fixtures = [path.name for path in (TESTS / "fixtures").rglob("*.py")
                if path.name.startswith("test_") or path.name == "conftest.py"]
    assert not fixtures, f"tests/fixtures/ holds helpers only: {fixtures}"


def test_the_checks_find_what_they_look_for() -> None:
    source = ("import bpy\nimport os\nimport torch\ntorch.set_num_threads(1)\n"
              "os.environ['X'] = '1'\nif True:\n    np.random.seed(0)\n"
              "@pytest.mark.skipif(pytest.importorskip('bpy'), reason='')\ndef f():\n"
              "    torch.manual_seed(0)\nx = pytest.importorskip('scipy')\n")
    assert sorted(import_time_effects(ast.parse(source))) == [
        "line 1: import bpy", "line 4: torch.set_num_threads()", "line 5: os.environ[...] changed",
        "line 7: np.random.seed()", "line 8: import bpy",
    ]
