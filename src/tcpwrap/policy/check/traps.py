"""The silent traps: text that makes tcpd do something other than what the table seems to say.

What it does: findings tcpdchk never gives, each naming the line the admin has to edit: a line
that stops tcpd's reading (over-long, no final newline: which line tcpd logs, how many rules
it ignores, what that does in the deny table), NUL bytes (what tcpd keeps of the line and joins
with the next one, and how to clean the file), a comment ending in a backslash that
swallows the next line(s), an indented `#` (a live rule), a `#` inside a rule, a continuation
gluing two tokens, unbracketed IPv6 addresses in the daemon or client list, and lists that
start or end with EXCEPT.

Hazards: none (pure). Errors: none raised; everything is a finding on the `Report`.
"""

from __future__ import annotations

import ipaddress
import re

from tcpwrap.policy.check.events import Report
from tcpwrap.policy.check.lines import TOO_LONG, CheckLine
from tcpwrap.policy.check.probe import TableInput
from tcpwrap.policy.cstr import fold, split_at
from tcpwrap.policy.tables import LINE_LIMIT, NulPiece


def stop_explanation(table: TableInput, cl: CheckLine, logged: int, after: list[CheckLine]) -> str:
    """Why tcpd stops reading `table` at `cl`, and what that does (an error's text)."""
    later = sum(1 for x in after if not x.comment and not x.blank)
    if cl.problem == TOO_LONG:
        what = (
            f"this line is {cl.length} bytes long, more than tcpd's {LINE_LIMIT}-byte line "
            f"buffer (newline included)"
        )
    else:
        what = "the last line has no final newline"
    rest = f" and the {later} rule line(s) after it" if later else ""
    consequence = (
        "; in the deny table this denies every client that the allow table does not grant"
        if table.role == "deny"
        else "; clients not granted by earlier lines go on to the deny table"
    )
    return (
        f"{what}: tcpd stops reading {table.path} here and ignores this line{rest} "
        f'(it logs "{table.path}, line {logged}: missing newline or line too long")'
        f"{consequence}"
    )


def _shown(text: str) -> str:
    text = text.rstrip("\n")
    return f'"{text[:60]}..."' if len(text) > 60 else f'"{text}"'


def nul_bytes(report: Report, table: TableInput, pieces: tuple[NulPiece, ...]) -> None:
    """NUL bytes in a logical line: what tcpd makes of it (docs/rules.md) and how to clean the file.

    One error per logical line, however many physical lines a NUL run spans (each hides the
    newline that would end it, so tcpd reads them all as one line). tcpd says nothing about
    them; the verdicts stay tcpd's, so this only explains them.
    """
    first, last = pieces[0], pieces[-1]
    report.at(table.path, first.physical)
    if len(pieces) == 1:
        where, fewer = "this line's newline", "one lower"
    else:
        where = f"the newlines of lines {first.physical}-{last.physical}"
        fewer = f"{len(pieces)} lower"
    lost_texts = [piece.lost for piece in pieces if piece.lost]
    lost = ""
    if lost_texts:
        more = f" and {len(lost_texts) - 3} more" if len(lost_texts) > 3 else ""
        lost = f"the text after them ({', '.join(map(_shown, lost_texts[:3]))}{more}), and "
    kept = "".join(piece.kept for piece in pieces)
    if not last.joined:
        then = "and the table ends there"
    elif kept:
        then = (
            f"and the text before them is read together with the next line as one rule, "
            f"{_shown(last.joined)} (tcpd's line {last.line})"
        )
    else:
        then = f"and tcpd goes on with the next line (its line {last.line})"
    report.extra_error(
        f"NUL bytes: tcpd ignores {lost}{where}, {then}; every "
        f"later line number tcpd logs is {fewer}. Clean the file: remove the NUL bytes "
        f"(tr -d '\\000' < {table.path} > {table.path}.new), check what they leave, and move "
        f"it in place"
    )


def swallowing_comment(report: Report, table: TableInput, cl: CheckLine) -> None:
    """A comment whose trailing backslash joins the next line(s) to it."""
    if cl.last == cl.first:
        return
    swallowed = [p for p in cl.pieces[1:] if p.strip(" \t\r\n")]
    if not swallowed:
        return
    report.at(table.path, cl.first)
    span = f"line {cl.first + 1}" if cl.last == cl.first + 1 else f"lines {cl.first + 1}-{cl.last}"
    report.extra_warn(
        f"this comment ends in a backslash, so {span} is joined to it and ignored as part "
        f"of the comment"
    )


def line_traps(report: Report, cl: CheckLine) -> None:
    """`#` that is not a comment, continuations gluing tokens, unbracketed IPv6 addresses."""
    warn = report.extra_warn
    text = cl.text
    stripped = text.lstrip(" \t\r")
    if stripped.startswith("#"):
        warn(
            '"#" is not in the first column, so this line is not a comment: tcpd reads it '
            "as a rule"
        )
    else:
        hash_at = re.search(r"(?<=[\s,:])#", text)
        if hash_at is not None:
            shown = text[hash_at.start() :].rstrip("\n")[:60]
            warn(
                f'"{shown}" is not a comment: only a "#" in the first column starts one, '
                f"so this text is part of the rule"
            )
    for before, after in zip(cl.pieces, cl.pieces[1:], strict=False):
        if before and after and before[-1] not in " \t,:" and after[0] not in " \t,:\r\n":
            left = re.split(r"[\s,:]", before)[-1]
            right = re.split(r"[\s,:]", after)[0]
            warn(
                f'the backslash continuation joins "{left}" and "{right}" into one token '
                f'"{left}{right}" (nothing is inserted between the lines)'
            )
    _unbracketed_ipv6(report, text)


def _unbracketed_ipv6(report: Report, text: str) -> None:
    if "::" not in text and text.count(":") < 7:
        return  # no IPv6 address here: one has "::" or eight groups (most lines: fast)
    # Only addresses that start inside the daemon or client list (an address in an
    # option value, e.g. `spawn echo 2001:db8::1`, is fine).
    lists_end = len(text)
    first = split_at(text, ":")
    if first is not None:
        second = split_at(first[1], ":")
        if second is not None:
            lists_end = len(first[0]) + 1 + len(second[0])
    for found in re.finditer(r"[^\s,]+", text):
        if found.start() > lists_end:
            break
        candidate = found.group().split("@")[-1].rstrip(":")
        if candidate.startswith("[") or candidate.count(":") < 2:
            continue
        address = candidate.split("/", 1)[0]
        try:
            ipaddress.IPv6Address(address)
        except ValueError:
            continue
        report.extra_warn(
            f"{candidate}: an IPv6 address must be written in brackets ([{address}]"
            f"{candidate[len(address) :]}): unbracketed, the rule is cut at its first "
            f'":", so this address never matches and its tail becomes the next field'
        )


def list_shape(report: Report, tokens: list[str], kind: str) -> None:
    """A list that starts with EXCEPT (matches nothing) or ends with it (excludes nothing)."""
    folded = [fold(t) for t in tokens]
    if folded and folded[0] == "except":
        report.extra_warn(
            f"the {kind} list starts with EXCEPT, so it matches nothing and this rule "
            f"never applies"
        )
    elif len(folded) > 1 and folded[-1] == "except":
        before = " ".join(tokens[:-1])
        report.extra_warn(
            f'"{before} EXCEPT" excludes nothing: with nothing after EXCEPT the {kind} '
            f'list matches exactly like "{before}"'
        )
