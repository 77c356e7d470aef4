"""Review of running mira on a machine whose locale is not UTF-8 (session 33): a test for each bug found.

Python 3.11 turns on its UTF-8 mode by itself under LANG=C / LC_ALL=POSIX (C locale coercion), so those run as a
UTF-8 locale does. It does not under PYTHONUTF8=0 with the C locale (file names and argv then decode as ASCII, the
bytes above 0x7f as lone surrogates) nor under a Latin-1 locale (file names decode as Latin-1: 'café' is 'cafÃ©').

Found: `mira init` with a non-ASCII source path or project folder stops with a UnicodeEncodeError traceback under
an ASCII locale; `mira stage ingest` says "no such folder" of a non-ASCII source folder that exists; a folder
source's non-ASCII file names crash ingest (an ASCII locale) or become mojibake record ids (a Latin-1 locale: the
random baseline then keeps other records than under UTF-8); and, under any locale, a folder source holding a file
whose name is not UTF-8 (a Latin-1-named file from an old archive) crashes ingest with a UnicodeEncodeError.
Each test failed before its fix: the `mira` command runs itself again in UTF-8 mode (flows.cli._utf8_mode), and a
file name is read as its bytes in UTF-8, a byte that is not written as \\xNN (readers.display_name).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from mira_core.config import IngestParams, SourceSpec
from mira_core.ingest.source import ingest_source
from mira_core.io import tree_digest
from tests.conftest import tool_env

# an ASCII interpreter: C locale, no UTF-8 mode, no coercion to C.UTF-8
ASCII = {"LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"}
CODE = "def f(x):\n    return x + 1  # caf\u00e9 \u2615\n"


def _ascii_env() -> dict[str, str]:
    env = {**tool_env(), **ASCII}
    env.pop("PYTHONIOENCODING", None)
    return env


def _no_traceback(res: subprocess.CompletedProcess) -> str:
    out = res.stdout + res.stderr
    assert "Traceback" not in out and "UnicodeEncodeError" not in out and "UnicodeDecodeError" not in out, out[-3000:]
    return out


def _ids(corpus: Path) -> list[str]:
    import polars as pl

    return sorted(pl.read_parquet(corpus / "*.parquet")["record_id"].to_list())


def test_the_ascii_env_really_is_ascii(tmp_path):
    # the premise of the tests below (not a bug): this interpreter under ASCII is neither in UTF-8 mode nor coerced
    res = subprocess.run([sys.executable, "-c", "import sys; print(sys.flags.utf8_mode, sys.getfilesystemencoding())"],
                         env=_ascii_env(), capture_output=True, text=True, cwd=tmp_path)
    assert res.stdout.split() == ["0", "ascii"]


def test_mira_init_under_an_ascii_locale_takes_a_non_ascii_source_path(tmp_path):
    data = tmp_path / "donn\u00e9es"
    data.mkdir()
    (data / "caf\u00e9.py").write_text(CODE, encoding="utf-8")
    res = subprocess.run([sys.executable, "-m", "flows.cli", "init", str(tmp_path / "proj"), "--source", f"code={data}"],
                         env=_ascii_env(), capture_output=True, text=True, encoding="utf-8", errors="replace",
                         cwd=tmp_path)
    _no_traceback(res)
    assert res.returncode == 0, res.stdout + res.stderr
    params = yaml.safe_load((tmp_path / "proj" / "params.yaml").read_text(encoding="utf-8"))
    assert params["sources"][0]["path"] == str(data)


def test_mira_init_under_an_ascii_locale_makes_a_non_ascii_project_folder(tmp_path):
    (tmp_path / "qa.jsonl").write_text(json.dumps({"question": "Qu'est-ce ?", "answer": "Un caf\u00e9."}) + "\n",
                                       encoding="utf-8")
    dest = tmp_path / "proj\u00e9t\u00e9"
    res = subprocess.run([sys.executable, "-m", "flows.cli", "init", str(dest), "--source",
                          f"qa={tmp_path / 'qa.jsonl'}"], env=_ascii_env(), capture_output=True, text=True,
                         encoding="utf-8", errors="replace", cwd=tmp_path)
    _no_traceback(res)
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"# {dest.name}: a mira project" in (dest / "README.md").read_text(encoding="utf-8")


def test_mira_stage_ingest_under_an_ascii_locale_reads_a_non_ascii_source_folder(tmp_path):
    data = tmp_path / "donn\u00e9es"
    data.mkdir()
    for i in range(3):
        (data / f"m{i}.py").write_text(CODE.replace("x + 1", f"x + {i}"), encoding="utf-8")
    params = {"demo_corpus": {"enabled": False},
              "sources": [{"name": "code", "path": "donn\u00e9es", "reader": "folder", "format": "code"}],
              "select": {"baselines": ["random"], "held_out_sources": [], "dsir_target": []},
              "evaluate": {"enabled": False}, "runner": {"prefect_server_idle_s": 0}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True), encoding="utf-8")
    res = subprocess.run([sys.executable, "-m", "flows.cli", "stage", "ingest"], env=_ascii_env(),
                         capture_output=True, text=True, encoding="utf-8", errors="replace", cwd=tmp_path, timeout=120)
    out = _no_traceback(res)
    assert res.returncode == 0, out[-3000:]
    report = json.loads((tmp_path / "metrics" / "ingest.json").read_text(encoding="utf-8"))["sources"]["code"]
    assert (report["read"], report["kept"], report["quarantined"]) == (3, 3, 0)


def test_folder_record_ids_under_an_ascii_locale_are_those_of_a_utf8_locale(tmp_path):
    data = tmp_path / "code"
    (data / "mod\u00e8les").mkdir(parents=True)
    for name in ("caf\u00e9.py", "\u65e5\u672c\u8a9e.py", "mod\u00e8les/gr\u00f6\u00dfe.py", "plain.py"):
        (data / name).write_text(CODE.replace("x + 1", f"x + {len(name)}"), encoding="utf-8")
    spec = SourceSpec(name="code", path="code", reader="folder", format="code")
    ingest_source(spec, IngestParams(), tmp_path, tmp_path / "utf8", tmp_path / "utf8-q")
    script = ("import json, pathlib, sys\n"
              "from mira_core.config import IngestParams, SourceSpec\n"
              "from mira_core.ingest.source import ingest_source\n"
              "root = pathlib.Path(sys.argv[1])\n"
              "spec = SourceSpec(name='code', path='code', reader='folder', format='code')\n"
              "print(json.dumps(ingest_source(spec, IngestParams(), root, root / 'ascii', root / 'ascii-q')))\n")
    res = subprocess.run([sys.executable, "-c", script, str(tmp_path)], env=_ascii_env(), capture_output=True,
                         text=True, encoding="utf-8", errors="replace", cwd=tmp_path, timeout=120)
    _no_traceback(res)
    assert res.returncode == 0, res.stderr[-3000:]
    assert _ids(tmp_path / "ascii") == _ids(tmp_path / "utf8") == sorted(
        f"code/{n}" for n in ("caf\u00e9.py", "\u65e5\u672c\u8a9e.py", "mod\u00e8les/gr\u00f6\u00dfe.py", "plain.py"))


def test_a_folder_source_file_whose_name_is_not_utf8_is_read_not_a_crash(tmp_path):
    data = tmp_path / "code"
    data.mkdir()
    with open(os.fsencode(data) + b"/caf\xe9.py", "w", encoding="utf-8") as fh:  # a Latin-1 name, from an old archive
        fh.write(CODE)
    (data / "ok.py").write_text("def g(y):\n    return y * 2\n", encoding="utf-8")
    assert isinstance(tree_digest(data), str)  # the ingest task's cache key
    spec = SourceSpec(name="code", path="code", reader="folder", format="code")
    report = ingest_source(spec, IngestParams(), tmp_path, tmp_path / "corpus", tmp_path / "q")
    assert report["read"] == report["kept"] + report["quarantined"] == 2
    assert "code/ok.py" in _ids(tmp_path / "corpus")
