"""Students: fast scorers distilled from the teacher's anchor labels, one per group, predicting every anchor at once.

Role: `make_student` builds the kind `distill.student` names; `load_student` reopens any checkpoint
folder from its config.json alone. The kinds:
- linear (needs texts): hashed word and char n-grams + ridge; no encoder; ~3-4k docs/s per CPU core.
- head (needs embeddings): ridge or a small MLP on the frozen embeddings of the embed stage.
- trees (needs embeddings): boosted trees on the document statistics and a few embedding axes.
- finetune (needs texts): the encoder itself fine-tuned; CUDA advised.
- generative (needs texts): a causal LM fine-tuned to write each anchor's score and rationale; CUDA advised.
- auto (needs both): per anchor, the best of `distill.auto.candidates`, chosen by cross-validation on train.
Every kind but finetune and generative also reads the document statistics the embed stage computed (mira_core/docstats.py).

Key decision: the student modules are imported on demand, so importing this package (or using the
linear or ridge students) never loads torch or transformers.
"""

from __future__ import annotations

from pathlib import Path

from mira_core.config import DistillParams, EmbedParams
from mira_core.errors import ConfigError
from mira_core.students.base import Inputs, Student, read_config, student_version

__all__ = ["KINDS", "Inputs", "Student", "load_student", "make_student", "student_version"]

KINDS = ("head", "linear", "trees", "finetune", "generative", "auto")


def make_student(p: DistillParams, anchors: list[str], scale: tuple[int, int], embed: EmbedParams,
                 encoder_fingerprint: dict | None) -> Student:
    """A fresh, unfitted student of the kind `p.student` names, for one group's anchors."""
    if not anchors:
        raise ConfigError("a student needs at least one anchor; this group's rubric has none")
    return _make(p.student, p, anchors, scale, embed, encoder_fingerprint)


def _make(kind: str, p: DistillParams, anchors: list[str], scale: tuple[int, int], embed: EmbedParams,
          encoder_fingerprint: dict | None) -> Student:
    if kind == "head":
        from mira_core.students.head import HeadStudent

        return HeadStudent(p.head, anchors, scale, seed=p.seed, encoder=encoder_fingerprint)
    if kind == "linear":
        from mira_core.students.linear import LinearStudent

        return LinearStudent(p.linear, anchors, scale)
    if kind == "trees":
        from mira_core.students.trees import TreesStudent

        return TreesStudent(p.trees, anchors, scale, seed=p.seed)
    if kind == "finetune":
        from mira_core.students.finetune import FinetuneStudent

        # a static encoder cannot be fine-tuned: the transformer it was distilled from is
        encoder = embed.static_source if embed.encoder == "static" else embed.encoder
        return FinetuneStudent(p.finetune, anchors, scale, encoder=encoder, seed=p.seed)
    if kind == "generative":
        from mira_core.students.generative import GenerativeStudent

        return GenerativeStudent(p.generative, anchors, scale, seed=p.seed)
    if kind == "auto":
        from mira_core.students.auto import AutoStudent

        if "auto" in p.auto.candidates:
            raise ConfigError("distill.auto.candidates cannot name auto itself")
        return AutoStudent(p, anchors, scale, lambda k: _make(k, p, anchors, scale, embed, encoder_fingerprint))
    raise ConfigError(f"distill.student = {kind!r}: not one of {', '.join(KINDS)}")


def load_student(folder: Path) -> Student:
    """The student saved in `folder`, of whichever kind its config.json names. Settings that this version's params
    do not take (a checkpoint saved by a newer mira, a hand-edited file) are a ConfigError naming the folder and the
    key, not pydantic's bare error."""
    from pydantic import ValidationError

    try:
        return _load(Path(folder))
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{folder}: config.json's settings do not fit this version of mira ({where}: {first['msg']}); "
                          "re-run distill to save the student again") from None


def _load(folder: Path) -> Student:
    if not (folder / "config.json").is_file():
        raise ConfigError(f"{folder}: no config.json; not a student checkpoint")
    kind = read_config(folder).get("kind")
    if kind == "head":
        from mira_core.students.head import HeadStudent

        return HeadStudent.load(folder)
    if kind == "linear":
        from mira_core.students.linear import LinearStudent

        return LinearStudent.load(folder)
    if kind == "trees":
        from mira_core.students.trees import TreesStudent

        return TreesStudent.load(folder)
    if kind == "finetune":
        from mira_core.students.finetune import FinetuneStudent

        return FinetuneStudent.load(folder)
    if kind == "generative":
        from mira_core.students.generative import GenerativeStudent

        return GenerativeStudent.load(folder)
    if kind == "auto":
        from mira_core.students.auto import AutoStudent

        return AutoStudent.load(folder, load_student)
    raise ConfigError(f"{folder}: config.json names student kind {kind!r}; known kinds: {', '.join(KINDS)}")
