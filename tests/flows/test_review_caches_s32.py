"""Review (session 32): a user who changes one thing at a time and re-runs, trusting the caches.

End to end (a 3-source project, rules teacher, `mira run` and `dvc repro`), a no-op re-run served every cached task,
and a run after five changes at once (one record edited in place, ingest.min_chars, group.k, distill.student,
select.budget and select.standardize) and a revert to the start equalled a from-scratch run. These randomized checks
pin the two key-shaping helpers that run depended on: the distill task's params (`DistillParams.in_use`) and a
baseline's settings (`baseline_settings`), which leave knobs out of the cache key on purpose. A knob left out
that the task reads would be served stale; a knob kept in that it does not read re-runs work for nothing.
"""

from __future__ import annotations

import random

from mira_core.config import SelectParams
from mira_core.manifests import BASELINE_READS, baseline_settings
from mira_core.student_params import DistillParams

KINDS = ("head", "linear", "trees", "finetune", "generative")
# one knob per section, each with a few values it validates with
KNOBS = {"head": ("alpha", [0.5, 2.0, 7.0]), "linear": ("alpha", [0.5, 2.0, 7.0]),
         "trees": ("max_depth", [2, 4, 6]), "finetune": ("epochs", [1, 3, 4]), "generative": ("epochs", [1, 3, 4])}


def _random_distill(rng: random.Random) -> DistillParams:
    student = rng.choice([*KINDS, "auto"])
    cands = rng.sample(["head", "linear", "trees", "finetune"], rng.randint(1, 3))
    return DistillParams.model_validate({"student": student, "seed": rng.randint(0, 9),
                                         "auto": {"candidates": cands, "folds": rng.randint(2, 5)}})


def test_random_distill_params_key_exactly_the_kinds_in_use():
    """in_use() changes with a knob of a kind the run fits (its section, or auto's), and with no other."""
    rng = random.Random(32)
    for _ in range(300):
        p = _random_distill(rng)
        used = {p.student, *(p.auto.candidates if p.student == "auto" else ())}
        assert p.in_use().in_use() == p.in_use()  # idempotent
        kind = rng.choice(KINDS)
        knob, values = KNOBS[kind]
        section = getattr(p, kind)
        new = rng.choice([v for v in values if v != getattr(section, knob)])
        q = p.model_copy(update={kind: section.model_copy(update={knob: new})})
        assert (q.in_use() != p.in_use()) == (kind in used), (p.student, p.auto.candidates, kind)
        # the seed and the student kind always key it
        assert p.model_copy(update={"seed": p.seed + 1}).in_use() != p.in_use()


SELECT_KNOBS = {"tau_mae": [0.5, 1.0], "tau_rank": [0.1, 0.5], "trim": [0.0, 0.2], "worst_weight": [0.0, 1.0],
                "mask": [True, False], "standardize": [True, False], "granularity": ["global", "source"],
                "seed": [1, 2], "budget": [0.3, 0.7], "dsir_target": [["qa"], ["code"]],
                "held_out_sources": [["qa"], ["docs"]], "max_epochs": [1.0, 2.0]}


def test_random_select_knobs_reach_a_baseline_only_where_it_reads_them():
    """A baseline's settings change with the budget, the held-out sources and its own reads (BASELINE_READS) only."""
    rng = random.Random(3200)
    for _ in range(300):
        p = SelectParams()
        knob = rng.choice(list(SELECT_KNOBS))
        q = p.model_copy(update={knob: rng.choice(SELECT_KNOBS[knob])})
        for method, reads in BASELINE_READS.items():
            changed = baseline_settings(method, q) != baseline_settings(method, p)
            assert changed == (knob in ("budget", "held_out_sources", *reads)), (method, knob)
