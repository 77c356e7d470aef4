"""Review of the selection's outputs and file I/O (mira_core/io.py, manifests.py): edge cases that failed before
their fix."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from mira_core.errors import ConfigError
from mira_core.io import glob_regex, read_json, walk_files, write_json
from tests.mira_core.test_dedup import write_corpus

# --- JSON -----------------------------------------------------------------------------------------------------


def test_a_truncated_json_file_is_a_config_error_naming_it(tmp_path: Path) -> None:
    """read_json raised json's bare JSONDecodeError ("Unterminated string starting at: line 1 column 16"), which
    names no file: metrics/ingest.json, a student's config.json or evaluate's key.json cut short failed a stage
    with a traceback that did not say which file to look at."""
    bad = tmp_path / "metrics" / "ingest.json"
    bad.parent.mkdir()
    bad.write_text('{"records": 3, "sour')
    with pytest.raises(ConfigError, match=r"ingest\.json: not readable JSON \(Unterminated string.*line 1 column 16"):
        read_json(bad)
    bad.write_bytes(b'{"s": "\xff"}')  # not UTF-8
    with pytest.raises(ConfigError, match=r"ingest\.json: not readable JSON \('utf-8' codec"):
        read_json(bad)


def test_json_is_written_and_read_as_utf8_whatever_the_locale(tmp_path: Path) -> None:
    """write_json writes non-ASCII text as is (ensure_ascii=False) but in the locale's encoding: under an ASCII
    locale (LC_ALL=C without Python's UTF-8 mode) a source named "日本" raised UnicodeEncodeError, and read_json
    could not read back the UTF-8 files other tools write (a model's config.json)."""
    script = ("import sys, locale\n"
              "from mira_core.io import read_json, write_json\n"
              "assert locale.getpreferredencoding(False).lower() in ('ascii', 'ansi_x3.4-1968'), "
              "locale.getpreferredencoding(False)\n"
              "write_json({'source': '\\u65e5\\u672c'}, sys.argv[1])\n"
              "print(read_json(sys.argv[1])['source'] == '\\u65e5\\u672c')\n")
    out = tmp_path / "lineage.json"
    env = {"LC_ALL": "C", "PYTHONUTF8": "0", "PATH": "/usr/bin:/bin"}
    res = subprocess.run([sys.executable, "-c", script, str(out)], env=env, capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[2], timeout=60)
    assert res.returncode == 0, res.stderr[-600:]
    assert res.stdout.strip() == "True"
    assert out.read_bytes().decode("utf-8") == '{\n  "source": "日本"\n}\n'
    write_json({"s": "ü"}, tmp_path / "here.json")  # and as UTF-8 in this process too
    assert (tmp_path / "here.json").read_bytes() == '{\n  "s": "ü"\n}\n'.encode()


# --- glob patterns of a folder source -------------------------------------------------------------------------


@pytest.mark.parametrize("pattern", ["x[!a]y", "[^a].txt", "[!]].txt", "[z-a].txt", "[!]", "x[]]y", "[+-0]y"])
def test_glob_regex_reads_a_class_as_pathlib_glob_does(tmp_path: Path, pattern: str) -> None:
    """A class was read as a plain regex class: `x[!a]y` matched the file y in folder x (a regex's [^a] matches a
    '/'), `[^a]` was a complement (fnmatch reads the '^' as a character), and `[!]]` or `[z-a]` raised re.error
    ("bad escape", "bad character range") from the params' pattern instead of matching what pathlib matches."""
    for f in ("x/y", "xby", "x^y", "xay", "x]y", "a.txt", "^.txt", "b.txt", "].txt", "[!]", "+/y", ",y"):
        (tmp_path / f).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / f).write_text("1")
    files = [rel.as_posix() for rel, _ in walk_files(tmp_path)[0]]
    want = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.glob(pattern) if p.is_file())
    assert sorted(f for f in files if glob_regex(pattern).match(f)) == want


# --- Parquet: paths read as names, damaged files named --------------------------------------------------------


def test_the_export_reads_a_corpus_under_a_folder_whose_name_holds_brackets(tmp_path: Path) -> None:
    """polars reads a path as a glob pattern by default: under "runs [2]" (a class matching "runs 2") the export's
    reads of the corpus shards found no file ("expanded paths were empty") and failed."""
    from mira_core.manifests import kept_texts, materialize

    root = tmp_path / "runs [2]"
    lay = write_corpus(root, {"web": [("r0", "zero"), ("r1", "one two")], "code": [("r0", "x = 1")]})
    manifest = pl.DataFrame({"record_id": ["web/r0", "web/r1", "code/r0"], "kept": [True, False, True],
                             "epochs": [1.0, 0.0, 1.0]})
    assert sorted(kept_texts(lay.corpus, manifest)) == [("code", "x = 1"), ("web", "zero")]
    assert materialize(lay.corpus, manifest, "parquet", root / "out") == {"code": 1, "web": 1}
    written = pl.read_parquet(sorted((root / "out").glob("*/*.parquet")), glob=False)
    assert written["record_id"].sort().to_list() == ["code/r0", "web/r0"]


def test_a_truncated_corpus_shard_is_a_config_error_naming_it(tmp_path: Path) -> None:
    """polars' "File out of specification: expected parquet magic bytes" names no file; among a corpus's shards
    the one cut short (a disk full, a partial `dvc pull`) is named."""
    from mira_core.io import read_parquet
    from mira_core.manifests import kept_texts

    lay = write_corpus(tmp_path, {"web": [(f"r{i}", f"text {i}") for i in range(10)]}, shard_size=4)
    shard = lay.corpus / "web" / "part-00001.parquet"
    shard.write_bytes(shard.read_bytes()[:40])
    manifest = pl.DataFrame({"record_id": ["web/r0"], "kept": [True], "epochs": [1.0]})
    with pytest.raises(ConfigError, match=r"web/part-00001\.parquet: not a readable Parquet file"):
        list(kept_texts(lay.corpus, manifest))
    with pytest.raises(ConfigError, match=r"^[^,]*part-00001\.parquet: not a readable Parquet file"):
        read_parquet(lay.corpus_shards("web"), columns=["record_id"])  # only the damaged one of the three
