"""How a bad params.yaml is told: every problem as `file:line: key = value: problem`, one line each.

The params model (config.py) says what is valid; this module says what is wrong, where: the line of
each key in the YAML file (`key_lines`), a YAML syntax error pointing at the file (`yaml_problem`),
and pydantic's errors turned into lines that name the key, the value, the line and, for a typo, the
nearest known key (`format_validation_error`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import yaml
from pydantic import BaseModel

from mira_core.redact import redact_credentials


def key_lines(node, prefix: str = "", out: dict[str, int] | None = None, _path: tuple[int, ...] = ()
              ) -> dict[str, int]:
    """Map each dotted key path ('select.budget', 'sources[2].path') to its 1-based line in the file."""
    out = {} if out is None else out
    if id(node) in _path:  # an alias of a node that holds it (`a: &a [*a]`): no end to walk to
        return out
    inner = (*_path, id(node))
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            key = f"{prefix}.{k.value}" if prefix else str(k.value)
            out[key] = k.start_mark.line + 1
            for alias in _key_aliases(k):  # how pydantic's error names a key YAML reads as no string
                out.setdefault(f"{prefix}.{alias}" if prefix else alias, k.start_mark.line + 1)
            key_lines(v, key, out, inner)
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            key = f"{prefix}[{i}]"
            out[key] = v.start_mark.line + 1
            key_lines(v, key, out, inner)
    return out


def _key_aliases(k) -> list[str]:
    """A scalar key as loaded, when that is no string: `null`/`~` is None, `yes`/`true` True (which pydantic names
    1), `0x1F` 31. Without these, an error about such a key fell back to its parent's line."""
    if not isinstance(k, yaml.ScalarNode) or k.tag == "tag:yaml.org,2002:str":
        return []
    try:
        value = yaml.constructor.SafeConstructor().construct_object(k)
    except yaml.YAMLError:
        return []
    if isinstance(value, bool):
        return [str(value), str(int(value))]
    return [str(value)]


def _nodes(node, prefix: str = "", _walked: set[int] | None = None) -> Iterator[tuple[str, object]]:
    """(dotted key, node) of every node under `node`, each once: a node reached again through an alias (`*name`,
    `<<: *name`) is yielded where it is written, and one that holds itself (`a: &a [*a]`) ends the walk."""
    walked = set() if _walked is None else _walked
    if id(node) in walked:
        return
    walked.add(id(node))
    yield prefix, node
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            yield from _nodes(v, f"{prefix}.{k.value}" if prefix else str(k.value), walked)
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            yield from _nodes(v, f"{prefix}[{i}]", walked)


def duplicate_keys(node, path: Path) -> list[str]:
    """`file:line: key: set twice ...` for each key a mapping repeats: YAML loaders keep the last silently, so an
    edit to the first copy would do nothing. A node reached again through an alias is checked once, where it is
    written."""
    out: list[str] = []
    for prefix, mapping in _nodes(node):
        if not isinstance(mapping, yaml.MappingNode):
            continue
        seen: dict[tuple[str, str], int] = {}
        for k, _ in mapping.value:
            line = k.start_mark.line + 1
            if (k.tag, k.value) in seen:  # by tag too: `1:` and `'1':` are two keys
                key = f"{prefix}.{k.value}" if prefix else str(k.value)
                out.append(f"{path}:{line}: {key}: set twice (lines {seen[k.tag, k.value]} and {line}); YAML "
                           "would keep the last one silently, so delete one")
            seen.setdefault((k.tag, k.value), line)
    return out


# plain scalars that YAML 1.1 (PyYAML, mira's reader) and DVC's YAML 1.2 reader (ruamel: `dvc params diff`,
# `dvc exp show`) read as different values; both read `0b11`, `1_000`, `-07` and `1e-5` alike
_YAML11_ONLY = ((re.compile(r"[-+]?0[0-7_]+"), "an octal number to YAML 1.1 (mira reads {value}) and a decimal one to "
                 "DVC's YAML 1.2 (it reads {decimal}); write {value} or {decimal}"),
                (re.compile(r"[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?"), "a base-60 number to YAML 1.1 (mira "
                 "reads {value}) and a string to DVC's YAML 1.2; write {value}, or quote it if it is text"))


