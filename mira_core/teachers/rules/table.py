"""Rewrite the README's table of the rules teacher's dimensions from the registry.

    python -m mira_core.teachers.rules.table          # rewrite README.md in place (atomically)
    python -m mira_core.teachers.rules.table --check  # exit 1 when README.md is out of date

The table sits between the START and END markers; everything outside them is left as it is.
tests/mira_core/teachers/test_rules_table.py fails when the README's copy differs from the registry.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mira_core.teachers.rules.registry import dimension_table

START = "<!-- rules-dimensions:start -->"
END = "<!-- rules-dimensions:end -->"
README = Path(__file__).resolve().parents[3] / "README.md"
COMMAND = "python -m mira_core.teachers.rules.table"


def current_table(readme: str) -> list[str]:
    """The table lines between the markers of a README's text (blank lines dropped)."""
    start, end = readme.find(START), readme.find(END)
    if start < 0 or end < start:
        raise ValueError(f"the README has no {START} ... {END} markers")
    return [ln for ln in readme[start + len(START): end].split("\n") if ln.strip()]


def rewrite(readme: str) -> str:
    """The README's text with the generated table between the markers."""
    current_table(readme)  # raises when the markers are missing
    start, end = readme.find(START) + len(START), readme.find(END)
    # Blank lines around the table: markdown inside <details> needs them to render as a table.
    return readme[:start] + "\n\n" + "\n".join(dimension_table()) + "\n\n" + readme[end:]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--readme", type=Path, default=README)
    p.add_argument("--check", action="store_true", help="only say whether the README is up to date")
    args = p.parse_args(argv)
    text = args.readme.read_text(encoding="utf-8")
    new = rewrite(text)
    if new == text:
        print(f"{args.readme}: the rules dimensions table is up to date")
        return 0
    if args.check:
        print(f"{args.readme}: the rules dimensions table is out of date; run `{COMMAND}`")
        return 1
    from mira_core.io import atomic_path  # only the rewrite needs it (and it pulls in polars)

    with atomic_path(args.readme) as tmp:
        tmp.write_text(new, encoding="utf-8")
    print(f"{args.readme}: rewrote the rules dimensions table ({len(dimension_table()) - 2} dimensions)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
