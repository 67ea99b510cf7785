"""The layer boundaries, checked on the source with `ast` (nothing is imported or run).

1. The core (`wedperf/`) never imports a layer above it: `flows`, `tasks`, `deployments`,
   `cli`, `bench`, `tests` — by an import statement or by `importlib.import_module` /
   `__import__` with a literal name.
2. In the core, only the Prefect API seam (`wedperf/prefect_api.py`) imports `prefect`.
3. SQL on `perf.*` lives in `wedperf/db/queries/*.sql`: no Python string in the product
   (`wedperf/`, `flows/`, `tasks/`, `deployments/`, `cli/`) is a statement naming a perf
   relation. `tests/` and `bench/` are not checked: they read the tables to see what the
   product wrote, with their own SQL, so that a wrong named query cannot also pass its
   own check.

The checks run on the real tree and, below them, on small sources with one violation each,
so a checker that stopped seeing violations fails too.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORE = "wedperf"
ABOVE_CORE = ("flows", "tasks", "deployments", "cli", "bench", "tests")
PREFECT_SEAM = "wedperf/prefect_api.py"
PRODUCT = ("wedperf", "flows", "tasks", "deployments", "cli")
QUERY_DIR = "wedperf/db/queries/"

# A statement: optional leading `--` comment lines, then a statement keyword. In upper case
# it is SQL; in lower case only with a clause word too ("select a row of perf.alerts by
# hand" is prose, "update perf.actions set ..." is not).
_SQL_STATEMENT = re.compile(
    r"^\s*(?:--[^\n]*\n\s*)*"
    r"(SELECT|WITH|INSERT|UPDATE|DELETE|MERGE|TRUNCATE|CREATE|ALTER|DROP|COPY|\\copy|"
    r"ANALYZE|VACUUM|REFRESH|LOCK)\s",
    re.IGNORECASE,
)
_SQL_CLAUSE = re.compile(r"\b(FROM|INTO|SET|WHERE|VALUES|TABLE|JOIN|RETURNING)\b", re.IGNORECASE)
_PERF_RELATION = re.compile(r"\bperf\.[A-Za-z_]")
_DYNAMIC_IMPORTS = {"import_module", "__import__"}


def python_files(*tops: str, root: Path = ROOT) -> list[Path]:
    return sorted(p for top in tops for p in (root / top).rglob("*.py") if ".venv" not in p.parts)


def imported_modules(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) of every import, static or by a literal dynamic one."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            first = node.args[0]
            literal = isinstance(first, ast.Constant) and isinstance(first.value, str)
            if name in _DYNAMIC_IMPORTS and literal:
                yield node.lineno, first.value


def top_package(module: str) -> str:
    return module.split(".", 1)[0]


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def sql_strings(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """(line, text) of string literals (f-strings with `{…}` as `x`) that are a statement
    naming a perf.* relation. Docstrings are prose and are skipped."""
    docstrings = _docstrings(tree)
    in_fstrings: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            parts = [v.value if isinstance(v, ast.Constant) else "x" for v in node.values]
            in_fstrings.update(id(v) for v in node.values)
            text = "".join(str(p) for p in parts)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) in docstrings or id(node) in in_fstrings:
                continue
            text = node.value
        else:
            continue
        if is_perf_sql(text):
            yield node.lineno, text


def is_perf_sql(text: str) -> bool:
    statement = _SQL_STATEMENT.match(text)
    if statement is None or not _PERF_RELATION.search(text):
        return False
    return statement[1].isupper() or _SQL_CLAUSE.search(text) is not None


def core_upward_imports(root: Path = ROOT) -> list[str]:
    return [
        f"{path.relative_to(root)}:{line} imports {module}"
        for path in python_files(CORE, root=root)
        for line, module in imported_modules(ast.parse(path.read_text(encoding="utf-8")))
        if top_package(module) in ABOVE_CORE
    ]


def prefect_outside_seam(root: Path = ROOT) -> list[str]:
    return [
        f"{path.relative_to(root)}:{line} imports {module}"
        for path in python_files(CORE, root=root)
        if path.relative_to(root).as_posix() != PREFECT_SEAM
        for line, module in imported_modules(ast.parse(path.read_text(encoding="utf-8")))
        if top_package(module) == "prefect"
    ]


def inline_perf_sql(root: Path = ROOT) -> list[str]:
    return [
        f"{path.relative_to(root)}:{line}: {text.strip()[:70]!r}"
        for path in python_files(*PRODUCT, root=root)
        if not path.relative_to(root).as_posix().startswith(QUERY_DIR)
        for line, text in sql_strings(ast.parse(path.read_text(encoding="utf-8")))
    ]


# --- the tree as it is -----------------------------------------------------------------------


def test_the_core_imports_no_layer_above_it() -> None:
    assert core_upward_imports() == []


def test_only_the_seam_imports_prefect_in_the_core() -> None:
    assert (ROOT / PREFECT_SEAM).is_file()
    assert prefect_outside_seam() == []


def test_perf_sql_lives_in_the_named_query_files() -> None:
    assert inline_perf_sql() == []


def test_the_checks_read_the_whole_product() -> None:
    """A moved or renamed layer would leave a check reading nothing."""
    for top in PRODUCT:
        assert len(python_files(top)) >= 2, top
    flow_imports = {
        top_package(module)
        for path in python_files("flows")
        for _, module in imported_modules(ast.parse(path.read_text(encoding="utf-8")))
    }
    assert {"prefect", "tasks", "wedperf"} <= flow_imports


# --- each check sees a violation -------------------------------------------------------------


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in {"wedperf/__init__.py": "", "wedperf/prefect_api.py": "", **files}.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    for top in PRODUCT:
        (tmp_path / top).mkdir(exist_ok=True)
    return tmp_path


@pytest.mark.parametrize(
    "source",
    [
        "from flows.sync_calendar import sync_calendar\n",
        "def f():\n    import tasks.ops\n",
        "import deployments.setup as s\n",
        "from cli import app\n",
        "import importlib\nm = importlib.import_module('flows.collect_metrics')\n",
        "m = __import__('tasks')\n",
    ],
)
def test_an_upward_import_in_the_core_is_seen(tmp_path: Path, source: str) -> None:
    root = _tree(tmp_path, {"wedperf/calendar/sync.py": source})
    assert len(core_upward_imports(root)) == 1


def test_imports_of_the_core_from_above_are_allowed(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "flows/a.py": "from wedperf.calendar.sync import sync_calendar\n",
            "wedperf/a.py": "from wedperf.flows_helper import x  # a core module\n",
        },
    )
    assert core_upward_imports(root) == []


@pytest.mark.parametrize(
    "source",
    [
        "from prefect import flow\n",
        "def f():\n    from prefect.settings import PREFECT_API_URL\n",
        "import prefect.client.orchestration\n",
        "import importlib\nimportlib.import_module('prefect.blocks.system')\n",
    ],
)
def test_prefect_outside_the_seam_is_seen(tmp_path: Path, source: str) -> None:
    root = _tree(tmp_path, {"wedperf/alerts/dispatch.py": source, "flows/f.py": source})
    (hit,) = prefect_outside_seam(root)
    assert hit.startswith("wedperf/alerts/dispatch.py:") and " imports prefect" in hit


def test_prefect_in_the_seam_is_allowed(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"wedperf/prefect_api.py": "from prefect.events import Event\n"})
    assert prefect_outside_seam(root) == []


@pytest.mark.parametrize(
    ("path", "source"),
    [
        ("wedperf/remediation/state.py", 'Q = "SELECT status FROM perf.alerts WHERE id = %s"\n'),
        ("flows/plan.py", 'conn.execute("""\n    -- the raised ones\n    SELECT target\n'
                          '    FROM perf.capacity_state""")\n'),
        ("tasks/t.py", 'q = f"DELETE FROM perf.{table} WHERE ts < %s"\n'),
        ("cli/demo/summary.py", 'sql.SQL("update perf.actions set outcome = %s")\n'),
        ("deployments/d.py", 'x = ("INSERT INTO perf.samples (ts) "\n     "VALUES (%s)")\n'),
    ],
)  # fmt: skip
def test_inline_perf_sql_is_seen(tmp_path: Path, path: str, source: str) -> None:
    root = _tree(tmp_path, {path: source})
    assert [hit.split(":")[0] for hit in inline_perf_sql(root)] == [path]


def test_prose_and_the_query_files_are_not_sql(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "wedperf/a.py": '"""Reads perf.alerts: SELECT-free prose."""\n'
            'log = "select a row of perf.alerts by hand: see the docs"\n'
            'msg = "Failed alerts: `SELECT alert_id FROM perf.alerts`"\n'
            'other = "SELECT 1 FROM app.guests"\n',
            "wedperf/db/queries/__init__.py": 'X = "SELECT version FROM perf.schema_migrations"\n',
        },
    )
    assert inline_perf_sql(root) == []
