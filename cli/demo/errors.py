"""What the demo's steps share: the error they raise and how they report progress."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[2]

Progress = Callable[[str], None]


class DemoError(RuntimeError):
    """A step failed; the message names it and why."""
