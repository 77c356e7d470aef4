"""The embedded default corpus: eight real sources built from this machine's own Python installation.

Nothing is downloaded and nothing is synthetic in content: the standard library, the virtualenv's
site-packages (whose contents the lockfile fixes), their tests, docs, C headers and shell scripts,
plus QA pairs and agent traces derived from real functions, docstrings and doctests. The sources
come in the formats a user's own data would (JSONL plain/.gz/.zst, Parquet, folders of files) and
are read back by `ingest` like any other source. Quality varies for real: generated protobuf
modules, vendored packages, type stubs, one-line shell snippets and doctests that raise.

Files are chosen in an order fixed by a seeded hash of their path relative to their root, so the
corpus is the same on every machine with the same Python and lockfile.
"""

from __future__ import annotations

import ast
import doctest
import gzip
import hashlib
import json
import os
import re
import shutil
import sysconfig
import textwrap
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from itertools import islice
from pathlib import Path

import polars as pl

from mira_core.config import DemoCorpusParams
from mira_core.io import atomic_dir, atomic_path, is_hidden

# Packages of this project never go into the corpus: their files change with every commit.
OWN_PACKAGES = {"mira_core", "tasks", "flows"}
TEST_DIRS = {"test", "tests", "testing", "idle_test", "unittest_tests"}
SHELL_FENCE = re.compile(r"```(?:bash|sh|shell|console|zsh)\s*\n(.*?)```", re.S)
RST_SHELL = re.compile(r"\.\. (?:code-block|code|sourcecode):: (?:bash|sh|shell|console)\s*\n\n((?:[ \t]+.*\n|\n)+)")


@dataclass(frozen=True)
class Roots:
    """Where the Python installation lives: the standard library, site-packages, the C include folder."""

    stdlib: Path
    site_packages: Path
    include: Path

    @classmethod
    def of_this_interpreter(cls) -> Roots:
        paths = sysconfig.get_paths()
        return cls(Path(paths["stdlib"]), Path(paths["purelib"]), Path(paths["include"]))


@dataclass(frozen=True)
class FileRef:
    path: Path
    rel: str  # "stdlib/json/encoder.py", "site-packages/numpy/...": the stable name


def _order(refs: Iterable[FileRef], seed: int) -> list[FileRef]:
    """A deterministic pseudo-random order: by a seeded hash of the stable name."""
    return sorted(refs, key=lambda r: hashlib.blake2b(f"{seed}:{r.rel}".encode(), digest_size=8).digest())


def _walk(root: Path, prefix: str, suffixes: tuple[str, ...]) -> Iterator[FileRef]:
    for ref in _index(root, prefix):
        if ref.path.suffix in suffixes:
            yield ref


@lru_cache(maxsize=8)
def _index(root: Path, prefix: str) -> tuple[FileRef, ...]:
    """Every file under root (one os.walk), minus caches, nested site-packages and this project's files."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = Path(dirpath).relative_to(root)
        top = rel_dir.parts[0] if rel_dir.parts else ""
        if top.startswith(("mira-", "__editable__")) or top.split(".")[0] in OWN_PACKAGES:
            dirnames[:] = []
            continue
        dirnames[:] = sorted(d for d in dirnames if d not in ("__pycache__", "site-packages"))
        for name in sorted(filenames):
            rel = (rel_dir / name).as_posix()
            out.append(FileRef(Path(dirpath) / name, f"{prefix}/{rel}"))
    return tuple(out)


def _is_test(ref: FileRef) -> bool:
    parts = ref.rel.split("/")
    name = parts[-1]
    return bool(TEST_DIRS & set(parts[:-1])) or name.startswith("test_") or name.endswith("_test.py")


def _read(ref: FileRef, p: DemoCorpusParams) -> str | None:
    try:
        size = ref.path.stat().st_size
        if size > p.max_file_bytes or size < p.min_file_bytes:
            return None
        return ref.path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _texts(refs: list[FileRef], p: DemoCorpusParams) -> Iterator[tuple[FileRef, str]]:
    """The readable files among `refs` within the size bounds, in order."""
    for ref in refs:
        text = _read(ref, p)
        if text is not None:
            yield ref, text


def _take(refs: list[FileRef], p: DemoCorpusParams) -> Iterator[tuple[FileRef, str]]:
    """The first `max_records_per_source` readable files."""
    yield from islice(_texts(refs, p), p.max_records_per_source)


def python_files(roots: Roots) -> list[FileRef]:
    """Every .py/.pyi file of the standard library and site-packages."""
    return [*_walk(roots.stdlib, "stdlib", (".py",)), *_walk(roots.site_packages, "site-packages", (".py", ".pyi"))]


def code_records(refs: list[FileRef], p: DemoCorpusParams) -> list[dict]:
    """Whole modules as code records."""
    return [{"id": ref.rel, "text": text, "path": ref.rel, "lines": text.count("\n") + 1}
            for ref, text in _take(_order(refs, p.seed), p)]


def doc_records(roots: Roots, p: DemoCorpusParams) -> list[dict]:
    """Markdown and reST files, and the long descriptions in packages' METADATA."""
    out = []
    for ref, text in _take(_order(_doc_refs(roots), p.seed), p):
        if ref.rel.endswith("METADATA"):
            text = _metadata_body(text)
            if len(text) < p.min_file_bytes:
                continue
        kind = "metadata" if ref.rel.endswith("METADATA") else ref.path.suffix.lstrip(".")
        out.append({"id": ref.rel, "text": text, "kind": kind})
    return out


