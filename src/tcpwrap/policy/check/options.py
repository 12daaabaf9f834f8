"""The option dry run: a rule's third field run through the real evaluator, as tcpdchk does.

What it does: `dry_run` evaluates one rule, alone in its table with `ALL : ALL` lists, against
tcpdchk's fictitious request (daemon `daemon_name`, client `client_hostname`/`client_addr`,
user `user_name`, server `server_hostname`/`server_addr`) in dry-run verbose mode, turns the
evaluator's diagnostics into findings and `option:` records, and returns the listing verdict
and whether the rule grants only implicitly (`-a`). `third_field_hints` explains the usual
mistakes in the third field: a `:` inside a command that starts a new option, a shell command
where options are expected, options where the classic language expects a shell command.

Hazards: nothing is executed (dry run); `user`/`group` names are only validated through the
environment. Errors: none raised; option errors are findings with Debian's texts.
"""

from __future__ import annotations

from tcpwrap._record import replace
from tcpwrap.errors import Kind
from tcpwrap.policy.check.events import Report
from tcpwrap.policy.check.probe import CheckOptions, Probe, TableInput
from tcpwrap.policy.compile import table_of
from tcpwrap.policy.cstr import fold
from tcpwrap.policy.decision import Connection, Endpoint, Mode, Verdict
from tcpwrap.policy.match import evaluate
from tcpwrap.policy.options import OPTION_FLAGS, Flag, OptionStep, split_fields, split_key_value
from tcpwrap.policy.patterns import compile_client_list, compile_daemon_list
from tcpwrap.policy.rules import Language, Policy, Rule

_ALL_DAEMONS = compile_daemon_list("ALL")
_ALL_CLIENTS = compile_client_list("ALL")
_EMPTY = table_of("", ())


def dry_run(
    report: Report, table: TableInput, rule: Rule, probe: Probe, options: CheckOptions
) -> tuple[str, bool]:
    """Dry-run the rule's options; returns (listing verdict, implicit allow?)."""
    if rule.third is None:  # nothing to run: the table decides
        return ("granted", True) if table.role == "allow" else ("denied", False)
    single = replace(rule, daemons=_ALL_DAEMONS, clients=_ALL_CLIENTS)
    mine = table_of(table.path, (single,))
    if table.role == "allow":
        policy = Policy(mine, _EMPTY, options.language)
    else:
        policy = Policy(_EMPTY, mine, options.language)
    connection = Connection(
        "daemon_name",
        client=Endpoint(addr="client_addr", name="client_hostname"),
        server=Endpoint(addr="server_addr", name="server_hostname"),
        user="user_name",
        pid=options.pid,
    )
    decision = evaluate(policy, connection, Mode(verbose=True), probe.env, use_index=False)
    failed = False
    for diag in decision.diagnostics:
        if diag.kind is Kind.DEBUG:
            if not diag.message.startswith("matched:"):
                report.debug(diag.message.rstrip("\n"))
        elif diag.kind is Kind.ERROR:
            failed = True
            report.error(diag.message)
        elif diag.kind is Kind.WARNING:
            report.warn(diag.message)
    granted = decision.verdict is Verdict.GRANT
    decided = any(step.name in ("allow", "deny") for step in rule.options or ())
    implicit = (
        table.role == "allow" and granted and not failed and not decided and not decision.delegated
    )
    return ("granted" if granted else "denied"), implicit


def third_field_hints(report: Report, rule: Rule, language: Language) -> None:
    if rule.third is None:
        return
    if language is Language.OPTIONS:
        steps = rule.options or ()
        _colon_hint(report, rule.third, steps)
        if (
            steps
            and (steps[0].error or "").startswith("bad option name")
            and (steps[0].key[:1] in ("/", "(") or "|" in rule.third or "&" in rule.third)
        ):
            report.extra_warn(
                "the third field looks like a shell command (the classic language): with "
                'options, write "spawn <command>" (or check with --language classic)'
            )
    else:
        stripped = rule.third.strip()
        word = fold(stripped.split(" ", 1)[0].split("=", 1)[0]) if stripped else ""
        if word in OPTION_FLAGS:
            report.extra_warn(
                f'the third field looks like options ("{word}"), but in the classic '
                f"language it is a shell command run by /bin/sh"
            )


def _colon_hint(report: Report, third: str, steps: tuple[OptionStep, ...]) -> None:
    """An option error caused by a ':' inside a command (spawn, twist, ...)."""
    if not steps or steps[-1].error is None:
        return
    fields = split_fields(third)
    last = len(steps) - 1
    for index in (last - 1, last):
        if index < 0 or index + 1 >= len(fields):
            continue
        step = steps[index]
        flags = OPTION_FLAGS.get(step.name)
        if step.value is None or flags is None or not flags & Flag.EXPAND:
            continue
        following = fold(split_key_value(fields[index + 1][0])[0])
        if following not in OPTION_FLAGS:
            report.extra_warn(
                f'the value of "{step.key}" ends at the next ":", which starts a new '
                f'option; if that ":" belongs to the command, write it as "\\:"'
            )
            return
