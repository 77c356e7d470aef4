"""Rubrics: a group's anchors, their content-hash version, reading, writing and diffing.

A rubric file is pretty-printed JSON, one per group, meant to be read by people: each anchor has a
name, a description, the exemplar reason (the judgment nearest its cluster's centroid) and its
support (how many judgments fell in its cluster).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from mira_core.errors import ConfigError
from mira_core.io import write_text
from mira_core.schema import LABEL_META


class Anchor(BaseModel):
    """One quality dimension of a group's rubric."""

    model_config = ConfigDict(frozen=True)
    id: str = Field(description="Stable within the rubric: a00, a01 ... (the score column name).")
    name: str
    description: str
    exemplar_reason: str
    support: int = Field(ge=0)


class Scale(BaseModel):
    model_config = ConfigDict(frozen=True)
    min: int = 1
    max: int = 5

    @model_validator(mode="after")
    def _ordered(self) -> Scale:
        # as teacher.scale_min and scale_max are; the students clip to it, and a reversed scale clipped every
        # prediction to `max`
        if self.min >= self.max:
            raise ValueError(f"scale min ({self.min}) must be below max ({self.max})")
        return self


class Rubric(BaseModel):
    """A group's anchors; `version` is a hash of everything else, so equal content means equal version."""

    model_config = ConfigDict(frozen=True)
    group: str
    version: str = ""
    teacher: str
    prompt_version: str
    scale: Scale = Scale()
    sources: list[str]
    anchors: list[Anchor]
    n_sampled: int = Field(0, description="Records sampled for judging.")
    n_records: int = Field(0, description="Records judged to discover the anchors (the sampled ones not lost "
                           "to a failure): how many judgments the rubric rests on.")
    n_points: int = Field(0, description="Judgment points clustered.")

    @model_validator(mode="after")
    def _anchor_ids_name_columns(self) -> Rubric:
        # each anchor id names a score column beside the label table's own (a rubric edited by hand): two alike
        # scored one column twice (the teacher refused every request), one named "split" or "record_id" overwrote
        # that column with its score
        ids = self.anchor_ids()
        if twice := sorted({i for i in ids if ids.count(i) > 1}):
            raise ValueError(f"anchor id(s) {', '.join(twice)} used more than once")
        if taken := [i for i in ids if i in LABEL_META]:
            raise ValueError(f"anchor id(s) {', '.join(taken)} name a column of the label table")
        return self

    def content_hash(self) -> str:
        body = self.model_dump(mode="json", exclude={"version"})
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:12]

    def with_version(self) -> Rubric:
        return self.model_copy(update={"version": self.content_hash()})

    def anchor_ids(self) -> list[str]:
        return [a.id for a in self.anchors]