def _doc_refs(roots: Roots) -> list[FileRef]:
    refs = list(_walk(roots.site_packages, "site-packages", (".md", ".rst")))
    refs += [FileRef(f, f"site-packages/{f.relative_to(roots.site_packages).as_posix()}")
             for f in roots.site_packages.glob("*.dist-info/METADATA") if not f.parent.name.startswith("mira-")]
    return refs


def _metadata_body(text: str) -> str:
    """The long description of a METADATA file: everything after the first blank line."""
    head, _, body = text.partition("\n\n")
    return body.strip()


def header_files(roots: Roots, p: DemoCorpusParams) -> list[tuple[str, str]]:
    """C headers of the interpreter and of packages (numpy, torch...), as (relative name, text)."""
    refs = [*_walk(roots.include, "include", (".h",)), *_walk(roots.site_packages, "site-packages", (".h",))]
    return [(ref.rel, text) for ref, text in _take(_order(refs, p.seed), p)]


def shell_files(roots: Roots, p: DemoCorpusParams) -> list[tuple[str, str]]:
    """Shell scripts: script files, plus shell blocks quoted in Markdown, reST and METADATA docs."""
    suffixes = (".sh", ".bash", ".zsh", ".csh", ".fish")
    scripts = [*_walk(roots.stdlib, "stdlib", suffixes), *_walk(roots.site_packages, "site-packages", suffixes)]
    out: list[tuple[str, str]] = []
    for ref, text in _take(_order(scripts, p.seed), p):
        out.append((ref.rel if ref.rel.endswith(".sh") else ref.rel + ".sh", text))
    for ref in _order(_doc_refs(roots), p.seed):
        if len(out) >= p.max_records_per_source:
            break
        try:
            doc = ref.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        blocks = [m.group(1) for m in SHELL_FENCE.finditer(doc)]
        blocks += [textwrap.dedent(m.group(1)) for m in RST_SHELL.finditer(doc)]
        for i, block in enumerate(blocks):
            if len(block.strip()) >= 24 and len(out) < p.max_records_per_source:
                out.append((f"{ref.rel}.block{i:03d}.sh", block.strip() + "\n"))
    return out


def _functions(ref: FileRef, text: str) -> Iterator[tuple[str, str, ast.FunctionDef, str, str]]:
    """(module, "Class." or "", node, dedented source, docstring) of documented functions and methods."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):  # not Python, a null byte, nesting past the limits
        return
    # ast numbers lines by "\n" only (the text is read with universal newlines); splitlines also breaks at a form
    # feed, \x1c-\x1e or \u2028, which shifted every later function's slice and cut its last lines
    lines = text.split("\n")
    module = ref.rel.split("/", 1)[1].removesuffix(".py").removesuffix("/__init__").replace("/", ".")
    nodes = []
    for node in tree.body:  # top-level functions and the methods of top-level classes
        if isinstance(node, ast.ClassDef):
            nodes += [(f"{node.name}.", n) for n in node.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            nodes.append(("", node))
    for owner, node in nodes:
        doc = ast.get_docstring(node)
        if doc and node.end_lineno:
            src = textwrap.dedent("\n".join(lines[node.lineno - 1 : node.end_lineno])).rstrip() + "\n"
            yield module, owner, node, src, doc


def _signature(node: ast.FunctionDef) -> str:
    return f"{node.name}({ast.unparse(node.args)})"


def qa_records(refs: list[FileRef], p: DemoCorpusParams) -> list[dict]:
    """Question: implement the documented function; answer: its real source. At most 3 per module."""
    out = []
    for ref, text in _texts(_order([r for r in refs if r.rel.endswith(".py") and not _is_test(r)], p.seed + 1), p):
        for module, owner, node, src, doc in list(_functions(ref, text))[:3]:
            if len(out) >= p.max_records_per_source:
                return out
            kind = "method" if owner else "function"
            question = f"Write the {kind} `{owner}{_signature(node)}` of the Python module `{module}`.\n\n{doc}"
            out.append({"id": f"{ref.rel}::{owner}{node.name}", "question": question, "answer": src,
                        "module": module})
    return out


def trace_records(refs: list[FileRef], p: DemoCorpusParams) -> list[dict]:
    """Agent traces from doctests: the assistant runs each example with a python tool and reads the result."""
    parser = doctest.DocTestParser()
    out = []
    for ref, text in _texts(_order([r for r in refs if r.rel.endswith(".py")], p.seed + 2), p):
        if len(out) >= p.max_records_per_source:
            break
        if ">>>" not in text:
            continue
        for module, owner, node, _src, doc in _functions(ref, text):
            try:
                examples = parser.get_examples(doc)
            except ValueError:
                continue
            if not examples or len(out) >= p.max_records_per_source:
                continue
            out.append({"id": f"{ref.rel}::{owner}{node.name}", "messages": _trace(f"{module}.{owner}", node, doc, examples),
                        "module": module})
    return out


def _trace(qualifier: str, node: ast.FunctionDef, doc: str, examples: list[doctest.Example]) -> list[dict]:
    summary = doc.strip().splitlines()[0]
    messages: list[dict] = [
        {"role": "system", "content": "You are a coding agent. The `python` tool runs code in a fresh interpreter."},
        {"role": "user", "content": f"Show me how `{qualifier}{node.name}` behaves on a few inputs."},
    ]
    for i, ex in enumerate(examples[:8]):
        call_id = f"call_{i}"
        messages.append({"role": "assistant", "content": None, "tool_calls": [
            {"id": call_id, "type": "function",
             "function": {"name": "python", "arguments": json.dumps({"code": ex.source.strip()})}}]})
        result = ex.exc_msg and f"Traceback (most recent call last):\n  ...\n{ex.exc_msg}" or ex.want
        messages.append({"role": "tool", "tool_call_id": call_id, "content": result.strip() or "(no output)"})
    messages.append({"role": "assistant", "content": f"`{node.name}`: {summary}"})
    return messages


def _write_jsonl(rows: list[dict], path: Path) -> None:
    data = "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows).encode()
    with atomic_path(path) as tmp:
        if path.name.endswith(".gz"):
            with open(tmp, "wb") as raw, gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as gz:
                gz.write(data)
        elif path.name.endswith(".zst"):
            import zstandard

            tmp.write_bytes(zstandard.ZstdCompressor(level=6).compress(data))
        else:
            tmp.write_bytes(data)


def _write_parquet(rows: list[dict], path: Path) -> None:
    with atomic_path(path) as tmp:
        pl.DataFrame(rows).write_parquet(tmp, compression="zstd")


def _visible(files: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The files a folder source reads: none under a hidden folder or __pycache__ (ingest's folder reader skips
    them, as tooling; fastapi ships shell blocks under .agents/skills/), so the demo's counts match ingest's."""
    return [(rel, text) for rel, text in files if not is_hidden(rel)]


