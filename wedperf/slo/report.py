"""A round's budgets as a table: for `wedperf watch`, the flow's artifact and the report."""

from __future__ import annotations

import math
from collections.abc import Sequence

PROVISIONAL_NOTE = (
    "~ provisional: fewer events so far than one bad event's allowance; the day's budget is "
    "projected from too few (early rounds overstate what is spent)"
)


def _rate(value: float | None) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{value:.2f}x"


def _share(value: float) -> str:
    return f"{value:.1%}"


def budget_rows(budgets: Sequence) -> list[dict[str, str]]:
    """One row per SLO (WeddingBudget, wedperf.slo.round): objective, events, bad, budget
    consumed and remaining, burn rate (the first alert window's long span, as that window
    alerts on it: Budget.burn_rate) and alert state."""
    rows = []
    for b in budgets:
        budget, first = b.budget, (b.budget.windows[0] if b.budget.windows else None)
        state = "page" if budget.page else "ticket" if budget.ticket else "ok"
        rows.append(
            {
                "slo": b.definition.name,
                "objective": f"{budget.objective:.2%} <= {b.definition.threshold_s:g} s",
                "events": f"{budget.events:,.0f}",
                "bad": f"{budget.bad:,.0f}",
                "consumed": ("~" if budget.provisional else "") + _share(budget.consumed),
                "remaining": ("~" if budget.provisional else "") + _share(budget.remaining),
                "burn": _rate(budget.burn_rate)
                + (
                    f" {first.name}/{first.long_minutes}m"
                    if first is not None and budget.burn_rate is not None
                    else ""
                ),
                "alert": state,
            }
        )
    return rows


def budget_text_table(budgets: Sequence) -> str:
    """The budgets for a terminal."""
    rows = budget_rows(budgets)
    if not rows:
        return "(no SLOs configured)"
    headers = list(rows[0])
    widths = {h: max(len(h), *(len(r[h]) for r in rows)) for h in headers}
    out = ["  ".join(h.ljust(widths[h]) for h in headers).rstrip()]
    out += ["  ".join(r[h].ljust(widths[h]) for h in headers).rstrip() for r in rows]
    if any(b.budget.provisional for b in budgets):
        out.append(PROVISIONAL_NOTE)
    return "\n".join(out)


def budget_markdown(budgets: Sequence) -> str:
    """The budgets as a Markdown table."""
    rows = budget_rows(budgets)
    if not rows:
        return "No SLOs configured."
    headers = list(rows[0])
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(r[h] for h in headers) + " |" for r in rows]
    if any(b.budget.provisional for b in budgets):
        lines += ["", PROVISIONAL_NOTE + "."]
    return "\n".join(lines)


def round_rows(budgets: Sequence) -> list[dict]:
    """A round's budgets as plain rows (what a task hands its flow)."""
    return [
        {
            "wedding_id": b.wedding.wedding_id,
            "slo": b.definition.name,
            "remaining": b.budget.remaining,
            "burn_rate": b.budget.burn_rate,
            "page": b.budget.page,
            "ticket": b.budget.ticket,
        }
        for b in budgets
    ]


def round_markdown(rows: Sequence[dict], fired: Sequence, resolved: Sequence, limit=20) -> str:
    """The error-budget part of a watch round's artifact: alerts now, lowest budgets."""
    paging = sorted({(r["wedding_id"], r["slo"]) for r in rows if r["page"]})
    ticketing = sorted({(r["wedding_id"], r["slo"]) for r in rows if r["ticket"]})
    lines = [
        "## Error budgets",
        "",
        f"{len({r['wedding_id'] for r in rows})} weddings, {len(rows)} budgets; "
        f"{len(paging)} paging, {len(ticketing)} with a ticket. "
        f"Alerts fired: {len(fired)}; resolved: {len(resolved)}.",
        "",
    ]
    lowest = sorted(rows, key=lambda r: r["remaining"])[:limit]
    if lowest:
        lines += ["| wedding | SLO | budget left | burn | alert |", "|---|---|---|---|---|"]
        for r in lowest:
            state = "page" if r["page"] else "ticket" if r["ticket"] else "—"
            lines.append(
                f"| {r['wedding_id']} | {r['slo']} | {r['remaining']:.1%} | "
                f"{_rate(r['burn_rate'])} | {state} |"
            )
    return "\n".join(lines)
