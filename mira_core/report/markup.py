"""HTML building blocks of the report: escaping, tables, embedded images and the page shell.

Every value that reaches the page passes through `esc` unless it is a `Raw` fragment built here, so a
source named `<script>` shows as text. Images are PNG bytes inlined as data: URIs and the style sheet
is inline: the file has no external reference at all, and no script.
"""

from __future__ import annotations

import base64
import html
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


def name_order(name: str) -> tuple[list, str]:
    """A sort key that reads a name's runs of digits as numbers: g2 before g10 (sorted as text, a project of
    more than ten groups listed g10 between g1 and g2 in the report and the summary). The name itself breaks a tie
    (g01 and g1)."""
    # re.split with a capture group alternates text and digits, text first, so two keys compare like with like
    return [int(t) if i % 2 else t for i, t in enumerate(re.split(r"(\d+)", name))], name


@dataclass(frozen=True)
class Raw:
    """An HTML fragment built by this module, inserted as is."""

    html: str

    def __str__(self) -> str:
        return self.html


Cell = Raw | str | int | float | None


def esc(value: object) -> str:
    """Text made safe for element content and quoted attributes."""
    return html.escape(str(value), quote=True)


def slug(text: str) -> str:
    """An element id from a heading: lower case, runs of other characters as '-'."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "section"


def num(x: float | int | None, digits: int = 0) -> str:
    """A number with thousands separators; '–' for missing or not-a-number."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:,.{digits}f}" if digits or isinstance(x, float) else f"{x:,}"


def pct(x: float | None, digits: int = 1) -> str:
    """A share as a percentage; '–' for missing."""
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.{digits}f}%"


def share(x: float) -> str:
    """A share the user set (a budget) as a percentage with the digits it needs: pct's fixed digits showed a budget
    of 0.004 as 0%, beside the tokens it buys, and 0.125 as 12%."""
    return f"{100 * x:.4g}%"


def _cell(value: Cell, tag: str) -> str:
    if isinstance(value, Raw):
        return f"<{tag}>{value}</{tag}>"
    if value is None:
        return f'<{tag} class="na">–</{tag}>'
    if isinstance(value, bool):
        return f"<{tag}>{'yes' if value else 'no'}</{tag}>"
    if isinstance(value, int | float):
        return f'<{tag} class="n">{esc(num(value, 4 if isinstance(value, float) else 0))}</{tag}>'
    text = esc(value)
    # right-align what reads as a number (formatted counts, shares), so columns line up
    numeric = re.fullmatch(r"[-+]?[\d,.]+%?|–", str(value)) is not None
    return f'<{tag} class="n">{text}</{tag}>' if numeric else f"<{tag}>{text}</{tag}>"


def table(header: Sequence[str], rows: Iterable[Sequence[Cell]], caption: str | None = None,
          css_class: str | None = None) -> Raw:
    """A table; strings are escaped, numbers right-aligned, None shown as a dash."""
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(_cell(v, "td") for v in r) + "</tr>" for r in rows)
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    cls = f' class="{esc(css_class)}"' if css_class else ""
    thead = f"<thead><tr>{head}</tr></thead>" if any(header) else ""  # key-value tables go without
    return Raw(f"<table{cls}>{cap}{thead}<tbody>{body}</tbody></table>")


def img(png: bytes, alt: str, css_class: str = "fig") -> Raw:
    """A PNG embedded as a data: URI."""
    data = base64.b64encode(png).decode("ascii")
    return Raw(f'<img class="{esc(css_class)}" alt="{esc(alt)}" src="data:image/png;base64,{data}">')


def p(text: str | Raw, css_class: str | None = None) -> Raw:
    cls = f' class="{esc(css_class)}"' if css_class else ""
    return Raw(f"<p{cls}>{text if isinstance(text, Raw) else esc(text)}</p>")


def note(text: str) -> Raw:
    """A muted remark (what a figure encodes, how to read it)."""
    return p(text, "note")


def unavailable(what: str, path: str, stage: str) -> Raw:
    """The stand-in for content whose input is missing."""
    return Raw(f'<p class="missing">Not available: {esc(what)} needs <code>{esc(path)}</code>, which is missing '
               f"(written by the {esc(stage)} stage).</p>")