def _write_folder(files: list[tuple[str, str]], path: Path) -> None:
    with atomic_dir(path) as tmp:
        for rel, text in files:
            f = tmp / rel
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_text(text, encoding="utf-8")


def build_demo_corpus(out: Path, p: DemoCorpusParams, roots: Roots | None = None) -> dict[str, int]:
    """Write the eight demo sources under `out`; return records per source."""
    roots = roots or Roots.of_this_interpreter()
    out.mkdir(parents=True, exist_ok=True)
    py = python_files(roots)
    modules = [r for r in py if not _is_test(r)]
    tests = [r for r in py if _is_test(r) and r.rel.endswith(".py")]
    stdlib = [r for r in modules if r.rel.startswith("stdlib/")]
    site = [r for r in modules if r.rel.startswith("site-packages/")]

    counts: dict[str, int] = {}
    rows = code_records(stdlib, p)
    _write_jsonl(rows, out / "stdlib_code.jsonl.zst")
    counts["stdlib_code"] = len(rows)
    rows = code_records(site, p)
    _write_parquet(rows, out / "site_packages_code.parquet")
    counts["site_packages_code"] = len(rows)
    rows = code_records(tests, p)
    _write_jsonl(rows, out / "test_files.jsonl.gz")
    counts["test_files"] = len(rows)
    rows = doc_records(roots, p)
    _write_jsonl(rows, out / "docs.jsonl")
    counts["docs"] = len(rows)
    files = _visible(header_files(roots, p))
    _write_folder(files, out / "c_headers")
    counts["c_headers"] = len(files)
    files = _visible(shell_files(roots, p))
    _write_folder(files, out / "shell_scripts")
    counts["shell_scripts"] = len(files)
    rows = qa_records(modules, p)
    _write_parquet(rows, out / "docstring_qa.parquet")
    counts["docstring_qa"] = len(rows)
    rows = trace_records(modules, p)
    _write_jsonl(rows, out / "doctest_traces.jsonl")
    counts["doctest_traces"] = len(rows)
    return counts


# what build_demo_corpus writes under data/raw: a rebuild empties the folder, so anything else there is refused
DEMO_FILES = ("stdlib_code.jsonl.zst", "site_packages_code.parquet", "test_files.jsonl.gz", "docs.jsonl",
              "c_headers", "shell_scripts", "docstring_qa.parquet", "doctest_traces.jsonl")


def foreign_files(raw: Path) -> list[str]:
    """The names in `raw` that no demo build writes (hidden ones aside: a temporary file, DVC's .gitignore)."""
    raw = Path(raw)
    if not raw.is_dir():
        return []
    return sorted(c.name for c in raw.iterdir() if c.name not in DEMO_FILES and not c.name.startswith("."))


def remove_demo_corpus(out: Path) -> None:
    """Delete a previous demo corpus (used before a rebuild so no stale file survives)."""
    if out.exists():
        shutil.rmtree(out)

