"""Review tests (session 31, today's changes): regressions found in the day's fixes, each failing before its fix."""

from __future__ import annotations

from mira_core.config import parse_params


def test_min_chars_above_ingest_max_chars_is_accepted_when_every_source_sets_its_own_limit():
    # a source's max_chars overrides ingest.max_chars (ingest reads `spec.max_chars or p.max_chars`), so with every
    # source at its own limit the global one is never read: the bounds check refused a configuration that keeps
    # every record of 200 to 50,000 characters, saying "no record is in both bounds"
    p = parse_params({"sources": [{"name": "a", "path": "a.jsonl", "format": "text", "max_chars": 50_000},
                                  {"name": "b", "path": "b.jsonl", "format": "code", "max_chars": 20_000}],
                      "ingest": {"max_chars": 100, "min_chars": 200}})
    assert p.ingest.min_chars == 200
