"""Fixtures of the report tests: paths of the fixture logs and the synthetic log generator."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "report"


def _load_loggen() -> ModuleType:
    spec = importlib.util.spec_from_file_location("report_loggen", FIXTURES / "loggen.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def loggen() -> ModuleType:
    return _load_loggen()


@pytest.fixture(scope="session")
def fixtures() -> Path:
    return FIXTURES
