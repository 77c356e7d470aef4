"""Everything the report shows, read once from a project root into one plain value.

Each input is optional: a stage that has not run leaves its field None (or empty) and the section
that needs it says so, instead of the whole report failing; a file that is there but holds no JSON
object (a merge conflict's markers, a cut-off write) is a ConfigError naming it and the stage to
re-run. Record-level data is read only where a figure needs it (the MIRA manifest's score column,
for the histograms); everything else comes from the small metrics files. A later input
(metrics/evaluate.json) is one more optional field: add the file to `FILES`, a field here, and a
section renderer that returns None while it is absent.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import polars as pl

import mira_core
from mira_core.errors import JSON_REFUSED, ConfigError, SchemaError, json_refusal
from mira_core.io import unreadable_parquet
from mira_core.layout import Layout
from mira_core.schema import CONTAMINATED, GROUPS, MANIFEST, MASK, read_checked
from mira_core.stages import writer_of

# Where each input lives, relative to the project root; section notes name these paths.
FILES = {
    "ingest": "metrics/ingest.json",
    "dedup": "metrics/dedup.json",
    "decontaminate": "metrics/decontaminate.json",
    "contaminated": "data/decontaminate/dropped.parquet",
    "group": "metrics/group.json",
    "discover": "metrics/discover.json",
    "label": "metrics/label.json",
    "students": "metrics/students.json",
    "select": "metrics/select.json",
    "evaluate": "metrics/evaluate.json",
    "groups": "data/groups/groups.parquet",
    "similarity": "data/groups/similarity.png",
    "rubrics": "data/rubrics/<group>.json",
    "selection": "data/selection",
    "mira": "data/selection/mira/manifest.parquet",
    "mask": "data/selection/mask.parquet",
    "params": "params.yaml",
}
# The stage that writes each input, for "run the X stage" hints, from the stage records.
WRITER = {k: writer_of(v.replace("<group>", "g0")) or "(none: params.yaml)" for k, v in FILES.items()}
PACKAGES = ("prefect", "dvc", "mlflow", "polars", "torch", "transformers")
MANIFEST_COLUMNS = ["source", "group", "score", "kept", "reason"]


@dataclass(frozen=True)
class ReportInputs:
    """What one report is rendered from; every field may be missing (None or empty)."""

    ingest: dict | None = None
    dedup: dict | None = None
    decontaminate: dict | None = None
    contaminated: pl.DataFrame | None = None  # record_id, source, benchmark, item, n_matches: every match
    # a generative student's rationales for a few kept and dropped records: group, record_id, kept, score, rationales
    rationales: pl.DataFrame | None = None
    group: dict | None = None
    discover: dict | None = None
    label: dict | None = None
    students: dict | None = None
    select: dict | None = None
    evaluate: dict | None = None
    groups: pl.DataFrame | None = None  # source, group
    mira: pl.DataFrame | None = None  # the MIRA manifest: source, group, score, kept, reason
    mask: pl.DataFrame | None = None  # the reliability mask: group, source, anchor, name, mae, spearman, somers_d, on, why
    rubrics: dict[str, dict] = field(default_factory=dict)  # group -> rubric JSON
    similarity_png: bytes | None = None
    manifests: dict[str, str] = field(default_factory=dict)  # method -> manifest path, relative to the root
    params_text: str | None = None
    versions: dict[str, str | None] = field(default_factory=dict)  # package -> version (None: not installed)

    def missing(self) -> list[str]:
        """The relative paths of the inputs that are absent."""
        absent = [k for k in ("ingest", "dedup", "decontaminate", "group", "discover", "label", "students", "select",
                              "groups", "mira", "mask", "params") if getattr(self, _field(k)) is None]
        if self.similarity_png is None:
            absent.append("similarity")
        if not self.rubrics:
            absent.append("rubrics")
        return [FILES[k] for k in absent]


def _field(key: str) -> str:
    return "params_text" if key == "params" else key


JSON_TYPES = {list: "an array", str: "a string", int: "a number", float: "a number", bool: "true or false",
              type(None): "null"}


def _rubric(path: Path, root: Path) -> dict:
    """A rubric file as read_object reads it, with the version the stages read (`rubric.version_of`: a file edited
    by hand is its content's hash, which the students re-fitted on it carry)."""
    from pydantic import ValidationError

    from mira_core.rubric import Rubric, version_of

    raw = read_object(path, root)
    try:
        return {**raw, "version": version_of(raw, Rubric.model_validate(raw))}
    except ValidationError:  # not a rubric the stages could read either: shown as it is
        return raw


def read_object(path: Path, root: Path) -> dict:
    """A stage's JSON file (metrics, a rubric) as the object it must hold.

    Not JSON (a merge conflict's markers, a cut-off write) or not an object is a ConfigError naming the file,
    the line, and the stage to re-run, not a traceback from deep inside a section renderer.
    """
    rel = path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)
    stage = writer_of(rel)
    rerun = (f"re-run the {stage} stage, which writes it (mira stage {stage}, or dvc repro {stage})" if stage
             else "re-run the stage that writes it")
    try:
        text = path.read_text(encoding="utf-8")
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        conflict = (" it holds git merge-conflict markers (<<<<<<<, =======, >>>>>>>): keep one side, or"
                    if re.search(r"^(<{7}|={7}|>{7})", text, re.M) else "")
        raise ConfigError(f"{path}: not valid JSON (line {e.lineno}, column {e.colno}: {e.msg});{conflict} "
                          f"{rerun}") from None
    except JSON_REFUSED as e:  # not UTF-8; numbers or nesting past Python's limits
        raise ConfigError(f"{path}: not readable as JSON ({json_refusal(e)}); {rerun}") from None
    if not isinstance(obj, dict):
        raise ConfigError(f"{path}: holds {JSON_TYPES.get(type(obj), type(obj).__name__)}, not a JSON object; "
                          f"{rerun}")
    return obj


