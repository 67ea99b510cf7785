"""A small realistic wedding platform (schema, seed data, ASGI API, load generator).

wedperf's demo and tests run against it: `seed_sandbox` fills an app database and the
`wedperf_src` contract views, `create_app` serves the app's operations with honest latency,
and `drive_load` exercises it like a wedding day.
"""
