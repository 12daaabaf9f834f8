"""Bans: sources refused for a while, kept in memory and in ban-list files tcpd can read.

What it does: `Bans` holds the active bans (a source prefix -> its expiry) and answers
`banned(address)` in a few dictionary look-ups. Each ban also goes into a ban-list file
(`BanFile`): one token per line, in the form hosts_access(5) `/file` patterns read
(`192.0.2.7`, `198.51.100.0/24`, `[2001:db8:1:2::]/64`, see proto.prefix), so a hosts.deny line
`ALL: /var/lib/tcpwrap/banned` makes the real tcpd and every libwrap-linked daemon of the host
honour the same bans. Bans come from this host (`ban`: an address and a duration) or from the
fleet (`apply`: a token and an absolute expiry, the same on every host) and leave by expiring
(`prune`) or being lifted (`lift`). New bans are appended (one write each, so a reader never
sees half a line, and the incremental compile of a growing list stays cheap); removed ones by
rewriting the list aside and renaming it over the old one. The expiry of every ban written is
kept beside the list, in `<list>.expires` (`TOKEN EPOCH` lines), so a restart keeps them;
tokens someone else put into the list are left alone and never expire.

Hazards: addresses come from the network and tokens from a shared store; only canonical
numeric tokens are accepted (proto.prefix.token_key): a name or a `/path` in the file would
mean something else to tcpd. No ban ever covers an address of the never-ban allow-list
(`never`: the site's admins, its monitoring). The number of bans is bounded (`max_entries`;
the soonest to expire goes first). No comments in the file: tcpd would read `#` as a host
token and look up names to compare it with.
Errors: a file that cannot be written is reported to `on_error` and the ban still holds in
memory; malformed lines of an existing file or sidecar are skipped.
"""

from __future__ import annotations

import contextlib
import heapq
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from tcpwrap.proto.prefix import Network, ban_token, overlaps, source_key, token_key

Complain = Callable[[str], None]


@dataclass
class BanFile:
    """One ban-list file and the expiries of the tokens we wrote into it."""

    path: str
    on_error: Complain
    expiries: dict[str, float] = field(default_factory=dict)  # token -> epoch
    foreign: list[str] = field(default_factory=list)  # tokens not ours: kept as they are
    _sidecar_lines: int = 0  # lines in the sidecar (appends make it longer than `expiries`)

    @property
    def sidecar(self) -> str:
        return self.path + ".expires"

    def load(self) -> None:
        """Take over what a previous run left (expired bans are dropped at the next prune)."""
        ours: dict[str, float] = {}
        words = _read_tokens(self.sidecar)
        for token, epoch in zip(words[::2], words[1::2], strict=False):
            try:
                when = float(epoch)
            except ValueError:
                continue
            if token_key(token) is not None and when == when:  # (not NaN)
                ours[token] = when
        listed = _read_tokens(self.path)
        present = set(listed)
        self.foreign = [t for t in dict.fromkeys(listed) if t not in ours]
        self.expiries = {t: e for t, e in ours.items() if t in present}
        self._sidecar_lines = len(words) // 2

    def append(self, tokens: list[str]) -> None:
        """New bans: their expiries, then the tokens, each file in one appending write."""
        self.note_expiries(tokens)
        self._append(self.path, "".join(token + "\n" for token in tokens))

    def note_expiries(self, tokens: list[str]) -> None:
        """Record the expiries of `tokens` (new or extended) by appending to the sidecar: the
        last line of a token wins when it is read back; rewrites compact it."""
        self._sidecar_lines += len(tokens)
        if self._sidecar_lines > 2 * len(self.expiries) + 1000:
            self.write_expiries()
            return
        self._append(self.sidecar, "".join(f"{t} {self.expiries[t]:.3f}\n" for t in tokens))

    def _append(self, path: str, text: str) -> None:
        if not text:
            return
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                data = memoryview(text.encode("ascii"))
                while data:
                    data = data[os.write(fd, data) :]
            finally:
                os.close(fd)
        except OSError as exc:
            self.on_error(f"ban list {path}: {exc.strerror or exc}")

    def rewrite(self) -> None:
        self._replace(self.path, [*self.foreign, *self.expiries])
        self.write_expiries()

    def write_expiries(self) -> None:
        self._replace(self.sidecar, [f"{t} {e:.3f}" for t, e in self.expiries.items()])
        self._sidecar_lines = len(self.expiries)

    def _replace(self, path: str, lines: Iterable[str]) -> None:
        temporary = f"{path}.tmp.{os.getpid()}"
        try:
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
            try:
                data = "".join(line + "\n" for line in lines).encode("ascii")
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
            finally:
                os.close(fd)
            os.replace(temporary, path)
        except OSError as exc:
            self.on_error(f"ban list {path}: {exc.strerror or exc}")
            with contextlib.suppress(OSError):
                os.unlink(temporary)


