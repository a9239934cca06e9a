"""The statistics of agreement: one suite-wide false-alarm budget, Bonferroni-split.

Every stochastic comparison in the suite shares ``SUITE_ALPHA``: each stochastic
claim gets ``SUITE_ALPHA / (number of stochastic claims)`` and splits it evenly over
its points, so the probability that *any* true claim fails in a full run is at most
``SUITE_ALPHA``.  A point passes when ``|estimate - prediction| <= z*SE + err``,
where ``err`` is the stated numerical error of the prediction.  The same rule,
applied to a claim's negative control, must reject it.
"""
from __future__ import annotations

import math

from scipy.stats import norm

SUITE_ALPHA = 1e-4


def z_critical(alpha: float) -> float:
    """Two-sided standard-normal critical value for false-alarm probability ``alpha``."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha!r}")
    return float(norm.isf(alpha / 2))


def point_alpha(n_stochastic_claims: int, n_points: int) -> float:
    """Per-point false-alarm share of the suite budget (Bonferroni)."""
    return SUITE_ALPHA / max(n_stochastic_claims, 1) / max(n_points, 1)


def standardised(diff: float, scale: float) -> float:
    """``diff / scale`` with the conventions 0/0 = 0 and x/0 = ±inf."""
    if scale > 0:
        return diff / scale
    if diff == 0 or math.isnan(diff):
        return 0.0 if diff == 0 else math.nan
    return math.copysign(math.inf, diff)


def allowance(scale: float, threshold: float, slack: float = 0.0) -> float:
    """The largest distance from the prediction the rule accepts: ``threshold·scale + slack``."""
    return threshold * scale + slack


def score(estimate: float, prediction: float, allowed: float, rule: str = "equal") -> float:
    """Distance in the failing direction over the allowance: ≤ 1 passes, > 1 rejects.

    ``"equal"``: |estimate − prediction|; ``"le"``: estimate − prediction (negative when
    the bound holds with room); ``"ge"``: prediction − estimate.  0/0 counts as 0.
    """
    diff = estimate - prediction
    if rule == "le":
        dist = diff
    elif rule == "ge":
        dist = -diff
    elif rule == "equal":
        dist = abs(diff)
    else:
        raise ValueError(f"rule must be 'equal', 'le' or 'ge', got {rule!r}")
    if math.isnan(dist):
        return math.nan
    if allowed > 0:
        return dist / allowed
    return 0.0 if dist <= 0 else math.inf


def resolution(prediction: float, allowed: float) -> tuple[float, str]:
    """The smallest error of the prediction the point detects: relative, or absolute at 0."""
    if prediction == 0:
        return allowed, "absolute"
    return allowed / abs(prediction), "relative"


def agrees(estimate: float, prediction: float, scale: float, threshold: float,
           rule: str = "equal", slack: float = 0.0) -> tuple[bool, float]:
    """Apply the agreement rule; return (passes, z).

    ``scale`` is the SE (stochastic) or the tolerance (deterministic; then threshold 1).
    ``rule``: ``"equal"`` two-sided, ``"le"`` estimate ≤ prediction, ``"ge"`` estimate ≥ prediction.
    ``slack`` is the numerical error of the prediction, added to the allowed distance.
    """
    if math.isnan(estimate) or math.isnan(prediction):
        return False, math.nan
    diff = estimate - prediction
    z = standardised(diff, scale)
    allowed = threshold * scale + slack
    if rule == "equal":
        ok = abs(diff) <= allowed
    elif rule == "le":
        ok = diff <= allowed
    elif rule == "ge":
        ok = -diff <= allowed
    else:
        raise ValueError(f"rule must be 'equal', 'le' or 'ge', got {rule!r}")
    return ok, z
