"""``dltv calibrate``: rerun stochastic claims over many seeds.

For a true claim the fraction of runs that fail should be about its share of the
suite's false-alarm budget (at most ``SUITE_ALPHA / #stochastic claims``), and the
fraction of runs in which some point's negative control is *not* rejected measures
the check's lack of power and should be 0.  Failure counts alone cannot see an
inflated SE (doubled SEs would calibrate clean), so each claim also reports the
distribution of its points' z over the seeds: their RMS (≈ 1 when the SEs are
right; < 1 when they are inflated, > 1 when understated), their spread, and a
Kolmogorov–Smirnov test of z against N(0, 1).  Only two-sided points enter the z
statistics: a bound's z is not centred.
"""
from __future__ import annotations

import math
from concurrent.futures import ProcessPoolExecutor

import numpy as np
from scipy import stats as sps

from dltv.checks import stats
from dltv.checks.claims import Claim, load_claims, n_stochastic, run_claim


def _one_run(claim_id: str, seed: int, full: bool, device: str) -> dict:
    """One claim at one run seed, reduced to what calibration needs (picklable)."""
    r = run_claim(load_claims()[claim_id], run_seed=seed, full=full, device=device)
    zs = [float(p["z"]) for p in r.points if p["rule"] == "equal"]
    margins = [float(p["control"]["margin"]) for p in r.points]
    return {"claim": claim_id, "seed": seed, "verdict": r.verdict, "error": r.error,
            "points_fail": any(not p["pass"] for p in r.points),
            "controls_kept": sum(not p["control"]["rejected"] for p in r.points),
            "z": zs, "margins": margins, "seconds": r.seconds}


def summarise(claim_id: str, runs: list[dict], share: float) -> dict:
    """Per-claim calibration row from its runs."""
    n = len(runs)
    z = np.array([v for r in runs for v in r["z"]], dtype=float)
    z = z[np.isfinite(z)]
    margins = [m for r in runs for m in r["margins"] if math.isfinite(m)]
    row = {"claim": claim_id, "runs": n,
           "fail_rate": sum(r["points_fail"] or r["error"] is not None for r in runs) / n,
           "alpha_share": share,
           "control_pass_rate": sum(r["controls_kept"] > 0 or r["error"] is not None for r in runs) / n,
           "errors": sum(r["error"] is not None for r in runs),
           "z_count": int(z.size),
           "z_rms": float(np.sqrt(np.mean(z ** 2))) if z.size else None,
           "z_mean": float(z.mean()) if z.size else None,
           "z_sd": float(z.std(ddof=1)) if z.size > 1 else None,
           "ks_p": float(sps.kstest(z, "norm").pvalue) if z.size >= 5 else None,
           "min_control_margin": min(margins) if margins else None,
           "seconds_mean": float(np.mean([r["seconds"] for r in runs]))}
    return row


def calibrate(claims: list[Claim], runs: int, *, full: bool = False, device: str = "cpu",
              jobs: int = 1, progress=None) -> list[dict]:
    """Rerun every stochastic claim in ``claims`` at run seeds 1..runs; one row per claim.

    ``jobs`` > 1 runs the (claim, seed) pairs in that many worker processes; each run
    is seeded by its pair alone, so the rows do not depend on ``jobs``.
    """
    if isinstance(runs, bool) or not isinstance(runs, int) or runs < 1:
        raise ValueError(f"runs must be an integer >= 1, got {runs!r}")
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be an integer >= 1, got {jobs!r}")
    share = stats.SUITE_ALPHA / max(n_stochastic(), 1)
    tasks = [(c.id, seed, full, device) for c in claims if c.stochastic for seed in range(1, runs + 1)]
    done: dict[str, list[dict]] = {}

    def record(res):
        done.setdefault(res["claim"], []).append(res)
        if progress:
            progress(f"{res['claim']} seed {res['seed']}/{runs}: {res['verdict']} ({res['seconds']:.1f} s)")

    if jobs == 1:
        for t in tasks:
            record(_one_run(*t))
    else:
        import multiprocessing as mp

        with ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("spawn")) as pool:
            for res in pool.map(_one_run, *zip(*tasks)):
                record(res)
    return [summarise(c.id, sorted(done[c.id], key=lambda r: r["seed"]), share)
            for c in claims if c.id in done]
