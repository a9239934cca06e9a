"""The claim model: one checkable statement with its measurement and negative control.

A claim is registered with :func:`claim` on a function ``measure(ctx) -> Measurement``.
The measurement is a list of :class:`Point` comparisons (a prediction, an estimate,
its SE or a deterministic tolerance, and a control prediction that must be
rejected).  :func:`run_claim` applies the suite-wide agreement rule
(:mod:`dltv.checks.stats`) and returns a :class:`Result` whatever happens: an exception
inside a measurement becomes a failing result with the error message.
"""
from __future__ import annotations

import importlib
import io
import math
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from dltv.checks import stats
from dltv.theory.formulas import AREAS


@dataclass
class Point:
    """One comparison of an estimate with a prediction.

    Stochastic points give ``se`` (the estimate's standard error); deterministic
    points give ``tol`` (absolute; 0 means exact equality).  ``control`` is a
    plausible wrong prediction that the same rule must reject; ``control_estimate``
    is only for controls measured on other data (e.g. a non-symmetry applied).
    ``slack`` is the numerical error of the prediction itself.
    """

    label: str
    prediction: float
    estimate: float
    se: float | None = None
    tol: float | None = None
    control: float | None = None
    control_estimate: float | None = None
    rule: str = "equal"
    slack: float = 0.0
    n: int | None = None

    def __post_init__(self):
        if (self.se is None) == (self.tol is None):
            raise ValueError(f"point {self.label!r}: give exactly one of se (stochastic) or tol")


@dataclass
class Measurement:
    """What a claim's measure function returns."""

    points: list[Point]
    n: int | None = None
    figures: dict[str, Any] = field(default_factory=dict)  # name -> matplotlib Figure
    notes: str = ""


@dataclass(frozen=True)
class Context:
    """Run settings handed to every measure function."""

    seed: int
    full: bool = False
    device: str = "cpu"

    @property
    def rng(self) -> np.random.Generator:
        return np.random.default_rng(self.seed)

    def generator(self):
        import torch

        g = torch.Generator(device=self.device)
        g.manual_seed(self.seed)
        return g


@dataclass(frozen=True)
class Claim:
    id: str
    area: str
    source: str
    statement: str
    seed: int
    stochastic: bool
    measure: Callable[[Context], Measurement] = field(repr=False)
    formula: Callable[[], Any] | None = field(default=None, repr=False)


_CLAIMS: dict[str, Claim] = {}


def claim(id: str, *, source: str, statement: str, seed: int, stochastic: bool,
          formula: Callable[[], Any] | None = None):
    """Register ``measure(ctx) -> Measurement`` as claim ``id`` (``area.topic.name``).

    ``source``: the paper's equation/theorem, or "derived: <proof idea>".
    ``formula``: optional callable returning the sympy statement shown in the report.
    """
    area = id.split(".", 1)[0]
    if area not in AREAS or "." not in id:
        raise ValueError(f"claim id {id!r} must start with an area: {', '.join(AREAS)}")

    def register(fn):
        if id in _CLAIMS:
            raise RuntimeError(f"claim id {id!r} registered twice")
        _CLAIMS[id] = Claim(id, area, source, statement, seed, stochastic, fn, formula)
        return fn

    return register


def load_claims() -> dict[str, Claim]:
    """All registered claims by id (imports every ``dltv.checks.test_<area>`` that exists)."""
    for area in AREAS:
        try:
            importlib.import_module(f"dltv.checks.test_{area}")
        except ModuleNotFoundError as err:
            if err.name != f"dltv.checks.test_{area}":
                raise
    return dict(sorted(_CLAIMS.items()))


def select(pattern: str | None = None) -> list[Claim]:
    """Claims whose id matches the glob ``pattern`` (all when None); ValueError if none."""
    from fnmatch import fnmatchcase

    claims = load_claims()
    if pattern is None:
        return list(claims.values())
    pat = pattern if any(c in pattern for c in "*?[") else f"{pattern}*"
    chosen = [c for i, c in claims.items() if fnmatchcase(i, pat)]
    if not chosen:
        raise ValueError(f"claims pattern {pattern!r} matches no claim id; see `dltv list`")
    return chosen


def effective_seed(claim: Claim, run_seed: int | None) -> int:
    """The claim's fixed seed, shifted reproducibly when the run asks for another seed."""
    return claim.seed if not run_seed else claim.seed + 1_000_003 * run_seed