def yaml_version_numbers(node, path: Path) -> list[str]:
    """`file:line: key = text: ...` for each value mira and DVC read differently (`010`, `1:30`).

    mira reads params.yaml with PyYAML (YAML 1.1) and DVC with ruamel (YAML 1.2): such a value would run as one
    number and show in `dvc params diff` as another, so it is refused rather than read either way."""
    out: list[str] = []
    for prefix, scalar in _nodes(node):
        if not (isinstance(scalar, yaml.ScalarNode) and scalar.style is None
                and scalar.tag.endswith((":int", ":float"))):
            continue
        for pattern, problem in _YAML11_ONLY:
            if pattern.fullmatch(scalar.value):
                value = yaml.constructor.SafeConstructor().construct_object(scalar)
                digits = scalar.value.replace("_", "")
                decimal = int(digits) if re.fullmatch(r"[-+]?[0-9]+", digits) else None
                if decimal != value:  # 00, -07: the same number either way
                    out.append(f"{path}:{scalar.start_mark.line + 1}: {prefix} = {scalar.value}: "
                               + problem.format(value=value, decimal=decimal))
                break
    return out


def yaml_problem(path: Path, e: yaml.YAMLError, text: str | None = None) -> str:
    """`file:line:column: not valid YAML: problem`, pointing at the file rather than PyYAML's "<unicode string>".
    A character YAML refuses (a NUL, a control character) is a ReaderError with no mark, only its offset in `text`:
    its line and column are counted from there."""
    if isinstance(e, yaml.reader.ReaderError) and text is not None:
        at, ch = e.position, e.character  # the code point (an int; a byte string's reader gives a byte)
        code = ch if isinstance(ch, int) else ord(ch)
        line, column = text.count("\n", 0, at) + 1, at - (text.rfind("\n", 0, at) + 1) + 1
        return f"{path}:{line}:{column}: not valid YAML: character #x{code:04x} is not allowed ({e.reason})"
    mark = getattr(e, "problem_mark", None)
    if mark is None:
        return f"{path}: not valid YAML: {e}"
    context = getattr(e, "context", None)
    return (f"{path}:{mark.line + 1}:{mark.column + 1}: not valid YAML: {e.problem}"
            + (f" ({context})" if context else ""))


def format_validation_error(e, raw: dict, where: str, lines: dict[str, int], model: type[BaseModel]) -> str:
    """Turn pydantic's errors into `file:line: key = value: problem`, one line per problem.

    One problem is one line; several get a `file: N invalid settings` header with the lines indented under it.
    """
    problems = [_problem(one, raw, where, lines, model) for err in e.errors() for one in _each(err)]
    if len(problems) == 1:
        return problems[0]
    return "\n".join([f"{where}: {len(problems)} invalid settings", *(f"  {p}" for p in problems)])


def _each(err: dict) -> list[dict]:
    """A check's error, one per problem: a check that found several (Params' checks across keys) gives them one to a
    line of its message, and each gets its own `file:line: problem` line."""
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] != "value_error" or "\n" not in msg:
        return [err]
    return [{**err, "msg": f"Value error, {part}"} for part in msg.split("\n")]


def _problem(err: dict, raw: dict, where: str, lines: dict[str, int], model: type[BaseModel]) -> str:
    loc: list = []
    # a mapping key YAML read as no string (`1: x`, `null: x`): pydantic puts the key itself last in loc, marked
    # with a '[key]' part after it (or the error type invalid_key), and an int there read as a list index:
    # `select.weights[1].[key]` on the line of `weights`, not `select.weights.1` on its own line
    about_key = err["type"] == "invalid_key"
    for p in err["loc"]:
        if isinstance(p, str) and p.startswith(("function-after", "literal[")):
            continue
        if p == "[key]":
            about_key = True
            continue
        if p in _TYPE_PARTS and _lookup(raw, [*loc, p]) is _MISSING:  # `k: int | "auto"` names its branch: `int`
            continue
        loc.append(p)
    if about_key and loc:
        loc[-1] = str(loc[-1])  # a key, so `.1` rather than `[1]`, and the key's own line in `lines`
    key = _dotted(loc)
    line = _nearest_line(loc, lines)
    # a section's own check (`budget = true`, `k_min (3) is larger ...`) fails at the section, and its message names
    # the knobs it is about, first the one to change: the line is the first of them the file sets, not the section
    # header's, which may be 30 lines above
    section = _model_at(loc, model) if err["type"] == "value_error" else None
    if section is not None:
        named = [_dotted([*loc, w]) for w in _NAME.findall(err["msg"].removeprefix("Value error, "))
                 if w in section.model_fields]
        line = next((lines[k] for k in named if k in lines), line)
    prefix = f"{where}:{line}" if line else where
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "invalid_key":  # a section's key (`select: {2: y}`): no knob has a name like that
        msg = _suggest(loc, model)
    elif about_key:  # a name of a mapping knob: pydantic's "Input should be a valid string" reads as if the value were wrong
        msg = "a key must be a string here; quote it in params.yaml"
    elif err["type"] == "extra_forbidden":
        msg = _suggest(loc, model)
    elif err["type"] == "missing":
        msg = "required, but missing"
    value = _lookup(raw, loc)
    # a whole section or list would bury the problem at the end of a long line: the key already says where; a
    # key variable's value is never shown, since a bad one is most often the key itself pasted in
    # An unknown key that looks like a secret's (`api_key` for `api_key_env`, `token`) hides its value too, and a
    # value shown has its URL credentials starred (`base_urll: https://user:pw@host`): errors reach CI logs.
    secret = bool(loc) and isinstance(loc[-1], str) and (
        loc[-1] in NEVER_SHOWN or (err["type"] == "extra_forbidden" and bool(_SECRET_KEY.search(loc[-1]))))
    hidden = value is _MISSING or isinstance(value, dict | list) or secret
    # starred before the cut: a cut inside a long `user:password` took the '@' away, and with it the starring
    shown = "" if hidden else f" = {_short(redact_credentials(value) if isinstance(value, str) else value)}"
    if not key:  # a check across sections (a held-out source that is no source ...): its message names the keys
        named = _LEADING_KEY.match(msg)
        line = _line_of(named.group(1), lines) if named else None
        return f"{where}:{line}: {msg}" if line else f"{prefix}: {msg}"
    return f"{prefix}: {key}{shown}: {msg}"


