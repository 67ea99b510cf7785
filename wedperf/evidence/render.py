"""The report as a self-contained HTML page (figures embedded as base64 PNG, no external
URL) and as a Markdown twin (figures as PNG files beside it). Pure: text out."""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from datetime import datetime
from html import escape

from wedperf.evidence.data import Scope
from wedperf.evidence.sections import Section, Table

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;
max-width:1100px;padding:1.5rem 2rem;color:#1f2933;line-height:1.45}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{border-bottom:2px solid #e4e7eb;padding-bottom:.2rem;
margin-top:2.2rem}h3{font-size:1rem;margin-top:1.4rem}
.meta{color:#52606d;font-size:.9rem}
.counts{display:flex;flex-wrap:wrap;gap:.5rem;margin:1rem 0}
.count{background:#f0f4f8;border-radius:6px;padding:.4rem .7rem;font-size:.85rem}
.count b{display:block;font-size:1.15rem}
figure{margin:1rem 0}figure img{max-width:100%;border:1px solid #e4e7eb}
figcaption{color:#52606d;font-size:.85rem}
table{border-collapse:collapse;font-size:.82rem;margin:.5rem 0 1rem}
th,td{border:1px solid #d9e2ec;padding:.25rem .5rem;text-align:left}th{background:#f0f4f8}
.empty{background:#fffbea;border-left:4px solid #f0b429;padding:.6rem .9rem}
.note{color:#52606d;font-size:.85rem}
"""


def html_report(
    scope: Scope,
    generated_at: datetime,
    counts: Mapping[str, int],
    sections: Sequence[Section],
    pngs: Mapping[str, bytes],
) -> str:
    """One page; `pngs` maps a figure name to its PNG bytes."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(scope.title)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{escape(scope.title)}</h1>",
        f'<p class="meta">{escape(_span(scope))} · generated {generated_at:%Y-%m-%d %H:%M} UTC'
        " by wedperf</p>",
        '<div class="counts">',
        *(
            f'<div class="count"><b>{value}</b>{escape(name.replace("_", " "))}</div>'
            for name, value in counts.items()
        ),
        "</div>",
        "<nav><ul>",
        *(f'<li><a href="#{s.key}">{escape(s.title)}</a></li>' for s in sections),
        "</ul></nav>",
    ]
    for section in sections:
        parts += [f'<section id="{section.key}">', f"<h2>{escape(section.title)}</h2>"]
        parts.append(f"<p>{escape(section.intro)}</p>")
        if section.empty:
            parts.append(f'<p class="empty" data-empty="{section.key}">{escape(section.empty)}</p>')
        parts += [f'<p class="note">{escape(n)}</p>' for n in section.notes]
        for figure in section.figures:
            encoded = base64.b64encode(pngs[figure.name]).decode("ascii")
            parts.append(
                f'<figure><img data-figure="{figure.name}" alt="{escape(figure.caption)}" '
                f'src="data:image/png;base64,{encoded}">'
                f"<figcaption>{escape(figure.caption)} Numbers: figures/{figure.name}.json"
                "</figcaption></figure>"
            )
        parts += [_html_table(t) for t in section.tables]
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _html_table(table: Table) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in table.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(str(v))}</td>" for v in row) + "</tr>" for row in table.rows
    )
    return (
        f"<h3>{escape(table.title)}</h3>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    )


def markdown_report(
    scope: Scope,
    generated_at: datetime,
    counts: Mapping[str, int],
    sections: Sequence[Section],
) -> str:
    """The same report in Markdown; figures are linked as figures/<name>.png."""
    lines = [
        f"# {scope.title}",
        "",
        f"{_span(scope)} · generated {generated_at:%Y-%m-%d %H:%M} UTC by wedperf",
        "",
        "| count | value |",
        "|---|---|",
        *(f"| {name.replace('_', ' ')} | {value} |" for name, value in counts.items()),
    ]
    for section in sections:
        lines += ["", f"## {section.title}", "", section.intro, ""]
        if section.empty:
            lines += [f"> {section.empty}", ""]
        lines += [f"_{n}_\n" for n in section.notes]
        for figure in section.figures:
            lines += [
                f"![{_md_cell(figure.caption)}](figures/{figure.name}.png)",
                "",
                f"{figure.caption} Numbers: `figures/{figure.name}.json`.",
                "",
            ]
        for table in section.tables:
            lines += [f"### {table.title}", "", markdown_table(table), ""]
    return "\n".join(lines).rstrip() + "\n"


def markdown_table(table: Table) -> str:
    rows = [
        "| " + " | ".join(_md_cell(c) for c in table.columns) + " |",
        "|" + "---|" * len(table.columns),
    ]
    rows += ["| " + " | ".join(_md_cell(str(v)) for v in row) + " |" for row in table.rows]
    return "\n".join(rows)


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _span(scope: Scope) -> str:
    zone = scope.wedding.zone if scope.wedding else None
    if zone is None:
        from zoneinfo import ZoneInfo

        zone = ZoneInfo(scope.timezone)
    start, end = scope.start.astimezone(zone), scope.end.astimezone(zone)
    return f"{start:%Y-%m-%d %H:%M} – {end:%Y-%m-%d %H:%M} {scope.timezone}"
