"""The files and folders that params name and a stage reads (a tokenizer, an encoder or base-model folder, a
local teacher model, another tool's manifest), and whether dvc.yaml lists them under that stage's deps.

Role: DVC sees a params value as a string. A model retrained in place, or a tokenizer.json replaced at the same
path, changes no string, so `dvc repro` skips the stage and every stage after it; the task cache would see the
change, but DVC never runs the stage. `mira stage <name>` (what dvc.yaml's commands run) warns when dvc.yaml's
entry for the stage does not list one. `mira init` writes none of them: its params name only bundled models, and an
edit of params.yaml is not written back into dvc.yaml.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import yaml

from mira_core.config import Params
from mira_core.layout import project_path

# values that name something bundled with mira or installed with it, not a path of the user's
BUNDLED = {"tokenizer": ("minilm",), "encoder": ("static", "minilm"), "static_source": ("minilm",),
           "teacher": ("rules-v1",)}


def param_paths(stage: str, params: Params, root: Path) -> list[Path]:
    """The existing local files and folders the params name that `stage` reads, as absolute paths (a relative
    value is read from the project folder, as the stages read it; a hub name in the local cache is not a path)."""
    found: list[Path] = []

    def local(value: str, bundled: tuple[str, ...] = ()) -> None:
        if value in bundled or value.startswith("package:"):  # a file of an installed package
            return
        path = project_path(value, root)
        if path.exists() and path not in found:
            found.append(path)

    d = params.distill
    kinds = {d.student, *(d.auto.candidates if d.student == "auto" else ())}
    if stage == "ingest" or (stage == "select" and params.select.materialize == "megatron"):
        local(params.ingest.tokenizer, BUNDLED["tokenizer"])  # counts every n_tokens; the Megatron export tokenizes
    if stage == "decontaminate":
        for bench in params.decontaminate.benchmarks:
            local(bench.path)
    e = params.embed
    if stage == "embed":
        local(e.encoder, BUNDLED["encoder"])
        if e.encoder == "static":
            local(e.static_source, BUNDLED["static_source"])
    if stage == "discover" or (stage == "distill" and "finetune" in kinds):
        # discover embeds the judgments, and finetune trains, with a transformer: a static encoder's source
        local(e.static_source if e.encoder == "static" else e.encoder, BUNDLED["encoder"])
    if stage == "distill" and "generative" in kinds:
        local(d.generative.model)
    if stage in ("discover", "label") and params.teacher.provider == "transformers":
        local(params.teacher.model, BUNDLED["teacher"])  # a local model folder
    if stage == "evaluate":
        for manifest in params.evaluate.manifests.values():
            local(manifest)
    return found


def _dvc_stages(root: Path) -> dict:
    """dvc.yaml's stages, or {} where there is none or DVC could not read it either (it reports that itself)."""
    dvc_yaml = root / "dvc.yaml"
    if not dvc_yaml.exists():
        return {}
    try:  # DVC reads it as UTF-8; one it cannot read (not UTF-8, a folder) is its own error to report
        doc = yaml.safe_load(dvc_yaml.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return {}
    stages = doc.get("stages") if isinstance(doc, dict) else None
    return stages if isinstance(stages, dict) else {}


def tracked_params(root: Path) -> list[tuple[str, str]] | None:
    """(stage, key) for each params.yaml key that dvc.yaml's plain stages track, or None where DVC must resolve the
    stages to tell (`${...}` values, `foreach` or `matrix` stages, a `wdir` whose stage reads the params.yaml there):
    the flows layer asks DVC then (`flows.params.missing_tracked_params`)."""
    stages = _dvc_stages(root)
    templated = "${" in json.dumps(stages, default=str) or any(
        isinstance(e, dict) and ({"foreach", "matrix"} & set(e) or str(e.get("wdir") or ".") not in (".", "./"))
        for e in stages.values())
    if templated:
        return None
    out = []
    for name, entry in stages.items():
        tracked = entry.get("params") if isinstance(entry, dict) else None
        for item in tracked if isinstance(tracked, list) else []:
            # a bare key is params.yaml's; {file: [keys]} names another file, or params.yaml itself
            keys = [item] if isinstance(item, str) else \
                [k for f, ks in item.items() if f == "params.yaml" for k in (ks or [])] if isinstance(item, dict) else []
            out += [(name, str(k)) for k in keys]
    return out


def dvc_stage_deps(root: Path, stage: str) -> list[str] | None:
    """The absolute paths dvc.yaml lists under `stage`'s deps, or None where there is no dvc.yaml, no such stage or
    nothing DVC would read either (DVC reports a broken dvc.yaml itself)."""
    entry = _dvc_stages(root).get(stage)
    deps = entry.get("deps") if isinstance(entry, dict) else None
    if not isinstance(deps, list):
        return None
    wdir = root / str(entry.get("wdir") or ".")
    # abspath, not resolve: a path that is a link under a listed folder is under it for DVC too
    return [os.path.abspath(wdir / (d if isinstance(d, str) else next(iter(d))))
            for d in deps if isinstance(d, str) or (isinstance(d, dict) and d)]


def listed(path: Path, deps: list[str]) -> bool:
    """Whether `path` is one of `deps` or under one of them."""
    p = os.path.abspath(path)
    return any(p == d or p.startswith(d.rstrip(os.sep) + os.sep) for d in deps)


def untracked_param_paths(stage: str, params: Params, root: Path) -> list[str]:
    """Warnings for the paths `param_paths` gives that dvc.yaml's `stage` does not list under deps."""
    deps = dvc_stage_deps(root, stage)
    if deps is None:
        return []
    return [f"params name {p}, which {stage} reads and {root / 'dvc.yaml'}'s {stage} stage does not list under deps: "
            f"`dvc repro` will not re-run {stage} when it changes in place. Add the path there."
            for p in param_paths(stage, params, root) if not listed(p, deps)]
