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
import os
import re
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from dltv.checks import stats
from dltv.theory.formulas import AREAS, recording_formulas


@dataclass
class Point:
    """One comparison of an estimate with a prediction, and with its negative control.

    Stochastic points give ``se`` (the estimate's standard error); deterministic
    points give ``tol`` (absolute; 0 means exact equality).  ``control`` is required:
    a plausible wrong prediction (the infinite-width value, the bound without its
    factor, a competing formula) that the same rule must reject.  ``control_estimate``
    is for controls measured on other data (e.g. a non-symmetry applied);
    ``control_se`` for a control judged with another SE (a binomial score test uses
    the SE under each hypothesis).  ``slack`` is the numerical error of the
    prediction itself.  ``target`` is the resolution the point aims at (relative,
    e.g. 0.01 for a leading-order prediction, 0.1 for a 1/n coefficient).

    Every number must be finite: a point that cannot state a finite estimate, SE or
    tolerance is an error, never a pass.
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
    control_se: float | None = None
    target: float | None = None

    def __post_init__(self):
        if (self.se is None) == (self.tol is None):
            raise ValueError(f"point {self.label!r}: give exactly one of se (stochastic) or tol")
        if self.control is None:
            raise ValueError(f"point {self.label!r}: every point needs a negative control")
        if self.rule not in ("equal", "le", "ge"):
            raise ValueError(f"point {self.label!r}: rule must be 'equal', 'le' or 'ge', got {self.rule!r}")
        for name in ("prediction", "estimate", "se", "tol", "control", "control_estimate",
                     "slack", "control_se", "target"):
            value = getattr(self, name)
            if value is None:
                continue
            try:
                value = float(value)
            except (TypeError, ValueError):
                raise ValueError(f"point {self.label!r}: {name} must be a real number, got {value!r}") from None
            if not math.isfinite(value):
                raise ValueError(f"point {self.label!r}: {name} must be finite, got {value!r}")
            if name in ("se", "tol", "slack", "control_se", "target") and value < 0:
                raise ValueError(f"point {self.label!r}: {name} must be >= 0, got {value!r}")
            setattr(self, name, value)


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
    predicted: str = ""
    measured: str = ""
    module: str = ""  # the module that registered it (pytest runs a module's own claims)


_CLAIMS: dict[str, Claim] = {}


def claim(id: str, *, source: str, statement: str, seed: int, stochastic: bool,
          formula: Callable[[], Any] | None = None, predicted: str = "", measured: str = ""):
    """Register ``measure(ctx) -> Measurement`` as claim ``id`` (``area.topic.name``).

    ``source``: the paper's equation/theorem, or "derived: <proof idea>".
    ``formula``: optional callable returning the sympy statement shown in the report.
    ``predicted`` / ``measured``: a few words each for the summary table ("exact
    finite-width E[G²]/E[G]²", "Ĝ² over 4·10⁴ real-weight nets").
    """
    if not isinstance(id, str) or not _CLAIM_ID.fullmatch(id):
        raise ValueError(f"claim id {id!r} must look like area.topic.name (an area such as "
                         f"{', '.join(AREAS)}, or one of your own; lower case, digits, '_', '-')")
    area = id.split(".", 1)[0]

    def register(fn):
        if id in _CLAIMS:
            raise RuntimeError(f"claim id {id!r} registered twice")
        _CLAIMS[id] = Claim(id, area, source, statement, seed, stochastic, fn, formula,
                            predicted, measured, getattr(fn, "__module__", ""))
        return fn

    return register


_CLAIM_ID = re.compile(r"[a-z][a-z0-9_]*(\.[a-z0-9][a-z0-9_-]*)+")
ENTRY_POINT_GROUP = "dltv.claims"
_LOADED: set[str] = set()


def load_claims() -> dict[str, Claim]:
    """All registered claims by id.

    Imports every ``dltv.checks.test_<area>`` that exists, every module named by an
    entry point of the group ``dltv.claims`` (how another package ships claims), and
    keeps whatever :func:`load_claims_from` or a test module registered meanwhile.
    """
    for area in AREAS:
        _import_once(f"dltv.checks.test_{area}", optional=True)
    for ep in _entry_points():
        _import_once(ep.value.split(":", 1)[0], optional=False)
    return dict(sorted(_CLAIMS.items()))


def load_claims_from(module: str) -> list[Claim]:
    """Import ``module`` (a dotted name; the current directory is searched too) and
    return the claims it registers; ValueError naming ``claims-from`` if it cannot."""
    import sys

    if not isinstance(module, str) or not re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*", module):
        raise ValueError(f"claims-from must be a dotted module name, got {module!r}")
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    before = set(_CLAIMS)
    try:
        mod = importlib.import_module(module)
    except ImportError as err:
        raise ValueError(f"claims-from: cannot import {module!r}: {err}") from None
    mine = [c for c in _CLAIMS.values() if c.module == mod.__name__ or c.id not in before]
    if not mine:
        raise ValueError(f"claims-from: module {module!r} registers no claim")
    return sorted(mine, key=lambda c: c.id)


def _entry_points():
    from importlib.metadata import entry_points

    return entry_points(group=ENTRY_POINT_GROUP)


def _import_once(name: str, *, optional: bool) -> None:
    if name in _LOADED:
        return
    try:
        importlib.import_module(name)
    except ModuleNotFoundError as err:
        if not (optional and err.name == name):
            raise
    _LOADED.add(name)


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
    formulas: set[str] = field(default_factory=set)  # registered formula ids evaluated

    @property
    def passed(self) -> bool:
        return self.verdict == "pass"

    def headline(self) -> dict:
        """The worst point: the one that used most of its allowance (score ≤ 1 passes)."""
        if not self.points:
            return {}
        return max(self.points, key=lambda p: _as_float(p["score"], math.inf))

    @property
    def resolution(self) -> tuple[float | None, str | None]:
        return worst_resolution(self.points)

    def to_json(self) -> dict:
        h = self.headline()
        res, res_kind = self.resolution
        targets = [p["target_met"] for p in self.points if p.get("target_met") is not None]
        return {
            "id": self.claim.id, "area": self.claim.area, "source": self.claim.source,
            "statement": self.claim.statement, "verdict": self.verdict,
            "kind": "stochastic" if self.claim.stochastic else "deterministic",
            "predicted": self.claim.predicted, "measured": self.claim.measured,
            "prediction": h.get("prediction"), "estimate": h.get("estimate"),
            "se": h.get("se"), "tol": h.get("tol"), "rule": h.get("rule"), "z": h.get("z"),
            "threshold": h.get("threshold"), "score": h.get("score"), "worst_point": h.get("label"),
            "resolution": _num(res) if res is not None else None, "resolution_kind": res_kind,
            "targets_met": all(targets) if targets else None,
            "n_points": len(self.points), "formulas": sorted(self.formulas),
            "control": self.control, "n": self.n, "seed": self.seed,
            "seconds": round(self.seconds, 3), "points": self.points,
            "notes": self.notes, "error": self.error, "figures": sorted(self.figures),
        }


def n_stochastic(claims=None) -> int:
    """The number of stochastic claims sharing the budget: those of the run (all when None)."""
    return sum(c.stochastic for c in (load_claims().values() if claims is None else claims))


def evaluate(claim: Claim, m: Measurement, n_stochastic_claims: int | None = None
             ) -> tuple[str, list[dict], dict]:
    """Apply the agreement rule to every point and its control.

    A claim passes only if every point agrees with its prediction **and** every
    point's control is rejected.  The suite budget is shared by the
    ``n_stochastic_claims`` stochastic claims of the run (default: all registered).
    Returns (verdict, point rows, weakest control).
    """
    if not m.points:
        raise ValueError(f"claim {claim.id} produced no comparison points")
    if n_stochastic_claims is None:
        n_stochastic_claims = n_stochastic()
    z_crit = stats.z_critical(stats.point_alpha(n_stochastic_claims, len(m.points)))
    rows = []
    for p in m.points:
        stochastic = p.se is not None
        if stochastic != claim.stochastic:
            raise ValueError(f"claim {claim.id}: point {p.label!r} is "
                             f"{'stochastic' if stochastic else 'deterministic'} but the claim is not")
        scale = p.se if stochastic else p.tol
        threshold = z_crit if stochastic else 1.0
        allowed = stats.allowance(scale, threshold, p.slack)
        ok, z = stats.agrees(p.estimate, p.prediction, scale, threshold, p.rule, p.slack)
        res, res_kind = stats.resolution(p.prediction, allowed)
        c_est = p.estimate if p.control_estimate is None else p.control_estimate
        c_scale = scale if p.control_se is None else p.control_se
        c_allowed = stats.allowance(c_scale, threshold, p.slack)
        c_ok, c_z = stats.agrees(c_est, p.control, c_scale, threshold, p.rule, p.slack)
        rows.append({
            "label": p.label, "prediction": _num(p.prediction), "estimate": _num(p.estimate),
            "se": _num(p.se), "tol": _num(p.tol), "rule": p.rule, "slack": _num(p.slack),
            "z": _num(z), "threshold": threshold, "pass": bool(ok), "n": p.n,
            "score": _num(stats.score(p.estimate, p.prediction, allowed, p.rule)),
            "resolution": _num(res), "resolution_kind": res_kind, "target": _num(p.target),
            "target_met": None if p.target is None or res_kind != "relative" else bool(res <= p.target),
            "control": {"prediction": _num(p.control), "estimate": _num(c_est), "se": _num(p.control_se),
                        "z": _num(c_z), "rejected": not c_ok,
                        "margin": _num(stats.score(c_est, p.control, c_allowed, p.rule))},
        })
    weakest = min(rows, key=lambda r: _as_float(r["control"]["margin"], math.inf))
    control = dict(weakest["control"], label=weakest["label"],
                   rejected=all(r["control"]["rejected"] for r in rows),
                   n_rejected=sum(r["control"]["rejected"] for r in rows), n_points=len(rows))
    verdict = "pass" if all(r["pass"] for r in rows) and control["rejected"] else "fail"
    return verdict, rows, control


def _as_float(x, nan_as: float) -> float:
    """A stored number (non-finite ones are text) as float, NaN replaced by ``nan_as``."""
    if x is None:
        return nan_as
    x = float(x)
    return nan_as if math.isnan(x) else x


def worst_resolution(rows: list[dict]) -> tuple[float | None, str | None]:
    """The claim's resolution: its worst relative one, else its worst absolute one."""
    for kind in ("relative", "absolute"):
        vals = [float(r["resolution"]) for r in rows if r.get("resolution_kind") == kind]
        if vals:
            return max(vals), kind
    return None, None


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
              device: str = "cpu", n_stochastic_claims: int | None = None) -> Result:
    """Measure and evaluate one claim; never raises for a failing measurement.

    ``n_stochastic_claims``: how many stochastic claims the run holds (they share
    the suite's false-alarm budget); default all registered claims.
    """
    seed = effective_seed(claim, run_seed)
    ctx = Context(seed=seed, full=full, device=device)
    start = time.perf_counter()
    with recording_formulas() as used:
        try:
            m = claim.measure(ctx)
            verdict, rows, control = evaluate(claim, m, n_stochastic_claims)
            figures = {name: _png(fig) for name, fig in m.figures.items()}
            return Result(claim, verdict, rows, seed, time.perf_counter() - start, n=m.n,
                          control=control, notes=m.notes, figures=figures, formulas=set(used))
        except Exception as err:  # a crashing claim is a failing claim, reported with its error
            tb = traceback.format_exc(limit=-3)
            return Result(claim, "fail", [], seed, time.perf_counter() - start,
                          control={"prediction": None, "z": None, "rejected": False},
                          error=f"{type(err).__name__}: {err}\n{tb}", formulas=set(used))


def assert_result(result: Result) -> None:
    """pytest's view of a claim: pass, with its control rejected."""
    if result.error:
        raise AssertionError(f"{result.claim.id} raised: {result.error}")
    bad = [p for p in result.points if not p["pass"]]
    assert not bad, f"{result.claim.id}: points disagree with the prediction: {bad}"
    kept = [p for p in result.points if not p["control"]["rejected"]]
    assert not kept, f"{result.claim.id}: negative controls not rejected at {len(kept)} points: {kept}"