@dataclass
class Result:
    """The evaluated claim, as written to ``results.json``."""

    claim: Claim
    verdict: str
    points: list[dict]
    seed: int
    seconds: float
    n: int | None = None
    control: dict = field(default_factory=dict)
    notes: str = ""
    error: str | None = None
    figures: dict[str, bytes] = field(default_factory=dict)  # name -> PNG

    @property
    def passed(self) -> bool:
        return self.verdict == "pass"

    def headline(self) -> dict:
        """The worst point (largest distance relative to its threshold)."""
        if not self.points:
            return {}
        return max(self.points, key=lambda p: _badness(p["z"], p["threshold"]))

    def to_json(self) -> dict:
        h = self.headline()
        return {
            "id": self.claim.id, "area": self.claim.area, "source": self.claim.source,
            "statement": self.claim.statement, "verdict": self.verdict,
            "kind": "stochastic" if self.claim.stochastic else "deterministic",
            "prediction": h.get("prediction"), "estimate": h.get("estimate"),
            "se": h.get("se"), "z": h.get("z"), "threshold": h.get("threshold"),
            "control": self.control, "n": self.n, "seed": self.seed,
            "seconds": round(self.seconds, 3), "points": self.points,
            "notes": self.notes, "error": self.error, "figures": sorted(self.figures),
        }


def _badness(z, threshold) -> float:
    if z is None or threshold in (None, 0):
        return 0.0
    z = float(z)  # rows store non-finite z as text ("inf", "nan")
    return math.inf if math.isnan(z) else abs(z) / threshold


def n_stochastic() -> int:
    return sum(c.stochastic for c in load_claims().values())


def evaluate(claim: Claim, m: Measurement) -> tuple[str, list[dict], dict]:
    """Apply the agreement rule to every point; return (verdict, point rows, control)."""
    if not m.points:
        raise ValueError(f"claim {claim.id} produced no comparison points")
    z_crit = stats.z_critical(stats.point_alpha(n_stochastic(), len(m.points)))
    rows, ok_all, control_best = [], True, None
    for p in m.points:
        stochastic = p.se is not None
        if stochastic != claim.stochastic:
            raise ValueError(f"claim {claim.id}: point {p.label!r} is "
                             f"{'stochastic' if stochastic else 'deterministic'} but the claim is not")
        scale = p.se if stochastic else p.tol
        threshold = z_crit if stochastic else 1.0
        ok, z = stats.agrees(p.estimate, p.prediction, scale, threshold, p.rule, p.slack)
        ok_all &= ok
        row = {"label": p.label, "prediction": _num(p.prediction), "estimate": _num(p.estimate),
               "se": _num(p.se), "tol": _num(p.tol), "rule": p.rule, "slack": _num(p.slack),
               "z": _num(z), "threshold": threshold, "pass": bool(ok), "n": p.n}
        if p.control is not None:
            c_est = p.estimate if p.control_estimate is None else p.control_estimate
            c_ok, c_z = stats.agrees(c_est, p.control, scale, threshold, p.rule, p.slack)
            row["control"] = {"prediction": _num(p.control), "estimate": _num(c_est),
                              "z": _num(c_z), "rejected": not c_ok}
            if control_best is None or _badness(c_z, threshold) > _badness(control_best[1], threshold):
                control_best = (p, c_z, c_ok)
        rows.append(row)
    if control_best is None:
        control = {"prediction": None, "z": None, "rejected": False, "label": "no control given"}
    else:
        p, c_z, c_ok = control_best
        control = {"prediction": _num(p.control), "z": _num(c_z), "rejected": not c_ok, "label": p.label}
    verdict = "pass" if ok_all and control["rejected"] else "fail"
    return verdict, rows, control


def _num(x):
    """A JSON-safe float (non-finite values as strings)."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else str(x)


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def run_claim(claim: Claim, *, run_seed: int | None = None, full: bool = False,
              device: str = "cpu") -> Result:
    """Measure and evaluate one claim; never raises for a failing measurement."""
    seed = effective_seed(claim, run_seed)
    ctx = Context(seed=seed, full=full, device=device)
    start = time.perf_counter()
    try:
        m = claim.measure(ctx)
        verdict, rows, control = evaluate(claim, m)
        figures = {name: _png(fig) for name, fig in m.figures.items()}
        return Result(claim, verdict, rows, seed, time.perf_counter() - start, n=m.n,
                      control=control, notes=m.notes, figures=figures)
    except Exception as err:  # a crashing claim is a failing claim, reported with its error
        tb = traceback.format_exc(limit=-3)
        return Result(claim, "fail", [], seed, time.perf_counter() - start,
                      control={"prediction": None, "z": None, "rejected": False},
                      error=f"{type(err).__name__}: {err}\n{tb}")


def assert_result(result: Result) -> None:
    """pytest's view of a claim: pass, with its control rejected."""
    if result.error:
        raise AssertionError(f"{result.claim.id} raised: {result.error}")
    bad = [p for p in result.points if not p["pass"]]
    assert not bad, f"{result.claim.id}: points disagree with the prediction: {bad}"
    assert result.control.get("rejected"), (
        f"{result.claim.id}: the negative control was not rejected: {result.control}")
