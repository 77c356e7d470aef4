"""Students: fast scorers distilled from the teacher's anchor labels, one per group, predicting every anchor at once.

Role: `make_student` builds the kind `distill.student` names; `load_student` reopens any checkpoint
folder from its config.json alone. Three kinds, from cheapest to most accurate:
- linear (needs texts): hashed word and char n-grams + ridge; no encoder; ~3-4k docs/s per CPU core.
- head (needs embeddings): ridge or a small MLP on the frozen embeddings of the embed stage.
- finetune (needs texts): the encoder itself fine-tuned; CUDA advised.

Key decision: the student modules are imported on demand, so importing this package (or using the
linear or ridge students) never loads torch or transformers.
"""

from __future__ import annotations

from pathlib import Path

from mira_core.config import DistillParams, EmbedParams
from mira_core.errors import ConfigError
from mira_core.students.base import Inputs, Student, read_config, student_version

__all__ = ["KINDS", "Inputs", "Student", "load_student", "make_student", "student_version"]

KINDS = ("head", "linear", "finetune")


def make_student(p: DistillParams, anchors: list[str], scale: tuple[int, int], embed: EmbedParams,
                 encoder_fingerprint: dict | None) -> Student:
    """A fresh, unfitted student of the kind `p.student` names, for one group's anchors."""
    if not anchors:
        raise ConfigError("a student needs at least one anchor; this group's rubric has none")
    if p.student == "head":
        from mira_core.students.head import HeadStudent

        return HeadStudent(p.head, anchors, scale, seed=p.seed, encoder=encoder_fingerprint)
    if p.student == "linear":
        from mira_core.students.linear import LinearStudent

        return LinearStudent(p.linear, anchors, scale)
    if p.student == "finetune":
        from mira_core.students.finetune import FinetuneStudent

        return FinetuneStudent(p.finetune, anchors, scale, encoder=embed.encoder, seed=p.seed)
    raise ConfigError(f"distill.student = {p.student!r}: not one of {', '.join(KINDS)}")


def load_student(folder: Path) -> Student:
    """The student saved in `folder`, of whichever kind its config.json names."""
    folder = Path(folder)
    if not (folder / "config.json").is_file():
        raise ConfigError(f"{folder}: no config.json; not a student checkpoint")
    kind = read_config(folder).get("kind")
    if kind == "head":
        from mira_core.students.head import HeadStudent

        return HeadStudent.load(folder)
    if kind == "linear":
        from mira_core.students.linear import LinearStudent

        return LinearStudent.load(folder)
    if kind == "finetune":
        from mira_core.students.finetune import FinetuneStudent

        return FinetuneStudent.load(folder)
    raise ConfigError(f"{folder}: config.json names student kind {kind!r}; known kinds: {', '.join(KINDS)}")
