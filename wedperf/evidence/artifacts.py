"""What the build-evidence flow shows in the Prefect UI. Pure: keys and payloads; the flow's
task publishes them. Keys are stable (a new version per run): lowercase, digits, dashes."""

from __future__ import annotations

import json
from typing import Any

from wedperf.evidence.build import EvidenceResult
from wedperf.evidence.render import markdown_table
from wedperf.evidence.sections import Table

REPORT_KEY = "evidence-report"  # markdown: counts, what each section found, tables
SUMMARY_KEY = "evidence-summary"  # table: one row per count
LINK_KEY = "evidence-link"  # link to the HTML report's path
MAX_TABLE_ROWS = 25


def report_markdown(result: EvidenceResult) -> str:
    """A Prefect-friendly digest of the package (figures stay in the files: the UI cannot
    show a local PNG)."""
    document = json.loads(result.json_path.read_text())
    lines = [
        f"# Evidence: {result.scope['kind']} {result.scope['label']}",
        "",
        f"{result.scope['start']} – {result.scope['end']} ({result.scope['timezone']})",
        "",
        f"Report: `{result.html_path}` (Markdown: `{result.markdown_path}`)",
        "",
        markdown_table(
            Table("counts", ["count", "value"], [[k, str(v)] for k, v in result.summary.items()])
        ),
    ]
    for section in document["sections"].values():
        lines += ["", f"## {section['title']}", ""]
        if section["empty"]:
            lines += [f"> {section['empty']}", ""]
        lines += [f"_{note}_" for note in section["notes"]]
        for table in section["tables"]:
            rows = table["rows"]
            shown = Table(table["title"], table["columns"], rows[:MAX_TABLE_ROWS])
            lines += ["", f"### {table['title']}", "", markdown_table(shown)]
            if len(rows) > MAX_TABLE_ROWS:
                lines.append(f"\n…and {len(rows) - MAX_TABLE_ROWS} more rows in the report.")
    return "\n".join(lines) + "\n"


def summary_rows(result: EvidenceResult) -> list[dict[str, Any]]:
    """One row per count, with the section it belongs to."""
    rows = []
    for key, section in result.sections.items():
        rows += [
            {"section": key, "count": name, "value": value}
            for name, value in section["counts"].items()
        ]
    rows.append({"section": "package", "count": "figures", "value": result.summary["figures"]})
    return rows


def report_link(result: EvidenceResult) -> str:
    return result.html_path.as_uri()


def description(result: EvidenceResult) -> str:
    return f"Evidence package for {result.scope['kind']} {result.scope['label']}: {result.out}"