def _json(path: Path, root: Path) -> dict | None:
    return read_object(path, root) if path.is_file() else None


def _parquet(path: Path, schema: dict, columns: list[str] | None = None) -> pl.DataFrame | None:
    return read_checked(path, schema, columns) if path.is_file() else None


def _columns(path: Path) -> list[str]:
    """The column names of a Parquet file; one polars cannot read (truncated, damaged) is named, where polars' own
    error names no file and failed the report with a traceback."""
    try:
        return pl.scan_parquet(path, glob=False).collect_schema().names()
    except pl.exceptions.PolarsError as e:
        raise SchemaError(unreadable_parquet([path], e)) from e


def _mask(path: Path) -> pl.DataFrame | None:
    """The reliability mask; one written before the mask read Somers' D has no such column, and still reads."""
    if not path.is_file():
        return None
    names = _columns(path)
    return read_checked(path, MASK, [c for c in MASK if c != "somers_d" or c in names])


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str | None]:
    """Installed versions from the package metadata (nothing is imported), mira's own first."""
    out: dict[str, str | None] = {"mira": mira_core.__version__}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


RATIONALE_SAMPLE = 3  # records per group and side (the best kept, the worst dropped) whose rationales are shown


def rationale_samples(layout: Layout, n: int = RATIONALE_SAMPLE) -> pl.DataFrame | None:
    """For groups whose scores carry rationales (a generative student): the n best kept and n worst dropped records
    of MIRA's manifest with the student's rationales; None when no score file has them. Reads the manifest's
    ids lazily and only the matching rows of the score files."""
    manifest = layout.selection / "mira" / "manifest.parquet"
    files = [f for f in sorted(layout.scores.glob("*/*/part-*.parquet")) if "rationales" in _columns(f)]
    if not files or not manifest.is_file():
        return None
    groups = sorted({f.parent.parent.name for f in files})
    m = pl.scan_parquet(manifest, glob=False).filter(pl.col("group").is_in(groups) & pl.col("score").is_not_nan())
    # record_id breaks ties: on equal scores the manifest's row order, and so the line order of the sources, picked
    best = (m.filter(pl.col("kept")).sort(["score", "record_id"], descending=[True, False])
            .group_by("group", maintain_order=True).head(n))
    worst = (m.filter(pl.col("reason").is_in(["over_budget", "below_threshold"])).sort(["score", "record_id"])
             .group_by("group", maintain_order=True).head(n))
    picked = pl.concat([best, worst]).select("group", "record_id", "kept", "score").collect()
    # one scan per file: the files of groups with different anchors have different columns, and a scan of them
    # all takes the first file's schema and fails on the others' extra anchor columns
    why = (pl.concat([pl.scan_parquet(f, glob=False).select("record_id", "rationales") for f in files], how="vertical_relaxed")
           .filter(pl.col("record_id").is_in(picked["record_id"].implode())).collect())
    return picked.join(why, on="record_id", how="left").sort(["group", "kept", "score", "record_id"],
                                                             descending=[False, True, True, False])


def load_inputs(layout: Layout) -> ReportInputs:
    """Read every report input under `layout.root`; a missing file leaves its field empty."""
    root = layout.root
    selection = root / FILES["selection"]
    manifests = {}
    if selection.is_dir():  # MIRA first, then the baselines in name order
        found = sorted(d.name for d in selection.iterdir() if (d / "manifest.parquet").is_file())
        manifests = {m: f"{FILES['selection']}/{m}/manifest.parquet"
                     for m in sorted(found, key=lambda m: (m != "mira", m))}
    groups = _parquet(layout.group_map(), GROUPS, ["source", "group"])
    rubrics = {}
    if layout.rubrics.is_dir():
        rubrics = {p.stem: _rubric(p, root) for p in sorted(layout.rubrics.glob("*.json"))}
    png = layout.groups / "similarity.png"
    params = root / FILES["params"]
    return ReportInputs(
        ingest=_json(layout.metrics_file("ingest"), root), group=_json(layout.metrics_file("group"), root),
        dedup=_json(layout.metrics_file("dedup"), root),
        decontaminate=_json(layout.metrics_file("decontaminate"), root),
        contaminated=_parquet(root / FILES["contaminated"], CONTAMINATED),
        discover=_json(layout.metrics_file("discover"), root), label=_json(layout.metrics_file("label"), root),
        students=_json(layout.metrics_file("students"), root), select=_json(layout.metrics_file("select"), root),
        evaluate=_json(layout.metrics_file("evaluate"), root), groups=groups,
        mira=_parquet(root / FILES["mira"], MANIFEST, MANIFEST_COLUMNS), mask=_mask(root / FILES["mask"]),
        rubrics=rubrics, similarity_png=png.read_bytes() if png.is_file() else None, manifests=manifests,
        rationales=rationale_samples(layout),
        # UTF-8, as the params reader takes it, whatever the locale: an ASCII one failed the report on a comment
        # or title with an accent; it is only shown, so a byte that is not UTF-8 shows as U+FFFD
        params_text=params.read_text(encoding="utf-8", errors="replace") if params.is_file() else None,
        versions=package_versions(),
    )
