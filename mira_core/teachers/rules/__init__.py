"""The offline "rules" teacher: heuristic quality signals, not an LLM.

One module per concern: `registry` (what a dimension is, REGISTRY, the grading helpers), `code_facts`
(language detection and the shared analyses of code), the dimension modules `code`, `prose`, `qa`
and `dialog`, `assess` (evaluating dimensions on a record) and `backend` (`RulesBackend`, the
teacher the pipeline calls). `table` rewrites the table of dimensions in docs/teachers.md from the registry.

The teacher's version (part of every cache key) hashes every `.py` file of this folder
(`mira_core.teachers._rules_version`), so editing any rule invalidates its cached answers.
"""

# The dimension modules register into REGISTRY as they are imported, so their import order is the
# order of REGISTRY, of `assess` and of free-form judgments' ties: code, prose, qa, dialog. They come
# first (qa imports prose, and assess imports qa), and import sorting stays off so it cannot reorder them.
# isort: off
from mira_core.teachers.rules import code  # noqa: F401
from mira_core.teachers.rules import prose  # noqa: F401
from mira_core.teachers.rules import qa  # noqa: F401
from mira_core.teachers.rules import dialog  # noqa: F401
# isort: on

from mira_core.teachers.rules.assess import assess, view
from mira_core.teachers.rules.backend import FUZZY_CUTOFF, RULES_SCALE, RulesBackend, dimensions, match_dimension
from mira_core.teachers.rules.code_facts import language, py_facts
from mira_core.teachers.rules.dialog import Call, Message, parse_messages
from mira_core.teachers.rules.qa import answer_code, split_qa
from mira_core.teachers.rules.registry import (
    FORMATS,
    REGISTRY,
    Dimension,
    Finding,
    Signal,
    SignalFn,
    dimension,
    dimension_table,
)

__all__ = [
    "FORMATS", "FUZZY_CUTOFF", "REGISTRY", "RULES_SCALE", "Call", "Dimension", "Finding", "Message", "RulesBackend",
    "Signal", "SignalFn", "answer_code", "assess", "dimension", "dimension_table", "dimensions", "language",
    "match_dimension", "parse_messages", "py_facts", "split_qa", "view",
]
