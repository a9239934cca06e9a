"""Representation cost and bottleneck structure (Jacot, arXiv 2305.19008), exact statements.

Networks have L weight matrices and ‖θ‖² = Σ_ℓ ‖W_ℓ‖_F² (+ ‖b_ℓ‖² with biases); the
representation cost is R(f; L) = min_{θ: f_θ = f} ‖θ‖² and its depth expansion is
R(f; L) = L·R^(0) + R^(1) + R^(2)/L + R^(3)/L² + ….  What is encoded, and of which kind:

* EXACT (linear maps, deep linear networks without biases): R(A; L) = L Σ_i s_i^{2/L},
  its full 1/L expansion, the balanced factorisation attaining it, the scalar problem of
  L2-regularised deep linear regression with its threshold y_c and jump.
* BOUNDS valid for EVERY parameter vector of a ReLU network (with or without biases):
  ‖θ‖² ≥ L Σ s_i(Jf(x))^{2/L} ≥ L·rank Jf(x) + 2 log|Jf(x)|_+, and the per-layer bound (B3).
* Subadditivity of R^(1) for linear maps under composition and addition, with the rank
  conditions under which it holds.

The paper's full text was not available: statements are the project's own formalisation,
each marked "derived" with its proof idea (see the notes in the design folder).
"""
from __future__ import annotations

import functools
import math
from typing import Sequence

import mpmath
import numpy as np
import sympy as sp

from dltv.theory.formulas import Param, check_int, check_real, formula

DPS = 40  # working precision of the mpmath evaluations (digits)


def _at_dps(fn):
    """Run ``fn`` at DPS digits without touching the caller's global mpmath precision."""
    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        with mpmath.workdps(DPS):
            return fn(*args, **kwargs)
    return wrapped

L_SYM = sp.Symbol("L", positive=True, integer=True)
LAM_SYM = sp.Symbol("lambda", positive=True)
S_SYM = sp.Symbol("s", positive=True)
Y_SYM = sp.Symbol("y", nonnegative=True)


# --------------------------------------------------------------------------- inputs
def _real(name: str, value, low=None, *, low_open: bool = False):
    """:func:`check_real`, refusing sympy's nan (whose finiteness is undecided) as well."""
    if isinstance(value, sp.Basic) and value.is_number and value.is_finite is not True:
        raise ValueError(f"{name} must be a finite real number, got {value!r}")
    return check_real(name, value, low, low_open=low_open)


def _singular_values(s) -> list:
    """Exact non-negative singular values (zeros allowed: they do not count)."""
    if isinstance(s, str):
        s = s.split(",")
    vals = [_real("s", v, 0) for v in s]
    if not vals:
        raise ValueError("s must list at least one singular value >= 0")
    return vals


