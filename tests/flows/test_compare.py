"""`mira compare`'s text: params as written, anchors matched by name, a group's sources, a side with no selection."""

from __future__ import annotations

from flows.compare import compare, format_text
from mira_core.rubric import Anchor, Rubric, diff_rubrics, format_diff


def _rubric(names: list[str], sources: list[str], changed: str = "") -> Rubric:
    return Rubric(group="g1", anchors=[Anchor(id=f"a{i:02d}", name=n, description="new" if n == changed else "d",
                                              exemplar_reason="e", support=1) for i, n in enumerate(names)],
                  teacher="rules", prompt_version="p", sources=sources)


def _run(rev: str, rubric: Rubric, lr: float, kept: set[str] | None) -> dict:
    return {"rev": rev, "params": {"distill.finetune.lr": lr, "select.budget": 0.5}, "rubrics": {"g1": rubric},
            "students": {}, "select": {}, "kept": kept}


def test_compare_text_names_what_changed_by_name_and_the_groups_sources():
    a = _run("A", _rubric(["quality", "clarity", "correctness", "style"], ["docs", "qa"]), 3e-05, {"r1", "r2"})
    b = _run("B", _rubric(["quality", "correctness", "style", "docs"], ["docs", "qa", "tests"], changed="style"),
             1e-04, {"r2"})
    text = format_text(compare(a, b))
    assert "distill.finetune.lr: 3e-05 -> 0.0001" in text  # not 0.000 -> 0.000
    assert "select.budget" not in text
    assert "  sources: docs, qa -> docs, qa, tests" in text  # "g1" after a regroup is other sources
    assert "  - clarity" in text and "  + docs" in text and "  ~ style: description" in text
    rows = [line for line in text.splitlines() if "|" in line]
    assert any(line.split("|")[0].strip() == "- clarity" and not line.split("|")[1].strip() for line in rows)
    assert any(line.split("|")[0].strip() == "~ style" and line.split("|")[1].strip() == "style" for line in rows)
    assert not any("clarity" in line and "correctness" in line for line in rows)  # never paired by position
    assert "selections: 2 kept in A, 1 in B, 1 in both; Jaccard 0.500" in text


def test_a_side_with_no_selection_is_said_to_have_none():
    a = _run("A", _rubric(["quality"], ["docs"]), 3e-05, None)
    b = _run("B", _rubric(["quality"], ["docs"]), 3e-05, {"r1"})
    c = compare(a, b)
    assert c["selection_overlap"] == {"kept_a": None, "kept_b": 1, "both": None, "jaccard": None}
    assert "selections: A has none (select has not run there)" in format_text(c)


def test_rubrics_diff_names_a_changed_source_list():
    d = diff_rubrics({"g1": _rubric(["q"], ["docs", "qa"])}, {"g1": _rubric(["q"], ["docs", "qa", "tests"])})
    assert d["g1"]["settings"] == {"sources": [["docs", "qa"], ["docs", "qa", "tests"]]}
    assert "  sources: docs, qa -> docs, qa, tests" in format_diff(d, "A", "B").splitlines()