def save_rubric(rubric: Rubric, path: Path) -> Path:
    """Write a rubric as indented JSON (anchors in order), atomically."""
    return write_text(json.dumps(rubric.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n", path)


def stored_body_hash(raw: dict) -> str:
    """The hash `content_hash` gave the rubric a file holds, read from the file's own JSON (version left out): equal
    to the stored version while the file is as written, whatever fields the model has gained since."""
    body = {k: v for k, v in raw.items() if k != "version"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:12]


def version_of(raw: dict, rubric: Rubric) -> str:
    """The version of a rubric read from a file: the stored one while the file is as written, else (edited by
    hand) its content's hash: labels carry the version, and distill refuses labels of another, so a kept version
    would pass labels made under the old anchors' wording (the teacher's cache keys the anchors' wording itself); a
    version recomputed from the model alone would re-version (and re-label) every rubric whenever the model gains a
    field."""
    return rubric.version if rubric.version and rubric.version == stored_body_hash(raw) else rubric.content_hash()


def parse_rubric(text: str) -> Rubric:
    """A rubric from its file's text, with its version as `version_of` says; pydantic's ValidationError when the
    text is not a rubric (`refusal` says why in a line)."""
    r = Rubric.model_validate_json(text)
    version = version_of(json.loads(text), r)
    return r if version == r.version else r.model_copy(update={"version": version})


def refusal(e: ValidationError) -> str:
    """Why a text is not a rubric, in a line: pydantic's own message repeats the input, which can be a whole file."""
    return "; ".join(f"{'.'.join(map(str, x['loc']))}: {x['msg']}" if x["loc"] else x["msg"] for x in e.errors()[:3])


def load_rubric(path: Path | str, text: str | None = None) -> Rubric:
    """Read a rubric file (or its text, when read from another revision), with its version as `version_of` says.

    The file is UTF-8, as `save_rubric` writes it, whatever the locale; one that is not a rubric (edited by hand,
    cut off) is a ConfigError naming it, not pydantic's traceback without the file."""
    try:
        return parse_rubric(text if text is not None else Path(path).read_text(encoding="utf-8"))
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not a rubric (not UTF-8 text, byte {e.start}); re-run the discover stage, "
                          "which writes it, or fix the file") from None
    except ValidationError as e:
        raise ConfigError(f"{path}: not a rubric ({refusal(e)}); re-run the discover stage, which writes it, "
                          "or fix the file") from None


def load_rubrics(folder: Path) -> dict[str, Rubric]:
    """Every `<group>.json` rubric in a folder, by group. A file whose `group` is not its name (a hand copy of
    g0.json saved as g1.json) is a ConfigError: keyed by its group it replaced g0's rubric here, while distill and
    score, which read a group's rubric by file name, used it for g1."""
    out = {}
    for path in sorted(Path(folder).glob("*.json")):
        r = load_rubric(path)
        if r.group != path.stem:
            raise ConfigError(f"{path}: holds the rubric of group {r.group!r}, not {path.stem!r} (a copy of "
                              f"{r.group}.json?); re-run the discover stage, which writes it, or fix the file")
        out[r.group] = r
    return out


RUBRIC_SETTINGS = ("sources", "teacher", "prompt_version", "scale")  # what made a rubric, besides its anchors
# what it rests on: in the version too, so a diff that left them out said "changed" and listed nothing
RUBRIC_COUNTS = ("n_sampled", "n_records", "n_points")


def diff_rubrics(a: dict[str, Rubric], b: dict[str, Rubric]) -> dict[str, dict]:
    """Per group: anchors added, removed and changed from `a` to `b`, matched by anchor name; and the settings that
    differ (`settings`: the group's sources first, as group names are positions: after a regroup "g1" may hold
    other sources)."""
    out: dict[str, dict] = {}
    for group in sorted(set(a) | set(b)):
        ra, rb = a.get(group), b.get(group)
        if ra is None or rb is None:
            out[group] = {"status": "added" if ra is None else "removed",
                          "anchors": [x.name for x in (rb or ra).anchors]}
            continue
        na, nb = {x.name: x for x in ra.anchors}, {x.name: x for x in rb.anchors}
        changed = []
        for name in sorted(set(na) & set(nb)):
            fields = [f for f in ("description", "exemplar_reason", "support") if getattr(na[name], f) != getattr(nb[name], f)]
            if fields:
                changed.append({"name": name, "fields": {f: [getattr(na[name], f), getattr(nb[name], f)] for f in fields}})
        settings = {f: [_plain(getattr(ra, f)), _plain(getattr(rb, f))] for f in (*RUBRIC_SETTINGS, *RUBRIC_COUNTS)
                    if getattr(ra, f) != getattr(rb, f)}
        out[group] = {
            "status": "same" if ra.version == rb.version else "changed",
            "versions": [ra.version, rb.version],
            "added": sorted(set(nb) - set(na)),
            "removed": sorted(set(na) - set(nb)),
            "changed": changed,
            "settings": settings,
        }
    return out


def _plain(v: object) -> object:
    return v.model_dump() if hasattr(v, "model_dump") else v


def _setting(v: object) -> str:
    if isinstance(v, list):
        return ", ".join(map(str, v)) or "(none)"
    if isinstance(v, dict):  # the scale
        return "..".join(str(x) for x in v.values())
    return str(v)


def diff_lines(d: dict) -> list[str]:
    """The lines under a group of a rubric diff: settings that differ, then anchors added, removed and changed."""
    lines = [f"  {f}: {_setting(x)} -> {_setting(y)}" for f, (x, y) in d.get("settings", {}).items()]
    lines += [f"  + {n}" for n in d["added"]] + [f"  - {n}" for n in d["removed"]]
    return lines + [f"  ~ {c['name']}: {', '.join(c['fields'])}" for c in d["changed"]]


def format_rubric(r: Rubric) -> str:
    """A rubric as text for a terminal."""
    lines = [f"group {r.group}  version {r.version}  teacher {r.teacher}  scale {r.scale.min}..{r.scale.max}",
             f"sources: {', '.join(r.sources)}  ({r.n_records} of {r.n_sampled} sampled records judged, "
             f"{r.n_points} judgment points)"]
    for x in r.anchors:
        lines.append(f"  {x.id}  {x.name}  (support {x.support})")
        lines.append(f"        {x.description}")
        lines.append(f"        e.g. {x.exemplar_reason}")
    return "\n".join(lines)


def format_diff(diff: dict[str, dict], rev_a: str, rev_b: str) -> str:
    """A rubric diff as text."""
    lines = [f"rubrics {rev_a} -> {rev_b}"]
    for group, d in diff.items():
        if d["status"] in ("added", "removed"):
            lines.append(f"group {group}: {d['status']} ({len(d['anchors'])} anchors)")
            continue
        lines.append(f"group {group}: {d['status']} ({d['versions'][0]} -> {d['versions'][1]})")
        lines += diff_lines(d)
    return "\n".join(lines)


def check_rubric_sources(rubric: Rubric, sources: list[str]) -> None:
    """Refuse a rubric discovered for other sources than the group holds now (`sources`: its judged members): after
    the group map (group.pins, group.k) or select.held_out_sources changed, `mira stage label` run alone judged a
    source on another group's rubric, and `score` and `select` alone ranked it with that group's student (`dvc
    repro` re-runs discover, which reads both)."""
    if sorted(rubric.sources) != sorted(sources):
        raise ConfigError(f"rubric {rubric.group} was discovered for the sources {sorted(rubric.sources)}, and the "
                          f"group now holds {sorted(sources)} (the groups or select.held_out_sources changed since): "
                          "run discover, label, distill and score again (`dvc repro` does)")
