"""Review of the document statistics, the planted defects and the demo corpus (session 30): a lone surrogate in a
record's text, and a Python module nested past what `ast.parse` can build (a long `1+1+...` chain), which raises
RecursionError or MemoryError, not SyntaxError."""

from __future__ import annotations

import numpy as np
import pytest

from mira_core.config import DemoCorpusParams
from mira_core.demo_corpus import FileRef, qa_records, trace_records
from mira_core.docstats import INDEX, NAMES, doc_stats
from mira_core.ingest.render import render_qa
from mira_core.planted_defects import _def_name, _parses

# Valid-looking Python whose AST is deeper than the builder allows: RecursionError on 3.11, like compile()
TOO_DEEP = "X = 1" + " + 1" * 10_000 + "\n"
DOCUMENTED = 'def double(x):\n    """Twice x.\n\n    >>> double(2)\n    4\n    """\n    return 2 * x\n'


@pytest.mark.parametrize("fmt, text", [
    ("text", "caf\ud800 au lait"),
    ("code", "x = '\udfff'\n"),
    ("qa", render_qa("What is \ud800?", "```python\nx = '\ud800'\n```")),
    ("agent", "[user]\n\ud800\n[assistant]\nok"),
], ids=["text", "code", "qa", "agent"])
def test_a_lone_surrogate_is_a_statistic_not_a_crash(fmt, text):
    # json.loads makes one from a "\\ud800" escape; the statistics must stay finite for every record
    out = doc_stats(fmt, text)
    assert out.shape == (len(NAMES),) and np.isfinite(out).all()
    assert out[INDEX["non_ascii_frac"]] > 0


def test_planted_parse_checks_read_nesting_past_the_ast_limits_as_not_parsing():
    assert not _parses(TOO_DEEP) and _def_name(TOO_DEEP + DOCUMENTED) == ""
    assert _parses(DOCUMENTED) and _def_name(DOCUMENTED) == "double"


def test_demo_qa_and_traces_skip_a_module_nested_past_the_ast_limits(tmp_path):
    deep, good = tmp_path / "deep mod.py", tmp_path / "good.py"
    deep.write_text(DOCUMENTED + TOO_DEEP, encoding="utf-8")
    good.write_text(DOCUMENTED, encoding="utf-8")
    refs = [FileRef(deep, "stdlib/deep mod.py"), FileRef(good, "stdlib/good.py")]
    p = DemoCorpusParams(min_file_bytes=0)
    assert [r["id"] for r in qa_records(refs, p)] == ["stdlib/good.py::double"]
    assert [r["id"] for r in trace_records(refs, p)] == ["stdlib/good.py::double"]
