"""hosts_ctl() and decide(): the question libwrap answers, for four strings.

What it does: `hosts_ctl(daemon, client_name, client_addr, user)` gives libwrap's verdict for
four strings (no lookups: the name given is trusted as is; "" and "unknown" mean unknown; a name
"paranoid" is a failed verification). `decide(...)` returns the whole Decision (verdict, the
deciding rule as file:line, actions, diagnostics). Tables are compiled once and re-validated by
file identity before every decision (`drivers.tables.PolicyCache`), so an edit takes effect on
the next call.

Dry run (the default): options are evaluated without side effects (nothing is spawned, twist is
reported as `delegated` with the table's verdict) and nothing is logged. hosts_ctl() answers
through policy/quick.py (the index, and residual rules such as `/file` lists evaluated in
place) unless the deciding rule has options; verdicts that read no `/file` list or netgroup are
memoised with their policy version where deciding costs more than the memo (policy/quick.py).
Each call reads the policy once (`PolicyCache.fresh`, else `snapshot`): a fallback to the full
evaluator decides with the very policy the quick path looked at.
Live (`live=True`): options are performed as libwrap does in a resident process
(`library.live`): spawn runs during the call, setenv/umask/nice change this process, banners go
nowhere (there is no client fd), `twist` is refused (`twist option in resident process`:
denied), aclexec runs; diagnostics go to the logger "tcpwrap".

Hazards: live mode runs the tables' shell commands and changes process-global state.
Errors: table problems never raise: they are in `Decision.diagnostics` and fail closed exactly
as libwrap does.
"""

from __future__ import annotations

import os
import threading

from tcpwrap.drivers.environment import SystemEnvironment
from tcpwrap.drivers.tables import PolicyCache
from tcpwrap.policy.cstr import c_string
from tcpwrap.policy.decision import Connection, Decision, Endpoint, Mode, Verdict
from tcpwrap.policy.facts import UNKNOWN
from tcpwrap.policy.match import Evaluation, evaluate
from tcpwrap.policy.quick import MEMO_LIMIT as MEMO_LIMIT  # (re-exported: verdicts per policy)
from tcpwrap.policy.quick import ctl_verdict
from tcpwrap.policy.rules import Language, Policy

TYPE_CHECKING = False
if TYPE_CHECKING:
    from tcpwrap.drivers.deciding import AclExecStyle
    from tcpwrap.policy.quick import FileOpener

HOSTS_ALLOW = "/etc/hosts.allow"
HOSTS_DENY = "/etc/hosts.deny"
# hosts_ctl() without side effects: options are validated, not executed; a `twist` leaves the
# verdict to its table, as libwrap's dry run does (checked against libwrap by the tests).
CTL_MODE = Mode(dry_run=True)
# Live: what a resident libwrap process does. Always "resident" here: a library never replaces
# the calling program by a shell (libwrap would on its very first call; docs/library.md).
LIVE_MODE = Mode(dry_run=False, resident=True)
LIVE_DEBIAN_MODE = Mode(dry_run=False, resident=True, debian_aclexec=True)

# Keyed by the language's value: hashing an Enum member runs Python code (Enum.__hash__).
_caches: dict[tuple[str, str, str], PolicyCache] = {}
_caches_lock = threading.Lock()
# The (allow, deny, language, cache) of the last hosts_ctl() that looked its cache up: a
# caller passes the same string objects every time (its constants, or the defaults), and three
# identity tests cost less than building, hashing and comparing a key (one tuple: threads
# replace it whole).
_last: tuple[str, str, Language, PolicyCache] | None = None
_environment = SystemEnvironment()
_polled_files = _environment.pattern_file_polled


def policy_cache(
    allow: str = HOSTS_ALLOW, deny: str = HOSTS_DENY, language: Language = Language.OPTIONS
) -> PolicyCache:
    """The shared, self-refreshing compiled policy for this pair of tables."""
    key = (allow, deny, language._value_)
    cache = _caches.get(key)
    if cache is None:
        with _caches_lock:
            cache = _caches.setdefault(key, PolicyCache(allow, deny, language))
    return cache


