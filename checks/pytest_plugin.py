"""dltv's pytest plugin: one test per claim, and the verification report at the end.

Installed with dltv (entry point ``pytest11``), so claims run under plain ``pytest``
in any project: a test module that registers claims with :func:`dltv.claims.claim`
and defines ::

    def test_claim(claim_result):
        assert_result(claim_result)

gets one test per claim it registered.  Settings come from the environment:
``DLTV_FULL=1`` (larger budgets), ``DLTV_DEVICE=cuda``, ``DLTV_SEED=<int>``,
``DLTV_REPORTS=<folder>`` (default ``reports`` under the rootdir).  The claims of
the session share the suite's false-alarm budget.  A session that runs only some
of the claims in the modules it collected (``-k``, ``::test_claim[id]``), or only
some of dltv's own claims (one area's file), writes its report to ``partial/`` inside
that folder, so the full report is never replaced by
a part of it.  A session that runs every registered claim also fails when some
registered formula was the prediction of none of them.
"""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from dltv.checks.claims import Claim, load_claims, run_claim

_RESULTS = []
_RUN: dict = {"stochastic": None, "start": time.perf_counter(), "collected": set()}


def pytest_generate_tests(metafunc):
    if "claim" in metafunc.fixturenames:
        module = metafunc.module.__name__
        chosen = [c for c in load_claims().values() if c.module == module]
        _RUN["collected"].update(c.id for c in chosen)
        metafunc.parametrize("claim", chosen, ids=[c.id for c in chosen])


def pytest_collection_finish(session):
    claims = {item.callspec.params["claim"].id: item.callspec.params["claim"] for item in session.items
              if hasattr(item, "callspec") and isinstance(item.callspec.params.get("claim"), Claim)}
    _RUN["stochastic"] = sum(c.stochastic for c in claims.values())
    _RUN["start"] = time.perf_counter()


@pytest.fixture
def claim_result(claim):
    """Run the claim with the environment's settings and keep it for the report."""
    from dltv.checks.settings import settings_from_env

    s = settings_from_env()
    result = run_claim(claim, run_seed=s["seed"], full=s["full"], device=s["device"],
                       n_stochastic_claims=_RUN["stochastic"] or None)
    _RESULTS.append(result)
    return result


def pytest_sessionfinish(session, exitstatus):
    if not _RESULTS:
        return
    from dltv.checks.report import formula_coverage, report_folder, write_report
    from dltv.checks.settings import settings_from_env

    s = settings_from_env()
    ran = {r.claim.id for r in _RESULTS}
    own = {c.id for c in load_claims().values() if c.module.startswith("dltv.checks.")}
    # complete: every collected claim ran, and all of dltv's own if any of them did
    # (one area's file is a part of dltv's report, a user's module is a whole of its own)
    complete = ran >= _RUN["collected"] | (own if ran & own else set())
    writer = session.config.get_terminal_writer()
    if ran >= own:  # all of dltv's own claims ran: every registered formula must have fed one
        unchecked = formula_coverage(_RESULTS)["unchecked"]
        if unchecked:  # a registered formula that no claim uses as its prediction is unverified
            writer.line(f"FAIL: formulas that are the prediction of no claim: {', '.join(unchecked)}", red=True)
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
    base = Path(s["reports"]) if s["reports"] else Path(session.config.rootpath) / "reports"
    out = write_report(sorted(_RESULTS, key=lambda r: r.claim.id), report_folder(base, partial=not complete),
                       settings={k: s[k] for k in ("full", "device", "seed")}
                       | {"runner": "pytest", "claims": None if complete else "partial"},
                       seconds=time.perf_counter() - _RUN["start"])
    writer.line(f"dltv: {'' if complete else 'partial run, '}report in {out}")
