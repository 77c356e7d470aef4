"""Tests of atomic writes and digests."""

from __future__ import annotations

import os

import pytest

from mira_core.io import atomic_dir, atomic_path, tree_digest, write_json
from mira_core.layout import corpus_shards


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.json"
    write_json({"v": 1}, target)
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text('{"v": 2, "half')
        raise RuntimeError("crash")
    assert target.read_text().strip().endswith("}") and '"v": 1' in target.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]
    assert target.stat().st_mode & 0o777 == 0o644  # not mkstemp's private 0600


def test_tree_digest_sees_content_and_names(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.txt").write_text("1")
    first = tree_digest(tmp_path / "d")
    (tmp_path / "d" / "a.txt").write_text("2")
    second = tree_digest(tmp_path / "d")
    (tmp_path / "d" / "a.txt").rename(tmp_path / "d" / "b.txt")
    third = tree_digest(tmp_path / "d")
    assert len({first, second, third}) == 3
    assert tree_digest(tmp_path / "missing") == "missing"


def test_a_file_replaced_with_its_size_and_mtime_kept_gets_a_new_digest(tmp_path):
    # cp -p, rsync -a and tar x keep the mtime: the memo keyed by (path, size, mtime) served the old digest
    from mira_core.io import file_digest

    f, other = tmp_path / "labels.parquet", tmp_path / "restored"
    f.write_bytes(b"a" * 64)
    before = file_digest(f)
    other.write_bytes(b"b" * 64)
    st = f.stat()
    os.utime(other, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(other, f)
    assert f.stat().st_mtime_ns == st.st_mtime_ns and file_digest(f) != before


def test_student_version_digests_every_weights_file_of_a_sharded_checkpoint(tmp_path):
    from mira_core.students.base import student_version

    lm = tmp_path / "student" / "lm"
    lm.mkdir(parents=True)
    (tmp_path / "student" / "config.json").write_text("{}")
    for name in ("model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"):
        (lm / name).write_bytes(b"w1")
    (lm / "model.safetensors.index.json").write_text("{}")
    before = student_version(tmp_path / "student")
    (lm / "model-00002-of-00002.safetensors").write_bytes(b"w2")
    assert student_version(tmp_path / "student") != before


def test_atomic_path_syncs_the_data_before_the_rename_and_the_folder_after(tmp_path, monkeypatch):
    """Without the syncs a power cut can leave the new name on an empty or partial file."""
    import os
    import stat

    from mira_core import io

    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append(("fsync", "dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file"))
        real_fsync(fd)

    def replace(src, dst):
        events.append(("replace", os.path.basename(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(io.os, "fsync", fsync)
    monkeypatch.setattr(io.os, "replace", replace)
    write_json({"v": 1}, tmp_path / "out.json")
    assert events == [("fsync", "file"), ("replace", "out.json"), ("fsync", "dir")]


def test_atomic_dir_syncs_every_file_and_folder_inside_before_the_rename_and_the_parent_after(tmp_path, monkeypatch):
    """Files written inside with a plain open() (the Megatron export, model files) must not reach the new name empty."""
    from mira_core import io

    events = []
    real_fsync, real_replace = io._fsync, io.os.replace
    monkeypatch.setattr(io, "_fsync", lambda p: (events.append(("fsync", p.name)), real_fsync(p)))
    monkeypatch.setattr(io.os, "replace", lambda s, d: (events.append(("replace", os.path.basename(d))),
                                                        real_replace(s, d)))
    with atomic_dir(tmp_path / "out") as tmp:
        (tmp / "sub").mkdir()
        with open(tmp / "sub" / "data.bin", "wb") as f:
            f.write(b"x" * 100)
        with open(tmp / "index.idx", "wb") as f:
            f.write(b"y")
    names = [n for _, n in events]
    renamed = names.index("out")
    before = set(names[:renamed])
    assert {"data.bin", "index.idx", "sub"} <= before and any(n.startswith(".out.") for n in before)
    assert names.index("data.bin") < names.index("sub")  # a folder after its contents
    assert events[renamed + 1:] == [("fsync", tmp_path.name)]  # the parent, after the rename
    assert (tmp_path / "out" / "sub" / "data.bin").read_bytes() == b"x" * 100


def test_atomic_path_survives_a_folder_that_cannot_be_synced(tmp_path, monkeypatch):
    from mira_core import io

    real_open = io.os.open

    def no_dir_open(path, flags, *a):
        if io.os.path.isdir(path):
            raise PermissionError("cannot open a folder here (Windows)")
        return real_open(path, flags, *a)

    monkeypatch.setattr(io.os, "open", no_dir_open)
    write_json({"v": 1}, tmp_path / "out.json")
    assert '"v": 1' in (tmp_path / "out.json").read_text()


def test_atomic_dir_removes_what_a_killed_run_left_and_corpus_shards_skip_it(tmp_path):
    """A SIGKILL leaves `.<name>.XXXXXXXX.tmp/`, a death between the two renames `.<name>.old/`: neither is corpus."""
    corpus = tmp_path / "corpus"
    for folder in ("docs", ".docs.k3j4h5ab.tmp", ".docs.old", "docs.v2", ".docs.v2.abcd1234.tmp"):
        (corpus / folder).mkdir(parents=True)
        (corpus / folder / "part-00000.parquet").write_bytes(b"shard")
    assert corpus_shards(corpus) == [corpus / "docs" / "part-00000.parquet", corpus / "docs.v2" / "part-00000.parquet"]
    assert corpus_shards(corpus, "docs") == [corpus / "docs" / "part-00000.parquet"]
    with atomic_dir(corpus / "docs") as tmp:
        (tmp / "part-00000.parquet").write_bytes(b"new")
    # docs.v2's temporary folder may be a live run's: only docs's own leftovers go
    assert sorted(p.name for p in corpus.iterdir()) == [".docs.v2.abcd1234.tmp", "docs", "docs.v2"]
    assert (corpus / "docs" / "part-00000.parquet").read_bytes() == b"new"


def test_atomic_dir_removes_what_a_nested_atomic_dir_left_when_killed(tmp_path):
    """The Megatron export runs an atomic_dir inside the select task's: its temporary folder, named after the
    outer one, sits beside the output as `..megatron.XXXXXXXX.tmp.YYYYYYYY.tmp` and must go as the outer one's
    does, at any depth of nesting; a sibling's nested folders stay."""
    sel = tmp_path / "mira"
    left = ("..megatron.ab12cd34.tmp.ef56gh78.tmp", "..megatron.ab12cd34.tmp.old", ".megatron.ab12cd34.tmp",
            "...megatron.ab12cd34.tmp.ef56gh78.tmp.ij90kl12.tmp")  # and a level deeper
    for name in (*left, "..megatron.v2.ab12cd34.tmp.ef56gh78.tmp"):
        (sel / name).mkdir(parents=True)
    with atomic_dir(sel / "megatron") as tmp:
        (tmp / "blend.txt").write_text("1 a\n")
    assert sorted(p.name for p in sel.iterdir()) == ["..megatron.v2.ab12cd34.tmp.ef56gh78.tmp", "megatron"]


def test_a_model_folder_is_identified_by_content_not_by_sizes(tmp_path):
    # A model retrained in place keeps its architecture, so its weight files keep their sizes: the digest that keys
    # embeddings, student checks and the static encoder's cache must still change.
    from mira_core.io import model_digest

    folders = [tmp_path / n for n in ("a", "b", "c")]
    for f, weights in zip(folders, (b"\x00" * 64, b"\x01" * 64, b"\x00" * 64), strict=True):
        f.mkdir()
        (f / "config.json").write_text('{"hidden_size": 8}')
        (f / "model.safetensors").write_bytes(weights)
    a, b, c = (model_digest(f) for f in folders)
    assert a != b and a == c
    (folders[2] / "tokenizer.json").write_text("{}")  # a changed tokenizer is a changed model too
    assert model_digest(folders[2]) != a and model_digest(folders[0], "recipe/2") != a
    # a BPE tokenizer kept as vocab.json + merges.txt (older hub snapshots), or a SentencePiece model: read by
    # transformers when there is no tokenizer.json, so an edit of one is a changed model
    for name in ("merges.txt", "vocab.json", "spiece.model", "added_tokens.json", "sentence_bert_config.json"):
        before = model_digest(folders[1])
        (folders[1] / name).write_text(f"{name} v1")
        assert model_digest(folders[1]) != before, name


def test_glob_regex_matches_what_pathlib_glob_gives(tmp_path):
    from mira_core.io import glob_regex, walk_files

    for f in ("a.md", "A.MD", "b.py", "sub/a.py", "sub/c.py", "sub/deep/d.py", "sub/deep/e.txt", "x/ab.py",
              "x/b1.txt", "y/z/[k].py"):
        (tmp_path / f).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / f).write_text("x")
    files = [rel.as_posix() for rel, _ in walk_files(tmp_path)[0]]
    for pattern in ("**/*", "*.md", "*.MD", "**/*.py", "sub/*.py", "sub/**/*.py", "**/a?.py", "**/[ab]*.txt", "*/*",
                    "**/[!a]*.py", "x/**", "**/deep/*", "y/z/*.py", "b.py"):
        want = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.glob(pattern) if p.is_file())
        assert sorted(f for f in files if glob_regex(pattern).match(f)) == want, pattern


def test_walk_files_follows_links_to_folders_once_and_names_links_to_nothing(tmp_path):
    from mira_core.io import walk_files

    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "a.txt").write_text("a")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "local.txt").write_text("l")
    (corpus / "one").symlink_to(tmp_path / "real")
    (corpus / "two").symlink_to(tmp_path / "real")  # the same folder twice is two paths of the corpus
    (corpus / "one_more").mkdir()
    (corpus / "one_more" / "up").symlink_to(corpus)  # a loop: its files are read where they are, not again
    (corpus / "gone.txt").symlink_to(tmp_path / "nowhere")
    (corpus / ".hidden").symlink_to(tmp_path / "real")
    files, dangling, unlistable = walk_files(corpus)
    assert [r.as_posix() for r, _ in files] == ["local.txt", "one/a.txt", "two/a.txt"]
    assert [r.as_posix() for r in dangling] == ["gone.txt"] and unlistable == []


def test_walk_files_keeps_the_order_sorted_paths_have(tmp_path):
    # part by part: a/b.h before a-b/c.h (a string sort puts '-' before '/'); a folder source's records, and the
    # samples drawn from them, follow this order
    from mira_core.io import walk_files

    for f in ("a/b.h", "a-b/c.h", "a.h", "a_b.h", "A/z.h"):
        (tmp_path / f).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / f).write_text("x")
    want = [p.relative_to(tmp_path) for p in sorted(tmp_path.glob("**/*")) if p.is_file()]
    assert [rel for rel, _ in walk_files(tmp_path)[0]] == want