def ctl_connection(daemon: str, client_name: str, client_addr: str, user: str) -> Connection:
    """The request hosts_ctl() builds: four strings, no socket addresses."""
    daemon, client_name, client_addr, user = c_strings(daemon, client_name, client_addr, user)
    return Connection(
        daemon,
        client=Endpoint(addr=client_addr or None, name=client_name or None),
        user=user or None,
        pid=os.getpid(),
    )


def c_strings(*texts: str) -> tuple[str, ...]:
    """The strings as libwrap sees them through its char * arguments: cut at a NUL."""
    return tuple(c_string(text) for text in texts)


def decide(
    daemon: str,
    client_name: str = UNKNOWN,
    client_addr: str = UNKNOWN,
    user: str = UNKNOWN,
    *,
    allow: str = HOSTS_ALLOW,
    deny: str = HOSTS_DENY,
    language: Language = Language.OPTIONS,
    mode: Mode = CTL_MODE,
    live: bool = False,
    aclexec: AclExecStyle = "documented",
) -> Decision:
    """The full Decision for a hosts_ctl-style query.

    `live=True` performs the options (`mode` is then ignored: always resident, see above).
    """
    policy = policy_cache(allow, deny, language).get()
    return _decide(policy, daemon, client_name, client_addr, user, mode, live, aclexec)


def _decide(
    policy: Policy,
    daemon: str,
    client_name: str,
    client_addr: str,
    user: str,
    mode: Mode,
    live: bool,
    aclexec: AclExecStyle,
) -> Decision:
    connection = ctl_connection(daemon, client_name, client_addr, user)
    if not live:
        return evaluate(policy, connection, mode, _environment)
    from tcpwrap.drivers.deciding import Check, drive
    from tcpwrap.library.live import resident_conduct

    live_mode = LIVE_DEBIAN_MODE if aclexec == "debian" else LIVE_MODE
    check = Check(Evaluation(policy, connection, live_mode, _environment))
    return drive(check, resident_conduct()).decision


def hosts_ctl(
    daemon: str,
    client_name: str,
    client_addr: str,
    user: str = UNKNOWN,
    *,
    allow: str = HOSTS_ALLOW,
    deny: str = HOSTS_DENY,
    language: Language = Language.OPTIONS,
    live: bool = False,
    aclexec: AclExecStyle = "documented",
) -> bool:
    """libwrap's hosts_ctl(): True to permit (`live=True`: options performed, see above)."""
    global _last
    if "\x00" in daemon or "\x00" in client_name or "\x00" in client_addr or "\x00" in user:
        daemon, client_name, client_addr, user = c_strings(daemon, client_name, client_addr, user)
    last = _last
    if last is not None and last[0] is allow and last[1] is deny and last[2] is language:
        cache = last[3]
    else:
        cache = policy_cache(allow, deny, language)
        _last = (allow, deny, language, cache)
    if live:
        decision = _decide(
            cache.get(), daemon, client_name, client_addr, user, CTL_MODE, True, aclexec
        )
        return decision.verdict is Verdict.GRANT
    # The policy and its memo, of one version. A watching cache has just polled the shared
    # inotify watch: the /file check need not.
    state = cache.fresh()
    if state is not None:
        opener: FileOpener | None = _polled_files
    else:
        state = cache.snapshot()
        opener = _polled_files if cache.watching else None
    verdict = ctl_verdict(
        state.policy, daemon, client_name, client_addr, user, _environment, opener, state.memo
    )
    if verdict >= 0:
        return verdict & 1 == 1  # GRANTED and GRANTED_ENV are odd
    decision = _decide(
        state.policy, daemon, client_name, client_addr, user, CTL_MODE, False, "documented"
    )
    return decision.verdict is Verdict.GRANT
