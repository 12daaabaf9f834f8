"""policy.check.events: check findings are engine Diagnostics, rendered as tcpd renders them."""

from __future__ import annotations

from tcpwrap.errors import Diagnostic, Kind, Origin
from tcpwrap.policy.check.events import Listing, Report, finding, is_problem


def test_finding_with_a_line_is_an_engine_diagnostic() -> None:
    made = finding(Kind.ERROR, "m", "f", 3)
    assert made == Diagnostic(Kind.ERROR, "m", Origin("f", 3))
    assert (made.path, made.line, made.render()) == ("f", 3, "error: f, line 3: m")


def test_finding_about_a_whole_file_keeps_the_file_but_renders_no_place() -> None:
    made = finding(Kind.WARNING, "cannot open f: x", "f")
    assert made.origin is None
    assert (made.path, made.line) == ("f", None)
    assert made.render() == "warning: cannot open f: x"


def test_report_places_findings_and_keeps_listing_and_debug_only_when_verbose() -> None:
    for verbose in (False, True):
        report = Report(verbose=verbose)
        report.at("hosts.allow", 7)
        report.warn("w")
        report.listing(">>> Rule")
        report.debug("option:   x")
        report.at("hosts.allow", None)
        report.error("e")
        problems = [(e.kind, e.path, e.line) for e in report.events if is_problem(e)]
        assert problems == [(Kind.WARNING, "hosts.allow", 7), (Kind.ERROR, "hosts.allow", None)]
        extras = [e for e in report.events if not is_problem(e)]
        assert extras == (
            [Listing(">>> Rule"), Diagnostic(Kind.DEBUG, "option:   x")] if verbose else []
        )
