"""Python's cyclic garbage collector paused around work that builds many short-lived objects.

An import of 50,000 rows or a report of 100,000 builds hundreds of thousands of lists, dicts,
strings and row models, none of them cyclic; the collections their allocations trigger free
nothing, yet each full one walks every object of the process (a third of an ``.xlsx`` import's
time, two thirds of a large report's Python time). Reference counting frees memory as usual
while the collector is paused.
"""

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_pausers = 0
_was_enabled = False


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the collector for the block. The pause is process-wide, so overlapping blocks in
    other threads share it: the collector comes back (if it was on before the first of them)
    when the last of them ends."""
    global _pausers, _was_enabled
    with _lock:
        if _pausers == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _pausers += 1
    try:
        yield
    finally:
        with _lock:
            _pausers -= 1
            if _pausers == 0 and _was_enabled:
                gc.enable()
