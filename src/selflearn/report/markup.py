"""Small HTML helpers shared by the report's modules: escaping, numbers, sortable tables."""

from __future__ import annotations

from html import escape
from typing import Any, Sequence


def e(value: Any) -> str:
    """Escaped text of any value (None -> empty)."""
    return "" if value is None else escape(str(value), quote=True)


def num(value: Any, digits: int = 3) -> str:
    """A metric as text: fixed decimals, blank when missing."""
    if value is None:
        return ""
    try:
        return f"{float(value):.{digits}f}"
    except (TypeError, ValueError):
        return e(value)


def table(headers: Sequence[str], rows: Sequence[Sequence[tuple[str, Any]]], *, cls: str = "sortable",
          attrs: Sequence[str] | None = None) -> str:
    """A table; each cell is (escaped html, sort value or None); attrs are extra <tr> attributes per row."""
    head = "".join(f'<th title="click to sort">{e(h)}</th>' for h in headers)
    lines = []
    for i, row in enumerate(rows):
        cells = "".join(f'<td data-v="{e(v)}">{html}</td>' if v is not None else f"<td>{html}</td>"
                        for html, v in row)
        lines.append(f'<tr {attrs[i] if attrs else ""}>{cells}</tr>')
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{"".join(lines)}</tbody></table>'




def when(stamp: Any) -> str:
    """A stored ISO time stamp, shortened for tables (2026-01-31 12:00)."""
    text = "" if stamp is None else str(stamp)
    return e(text[:16].replace("T", " ")) if len(text) >= 16 and text[10] == "T" else e(text)
