"""The only reader of params.yaml: YAML in, a validated `Params` out, or a ConfigError with line numbers."""

from __future__ import annotations

from pathlib import Path

import yaml

from mira_core.config import Params, parse_params
from mira_core.errors import ConfigError


def _key_lines(node, prefix: str = "", out: dict[str, int] | None = None) -> dict[str, int]:
    """Map each dotted key path ('select.budget', 'sources[2].path') to its 1-based line in the file."""
    out = {} if out is None else out
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            key = f"{prefix}.{k.value}" if prefix else str(k.value)
            out[key] = k.start_mark.line + 1
            _key_lines(v, key, out)
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            key = f"{prefix}[{i}]"
            out[key] = v.start_mark.line + 1
            _key_lines(v, key, out)
    return out


def _yaml_problem(path: Path, e: yaml.YAMLError) -> str:
    """`file:line:column: not valid YAML: problem`, pointing at the file rather than PyYAML's "<unicode string>"."""
    mark = getattr(e, "problem_mark", None)
    if mark is None:
        return f"{path}: not valid YAML: {e}"
    context = getattr(e, "context", None)
    return (f"{path}:{mark.line + 1}:{mark.column + 1}: not valid YAML: {e.problem}"
            + (f" ({context})" if context else ""))


def load_params(path: Path | str = "params.yaml") -> Params:
    """Read and validate params.yaml."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: not found (run mira from the project folder, or pass --root)")
    text = path.read_text()
    try:
        raw = yaml.safe_load(text)
        node = yaml.compose(text)
    except yaml.YAMLError as e:
        raise ConfigError(_yaml_problem(path, e)) from None
    return parse_params(raw, str(path), _key_lines(node) if node is not None else {})
