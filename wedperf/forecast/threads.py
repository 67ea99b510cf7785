"""One BLAS thread per process for forecast fitting.

The fits are many small least-squares problems, run in parallel one process per core. A
multi-threaded OpenBLAS makes each process spawn a thread per core that busy-waits for
work: on a 2-core machine with anything else running, a 2016x10 least-squares solve went
from ~1 ms to ~40 ms. `threadpoolctl` would do this properly but is not a dependency; the
OpenBLAS builds that numpy and scipy wheels bundle export `*_set_num_threads*`, which is
all it takes. Elsewhere (MKL, Accelerate, no /proc) this is a no-op.
"""

from __future__ import annotations

import ctypes
import logging
from pathlib import Path

log = logging.getLogger(__name__)

_SYMBOLS = (
    "openblas_set_num_threads",
    "scipy_openblas_set_num_threads64_",
    "scipy_openblas_set_num_threads",
    "openblas_set_num_threads64_",
)
_done = False


def single_threaded_blas() -> int:
    """Set every OpenBLAS loaded in this process to one thread; returns how many were set.

    Import numpy and scipy (statsmodels does) before calling: a library loaded later keeps
    its default."""
    global _done
    if _done:
        return 0
    maps = Path("/proc/self/maps")
    if not maps.exists():
        return 0
    libraries = {
        line.split()[-1]
        for line in maps.read_text().splitlines()
        if "openblas" in line.lower() and ".so" in line
    }
    count = 0
    for path in sorted(libraries):
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        for symbol in _SYMBOLS:
            setter = getattr(library, symbol, None)
            if setter is not None:
                setter(1)
                count += 1
                break
    _done = True
    log.debug("OpenBLAS limited to one thread in %d libraries", count)
    return count
