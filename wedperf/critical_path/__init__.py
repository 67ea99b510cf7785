"""Wedding-day critical path: checks, SLOs, evaluation rounds and their alerts."""
