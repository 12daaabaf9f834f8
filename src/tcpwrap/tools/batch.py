"""`tcpwrap match --batch`: one hosts_ctl() verdict per input line, fast.

What it does: reads `DAEMON CLIENT_NAME CLIENT_ADDR [USER]` lines (separated by C
whitespace) and writes exactly one line, `granted` or `denied`, per input line, with libwrap's
hosts_ctl() semantics: no lookups, "" or `unknown` = unknown, a name `paranoid` is a failed
verification. The queries are read as bytes, one character per byte as the tables are, so a
query carrying a table entry's non-ASCII bytes matches it (libwrap compares bytes). The tables
are re-validated by file identity before every query.

Hazards: input may be huge or hostile: each line is bounded (`LINE_LIMIT`); a malformed line
(wrong field count, over-long) gets `denied` and a message on stderr naming its line number:
on doubt, deny and say why.
Errors: none raised for input; exit status 0 (1 if any line was malformed).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, BinaryIO

from tcpwrap.library import hosts_ctl
from tcpwrap.policy.facts import UNKNOWN
from tcpwrap.policy.rules import Language

LINE_LIMIT = 4096
FLUSH_EVERY = 4096


def run_batch(
    stdin: BinaryIO, stdout: IO[str], stderr: IO[str], allow: str, deny: str, language: Language
) -> int:
    interactive = stdin.isatty()
    out: list[str] = []
    bad = 0
    for number, line in enumerate(_lines(stdin), 1):
        # bytes.split() splits at C whitespace only (str.split would also cut at U+00A0 and
        # other Latin-1 "spaces"); each field then one character per byte, as the tables
        fields = [] if line is None else [field.decode("latin-1") for field in line.split()]
        if len(fields) not in (3, 4):
            bad += 1
            stderr.write(
                f"tcpwrap match --batch: line {number}: want DAEMON CLIENT_NAME CLIENT_ADDR "
                "[USER]; denied\n"
            )
            out.append("denied\n")
        else:
            user = fields[3] if len(fields) == 4 else UNKNOWN
            granted = hosts_ctl(
                fields[0], fields[1], fields[2], user, allow=allow, deny=deny, language=language
            )
            out.append("granted\n" if granted else "denied\n")
        if interactive or len(out) >= FLUSH_EVERY:
            stdout.write("".join(out))
            stdout.flush()
            out.clear()
    stdout.write("".join(out))
    stdout.flush()
    return 1 if bad else 0


def _lines(stdin: BinaryIO) -> Iterator[bytes | None]:
    """The input lines, None for one longer than LINE_LIMIT (read on to its end, in bounded
    pieces: a hostile line costs no more memory than a good one)."""
    while True:
        line = stdin.readline(LINE_LIMIT + 1)
        if not line:
            return
        if len(line) <= LINE_LIMIT or line.endswith(b"\n"):
            yield line if len(line) <= LINE_LIMIT else None
            continue
        while line and not line.endswith(b"\n"):
            line = stdin.readline(LINE_LIMIT + 1)
        yield None
