"""Keep C-level writes to stdout off the process's stdout for a block.

HiGHS writes its banner ("Running HiGHS …") with C stdio when the first ``Highs`` object of a
process is constructed, before any option can turn logging off; that would corrupt output such
as ``--json``. Every kernel that builds an LP makes its ``Highs`` inside
:func:`c_stdout_silenced`.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
from collections.abc import Iterator

__all__ = ["c_stdout_silenced"]


@contextlib.contextmanager
def c_stdout_silenced() -> Iterator[None]:
    """Send file descriptor 1 to the null device for the duration (C-level writes included).

    Python's own buffer is flushed first, C's before restoring.
    """
    try:
        sys.stdout.flush()
        saved = os.dup(1)
    except (OSError, ValueError):
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 1)
            try:
                yield
            finally:
                _flush_c_stdio()
                os.dup2(saved, 1)
    finally:
        os.close(saved)


def _flush_c_stdio() -> None:
    # No C library handle on some platforms (e.g. Windows): nothing buffered to flush there.
    with contextlib.suppress(OSError, AttributeError, TypeError):
        ctypes.CDLL(None).fflush(None)
