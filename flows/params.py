"""The only reader of params.yaml: YAML in, a validated `Params` out, or a ConfigError with line numbers."""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from mira_core.config import Params, parse_params
from mira_core.config_errors import duplicate_keys, key_lines, yaml_problem, yaml_version_numbers
from mira_core.dvc_deps import tracked_params
from mira_core.errors import ConfigError


def project_root(root: Path) -> Path:
    """`root` resolved, or a ConfigError when it holds no params.yaml: the commands that read a project's outputs
    (compare, rubrics, summary) read every revision there as empty, and printed empty comparisons with exit 0."""
    root = Path(root).resolve()
    if not (root / "params.yaml").exists():
        raise ConfigError(f"{root / 'params.yaml'}: not found (run mira from the project folder, or pass --root)")
    return root


def load_params(path: Path | str = "params.yaml") -> Params:
    """Read and validate params.yaml."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: not found (run mira from the project folder, or pass --root)")
    try:
        data = path.read_bytes()
    except OSError as e:  # a folder named params.yaml, a file without read permission: a traceback before
        raise ConfigError(f"{path}: cannot be read ({e.strerror}); params.yaml must be a readable file") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:  # a Latin-1 "café" in a comment: a traceback naming no file or line before
        line = data[: e.start].count(b"\n") + 1
        raise ConfigError(f"{path}:{line}: not UTF-8 (byte 0x{data[e.start]:02x}); save params.yaml as UTF-8") from None
    try:
        raw = yaml.safe_load(text)
        node = yaml.compose(text)
    except yaml.YAMLError as e:
        raise ConfigError(yaml_problem(path, e, text)) from None
    problems = duplicate_keys(node, path) + yaml_version_numbers(node, path)
    if problems:
        raise ConfigError("\n".join(problems))
    params = parse_params(raw, str(path), key_lines(node) if node is not None else {})
    missing = missing_tracked_params(raw, path.parent)
    if missing:
        raise ConfigError(_missing_message(path, missing, params))
    return params


def missing_tracked_params(raw: object, root: Path) -> list[tuple[str, str]]:
    """(stage, key) for each params.yaml key that dvc.yaml's stages track and `raw` (params.yaml as read) leaves out.

    mira fills a missing knob with its default, but DVC does not: it stops with "Parameters ... are missing from
    'params.yaml'", having deleted the stage's outputs first (its metrics and plots, not cached, are gone). So a
    params.yaml that leaves out a section or key some stage tracks (a section deleted to take its defaults,
    `embed.static_source` left out beside `encoder: minilm`) is refused up front, by `mira params` and every stage."""
    tracked = tracked_params(root)
    out = []
    for name, key in _resolved(root) if tracked is None else tracked:
        node = raw
        for part in key.split("."):
            node = node.get(part, _ABSENT) if isinstance(node, dict) else _ABSENT
        if node is _ABSENT and (name, key) not in out:
            out.append((name, key))
    return out


_ABSENT = object()


def _resolved(root: Path) -> list[tuple[str, str]]:
    """(stage, key) tracked in the project's params.yaml, as DVC resolves the stages (about a second); none where DVC
    cannot read the project, which `dvc repro` then reports itself."""
    try:
        from dvc.dependency.param import ParamsDependency
        from dvc.repo import Repo

        params = os.path.abspath(root / "params.yaml")
        with Repo(str(root)) as repo:
            return [(stage.name, str(key)) for stage in repo.index.stages for dep in stage.deps
                    if isinstance(dep, ParamsDependency) and os.path.abspath(dep.fs_path) == params
                    for key in (dep.params or [])]
    except Exception:  # noqa: BLE001 (DVC's own errors, whatever their class: it names them at `dvc repro`)
        return []


def _missing_message(path: Path, missing: list[tuple[str, str]], params: Params) -> str:
    """Which tracked keys to add, each with the default mira would have used, as YAML to paste."""
    stages: dict[str, list[str]] = {}
    keys = {key for _, key in missing}
    for stage, key in missing:
        parts = key.split(".")
        parent = next((".".join(parts[:i]) for i in range(1, len(parts)) if ".".join(parts[:i]) in keys), None)
        by = stages.setdefault(parent or key, [])  # a key inside a missing section: the section says it
        if stage not in by:
            by.append(stage)
    values = params.model_dump(mode="json")
    lines = []
    for key, by in stages.items():
        value = values
        for part in key.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        # the section or key as YAML under its parents, indented as params.yaml nests it
        nested: object = value
        for part in reversed(key.split(".")):
            nested = {part: nested}
        snippet = yaml.safe_dump(nested, sort_keys=False, default_flow_style=False).rstrip()
        lines.append(f"- {key} (tracked by dvc.yaml's {', '.join(by)}); mira's default:\n"
                     + "\n".join(f"    {x}" for x in snippet.splitlines()))
    return (f"{path}: dvc.yaml tracks {'this key' if len(stages) == 1 else 'these keys'}, which params.yaml leaves out. "
            "mira would use its default, but `dvc repro` stops on a missing key, after deleting the stage's outputs. "
            "Add them (merged into a section already there):\n" + "\n".join(lines))