def _finite_array(name: str, value, ndim: int, *, nonnegative: bool = False) -> np.ndarray:
    """``value`` as a float64 array of ``ndim`` dimensions with finite (and, if asked, ≥ 0) entries."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an array of real numbers, got {value!r}") from None
    if arr.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s), got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} must contain only finite numbers, got {value!r}")
    if nonnegative and (arr < 0).any():
        raise ValueError(f"{name} must contain only numbers >= 0 (singular values), got {value!r}")
    return arr


def _rtol(rtol) -> float:
    try:
        rtol = float(rtol)
    except (TypeError, ValueError):
        raise ValueError(f"rtol must be a real number in [0, 1), got {rtol!r}") from None
    if not (math.isfinite(rtol) and 0 <= rtol < 1):
        raise ValueError(f"rtol must lie in [0, 1), got {rtol!r}")
    return rtol


def _nonzero(s) -> list:
    return [v for v in _singular_values(s) if v != 0]


# --------------------------------------------------------------------------- linear cost
def linear_cost(s, L):
    """R(A; L) = L Σ_{s_i > 0} s_i^{2/L} for a linear map with singular values ``s``.

    Derived (Dai–Karzand–Srebro 2021 form): min over W_L⋯W_1 = A of Σ‖W_ℓ‖_F²; lower
    bound by Horn's inequality + AM–GM per singular value, attained by the balanced
    factorisation (:func:`balanced_factorisation`).  L = 1 gives ‖A‖_F², L = 2 gives 2‖A‖_*.
    """
    L = check_int("L", L, 1)
    return sp.nsimplify(L) * sum((v ** sp.Rational(2, L) for v in _nonzero(s)), sp.Integer(0))


@_at_dps
def linear_cost_mp(s, L) -> mpmath.mpf:
    """:func:`linear_cost` evaluated with mpmath (40 digits); L may be any real > 0 here."""
    L = mpmath.mpf(sp.N(_real("L", L, 0, low_open=True), 50))
    return L * mpmath.fsum(mpmath.mpf(sp.N(v, 50)) ** (2 / L) for v in _nonzero(s))


@functools.lru_cache(maxsize=32)
def _series_term(n: int):
    eps = sp.Symbol("epsilon", positive=True)
    series = sp.series(sp.exp(2 * eps * sp.log(S_SYM)) / eps, eps, 0, n).removeO()
    return sp.expand(series.coeff(eps, n - 1))


def expansion_term_symbolic(n: int):
    """Coefficient of L^{1-n} in L·s^{2/L}, by series expansion in ε = 1/L: (2 log s)^n / n!.

    Derived: L s^{2/L} = ε^{-1} exp(2ε log s) = Σ_n (2 log s)^n ε^{n-1} / n! (entire in ε).
    """
    return _series_term(check_int("n", n, 0))


def expansion_coefficient(s, n: int):
    """R^(n)(A) for a linear map: R^(0) = rank A, and for n ≥ 1 Σ_i (2 log s_i)^n / n!.

    Exact (derived, §2.2 of the notes): R^(1) = 2 log|A|_+, R^(2) = 2 Σ log² s_i ≥ 0,
    R^(3) = (4/3) Σ log³ s_i.  The general term comes from :func:`expansion_term_symbolic`.
    """
    n = check_int("n", n, 0)
    term = expansion_term_symbolic(n)
    return sp.expand(sum((term.subs(S_SYM, v) for v in _nonzero(s)), sp.Integer(0)))


def expansion(s, order: int = 4) -> dict:
    """{"R0": rank, "R1": 2 log|A|_+, "R2": …, …} up to R^(order-1)."""
    order = check_int("order", order, 1)
    return {f"R{n}": expansion_coefficient(s, n) for n in range(order)}


def truncated_cost(s, L, m: int):
    """T_m(L) = Σ_{n=0}^{m} R^(n) L^{1-n}: the depth expansion up to and including R^(m)/L^{m-1}."""
    L = check_int("L", L, 1)
    m = check_int("m", m, 0)
    return sum((expansion_coefficient(s, n) * sp.Integer(L) ** (1 - n) for n in range(m + 1)), sp.Integer(0))


@_at_dps
def remainder_bound(s, L, m: int) -> float:
    """Rigorous bound on |L^m (R(A;L) − T_m(L)) − R^(m+1)|, which is O(1/L).

    Derived: L^m (R − T_m) − R^(m+1) = Σ_{n≥m+2} R^(n) L^{m+1-n} and |R^(n)| ≤ Σ_i (2|ℓ_i|)^n/n!
    (ℓ_i = log s_i), so the tail is at most L^{m+1} Σ_i [e^{u_i} − Σ_{n≤m+1} u_i^n/n!],
    u_i = 2|ℓ_i|/L.  Hence R − T_m = R^(m+1) L^{-m} + O(L^{-m-1}).  Evaluated with mpmath.
    """
    L = check_int("L", L, 1)
    m = check_int("m", m, 0)
    total = mpmath.mpf(0)
    for v in _nonzero(s):
        u = 2 * abs(mpmath.log(mpmath.mpf(sp.N(v, 50)))) / L
        total += mpmath.exp(u) - sum(u ** n / mpmath.factorial(n) for n in range(m + 2))
    return float(mpmath.mpf(L) ** (m + 1) * total)


def balanced_factorisation(A: np.ndarray, L: int, widths: Sequence[int] | None = None,
                           frames: Sequence[np.ndarray] | None = None) -> list[np.ndarray]:
    """W_ℓ = U_ℓ diag(s^{1/L}) U_{ℓ-1}ᵀ with U_0 = V, U_L = U (A = U diag(s) Vᵀ, rank r).

    Derived: every layer has singular values s_i^{1/L}, the layers are balanced
    (W_{ℓ+1}ᵀW_{ℓ+1} = W_ℓW_ℓᵀ) and Σ‖W_ℓ‖_F² = L Σ s_i^{2/L} = R(A; L).  Hidden frames U_ℓ
    (n_ℓ × r, orthonormal columns) default to the first r standard basis vectors.
    """
    A = _finite_array("A", A, 2)
    L = check_int("L", L, 1)
    U, s, Vt = np.linalg.svd(A, full_matrices=False)
    r = int((s > 1e-12 * max(s[0], 1e-300)).sum()) if s.size else 0
    U, s, V = U[:, :r], s[:r], Vt[:r].T
    if frames is None:
        widths = list(widths) if widths is not None else [r] * (L - 1)
        if len(widths) != L - 1 or any(int(n) < r for n in widths):
            raise ValueError(f"widths must list L-1 = {L - 1} hidden widths, each >= rank {r}")
        frames = [np.eye(int(n))[:, :r] for n in widths]
    frames = [_finite_array("frames", F, 2) for F in frames]
    if len(frames) != L - 1 or any(F.shape[1] != r for F in frames):
        raise ValueError(f"frames must list L-1 = {L - 1} matrices with rank {r} = number of columns")
    frames = [V] + frames + [U]
    root = np.diag(s ** (1.0 / L))
    return [frames[l + 1] @ root @ frames[l].T for l in range(L)]


# --------------------------------------------------------------------------- regularised deep linear regression
def scalar_objective(s, y, L, lam):
    """φ(s) = (s − y)² + λ L s^{2/L}: the per-singular-value problem of min_A ‖A−Y‖_F² + λR(A;L).

    Derived: min_θ ‖W_L⋯W_1 − Y‖_F² + λ‖θ‖² = min_A ‖A − Y‖_F² + λ L Σ s_i(A)^{2/L}, and by
    von Neumann's trace inequality the optimal A shares Y's singular vectors.
    Numbers or sympy symbols; non-finite numbers are refused.
    """
    s, y, L, lam = (_real(n, v) for n, v in (("s", s), ("y", y), ("L", L), ("lam", lam)))
    return (s - y) ** 2 + lam * L * s ** (sp.Integer(2) / L)


def threshold(L, lam) -> dict:
    """y_c(L, λ) and the jump s*(y_c+) of the global minimiser of φ.

    Derived: at y_c, φ(s) = φ(0) and φ'(s) = 0 at some s_c > 0 give s_c^{2−2/L} = λ(L−2),
    y_c = s_c (L−1)/(L−2), i.e. y_c = [λ (L−1)^{2−2/L} / (L−2)^{1−2/L}]^{L/(2L−2)}, jump = s_c
    (L ≥ 3).  L = 2: soft threshold y_c = λ, no jump.  L = 1: ridge, y_c = 0, no jump.
    """
    L = check_int("L", L, 1)
    lam = _real("lam", lam, 0, low_open=True)
    if L == 1:
        return {"y_c": sp.Integer(0), "jump": sp.Integer(0)}
    if L == 2:
        return {"y_c": lam, "jump": sp.Integer(0)}
    s_c = (lam * (L - 2)) ** sp.Rational(L, 2 * L - 2)
    return {"y_c": sp.nsimplify(s_c * sp.Rational(L - 1, L - 2)), "jump": s_c}


def nonzero_branch_onset(L, lam) -> dict:
    """y_min(L, λ): the smallest y at which φ has a local minimiser s > 0, and that minimiser s_m (L ≥ 3).

    Derived: stationary points s > 0 solve y = g(s) = s + λ s^{2/L−1}; g is convex with its
    minimum at s_m^{2−2/L} = λ(L−2)/L, so y_min = g(s_m) = s_m (2L−2)/(L−2) < y_c.  For y in
    (y_min, y_c) the non-zero local minimum is rank-overestimating (not global).
    """
    L = check_int("L", L, 3)
    lam = _real("lam", lam, 0, low_open=True)
    s_m = (lam * sp.Rational(L - 2, L)) ** sp.Rational(L, 2 * L - 2)
    return {"y_min": sp.nsimplify(s_m * sp.Rational(2 * L - 2, L - 2)), "s_m": s_m}


@_at_dps
def _stationary_points(y, L: int, lam) -> list:
    """Positive roots of φ'(s)/2 = s − y + λ s^{2/L−1} = 0, as mpmath numbers (40 digits).

    With s = t^L the condition is the polynomial t^{2L−2} − y t^{L−2} + λ = 0 (L ≥ 2).
    """
    y, lam = mpmath.mpf(sp.N(y, 50)), mpmath.mpf(sp.N(lam, 50))
    if L == 1:
        return [y / (1 + lam)] if y > 0 else []
    coeffs = [mpmath.mpf(0)] * (2 * L - 1)        # highest degree first
    coeffs[0] = mpmath.mpf(1)
    coeffs[L] -= y          # t^{L-2}; for L = 2 this is the constant term too
    coeffs[-1] += lam
    roots = mpmath.polyroots(coeffs, maxsteps=400, extraprec=200)
    ts = sorted({float(mpmath.re(t)): mpmath.re(t) for t in roots
                 if abs(mpmath.im(t)) < mpmath.mpf(10) ** -25 and mpmath.re(t) > 0}.values())
    return [t ** L for t in ts]


def local_minima(y, L, lam) -> list:
    """All local minimisers s ≥ 0 of φ (40-digit mpmath), ascending.

    L ≥ 3: s = 0 always (φ'(0+) = +∞) and the larger stationary root when y > y_min, where
    y_min = s_m (2L−2)/(L−2), s_m^{2−2/L} = λ(L−2)/L; for y in (y_min, y_c) the non-zero one
    is a rank-overestimating local minimum.  L ≤ 2: the unique minimiser.
    """
    L = check_int("L", L, 1)
    y = _real("y", y, 0)
    lam = _real("lam", lam, 0, low_open=True)
    roots = _stationary_points(y, L, lam)
    if L == 1:
        return roots or [mpmath.mpf(0)]
    if L == 2:
        return [roots[-1]] if roots and y > lam else [mpmath.mpf(0)]
    return [mpmath.mpf(0)] + ([roots[-1]] if len(roots) >= 2 else [])


@_at_dps
def global_minimiser(y, L, lam):
    """s*(y) = argmin_{s≥0} φ(s) (40-digit mpmath); 0 for y ≤ y_c (at y = y_c both tie: 0 returned)."""
    cands = local_minima(y, L, lam)
    lamf, yf = mpmath.mpf(sp.N(lam, 50)), mpmath.mpf(sp.N(y, 50))
    phi = [(s - yf) ** 2 + lamf * L * (s ** (mpmath.mpf(2) / L) if s > 0 else 0) for s in cands]
    best = min(range(len(cands)), key=lambda i: (phi[i], i))
    return cands[best]


# --------------------------------------------------------------------------- bounds for every parameter vector
def schatten_bound(jac_singular_values, L) -> float:
    """L Σ_i s_i(Jf(x))^{2/L}: a lower bound on ‖θ‖² for EVERY ReLU-net parameter θ and x.

    Derived: Jf(x) = W_L D_{L−1} W_{L−1} ⋯ D_1 W_1 with 0/1 diagonals D_ℓ; absorbing D_ℓ into
    W_ℓ lowers Frobenius norms, and the linear cost bounds Σ‖W_ℓ D_ℓ‖_F² from below.
    Biases only add to ‖θ‖².  Hence R(f;Ω,L) ≥ L sup_x ‖Jf(x)‖_{S_{2/L}}^{2/L}.
    """
    L = check_int("L", L, 1)
    sv = _finite_array("jac_singular_values", jac_singular_values, 1, nonnegative=True)
    return float(L * (sv[sv > 0] ** (2.0 / L)).sum())


def log_pdet_bound(jac_singular_values, L, rtol: float = 1e-10) -> float:
    """L·k + 2 log|Jf(x)|_+ (k = numerical rank): below :func:`schatten_bound`, so below ‖θ‖².

    Derived: s^{2/L} = e^{2 log s / L} ≥ 1 + 2 log s / L.  Expanding in L this gives
    R^(0)(f) ≥ rank Jf(x), and R^(1)(f) ≥ 2 log|Jf(x)|_+ whenever R^(0)(f) = rank Jf(x).
    """
    L = check_int("L", L, 1)
    sv = _finite_array("jac_singular_values", jac_singular_values, 1, nonnegative=True)
    rtol = _rtol(rtol)
    keep = sv[sv > rtol * sv.max()] if sv.size and sv.max() > 0 else sv[:0]
    return float(L * keep.size + 2 * np.log(keep).sum())


def layer_bottleneck_gap(layer_singular_values: Sequence[np.ndarray], k: int) -> float:
    """LHS of (B3): Σ_ℓ [Σ_{i≤k} (s_i² − 1 − log s_i²) + Σ_{i>k} s_i²], s_i = s_i(W_ℓ).

    Derived bound (B3), for every parameter vector, any x and k = rank Jf(x):
    LHS ≤ ‖θ‖² − kL − 2 log|Jf(x)|_+ (expand ‖W_ℓ‖_F², then Horn: Σ_ℓ Σ_{i≤k} log s_i(W_ℓ)²
    ≥ 2 log|Jf(x)|_+).  Every term is ≥ 0, so most layers have k singular values near 1 and
    the rest small once ‖θ‖² − kL − 2 log|Jf|_+ = o(L).
    """
    k = check_int("k", k, 0)
    total = 0.0
    for sv in layer_singular_values:
        sv = np.sort(_finite_array("layer_singular_values", sv, 1, nonnegative=True))[::-1]
        top, rest = sv[:k], sv[k:]
        if top.size < k or (top <= 0).any():
            return math.inf
        total += float((top ** 2 - 1 - np.log(top ** 2)).sum() + (rest ** 2).sum())
    return total


# --------------------------------------------------------------------------- depth expansion fit, GD stability
def depth_fit_design(depths) -> np.ndarray:
    """Design matrix [L, 1, 1/L] of the fit ‖θ*‖²(L) ≈ L·R^(0) + R^(1) + R^(2)/L (Jacot 2305.19008, §1.3)."""
    Ls = _finite_array("depths", depths, 1)
    if (Ls < 1).any() or len(np.unique(Ls)) < 3:
        raise ValueError(f"depths must hold at least 3 distinct depths >= 1, got {depths!r}")
    return np.stack([Ls, np.ones_like(Ls), 1.0 / Ls], axis=1)


def gd_stable_ntk_bound(eta, lam, N, rho=0):
    """Upper bound on λ_max of the NTK Gram matrix K = J Jᵀ at a minimum that gradient descent
    with step η on C(θ) = (1/N) Σ_i ‖f_θ(x_i) − y_i‖² + λ‖θ‖² can converge to:

        λ_max(K) ≤ N (1/η − λ + ρ/2),   ρ = ‖(2/N) Σ_i (f_θ(x_i) − y_i)·∇²_θ f_θ(x_i)‖_op.

    Derived (the mechanism of the paper's "large learning rates guarantee an O(L) NTK", B4):
    GD's map θ ↦ θ − η∇C is linearly stable at a fixed point only if λ_max(∇²C) ≤ 2/η, and
    ∇²C = (2/N) JᵀJ + 2λI + (residual term), so Weyl's inequality gives the bound.  With
    η = c/L the bound is N L/c + O(L·ρ): an NTK of order L; a step η = o(1/L) allows more.
    """
    eta = _real("eta", eta, 0, low_open=True)
    lam = _real("lam", lam, 0)
    N = check_int("N", N, 1)
    rho = _real("rho", rho, 0)
    return N * (1 / eta - lam + rho / 2)


# --------------------------------------------------------------------------- subadditivity (linear maps)
def log_pdet(A: np.ndarray, rtol: float = 1e-10) -> tuple[float, int]:
    """(log|A|_+, numerical rank): log of the product of the nonzero singular values."""
    s = np.linalg.svd(_finite_array("A", A, 2), compute_uv=False)
    rtol = _rtol(rtol)
    if not s.size or s[0] == 0:
        return 0.0, 0
    keep = s[s > rtol * s[0]]
    return float(np.log(keep).sum()), int(keep.size)


def composition_excess(A: np.ndarray, B: np.ndarray) -> tuple[float, bool]:
    """(R^(1)(AB) − R^(1)(A) − R^(1)(B), rank condition rank AB = rank A = rank B).

    Derived: under the rank condition log|AB|_+ = log|A|_+ + log|B|_+ + log|det(V_Aᵀ U_B)|
    with |det| ≤ 1, so the excess is ≤ 0 (R^(1) = 2 log|·|_+ is subadditive under composition).
    """
    A, B = _finite_array("A", A, 2), _finite_array("B", B, 2)
    if A.shape[1] != B.shape[0]:
        raise ValueError(f"A {A.shape} and B {B.shape} cannot be multiplied")
    lab, rab = log_pdet(A @ B)
    la, ra = log_pdet(A)
    lb, rb = log_pdet(B)
    return 2 * (lab - la - lb), (rab == ra == rb)


def _same_shape(A, B) -> tuple[np.ndarray, np.ndarray]:
    A, B = _finite_array("A", A, 2), _finite_array("B", B, 2)
    if A.shape != B.shape:
        raise ValueError(f"A {A.shape} and B {B.shape} must have the same shape")
    return A, B


def addition_excess(A: np.ndarray, B: np.ndarray) -> tuple[float, bool]:
    """(R^(1)(A+B) − R^(1)(A) − R^(1)(B), rank condition rank(A+B) = rank A + rank B).

    Derived: under the rank condition |A+B|_+ = |A|_+|B|_+ sqrt(det PᵀP det QᵀQ) with
    P = [U_A U_B], Q = [V_A V_B], and Fischer's inequality gives det ≤ 1: the excess is ≤ 0.
    """
    A, B = _same_shape(A, B)
    ls, rs = log_pdet(A + B)
    la, ra = log_pdet(A)
    lb, rb = log_pdet(B)
    return 2 * (ls - la - lb), (rs == ra + rb)


def finite_depth_addition_excess(A: np.ndarray, B: np.ndarray, L: int) -> float:
    """R(A+B; L) − R(A; L) − R(B; L) (float): ≤ 0 for L ≥ 2 (Rotfel'd/McCarthy, Schatten p = 2/L ≤ 1),
    can be > 0 for L = 1 (‖A+B‖_F² is not subadditive)."""
    L = check_int("L", L, 1)
    A, B = _same_shape(A, B)

    def cost(M):
        s = np.linalg.svd(M, compute_uv=False)
        return L * (s ** (2.0 / L)).sum()

    return float(cost(A + B) - cost(A) - cost(B))


# --------------------------------------------------------------------------- registry
@formula("bottleneck.linear_cost",
         source="derived (Horn + AM–GM lower bound, balanced factorisation attains it); "
                "Jacot arXiv 2305.19008 / Dai–Karzand–Srebro 2021",
         statement="representation cost of a linear map with L weight matrices: L Σ s_i^{2/L}",
         params=[Param("s", "reals", "comma list of singular values of A", low=0),
                 Param("L", "int", "number of weight matrices", low=1)],
         symbolic=lambda: sp.Eq(sp.Symbol("R(A;L)"),
                                L_SYM * sp.Sum(sp.Indexed("s", sp.Symbol("i")) ** (2 / L_SYM),
                                               (sp.Symbol("i"), 1, sp.Symbol("r")))))
def _linear_cost(s, L):
    return linear_cost(s, L)


@formula("bottleneck.expansion",
         source="derived: series of L s^{2/L} = ε^{-1} e^{2ε log s} in ε = 1/L; "
                "Jacot arXiv 2305.19008 (R^(0) rank, R^(1) pseudo-determinant)",
         statement="depth expansion of the linear cost: R0 = rank, R1 = 2 log|A|_+, "
                   "R2 = 2 Σ log² s_i, R3 = (4/3) Σ log³ s_i",
         params=[Param("s", "reals", "comma list of singular values of A", low=0)],
         symbolic=lambda: {f"R{n}": expansion_term_symbolic(n) for n in range(1, 4)}
         | {"R0": sp.Symbol("rank(A)")})
def _expansion(s):
    return expansion(s, 4)


@formula("bottleneck.threshold",
         source="derived: φ(s) = (s−y)² + λ L s^{2/L}; φ(s_c) = φ(0), φ'(s_c) = 0",
         statement="hard threshold y_c and jump of L2-regularised deep linear regression",
         params=[Param("L", "int", "number of weight matrices", low=1),
                 Param("lam", "real", "weight-decay strength λ", low=0, low_open=True)],
         symbolic=lambda: {
             "y_c": (LAM_SYM * (L_SYM - 1) ** (2 - 2 / L_SYM) / (L_SYM - 2) ** (1 - 2 / L_SYM))
             ** (L_SYM / (2 * L_SYM - 2)),
             "jump": (LAM_SYM * (L_SYM - 2)) ** (L_SYM / (2 * L_SYM - 2))})
def _threshold(L, lam):
    return threshold(L, lam)


@formula("bottleneck.gd_stable_ntk_bound",
         source="derived: linear stability of GD (λ_max ∇²C ≤ 2/η) + Weyl; Jacot arXiv 2305.19008 "
                "(large learning rates guarantee an O(L) NTK)",
         statement="top NTK eigenvalue at a GD-stable minimum: λ_max(K) ≤ N (1/η − λ + ρ/2)",
         params=[Param("eta", "real", "gradient-descent step size η", low=0, low_open=True),
                 Param("lam", "real", "weight-decay strength λ", low=0),
                 Param("N", "int", "number of training points", low=1),
                 Param("rho", "real", "operator norm of the residual Hessian term (0 at interpolation)", low=0)],
         symbolic=lambda: sp.Symbol("N") * (1 / sp.Symbol("eta") - LAM_SYM + sp.Symbol("rho") / 2))
def _gd_stable_ntk_bound(eta, lam, N, rho=0):
    return gd_stable_ntk_bound(eta, lam, N, rho)
