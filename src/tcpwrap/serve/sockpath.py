"""The Unix socket paths `tcpwrap serve` binds (the control and hand-off sockets).

What it does: `clear_for_bind(path)` removes what an earlier serve left at the path (a socket:
a crash or a kill leaves it behind) so that bind() can succeed, and refuses to remove anything
else: a configured path that names a file is the admin's mistake, not serve's to delete.
Hazards: the path is from the admin's configuration; only a socket is ever unlinked.
Errors: a problem is returned as its text for the caller to log; nothing raised.
"""

from __future__ import annotations

import os
import stat


def clear_for_bind(path: str) -> str | None:
    """None when the path is free (nothing there, or a stale socket removed), else why not."""
    try:
        if not stat.S_ISSOCK(os.lstat(path).st_mode):
            return "exists and is not a socket"
        os.unlink(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return exc.strerror or str(exc)
    return None
