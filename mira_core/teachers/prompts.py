"""Versioned prompt templates (files in mira_core/prompts/) and how a request becomes chat messages.

A prompt's version is its file name plus a hash of its text, so editing a template changes every
cache key that used it. The record is fenced by markers, and a record that contains the closing
marker cannot close the fence early: the marker is defused inside the document.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path
from string import Template

from mira_core.teachers.base import Request

PROMPTS = Path(__file__).resolve().parent.parent / "prompts"
JUDGE, SCORE, SYSTEM = "judge_free_v1", "score_anchored_v1", "system_v1"
END_MARKER = "<<<END DOCUMENT>>>"


@cache
def template(name: str) -> str:
    return (PROMPTS / f"{name}.txt").read_text()


def prompt_version() -> str:
    """One version for the prompt family: names and a hash of the three templates."""
    h = hashlib.sha256("".join(template(n) for n in (SYSTEM, JUDGE, SCORE)).encode()).hexdigest()[:10]
    return f"{JUDGE}+{SCORE}@{h}"


def fence(text: str, max_chars: int) -> str:
    """The document as it goes between the markers: truncated to max_chars, markers defused."""
    if len(text) > max_chars:
        text = text[:max_chars] + f"\n[... {len(text) - max_chars} more characters not shown]"
    return text.replace("<<<", "< < <")


def messages(req: Request, scale: tuple[int, int], max_chars: int, max_judgments: int) -> list[dict]:
    """Chat messages for one request."""
    values = {"format": req.doc.format, "document": fence(req.doc.text, max_chars), "scale_min": scale[0],
              "scale_max": scale[1], "max_judgments": max_judgments}
    if req.kind == "judge":
        user = Template(template(JUDGE)).substitute(values)
    else:
        anchors = [{"id": a.id, "name": a.name, "description": a.description, "example": a.exemplar_reason}
                   for a in req.anchors]
        user = Template(template(SCORE)).substitute(values, anchors=json.dumps(anchors, indent=1, ensure_ascii=False))
    return [{"role": "system", "content": template(SYSTEM).strip()}, {"role": "user", "content": user}]
