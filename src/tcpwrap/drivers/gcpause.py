"""Pausing Python's cyclic garbage collector while a big table or pattern file is compiled.

What it does: `paused_gc()` is a context manager that turns the cyclic collector off for its
duration and back on at the end, if it was on when the first of possibly several concurrent
users entered. Compiling a 100,000-line table creates about a million objects that all stay
alive (the new policy); the collector, triggered by every few hundred allocations, would walk
the growing heap again and again for nothing: it made a full compile 1.5-2x slower. Reference
counting still frees everything that is not part of a cycle while the pause lasts.

Hazards: the collector is process-wide. The pause lasts one compile (about a second at 100,000
lines); cyclic garbage made meanwhile by other threads is collected afterwards. At the end,
everything alive is frozen (`gc.freeze()`): the collector never walks the compiled policy
again; the cost is that cycles alive at that moment are left to reference counting (a
policy holds none). A caller that
turns the collector on or off itself while a pause is in progress may see its choice undone
when the pause ends. Nesting and concurrent pauses are counted: the last one out restores.
Errors: none.
"""

from __future__ import annotations

import gc
from _thread import allocate_lock  # not threading: the wrapper's start-up does not need it

_lock = allocate_lock()
_depth = 0  # pauses in progress
_restore = False  # whether the collector was on when the first pause began


class paused_gc:  # lower case: used like a function, `with paused_gc():`
    """The pause; see the module docstring (a class, so contextlib need not be imported)."""

    def __enter__(self) -> None:
        global _depth, _restore
        with _lock:
            if _depth == 0:
                _restore = gc.isenabled()
                gc.disable()
            _depth += 1

    def __exit__(self, *exc_info: object) -> None:
        global _depth
        with _lock:
            _depth -= 1
            if _depth == 0 and _restore:
                # The new policy's objects live until the next table change: move them (and
                # everything alive now) out of the collector's way, or its next full pass
                # walks them all at once (100-300 ms at 100,000 lines, holding the GIL).
                gc.freeze()
                gc.enable()
