"""Review of rubrics, discovery and labeling (session 29): a rubric file read as UTF-8 whatever the locale, a rubric
edited by hand into something the stages cannot read (a missing field, cut-off JSON, not UTF-8, a reversed
scale, anchor ids used twice or naming a label column) named with its file, and `mira rubrics` at a revision
still naming the revision."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from mira_core.errors import ConfigError
from mira_core.rubric import Anchor, Rubric, load_rubric, load_rubrics, save_rubric

REPO = Path(__file__).resolve().parents[2]
ACCENTED = "Sélection ≥ ½"


def _rubric(ids: tuple[str, ...] = ("a00",), name: str = "clarity") -> dict:
    anchors = [{"id": i, "name": f"{name} {n}", "description": "d", "exemplar_reason": "e", "support": 1}
               for n, i in enumerate(ids)]
    return {"group": "g0", "teacher": "rules", "prompt_version": "p", "sources": ["a"], "anchors": anchors}


def test_a_rubric_with_non_ascii_anchors_is_read_as_utf8_under_an_ascii_locale(tmp_path):
    # save_rubric writes UTF-8 with non-ASCII kept as is; load_rubric (label, score, distill) read it in the
    # locale's encoding: a UnicodeDecodeError's traceback under an ASCII one
    anchor = Anchor(id="a00", name=ACCENTED, description="d", exemplar_reason="e", support=1)
    save_rubric(Rubric(group="g0", anchors=[anchor], teacher="rules", prompt_version="p", sources=["a"]).with_version(),
                tmp_path / "g0.json")
    script = ("import locale, sys\nfrom pathlib import Path\n"
              "assert locale.getpreferredencoding(False).lower() in ('ascii', 'ansi_x3.4-1968')\n"
              "from mira_core.rubric import load_rubrics\n"
              "print(ascii(load_rubrics(Path(sys.argv[1]))['g0'].anchors[0].name))\n")
    res = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, cwd=REPO,
                         env={"LC_ALL": "C", "PYTHONUTF8": "0", "PATH": "/usr/bin:/bin"}, timeout=60)
    assert res.returncode == 0, res.stderr[-800:]
    assert res.stdout.strip() == ascii(ACCENTED)


@pytest.mark.parametrize(("text", "why"), [
    (json.dumps({k: v for k, v in _rubric().items() if k != "prompt_version"}), r"not a rubric \(prompt_version: "
     "Field required\\)"),
    ('{"group": "g0", ', r"not a rubric \(Invalid JSON: EOF while parsing"),
    (json.dumps(_rubric() | {"scale": {"min": 5, "max": 1}}), r"not a rubric \(scale: Value error, scale min \(5\) "
     r"must be below max \(1\)\)"),
    (json.dumps(_rubric(("a00", "a00"))), r"not a rubric \(Value error, anchor id\(s\) a00 used more than once\)"),
    (json.dumps(_rubric(("a00", "split"))), r"not a rubric \(Value error, anchor id\(s\) split name a column of "
     "the label table"),
])
def test_a_rubric_edited_into_no_rubric_is_a_config_error_naming_its_file(tmp_path, text, why):
    # the label stage (load_rubrics) and its tasks, score and distill (load_rubric) failed with pydantic's traceback,
    # which named no file; a reversed scale clipped every student's prediction to its max, an anchor id used twice
    # was refused by the teacher on every paid request, one named "split" or "record_id" overwrote that column
    (tmp_path / "g0.json").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=f"^{re.escape(str(tmp_path / 'g0.json'))}: {why}"):
        load_rubrics(tmp_path)
    with pytest.raises(ConfigError, match="re-run the discover stage"):
        load_rubric(tmp_path / "g0.json")


def test_a_rubric_file_that_is_not_utf8_is_named(tmp_path):
    (tmp_path / "g0.json").write_bytes(b'{"group": "g0 \xe9"}')
    with pytest.raises(ConfigError, match=r"g0\.json: not a rubric \(not UTF-8 text, byte 14\)"):
        load_rubric(tmp_path / "g0.json")


def test_rubrics_at_a_revision_still_name_the_revision(tmp_path):
    # rubrics_at parses the text itself (not through load_rubric's ConfigError) so that its message names the
    # revision as before
    from flows.rubrics import rubrics_at

    (tmp_path / "data" / "rubrics").mkdir(parents=True)
    (tmp_path / "data" / "rubrics" / "g0.json").write_text(json.dumps(_rubric(("a00", "a00"))), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"^data/rubrics/g0\.json at 'workspace': not a rubric \(Value error, "
                       r"anchor id\(s\) a00 used more than once\); re-run the discover stage"):
        rubrics_at(tmp_path, "workspace")


def test_a_rubric_as_discover_writes_it_still_loads_with_its_version(tmp_path):
    rubric = Rubric.model_validate(_rubric(("a00", "a01"))).with_version()
    save_rubric(rubric, tmp_path / "g0.json")
    assert load_rubric(tmp_path / "g0.json") == rubric


def test_a_rubric_file_whose_group_is_not_its_name_is_named(tmp_path):
    """load_rubrics keyed rubrics by the group inside each file: a hand copy of g0.json saved as g1.json replaced
    g0's rubric, while distill and score read g1.json by its name."""

    def rubric(group: str, source: str) -> Rubric:
        return Rubric(group=group, teacher="t", prompt_version="p", sources=[source],
                      anchors=[Anchor(id="a00", name="n", description="d", exemplar_reason="r", support=1)]
                      ).with_version()

    save_rubric(rubric("g0", "a"), tmp_path / "g0.json")
    save_rubric(rubric("g1", "b"), tmp_path / "g1.json")
    assert {g: r.sources for g, r in load_rubrics(tmp_path).items()} == {"g0": ["a"], "g1": ["b"]}
    save_rubric(rubric("g0", "b"), tmp_path / "g1.json")
    with pytest.raises(ConfigError, match=r"g1\.json: holds the rubric of group 'g0', not 'g1'"):
        load_rubrics(tmp_path)


def test_a_rubric_diff_lists_what_changed_its_version(tmp_path):
    """Two rubrics that differ only in the counts they rest on have other versions: the diff said "changed" and
    listed no line. (Anchor ids are positions, matched by name: a renumbering is not listed, as before.)"""
    from mira_core.rubric import diff_rubrics, format_diff

    a = Anchor(id="a00", name="docs", description="d", exemplar_reason="e", support=3)
    r1 = Rubric(group="g0", teacher="t", prompt_version="p", sources=["s"], anchors=[a], n_sampled=40,
                n_records=38).with_version()
    r2 = r1.model_copy(update={"n_records": 36}).with_version()
    assert r1.version != r2.version
    text = format_diff(diff_rubrics({"g0": r1}, {"g0": r2}), "A", "B").splitlines()
    assert text[1].startswith("group g0: changed") and text[2:] == ["  n_records: 38 -> 36"]