_NAME = re.compile(r"[A-Za-z_]\w*")  # a word of a section's own check's message: a knob, where it is one


def _model_at(loc, root: type[BaseModel]) -> type[BaseModel] | None:
    """The params section `loc` points at (`select`, `sources[1]`, `distill.head`), or None where it is a value."""
    model: type[BaseModel] | None = root
    for p in loc:
        if isinstance(p, int):
            continue
        field = model.model_fields.get(p) if model is not None else None
        model = _model_of(field.annotation) if field else None
    return model


# the key a cross-section check's message opens with ('select.held_out_sources names ...', 'sources[1].name ...')
_LEADING_KEY = re.compile(r"([A-Za-z_]\w*(?:\.[A-Za-z_]\w*|\[\d+\])+)")


def _line_of(dotted: str, lines: dict[str, int]) -> int | None:
    """The line of a dotted key, else of the nearest key above it that the file has."""
    while dotted:
        if dotted in lines:
            return lines[dotted]
        dotted = re.sub(r"(\.[A-Za-z_]\w*|\[\d+\])$", "", dotted) if re.search(r"[.\[]", dotted) else ""
    return None


def _short(value, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit - 3]}..."


_MISSING = object()
NEVER_SHOWN = {"api_key_env"}  # keys whose value an error message never repeats
_SECRET_KEY = re.compile(r"key|token|secret|passw|pwd|auth|credential", re.I)  # ... nor of any key named like these
_TYPE_PARTS = {"int", "float", "str", "bool"}  # the branch names pydantic adds to a union's error location
# Keys that were renamed: (model class, old key) -> the new key, so an older params.yaml is told what to write.
RENAMED = {("SelectParams", "tau_spearman"): "tau_rank"}


def _dotted(loc) -> str:
    s = ""
    for p in loc:
        s += f"[{p}]" if isinstance(p, int) else (f".{p}" if s else str(p))
    return s


def _lookup(raw, loc):
    cur = raw
    for p in loc:
        try:
            cur = cur[p]
        except (KeyError, IndexError, TypeError):
            return _MISSING
    return cur


def _nearest_line(loc, lines: dict[str, int]) -> int | None:
    for n in range(len(loc), 0, -1):
        key = _dotted(loc[:n])
        if key in lines:
            return lines[key]
    return None


def _suggest(loc, root: type[BaseModel]) -> str:
    """Why a key is unknown: renamed (and to what), or a typo with the closest known key ('budjet': 'budget')."""
    import difflib

    model: type[BaseModel] | None = root
    for p in loc[:-1]:
        if model is None or isinstance(p, int):
            continue
        field = model.model_fields.get(p)
        ann = field.annotation if field else None
        model = _model_of(ann)
    if model is None:
        return "unknown key (a typo?)"
    if (model.__name__, str(loc[-1])) in RENAMED:
        return f"renamed: write {RENAMED[model.__name__, str(loc[-1])]!r} instead"
    close = difflib.get_close_matches(str(loc[-1]), list(model.model_fields), n=1)
    return "unknown key (a typo?)" + (f"; did you mean {close[0]!r}?" if close else
                                      f"; known keys: {', '.join(model.model_fields)}")


def _model_of(ann) -> type[BaseModel] | None:
    import typing

    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return ann
    for a in typing.get_args(ann):
        m = _model_of(a)
        if m is not None:
            return m
    return None
