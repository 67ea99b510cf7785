"""Named SQL queries kept in `.sql` files beside this module.

Each query starts with a `-- name: <query_name>` line; the comment lines after it say what the
query does. Code asks for queries by name: `queries("calendar")["upsert_weddings"]`.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

_HEADER = re.compile(r"^-- name: ([a-z_][a-z0-9_]*)\s*$", re.MULTILINE)


@cache
def named_sql(package: str, filename: str) -> dict[str, str]:
    """The named queries of `filename`, a `.sql` file shipped in `package`."""
    text = resources.files(package).joinpath(filename).read_text(encoding="utf-8")
    parts = _HEADER.split(text)  # [preamble, name1, body1, name2, body2, ...]
    named: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in named:
            raise ValueError(f"query {name!r} defined twice in {package}/{filename}")
        named[name] = body.strip()
    return named


def queries(group: str) -> dict[str, str]:
    """wedperf's own named queries of `<group>.sql` beside this module."""
    return named_sql(__name__, f"{group}.sql")