def _read_tokens(path: str) -> list[str]:
    """The whitespace-separated tokens of a file (as tcpd reads a `/file` list)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(64 * 1024 * 1024)
    except OSError:
        return []
    return [t.decode("ascii", "replace") for t in data.split()]


@dataclass(frozen=True, slots=True)
class Ban:
    key: str  # the in-memory key (source_key form)
    token: str  # the ban-list token
    expires: float
    new: bool  # False: an existing ban was extended (or already lasted longer)


class Bans:
    """Active bans across every ban list (see the module docstring)."""

    def __init__(
        self,
        v4: int,
        v6: int,
        max_entries: int,
        on_error: Complain,
        never: tuple[Network, ...] = (),
    ) -> None:
        self.never = never  # the never-ban allow-list: no ban may cover these
        self.v4 = v4
        self.v6 = v6
        self.max_entries = max_entries
        self.on_error = on_error
        self.active: dict[str, float] = {}  # key -> expiry (epoch seconds)
        self.files: dict[str, BanFile] = {}
        self._lengths4 = {v4}
        self._lengths6 = {v6}
        self.dirty: set[str] = set()  # files with entries to remove at the next prune
        # (expiry, token, path) of every ban written, soonest first; entries whose ban was
        # extended or lifted since are stale and skipped, so a prune costs what expired
        self._expiring: list[tuple[float, str, str]] = []

    def file(self, path: str, now: float) -> BanFile:
        ban_file = self.files.get(path)
        if ban_file is None:
            ban_file = BanFile(path, self.on_error)
            ban_file.load()
            self.files[path] = ban_file
            for token, expiry in ban_file.expiries.items():
                key = token_key(token)
                if key is not None and expiry > now:
                    self._remember(key, expiry)
                else:
                    self.dirty.add(path)
                self._expiring.append((expiry, token, path))
            heapq.heapify(self._expiring)
        return ban_file

    def _remember(self, key: str, expiry: float) -> None:
        self.active[key] = max(expiry, self.active.get(key, 0.0))
        net, slash, length = key.partition("/")
        if slash:
            (self._lengths6 if ":" in net else self._lengths4).add(int(length))

    def banned(self, address: str, now: float) -> bool:
        if not self.active:
            return False
        text = address.partition("%")[0]
        v6 = ":" in text and not text.startswith("::ffff:")
        for length in self._lengths6 if v6 else self._lengths4:
            key = source_key(address, min(length, 32), length)
            expiry = self.active.get(key)
            if expiry is not None:
                if expiry > now:
                    return True
                del self.active[key]
        return False

    def token(self, address: str) -> str | None:
        return ban_token(address, self.v4, self.v6)

    def ban(self, address: str, seconds: float, path: str, now: float) -> Ban | None:
        """Ban the source of `address` for `seconds` in `path`; None if not numeric."""
        token = self.token(address)
        return None if token is None else self.apply(token, now + seconds, path, now)

    def apply(self, token: str, expires: float, path: str, now: float) -> Ban | None:
        """Ban `token` (a canonical ban-list token) until `expires` in `path`; None when the
        token is not canonical, covers a never-ban address, or the ban is over already. A
        later expiry extends a ban."""
        return self.apply_many([(token, expires)], path, now)[0]

    def apply_many(self, bans: list[tuple[str, float]], path: str, now: float) -> list[Ban | None]:
        """`apply` for many bans at once (a fleet sync: 100,000 bans), each file written once."""
        ban_file = self.file(path, now)
        out: list[Ban | None] = []
        new: list[str] = []
        extended: list[str] = []
        rewrite = False
        for token, expires in bans:
            key = token_key(token)
            if key is None or expires <= now or overlaps(token, self.never):
                out.append(None)
                continue
            known = ban_file.expiries.get(token)
            if known is not None and known >= expires:
                self._remember(key, known)
                out.append(Ban(key, token, known, False))
                continue
            if len(self.active) >= self.max_entries and key not in self.active:
                self._evict()
            self._remember(key, expires)
            ban_file.expiries[token] = expires
            heapq.heappush(self._expiring, (expires, token, path))
            if known is not None:
                extended.append(token)  # only its expiry changes
            elif token in ban_file.foreign:
                ban_file.foreign.remove(token)
                rewrite = True
            else:
                new.append(token)
            out.append(Ban(key, token, expires, known is None))
        if rewrite:
            ban_file.rewrite()
        else:
            ban_file.note_expiries(extended)
            ban_file.append(new)
        return out

    def lift(self, token: str) -> bool:
        """End a ban before its expiry (an unban); True when there was one."""
        return bool(self.lift_many([token]))

    def lift_many(self, tokens: list[str]) -> list[str]:
        """End these bans (a fleet sync: those lifted while away); each file rewritten once.
        The tokens that were banned."""
        lifted: list[str] = []
        touched: set[str] = set()
        for token in tokens:
            key = token_key(token)
            if key is None:
                continue
            found = self.active.pop(key, None) is not None
            for path, ban_file in self.files.items():
                if ban_file.expiries.pop(token, None) is not None:
                    touched.add(path)
                    found = True
            if found:
                lifted.append(token)
        for path in touched:
            self.files[path].rewrite()
        return lifted

    def _evict(self) -> None:
        """Make room: the ban that expires soonest goes (its file is rewritten at the next
        prune); from the expiry heap, not a scan of every ban."""
        expiring = self._expiring
        while expiring:
            expiry, token, path = heapq.heappop(expiring)
            ban_file = self.files.get(path)
            if ban_file is None or ban_file.expiries.get(token) != expiry:
                continue  # stale
            del ban_file.expiries[token]
            self.dirty.add(path)
            key = token_key(token)
            if key is not None:
                self.active.pop(key, None)
            return
        if self.active:  # bans with no file entry (none are made so): the soonest in memory
            del self.active[min(self.active, key=self.active.__getitem__)]

    def prune(self, now: float) -> list[str]:
        """Drop expired bans from memory and rewrite the lists that held them; their tokens.
        Costs what expired (plus one rewrite per list that changed), not the whole set."""
        gone: list[str] = []
        touched = set(self.dirty)
        expiring = self._expiring
        while expiring and expiring[0][0] <= now:
            expiry, token, path = heapq.heappop(expiring)
            ban_file = self.files.get(path)
            if ban_file is None or ban_file.expiries.get(token) != expiry:
                continue  # extended or lifted since: a stale entry
            del ban_file.expiries[token]
            touched.add(path)
            gone.append(token)
            key = token_key(token)
            if key is not None and self.active.get(key, now + 1) <= now:
                del self.active[key]
        for path in touched:
            if path in self.files:
                self.files[path].rewrite()
        self.dirty.clear()
        if len(expiring) > 3 * sum(len(f.expiries) for f in self.files.values()) + 1000:
            self._expiring = [
                (e, t, p) for p, f in self.files.items() for t, e in f.expiries.items()
            ]
            heapq.heapify(self._expiring)
        return gone

    def next_expiry(self) -> float | None:
        expiring = self._expiring
        while expiring:
            expiry, token, path = expiring[0]
            ban_file = self.files.get(path)
            if ban_file is not None and ban_file.expiries.get(token) == expiry:
                return expiry
            heapq.heappop(expiring)  # stale
        return None
