"""The only reader of params.yaml: YAML in, a validated `Params` out, or a ConfigError with line numbers."""

from __future__ import annotations

from pathlib import Path

import yaml

from mira_core.config import Params, parse_params
from mira_core.config_errors import duplicate_keys, key_lines, yaml_problem, yaml_version_numbers
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
    return parse_params(raw, str(path), key_lines(node) if node is not None else {})
