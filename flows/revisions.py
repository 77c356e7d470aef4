"""Reading pipeline outputs at another revision: a git commit, branch or tag, or a DVC experiment.

Outputs are DVC-tracked, so an old revision's files come out of the DVC cache through
`dvc.api.DVCFileSystem`; `workspace` means the files on disk now. A project in a subfolder of its git
repository (`dvc init --subdir`) is read through the repository's top level, as a DVC subrepo.
"""

from __future__ import annotations

import glob
import posixpath
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from mira_core.errors import ConfigError

WORKSPACE = "workspace"
T = TypeVar("T")


def unreadable(rev: str, path: str, why: str) -> ConfigError:
    """A file that is there at `rev` but cannot be read, named with its revision: these commands read other runs,
    and a parser's own error (a merge conflict's markers in one of them) said neither which run nor which file."""
    from mira_core.stages import writer_of

    stage = writer_of(path)
    fix = f"re-run the {stage} stage there" if stage else "fix it there"  # params.yaml is written by hand
    return ConfigError(f"{path} at {rev!r}: {why}; {fix}, or read another revision")


def conflict_note(data: bytes) -> str:
    """A note for a text holding a git merge conflict's markers, the likeliest reason it no longer parses."""
    return (" it holds git merge-conflict markers (<<<<<<<, =======, >>>>>>>)"
            if re.search(rb"^(<{7}|={7}|>{7})", data, re.M) else "")


def _top(root: Path) -> tuple[Path, str]:
    """The git top level holding `root`, and `root`'s path under it ("" when it is the top, or not in git)."""
    try:
        # errors: a top level whose name is no UTF-8 (a Latin-1 folder) is its bytes, as the file system names it
        res = subprocess.run(["git", "-C", str(root), "rev-parse", "--show-toplevel"], capture_output=True,
                             text=True, errors="surrogateescape", timeout=30)
    except (OSError, subprocess.SubprocessError):
        return root, ""
    if res.returncode != 0 or not res.stdout.strip():
        return root, ""  # DVCFileSystem says why there is no revision to read
    top = Path(res.stdout.strip()).resolve()
    rel = root.resolve().relative_to(top).as_posix()
    return top, "" if rel == "." else rel


def open_rev(root: Path, rev: str):
    """(a filesystem over the repository at `rev`, the project's folder in it: "" at its top); None for the
    workspace."""
    if rev == WORKSPACE:
        return None
    from dvc.api import DVCFileSystem
    from dvc.scm import RevError, SCMError
    from scmrepo.exceptions import SCMError as GitError

    top, prefix = _top(root)
    try:
        # a project below the top level is a DVC subrepo: read at `root` itself, DVC found no file at any revision
        fs = DVCFileSystem(url=str(top), rev=rev, subrepos=bool(prefix))
        fs.repo  # noqa: B018 (the filesystem is lazy: resolve the revision here, where its error is caught)
        return fs, prefix
    except RevError as e:
        raise ConfigError(f"{rev!r} is neither a git revision nor a DVC experiment: {e}") from None
    except SCMError as e:  # the project is not a git repository: no revision to read
        raise ConfigError(f"{root}: cannot read revision {rev!r}: {e}") from None
    except GitError as e:
        # scmrepo's own error, no DvcException: a repository without a commit yet ("Empty git repo") answered any
        # name but HEAD (a branch, HEAD~1, an experiment's) with a traceback
        raise ConfigError(f"{root}: cannot read revision {rev!r}: {e}") from None


class _NotCached(Exception):
    """A file the revision lists whose content the local DVC cache does not hold."""


def _cached(rev: str, what: str, read: Callable[[], T]) -> T:
    """`read()`, with a revision's outputs missing from the local DVC cache (a fresh clone before `dvc pull`, or
    after `dvc gc`) a ConfigError saying so rather than DVC's traceback."""
    from dvc.exceptions import DvcException
    from dvc_data.index.index import DataIndexError

    try:
        return read()
    except (DataIndexError, DvcException, _NotCached) as e:
        raise ConfigError(f"{what} at {rev!r} is not in the local DVC cache: `dvc pull` it first (an experiment's: "
                          f"`dvc exp pull <remote> {rev}`) ({type(e).__name__}: {e})") from None


def _read(fs, path: str, mode: str = "r"):
    """A file the revision lists, read; a FileNotFoundError there means its content is not in the cache."""
    try:
        with fs.open(path, mode) as f:
            return f.read()
    except FileNotFoundError as e:
        raise _NotCached(str(e)) from None


def _text(rev: str, path: str, data: bytes) -> str:
    """A file's bytes as UTF-8, which the stages write, whatever the locale: under an ASCII one a rubric with an
    accent in an anchor's description was a UnicodeDecodeError's traceback."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise unreadable(rev, path, f"not UTF-8 text (byte {e.start})") from None


def read_texts(root: Path, rev: str, pattern: str) -> dict[str, str]:
    """{project-relative path: text} of the files matching `pattern` (e.g. data/rubrics/*.json) at `rev`."""
    opened = open_rev(root, rev)
    if opened is None:
        return {rel: _text(rev, rel, p.read_bytes())
                for p in sorted(root.glob(pattern)) for rel in [p.relative_to(root).as_posix()]}
    fs, prefix = opened
    base = f"/{prefix}/" if prefix else "/"

    def read() -> dict[str, str]:
        try:
            # the project's folder is a name, not a pattern: one called "proj [1]" matched nothing, and its rubrics
            # read as none at every revision
            paths = sorted(fs.glob(glob.escape(base) + pattern.lstrip("/")))
        except FileNotFoundError:
            return {}
        return {p[len(base):]: _text(rev, p[len(base):], _read(fs, p, "rb")) for p in paths}

    return _cached(rev, pattern, read)


def read_bytes(root: Path, rev: str, path: str) -> bytes | None:
    """One file's bytes at `rev` (None when it does not exist there)."""
    opened = open_rev(root, rev)
    if opened is None:
        f = root / path
        return f.read_bytes() if f.exists() else None
    fs, prefix = opened

    def read() -> bytes | None:
        full = ("/" + prefix if prefix else "") + "/" + path.lstrip("/")
        if fs.exists(full):
            return _read(fs, full, "rb")
        # A file inside a DVC-tracked folder whose listing the local cache lacks "does not exist" without a word
        # (a fresh clone before `dvc pull`): mira compare said select had not run there. Listing the nearest folder
        # that exists raises then, which _cached turns into the "not in the local DVC cache" message.
        parent = posixpath.dirname(full)
        while parent not in ("", "/") and not fs.exists(parent):
            parent = posixpath.dirname(parent)
        fs.ls(parent or "/", detail=False)
        return None

    return _cached(rev, path, read)
