"""Database advisor for wedding-day queries (pg_stat_statements, EXPLAIN, index suggestions)."""
