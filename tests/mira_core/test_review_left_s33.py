"""Session 33: what the last session's note left, each test failing before its fix landed."""

from __future__ import annotations

import pytest

from tests.mira_core.test_review_repo_folder_s32 import _ingest


@pytest.mark.parametrize("encoding, name", [("utf-16", "UTF-16"), ("utf-16-be", "UTF-16"), ("utf-32", "UTF-32")])
def test_a_utf16_file_of_a_folder_source_is_named_by_its_encoding_not_called_a_binary(tmp_path, encoding, name):
    """Its byte-order mark says what it is, as a JSON Lines file's does: "a binary file" sent the user looking
    for an object file in a folder of text."""
    repo = tmp_path / "repo"
    repo.mkdir()
    mark = "\ufeff" if encoding == "utf-16-be" else ""  # Python writes the mark itself for utf-16 and utf-32
    (repo / "notes.txt").write_bytes((mark + "Windows wrote this file.\n").encode(encoding))
    (repo / "main.py").write_text("x = 1\n")
    counts, kept, quarantined = _ingest(tmp_path, repo)
    assert counts["read"] == counts["kept"] + counts["quarantined"] == 2
    assert kept["record_id"].to_list() == ["repo/main.py"]
    assert quarantined["reason"].to_list() == ["invalid_utf8"]
    assert f"the file is {name}" in quarantined["detail"][0] and "iconv" in quarantined["detail"][0]
