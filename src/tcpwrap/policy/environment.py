"""The local facts a decision may read: pattern files, banner files, netgroups, users.

What it does: defines the `Environment` protocol the matcher reads local (non-network) facts
through, and `StaticEnvironment`, an in-memory one for tests and pure callers. The real one
(files, NSS netgroups, the passwd database) is `tcpwrap.drivers.environment.SystemEnvironment`.
Pattern files come back compiled (`policy.patternfile.PatternFile`): environments compile a
file once per version and hand the same object to every decision until the file changes.

Hazards: none here. Errors: readers return values (content, None for "absent", or a strerror
text), never raise.
"""

from __future__ import annotations

from tcpwrap._record import field, record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Protocol

    from tcpwrap.policy.patternfile import PatternFile
else:
    Protocol = object  # typing costs start-up time; only the type checker needs it


class Environment(Protocol):
    def pattern_file(self, path: str) -> PatternFile | str | None:
        """The compiled file (its whitespace-separated tokens); None if absent (ENOENT);
        strerror text on other errors."""
        ...

    def banner(self, directory: str, daemon: str) -> bytes | str | None:
        """The banner file's bytes; None when absent but the directory exists; strerror text
        when the directory itself cannot be stat'ed."""
        ...

    def innetgr(self, group: str, host: str) -> bool: ...

    def user_exists(self, name: str) -> bool: ...

    def group_exists(self, name: str) -> bool: ...


@record
class StaticEnvironment:
    files: dict[str, str] = field(default_factory=dict)
    banners: dict[tuple[str, str], bytes] = field(default_factory=dict)
    banner_dirs: set[str] = field(default_factory=set)
    netgroups: dict[str, set[str]] = field(default_factory=dict)
    users: set[str] = field(default_factory=lambda: {"root", "nobody"})
    groups: set[str] = field(default_factory=lambda: {"root", "nogroup"})
    # path -> (the text it was compiled from, the compiled file); `files` may be edited
    compiled: dict[str, tuple[str, PatternFile]] = field(
        default_factory=dict, compare=False, repr=False
    )

    def pattern_file(self, path: str) -> PatternFile | str | None:
        text = self.files.get(path)
        if text is None:
            return None
        known = self.compiled.get(path)
        if known is not None and known[0] == text:
            return known[1]
        from tcpwrap.policy.patternfile import compile_pattern_file  # only /file users need it

        compiled = compile_pattern_file(text.split())
        self.compiled[path] = (text, compiled)
        return compiled

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
