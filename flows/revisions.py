"""Reading pipeline outputs at another revision: a git commit, branch or tag, or a DVC experiment.

Outputs are DVC-tracked, so an old revision's files come out of the DVC cache through
`dvc.api.DVCFileSystem`; `workspace` means the files on disk now.
"""

from __future__ import annotations

from pathlib import Path

from mira_core.errors import ConfigError

WORKSPACE = "workspace"


def open_rev(root: Path, rev: str):
    """A filesystem over the repository at `rev` (None for the workspace)."""
    if rev == WORKSPACE:
        return None
    from dvc.api import DVCFileSystem
    from dvc.scm import RevError, SCMError

    try:
        fs = DVCFileSystem(url=str(root), rev=rev)
        fs.repo  # noqa: B018 (the filesystem is lazy: resolve the revision here, where its error is caught)
        return fs
    except RevError as e:
        raise ConfigError(f"{rev!r} is neither a git revision nor a DVC experiment: {e}") from None
    except SCMError as e:  # the project is not a git repository: no revision to read
        raise ConfigError(f"{root}: cannot read revision {rev!r}: {e}") from None


def read_texts(root: Path, rev: str, pattern: str) -> dict[str, str]:
    """{repo-relative path: text} of the files matching `pattern` (e.g. data/rubrics/*.json) at `rev`."""
    fs = open_rev(root, rev)
    if fs is None:
        return {p.relative_to(root).as_posix(): p.read_text() for p in sorted(root.glob(pattern))}
    try:
        paths = sorted(fs.glob("/" + pattern.lstrip("/")))
    except FileNotFoundError:
        return {}
    return {p.lstrip("/"): fs.read_text(p) for p in paths}


def read_bytes(root: Path, rev: str, path: str) -> bytes | None:
    """One file's bytes at `rev` (None when it does not exist there)."""
    fs = open_rev(root, rev)
    if fs is None:
        f = root / path
        return f.read_bytes() if f.exists() else None
    try:
        with fs.open("/" + path.lstrip("/"), "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None
