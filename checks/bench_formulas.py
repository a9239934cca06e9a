"""Benchmark of the 30-digit formula evaluators (``dltv formula eval``): seconds per layer and digits.

One row per (formula, activation) at two inputs K = (1, 1/2, 1), C_W = 1, C_b = 0: the
infinite-width kernel ``correlations.kernel`` (tanh, GELU, erf, sin, SiLU; layer 5), the NTK
``correlations.ntk`` (tanh; layer 5) and the 1/n hierarchy ``correlations.nlo`` (tanh, layer 5;
ReLU at C_W = 2, layer 10; width n = 32).  Each row is timed from a cold start (every cache of
closed forms, Hermite tables and coefficients cleared), so ``seconds`` includes the one-off
set-up a fresh ``dltv formula eval`` pays (not the interpreter's start and imports).

``digits`` is the agreement, -log10 of the largest relative difference over the returned entries,
with an independent computation where one is cheap: erf, sin and GELU kernels against the same
recursion with the activation entered as a plain expression (no closed form: Mehler series and
trapezoid rule); otherwise the digits the method guarantees (30: each expectation is held to
10^-33 of its scale or refused), with the agreement with the float64 recursion reported as
``float64_digits``.  Target: <= 1 s per layer and 30 digits.
"""
from __future__ import annotations

import math
import time

import mpmath
import numpy as np
import sympy as sp

from dltv.theory import correlations as C
from dltv.theory import gaussian as G
from dltv.theory.activations import custom, get_activation

K1 = (1, sp.Rational(1, 2), 1)
TARGET_SECONDS, TARGET_DIGITS = 1.0, 30
TARGET = "<= 1 s per layer, 30 digits"


def _digits(values: dict, reference: dict) -> float:
    """-log10 of the largest relative difference between two dicts of numbers (capped at 40); an entry
    whose reference is 0 (e.g. ReLU's dK_aa) is measured against the largest reference entry."""
    worst = 0.0
    with mpmath.workdps(50):
        scale = max(abs(_mp50(r)) for r in reference.values())
        for key, v in values.items():
            ref, val = _mp50(reference[key]), _mp50(v)
            worst = max(worst, float(abs(val - ref) / (abs(ref) if ref else scale)))
    return 40.0 if worst == 0 else min(40.0, -math.log10(worst))


def _mp50(x) -> mpmath.mpf:
    return mpmath.mpf(str(sp.N(x, 50))) if isinstance(x, sp.Basic) else mpmath.mpf(x)


def _cold() -> None:
    """Forget every cached closed form, derivative, Hermite table and coefficient (and sympy's cache)."""
    from sympy.core.cache import clear_cache
    G.clear_caches()
    for fn in (C._closed_derivatives_mp, C._homogeneous_pair_mp, C._closed_derivatives):
        fn.cache_clear()
    clear_cache()


def _timed(fn):
    _cold()
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def _float_kernel(name, cw, layer):
    K = C.kernel_recursion(name, cw, 0, [[1.0, 0.5], [0.5, 1.0]], layer)[-1]
    return {"K_aa": K[0, 0], "K_ab": K[0, 1], "K_bb": K[1, 1]}


def _float_ntk(name, cw, layer):
    T = C.ntk_recursion(name, cw, 0, [[1.0, 0.5], [0.5, 1.0]], layer)["Theta"][-1]
    return {"Theta_aa": T[0, 0], "Theta_ab": T[0, 1], "Theta_bb": T[1, 1]}


def _float_nlo(name, cw, n, layer):
    r = C.vertex_recursion(name, cw, 0, [[1.0, 0.5], [0.5, 1.0]], [n] * (layer - 1))
    K, dK, V = r["K"][-1], r["dK"][-1], r["V"][-1]
    pairs = {"aa": (0, 0), "ab": (0, 1), "bb": (1, 1)}
    out = {f"K_{p}": K[i, j] for p, (i, j) in pairs.items()}
    out.update({f"n_dK_{p}": n * dK[i, j] for p, (i, j) in pairs.items()})
    out.update({f"V_{p}_{q}": V[i, j] for i, p in enumerate(pairs) for j, q in enumerate(pairs) if i <= j})
    return {key: out[key] for key in C.NLO_ENTRIES}


def _last(recursion: dict) -> dict:
    """The scalar entries (K, P, D and their 1/n shifts) of a recursion's last layer."""
    return {k: recursion[k][-1] for k in ("K", "P", "D", "dK", "dP", "dD")}


def _row(formula: str, name: str, layer: int, run, float_ref, reference=None, extra: str = "",
         inputs: str = "K=1,1/2,1") -> dict:
    out, seconds = _timed(run)
    float_digits = _digits(out, float_ref)
    if reference is not None:
        digits, source = _digits(out, reference()), "independent reference"
    else:
        digits, source = float(TARGET_DIGITS), "stated (error estimate)"
    per_layer = seconds / max(layer - 1, 1)
    return {"bench": "correlations.formula", "case": f"{formula} {name} {inputs}{extra} layer={layer}",
            "seconds": round(seconds, 3), "seconds_per_layer": round(per_layer, 3),
            "digits": round(digits, 1), "digits_from": source, "float64_digits": round(float_digits, 1),
            "target": TARGET, "ok": bool(per_layer <= TARGET_SECONDS and digits >= TARGET_DIGITS)}


def _plain(name: str):
    """The activation as a user expression: no closed form, so the generic (Mehler) route."""
    return custom(get_activation(name).expr, name=f"{name} (plain)")


def run(quick: bool = True, device: str = "cpu") -> list[dict]:
    """Bench rows (``device`` is ignored: the evaluators are mpmath on the CPU)."""
    del device
    rows = []
    layer = 5
    for name in ("tanh", "gelu", "erf", "sin", "silu"):
        reference = None
        if name in ("erf", "sin", "gelu"):
            reference = (lambda n=name: C.kernel_layer(_plain(n), 1, 0, K1, layer))
        rows.append(_row("kernel", name, layer, lambda n=name: C.kernel_layer(n, 1, 0, K1, layer),
                         _float_kernel(name, 1.0, layer), reference))
    rows.append(_row("ntk", "tanh", layer, lambda: C.ntk_layer("tanh", 1, 0, K1, layer),
                     _float_ntk("tanh", 1.0, layer)))
    rows.append(_row("nlo", "tanh", layer, lambda: C.nlo_layer("tanh", 1, 0, K1, 32, layer),
                     _float_nlo("tanh", 1.0, 32, layer), extra=" n=32"))
    rows.append(_row("gradient", "tanh", layer,
                     lambda: _last(C.gradient_recursion("tanh", 1, 0, (1, 0.9, 1), layer, mp=True)),
                     _last(C.gradient_recursion("tanh", 1, 0, (1, 0.9, 1), layer)), inputs="K,P,D=1,0.9,1"))
    rows.append(_row("nlo", "relu", 10, lambda: C.nlo_layer("relu", 2, 0, K1, 32, 10),
                     _float_nlo("relu", 2.0, 32, 10), extra=" C_W=2 n=32"))
    if not quick:
        for name in ("gelu", "erf", "sin", "silu"):
            rows.append(_row("ntk", name, layer, lambda n=name: C.ntk_layer(n, 1, 0, K1, layer),
                             _float_ntk(name, 1.0, layer)))
            rows.append(_row("nlo", name, layer, lambda n=name: C.nlo_layer(n, 1, 0, K1, 32, layer),
                             _float_nlo(name, 1.0, 32, layer), extra=" n=32"))
    return rows
