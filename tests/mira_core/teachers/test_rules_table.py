"""The table of the rules teacher's dimensions in docs/teachers.md is generated from the registry: it must match it,
the rewrite must leave everything outside the markers alone, and the teacher's version must cover every
module of the rules package."""

from __future__ import annotations

from pathlib import Path

import pytest

from mira_core.teachers import _rules_version
from mira_core.teachers.rules import REGISTRY, dimension_table, table

DOC = Path(__file__).resolve().parents[3] / "docs" / "teachers.md"


def test_the_docs_table_is_the_generated_one():
    assert table.DOC == DOC
    assert table.current_table(DOC.read_text(encoding="utf-8")) == dimension_table(), (
        f"docs/teachers.md's rules-dimensions table differs from the registry; run `{table.COMMAND}` and commit it")


def test_the_table_lists_every_dimension_in_registry_order():
    rows = dimension_table()[2:]
    assert [r.split("`")[1] for r in rows] == list(REGISTRY)
    assert rows[0].startswith("| `parses` | code, qa | ") and rows[-1].startswith("| `refusal_markers` | chat, agent | ")


def test_the_rewrite_touches_only_the_text_between_the_markers(tmp_path):
    stale = f"# Title\n\nbefore\n\n{table.START}\n\n| old | table |\n\n{table.END}\n\nafter\n"
    path = tmp_path / "teachers.md"
    path.write_text(stale)
    assert table.main(["--doc", str(path), "--check"]) == 1
    assert table.main(["--doc", str(path)]) == 0
    new = path.read_text()
    assert new.startswith(f"# Title\n\nbefore\n\n{table.START}\n\n| dimension |") and new.endswith(f"{table.END}\n\nafter\n")
    assert table.current_table(new) == dimension_table()
    assert table.main(["--doc", str(path), "--check"]) == 0
    with pytest.raises(ValueError, match="markers"):
        table.rewrite("no markers here")


def test_the_version_covers_every_module_of_the_rules_package(tmp_path, monkeypatch):
    import mira_core.teachers as teachers

    before = _rules_version()
    fake = tmp_path / "teachers"
    (fake / "rules").mkdir(parents=True)
    for f in (Path(teachers.__file__).parent / "rules").glob("*.py"):
        (fake / "rules" / f.name).write_bytes(f.read_bytes())
    for name in teachers.RULES_SHARED:  # the mira_core modules a rule's score reads, beside teachers/
        (tmp_path / name).write_bytes((Path(teachers.__file__).parents[1] / name).read_bytes())
    monkeypatch.setattr(teachers, "__file__", str(fake / "__init__.py"))
    assert _rules_version() == before
    (fake / "rules" / "new_dimensions.py").write_text("# a new module of rules\n")
    added = _rules_version()
    assert added != before
    (fake / "rules" / "prose.py").write_text((fake / "rules" / "prose.py").read_text() + "\n# an edit\n")
    edited = _rules_version()
    assert edited not in (before, added)
    # how words are split (mira_core/unspaced.py) decides word_count: an edit there is an edit of the rules
    (tmp_path / "unspaced.py").write_text((tmp_path / "unspaced.py").read_text() + "\n# an edit\n")
    assert _rules_version() not in (before, added, edited)


def test_every_mira_core_module_the_rules_import_is_versioned_or_plumbing():
    import ast

    import mira_core.teachers as teachers

    imported = set()
    for f in (Path(teachers.__file__).parent / "rules").glob("*.py"):
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("mira_core."):
                imported.add(node.module.removeprefix("mira_core."))
    imported = {m for m in imported if not m.startswith("teachers.rules")}
    shared = {name.removesuffix(".py") for name in teachers.RULES_SHARED}
    assert imported == shared | set(teachers.RULES_PLUMBING), (
        "a rule imports a mira_core module that is in neither RULES_SHARED (it decides a score: its code counts in "
        "the rules teacher's version) nor RULES_PLUMBING")
