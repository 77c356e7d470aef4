"""Review s32, scenario: a repository dump read as one folder source (`reader: folder`, one record per file).

Python/JS sources, READMEs, notebooks, configs, a package-lock.json, a .min.js, binaries, links that lead
nowhere and a link loop, hidden and vendored folders. Each test of a fix failed before it landed.
"""

from __future__ import annotations

import base64
import json
import random
from pathlib import Path

import polars as pl
import pytest

from mira_core.config import IngestParams, SourceSpec
from mira_core.ingest.source import ingest_source
from mira_core.init_project import guess_format


def _ingest(tmp_path: Path, repo: Path, **knobs) -> tuple[dict, pl.DataFrame, pl.DataFrame]:
    spec = SourceSpec(name="repo", path=str(repo), reader="folder", format="code")
    counts = ingest_source(spec, IngestParams(**knobs), tmp_path, tmp_path / "out", tmp_path / "q")
    kept = pl.concat([pl.read_parquet(f) for f in sorted((tmp_path / "out").glob("*.parquet"))] or
                     [pl.DataFrame({"record_id": [], "text": []}, schema={"record_id": pl.Utf8, "text": pl.Utf8})],
                     how="diagonal")
    qfiles = sorted((tmp_path / "q").glob("*.parquet"))
    quarantined = (pl.concat([pl.read_parquet(f) for f in qfiles]) if qfiles else
                   pl.DataFrame(schema={"locator": pl.Utf8, "reason": pl.Utf8, "detail": pl.Utf8}))
    return counts, kept, quarantined


ELF = b"\x7fELF\x02\x01\x01" + b"\x00" * 64 + b"GCC: (GNU) 12.2.0\x00" * 3  # valid UTF-8: only NULs mark it binary


def test_a_binary_file_of_a_folder_source_is_never_kept_as_text_under_nul_strip(tmp_path):
    repo = tmp_path / "repo"
    (repo / "build").mkdir(parents=True)
    (repo / "build" / "libfast.so").write_bytes(ELF)
    (repo / "main.py").write_text("def main():\n    return 0\n")
    counts, kept, quarantined = _ingest(tmp_path, repo, nul="strip")
    assert counts["read"] == counts["kept"] + counts["quarantined"] == 2
    assert kept["record_id"].to_list() == ["repo/main.py"], kept["text"].to_list()
    assert quarantined["locator"].to_list()[0].endswith("build/libfast.so")
    assert "binary" in quarantined["detail"][0]


def test_nul_strip_still_keeps_a_text_file_of_a_folder_source(tmp_path):
    """The nul knob's documented behaviour where the file is text (JSON with a \\u0000 escape rendered): held."""
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "a.py").write_text("x = 1\n")
    counts, kept, _ = _ingest(tmp_path, repo, nul="strip")
    assert counts["kept"] == 1 and kept["text"].to_list() == ["x = 1\n"]


def _notebook(blob_bytes: int) -> str:
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + random.Random(0).randbytes(blob_bytes)).decode()
    return json.dumps({"cells": [
        {"cell_type": "markdown", "metadata": {}, "source": ["# Loss curve\n", "We plot the loss."]},
        {"cell_type": "code", "execution_count": 1, "metadata": {}, "source": ["import matplotlib.pyplot as plt\n",
                                                                            "plt.plot([3, 2, 1])"],
         "outputs": [{"output_type": "display_data", "metadata": {},
                      "data": {"image/png": png, "text/plain": ["<Figure size 640x480>"]}}]}],
        "metadata": {"kernelspec": {"name": "python3"}}, "nbformat": 4, "nbformat_minor": 5}, indent=1)


def test_a_notebook_record_is_its_cells_not_its_base64_outputs(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "plot.ipynb").write_text(_notebook(150_000))
    counts, kept, _ = _ingest(tmp_path, repo, max_chars=20_000)
    assert counts["kept"] == 1
    text = kept["text"][0]
    assert "import matplotlib.pyplot as plt" in text and "We plot the loss." in text
    assert "iVBOR" not in text and len(text) < 2_000, (len(text), text[:200])


@pytest.mark.parametrize("target", ["missing.py", "loop.py"])
def test_init_names_a_link_in_a_folder_source_that_dvc_repro_cannot_hash(tmp_path, target):
    repo = tmp_path / "repo"
    repo.mkdir()
    for i in range(3):
        (repo / f"m{i}.py").write_text(f"def f{i}():\n    return {i}\n")
    (repo / "loop.py" if target == "loop.py" else repo / "broken.py").symlink_to(target)
    guess = guess_format(repo)
    assert guess.reader == "folder" and guess.format == "code"
    name = "loop.py" if target == "loop.py" else "broken.py"
    assert name in guess.why, guess.why


def test_random_repository_trees_account_for_every_visible_file_once(tmp_path):
    """Seeded random trees (text, binary, empty, BOM, Latin-1, hidden, __pycache__, node_modules, links): every file
    that is not hidden is read exactly once (read = kept + quarantined), ids are the 'repo/<relative path>', and a
    file that is not valid UTF-8 is never kept."""
    rng = random.Random(32)
    kinds = ["py", "bin", "empty", "bom", "latin1", "md", "dup"]
    for case in range(40):
        root = tmp_path / f"c{case}"
        repo = root / "repo"
        repo.mkdir(parents=True)
        visible: dict[str, str] = {}
        for i in range(rng.randint(1, 8)):
            folder = rng.choice(["", "src/", ".git/", "__pycache__/", "node_modules/x/", "my dir [v2]/", "a/.cache/"])
            kind = rng.choice(kinds)
            rel = f"{folder}f{i}.{kind}"
            data = {"py": f"def g{i}(x):\n    return x + {i}\n".encode(), "bin": b"\x89PNG\r\n\x1a\n\xff\xfe" + bytes(40),
                    "empty": b"", "bom": b"\xef\xbb\xbfprint('bom')\n", "latin1": "caf\xe9 = 1\n".encode("latin-1"),
                    "md": f"# Title {i}\n\nSome prose {i}.\n".encode(), "dup": b"same text\n"}[kind]
            (repo / rel).parent.mkdir(parents=True, exist_ok=True)
            (repo / rel).write_bytes(data)
            if not any(p.startswith(".") or p == "__pycache__" for p in rel.split("/")):
                visible[rel] = kind
        if not visible:
            continue
        counts, kept, quarantined = _ingest(root, repo)
        assert counts["read"] == len(visible) == counts["kept"] + counts["quarantined"], (case, visible, counts)
        ids = kept["record_id"].to_list()
        assert len(set(ids)) == len(ids)
        assert all(i.removeprefix("repo/") in visible for i in ids)
        kept_kinds = {visible[i.removeprefix("repo/")] for i in ids}
        assert not kept_kinds & {"bin", "latin1", "empty"}, (case, kept_kinds)
        assert sum(k == "dup" for k in kept_kinds) <= 1


def test_a_file_named_ipynb_that_is_not_a_notebook_is_read_as_it_is():
    from mira_core.ingest.readers import notebook_text

    for raw in ("not json at all", '{"cells": 3}', "[1, 2]", '{"nbformat": 4}'):
        assert notebook_text(raw) == raw
    nb = json.dumps({"cells": [{"cell_type": "raw", "source": "x"}, {"cell_type": "code", "source": "y = 1\n"}]})
    assert notebook_text(nb) == "# %% [raw]\n# x\n\n# %%\ny = 1\n"  # a cell that is not code commented, as jupytext
