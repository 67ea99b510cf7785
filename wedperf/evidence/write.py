"""Writing a package directory atomically: everything goes to a hidden sibling directory
first, which then replaces the package in one rename. Interrupted (Ctrl-C, a crash), the
previous package (or none) stays as it was; at worst a hidden `.<name>.tmp-*` is left."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

MARKER = "evidence.json"  # a directory holding this is a package we may replace


class PackageDirError(RuntimeError):
    """The output directory exists and is not an evidence package: not replaced."""


@contextmanager
def staged_package(target: Path) -> Iterator[Path]:
    """Yield an empty staging directory beside `target`; on a clean exit it becomes `target`
    (replacing an earlier package there), on any exception it is removed."""
    target = target.resolve()
    if target.exists() and (
        not target.is_dir() or (any(target.iterdir()) and not (target / MARKER).is_file())
    ):
        raise PackageDirError(
            f"{target} exists and is not an evidence package (no {MARKER}); choose another --out"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        yield staging
        _swap(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _swap(staging: Path, target: Path) -> None:
    if not target.exists():
        os.rename(staging, target)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
    os.rmdir(old)
    os.rename(target, old)
    try:
        os.rename(staging, target)
    except BaseException:
        os.rename(old, target)  # put the previous package back
        raise
    shutil.rmtree(old, ignore_errors=True)


def write_json(path: Path, payload: Any) -> None:
    path.write_text(json.dumps(payload, indent=2, sort_keys=False, allow_nan=False) + "\n")
