"""Claims of your own: the public API for statements checked the way dltv checks its own.

A claim is a function ``measure(ctx) -> Measurement`` registered under an id
``area.topic.name`` (any area name; dltv's own are correlations, covering,
allocation, regions and bottleneck).  Each :class:`Point` compares an estimate with
a prediction **and** with a negative control, a plausible wrong prediction that the
same data must reject; the claim passes only if every point agrees and every
control is rejected.  Stochastic claims share the run's false-alarm budget.

>>> import numpy as np
>>> from dltv.claims import claim, Measurement, mean_point
>>> @claim("mylab.gaussian.mean", source="derived: E N(0,1) = 0", statement="the mean is 0",
...        seed=7, stochastic=True)
... def _measure(ctx):
...     x = ctx.rng.standard_normal(10_000)
...     return Measurement([mean_point("N=1e4", x, prediction=0.0, control=0.2)])

Run such claims with ``dltv report --claims-from mypackage.myclaims``, ship them
with an entry point in the group ``dltv.claims``, or run them under pytest: a test
module that registers claims and defines ``def test_claim(claim_result):
assert_result(claim_result)`` gets one test per claim (dltv's pytest plugin).
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from dltv.checks.claims import (Claim, Context, Measurement, Point, Result, assert_result, claim,
                                load_claims, load_claims_from, run_claim)

__all__ = ["Claim", "Context", "Measurement", "Point", "Result", "assert_result", "claim",
           "load_claims", "load_claims_from", "run_claim",
           "mean_point", "exact_point", "bound_point", "proportion_point"]


def mean_point(label: str, samples: Sequence[float] | np.ndarray, prediction: float, *,
               control: float, target: float | None = None, slack: float = 0.0) -> Point:
    """The mean of i.i.d. ``samples`` against ``prediction``, with its SE s/√N."""
    x = np.asarray(samples, dtype=float).ravel()
    if x.size < 2:
        raise ValueError(f"samples must hold at least 2 values, got {x.size}")
    if not np.all(np.isfinite(x)):
        raise ValueError("samples must be finite")
    return Point(label, prediction, float(x.mean()), se=float(x.std(ddof=1) / math.sqrt(x.size)),
                 control=control, n=int(x.size), target=target, slack=slack)


def exact_point(label: str, value: float, prediction: float, *, control: float,
                tol: float = 0.0) -> Point:
    """An exact (deterministic) equality, to within ``tol`` (absolute; 0 = exact)."""
    return Point(label, prediction, value, tol=tol, control=control)


def bound_point(label: str, value: float, bound: float, *, control: float, side: str = "le",
                tol: float = 0.0) -> Point:
    """A deterministic bound ``value ≤ bound`` (``side="le"``) or ``value ≥ bound`` (``"ge"``).

    ``control`` is a bound someone might wrongly claim (a tighter one) that ``value`` violates.
    """
    if side not in ("le", "ge"):
        raise ValueError(f"side must be 'le' or 'ge', got {side!r}")
    return Point(label, bound, value, tol=tol, control=control, rule=side)


def proportion_point(label: str, successes: int, trials: int, p: float, *, control: float) -> Point:
    """A frequency ``successes/trials`` against the probability ``p`` (score test).

    The SE is the one under each hypothesis, √(p(1−p)/n), so an observed rate of 0 or 1
    still has a finite, honest SE.
    """
    if isinstance(trials, bool) or int(trials) != trials or trials < 1:
        raise ValueError(f"trials must be an integer >= 1, got {trials!r}")
    if not 0 <= successes <= trials:
        raise ValueError(f"successes must lie in [0, trials], got {successes!r}")
    for name, q in (("p", p), ("control", control)):
        if not 0 <= q <= 1:
            raise ValueError(f"{name} must be a probability in [0, 1], got {q!r}")
    se = lambda q: math.sqrt(q * (1 - q) / trials)
    return Point(label, p, successes / trials, se=se(p), control=control, control_se=se(control),
                 n=int(trials))
