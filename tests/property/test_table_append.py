"""Appending to a table: the incremental compile equals a full compile of the new content.

`policy.compile.extend_table` must give the very Table `compile_table` gives (rules, notes,
stop, index) whenever it accepts an append, refuse exactly when the old content did not end
cleanly, leave the old Table untouched, and decide every query like the full compile
(verdict, origin, diagnostics, lookups). Also: `read_lines`' fast path equals the reference
reader, with and without a starting line number.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tcpwrap.policy.compile import compile_table, ends_cleanly, extend_table
from tcpwrap.policy.decision import Connection, Endpoint, Mode
from tcpwrap.policy.facts import KnownName, NameLookup
from tcpwrap.policy.index import INF, build_index
from tcpwrap.policy.match import Evaluation
from tcpwrap.policy.rules import Language, Policy, Table, TableSource
from tcpwrap.policy.tables import LINE_LIMIT, _read_lines, read_lines

PIECES = [
    "ALL: 192.0.2.1\n", "sshd: 10.0.0.1\n", "ALL: .example.com\n", "sshd: ALL EXCEPT 10.\n",
    "ALL: 198.51.100.0/24: deny\n", "in.ftpd, sshd: KNOWN\n", "ALL: 192.0.2.2: spawn echo %a\n",
    "# a comment\n", "\n", "   \n", "no separator here\n", "sshd: 192.0.2.\\\n", "3\n",
    "ALL: 203.0.113.9", "\\\n", "ALL: bad option: bogus\n", "sshd: a\x00b\n",
    "ALL: " + "x" * (LINE_LIMIT - 6) + "\n", "ALL: " + "y" * (LINE_LIMIT - 4) + "\n",
    "ALL: 192.0.2.7\r\n", "sshd: 192.0.2.1 :\n", "\x00\x00\x00\n", "\x00ALL: 192.0.2.3\n",
]  # fmt: skip
text = st.lists(st.sampled_from(PIECES), max_size=8).map("".join)
ADDRESSES = ["192.0.2.1", "192.0.2.3", "10.0.0.1", "198.51.100.7", "203.0.113.9", "192.0.2.7"]


def source(data: str) -> TableSource:
    return TableSource("hosts.deny", data.encode("latin-1"))


def same_table(a: Table, b: Table) -> None:
    assert a == b  # path, rules, notes, stop, open_error
    assert a.index == b.index
    true_floors(a)


def true_floors(table: Table) -> None:
    """The floors kept while filing are the smallest positions of their keys."""
    for group in table.index.groups.values():
        for keys in (group.address, group.name):
            assert keys.exact_floor == min(keys.exact.values(), default=INF)
            others = (*keys.prefix.values(), *keys.suffix.values(), *keys.v6.values())
            assert keys.other_floor == min(others, default=INF)
        for floor, nets in ((group.v4_floor, group.v4nets), (group.v6_floor, group.v6nets)):
            assert floor == min((p for t in nets.values() for p in t.values()), default=INF)


def same_decisions(a: Table, b: Table, language: Language) -> None:
    empty = compile_table(TableSource("hosts.allow", b""), language)
    for address in ADDRESSES:
        for daemon in ("sshd", "in.ftpd"):
            connection = Connection(daemon, client=Endpoint(addr=address, resolvable=True), pid=1)
            decisions = [
                Evaluation(Policy(empty, table, language), connection, Mode(verbose=True)).run(
                    lambda request: NameLookup(KnownName("h.example.com"))
                )
                for table in (a, b)
            ]
            assert decisions[0] == decisions[1]


@settings(max_examples=1500, deadline=None)
@given(text, st.lists(text, min_size=1, max_size=3), st.sampled_from(list(Language)))
def test_append_equals_full_compile(first: str, appends: list[str], language: Language) -> None:
    old_source = source(first)
    table = compile_table(old_source, language)
    data = first
    for extra in appends:
        new_source = source(data + extra)
        before = compile_table(old_source, language)
        extended = extend_table(table, old_source, new_source, language)
        full = compile_table(new_source, language)
        clean = ends_cleanly(data.encode("latin-1")) and table.stop is None
        if extended is None:
            assert not clean and extra
            table = full
        else:
            assert clean or not extra
            same_table(extended, full)
            same_decisions(extended, full, language)
            same_table(table, before)  # the old table is as it was
            table = extended
        old_source, data = new_source, data + extra


def test_append_numbers_lines_after_the_old_ones() -> None:
    old = source("ALL: 192.0.2.1\n# note\nsshd: \\\n10.0.0.1\n")
    table = compile_table(old)
    extended = extend_table(table, old, source(old.data.decode() + "\nbad line\nALL: 10.\n"))
    assert extended is not None
    assert [rule.origin.line for rule in extended.rules] == [1, 4, 7]
    assert [line for line, _ in extended.notes] == [6]


def test_not_an_append() -> None:
    old = source("ALL: 192.0.2.1\n")
    table = compile_table(old)
    assert extend_table(table, old, source("ALL: 192.0.2.2\n")) is None  # rewritten
    assert extend_table(table, old, source("ALL: 192.0.2.1")) is None  # shortened
    assert extend_table(table, old, TableSource("hosts.deny", None)) is None  # removed
    assert extend_table(table, old, source("ALL: 192.0.2.1\n")) is table  # unchanged
    cut = source("ALL: 192.0.2.1")  # no final newline: the next bytes continue that line
    assert extend_table(compile_table(cut), cut, source("ALL: 192.0.2.1 10.\n")) is None
    joined = source("ALL: 192.0.2.1 \\\n")  # a continuation: the next line joins it
    assert extend_table(compile_table(joined), joined, source("ALL: 192.0.2.1 \\\n10.\n")) is None


def test_index_of_nothing() -> None:
    assert build_index(()) == compile_table(TableSource("t", None)).index


# --------------------------------------------------------------------------- read_lines

raw = st.lists(
    st.one_of(
        st.sampled_from(["\n", "\\", "\\\n", "\x00", "#", " ", "\t", "\r", "a", ":", "\xe9"]),
        st.integers(1, LINE_LIMIT + 3).map(lambda n: "b" * n),
    ),
    max_size=12,
).map("".join)


@settings(max_examples=2000, deadline=None)
@given(raw, st.integers(0, 100), st.integers(0, 3))
def test_read_lines_fast_path_equals_reference(data: str, first_line: int, hidden: int) -> None:
    assert read_lines(data, first_line) == _read_lines(data, first_line)
    assert read_lines(data, first_line, first_line + hidden) == _read_lines(
        data, first_line, first_line + hidden
    )
    assert read_lines(data.encode("latin-1")) == _read_lines(data)
