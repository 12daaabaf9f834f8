"""The local facts a decision may read: pattern files, banner files, netgroups, users.

What it does: defines the `Environment` protocol the matcher reads local (non-network) facts
through, and `StaticEnvironment`, an in-memory one for tests and pure callers. The real one
(files, NSS netgroups, the passwd database) is `tcpwrap.drivers.environment.SystemEnvironment`.

Hazards: none here. Errors: readers return values (content, None for "absent", or a strerror
text), never raise.
"""

from __future__ import annotations

from tcpwrap._record import field
from tcpwrap._record import record as dataclass

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Protocol
else:
    Protocol = object  # typing costs start-up time; only the type checker needs it


class Environment(Protocol):
    def pattern_file(self, path: str) -> list[str] | str | None:
        """Whitespace-separated tokens; None if absent (ENOENT); strerror text on other errors."""
        ...

    def banner(self, directory: str, daemon: str) -> bytes | str | None:
        """The banner file's bytes; None when absent but the directory exists; strerror text
        when the directory itself cannot be stat'ed."""
        ...

    def innetgr(self, group: str, host: str) -> bool: ...

    def user_exists(self, name: str) -> bool: ...

    def group_exists(self, name: str) -> bool: ...


@dataclass
class StaticEnvironment:
    files: dict[str, str] = field(default_factory=dict)
    banners: dict[tuple[str, str], bytes] = field(default_factory=dict)
    banner_dirs: set[str] = field(default_factory=set)
    netgroups: dict[str, set[str]] = field(default_factory=dict)
    users: set[str] = field(default_factory=lambda: {"root", "nobody"})
    groups: set[str] = field(default_factory=lambda: {"root", "nogroup"})

    def pattern_file(self, path: str) -> list[str] | str | None:
        text = self.files.get(path)
        return None if text is None else text.split()

    def banner(self, directory: str, daemon: str) -> bytes | str | None:
        data = self.banners.get((directory, daemon))
        if data is not None:
            return data
        return None if directory in self.banner_dirs else "No such file or directory"

    def innetgr(self, group: str, host: str) -> bool:
        members = self.netgroups.get(group, set())
        return host.lower() in {m.lower() for m in members}

    def user_exists(self, name: str) -> bool:
        return name in self.users

    def group_exists(self, name: str) -> bool:
        return name in self.groups


NO_ENVIRONMENT = StaticEnvironment()
