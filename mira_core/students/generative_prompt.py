"""The generative student's prompt and reply: the versioned template, the record as it is shown, the reply it is
trained to write (the teacher's JSON shape, each anchor's rationale before its score) and the parser of replies.

Apart from generative.py (the model: fit, generate, serve), so the wire format can be read, and changed with its
template version, in one place.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path
from string import Template

import numpy as np

from mira_core.errors import JSON_REFUSED

TEMPLATE = "student_generative_v1"
PROMPTS = Path(__file__).resolve().parent.parent / "prompts"


@cache
def template() -> str:
    return (PROMPTS / f"{TEMPLATE}.txt").read_text()


def template_version() -> str:
    """The prompt's version: its name and a hash of its text (editing the template changes it)."""
    return f"{TEMPLATE}@{hashlib.sha256(template().encode()).hexdigest()[:10]}"


def render_prompt(text: str, anchors: list[str], scale: tuple[int, int], max_doc_chars: int) -> str:
    """The student's prompt for one record: the template with the record fenced (cut to `max_doc_chars`)."""
    from mira_core.teachers.prompts import fence

    document, left_out = fence(text, max_doc_chars)
    note = f" The record was cut: {len(text) - left_out:,} of {len(text):,} characters are shown." if left_out else ""
    return Template(template()).substitute(anchor_ids=", ".join(anchors), scale_min=scale[0], scale_max=scale[1],
                                           document=document, cut_note=note)


def render_target(scores: np.ndarray, rationales: dict[str, str] | None, anchors: list[str], max_chars: int) -> str:
    """The reply the student learns to write: the teacher's shape, anchors in rubric order, one-line rationales."""
    rationales = rationales or {}
    return json.dumps({"scores": [{"anchor": a, "rationale": one_line(rationales.get(a, ""), max_chars),
                                   "score": int(round(float(s)))}
                                  for a, s in zip(anchors, scores, strict=True)]}, ensure_ascii=False)


def one_line(text: str, max_chars: int) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= max_chars else line[: max_chars - 1].rstrip() + "…"


def parse_reply(text: str, anchors: list[str], scale: tuple[int, int]) -> tuple[dict[str, int], dict[str, str]]:
    """(scores, rationales) of a reply, with the teacher's parser; ReplyError saying what is wrong otherwise."""
    from pydantic import ValidationError

    from mira_core.teachers.base import ReplyError, ScoreReply, extract_json

    try:
        reply = ScoreReply.model_validate(extract_json(text))
    except ValidationError as e:
        raise ReplyError(f"the reply does not match the schema: {e.errors()[0]['msg']}") from None
    twice = sorted({s.anchor for s in reply.scores if sum(t.anchor == s.anchor for t in reply.scores) > 1})
    if twice:  # as the teacher's validate_reply: which of two answers is the score, and whose is the rationale?
        raise ReplyError(f"each anchor must be scored once; more than once: {', '.join(twice)}")
    got = {s.anchor: s for s in reply.scores}
    missing = [a for a in anchors if a not in got]
    if missing:
        raise ReplyError(f"missing anchors: {', '.join(missing)}")
    bad = [a for a in anchors if not scale[0] <= got[a].score <= scale[1]]
    if bad:
        raise ReplyError(f"scores off the scale {scale[0]}..{scale[1]}: {', '.join(bad)}")
    return {a: got[a].score for a in anchors}, {a: got[a].rationale for a in anchors}


def rationales_of(value: str | dict | None) -> dict[str, str]:
    """One label row's rationales: the label table's JSON string, a dict, or nothing."""
    if value is None:
        return {}
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items()}
    try:
        out = json.loads(value)
    except (TypeError, *JSON_REFUSED):
        return {}
    return {str(k): str(v) for k, v in out.items()} if isinstance(out, dict) else {}
