"""`mira init`: a project folder for the user's own data, made from the installed package alone.

The folder gets a params.yaml (mira's defaults, from the `Params` model, with each knob's description as a
comment, and the user's sources), a dvc.yaml made from the stage records of `mira_core.stages` (no demo
corpus; ingest depends on the user's source paths), a .gitignore, a short README, and `git init` +
`dvc init`. Nothing in it names the repository: the code, the prompts, the rules teacher and the bundled
MiniLM all come from the installed `mira`.

Where a source's format or field names are not given, `guess_format` reads its first records and proposes
them (see `Guess.why` for what it saw):

- a folder written by `datasets`' save_to_disk, or a folder of *.parquet shards (at least half of its files:
  a README may sit beside them): reader hf_dataset; any other folder (a repository with a Parquet test fixture
  among its code too): reader folder (one record per file), code or text by the files' extensions;
- records with an OpenAI-style messages list (`messages`, `conversations` ... of {role, content}): chat,
  or agent when a message has tool_calls, a tool/function role appears, or the record has `tools`;
- a question-like and an answer-like field (`question`/`prompt`/`instruction`/`problem`/`query`/`input` and
  `answer`/`response`/`output`/`completion`/`solution`): qa;
- a text-like field (`text`, `content`, `code`, `body` ...): code when the field is `code`, a path field's
  extension or a language field names code, or most lines look like code; text otherwise;
- and, for records, `id_field` when every record read has an `id` (`_id`, `uuid`, `record_id`) that is a
  string or an integer, no two alike.

Field names given with `--field NAME.KEY=VALUE` (`FieldArg`) are taken as they are, before any guess, and a
source whose fields are given but not its format is told by them (question_field: qa ...). A source it cannot
tell fails with a ConfigError naming the file and what it saw there, and the options that would tell it.

A source on object storage (`s3://bucket/key`, a glob of keys, a prefix; mira_core/ingest/remote.py) is
guessed the same way from its first objects, its URL kept as written, and is an external DVC dep of ingest
when DVC has the plugin for its protocol (dvc-s3, installed with mira, for s3://); see `REMOTE_DVC_PLUGINS`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import uuid
from collections import Counter
from dataclasses import dataclass, field, replace
from glob import escape as glob_escape
from glob import glob
from itertools import islice
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ValidationError

from mira_core.config import FORMATS, JSONL_SUFFIXES, Params, SelectParams, SourceSpec, parse_params
from mira_core.errors import ConfigError, InvariantError
from mira_core.ingest.render import SHAREGPT_ROLES, TOOL_BLOCKS
from mira_core.io import atomic_path, is_hidden, tree_files, walk_files
from mira_core.layout import Layout
from mira_core.redact import redact_credentials
from mira_core.stages import STAGES, Stage

SAMPLE = 20  # records read to guess a source's format
MESSAGES_FIELDS = ("messages", "conversation", "conversations", "dialog", "dialogue", "chat", "turns")
QUESTION_FIELDS = ("question", "prompt", "instruction", "problem", "query", "input")
CONTEXT_FIELDS = ("input", "context")  # a qa record's context beside its question (Alpaca's instruction/input/output)
ANSWER_FIELDS = ("answer", "response", "output", "completion", "solution", "answers")
TEXT_FIELDS = ("text", "content", "code", "body", "document", "markdown", "contents", "raw_content", "source")
PATH_FIELDS = ("path", "file_path", "filepath", "filename", "file", "file_name", "max_stars_repo_path")
LANGUAGE_FIELDS = ("language", "lang", "programming_language")
ID_FIELDS = ("id", "_id", "uuid", "record_id")  # a native record id, when unique and scalar in every record read
FIELD_KNOBS = tuple(k for k in SourceSpec.model_fields if k.endswith("_field"))  # what `--field NAME.KEY=` sets
KNOB_FORMATS = {"messages_field": "chat", "question_field": "qa", "answer_field": "qa", "context_field": "qa",
                "text_field": "text"}


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


CODE_EXTENSIONS = _words(
    ".py .pyi .pyx .ipynb .c .h .cc .cpp .cxx .hpp .hh .cu .java .kt .kts .scala .js .jsx .mjs .ts .tsx .go .rs "
    ".rb .php .cs .swift .m .mm .lua .pl .pm .r .jl .hs .ml .ex .exs .erl .clj .dart .sql .sh .bash .zsh .fish "
    ".ps1 .bat .cmake .mk .makefile .dockerfile .proto .vue .svelte .zig .nim .f90 .f .asm .s .v .sv .vhd "
    ".toml .yaml .yml .ini .cfg .json .xml .css .scss .html .htm")
TEXT_EXTENSIONS = _words(".md .markdown .txt .rst .tex .org .adoc .asciidoc .text .mdx")
PROGRAMMING_LANGUAGES = _words(
    "python c c++ cpp java javascript typescript go rust ruby php c# csharp swift kotlin scala lua perl r julia "
    "haskell ocaml elixir erlang clojure dart sql shell bash powershell matlab fortran assembly verilog html css "
    "jupyter notebook cuda zig nim makefile dockerfile yaml toml json")
CODE_LINE = re.compile(
    r"^\s*(def |class |import |from \S+ import |#include|#define|function |fn |func |package |public |private |"
    r"static |const |let |var |return\b|if\s*\(|for\s*\(|while\s*\(|//|/\*|\*/|@\w+|}|\{)|[;{}:]\s*$|^ {4}|^\t")
CODE_SHARE = 0.4  # a record looks like code when at least this share of its non-blank lines looks like code
GITIGNORE = """\
# mira's local state: Prefect task cache, teacher request cache, run logs, MLflow
/.mira/
/mlflow.db
/mlflow.db.lock
/mlruns/
/mlartifacts/
__pycache__/
# what `dvc plots show` / `dvc plots diff` write
/dvc_plots/
# model folders: `mira base-model smollm2` writes the generative student's base (540 MB) to models/
/models/
"""


def stage_outs_ignored(dvc_yaml: str) -> str:
    """Git ignore lines for every stage's cached outputs. DVC writes them into data/.gitignore as each stage runs,
    but when a later stage of the same `dvc repro` fails it takes back those of the stages that succeeded
    (treeverse/dvc#11091): `git add -A`, as the walkthrough says, then committed data/ to git, and the next
    `dvc repro` failed with "output 'data/students' is already tracked by SCM". DVC adds no line for a path
    already ignored."""
    outs = sorted({o if isinstance(o, str) else next(iter(o)) for stage in yaml.safe_load(dvc_yaml)["stages"].values()
                   for o in stage.get("outs", [])})
    return "# the stages' outputs, versioned by DVC (dvc.lock), not by git\n" + "".join(f"/{o}\n" for o in outs)


@dataclass(frozen=True)
class Guess:
    """How to read one source: its reader, format and non-default field names, and why they were chosen."""

    reader: str
    format: str
    fields: dict[str, str] = field(default_factory=dict)  # SourceSpec fields beyond name/path/reader/format
    why: str = ""
    guessed: bool = True  # False when the user named the format and only the fields were looked up


@dataclass(frozen=True)
class SourceArg:
    """One `--source NAME=PATH[:FORMAT]` option."""

    name: str
    path: str
    format: str | None = None


@dataclass(frozen=True)
class FieldArg:
    """One `--field NAME.KEY=VALUE` option: field knob KEY (text_field, id_field ...) of source NAME."""

    source: str
    key: str
    value: str


def _exists(path: str) -> bool:
    """A local file or folder, or a glob matching one."""
    path = os.path.expanduser(path)
    return bool(glob(path, recursive=True)) if _has_glob(path) else os.path.exists(path)


def parse_source(arg: str) -> SourceArg:
    """`NAME=PATH[:FORMAT]` -> SourceArg; a trailing `:FORMAT` counts only when it is one of the formats.

    A trailing `:WORD` that is no format, after a local path that exists while the whole does not, is a
    mistyped format, and an error.
    """
    name, sep, rest = arg.partition("=")
    if not sep or not name or not rest:
        raise ConfigError(f"--source {arg!r}: expected NAME=PATH or NAME=PATH:FORMAT ({', '.join(FORMATS)})")
    path, colon, fmt = rest.rpartition(":")
    if colon and fmt in FORMATS and path:
        return SourceArg(name, path, fmt)
    if colon and path and fmt and not _is_url(rest) and not _exists(rest) and _exists(path):
        raise ConfigError(f"--source {arg}: unknown format {fmt!r} ({', '.join(FORMATS)})")
    return SourceArg(name, rest, None)


def parse_field(arg: str) -> FieldArg:
    """`NAME.KEY=VALUE` -> FieldArg; KEY must be one of the field knobs of a source (FIELD_KNOBS)."""
    target, sep, value = arg.partition("=")
    name, dot, key = target.rpartition(".")
    if not sep or not dot or not name or not key or not value:
        raise ConfigError(f"--field {arg!r}: expected NAME.KEY=VALUE, e.g. --field qa.question_field=prompt")
    if key not in FIELD_KNOBS:
        raise ConfigError(f"--field {arg}: {key!r} is not a field knob of a source ({', '.join(FIELD_KNOBS)})")
    return FieldArg(name, key, value)


def given_fields(sources: list[SourceArg], fields: list[FieldArg]) -> dict[str, dict[str, str]]:
    """The `--field` options by source name; a name that is no source, or a knob given twice, is an error."""
    names = [s.name for s in sources]
    given: dict[str, dict[str, str]] = {}
    for f in fields:
        if f.source not in names:
            raise ConfigError(f"--field {f.source}.{f.key}={f.value}: no source is named {f.source!r} "
                              f"(sources: {', '.join(names)})")
        if f.key in given.setdefault(f.source, {}):
            raise ConfigError(f"--field {f.source}.{f.key} is given twice ({given[f.source][f.key]!r}, {f.value!r})")
        given[f.source][f.key] = f.value
    return given


def _has_glob(path: str) -> bool:
    return any(ch in path for ch in "*?[")


def _reader_of(path: Path | str, shown: str) -> str:
    """The reader a path (or a URL) needs, from what is on disk (in the bucket) and the file name."""
    from mira_core.ingest import remote
    from mira_core.ingest.hf_dataset import is_remote_saved_dataset, is_saved_dataset

    if isinstance(path, str):  # a URL
        if remote.is_dir(path):
            return "hf_dataset" if is_remote_saved_dataset(path) or _parquet_dataset(
                [rel for rel, _ in remote.find(path) if not is_hidden(rel)]) else "folder"
        path = Path(PurePosixPath(urlsplit(path).path).name)  # only its name (no ?sig=... query) is looked at below
    elif path.is_dir():
        if is_saved_dataset(path) or _parquet_dataset([rel.as_posix() for rel, _ in tree_files(path)]):
            return "hf_dataset"
        return "folder"
    name = path.name.lower()
    if name.endswith(JSONL_SUFFIXES):
        return "jsonl"
    if name.endswith(".parquet"):
        return "parquet"
    raise ConfigError(f"{shown}: cannot tell how to read it: not JSONL (.jsonl, .json, .ndjson, .gz/.zst of them), "
                      "not Parquet, not a folder")


def _parquet_dataset(rels: list[str]) -> bool:
    """Whether a folder whose visible files are `rels` holds a dataset's Parquet shards: at least half of its files
    are Parquet (a Hub clone keeps a README beside its shards). A repository with a Parquet test fixture among its
    code is a folder of files: read as a dataset, the fixture's rows would be the source and the code never read."""
    n = sum(r.lower().endswith(".parquet") for r in rels)
    return n > 0 and 2 * n >= len(rels)


def _absolute_pattern(pattern: str) -> str:
    """A glob as written (relative to the working folder, or from `~`) made absolute, the folder it is joined to
    escaped, so that only the part written is a pattern."""
    head, sep, rest = pattern.partition("/")
    if head.startswith("~"):
        return os.path.normpath(glob_escape(os.path.expanduser(head)) + sep + rest)
    return os.path.normpath(os.path.join(glob_escape(os.getcwd()), pattern))


def _first_file(path: str, shown: str) -> Path:
    from mira_core.ingest.readers import expand
    from mira_core.ingest.source import literal_hint, mixed_files

    files = expand(path, Path("/"))
    gone = [f for f in files if not f.exists()]
    if gone and gone[0].is_symlink():  # ingest refuses the source for it: say so now, not at the first run
        raise ConfigError(f"{path}: {gone[0]} is a link to a file that does not exist (a git-annex or DVC file not "
                          "fetched?)")
    if not files or gone:
        hint = literal_hint(os.path.expanduser(shown), Path.cwd())
        raise ConfigError(f"{shown}: {'no file' + hint if hint else 'no file matches' if _has_glob(path) else 'not found'}")
    if mixed := mixed_files([f.name for f in files]):  # ingest refuses the source for it: say so now
        raise ConfigError(f"{shown}: {mixed}")
    return files[0]


def _sample(reader: str, path: str, n: int = SAMPLE) -> tuple[list[dict], list[str]]:
    """The first `n` records' payloads, and the errors of records that could not be read among them."""
    from mira_core.ingest.readers import read_source

    items = list(islice(read_source(reader, path, Path("/"), batch_size=n), n))
    return [i.payload for i in items if i.payload is not None], [str(i.error) for i in items if i.error is not None]


def _ext(name: str) -> str:
    low = name.lower()
    if low in ("makefile", "dockerfile"):
        return "." + low
    return PurePosixPath(low).suffix


def _kind_of_ext(ext: str) -> str | None:
    return "code" if ext in CODE_EXTENSIONS else "text" if ext in TEXT_EXTENSIONS else None


def _guess_folder(path: Path | str, shown: str, fmt: str | None) -> Guess:
    from mira_core.ingest import remote

    dangling: list = []
    if isinstance(path, str):  # a URL prefix
        rels = (PurePosixPath(rel) for rel, _ in remote.find(path))
    else:
        found, dangling, _ = walk_files(path)  # links to folders followed, as the folder reader follows them
        rels = (rel for rel, _ in found)
    exts: Counter[str] = Counter()
    names: list[str] = []
    first = None  # the first file, where it is local
    for rel in islice((r for r in rels if not any(p.startswith(".") for p in r.parts)), 10_000):
        exts[_ext(rel.name)] += 1
        names.append(rel.name)
        first = first or (None if isinstance(path, str) else path / rel)
    if not exts:
        raise ConfigError(f"{shown}: the folder holds no file (hidden files aside)")
    seen = ", ".join(f"{e or '(none)'} {n}" for e, n in exts.most_common(8))
    if fmt is None and _json_lines_shards(names, first):
        shards = next(s for s in sorted(JSONL_SUFFIXES, key=len, reverse=True) if names[0].lower().endswith(s))
        raise ConfigError(f"{shown}: a folder of JSON Lines files ({seen}), which would be read as one record per "
                          f"file; name them with a glob, one record per line: --source NAME='{shown.rstrip('/')}/**/*"
                          f"{shards}' (or :text / :code to read each file as one record)")
    # a glob only where it names every file as written: globs match case, and Makefile has no suffix
    ext = next(iter(exts))
    fields = ({"glob": f"**/*{ext}"} if len(exts) == 1 and ext.startswith(".") and "." in names[0]
              and all(n.endswith(ext) for n in names) else {})
    if fmt is not None:
        if fmt not in ("text", "code"):
            raise ConfigError(f"{shown}: a folder is read one record per file, as text or code, not {fmt}")
        return Guess("folder", fmt, fields, f"folder of files ({seen}); format {fmt} as given" + _dangling_note(dangling),
                     guessed=False)
    kinds: Counter[str] = Counter()
    for e, n in exts.items():
        if (k := _kind_of_ext(e)) is not None:
            kinds[k] += n
    if not kinds:
        raise ConfigError(f"{shown}: cannot tell the format of the files in this folder (extensions: {seen}); "
                          "give it: --source NAME=PATH:text or :code")
    kind = kinds.most_common(1)[0][0]
    return Guess("folder", kind, fields, f"folder of files, one record per file; {kind} by file extension ({seen})"
                 + _dangling_note(dangling))


def _dangling_note(dangling: list) -> str:
    """What a folder's links that lead nowhere (a missing file, a loop of links) do: ingest quarantines them, but
    DVC hashes every file of a dep folder, and `dvc repro` stops before ingest with [Errno 2] or [Errno 40]."""
    if not dangling:
        return ""
    shown = ", ".join(str(d) for d in dangling[:3]) + (f" and {len(dangling) - 3} more" if len(dangling) > 3 else "")
    return (f"; WARNING: {len(dangling)} link(s) lead nowhere ({shown}): ingest quarantines them, but `dvc repro` "
            "cannot hash them and stops before ingest; remove them, or run `mira run`")


def _json_lines_shards(names: list[str], first: Path | None) -> bool:
    """Whether a folder's files are JSON Lines shards: every name a JSON Lines suffix, and where one is plain `.json`
    (as often one document, a repository's config file, as a shard) the `first` file (local) opens with two lines
    of JSON objects."""
    low = [n.lower() for n in names]
    if not low or not all(n.endswith(JSONL_SUFFIXES) for n in low):
        return False
    if not any(n.endswith(".json") for n in low):
        return True
    if first is None:
        return False
    with open(first, "rb") as f:
        lines = [x for x in islice(f, 3) if x.strip()]
    try:
        return len(lines) >= 2 and all(isinstance(json.loads(x), dict) for x in lines[:2])
    except ValueError:
        return False


def _decoded(value: object) -> object:
    """A messages value as ingest reads it: Parquet sources often hold the list as a JSON string (render decodes it)."""
    if isinstance(value, str) and value.lstrip().startswith("["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _is_messages(value: object) -> bool:
    """An OpenAI-style list of {role, content}, or ShareGPT's {from, value} (ingest maps its speakers to roles);
    or either as a JSON string."""
    value = _decoded(value)
    return (isinstance(value, list) and bool(value)
            and all(isinstance(m, dict) and ("role" in m or ("from" in m and "value" in m)) for m in value))


def _has_tools(payload: dict, messages_field: str) -> bool:
    if payload.get("tools"):
        return True
    messages = _decoded(payload.get(messages_field))
    if not isinstance(messages, list):  # a record further on may hold a number (ingest quarantines it): no tools
        return False
    return any(m.get("tool_calls") or m.get("function_call") or m.get("role") in ("tool", "function")
               or m.get("from") in ("function_call", "observation", "tool")
               or (isinstance(m.get("content"), list)  # Anthropic's tool_use / tool_result content blocks
                   and any(isinstance(b, dict) and b.get("type") in TOOL_BLOCKS for b in m["content"]))
               or _hermes_call(m)
               for m in messages if isinstance(m, dict))


def _hermes_call(m: dict) -> bool:
    """An assistant turn whose text holds a Hermes-style `<tool_call>` block (render reads it as a tool call)."""
    role, text = (m["role"], m.get("content")) if "role" in m else (SHAREGPT_ROLES.get(str(m.get("from"))), m.get("value"))
    return role == "assistant" and isinstance(text, str) and "<tool_call>" in text


def _text(value: object) -> str | None:
    """A value as ingest reads a text field: a string, or bytes holding UTF-8 (a Parquet binary column); else None."""
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return None
    return value if isinstance(value, str) else None


def _first_str_field(payloads: list[dict], names: tuple[str, ...]) -> str | None:
    """The first of `names` that holds text (a string, or UTF-8 bytes) in most records read: a null first value (a
    Parquet column with nulls) is a record ingest quarantines, not a sign that the field holds no text."""
    for n in names:
        if sum(_text(p.get(n)) is not None for p in payloads) * 2 > len(payloads):
            return n
    return None


def _code_share(text: str) -> float:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return sum(bool(CODE_LINE.search(ln)) for ln in lines) / len(lines) if lines else 0.0


def _code_or_text(payloads: list[dict], text_field: str) -> tuple[str, str]:
    """code or text for records whose text is in `text_field`, and the reason."""
    if text_field == "code":
        return "code", "the text field is named 'code'"
    for f in PATH_FIELDS:
        exts = Counter(_ext(p[f]) for p in payloads if isinstance(p.get(f), str))
        kinds = Counter(k for e, n in exts.items() for k in [_kind_of_ext(e)] * n if k)
        if kinds:
            kind = kinds.most_common(1)[0][0]
            return kind, f"the extensions of field {f!r} ({', '.join(e for e, _ in exts.most_common(4))})"
    for f in LANGUAGE_FIELDS:
        langs = Counter(str(p[f]).lower() for p in payloads if isinstance(p.get(f), str))
        if langs and sum(n for lang, n in langs.items() if lang in PROGRAMMING_LANGUAGES) * 2 > sum(langs.values()):
            return "code", f"field {f!r} names programming languages ({', '.join(langs)})"
    shares = sorted(_code_share(t) for p in payloads if (t := _text(p.get(text_field))) is not None)
    median = shares[len(shares) // 2] if shares else 0.0
    if median >= CODE_SHARE:
        return "code", f"its lines look like code (median share {median:.0%})"
    return "text", f"its lines read as prose (median code-like share {median:.0%})"


def _keys(payloads: list[dict]) -> str:
    return ", ".join(repr(k) for k in payloads[0]) or "none"


def _guess_id(payloads: list[dict], name: str) -> tuple[str | None, str]:
    """The native id field, and why: the first of ID_FIELDS holding a string, an integer or a UUID (a Parquet uuid
    column) in every record read, no two alike (as ingest reads an id: `str(value)`); else None, and a note when one
    was left for repeats."""
    note = ""
    for f in ID_FIELDS:
        values = [p.get(f) for p in payloads]
        if not all(isinstance(v, str | int | uuid.UUID) and not isinstance(v, bool) and v != "" and "\0" not in str(v)
                   for v in values):
            continue
        if len(set(map(str, values))) == len(values):
            return f, (f"record ids from {f!r} (a string, integer or UUID in each of the first {len(values)}, no two alike; "
                       "a record further on that repeats one, or lacks it, is quarantined)")
        note = note or (f"{f!r} repeats within the first {len(values)} records, so it is not taken as the record "
                        f"id (--field {name}.id_field={f} takes it)")
    return None, note


def _guess_kind(payloads: list[dict], reader: str, shown: str, fmt: str | None, given: dict[str, str],
                name: str) -> Guess:
    """The format and field names of these records, the `given` field names taken as they are."""
    first = payloads[0]
    what = f"{reader}, first record's keys: {_keys(payloads)}"
    messages = given.get("messages_field") or next((f for f in MESSAGES_FIELDS if _is_messages(first.get(f))), None)
    question = given.get("question_field") or _first_str_field(payloads, QUESTION_FIELDS)
    answer = given.get("answer_field") or _first_str_field(payloads, ANSWER_FIELDS)
    text = given.get("text_field") or _first_str_field(payloads, TEXT_FIELDS)
    families = {KNOB_FORMATS[k] for k in given if k in KNOB_FORMATS}
    told = families.pop() if fmt is None and len(families) == 1 else None  # the format the given fields tell
    free = fmt is None and told is None  # the format is the records' to tell

    def fail(looked_for: str, *ways: tuple[str, ...]) -> ConfigError:
        """The error naming what was looked for, and the `--field` options (one set per way) that would tell it."""
        labels = {"text": " (text, code)", "qa": " (qa)", "chat": " (chat, agent)"}
        options = [" ".join(f"--field {name}.{k}=KEY" for k in knobs if k not in given)
                   + (labels[KNOB_FORMATS[knobs[0]]] if len(ways) > 1 else "") for knobs in ways]
        return ConfigError(f"cannot tell the {'format' if free else 'fields'} of {shown}: its first record has the "
                           f"keys {_keys(payloads)}; looked for {looked_for}. Name the fields, KEY being one of its keys: "
                           + ", or ".join(options)
                           + (f"; and the format if need be: --source {name}=PATH:FORMAT ({', '.join(FORMATS)})"
                              if free else ""))

    if fmt in ("chat", "agent") or told == "chat" or (free and messages):
        if messages is None:
            raise fail(f"a list of {{role, content}} messages in {', '.join(MESSAGES_FIELDS)}", ("messages_field",))
        fields = {} if messages == "messages" else {"messages_field": messages}
        if fmt is not None:
            return Guess(reader, fmt, fields, f"{what}; format {fmt} as given, messages in {messages!r}", False)
        tools = sum(_has_tools(p, messages) for p in payloads)
        kind = "agent" if tools else "chat"
        why = (f"tool calls in {tools} of the first {len(payloads)} records" if tools
               else f"no tool call in the first {len(payloads)} records")
        return Guess(reader, kind, fields, f"{what}; {kind}: messages in {messages!r}, {why}")
    if fmt == "qa" or told == "qa" or (free and question and answer):
        if not (question and answer):
            raise fail(f"a question field ({', '.join(QUESTION_FIELDS)}) and an answer field "
                       f"({', '.join(ANSWER_FIELDS)}) holding text", ("question_field", "answer_field"))
        # a context field that holds text in some record read: left out, it would be in no rendered text (Alpaca's
        # "Summarize the text." without the text), and records that differ only there would be duplicates
        context = given.get("context_field") or next(
            (f for f in CONTEXT_FIELDS if f not in (question, answer)
             and any(isinstance(p.get(f), str) and p[f].strip() for p in payloads)), None)
        fields = {k: v for k, v in (("question_field", question), ("answer_field", answer), ("context_field", context))
                  if v != SourceSpec.model_fields[k].default}
        how = "as given" if fmt else "by the fields given" if told else "a question-like and an answer-like field"
        with_context = f" (context {context!r} after the question)" if context else ""
        return Guess(reader, "qa", fields, f"{what}; qa ({how}): {question!r}{with_context} -> {answer!r}",
                     fmt is None)
    if fmt in ("text", "code") or told == "text" or (free and text):
        if text is None:
            raise fail(f"a text field ({', '.join(TEXT_FIELDS)}) holding text", ("text_field",))
        fields = {} if text == "text" else {"text_field": text}
        if fmt is not None:
            return Guess(reader, fmt, fields, f"{what}; format {fmt} as given, text in {text!r}", False)
        kind, why = _code_or_text(payloads, text)
        return Guess(reader, kind, fields, f"{what}; {kind} (text in {text!r}): {why}")
    raise fail(f"messages ({', '.join(MESSAGES_FIELDS)}), a question and an answer ({', '.join(QUESTION_FIELDS)} / "
               f"{', '.join(ANSWER_FIELDS)}) or a text field ({', '.join(TEXT_FIELDS)})",
               ("text_field",), ("question_field", "answer_field"), ("messages_field",))


# the field knobs each format reads (besides id_field); a folder's records are its files, with no fields
FORMAT_KNOBS = {"text": ("text_field",), "code": ("text_field",),
                "qa": ("question_field", "answer_field", "context_field"),
                "chat": ("messages_field",), "agent": ("messages_field",)}


def _with_given(guess: Guess, given: dict[str, str], name: str = "NAME") -> Guess:
    """`guess` with the given field names set, and said; a knob its format (or a folder) never reads is an error,
    since params.yaml would hold it and ingest ignore it."""
    if not given:
        return guess
    reads = () if guess.reader == "folder" else ("id_field", *FORMAT_KNOBS[guess.format])
    unread = [k for k in given if k not in reads]
    if unread:
        what = "a folder source (its records are files)" if guess.reader == "folder" else f"a {guess.format} source"
        raise ConfigError(f"--field {name}.{unread[0]}: {what} does not read {unread[0]} "
                          f"(it reads: {', '.join(reads) or 'no field'})")
    said = ", ".join(f"{k} {v!r}" for k, v in given.items())
    return replace(guess, fields=guess.fields | given, why=f"{guess.why}; given: {said}")


def _guess_records(reader: str, path: str, shown: str, fmt: str | None, given: dict[str, str], name: str) -> Guess:
    payloads, errors = _sample(reader, path)
    if not payloads:
        raise ConfigError(f"{shown}: no readable record among the first {SAMPLE}"
                          + (f" ({errors[0]})" if errors else " (it holds none)"))
    for key, value in given.items():
        if not any(value in p for p in payloads):
            raise ConfigError(f"--field {name}.{key}={value}: no record among the first {len(payloads)} of {shown} "
                              f"has the key {value!r} (the first record's keys: {_keys(payloads)})")
    guess = _guess_kind(payloads, reader, shown, fmt, given, name)
    if "id_field" not in given:
        id_field, why = _guess_id(payloads, name)
        if id_field is not None and _several_files(reader, path, shown):
            # the first file's ids say nothing of the others': often 0..n each (shards, a dataset's splits)
            why = (f"{id_field!r} looks like a record id in the first file, but ids may repeat across the files of "
                   f"{'a glob' if _has_glob(shown) else 'the dataset'}, so the id is the text's digest "
                   f"(--field {name}.id_field={id_field} takes it)")
        elif id_field is not None:
            guess = replace(guess, fields=guess.fields | {"id_field": id_field})
        if why:
            guess = replace(guess, why=f"{guess.why}; {why}")
    return _with_given(guess, given, name)


def _several_files(reader: str, path: str, shown: str) -> bool:
    """Whether the source's records come from more than one file: a glob, or a dataset folder of several Parquet
    shards or Arrow files (a DatasetDict's splits); a dataset on object storage is taken to have several."""
    if _has_glob(shown):
        return True
    if reader != "hf_dataset":
        return False
    if _is_url(path):
        return True
    from mira_core.ingest.hf_dataset import arrow_files, is_saved_dataset, parquet_shards

    folder = Path(path)
    return len(arrow_files(folder, shown) if is_saved_dataset(folder) else parquet_shards(folder)) > 1


def guess_format(path: str | Path, fmt: str | None = None, given: dict[str, str] | None = None,
                 name: str = "NAME") -> Guess:
    """How to read the source at `path` (a file, a glob or a folder; absolute, or relative to the working folder).

    With `fmt` given, only the reader and the field names are looked up; field names in `given` (knob -> key,
    the `--field` options of source `name`) are taken as they are. A ConfigError names the path and what it
    saw when the format (or the fields of `fmt`) cannot be told.
    """
    given = dict(given or {})
    if fmt is not None and fmt not in FORMATS:
        raise ConfigError(f"{path}: unknown format {fmt!r} ({', '.join(FORMATS)})")
    shown = str(path)
    if _is_url(shown):
        return _guess_url(shown, fmt, given, name)
    # Only the path as written is a pattern: the working folder it is read from (or the home folder) may hold a
    # `[` of its own ("runs[2]"), which must match itself, not make a plain path a pattern that matches nothing.
    # A folder is the folder as written: the folder and hf_dataset readers never glob their path, and a glob
    # matches files only, so "corpus [v2]" was refused written either way.
    literal = Path(path).expanduser().absolute()
    target = _first_file(_absolute_pattern(shown), shown) if _has_glob(shown) and not literal.is_dir() else literal
    if not target.exists():
        raise ConfigError(f"{shown}: not found")
    reader = _reader_of(target, shown)
    if reader == "folder":
        return _with_given(_guess_folder(target, shown, fmt), given, name)
    # the jsonl and parquet readers glob the path again: a `[` in the file's name (or its folders') would make it
    # a pattern that matches nothing (or another file), so the sampling read gets it escaped
    sampled = glob_escape(str(target)) if reader in ("jsonl", "parquet") else str(target)
    return _guess_records(reader, sampled, shown, fmt, given, name)


def _is_url(path: str) -> bool:
    from mira_core.ingest.remote import is_url

    return is_url(path)


def _guess_url(url: str, fmt: str | None, given: dict[str, str], name: str) -> Guess:
    """`guess_format` for a source on object storage: its first object (or the prefix) is looked at."""
    from mira_core.ingest import remote
    from mira_core.ingest.source import mixed_files

    try:
        if _has_glob(url):
            urls = remote.expand_url(url)
            if not urls:
                raise ConfigError(f"{url}: no object matches")
            if mixed := mixed_files([PurePosixPath(urlsplit(u).path).name for u in urls]):
                raise ConfigError(f"{url}: {mixed}")
            target = urls[0]
        else:
            target = url.rstrip("/")
            if not (remote.is_dir(target) or remote.is_file(target)):
                raise ConfigError(f"{url}: not found (no such object or prefix)")
        reader = _reader_of(target, url)
        if reader == "folder":
            return _with_given(_guess_folder(target, url, fmt), given, name)
        return _guess_records(reader, target, url, fmt, given, name)
    except ConfigError:
        raise
    except Exception as e:  # no bucket, no credentials, no endpoint: say so, naming the URL
        raise ConfigError(f"{url}: cannot read it: {type(e).__name__}: {e} (credentials and the endpoint come from "
                          "the environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL ...)") from None


def source_spec(arg: SourceArg, project: Path, guess: Guess) -> SourceSpec:
    """The params.yaml entry of a source: its path relative to the project when inside it, absolute otherwise.

    A URL is kept as written.
    """
    if _is_url(arg.path):
        try:
            return SourceSpec(name=arg.name, path=arg.path, reader=guess.reader, format=guess.format, **guess.fields)
        except ValidationError as e:
            problems = "; ".join(f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors())
            raise ConfigError(f"--source {arg.name}={redact_credentials(arg.path)}: {problems}") from None
    full = Path(os.path.abspath(os.path.expanduser(arg.path)))
    project = Path(os.path.abspath(project))
    path = full.relative_to(project).as_posix() if full.is_relative_to(project) else full.as_posix()
    if guess.reader in ("jsonl", "parquet"):
        # ingest globs these readers' paths: the folders this one was joined to (the working folder, the home
        # folder, or all of a file's path) are written escaped, so that a `[` of theirs ("runs[2]") matches
        # itself; written as they were, ingest read the path as a pattern that matched nothing
        pattern = _absolute_pattern(arg.path) if _has_glob(arg.path) else glob_escape(full.as_posix())
        path = pattern.removeprefix(glob_escape(project.as_posix()) + "/")
    try:
        return SourceSpec(name=arg.name, path=path, reader=guess.reader, format=guess.format, **guess.fields)
    except ValidationError as e:
        problems = "; ".join(f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors())
        raise ConfigError(f"--source {arg.name}={redact_credentials(arg.path)}: {problems}") from None


def make_params(sources: list[SourceSpec], held_out: list[str] | None = None) -> Params:
    """mira's defaults (the `Params` model's), the demo corpus off, with these sources.

    With held-out sources the evaluate stage is on (they are its target set), and they are what the `dsir`
    baseline resamples toward (`select.dsir_target`; dsir joins the baselines), as in the demo's params; without,
    the stage is off and dsir, which needs a target, is left out.
    """
    held_out = list(held_out or [])
    select: dict = {"held_out_sources": held_out}
    if held_out:
        default = SelectParams.model_fields["baselines"].default_factory()
        select |= {"dsir_target": held_out, "baselines": [*default, "dsir"]}
    return parse_params({"sources": [s.model_dump() for s in sources], "demo_corpus": {"enabled": False},
                         "select": select, "evaluate": {"enabled": bool(held_out)}}, "mira init")


def _flow(value: object) -> str:
    """One YAML value on one line (flow style), as PyYAML writes it, so it reads back the same."""
    return yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=1 << 20).removesuffix(
        "\n...\n").strip()


def _comment(text: str | None, pad: str) -> list[str]:
    if not text:
        return []
    return [f"{pad}# {ln}" for ln in textwrap.wrap(" ".join(text.split()), width=max(40, 110 - len(pad)))]


def _fields(model: BaseModel, pad: str) -> list[str]:
    lines: list[str] = []
    dumped = model.model_dump(mode="json")
    for name, f in type(model).model_fields.items():
        value = getattr(model, name)
        lines += _comment(f.description, pad)
        if isinstance(value, BaseModel):
            lines += [f"{pad}{name}:", *_fields(value, pad + "  ")]
        else:
            lines.append(f"{pad}{name}: {_flow(dumped[name])}")
    return lines


def render_params(params: Params) -> str:
    """params.yaml text: every knob at its value with its description as a comment; sources in flow style.

    Read back by `load_params`, it gives `params` again (checked here).
    """
    lines = ["# mira parameters, written by `mira init` from mira's defaults. `mira params` prints every knob with",
             "# its value and description; change a value and `dvc repro` re-runs only the stages that read it.", ""]
    for name, f in Params.model_fields.items():
        value = getattr(params, name)
        if name == "demo_corpus":  # only its switch: the corpus is the user's
            lines += ["# The embedded demo corpus: off, the sources below are yours.", "demo_corpus:",
                      f"  enabled: {_flow(value.enabled)}", ""]
            continue
        if name == "sources":
            lines += _comment("The input sources, in order (paths relative to this file, or absolute). Each "
                              "entry's fields: see `mira params` or docs/sources.md.", "") + ["sources:"]
            for s in value:
                d = s.model_dump(exclude_defaults=True)  # python: the path as given, not starred as in JSON
                d = {k: d[k] for k in ("name", "path", "reader", "format") if k in d} | d
                lines.append(f"  - {_flow(d)}")
            lines.append("")
            continue
        doc = (type(value).__doc__ or f.description or "").strip().splitlines()[0]
        lines += _comment(doc, "") + [f"{name}:", *_fields(value, "  "), ""]
    text = "\n".join(lines)
    back = parse_params(yaml.safe_load(text), "generated params.yaml")
    if back != params:
        raise InvariantError("the generated params.yaml does not read back as the params it was written from")
    return text


# The DVC plugin (its module) that lets `dvc repro` track an external dep of each object-storage protocol.
REMOTE_DVC_PLUGINS = {"s3": "dvc_s3", "gs": "dvc_gs", "gcs": "dvc_gs", "az": "dvc_azure", "azure": "dvc_azure",
                      "abfs": "dvc_azure"}


def dvc_tracks(url: str) -> bool:
    """Whether DVC can hash `url` as an external dep: its protocol's plugin is installed."""
    import importlib.util

    plugin = REMOTE_DVC_PLUGINS.get(url.partition("://")[0].lower())
    return plugin is not None and importlib.util.find_spec(plugin) is not None


def source_dep(path: str) -> str:
    """The DVC dep of a source path: the path itself, or for a glob the folder above its first wildcard.

    For a URL, the same on the part after `scheme://` (`s3://bkt/data/*.jsonl` -> `s3://bkt/data`).
    """
    if _is_url(path):
        scheme, _, rest = path.partition("://")
        parts = rest.rstrip("/").split("/")
        head = next((i for i, p in enumerate(parts) if _has_glob(p)), len(parts))
        if head == 0:
            raise ConfigError(f"{path}: a wildcard in the bucket name cannot be tracked; name the bucket")
        return f"{scheme}://{'/'.join(parts[:head])}"
    if not _has_glob(path):
        return path.rstrip("/") or "/"
    # a part whose only wildcards are escapes (`[[]`, `[*]`: glob.escape's, which ingest's message advises for a
    # folder named "corpus [v2]") names a file or folder as it is; the dep was "." before, wider than the source
    parts = [None if _has_glob(re.sub(r"\[.\]", "", p)) else re.sub(r"\[(.)\]", r"\1", p)
             for p in PurePosixPath(path).parts]
    head = next((i for i, p in enumerate(parts) if p is None), len(parts))
    return PurePosixPath(*parts[:head]).as_posix() if head else "."


def _dep(spec: SourceSpec) -> str:
    """The DVC dep of a source: `source_dep` of its path, but a local folder or dataset folder as written, since
    those readers never glob their path: "corpus [v2]" or a folder under "runs[2]/" is that folder (read as a
    pattern it was another path, or "." and refused)."""
    if spec.resolved_reader() in ("folder", "hf_dataset") and not _is_url(spec.path):
        return spec.path.rstrip("/") or "/"
    return source_dep(spec.path)


# mira's local state (caches, checkpoints): not a DVC out, but a dep covering it would change on every run
LOCAL_STATE = Layout(Path(".")).state.as_posix()


def stage_outputs() -> dict[str, str]:
    """Every path the stages of a `mira init` project write (outs, metrics, plots; the demo corpus's folder is
    not one: that stage is left out), and mira's local state, each -> what it is."""
    outs = {p: f"which the {s.name} stage writes" for s in STAGES if s.name != "demo_corpus"
            for p in (*s.write_paths(), s.metrics_path, *s.plots)}
    return outs | {LOCAL_STATE: "mira's local state (caches)"}


def check_sources_apart(specs: list[SourceSpec], project: Path) -> None:
    """A ConfigError when a local source's DVC dep equals, holds or lies inside a stage output (or .mira).

    DVC rejects a stage whose dep and out overlap ("Same item(s) are defined as both a dependency and an
    output"), and a glob's dep is the folder above its first wildcard, so `data/*.jsonl` depends on all of
    `data/` and `*.jsonl` in the project root on the whole project.
    """
    project = Path(os.path.abspath(project))
    for s in specs:
        if _is_url(s.path):
            continue
        dep = _dep(s)
        full = Path(os.path.normpath(project / dep))  # an absolute dep stays itself
        for out, writer in stage_outputs().items():
            o = project / out
            if full == o or full.is_relative_to(o) or o.is_relative_to(full):
                where = ("is" if full == o else "lies inside" if full.is_relative_to(o) else "holds") + f" {out}"
                raise ConfigError(
                    f"source {s.name} ({s.path}): its DVC dep {dep} {where}, {writer}, so DVC "
                    "would reject dvc.yaml (an ingest dep overlapping an output). Keep sources in a folder of "
                    "their own, e.g. sources/ or raw/ in the project, or outside it, and name that path")


def _stage_entry(s: Stage, sources: list[SourceSpec]) -> dict:
    deps: list[str] = []
    for p in sorted(s.read_paths()):  # sorted, as in the repository's dvc.yaml
        if p == "data/raw":  # the demo corpus's folder: the user's sources instead (URLs DVC can hash)
            deps += [d for d in dict.fromkeys(_dep(src) for src in sources
                                              if not _is_url(src.path) or dvc_tracks(src.path)) if d not in deps]
        else:
            deps.append(p)
    entry: dict = {"cmd": f"mira stage {s.name}"}
    if deps:
        entry["deps"] = deps
    entry["params"] = list(s.params)
    if s.write_paths():
        entry["outs"] = s.dvc_outs()
    entry["metrics"] = s.dvc_metrics()
    if s.plots:
        entry["plots"] = s.dvc_plots()
    return entry


def render_dvc(sources: list[SourceSpec]) -> str:
    """dvc.yaml text: one stage per stage record but the demo corpus, ingest depending on the sources' paths."""
    stages = {s.name: _stage_entry(s, sources) for s in STAGES if s.name != "demo_corpus"}
    header = textwrap.dedent("""\
        # The stage graph, written by `mira init` from mira's stage records (mira_core/stages.py): each stage is
        # `mira stage <name>`; its deps are the data it reads (ingest: your source paths), its params the
        # params.yaml sections it reads. There are no code deps: the code is the installed mira package, so a
        # new mira version does not re-run anything by itself (`dvc repro --force` rebuilds with it).
        """)
    urls = [s.path for s in sources if _is_url(s.path)]
    if any(dvc_tracks(u) for u in urls):
        header += textwrap.dedent("""\
            # Sources on object storage are external deps: DVC reads their ETags with the credentials and endpoint
            # of the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL ...), as ingest does.
            """)
    untracked = [u for u in urls if not dvc_tracks(u)]
    if untracked:
        header += ("# Not deps (DVC has no plugin installed for their protocol): "
                   + ", ".join(map(redact_credentials, untracked)) + ". When "
                   "they change, run `dvc repro --force ingest`\n# (ingest's own cache sees the change).\n")
    return header + yaml.safe_dump({"stages": stages}, sort_keys=False, default_flow_style=False, width=120)


def render_readme(dest: Path, specs: list[SourceSpec], guesses: list[Guess]) -> str:
    rows = "\n".join(f"| `{s.name}` | `{redact_credentials(s.path)}` | {s.resolved_reader()} | {s.format} | "
                     f"{'guessed: ' if g.guessed else ''}{g.why} |" for s, g in zip(specs, guesses, strict=True))
    return f"""# {dest.name}: a mira project

Made by `mira init`. Your sources are read where they are (they are `ingest`'s DVC deps, not copied):

| source | path | reader | format | how it was chosen |
|---|---|---|---|---|
{rows}

Check the guesses (and the field names) in `params.yaml` before the first run. Next:

```sh
mira params                                   # validate params.yaml; every knob with its description
git add -A && git commit -m "mira project"    # DVC experiments need a commit to start from
dvc repro                                     # ingest -> ... -> report (the rules teacher: offline, no key)
mira summary                                  # what each stage produced, and where
```

Then open `reports/report.html`. The records MIRA keeps, per source, are shards under
`data/selection/mira/records/`; `data/selection/<method>/manifest.parquet` says for every record
whether it was kept and why. To judge with an LLM, set `teacher.provider: openai` (and `base_url`,
`model`) in `params.yaml`, and compare runs with `dvc exp run -S ...` and `mira compare A B`.
If you move a source, change its path in both `params.yaml` and the `ingest` stage's `deps` in
`dvc.yaml`: DVC re-runs ingest only when a file under those deps changes (ingest warns when one is
missing).
"""


@dataclass
class Created:
    """What `create_project` wrote and guessed, for the command to print."""

    root: Path
    sources: list[SourceSpec]
    guesses: list[Guess]
    files: list[str]
    ran: list[str] = field(default_factory=list)  # the set-up commands it ran ("git init", "dvc init")


def _run(cmd: list[str], cwd: Path) -> None:
    # a path in git's or dvc's words may be no UTF-8 (a folder named in Latin-1): kept as its bytes, not a traceback
    res = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, errors="surrogateescape")
    if res.returncode != 0:
        raise ConfigError(f"`{' '.join(cmd)}` failed in {cwd}:\n{(res.stderr or res.stdout).strip()}")


def _write(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:  # a failure leaves the old file or none, never half of one
        tmp.write_text(text, encoding="utf-8")


def create_project(dest: Path, sources: list[SourceArg], held_out: list[str] | None = None, scm: bool = True,
                   fields: list[FieldArg] | None = None) -> Created:
    """Write the project folder `dest` (new, or existing without params.yaml / dvc.yaml) for these sources.

    `fields` (the `--field` options) set field names of the sources before any guess. Every source is read
    (a few records), every file and git checked before anything is written; when a later step fails (git init,
    dvc init, git add) what this call made is removed again (an existing .gitignore gets its old text back), so
    a re-run starts from where the user was.
    """
    dest = Path(os.path.abspath(os.path.expanduser(dest)))
    if not sources:
        raise ConfigError("name at least one source: --source NAME=PATH[:FORMAT]")
    for f in ("params.yaml", "dvc.yaml"):
        if (dest / f).exists():
            raise ConfigError(f"{dest / f} exists: mira init makes a new project (pick another folder)")
    if dest.exists() and not dest.is_dir():
        raise ConfigError(f"{dest}: exists and is not a folder")
    given = given_fields(sources, list(fields or []))
    guesses = [guess_format(a.path, a.format, given.get(a.name), a.name) for a in sources]
    specs = [source_spec(a, dest, g) for a, g in zip(sources, guesses, strict=True)]
    check_sources_apart(specs, dest)
    params = make_params(specs, held_out)  # validates names, held-out sources ...
    texts = {"params.yaml": render_params(params), "dvc.yaml": render_dvc(specs),
             "README.md": render_readme(dest, specs, guesses)}
    git = (shutil.which("git") or "") if scm else ""
    if scm and not git:  # `git add` needs it even where .git exists
        raise ConfigError("git is not installed (not on PATH): mira projects are git + DVC repositories; install "
                          "git, or run mira init --no-scm and set up git and DVC yourself")
    made = dest  # the topmost folder this call makes (mkdir makes the missing parents too), if any
    while not made.parent.exists():
        made = made.parent
    dest_existed = dest.exists()
    before = {n: (dest / n).exists() for n in (*texts, ".gitignore", ".git", ".dvc", ".dvcignore")}
    ignore = dest / ".gitignore"
    old = ignore.read_text(encoding="utf-8") if before[".gitignore"] else None
    written: list[str] = []
    ran: list[str] = []
    try:
        dest.mkdir(parents=True, exist_ok=True)
        for name, text in texts.items():
            if name == "README.md" and before[name]:
                continue
            _write(dest / name, text)
            written.append(name)
        _write(ignore, (old or "") + ("\n" if old and not old.endswith("\n") else "") + GITIGNORE
               + stage_outs_ignored(texts["dvc.yaml"]))
        written.append(".gitignore")
        if scm:
            if not before[".git"]:
                _run([git, "init", "-q"], dest)
                ran.append("git init")
            if not before[".dvc"]:
                _run([sys.executable, "-m", "dvc", "init", "-q"], dest)
                # DVC reports usage from every command unless told not to: the Makefile's DVC_NO_ANALYTICS reaches
                # no `dvc repro` a user types in the project, so the project's own config says it
                _run([sys.executable, "-m", "dvc", "config", "core.analytics", "false"], dest)
                ran.append("dvc init")
            _run([git, "add", "--", *written, ".dvc", ".dvcignore"], dest)
    except BaseException:
        _undo(dest, made if not dest_existed else None, before, old)
        raise
    return Created(dest, specs, guesses, written, ran)


def _undo(dest: Path, made: Path | None, before: dict[str, bool], gitignore: str | None) -> None:
    """Remove what a failed `create_project` made: the folder `made` when it made the project folder (and any
    missing parent), else the files and folders in it that were not there before; an existing .gitignore gets
    its old text back. Errors here are ignored: the one being raised is the one to show."""
    if made is not None:
        shutil.rmtree(made, ignore_errors=True)
        return
    for name, existed in before.items():
        path = dest / name
        if existed or not (path.exists() or path.is_symlink()):
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    if gitignore is not None:
        with contextlib.suppress(OSError):
            _write(dest / ".gitignore", gitignore)
