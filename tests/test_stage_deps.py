"""dvc.yaml's code deps cannot drift from the code a stage runs.

For each dvc.yaml stage, the import closure of its flow module `flows/<stage>.py` is computed from
the source with `ast` (nothing is imported, so it is fast and runs no module code): every
first-party module (flows.*, tasks.*, mira_core.*) it imports, transitively, including imports
inside functions, the packages an import runs (`mira_core/teachers/__init__.py` for
`mira_core.teachers.rules`) and `importlib.import_module("literal")`; imports under
`if TYPE_CHECKING:` are left out, as they never run. Package data a module in the closure reads
(a string literal naming a file or folder of non-Python files inside a first-party package near the
module, like `"prompts"` in mira_core/teachers/prompts.py) is added.

Each of those files must be covered by a dep of the stage (the file itself or a folder above it),
except modules that are only a docstring (most `__init__.py`) and the modules in `ALLOWED`, each
with its reason; what an allowed module imports is not followed either, as it serves the plumbing
(flows/common.py imports the Prefect server's module). The other way round, a code dep that covers
nothing the stage runs is reported too: it would re-run the stage for nothing.
"""

from __future__ import annotations

import ast
import copy
import functools
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
FIRST_PARTY = ("flows", "tasks", "mira_core")

# Modules a stage imports that are deliberately not deps: plumbing that cannot change a stage's outs.
# Keep it short: an entry hides every edit of that file from `dvc repro`.
ALLOWED = {
    # dvc.yaml's header: every knob's value is in params.yaml, under each stage's `params`, so an edit that matters
    # to a stage changes a value DVC tracks
    "mira_core/config.py": "the params model",
    "mira_core/errors.py": "exception classes: whether a stage fails, not what a finished stage wrote",
    "mira_core/dvc_deps.py": "warnings of paths params name that dvc.yaml does not list: printed, never written",
    "flows/__init__.py": "environment defaults (offline, quiet, no telemetry) and the address of a running `mira ui`",
    "flows/common.py": "task runner, run log (.mira/runs/, not an out), entry points and their error messages",
    "flows/publish.py": "Prefect UI artifacts (markdown tables), not files",
    "flows/tracking.py": "MLflow logging (mlflow.db, mlruns/): no DVC out",
    "tasks/caching.py": "Prefect's task-cache key: whether a task re-runs, not what it writes",
}


def module_file(name: str, root: Path = REPO) -> Path | None:
    """The file of first-party module `name` (a.b -> a/b.py or a/b/__init__.py), or None."""
    if name.split(".")[0] not in FIRST_PARTY:
        return None
    base = root.joinpath(*name.split("."))
    for f in (base.with_suffix(".py"), base / "__init__.py"):
        if f.is_file():
            return f
    return None


def _package(name: str, path: Path) -> str:
    """The package a relative import in module `name` (at `path`) is relative to."""
    return name if path.name == "__init__.py" else name.rpartition(".")[0]


def _walk_runtime(tree: ast.AST) -> list[ast.AST]:
    """Every node under `tree`, except the bodies of `if TYPE_CHECKING:` (never run)."""
    out, todo = [], [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            todo += node.orelse
            continue
        out.append(node)
        todo += ast.iter_child_nodes(node)
    return out


def _with_parents(name: str) -> set[str]:
    """Importing a.b.c runs a, a.b and a.b.c."""
    parts = name.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts) + 1)}


def _import_module_literal(node: ast.AST) -> str | None:
    """`importlib.import_module("x.y")` or `import_module("x.y")` with a literal name."""
    if not isinstance(node, ast.Call) or not node.args:
        return None
    func = node.func
    called = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
    arg = node.args[0]
    if called == "import_module" and isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return arg.value
    return None