def ul(items: Iterable[str | Raw]) -> Raw:
    return Raw("<ul>" + "".join(f"<li>{i if isinstance(i, Raw) else esc(i)}</li>" for i in items) + "</ul>")


def code(text: str) -> Raw:
    return Raw(f"<code>{esc(text)}</code>")


def pre(text: str) -> Raw:
    return Raw(f"<pre>{esc(text)}</pre>")


def h3(text: str) -> Raw:
    return Raw(f"<h3>{esc(text)}</h3>")


def row(*parts: str | Raw) -> Raw:
    """Fragments side by side (a figure beside its table), wrapping on narrow screens."""
    return Raw('<div class="grid">' + "".join(f"<div>{x if isinstance(x, Raw) else esc(x)}</div>" for x in parts)
               + "</div>")


def join(parts: Iterable[str | Raw | None]) -> Raw:
    """Fragments in order; None (an omitted part) is skipped and plain strings become paragraphs."""
    return Raw("\n".join(str(x) if isinstance(x, Raw) else str(p(x)) for x in parts if x is not None))


CSS = """
:root { --ink: #1f2328; --muted: #59636e; --line: #d1d9e0; --band: #f6f8fa; --accent: #0969da; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #fff;
       font: 15px/1.5 -apple-system, "Segoe UI", "Helvetica Neue", Arial, sans-serif; }
header { background: #24292f; color: #fff; padding: 18px 32px; }
header h1 { margin: 0; font-size: 24px; }
header p { margin: 4px 0 0; color: #c9d1d9; }
nav { padding: 10px 32px; background: var(--band); border-bottom: 1px solid var(--line); font-size: 14px; }
nav { display: flex; flex-wrap: wrap; gap: 2px 18px; }  /* links wrap as whole words, never overflow */
nav a { color: var(--accent); text-decoration: none; white-space: nowrap; }
main { max-width: 1180px; margin: 0 auto; padding: 8px 32px 48px; }
section { border-bottom: 1px solid var(--line); padding: 8px 0 20px; }
h2 { font-size: 21px; margin: 20px 0 8px; }
h3 { font-size: 16px; margin: 18px 0 6px; }
table { border-collapse: collapse; margin: 8px 0 14px; font-size: 13px; }
caption { text-align: left; color: var(--muted); padding-bottom: 4px; }
th, td { border: 1px solid var(--line); padding: 3px 8px; vertical-align: top; text-align: left; }
th { background: var(--band); font-weight: 600; }
tbody tr:nth-child(even) { background: #fbfcfd; }
td.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.na { color: var(--muted); text-align: center; }
img.fig { display: block; max-width: 100%; height: auto; margin: 8px 0; border: 1px solid var(--line); }
pre { background: var(--band); border: 1px solid var(--line); padding: 10px; overflow-x: auto; font-size: 12px; }
code { background: var(--band); padding: 0 3px; border-radius: 3px; font-size: 90%; }
.note { color: var(--muted); font-size: 13px; }
.missing { color: #9a6700; background: #fff8c5; border: 1px solid #d4a72c; padding: 6px 10px; }
.kv td:first-child { font-weight: 600; }
.kv td.n { text-align: left; }
.grid { display: flex; flex-wrap: wrap; gap: 24px; align-items: flex-start; }
.grid > div { min-width: 0; max-width: 100%; }
summary { cursor: pointer; color: var(--accent); margin: 6px 0; }
"""


def page(title: str, subtitle: str, sections: Sequence[tuple[str, Raw]]) -> str:
    """The whole document: header, a table of contents, then one <section> per (heading, body)."""
    nav = "".join(f'<a href="#{slug(h)}">{esc(h)}</a>' for h, _ in sections)
    body = "\n".join(f'<section id="{slug(h)}">\n<h2>{esc(h)}</h2>\n{b}\n</section>' for h, b in sections)
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{esc(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
            f"<header><h1>{esc(title)}</h1><p>{esc(subtitle)}</p></header>\n<nav>{nav}</nav>\n"
            f"<main>\n{body}\n</main>\n</body>\n</html>\n")
