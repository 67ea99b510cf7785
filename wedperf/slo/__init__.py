"""Per-wedding error budgets: SLIs as good/total event counts, a budget over each wedding's
day window, burn-rate alerts scaled to that window, and their Prometheus and OpenSLO forms.

See docs/slo.md for the definitions and the numbers behind the defaults.
"""
