"""Versioned prompt templates (files in mira_core/prompts/) and how a request becomes chat messages.

A prompt's version is its file name plus a hash of its text, so editing a template changes every
cache key that used it. The record is fenced by markers, and a record that contains the closing
marker cannot close the fence early: the marker is defused inside the document.

A record longer than `max_doc_chars` is shown as three windows, not just its beginning: the head
(half the budget: what the record is, its title, imports or question), a window from the middle and
the tail (a quarter each: whether it keeps up its quality, and how it ends). Each cut is marked in
the text ("[… 12,345 characters omitted …]") and the prompt says the record was cut and where, so
the teacher judges what it sees and does not take the gaps for flaws of the record.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache, lru_cache
from pathlib import Path
from string import Template

from mira_core.rubric import Anchor
from mira_core.teachers.base import Request

PROMPTS = Path(__file__).resolve().parent.parent / "prompts"
JUDGE, SCORE, SYSTEM = "judge_free_v2", "score_anchored_v2", "system_v1"  # v2: long records as 3 windows
END_MARKER = "<<<END DOCUMENT>>>"
SHARES = (0.5, 0.25, 0.25)  # of max_doc_chars: head, middle, tail


@cache
def template(name: str) -> str:
    return (PROMPTS / f"{name}.txt").read_text()


def prompt_version() -> str:
    """One version for the prompt family: names and a hash of the three templates, their example score filled in as
    the paper's 1..5 renders it (3). So an edit that sends the same prompts there keeps the version, and the
    request cache's answers (the example score was a literal 3 until it followed the scale: the upgrade would have
    had every answer paid for again, for byte-identical prompts)."""
    texts = (Template(template(n)).safe_substitute(example_score=3) for n in (SYSTEM, JUDGE, SCORE))
    h = hashlib.sha256("".join(texts).encode()).hexdigest()[:10]
    return f"{JUDGE}+{SCORE}@{h}"


def omitted(n: int) -> str:
    return f"[… {n:,} characters omitted …]"


def windows(text: str, max_chars: int) -> list[tuple[int, int]]:
    """(start, end) spans of the text the teacher sees: all of it, or head, middle and tail within max_chars."""
    n = len(text)
    if n <= max_chars:
        return [(0, n)]
    head = int(max_chars * SHARES[0])
    middle = int(max_chars * SHARES[1])
    tail = max_chars - head - middle
    mid_start = max(head, n // 2 - middle // 2)
    return [(0, head), (mid_start, mid_start + middle), (n - tail, n)]


def fence(text: str, max_chars: int) -> tuple[str, int]:
    """The document as it goes between the markers, with the cuts marked and markers defused; and the number
    of characters left out (0: the whole record)."""
    spans = windows(text, max_chars)
    parts, shown, last = [], 0, 0
    for start, end in spans:
        if start > last:
            parts.append(f"\n{omitted(start - last)}\n")
        parts.append(text[start:end])
        shown += end - start
        last = end
    return _defuse("".join(parts)), len(text) - shown


def _defuse(document: str) -> str:
    """The document with no "<<<" left in it, so no part of it can read as a marker.

    One pass of replace is not enough: it works left to right, so in a run of five "<" the last two join the
    last "<" of the replacement ("<<<<<" -> "< < <<<") and a record holding "<<<<<END DOCUMENT>>>" would
    close the fence. Repeating until none is left keeps the output of a single pass wherever that was safe
    (so no other request, and no cache key, changes) and ends: each pass leaves runs of at most three."""
    while "<<<" in document:
        document = document.replace("<<<", "< < <")
    return document


def cut_note(total: int, left_out: int) -> str:
    """The sentence telling the teacher that the record was cut, and where; empty for a whole record."""
    if not left_out:
        return ""
    return (f" The record is long ({total:,} characters), so only its beginning, a part of its middle and its end "
            f"are shown ({total - left_out:,} characters); each line \"[… N characters omitted …]\" marks where "
            "text was left out. Judge the parts you see and do not count the cuts against the record.")


@lru_cache(maxsize=256)
def anchors_json(anchors: tuple[Anchor, ...]) -> str:
    """A rubric's anchors as the prompt lists them; built once per rubric (indented JSON is slow to encode). Their
    text is defused as the record is: an exemplar reason is a judge's reason, which may quote a record's markers."""
    return json.dumps([{"id": a.id, "name": _defuse(a.name), "description": _defuse(a.description),
                        "example": _defuse(a.exemplar_reason)} for a in anchors], indent=1, ensure_ascii=False)


def messages(req: Request, scale: tuple[int, int], max_chars: int, max_judgments: int) -> list[dict]:
    """Chat messages for one request."""
    document, left_out = fence(req.doc.text, max_chars)
    # the example reply's score is the scale's middle: a fixed 3 was off a 0..1 or -2..2 scale, so a model copying
    # the example was refused (and the top of 1..3)
    values = {"format": req.doc.format, "document": document, "scale_min": scale[0], "scale_max": scale[1],
              "example_score": (scale[0] + scale[1]) // 2,
              "max_judgments": max_judgments, "cut_note": cut_note(len(req.doc.text), left_out)}
    if req.kind == "judge":
        user = Template(template(JUDGE)).substitute(values)
    else:
        user = Template(template(SCORE)).substitute(values, anchors=anchors_json(req.anchors))
    return [{"role": "system", "content": template(SYSTEM).strip()}, {"role": "user", "content": user}]
