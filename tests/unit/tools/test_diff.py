"""`tcpwrap diff`: rules added, removed and changed; the requests whose outcome differs, from
the generated sample and from --logs, with the deciding rule on both sides; a reorder of
equivalent rules differs nowhere; exit statuses; both ways of naming the tables."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tcpwrap.cli import main

ROOT = Path(__file__).resolve().parents[3]
FIG6 = ROOT / "examples" / "paper-fig6"


def pair(where: Path, allow: str, deny: str) -> Path:
    where.mkdir()
    (where / "hosts.allow").write_text(allow)
    (where / "hosts.deny").write_text(deny)
    return where


def diff_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    status = main(["diff", "--json", "--tz", "UTC", *args])
    return status, json.loads(capsys.readouterr().out)


def test_reordering_equivalent_rules_differs_nowhere(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    allow = (FIG6 / "hosts.allow").read_text()
    lines = (FIG6 / "hosts.deny").read_text().splitlines(keepends=True)
    old = pair(tmp_path / "old", allow, "".join(lines))
    new = pair(tmp_path / "new", allow, "".join(reversed(lines)))
    status, doc = diff_json(capsys, str(old), str(new))
    assert status == 0
    assert doc["rules"] == [] and doc["differences"] == []
    assert doc["requests"]["sample"] > 50 and doc["requests"]["differ"] == 0


def test_a_dropped_except_is_found_with_both_deciding_rules(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    old = pair(tmp_path / "old", "sshd: .example.org EXCEPT guest.example.org\n", "ALL: ALL\n")
    new = pair(tmp_path / "new", "sshd: .example.org\n", "ALL: ALL\n")
    status, doc = diff_json(capsys, str(old), str(new))
    assert status == 1
    assert sorted(c["change"] for c in doc["rules"]) == ["added", "removed"]
    guest = [d for d in doc["differences"] if d["client_name"] == "guest.example.org"]
    assert guest and all(
        (d["daemon"], d["old"], d["old_rule"], d["new"], d["new_rule"]) == (
            "sshd", "denied", f"{old}/hosts.deny:1", "granted", f"{new}/hosts.allow:1")
        for d in guest
    )
    # nothing else differs: every other sampled client gets the same outcome
    assert {d["client_name"] for d in doc["differences"]} == {"guest.example.org"}


def test_rule_changes(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    old = pair(tmp_path / "old", "in.ftpd: ALL\nsshd: 10.0.0.0/8\n", "ALL: .evil.example\n")
    new = pair(tmp_path / "new", "in.ftpd: ALL: spawn /bin/true\n",
               "ALL: .evil.example\nALL: 192.0.2.0/24\n")
    status, doc = diff_json(capsys, str(old), str(new))
    assert status == 1
    got = {(c["change"], c["table"], (c["old"] or {}).get("rule"), (c["new"] or {}).get("rule"))
           for c in doc["rules"]}
    assert got == {
        ("changed", "allow", f"{old}/hosts.allow:1", f"{new}/hosts.allow:1"),
        ("removed", "allow", f"{old}/hosts.allow:2", None),
        ("added", "deny", None, f"{new}/hosts.deny:2"),
    }
    addrs = {d["client_addr"] for d in doc["differences"]}
    # sshd from 10/8: granted by the removed rule before, by no rule now: no difference
    assert {"192.0.2.0", "192.0.2.255"} <= addrs
    assert not {"10.0.0.0", "192.0.1.255", "192.0.3.0"} & addrs


def test_logs_and_table_options(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    old = pair(tmp_path / "old", "", "")
    new = pair(tmp_path / "new", "", "in.fingerd: 198.51.100.7 .example.net\n")
    log = tmp_path / "x.log"
    log.write_text(
        "Nov 27 01:02:03 h in.fingerd[1]: connect from 198.51.100.7 (198.51.100.7)\n"
        "Nov 27 01:02:04 h in.fingerd[1]: connect from 198.51.100.8 (198.51.100.8)\n"
    )
    status, doc = diff_json(
        capsys, "--old-allow", f"{old}/hosts.allow", "--old-deny", f"{old}/hosts.deny",
        "--new-allow", f"{new}/hosts.allow", "--new-deny", f"{new}/hosts.deny",
        "--logs", str(log), "--no-sample",
    )
    assert status == 1
    assert doc["requests"] == {"sample": 0, "log": 2, "differ": 1, "undecidable": 1}
    assert doc["undecidable_reasons"] == {"client host name not logged": 1}
    [d] = doc["differences"]
    assert (d["client_addr"], d["from"], d["old_rule"], d["new_rule"]) == (
        "198.51.100.7", "log", None, f"{new}/hosts.deny:1")


def test_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    old = pair(tmp_path / "old", "", "")
    assert main(["diff", str(old), str(tmp_path / "none")]) == 2
    assert "no such table" in capsys.readouterr().err
    assert main(["diff", str(old)]) == 2
    assert "OLD_DIR NEW_DIR" in capsys.readouterr().err


def test_text_output(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    old = pair(tmp_path / "old", "", "")
    new = pair(tmp_path / "new", "", "ALL: 10.0.0.0/8\n")
    assert main(["diff", str(old), str(new)]) == 1
    out = capsys.readouterr().out
    assert f"  added   {new}/hosts.deny:1: ALL: 10.0.0.0/8" in out
    assert f"granted by (no rule matched) -> denied by {new}/hosts.deny:1" in out
