"""Differential test: tcpwrap.hosts_ctl against the real libwrap hosts_ctl, same files.

Thousands of generated table pairs (tests/conformance/corpus.py) and queries per run; every
verdict must agree. The real libwrap is Debian's libwrap.so.0, driven in-process through
ctypes by recorded/libwrap_ctl.py (dry run, as tcpdmatch). A different seed per
day widens coverage over time; TCPWRAP_DIFF_SEED reproduces a run, TCPWRAP_DIFF_CORPORA sizes it.
"""

from __future__ import annotations

import datetime
import os
import random
from pathlib import Path
from types import ModuleType

import pytest
from corpus import make_corpus

import tcpwrap
from harness import oracle

pytestmark = pytest.mark.oracle

CORPORA = int(os.environ.get("TCPWRAP_DIFF_CORPORA", "1500"))
SEED = int(os.environ.get("TCPWRAP_DIFF_SEED", datetime.date.today().strftime("%Y%m%d")))


def _libwrap_module() -> ModuleType:
    return oracle.libwrap_ctl()


@pytest.fixture(scope="module")
def libwrap() -> ModuleType:
    module = _libwrap_module()
    try:
        module.LibWrap("/nonexistent/a", "/nonexistent/b").ctl("warm", "up", "unknown")
    except OSError as exc:
        if os.environ.get("TCPWRAP_E2E") == "required":
            pytest.fail(f"libwrap.so.0 is required here: {exc}")
        pytest.skip(f"libwrap.so.0 not available: {exc}")
    return module


def _libwrap_verdict(module: ModuleType, allow: Path, deny: Path, query: tuple[str, ...]) -> str:
    wrap = module.LibWrap(str(allow), str(deny))
    mask = os.umask(0o022)  # the umask option really runs in libwrap's dry run
    os.umask(mask)
    env = dict(os.environ)
    try:
        # hosts_ctl()'s own return value (libwrap_ctl.ctl() reports a twist as "delegated").
        wrap.dry_run.value = 1
        ok = wrap.lib.hosts_ctl(*(field.encode("latin-1") for field in query))
    finally:
        os.umask(mask)
        os.environ.clear()
        os.environ.update(env)
    return "granted" if ok else "denied"


def test_verdicts_agree_with_libwrap(libwrap: ModuleType, tmp_path: Path) -> None:
    rng = random.Random(SEED)
    checked = 0
    for number in range(CORPORA):
        directory = tmp_path / f"c{number}"
        directory.mkdir()
        corpus = make_corpus(rng, directory)
        allow, deny = directory / "hosts.allow", directory / "hosts.deny"
        allow.write_bytes(corpus.allow)
        deny.write_bytes(corpus.deny)
        for path, data in corpus.files.items():
            Path(path).write_bytes(data)
        for query in corpus.queries:
            theirs = _libwrap_verdict(libwrap, allow, deny, query)
            ours = tcpwrap.hosts_ctl(*query, allow=str(allow), deny=str(deny))
            checked += 1
            assert ("granted" if ours else "denied") == theirs, (
                f"seed {SEED}, corpus {number}, query {query!r}: libwrap {theirs}\n"
                f"--- hosts.allow\n{corpus.allow.decode('latin-1')}\n"
                f"--- hosts.deny\n{corpus.deny.decode('latin-1')}\n"
                f"--- files\n{corpus.files!r}"
            )
    assert checked == CORPORA * 20
