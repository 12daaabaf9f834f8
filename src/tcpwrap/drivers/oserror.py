"""The text of an OSError as tcpd prints it (`%m`): strerror(errno).

What it does: `strerror(exc)` is the C library's message for the error's errno, as in the
original's `%m` ("Permission denied"), or Python's own text when the error carries no errno.
Hazards: none. Errors: none raised.
"""

from __future__ import annotations

import os


def strerror(exc: OSError) -> str:
    return os.strerror(exc.errno) if exc.errno else str(exc)
