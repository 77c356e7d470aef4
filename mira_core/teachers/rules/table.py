"""Rewrite the table of the rules teacher's dimensions in docs/teachers.md from the registry.

    python -m mira_core.teachers.rules.table          # rewrite docs/teachers.md in place (atomically)
    python -m mira_core.teachers.rules.table --check  # exit 1 when docs/teachers.md is out of date

The table sits between the START and END markers; everything outside them is left as it is.
tests/mira_core/teachers/test_rules_table.py fails when the page's copy differs from the registry.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mira_core.teachers.rules.registry import dimension_table

START = "<!-- rules-dimensions:start -->"
END = "<!-- rules-dimensions:end -->"
DOC = Path(__file__).resolve().parents[3] / "docs" / "teachers.md"
COMMAND = "python -m mira_core.teachers.rules.table"


def current_table(doc: str) -> list[str]:
    """The table lines between the markers of a page's text (blank lines dropped)."""
    start, end = doc.find(START), doc.find(END)
    if start < 0 or end < start:
        raise ValueError(f"the page has no {START} ... {END} markers")
    return [ln for ln in doc[start + len(START): end].split("\n") if ln.strip()]


def rewrite(doc: str) -> str:
    """The page's text with the generated table between the markers."""
    current_table(doc)  # raises when the markers are missing
    start, end = doc.find(START) + len(START), doc.find(END)
    # Blank lines around the table: markdown inside <details> needs them to render as a table.
    return doc[:start] + "\n\n" + "\n".join(dimension_table()) + "\n\n" + doc[end:]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--doc", type=Path, default=DOC, help="the markdown file that holds the table (docs/teachers.md)")
    p.add_argument("--check", action="store_true", help="only say whether the table is up to date")
    args = p.parse_args(argv)
    text = args.doc.read_text(encoding="utf-8")
    new = rewrite(text)
    if new == text:
        print(f"{args.doc}: the rules dimensions table is up to date")
        return 0
    if args.check:
        print(f"{args.doc}: the rules dimensions table is out of date; run `{COMMAND}`")
        return 1
    from mira_core.io import atomic_path  # only the rewrite needs it (and it pulls in polars)

    with atomic_path(args.doc) as tmp:
        tmp.write_text(new, encoding="utf-8")
    print(f"{args.doc}: rewrote the rules dimensions table ({len(dimension_table()) - 2} dimensions)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
