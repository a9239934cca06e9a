"""pytest glue: one parametrised test per claim, and the report at the end of the run.

Settings come from the environment so that plain ``pytest checks`` works:
``DLTV_FULL=1`` (larger budgets), ``DLTV_DEVICE=cuda``, ``DLTV_SEED=<int>``,
``DLTV_REPORTS=<folder>`` (default ``reports`` under the rootdir).
"""
from __future__ import annotations

import importlib
import time
from pathlib import Path

import pytest

from dltv.checks.claims import load_claims, run_claim
from dltv.checks.report import write_report
from dltv.checks.settings import settings_from_env

_RESULTS = []
_START = time.perf_counter()
_HERE = Path(__file__).resolve().parent


class _ClaimModule(pytest.Module):
    """A claim file collected as the installed ``dltv.checks.test_<area>``.

    pytest would import ``checks/test_<area>.py`` under a name of its own; the claims
    would then register twice, once under that name and once when
    :func:`load_claims` imports ``dltv.checks``.
    """

    def _getobj(self):
        return importlib.import_module(f"dltv.checks.{self.path.stem}")


def pytest_pycollect_makemodule(module_path, parent):
    if module_path.resolve().parent == _HERE and module_path.name.startswith("test_"):
        return _ClaimModule.from_parent(parent, path=module_path)
    return None


def pytest_generate_tests(metafunc):
    if "claim" in metafunc.fixturenames:
        area = metafunc.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")
        chosen = [c for c in load_claims().values() if c.area == area]
        metafunc.parametrize("claim", chosen, ids=[c.id for c in chosen])


@pytest.fixture
def claim_result(claim):
    """Run the claim with the environment's settings and keep it for the report."""
    s = settings_from_env()
    result = run_claim(claim, run_seed=s["seed"], full=s["full"], device=s["device"])
    _RESULTS.append(result)
    return result


def pytest_sessionfinish(session, exitstatus):
    if not _RESULTS:
        return
    s = settings_from_env()
    out = Path(s["reports"]) if s["reports"] else Path(session.config.rootpath) / "reports"
    write_report(sorted(_RESULTS, key=lambda r: r.claim.id), out,
                 settings={k: s[k] for k in ("full", "device", "seed")} | {"runner": "pytest"},
                 seconds=time.perf_counter() - _START)
