"""Why a log gave (almost) no connection records, said in words a sysadmin can act on.

What it does: `few_records(stats)` returns None when the input gave a fair share of
connection records, else a short explanation: which programs' lines the input holds instead,
whether most lines are in no known format, and where the wrapper's lines usually are (Red Hat
logs tcpd to /var/log/secure, Debian to auth.log/syslog, Solaris to /var/adm/messages).

Hazards: the program names come from the logs; callers escape them. Pure, no errors.
"""

from __future__ import annotations

from tcpwrap.report.model import Stats

_MIN_LINES = 20  # below this a file is too small to judge
_FEW = 0.01  # fewer records than this share of lines is "almost none"

WHERE = ("tcpd, xinetd and inetd log through syslog (facility auth/authpriv or daemon): on "
         "Red Hat and CentOS the wrapper's lines are in /var/log/secure, on Debian in "
         "/var/log/auth.log or /var/log/syslog, on Solaris in /var/adm/messages (with "
         "daemon.notice and auth.info enabled in /etc/syslog.conf); with journald use "
         "`journalctl -o json`.")


def few_records(stats: Stats) -> str | None:
    if stats.lines < _MIN_LINES or stats.events >= _FEW * stats.lines:
        return None
    parts = [f"Almost no connection records: {stats.events} in {stats.lines} lines."]
    if stats.unparsed > stats.lines / 2:
        parts.append("Most lines are in no format this report knows (see the unparsed "
                     "examples).")
    named = sorted(((n, p) for p, n in stats.programs.items() if not p.startswith("(")),
                   reverse=True)[:5]
    if named:
        parts.append("The lines come from " + ", ".join(f"{p} ({n})" for n, p in named)
                     + ", not from the wrapper or a super-server.")
    parts.append(WHERE)
    return " ".join(parts)
