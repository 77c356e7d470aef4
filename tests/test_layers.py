"""The layering rule: mira_core imports neither prefect nor dvc nor mlflow; tasks import no flows."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FORBIDDEN = {"mira_core": {"prefect", "prefect_dask", "dvc", "mlflow", "tasks", "flows"}, "tasks": {"flows", "dvc"}}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_imports_point_one_way(package):
    bad = {}
    for f in sorted((REPO / package).rglob("*.py")):
        hit = _imports(f) & FORBIDDEN[package]
        if hit:
            bad[str(f.relative_to(REPO))] = sorted(hit)
    assert not bad, f"{package} must not import {sorted(FORBIDDEN[package])}: {bad}"


def test_the_rule_can_fail(tmp_path):
    f = tmp_path / "x.py"
    f.write_text("import prefect.flows\nfrom mlflow import log_metric\n")
    assert _imports(f) == {"prefect", "mlflow"}


def test_every_module_opens_with_a_docstring():
    missing = [str(f.relative_to(REPO)) for pkg in ("mira_core", "tasks", "flows") for f in (REPO / pkg).rglob("*.py")
               if not ast.get_docstring(ast.parse(f.read_text()))]
    assert not missing, missing
