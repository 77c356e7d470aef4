"""The offline default teacher's Backend: heuristic quality rules, not an LLM.

`RulesBackend` answers the same two requests as an LLM teacher, from the dimensions registered in
this package (Gopher, C4 and StarCoder-style rules): a free-form judgment lists the most salient
dimensions of a record (what it fails first, see `salience`), an anchored score maps each rubric anchor
to the dimension of that name. Replies go through `validate_reply`, so they have exactly the shape of a validated LLM
reply, but nothing here samples, prompts or costs tokens: the same record always gets the same
answer.
"""

from __future__ import annotations

import difflib
import math

from mira_core.rubric import Anchor
from mira_core.teachers.base import OnOutcome, Outcome, ReplyError, Request, normalize_name, run_each, validate_reply
from mira_core.teachers.rules.assess import assess
from mira_core.teachers.rules.registry import FORMATS, REGISTRY, Finding

RULES_SCALE = (1, 5)  # every signal scores on 1..5; other scales are a linear map of it
FUZZY_CUTOFF = 0.6
_RANK = {name: i for i, name in enumerate(REGISTRY)}


def dimensions() -> list[dict]:
    """Every dimension of the rules teacher: name, description and the formats it applies to."""
    return [{"name": d.name, "description": d.description, "formats": [f for f in FORMATS if f in d.formats]}
            for d in REGISTRY.values()]


def match_dimension(anchor_name: str) -> str | None:
    """The dimension an anchor name means: exact after normalisation, else the closest name (difflib, 0.6)."""
    name = normalize_name(anchor_name)
    if name in REGISTRY:
        return name
    close = difflib.get_close_matches(name, list(REGISTRY), n=1, cutoff=FUZZY_CUTOFF)
    return close[0] if close else None


def salience(f: Finding) -> tuple[bool, int, int]:
    """The order a free judgment lists findings in: what the record fails first, worst first, then what it passes.

    A critic names defects before virtues, and a pass of a defect check ("no mojibake" on an ASCII page) says
    little: ranked by distance from the scale's middle, a clean page's passes were as salient as a broken page's
    failures and filled most of the free judgment, so discovery clustered passes nearly every record shares.
    Ties, and the passes, go in REGISTRY order (the dimension modules' order: published filter rules first).
    """
    return f.score >= RULES_SCALE[1], f.score, _RANK[f.name]  # type: ignore[operator,return-value]


class RulesBackend:
    """A Backend that judges records with heuristic rules; `provider` says so, so it is never taken for an LLM."""

    provider = "rules"

    def __init__(self, model: str = "rules-v1", scale: tuple[int, int] = (1, 5), max_judgments: int = 8) -> None:
        lo, hi = scale
        if lo >= hi:
            raise ValueError(f"scale {scale}: the minimum must be below the maximum")
        if max_judgments < 1:
            raise ValueError(f"max_judgments must be at least 1, not {max_judgments}")
        self.model = model
        self.scale = (lo, hi)
        self.max_judgments = max_judgments

    def to_scale(self, score: int) -> int:
        """A 1..5 score on the configured scale, linearly, halves rounded up."""
        lo, hi = self.scale
        r_lo, r_hi = RULES_SCALE
        return math.floor(lo + (score - r_lo) * (hi - lo) / (r_hi - r_lo) + 0.5)

    def run(self, requests: list[Request], on_outcome: OnOutcome | None = None) -> list[Outcome]:
        return run_each(requests, self._one, on_outcome)

    def _one(self, req: Request) -> Outcome:
        rid = req.doc.record_id
        try:
            obj = self._judge(req) if req.kind == "judge" else self._score(req)
            data = validate_reply(obj, req, self.scale, self.max_judgments)
        except (ReplyError, LookupError) as e:
            return Outcome.failure(rid, str(e), "permanent", calls=1)
        except Exception as e:  # a rule that trips on one odd record must not sink the batch
            return Outcome.failure(rid, f"rules teacher failed on this record: {type(e).__name__}: {e}", "permanent",
                                   calls=1)
        return Outcome(rid, True, data, calls=1)

    def _judge(self, req: Request) -> dict:
        found = [f for f in assess(req.doc.format, req.doc.text).values() if f.score is not None]
        if not found:
            raise LookupError(f"no rules dimension applies to this {req.doc.format} record")
        found.sort(key=salience)
        return {"judgments": [{"name": f.name, "description": REGISTRY[f.name].description,
                               "score": self.to_scale(f.score), "reason": f.reason}  # type: ignore[arg-type]
                              for f in found[: self.max_judgments]]}

    def _score(self, req: Request) -> dict:
        matched: dict[str, str] = {}
        for a in req.anchors:
            name = match_dimension(a.name)
            if name is None:
                raise LookupError(f"anchor {a.id} {a.name!r} matches no rules dimension (closest names need "
                                  f"similarity >= {FUZZY_CUTOFF}); see rules.dimensions()")
            matched[a.id] = name
        findings = assess(req.doc.format, req.doc.text, sorted(set(matched.values())))
        return {"scores": [self._anchor_score(a, findings[matched[a.id]]) for a in req.anchors]}

    def _anchor_score(self, anchor: Anchor, f: Finding) -> dict:
        via = "" if normalize_name(anchor.name) == f.name else f" (anchor {anchor.name!r} read as {f.name})"
        if f.score is None:
            mid = self.to_scale(sum(RULES_SCALE) // 2)
            return {"anchor": anchor.id, "score": mid, "rationale": f"not applicable: {f.reason}{via}"}
        return {"anchor": anchor.id, "score": self.to_scale(f.score), "rationale": f"{f.reason}{via}"}
