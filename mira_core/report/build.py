"""Assemble the report: run every section renderer in order and wrap the results in one page.

The output is deterministic for the same inputs (no timestamp, no random ids), so an unchanged run
gives a byte-identical file. It is also pure ASCII: anything else is written as a character
reference, so the file reads the same whatever encoding the writer or the browser assumes.
"""

from __future__ import annotations

from dataclasses import dataclass

from mira_core.config import ReportParams
from mira_core.report.inputs import ReportInputs
from mira_core.report.markup import Raw, page
from mira_core.report.sections import SECTIONS, members, teacher_of


@dataclass(frozen=True)
class Report:
    """A rendered report: the HTML and what it holds."""

    html: str
    sections: tuple[str, ...]  # the <h2> headings rendered, in order
    images: int  # embedded PNGs
    missing: tuple[str, ...]  # inputs that were absent (relative paths)


def _subtitle(inp: ReportInputs) -> str:
    groups = members(inp)
    bits = []
    if groups:
        bits.append(f"{sum(map(len, groups.values()))} sources in {len(groups)} groups")
    mira = ((inp.select or {}).get("methods") or {}).get("mira")
    if mira and isinstance(mira.get("kept_token_share"), int | float):  # an older select.json may lack it
        bits.append(f"MIRA keeps {mira['kept_token_share']:.1%} of the selectable tokens")
    provider, model = teacher_of(inp)
    if provider:
        bits.append(f"teacher {provider}/{model}" if model else f"teacher {provider}")
    version = inp.versions.get("mira")
    if version:
        bits.append(f"mira {version}")
    return " · ".join(bits) or "no stage outputs found"


def render(inp: ReportInputs, p: ReportParams | None = None) -> Report:
    """Every section whose renderer returns something, in the order of SECTIONS."""
    p = p or ReportParams()
    done: list[tuple[str, Raw]] = []
    for heading, renderer in SECTIONS:
        body = renderer(inp, p)
        if body is not None:
            done.append((heading, body))
    html = page(p.title, _subtitle(inp), done).encode("ascii", "xmlcharrefreplace").decode("ascii")
    return Report(html=html, sections=tuple(h for h, _ in done), images=html.count('src="data:image/png;base64,'),
                  missing=tuple(inp.missing()))


def build_report(inp: ReportInputs, p: ReportParams | None = None) -> str:
    """The report as one self-contained HTML document."""
    return render(inp, p).html