def imported_modules(tree: ast.Module, name: str, path: Path) -> set[str]:
    """Names of the modules module `name` imports at run time (first-party or not; unresolved names included)."""
    out: set[str] = set()
    for node in _walk_runtime(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                out |= _with_parents(alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = _package(name, path).split(".")
                pkg = pkg[: len(pkg) - (node.level - 1)]
                base = ".".join(pkg + ([base] if base else []))
            out |= _with_parents(base)
            out |= {f"{base}.{alias.name}" for alias in node.names}  # `from pkg import module`
        elif literal := _import_module_literal(node):
            out |= _with_parents(literal)
    return out


def _relative_path(value: object) -> Path | None:
    """A string literal that could name a file or folder: relative, with no '.' or '..' parts, short."""
    if not isinstance(value, str) or not value.strip() or len(value) > 200 or "\n" in value:
        return None
    p = Path(value)
    if p.is_absolute() or any(part in (".", "..") for part in p.parts) or value.startswith("."):
        return None
    return p


def data_paths(tree: ast.Module, path: Path, root: Path = REPO) -> set[Path]:
    """Non-Python files a module names by a string literal relative to its folder or a folder above it,
    inside its first-party package (so "prompts" in mira_core/teachers/prompts.py is mira_core/prompts/)."""
    top = root / path.relative_to(root).parts[0]
    folders = [p for p in path.parents if p == top or top in p.parents]
    out: set[Path] = set()
    for node in ast.walk(tree):
        rel = _relative_path(node.value) if isinstance(node, ast.Constant) else None
        for folder in folders if rel else ():
            cand = folder / rel
            files = [cand] if cand.is_file() else sorted(cand.rglob("*")) if cand.is_dir() else []
            out |= {f for f in files if f.is_file() and f.suffix != ".py" and "__pycache__" not in f.parts}
    return out


@functools.cache
def _parsed(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


@functools.cache
def _facts(name: str, path: Path, root: Path) -> tuple[frozenset[str], frozenset[Path]]:
    """What one module imports and the data files it names; per file, so each file is read once per session."""
    tree = _parsed(path)
    return frozenset(imported_modules(tree, name, path)), frozenset(data_paths(tree, path, root))


def runs_nothing(tree: ast.Module) -> bool:
    """A module that is only a docstring (most package __init__.py files): importing it cannot change a result."""
    return all(isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant) for n in tree.body)


def closure(module: str, root: Path = REPO, stop: frozenset[str] = frozenset()) -> set[Path]:
    """The files of `module` and of every first-party module it imports, transitively, with their data files.

    Modules in `stop` (paths relative to `root`) are in the result, but what they import is not followed:
    plumbing's own imports serve the plumbing (flows/common.py imports the Prefect server's module).
    """
    seen: set[str] = set()
    todo = [module]
    files: set[Path] = set()
    while todo:
        name = todo.pop()
        path = module_file(name, root)
        if name in seen or path is None:
            continue
        seen.add(name)
        files.add(path)
        if path.relative_to(root).as_posix() in stop:
            continue
        imports, data = _facts(name, path, root)
        files |= data
        todo += sorted(imports - seen)
    return files


def needed(stage: str, root: Path = REPO, allowed: dict[str, str] = ALLOWED) -> set[str]:
    """What the deps of `stage` must cover: its closure, less allowed modules and modules that run nothing."""
    files = closure(f"flows.{stage}", root, frozenset(allowed))
    return {f.relative_to(root).as_posix() for f in files
            if f.relative_to(root).as_posix() not in allowed and not (f.suffix == ".py" and runs_nothing(_parsed(f)))}


def _covered(rel: str, deps: list[str]) -> bool:
    parts = Path(rel).parts
    return any(parts[: len(Path(d).parts)] == Path(d).parts for d in deps)


def uncovered(dvc: dict, root: Path = REPO, allowed: dict[str, str] = ALLOWED) -> dict[str, list[str]]:
    """Per stage of a parsed dvc.yaml, the files its code runs or reads that no dep covers (and are not allowed)."""
    gaps: dict[str, list[str]] = {}
    for stage, spec in dvc["stages"].items():
        deps = [str(d) for d in spec.get("deps", [])]
        missing = sorted(f for f in needed(stage, root, allowed) if not _covered(f, deps))
        if missing:
            gaps[stage] = missing
    return gaps


def stale(dvc: dict, root: Path = REPO, allowed: dict[str, str] = ALLOWED) -> dict[str, list[str]]:
    """Per stage, its code deps (under flows/, tasks/, mira_core/) that cover nothing it runs: a re-run for nothing."""
    out: dict[str, list[str]] = {}
    for stage, spec in dvc["stages"].items():
        need = needed(stage, root, allowed)
        code = [str(d) for d in spec.get("deps", []) if str(d).split("/")[0] in FIRST_PARTY]
        dead = [d for d in code if not any(_covered(f, [d]) for f in need)]
        if dead:
            out[stage] = dead
    return out


@pytest.fixture(scope="module")
def dvc() -> dict:
    return yaml.safe_load((REPO / "dvc.yaml").read_text())


def test_every_stage_lists_the_code_it_runs(dvc):
    gaps = uncovered(dvc)
    assert not gaps, "dvc.yaml deps miss code a stage runs (add the file, or its package folder):\n" + "\n".join(
        f"  {stage}: {', '.join(files)}" for stage, files in gaps.items())


def test_no_stage_lists_code_it_does_not_run(dvc):
    assert not stale(dvc), f"code deps no module of the stage imports: {stale(dvc)}"


def test_the_allow_list_holds_only_modules_some_stage_imports(dvc):
    """An entry no stage needs any more is dead weight that could hide a future gap."""
    imported = {f.relative_to(REPO).as_posix() for stage in dvc["stages"]
                for f in closure(f"flows.{stage}", stop=frozenset(ALLOWED))}
    assert set(ALLOWED) <= imported, sorted(set(ALLOWED) - imported)


def test_a_removed_dep_is_reported(dvc):
    broken = copy.deepcopy(dvc)
    broken["stages"]["select"]["deps"].remove("mira_core/selection.py")
    broken["stages"]["discover"]["deps"].remove("mira_core/prompts")
    gaps = uncovered(broken)
    assert "mira_core/selection.py" in gaps["select"]
    assert "mira_core/prompts/system_v1.txt" in gaps["discover"]


def test_a_dep_on_code_the_stage_does_not_run_is_reported(dvc):
    broken = copy.deepcopy(dvc)
    broken["stages"]["group"]["deps"].append("mira_core/selection.py")
    assert stale(broken) == {"group": ["mira_core/selection.py"]}


def test_a_folder_dep_covers_the_files_under_it(dvc):
    broken = copy.deepcopy(dvc)
    deps = broken["stages"]["label"]["deps"]
    deps[:] = [d for d in deps if not d.startswith("mira_core/teachers")] + ["mira_core/teachers/base.py"]
    gaps = uncovered(broken)["label"]
    assert "mira_core/teachers/rules/backend.py" in gaps and "mira_core/teachers/base.py" not in gaps


def test_the_closure_follows_every_kind_of_import(tmp_path):
    pkg = tmp_path / "mira_core"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "data").mkdir()
    (pkg / "data" / "t.txt").write_text("a template")
    files = {
        "__init__.py": "",
        "sub/__init__.py": "",
        "a.py": "from . import b\nfrom mira_core.sub import c\n",
        "b.py": "def f():\n    import mira_core.d\n",  # inside a function
        "sub/c.py": "import importlib\nimportlib.import_module('mira_core.e')\nfrom .. import g\n",
        "d.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import mira_core.never\n",
        "e.py": "from pathlib import Path\nT = Path(__file__).parent / 'data'\n",
        "g.py": "",
        "never.py": "",
        "unused.py": "",
    }
    for rel, text in files.items():
        (pkg / rel).write_text(text)
    got = {f.relative_to(tmp_path).as_posix() for f in closure("mira_core.a", tmp_path)}
    assert got == {f"mira_core/{f}" for f in ("__init__.py", "a.py", "b.py", "sub/__init__.py", "sub/c.py", "d.py",
                                              "e.py", "g.py", "data/t.txt")}
