"""``dltv calibrate``: rerun stochastic claims over many seeds.

For a true claim the fraction of runs that fail should be about its share of the
suite's false-alarm budget (at most ``SUITE_ALPHA / #stochastic claims``); the
fraction of runs in which its negative control is *not* rejected measures the
check's lack of power and should be 0.
"""
from __future__ import annotations

from dltv.checks import stats
from dltv.checks.claims import Claim, n_stochastic, run_claim


def calibrate(claims: list[Claim], runs: int, *, full: bool = False, device: str = "cpu",
              progress=None) -> list[dict]:
    if runs < 1:
        raise ValueError(f"runs must be an integer >= 1, got {runs}")
    share = stats.SUITE_ALPHA / max(n_stochastic(), 1)
    rows = []
    for c in claims:
        if not c.stochastic:
            continue
        fails = control_passes = errors = 0
        for seed in range(1, runs + 1):
            r = run_claim(c, run_seed=seed, full=full, device=device)
            errors += r.error is not None
            fails += any(not p["pass"] for p in r.points) or r.error is not None
            control_passes += not r.control.get("rejected", False)
            if progress:
                progress(f"{c.id} seed {seed}/{runs}: {r.verdict}")
        rows.append({"claim": c.id, "runs": runs, "fail_rate": fails / runs,
                     "alpha_share": share, "control_pass_rate": control_passes / runs,
                     "errors": errors})
    return rows
