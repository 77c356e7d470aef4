"""Prefect artifacts: each stage publishes its key table as markdown, so the Prefect UI shows it."""

from __future__ import annotations


def markdown_table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(map(str, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(str, r)) + " |" for r in rows]
    return "\n".join(lines)


def publish_table(key: str, title: str, header: list[str], rows: list[list]) -> None:
    """A markdown artifact under `key` (letters, digits and dashes), attached to the running flow."""
    from prefect.artifacts import create_markdown_artifact

    create_markdown_artifact(key=key, markdown=f"### {title}\n\n{markdown_table(header, rows)}", description=title)
