"""Pre-warm ahead of a wedding day: Redis datasets, HTTP warm-ups, PostgreSQL buffers."""
