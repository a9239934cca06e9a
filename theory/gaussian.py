"""Gaussian expectations <F>_K = E[F(z)], z ~ N(0, K), over one or several correlated inputs.

Three routes, chosen from the activation's properties (:mod:`dltv.theory.activations`):

* exact sympy closed forms: the positively homogeneous class (ReLU, leaky ReLU, abs,
  linear) for any product of powers of sigma and sigma' over two inputs, erf
  (Williams 1997) and sin; for 3-4 inputs of the homogeneous class the exact Stein-lemma
  reduction to orthant probabilities (:func:`mp_homogeneous_expect`, mpmath);
* float64 trapezoid quadrature in 1-4 dimensions with an error estimate (:func:`normal_expect`);
  Gauss-Hermite (:func:`gh_expect`, with its stated error) on request;
* >= 30 digits with an error estimate: GELU's closed form (:func:`gelu_kernel`); for any smooth
  activation the Mehler series over Hermite coefficients from one 1-d trapezoid rule per variance
  (:func:`mehler_expect`, :func:`mp_pair_expect`, ~0.05-0.3 s), with mpmath quadrature
  (:func:`mp_expect_1d`, :func:`mp_expect_2d`) where the series is refused.

Homogeneous closed forms are DERIVED here, not typed in: with z_a = sqrt(K_aa) r cos(phi),
z_b = sqrt(K_bb) r cos(phi - theta), theta = arccos(rho), the radial integral gives
2^{m/2} Gamma(m/2+1) and the angular integral over the quadrant z_a>0, z_b>0 is
phi in (theta - pi/2, pi/2); the other sign quadrants follow from rho -> -rho.  Every
factor is split as c_+ |t|^p 1{t>0} + c_- |t|^p 1{t<0}, so a factor without sigma or
sigma' (c_+ = c_- = 1, p = 0) sums over both quadrants: the indicator is dropped (the
pitfall E[u_+^p v_+^0] != E[u_+^p] 1{v>0}).
"""
from __future__ import annotations

import itertools
import math
from collections import OrderedDict
from functools import lru_cache

import mpmath
import numpy as np
import sympy as sp
from numpy.polynomial.hermite_e import hermegauss

from dltv.theory.activations import Activation, get_activation

Kaa, Kbb = sp.symbols("K_aa K_bb", positive=True)
Kab = sp.Symbol("K_ab", real=True)
Ksym = sp.Symbol("K", positive=True)
_theta = sp.Symbol("theta", real=True)
_phi = sp.Symbol("phi", real=True)

MP_DPS = 30


# ============================================================== input checks
def as_kernel(K, name: str = "K") -> np.ndarray:
    """A k x k symmetric PSD matrix of floats (a scalar means k=1); ValueError otherwise."""
    arr = np.atleast_2d(np.asarray(K, dtype=float))
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be a finite square matrix or a number, got {K!r}")
    if not np.allclose(arr, arr.T, rtol=0, atol=1e-12 * max(1.0, np.abs(arr).max())):
        raise ValueError(f"{name} must be symmetric, got {K!r}")
    if np.linalg.eigvalsh(arr).min() < -1e-12 * max(1.0, np.abs(arr).max()):
        raise ValueError(f"{name} must be positive semi-definite, got {K!r}")
    return arr


# ============================================================== homogeneous closed forms
@lru_cache(maxsize=None)
def _quadrant_angle_integral(p: int, q: int) -> sp.Expr:
    """I_pq(theta) = int_{theta-pi/2}^{pi/2} cos(phi)^p cos(phi-theta)^q dphi, exact (derived).

    Fourier expansion: cos^p(phi) cos^q(phi - theta) = 2^-(p+q) sum_{j,l} C(p,j) C(q,l) e^{i m phi} e^{-i n theta}
    with n = q - 2l, m = p - 2j + n; the real part of each integrated term is (pi - theta) cos(n theta)
    for m = 0 and [sin(m pi/2 - n theta) - sin((m - n) theta - m pi/2)]/m otherwise.  A finite sum:
    no symbolic integration or simplification at run time.
    """
    total = sp.Integer(0)
    for j in range(p + 1):
        for l in range(q + 1):
            n, m = q - 2 * l, p - 2 * j + q - 2 * l
            if m == 0:
                term = (sp.pi - _theta) * sp.cos(n * _theta)
            else:
                term = (sp.sin(m * sp.pi / 2 - n * _theta) - sp.sin((m - n) * _theta - m * sp.pi / 2)) / m
            total += sp.binomial(p, j) * sp.binomial(q, l) * term
    return total / 2 ** (p + q)


def _radial(m: int) -> sp.Expr:
    """int_0^inf r^m r e^{-r^2/2} dr = 2^{m/2} Gamma(m/2 + 1)."""
    return 2 ** sp.Rational(m, 2) * sp.gamma(sp.Rational(m, 2) + 1)


def _factor(act: Activation, power: int, dpower: int):
    """sigma^power sigma'^dpower as (c_plus, c_minus, p): c_+ |t|^p (t>0), c_- |t|^p (t<0)."""
    ap, am = act.homogeneous
    return ap ** (power + dpower), (-1) ** power * am ** (power + dpower), power


@lru_cache(maxsize=None)
def _homogeneous_theta_form(name: str, a: tuple, b: tuple) -> sp.Expr:
    """The two-input homogeneous moment as a sympy expression in (K_aa, K_bb, theta), theta = arccos(rho).

    Derived (module docstring): sum over sign quadrants of c c' I_pq(theta or pi - theta) times
    K_aa^{p/2} K_bb^{q/2} 2^{(p+q)/2} Gamma((p+q)/2+1) / (2 pi).
    """
    act = get_activation(name)
    fa, fb = _factor(act, *a), _factor(act, *b)
    p, q = fa[2], fb[2]
    total = sp.Integer(0)
    for sa, ca in ((1, fa[0]), (-1, fa[1])):
        for sb, cb in ((1, fb[0]), (-1, fb[1])):
            if ca == 0 or cb == 0:
                continue
            angle = _theta if sa * sb > 0 else sp.pi - _theta
            total += ca * cb * _quadrant_angle_integral(p, q).subs(_theta, angle)
    return Kaa ** sp.Rational(p, 2) * Kbb ** sp.Rational(q, 2) * _radial(p + q) / (2 * sp.pi) * total


def homogeneous_moment(activation, a=(1, 0), b=(0, 0), K=(Kaa, Kab, Kbb)) -> sp.Expr:
    """E[sigma(z_a)^i sigma'(z_a)^m sigma(z_b)^j sigma'(z_b)^n] for a=(i, m), b=(j, n), exact.

    ``K`` = (K_aa, K_ab, K_bb) as sympy numbers or symbols.  Derived (module docstring):
    sum over sign quadrants of c c' K_aa^{p/2} K_bb^{q/2} 2^{(p+q)/2} Gamma((p+q)/2+1)
    I_pq(arccos(+-rho)) / (2 pi).
    """
    return sp.simplify(_homogeneous_moment_raw(activation, a, b, K))


def _homogeneous_moment_raw(activation, a=(1, 0), b=(0, 0), K=(Kaa, Kab, Kbb)) -> sp.Expr:
    """:func:`homogeneous_moment` without the final simplification (fast; used by the numeric paths)."""
    act = get_activation(activation)
    act._require_homogeneous()
    ka, kab, kb = (sp.sympify(x) for x in K)
    form = _homogeneous_theta_form(act.name, tuple(a), tuple(b)) if act.name in _registered() else \
        _homogeneous_theta_form.__wrapped__(act, tuple(a), tuple(b))
    rho_ = kab / sp.sqrt(ka * kb)
    return form.xreplace({_theta: sp.acos(rho_)}).xreplace({Kaa: ka, Kbb: kb})


def homogeneous_moment_1d(activation, power: int, dpower: int = 0, K=Ksym) -> sp.Expr:
    """E[sigma(z)^power sigma'(z)^dpower], z ~ N(0, K): (c_+ + c_-)/2 K^{p/2} 2^{p/2} Gamma((p+1)/2)/sqrt(pi)."""
    act = get_activation(activation)
    act._require_homogeneous()
    cp, cm, p = _factor(act, power, dpower)
    K = sp.sympify(K)
    return sp.simplify((cp + cm) / 2 * K ** sp.Rational(p, 2) * 2 ** sp.Rational(p, 2)
                       * sp.gamma(sp.Rational(p + 1, 2)) / sp.sqrt(sp.pi))


# ============================================================== homogeneous class, any number of inputs
def _condition_on_zero(K, j):
    """Covariance of the other coordinates given z_j = 0 (zero mean stays zero): K - K_.j K_j. / K_jj."""
    keep = [i for i in range(len(K)) if i != j]
    return [[K[a][b] - K[a][j] * K[j][b] / K[j][j] for b in keep] for a in keep], keep


def _orthant_4(R):
    """(P(z > 0), error) for a 4-dim zero-mean Gaussian with correlation matrix R.

    Derived (Plackett 1954): dP/dR_ij = phi_2(0, 0; R_ij) P(z_k, z_l > 0 | z_i = z_j = 0) and the
    conditional orthant is 1/4 + arcsin(rho_kl|ij)/(2 pi); integrate along R(t) = I + t(R - I)
    from P(I) = 1/16 (one smooth 1-D mpmath quadrature).
    """
    pairs = [(i, j) for i in range(4) for j in range(i + 1, 4)]

    def rate(t):
        Rt = [[R[a][b] * t if a != b else mpmath.mpf(1) for b in range(4)] for a in range(4)]
        out = mpmath.mpf(0)
        for i, j in pairs:
            k, l = (m for m in range(4) if m not in (i, j))
            C1, _ = _condition_on_zero(Rt, i)
            jj = j - 1  # index of j after removing i < j
            C2, _ = _condition_on_zero(C1, jj)
            rc = C2[0][1] / mpmath.sqrt(C2[0][0] * C2[1][1])
            rc = max(min(rc, mpmath.mpf(1)), mpmath.mpf(-1))
            phi2 = 1 / (2 * mpmath.pi * mpmath.sqrt(1 - Rt[i][j] ** 2))
            out += R[i][j] * phi2 * (mpmath.mpf(1) / 4 + mpmath.asin(rc) / (2 * mpmath.pi))
        return out

    v, e = mpmath.quad(rate, [0, 1], error=True)
    return mpmath.mpf(1) / 16 + v, e


def _orthant(K):
    """(P(z > 0 componentwise), error) for z ~ N(0, K), K nonsingular, dimension <= 4.

    d <= 3 closed forms (Sheppard): 1/2, 1/4 + arcsin(r)/(2 pi), 1/8 + sum arcsin(r_ij)/(4 pi); d = 4: Plackett.
    """
    d = len(K)
    zero = mpmath.mpf(0)
    if d == 0:
        return mpmath.mpf(1), zero
    R = [[K[a][b] / mpmath.sqrt(K[a][a] * K[b][b]) for b in range(d)] for a in range(d)]
    asin = lambda x: mpmath.asin(max(min(x, mpmath.mpf(1)), mpmath.mpf(-1)))  # noqa: E731
    if d == 1:
        return mpmath.mpf(1) / 2, zero
    if d == 2:
        return mpmath.mpf(1) / 4 + asin(R[0][1]) / (2 * mpmath.pi), zero
    if d == 3:
        return mpmath.mpf(1) / 8 + (asin(R[0][1]) + asin(R[0][2]) + asin(R[1][2])) / (4 * mpmath.pi), zero
    if d == 4:
        return _orthant_4(R)
    raise ValueError("orthant probabilities are implemented for at most 4 inputs")


def _merge_degenerate(K, powers, tol):
    """Remove coordinates that are 0 or +-collinear with another (rank-deficient K), exactly.

    z_b = c z_a: c > 0 merges the factors ((z)_+^p (z)_+^q = (z)_+^{p+q}, an indicator
    (power 0) times a power is the power); c < 0 makes the product 0 ((z)_+ (-z)_+ = 0);
    z_b = 0: (0)_+^q = 0 for q >= 1, an indicator of 0 is undefined (sigma'(0)).
    Returns (K, powers, scale) with the product = scale * product over the reduced set, or None if it is 0.
    """
    scale = mpmath.mpf(1)
    K, powers = [list(row) for row in K], list(powers)
    changed = True
    while changed:
        changed = False
        d = len(K)
        for b in range(d):
            if K[b][b] <= tol * max(abs(K[i][i]) for i in range(d)):
                if powers[b] == 0:
                    raise ValueError("K has a zero-variance input where sigma'(0) is undefined")
                return None
        for a in range(d):
            for b in range(a + 1, d):
                if K[a][a] * K[b][b] - K[a][b] ** 2 > tol * K[a][a] * K[b][b]:
                    continue
                if K[a][b] < 0:
                    return None
                c = mpmath.sqrt(K[b][b] / K[a][a])
                scale *= c ** powers[b]
                powers[a] += powers[b]
                keep = [i for i in range(d) if i != b]
                K = [[K[i][j] for j in keep] for i in keep]
                powers = [powers[i] for i in keep]
                changed = True
                break
            if changed:
                break
    return K, powers, scale


def _relu_monomial(K, powers, tol, memo=None):
    """(E[prod_i (z_i)_+^{p_i}], error) for z ~ N(0, K); p_i = 0 means the indicator 1{z_i > 0}.

    Derived (Stein's lemma E[z_a F] = sum_j K_aj E[d_j F]) with F = (z_a)_+^{p_a - 1} x rest:
    d_j (z_j)_+^q = q (z_j)_+^{q-1} (q >= 1; (z)_+^0 is the indicator) and d_j 1{z_j > 0} = delta(z_j),
    E[delta(z_j) R] = E[R | z_j = 0] / sqrt(2 pi K_jj) with the zero-mean conditional kernel.
    Every step lowers the total power or the dimension; the base case (all indicators) is an orthant probability.
    ``memo`` caches repeated sub-expectations within one call.
    """
    memo = {} if memo is None else memo
    key = (tuple(map(tuple, K)), tuple(powers))
    if key not in memo:
        memo[key] = _relu_monomial_uncached(K, powers, tol, memo)
    return memo[key]


def _relu_monomial_uncached(K, powers, tol, memo):
    merged = _merge_degenerate(K, powers, tol)
    if merged is None:
        return mpmath.mpf(0), mpmath.mpf(0)
    K, powers, scale = merged
    if all(p == 0 for p in powers):
        v, e = _orthant(K)
        return scale * v, abs(scale) * e
    a = max(range(len(powers)), key=lambda i: powers[i])
    rest = list(powers)
    rest[a] -= 1  # F = (z_a)_+^{p_a - 1} x prod_{i != a} (z_i)_+^{p_i}
    total, err = mpmath.mpf(0), mpmath.mpf(0)
    for j, q in enumerate(rest):
        if K[a][j] == 0:
            continue
        if q >= 1:
            lowered = list(rest)
            lowered[j] -= 1
            v, e = _relu_monomial(K, lowered, tol, memo)
            coef = K[a][j] * q
        else:
            Kc, keep = _condition_on_zero(K, j)
            v, e = _relu_monomial(Kc, [rest[i] for i in keep], tol, memo)
            coef = K[a][j] / mpmath.sqrt(2 * mpmath.pi * K[j][j])
        total += coef * v
        err += abs(coef) * e
    return scale * total, abs(scale) * err


def mp_homogeneous_expect(activation, K, spec, dps: int = MP_DPS):
    """(value, error) of E[prod_i sigma(z_i)^{p_i} sigma'(z_i)^{d_i}], z ~ N(0, K), any <= 4 inputs, mpmath.

    ``spec`` = [(p_i, d_i), ...] per input of the k x k kernel ``K`` (inputs with p = d = 0 are ignored).
    Each factor splits as a_+^{p+d} (z)_+^p + (-1)^p a_-^{p+d} (-z)_+^p (power 0: the indicator), the sign
    choices flip rows/columns of K, and each ReLU monomial is reduced exactly by Stein's lemma to orthant
    probabilities (:func:`_relu_monomial`): closed forms up to 3 inputs, a 1-D quadrature (Plackett) at 4.
    The error is the quadrature's estimate (0 for <= 3 inputs, up to the working precision).
    Rank-deficient kernels (inputs +-collinear within 10^{-(dps-5)}) are reduced exactly.
    """
    act = get_activation(activation)
    ap, am = act._require_homogeneous()
    used = [i for i, (p, d) in enumerate(spec) if p + d > 0]
    if len(used) > 4:
        raise ValueError(f"K: homogeneous expectations are implemented for at most 4 distinct inputs, got {len(used)}")
    with mpmath.workdps(dps + 10):
        Km = [[_mp(K[i][j]) for j in used] for i in used]
        tol = mpmath.mpf(10) ** (-(dps - 5))
        coefs = []
        for i in used:
            p, d = spec[i]
            coefs.append(((1, _mp(ap) ** (p + d)), (-1, (-1) ** p * _mp(am) ** (p + d))))
        total, err, memo = mpmath.mpf(0), mpmath.mpf(0), {}
        for choice in itertools.product(*coefs):
            c = mpmath.fprod(cc for _, cc in choice)
            if c == 0:
                continue
            signs = [s for s, _ in choice]
            Ks = [[signs[a] * signs[b] * Km[a][b] for b in range(len(used))] for a in range(len(used))]
            v, e = _relu_monomial(Ks, [spec[i][0] for i in used], tol, memo)
            total += c * v
            err += abs(c) * e
        return +total, +err + mpmath.mpf(10) ** (-dps) * abs(total)


# ============================================================== erf and sin closed forms
def erf_kernel(K=(Kaa, Kab, Kbb)) -> sp.Expr:
    """<erf(z_a) erf(z_b)> = (2/pi) arcsin(2K_ab / sqrt((1+2K_aa)(1+2K_bb)))  (Williams 1997)."""
    ka, kab, kb = (sp.sympify(x) for x in K)
    return 2 / sp.pi * sp.asin(2 * kab / sp.sqrt((1 + 2 * ka) * (1 + 2 * kb)))


def erf_derivative_kernel(K=(Kaa, Kab, Kbb)) -> sp.Expr:
    """<erf'(z_a) erf'(z_b)> = (4/pi) / sqrt((1+2K_aa)(1+2K_bb) - 4K_ab^2)  (Gaussian integral of e^{-z.z})."""
    ka, kab, kb = (sp.sympify(x) for x in K)
    return 4 / sp.pi / sp.sqrt((1 + 2 * ka) * (1 + 2 * kb) - 4 * kab**2)


def sin_moment(i: int, j: int, K=(Kaa, Kab, Kbb)) -> sp.Expr:
    """<sin^(i)(z_a) sin^(j)(z_b)> with sin^(i)(t) = sin(t + i pi/2)  (derived from E e^{i(z_a +- z_b)}).

    = (1/2)[e^{-(K_aa+K_bb-2K_ab)/2} cos((i-j)pi/2) - e^{-(K_aa+K_bb+2K_ab)/2} cos((i+j)pi/2)].
    """
    ka, kab, kb = (sp.sympify(x) for x in K)
    return (sp.exp(-(ka + kb - 2 * kab) / 2) * sp.cos((i - j) * sp.pi / 2)
            - sp.exp(-(ka + kb + 2 * kab) / 2) * sp.cos((i + j) * sp.pi / 2)) / 2


def gelu_kernel(K=(Kaa, Kab, Kbb)) -> sp.Expr:
    """<gelu(z_a) gelu(z_b)>, gelu(t) = t Phi(t) (Tsuchida et al., arXiv 2002.08517; neural-tangents ``Gelu``):

    K_ab/4 + [(K_ab^2 + K_aa K_bb delta^2)/((1+K_aa)(1+K_bb) delta) + K_ab arctan(K_ab/delta)]/(2 pi),
    delta = sqrt((1+K_aa)(1+K_bb) - K_ab^2).  The derivative kernel <gelu' gelu'> is its K_ab-derivative
    (Price's theorem).
    """
    ka, kab, kb = (sp.sympify(x) for x in K)
    prod1 = (1 + ka) * (1 + kb)
    delta = sp.sqrt(prod1 - kab**2)
    return kab / 4 + ((kab**2 + ka * kb * delta**2) / (prod1 * delta) + kab * sp.atan(kab / delta)) / (2 * sp.pi)


@lru_cache(maxsize=None)
def _symbolic_maps(name: str):
    """Cached closed forms in the symbols (K_aa, K_ab, K_bb) and K: (F, Fdot, g, gdot) or Nones."""
    act = get_activation(name)
    if act.family == "homogeneous":
        return (_homogeneous_moment_raw(act, (1, 0), (1, 0)), _homogeneous_moment_raw(act, (0, 1), (0, 1)),
                act.A2 * Ksym, act.A2 + 0 * Ksym)
    if act.family == "gelu":
        F = gelu_kernel()
        Fdot = sp.diff(F, Kab)
        diag = {Kaa: Ksym, Kab: Ksym, Kbb: Ksym}
        return F, Fdot, F.xreplace(diag), Fdot.xreplace(diag)
    if act.family == "erf":
        return (erf_kernel(), erf_derivative_kernel(),
                2 / sp.pi * sp.asin(2 * Ksym / (1 + 2 * Ksym)), 4 / sp.pi / sp.sqrt(1 + 4 * Ksym))
    if act.family == "sin":
        return sin_moment(0, 0), sin_moment(1, 1), (1 - sp.exp(-2 * Ksym)) / 2, (1 + sp.exp(-2 * Ksym)) / 2
    return None, None, None, None


def _subs2(expr, K):
    if expr is None:
        return None
    return expr.xreplace(dict(zip((Kaa, Kab, Kbb), (sp.sympify(x) for x in K))))


def kernel_map(activation, K=(Kaa, Kab, Kbb)):
    """Closed form of <sigma(z_a) sigma(z_b)>_K (sympy; K=(K_aa,K_ab,K_bb)), or None if there is none."""
    act = get_activation(activation)
    return _subs2(_symbolic_maps(act.name)[0], K) if act.name in _registered() else None


def derivative_kernel_map(activation, K=(Kaa, Kab, Kbb)):
    """Closed form of <sigma'(z_a) sigma'(z_b)>_K, or None."""
    act = get_activation(activation)
    return _subs2(_symbolic_maps(act.name)[1], K) if act.name in _registered() else None


def variance_map(activation, K=Ksym):
    """Closed form of g(K) = <sigma(z)^2>_K (single input), or None."""
    act = get_activation(activation)
    g = _symbolic_maps(act.name)[2] if act.name in _registered() else None
    return None if g is None else g.xreplace({Ksym: sp.sympify(K)})


def derivative_variance_map(activation, K=Ksym):
    """Closed form of <sigma'(z)^2>_K, or None."""
    act = get_activation(activation)
    g = _symbolic_maps(act.name)[3] if act.name in _registered() else None
    return None if g is None else g.xreplace({Ksym: sp.sympify(K)})


def _registered():
    from dltv.theory.activations import activation_names
    return activation_names()


@lru_cache(maxsize=None)
def mp_maps(name: str):
    """mpmath-lambdified closed forms (F, Fdot, g, gdot) for a closed-form activation, or None."""
    F, Fd, g, gd = _symbolic_maps(name)
    if F is None:
        return None
    two = lambda e: sp.lambdify((Kaa, Kab, Kbb), e, "mpmath")  # noqa: E731
    one = lambda e: sp.lambdify(Ksym, e, "mpmath")  # noqa: E731
    return two(F), two(Fd), one(g), one(gd)


# ============================================================== float64 quadrature
_GH_DEGREE = {1: 200, 2: 96, 3: 40, 4: 24}


@lru_cache(maxsize=None)
def _gh(deg: int):
    x, w = hermegauss(deg)
    return x, w / np.sqrt(2 * np.pi)


def _chol(K: np.ndarray) -> np.ndarray:
    """Lower Cholesky factor of a PSD matrix (eigen-decomposition fallback when singular)."""
    try:
        return np.linalg.cholesky(K)
    except np.linalg.LinAlgError:
        vals, vecs = np.linalg.eigh(K)
        root = vecs * np.sqrt(np.clip(vals, 0, None))
        q, r = np.linalg.qr(root.T)
        lower = r.T * np.sign(np.diag(r))[None, :]
        return lower


def gh_expect(fn, K, degree: int | None = None, error: bool = False):
    """E[fn(z)] by tensor Gauss-Hermite quadrature, z ~ N(0, K) in d dims; fn takes d arrays.

    Slow convergence for tanh-like integrands (poles at distance pi/(2 sqrt K) from the real axis).
    Measured errors of <tanh(z_a) tanh(z_b)> against the 30-digit Mehler series, by nodes per input:

        K (K_aa, K_ab, K_bb)    48        72        96 (default)   128
        (0.4, 0.1, 0.4)         4e-14     5e-17     7e-18          2e-17
        (1, 0.5, 1)             3e-9      2e-11     3.7e-13        3e-15
        (1.2, 0.3, 0.6)         8e-9      9e-11     2e-12          3e-14
        (2.5, 0.75, 2.5)        1e-6      5e-8      4e-9           2e-10

    and for <tanh^2>_K with 200 nodes: 3e-16 at K = 1, 3e-12 at K = 2, 8e-8 at K = 5.  With ``error``
    returns (value, |Q_n - Q_{3n/4}| + 1e-16 |value|): the change from a rule with 3/4 of the nodes,
    which over-states the error of Q_n (e.g. 2e-11 for the 3.7e-13 above).  The recursions use
    :func:`normal_expect` instead; this is kept for explicit ``degree`` requests.
    """
    K = as_kernel(K)
    d = K.shape[0]
    deg = degree or _GH_DEGREE.get(d, 16)
    value = _gh_rule(fn, K, deg)
    if not error:
        return value
    coarse = _gh_rule(fn, K, max(1, (3 * deg) // 4))
    return value, abs(value - coarse) + 1e-16 * abs(value)


def _gh_rule(fn, K: np.ndarray, deg: int) -> float:
    d = K.shape[0]
    x, w = _gh(deg)
    grids = np.meshgrid(*([x] * d), indexing="ij")
    wts = np.ones_like(grids[0])
    for g in np.meshgrid(*([w] * d), indexing="ij"):
        wts = wts * g
    u = np.stack([g.ravel() for g in grids])
    z = _chol(K) @ u
    return float(np.sum(wts.ravel() * fn(*z)))


_TRAP_RADIUS = 10.0  # |u| <= 10 in standard-normal coordinates: the Gaussian tail beyond is < 1e-20
_TRAP_FINEST = {1: 2.0**-8, 2: 2.0**-5, 3: 2.0**-3, 4: 2.0**-2}
_TRAP_RTOL = 1e-13
_CHUNK = 2_000_000


def _psd_factor(K: np.ndarray) -> np.ndarray:
    """B (d x r) with B B^T = K, r = numerical rank (eigenvalues <= 1e-13 max dropped: rank-deficient K exactly)."""
    vals, vecs = np.linalg.eigh(K)
    keep = vals > 1e-13 * max(vals.max(), 0.0)
    return vecs[:, keep] * np.sqrt(vals[keep])


def _trapezoid(fn, B, h):
    """(sum, sum of |terms|) of h^r sum_u phi(u) fn(B u) over the grid h Z^r within the ball |u| <= R."""
    r = B.shape[1]
    x = np.arange(-_TRAP_RADIUS, _TRAP_RADIUS + h / 2, h)
    total, absolute = 0.0, 0.0
    heads = [()] if x.size ** r <= _CHUNK else [(v,) for v in x]  # chunk over the first coordinate
    for head in heads:
        tail = list(np.meshgrid(*([x] * (r - len(head))), indexing="ij"))
        u = np.stack([np.full(tail[0].shape, v) for v in head] + tail).reshape(r, -1)
        sq = np.sum(u * u, axis=0)
        inside = sq <= _TRAP_RADIUS**2
        u, sq = u[:, inside], sq[inside]
        terms = np.exp(-sq / 2) * fn(*(B @ u))
        total += float(np.sum(terms))
        absolute += float(np.sum(np.abs(terms)))
    norm = h**r / (2 * np.pi) ** (r / 2)
    return total * norm, absolute * norm


def normal_expect(fn, K, error: bool = False, rtol: float = _TRAP_RTOL):
    """E[fn(z)], z ~ N(0, K) in d <= 4 dims (fn takes d arrays), with a stated error.

    Trapezoid rule in standard-normal coordinates u (z = B u, B B^T = K; a rank-deficient K
    integrates over its rank only), on the grid h Z^r within |u| <= 10, halving h from 1/2
    until two successive sums agree within ``rtol`` times sum |terms|.  For an integrand
    analytic in the strip |Im u| < a the error is O(e^{-2 pi a / h}) (Trefethen & Weideman,
    SIAM Rev. 2014), so the returned sum (the finer one) is far more accurate than the
    estimate, which is |T_h - T_{h/2}| + 4 eps sum |terms|: tanh at K <= 10 gives <= 1e-15 relative.
    A kinked integrand converges only like h^2: ValueError when the finest grid
    (h = 2^-8, 2^-5, 2^-3, 2^-2 in 1..4 dims) is reached without agreement.
    Returns the value, or (value, error estimate) when ``error``.
    """
    K = as_kernel(K)
    B = _psd_factor(K)
    if B.shape[1] == 0:
        value = float(np.asarray(fn(*np.zeros((K.shape[0], 1))), dtype=float).ravel()[0])
        return (value, 0.0) if error else value
    r = B.shape[1]
    if r > 4:
        raise ValueError(f"K: Gaussian expectations are implemented for at most 4 inputs, got rank {r}")
    h = 0.5
    prev, _ = _trapezoid(fn, B, h)
    while True:
        h /= 2
        value, scale = _trapezoid(fn, B, h)
        diff = abs(value - prev)
        if not np.isfinite(value):
            raise ValueError("activation: the Gaussian expectation is not finite")
        if diff <= rtol * scale:
            err = diff + 4 * np.finfo(float).eps * scale
            return (value, err) if error else value
        if h <= _TRAP_FINEST[r]:
            raise ValueError(f"activation: the Gaussian expectation did not converge (|T_h - T_h/2| = {diff:.1e} "
                             f"at h = {h}); the integrand is not smooth (kinked activation?)")
        prev = value


def expect_product(activation, K, factors, degree: int | None = None, error: bool = False):
    """float64 E[prod_f sigma^(d_f)(z_{a_f})^(p_f)] for factors [(a, d, p), ...], z ~ N(0, K).

    Homogeneous activations: derivative orders <= 1; exact closed forms on <= 2 inputs
    (evaluated in float64, relative error ~1e-15), the exact Stein/orthant reduction on 3-4
    inputs (:func:`mp_homogeneous_expect`, 30 digits, rounded to float64).  Other activations:
    :func:`normal_expect` (error <= 1e-13 relative to E|integrand|, ValueError if not reached),
    or Gauss-Hermite with ``degree`` nodes per dimension when ``degree`` is given (error estimate and
    measured errors in :func:`gh_expect`).
    Returns the value, or (value, error estimate) when ``error``.
    """
    act = get_activation(activation)
    K = as_kernel(K)
    used = sorted({a for a, _, _ in factors})
    sub = K[np.ix_(used, used)]
    idx = {a: i for i, a in enumerate(used)}
    if act.family == "homogeneous":
        ap, am = act.homogeneous
        if ap != am and any(d >= 2 for _, d, p in factors if p > 0):
            raise ValueError(f"factors: sigma'' of the kinked activation {act.name!r} is a distribution "
                             f"(a delta at 0), not a function")
        if all(d <= 1 for _, d, _ in factors):
            spec = [[0, 0] for _ in used]
            for a, d, p in factors:
                spec[idx[a]][d] += p
            if len(used) <= 2:
                value = _homogeneous_numeric(act, spec, sub)
                return (value, 4 * np.finfo(float).eps * abs(value)) if error else value
            v, e = mp_homogeneous_expect(act, sub, spec)
            value = float(v)
            return (value, float(e) + np.finfo(float).eps * abs(value)) if error else value
    fns = [(idx[a], act.numpy(d), p) for a, d, p in factors]

    def integrand(*z):
        out = 1.0
        for i, f, p in fns:
            out = out * f(z[i]) ** p
        return out
    if degree is not None:
        return gh_expect(integrand, sub, degree, error=error)
    return normal_expect(integrand, sub, error=error)


_COLLINEAR_RTOL = 8 * np.finfo(float).eps


def _homogeneous_numeric(act, spec, sub) -> float:
    """float64 closed form at a 1x1 or 2x2 kernel, evaluated through the angle theta.

    theta = arctan2(sqrt(K_aa K_bb - K_ab^2), K_ab) is accurate where arccos(rho) is not
    (rho within rounding of +-1); a determinant within float64 rounding of 0
    (<= 8 eps K_aa K_bb) is the rank-deficient kernel: theta = 0 or pi exactly, so for rho = 1
    the two-input expectation is the one-input one.
    """
    if len(spec) == 1:
        return float(_lambdified_1d(act.name, *spec[0])(sub[0, 0]))
    ka, kab, kb = sub[0, 0], sub[0, 1], sub[1, 1]
    if ka == 0 or kb == 0:  # a degenerate input is identically 0: sigma(0) = 0
        for i, kii in enumerate((ka, kb)):
            if kii == 0 and spec[i][0] == 0:
                raise ValueError("K has a zero diagonal entry where sigma'(0) is undefined")
        return 0.0
    det = ka * kb - kab * kab
    det = 0.0 if det <= _COLLINEAR_RTOL * ka * kb else det
    theta = np.arctan2(np.sqrt(det), kab)
    return float(_lambdified_2d(act.name, tuple(spec[0]), tuple(spec[1]))(ka, kb, theta))


@lru_cache(maxsize=None)
def _lambdified_1d(name, power, dpower):
    return sp.lambdify(Ksym, homogeneous_moment_1d(name, power, dpower), "numpy")


@lru_cache(maxsize=None)
def _lambdified_2d(name, a, b):
    return sp.lambdify((Kaa, Kbb, _theta), _homogeneous_theta_form(name, a, b), modules=["numpy"])


def _pair_matrix(activation, K, order: int) -> np.ndarray:
    """float64 <sigma^(order)(z_a) sigma^(order)(z_b)>_K for every pair of a k x k kernel."""
    K = as_kernel(K)
    k = K.shape[0]
    out = np.empty((k, k))
    for a in range(k):
        for b in range(a, k):
            out[a, b] = out[b, a] = expect_product(activation, K, [(a, order, 1), (b, order, 1)])
    return out


def kernel_matrix(activation, K) -> np.ndarray:
    """float64 F(K)_{ab} = <sigma(z_a) sigma(z_b)>_K for a k x k kernel."""
    return _pair_matrix(activation, K, 0)


def derivative_kernel_matrix(activation, K) -> np.ndarray:
    """float64 <sigma'(z_a) sigma'(z_b)>_K for a k x k kernel."""
    return _pair_matrix(activation, K, 1)


# ============================================================== mpmath quadrature (>= 30 digits)
def _mp(x):
    if isinstance(x, sp.Basic):
        return mpmath.mpf(sp.N(x, mpmath.mp.dps + 5))
    return mpmath.mpf(x)


def mp_expect_1d(fn, K, dps: int = MP_DPS):
    """(E[fn(z)], error) for z ~ N(0, K) by mpmath tanh-sinh quadrature split at 0.

    The error is the larger of mpmath's own estimate and the change from a run at
    dps + 10 digits.
    """
    values = []
    est = mpmath.mpf(0)
    for extra in (5, 15):
        with mpmath.workdps(dps + extra):
            s = mpmath.sqrt(_mp(K))
            v, e = mpmath.quad(lambda x: fn(s * x) * mpmath.exp(-x * x / 2),
                               [-mpmath.inf, 0, mpmath.inf], error=True)
            values.append(v / mpmath.sqrt(2 * mpmath.pi))
            est = max(est, e)
    with mpmath.workdps(dps + 15):
        err = max(abs(values[1] - values[0]), est)
    return values[1], err


def mp_expect_2d(fn, K, dps: int = MP_DPS):
    """(E[fn(z_a, z_b)], error), (z_a, z_b) ~ N(0, K), by nested mpmath quadrature (slow: ~10-60 s).

    Outer variable x (z_a = l11 x), inner y (z_b = l21 x + l22 y) with breakpoints at the
    kinks z_a = 0 and z_b = 0, so kinked activations converge too.
    """
    with mpmath.workdps(dps + 5):
        ka, kab, kb = (_mp(K[0][0]), _mp(K[0][1]), _mp(K[1][1]))
        l11 = mpmath.sqrt(ka)
        l21 = kab / l11
        l22 = mpmath.sqrt(max(kb - l21**2, mpmath.mpf(0)))
        if l22 == 0:  # z_b = (K_ab/K_aa) z_a
            return mp_expect_1d(lambda z: fn(z, l21 / l11 * z), K[0][0], dps)

        def inner(x):
            brk = -l21 * x / l22
            return mpmath.quad(lambda y: fn(l11 * x, l21 * x + l22 * y) * mpmath.exp(-y * y / 2),
                               [-mpmath.inf, brk, mpmath.inf])

        v, e = mpmath.quad(lambda x: inner(x) * mpmath.exp(-x * x / 2),
                           [-mpmath.inf, 0, mpmath.inf], error=True)
        return v / (2 * mpmath.pi), e / (2 * mpmath.pi) + mpmath.mpf(10) ** (-dps - 2)


def mp_expect_polar(fn, K, degree: int, dps: int = MP_DPS):
    """(E[fn(z_a, z_b)], error) for fn positively homogeneous of ``degree`` (fast, 1-D).

    E = 2^{m/2} Gamma(m/2+1)/(2 pi) * int_0^{2pi} fn(L (cos phi, sin phi)) dphi, with the
    angular integral done numerically, broken at the angles where z_a = 0 or z_b = 0.
    """
    vals = []
    est = mpmath.mpf(0)
    for extra in (5, 15):
        with mpmath.workdps(dps + extra):
            ka, kab, kb = (_mp(K[0][0]), _mp(K[0][1]), _mp(K[1][1]))
            l11 = mpmath.sqrt(ka)
            l21 = kab / l11
            l22 = mpmath.sqrt(max(kb - l21**2, mpmath.mpf(0)))
            pi = mpmath.pi
            b0 = mpmath.atan2(-l21, l22) % pi
            brk = sorted({mpmath.mpf(0), pi / 2, pi, 3 * pi / 2, 2 * pi, b0, b0 + pi})
            v, e = mpmath.quad(lambda ph: fn(l11 * mpmath.cos(ph),
                                             l21 * mpmath.cos(ph) + l22 * mpmath.sin(ph)),
                               brk, error=True)
            rad = mpmath.power(2, mpmath.mpf(degree) / 2) * mpmath.gamma(mpmath.mpf(degree) / 2 + 1)
            vals.append(v * rad / (2 * pi))
            est = max(est, e * rad / (2 * pi))
    with mpmath.workdps(dps + 15):
        return +vals[1], max(abs(vals[1] - vals[0]), est)


def mp_expect_product(activation, K, factors, dps: int = MP_DPS):
    """(value, error) of E[prod sigma^(d)(z_a)^p] at >= ``dps`` digits; factors [(a, d, p), ...], <= 2 inputs.

    Homogeneous activations: polar route (fast); others: 1-D quad or nested 2-D quad.
    """
    act = get_activation(activation)
    used = sorted({a for a, _, _ in factors})
    if len(used) > 2:
        raise ValueError("mp_expect_product supports at most 2 distinct inputs")
    sub = [[K[i][j] for j in used] for i in used]
    idx = {a: i for i, a in enumerate(used)}
    fns = [(idx[a], act.mpmath(d), p) for a, d, p in factors]

    def integrand(*z):
        out = mpmath.mpf(1)
        for i, f, p in fns:
            out *= f(z[i]) ** p
        return out

    if len(used) == 1:
        return mp_expect_1d(lambda z: integrand(z), sub[0][0], dps)
    if act.family == "homogeneous":
        degree = sum(p for _, d, p in factors if d == 0)
        return mp_expect_polar(integrand, sub, degree, dps)
    return mp_expect_2d(integrand, sub, dps)


def mp_value(expr, dps: int = MP_DPS) -> mpmath.mpf:
    """A sympy number evaluated with mpmath at ``dps`` (+5 guard) digits."""
    with mpmath.workdps(dps + 5):
        return mpmath.mpf(sp.N(expr, dps + 5))


# ============================================================== Mehler (Hermite) expansion, >= 30 digits
# E[f(z_a) g(z_b)] = sum_k rho^k a_k b_k  (Mehler 1866), rho = K_ab / sqrt(K_aa K_bb), with the
# normalised Hermite coefficients a_k = E[f(sqrt(K_aa) x) He_k(x)] / sqrt(k!), x ~ N(0, 1) (b_k likewise
# at K_bb).  The coefficients come from ONE 1-d rule per (function, variance): the trapezoid rule on the
# nodes x_j = j h (|x_j| <= R) applied to f(sqrt(K) x) h_k(x) e^{-x^2/4}/sqrt(2 pi), where
# h_k(x) = He_k(x) e^{-x^2/4}/sqrt(k!) are the Hermite functions (|h_k| <= 1.09, Cramer), computed by the
# stable recurrence h_{k+1} = (x h_k - sqrt(k) h_{k-1})/sqrt(k+1) in fixed-point integer arithmetic.
_MEHLER_LEVELS = (2, 3, 4, 5, 6)  # node spacing h = 2^-level
_MEHLER_TERMS = (160, 320, 640, 1280)  # coefficients per function and variance, grown when the tail needs it
_MEHLER_WINDOW = 8
_HERMITE_ROWS: dict = {}
_HERMITE_TABLES: dict = {}
_VARIANCE_CACHE_SIZE = 1024  # node values, products and coefficients per (activation, K, ...): bounded


class _BoundedCache(OrderedDict):
    """A dict that forgets its oldest entries beyond ``_VARIANCE_CACHE_SIZE`` (deep recursions visit many K)."""

    def __getitem__(self, key):
        self.move_to_end(key)
        return super().__getitem__(key)

    def __setitem__(self, key, value):
        super().__setitem__(key, value)
        if len(self) > _VARIANCE_CACHE_SIZE:
            self.popitem(last=False)


def _variance_cache(act: Activation) -> _BoundedCache:
    """The activation's bounded cache of variance-dependent Mehler data."""
    return act._cache.setdefault("mehler", _BoundedCache())


def clear_caches() -> None:
    """Forget every cached closed form, Hermite table and coefficient (for cold-start timings)."""
    from dltv.theory.activations import activation_names
    _HERMITE_ROWS.clear()
    _HERMITE_TABLES.clear()
    for name in activation_names():
        get_activation(name)._cache.clear()
    for fn in (_symbolic_maps, mp_maps, _homogeneous_theta_form, _quadrant_angle_integral, _node_weights,
               _lambdified_1d, _lambdified_2d):
        fn.cache_clear()


def _prec_bits(dps: int) -> int:
    """Fixed-point bits for a ``dps``-digit result: dps + 20 guard digits."""
    return int((dps + 20) * 3.3220) + 16


def _node_radius(prec: int) -> float:
    """R with e^{-R^2/4} <= 2^-prec: the Hermite-function weight beyond R is below the fixed-point unit."""
    return float(np.sqrt(4 * prec * np.log(2))) + 2.0


def _to_fixed(x, prec: int) -> int:
    """round(x 2^prec) for an mpf at its own precision (no rounding to the context's)."""
    return mpmath.libmp.to_fixed(_mpf_key(x), prec)


def _mpf_key(x):
    """The exact (sign, mantissa, exponent, bits) of an mpf, or of an int/str converted at 200 bits."""
    if isinstance(x, mpmath.mpf):
        return x._mpf_
    with mpmath.workprec(200):
        return mpmath.mpf(x)._mpf_


def _hermite_rows(level: int, prec: int, nterms: int) -> np.ndarray:
    """Fixed-point (unit 2^-prec) h_k(x_j), k < nterms, at x_j = j 2^-level, j = 0..R 2^level; shape (nterms, J+1).

    Cached per (level, prec) and extended on demand (the recurrence is forward-stable for Hermite functions).
    """
    key = (level, prec, nterms)
    if key in _HERMITE_TABLES:
        return _HERMITE_TABLES[key]
    rows = _HERMITE_ROWS.setdefault((level, prec), [])
    if len(rows) < nterms:
        one = 1 << prec
        J = int(np.ceil(_node_radius(prec) * 2**level))
        with mpmath.workprec(prec + 20):
            h = mpmath.ldexp(1, -level)
            x = np.array([_to_fixed(j * h, prec) for j in range(J + 1)], dtype=object)
            if not rows:
                rows.append(np.array([_to_fixed(mpmath.exp(-(j * h) ** 2 / 4), prec) for j in range(J + 1)],
                                     dtype=object))
                rows.append((x * rows[0]) >> prec)
            while len(rows) < nterms:
                k = len(rows) - 1
                a = _to_fixed(1 / mpmath.sqrt(k + 1), prec)
                b = _to_fixed(mpmath.sqrt(mpmath.mpf(k) / (k + 1)), prec)
                rows.append((((x * rows[k]) >> prec) * a - rows[k - 1] * b) >> prec)
    _HERMITE_TABLES[key] = np.array(rows[:nterms], dtype=object)
    return _HERMITE_TABLES[key]


def _spec_function(act: Activation, spec: tuple):
    """t -> prod over (order, power) in ``spec`` of sigma^(order)(t)^power (mpmath)."""
    fns = [(act.mpmath(order), power) for order, power in spec]

    def f(z):
        out = mpmath.mpf(1)
        for fn, power in fns:
            out *= fn(z) ** power
        return out
    return f


_MAX_ORDER = 4


@lru_cache(maxsize=None)
def _node_weights(level: int, prec: int):
    """Fixed-point weights at x_j = j h (j = 0..J): (h e^{-x_j^2/4}/sqrt(2 pi), h e^{-x_j^2/2}/sqrt(2 pi))."""
    J = int(np.ceil(_node_radius(prec) * 2**level))
    with mpmath.workprec(prec + 20):
        h = mpmath.ldexp(1, -level)
        norm = h / mpmath.sqrt(2 * mpmath.pi)
        quarter = [mpmath.exp(-(j * h) ** 2 / 4) for j in range(J + 1)]
        return (np.array([_to_fixed(norm * q, prec) for q in quarter], dtype=object),
                np.array([_to_fixed(norm * q * q, prec) for q in quarter], dtype=object))


def _block(plus, minus, prec: int):
    """Block floating point with one exponent e for both lists: ((ints, e), (ints, e)), values ~ ints 2^-(prec+e)."""
    big = max((abs(float(v)) for v in plus + minus), default=0.0)
    e = 0 if big == 0 else -math.frexp(big)[1]
    return tuple((np.array([_to_fixed(v, prec + e) for v in side], dtype=object), e) for side in (plus, minus))


def _node_values(act: Activation, K, level: int, prec: int, order: int):
    """sigma^(d)(+-sqrt(K) x_j), d = 0..order, at the nodes x_j = j 2^-level (j = 0..J), as block fixed-point
    arrays {d: ((plus ints, e), (minus ints, e))}; cached on the activation (a finer level reuses the
    previous level's values at its even nodes)."""
    order = 0 if order == 0 else (1 if order == 1 else _MAX_ORDER)
    key = ("nodes", _mpf_key(K), level, prec, order)
    if key not in _variance_cache(act):
        J = int(np.ceil(_node_radius(prec) * 2**level))
        derivs = act.mpmath_derivatives(order)
        coarse = _variance_cache(act).get(("nodes-mp", _mpf_key(K), level - 1, prec, order))
        with mpmath.workprec(prec + 20):
            h = mpmath.ldexp(1, -level)
            s = mpmath.sqrt(K)
            if coarse is None:
                plus = [derivs(s * j * h) for j in range(J + 1)]
                minus = [derivs(-s * j * h) for j in range(J + 1)]
            else:  # the even nodes are the previous level's
                plus = [coarse[0][j // 2] if j % 2 == 0 else derivs(s * j * h) for j in range(J + 1)]
                minus = [coarse[1][j // 2] if j % 2 == 0 else derivs(-s * j * h) for j in range(J + 1)]
        _variance_cache(act)[("nodes-mp",) + key[1:]] = (plus, minus)
        _variance_cache(act)[key] = {d: _block([v[d] for v in plus], [v[d] for v in minus], prec)
                                     for d in range(order + 1)}
    return _variance_cache(act)[key]


def _spec_arrays(act: Activation, spec: tuple, K, level: int, prec: int):
    """(plus, minus, e): f = spec at +-sqrt(K) x_j as fixed-point ints with unit 2^-(prec+e)."""
    key = ("spec", spec, _mpf_key(K), level, prec)
    if key not in _variance_cache(act):
        values = _node_values(act, K, level, prec, max(order for order, _ in spec))
        out = []
        for side in (0, 1):
            arr, e = None, 0
            for order, power in spec:
                a, ea = values[order][side]
                for _ in range(power):
                    arr, e = (a, ea) if arr is None else ((arr * a) >> prec, e + ea)
            out.append((arr, e))
        (plus, e), (minus, _) = out
        _variance_cache(act)[key] = (plus, minus, e)
    return _variance_cache(act)[key]


def _hermite_coefficients(act: Activation, spec: tuple, K, level: int, nterms: int, dps: int):
    """(a, |a|, err): normalised Hermite coefficients a_k = E[f(sqrt(K) x) He_k(x)]/sqrt(k!), k < nterms, f = spec
    (mpf), their magnitudes and error estimates (float64).

    Trapezoid rule with h = 2^-level; err_k = |T_h - T_2h| (T_2h: the previous level; inf at the first), an
    over-estimate of the error of T_h, which converges like e^{-2 pi tau/h} for f analytic in the
    strip |Im x| < tau (Trefethen & Weideman, SIAM Rev. 2014).  Cached per (spec, K, level, nterms, dps)
    on the activation.
    """
    key = ("hermite", spec, _mpf_key(K), level, nterms, dps)
    if key in _variance_cache(act):
        return _variance_cache(act)[key]
    prec = _prec_bits(dps)
    rows = _hermite_rows(level, prec, nterms)
    J = rows.shape[1] - 1
    quarter, _ = _node_weights(level, prec)
    plus, minus, e = _spec_arrays(act, spec, K, level, prec)
    fp, fm = (quarter * plus) >> prec, (quarter * minus) >> prec
    even, odd = fp + fm, fp - fm
    even[0], odd[0] = fp[0], 0
    fine = np.empty(nterms, dtype=object)
    fine[0::2] = rows[0::2].dot(even)
    fine[1::2] = rows[1::2].dot(odd)
    unit = -(2 * prec + e)
    with mpmath.workprec(prec + 20):
        a = [mpmath.mpf((int(v), unit)) for v in fine]
    # magnitudes in float64 for the error bookkeeping: |a_k| and err_k = |T_h - T_2h| + fixed-point rounding
    size = np.abs(fine.astype(float)) * 2.0 ** unit
    if level == _MEHLER_LEVELS[0]:
        err = np.full(nterms, np.inf)
    else:
        coarse, _, _ = _hermite_coefficients(act, spec, K, level - 1, nterms, dps)
        with mpmath.workprec(prec + 20):
            diff = np.array([float(abs(x - y)) for x, y in zip(a, coarse)])
        err = diff + float(J + 1) * 2.0 ** (2 - prec + e)
    _variance_cache(act)[key] = (a, size, err)
    return a, size, err


def mp_node_expect(activation, spec: tuple, K, dps: int = MP_DPS) -> tuple[mpmath.mpf, mpmath.mpf]:
    """(E[f(z)], error), z ~ N(0, K), f = ``spec`` (as in :func:`mehler_expect`) by the trapezoid rule on the
    Mehler nodes: the first spacing h = 2^-level whose |T_h - T_2h| is below 10^-(dps+3) max(|E|, 10^-dps)
    returns T_h with that difference (plus the fixed-point rounding) as its error; else 1-d tanh-sinh."""
    act = get_activation(activation)
    prec = _prec_bits(dps)
    with mpmath.workdps(dps + 15):
        k = _mp(K)
        if k == 0:
            return _spec_function(act, spec)(mpmath.mpf(0)), mpmath.mpf(0)
    prev = None
    for level in _MEHLER_LEVELS:
        _, half = _node_weights(level, prec)
        plus, minus, e = _spec_arrays(act, spec, k, level, prec)
        total = int(half.dot(plus + minus)) - half[0] * minus[0]
        with mpmath.workprec(prec + 20):
            value = mpmath.mpf((total, -(2 * prec + e)))
            if prev is not None:
                err = abs(value - prev) + mpmath.mpf((len(plus) << 3, -(prec + e)))
                if err <= mpmath.mpf(10) ** (-dps - 3) * max(abs(value), mpmath.mpf(10) ** -dps):
                    return value, err
            prev = value
    return mp_expect_1d(_spec_function(act, spec), k, dps)


def _series_cut(terms: np.ndarray, tol: float, window: int = _MEHLER_WINDOW):
    """(N, tail): the first N (a multiple of ``window``) whose estimated tail sum_{k>=N} |t_k| is <= tol.

    ``terms`` are |t_k| in float64 (magnitudes only).  The tail after window i is extrapolated
    geometrically from the window maxima E_i with the decay ratio q = E_i/E_{i-1}: window E_i q/(1-q).
    For terms decaying like e^{-c sqrt(k)} (analytic activations at |rho| = 1) the local ratio gives the
    tail to leading order; faster (geometric) decay is over-estimated.  (len, inf) when no N qualifies.
    """
    n = len(terms) // window
    maxima = terms[:n * window].reshape(n, window).max(axis=1)
    for i in range(1, n):
        e, prev = maxima[i], maxima[i - 1]
        if e == 0:
            return (i + 1) * window, 0.0
        q = e / prev if prev > 0 else 1.0
        tail = window * e * q / (1 - q) if q < 1 else np.inf
        if tail <= tol:
            return (i + 1) * window, tail
    return len(terms), np.inf


class MehlerError(ValueError):
    """The Mehler series did not reach the requested digits within its term and node budget."""


def mehler_expect(activation, spec_a: tuple, spec_b: tuple, K_aa, K_ab, K_bb,
                   dps: int = MP_DPS) -> tuple[mpmath.mpf, mpmath.mpf]:
    """(E[f(z_a) g(z_b)], error) at >= ``dps`` digits by the Mehler expansion (smooth activations).

    f, g are products of derivatives of sigma: ``spec`` = ((order, power), ...), e.g. ((0, 1),) is sigma,
    ((1, 1),) is sigma', ((0, 2),) is sigma^2.  E = sum_{k<N} rho^k a_k b_k with the coefficients of
    :func:`_hermite_coefficients` at K_aa and K_bb.  The error is the quadrature error of the
    coefficients propagated through the sum plus the estimated tail (:func:`_series_cut`); it is
    held below 10^-(dps+3) sqrt(<f^2><g^2>) (Parseval norms), growing the node density (h = 1/8 ...
    1/64) and the number of terms (160, 320, 640, 1280) as needed, else :class:`MehlerError`.

    Terms N and node spacing h for 30 digits (measured, <sigma_a sigma_b>, K_aa = K_bb = K):

        tanh K = 0.1, rho = 0.5: N = 48 (h = 1/8)      tanh K = 1, rho = 0.5: N = 80 (h = 1/32)
        tanh K = 1, rho = 0.9: N = 272                 tanh K = 1, rho = 0.99: N = 568
        tanh K = 1, rho = 0.999: N = 640               tanh K = 4, rho = 0.9: N = 424 (h = 1/64)
        silu K = 1, rho = 0.5: N = 56 (h = 1/16)       tanh K = 3, rho = 0.967: N <= 1280 (1.9 s;
                                                       agrees with mp_expect_2d, 124 s, to 1e-34)

    N grows like 33 ln 10 / ln(1/|rho|) for small |rho|; at |rho| -> 1 the decay of the coefficients
    themselves (like e^{-tau sqrt(2k)} each, tau = pi/(2 sqrt K) for tanh: the distance of
    sigma(sqrt(K) x)'s poles from the real axis) must carry the series: ~(33 ln 10/(2 tau))^2/2 terms.
    Beyond 1280 terms the series is refused and :func:`mp_pair_expect` integrates instead.
    """
    act = get_activation(activation)
    with mpmath.workdps(dps + 15):
        ka, kab, kb = _mp(K_aa), _mp(K_ab), _mp(K_bb)
        rho_ = kab / mpmath.sqrt(ka * kb)
    r = abs(float(rho_))
    last = None
    for nterms in _MEHLER_TERMS:
        powers = r ** np.arange(nterms)
        for level in _MEHLER_LEVELS[1:]:  # the first level has no error estimate
            a, fa, ga = _hermite_coefficients(act, spec_a, ka, level, nterms, dps)
            b, fb, gb = _hermite_coefficients(act, spec_b, kb, level, nterms, dps) \
                if (spec_b, kb) != (spec_a, ka) else (a, fa, ga)
            scale = float(np.sqrt(np.sum(fa * fa) * np.sum(fb * fb)))
            tol = scale * 10.0 ** (-dps - 3)
            quad = powers * (fa * gb + fb * ga + ga * gb)
            qerr = float(np.sum(quad))
            N, tail = _series_cut(powers * fa * fb, tol / 2)
            last = (nterms, level, tail, qerr, tol)
            if not qerr <= tol / 2:  # (nan-safe) the coefficients are not yet accurate enough: finer nodes
                continue
            if tail <= tol / 2:
                with mpmath.workdps(dps + 15):
                    value = mpmath.fsum(p * x * y for p, x, y in zip(_powers(rho_, N), a[:N], b[:N]))
                return value, mpmath.mpf(tail + float(np.sum(quad[:N])))
            break  # accurate coefficients, but more terms needed
    raise MehlerError(f"K: the Mehler series for {act.name!r} at rho = {mpmath.nstr(rho_, 6)}, "
                      f"K_aa = {mpmath.nstr(ka, 6)}, K_bb = {mpmath.nstr(kb, 6)} did not reach {dps} digits "
                      f"(terms {last[0]}, h = 2^-{last[1]}, tail {last[2]:.1e}, "
                      f"quadrature {last[3]:.1e}, tolerance {last[4]:.1e})")


def _powers(x, n: int) -> list:
    out = [mpmath.mpf(1)]
    for _ in range(n - 1):
        out.append(out[-1] * x)
    return out


def mp_pair_expect(activation, spec_a: tuple, spec_b: tuple, K_aa, K_ab, K_bb,
                    dps: int = MP_DPS) -> tuple[mpmath.mpf, mpmath.mpf]:
    """(E[f(z_a) g(z_b)], error) at >= ``dps`` digits for a smooth activation; f, g as in :func:`mehler_expect`.

    Where each method is used: a zero variance (z = 0) or |rho| = 1 (z_b = +-sqrt(K_bb/K_aa) z_a)
    reduce to one dimension (:func:`mp_node_expect`, :func:`mp_expect_1d`); otherwise the Mehler
    series (:func:`mehler_expect`, ~0.05-2 s); where it would need more than 1280 terms (|rho| near 1
    at large variance) the nested 2-D quadrature :func:`mp_expect_2d` (~10-60 s).
    """
    act = get_activation(activation)
    fa, fb = _spec_function(act, spec_a), _spec_function(act, spec_b)
    with mpmath.workdps(dps + 15):
        ka, kab, kb = _mp(K_aa), _mp(K_ab), _mp(K_bb)
        zero = mpmath.mpf(0)
        if ka == 0 or kb == 0:
            v, e = mp_node_expect(act, spec_b, kb, dps) if ka == 0 else mp_node_expect(act, spec_a, ka, dps)
            c = fa(zero) if ka == 0 else fb(zero)
            if ka == 0 and kb == 0:
                return fa(zero) * fb(zero), zero
            return c * v, abs(c) * e
        if kab * kab >= ka * kb:
            r = mpmath.sign(kab) * mpmath.sqrt(kb / ka)
            return mp_expect_1d(lambda z: fa(z) * fb(r * z), ka, dps)
    try:
        return mehler_expect(act, spec_a, spec_b, ka, kab, kb, dps)
    except MehlerError:
        return mp_expect_2d(lambda u, v: fa(u) * fb(v), [[ka, kab], [kab, kb]], dps)


# ============================================================== closed forms vs quadrature
def compare_closed_forms(activation, K, dps: int = MP_DPS) -> list[dict]:
    """Each closed form of ``activation`` at the 2x2 kernel ``K`` against >= ``dps``-digit mpmath integration.

    Rows: {"quantity", "closed", "quadrature", "error" (quadrature error estimate),
    "rel_diff"} with mpmath numbers.  Homogeneous class: the integrand (products of the
    activation itself) is integrated over the angle numerically (:func:`mp_expect_polar`);
    erf and sin: one outer mpmath quad of the exact inner Gaussian smoothing
    (E erf(m + sY) = erf(m / sqrt(1+2s^2)), E e^{-(m+sY)^2} = e^{-m^2/(1+2s^2)}/sqrt(1+2s^2),
    E sin(m+sY) = sin(m) e^{-s^2/2}).
    """
    act = get_activation(activation)
    Kq = [[sp.nsimplify(K[0][0]), sp.nsimplify(K[0][1])], [sp.nsimplify(K[1][0]), sp.nsimplify(K[1][1])]]
    triple = (Kq[0][0], Kq[0][1], Kq[1][1])
    rows = []

    def add(name, closed, quad):
        with mpmath.workdps(dps + 10):
            c = mp_value(closed, dps + 5)
            v, e = quad
            rows.append({"quantity": name, "closed": c, "quadrature": v, "error": e,
                         "rel_diff": abs(c - v) / max(abs(c), mpmath.mpf(10) ** (-dps))})

    if act.family == "homogeneous":
        for name, a, b in (("<s_a s_b>", (1, 0), (1, 0)), ("<s'_a s'_b>", (0, 1), (0, 1)),
                           ("<s_a^2 s_b^2>", (2, 0), (2, 0)), ("<s_a^3 s_b>", (3, 0), (1, 0)),
                           ("<s_a^4>", (4, 0), (0, 0))):
            factors = [(0, 0, a[0]), (0, 1, a[1]), (1, 0, b[0]), (1, 1, b[1])]
            factors = [f for f in factors if f[2] > 0]
            if a == (4, 0):
                quad = mp_expect_1d(lambda z: act.mpmath(0)(z) ** 4, Kq[0][0], dps)
            else:
                quad = mp_expect_product(act, Kq, factors, dps)
            add(name, _homogeneous_moment_raw(act, a, b, triple), quad)  # exact; evaluated at dps + 5 digits
        add("<s_a^2>", homogeneous_moment_1d(act, 2, 0, Kq[0][0]),
            mp_expect_1d(lambda z: act.mpmath(0)(z) ** 2, Kq[0][0], dps))
    elif act.family in ("erf", "sin"):
        def conditional(outer, inner):
            def fn(x, l11, l21, s):
                return outer(l11 * x) * inner(l21 * x, s)
            return _mp_conditional(fn, Kq, dps)
        if act.family == "erf":
            add("<erf_a erf_b>", erf_kernel(triple),
                conditional(mpmath.erf, lambda m, s: mpmath.erf(m / mpmath.sqrt(1 + 2 * s * s))))
            g = lambda x: 2 / mpmath.sqrt(mpmath.pi) * mpmath.exp(-x * x)  # noqa: E731
            add("<erf'_a erf'_b>", erf_derivative_kernel(triple),
                conditional(g, lambda m, s: 2 / mpmath.sqrt(mpmath.pi) * mpmath.exp(-m * m / (1 + 2 * s * s))
                            / mpmath.sqrt(1 + 2 * s * s)))
            add("<erf^2>", variance_map(act, Kq[0][0]),
                mp_expect_1d(lambda z: mpmath.erf(z) ** 2, Kq[0][0], dps))
        else:
            add("<sin_a sin_b>", sin_moment(0, 0, triple),
                conditional(mpmath.sin, lambda m, s: mpmath.sin(m) * mpmath.exp(-s * s / 2)))
            add("<cos_a cos_b>", sin_moment(1, 1, triple),
                conditional(mpmath.cos, lambda m, s: mpmath.cos(m) * mpmath.exp(-s * s / 2)))
    else:
        raise ValueError(f"activation must have a closed form (homogeneous, erf, sin); got {act.name!r}")
    return rows


def _mp_conditional(fn, K, dps):
    """(value, error) of E_x[fn(x, l11, l21, l22)], x ~ N(0,1), z_a = l11 x, z_b | x ~ N(l21 x, l22^2)."""
    vals, est = [], mpmath.mpf(0)
    for extra in (5, 15):
        with mpmath.workdps(dps + extra):
            ka, kab, kb = _mp(K[0][0]), _mp(K[0][1]), _mp(K[1][1])
            l11 = mpmath.sqrt(ka)
            l21 = kab / l11
            l22 = mpmath.sqrt(max(kb - l21**2, mpmath.mpf(0)))
            v, e = mpmath.quad(lambda x: fn(x, l11, l21, l22) * mpmath.exp(-x * x / 2),
                               [-mpmath.inf, 0, mpmath.inf], error=True)
            vals.append(v / mpmath.sqrt(2 * mpmath.pi))
            est = max(est, e)
    with mpmath.workdps(dps + 15):
        return +vals[1], max(abs(vals[1] - vals[0]), est)


# ============================================================== neural-tangents' documented formulas
# Encoded independently from the source of google/neural-tangents,
# neural_tangents/_src/stax/elementwise.py (ABRelu, Erf, Gelu kernel_fn); no dependency.
def nt_abrelu(a, b, K_aa, K_ab, K_bb, dps: int = MP_DPS):
    """neural-tangents ``ABRelu(a, b)`` (sigma = a min(x,0) + b max(x,0)): (nngp', dot_sigma).

    theta = arctan2(sqrt(K_aa K_bb - K_ab^2), K_ab), f = (a-b)^2/(2 pi),
    dot_sigma = (a^2+b^2)/2 - f theta,  nngp' = f sqrt(K_aa K_bb - K_ab^2) + dot_sigma K_ab.
    """
    with mpmath.workdps(dps + 5):
        a, b, ka, kab, kb = (_mp(x) for x in (a, b, K_aa, K_ab, K_bb))
        root = mpmath.sqrt(max(ka * kb - kab**2, mpmath.mpf(0)))
        angles = mpmath.atan2(root, kab)
        factor = (a - b) ** 2 / (2 * mpmath.pi)
        dot_sigma = (a**2 + b**2) / 2 - factor * angles
        return factor * root + dot_sigma * kab, dot_sigma


def nt_erf(K_aa, K_ab, K_bb, dps: int = MP_DPS):
    """neural-tangents ``Erf()``: nngp' = (2/pi) arctan2(2K_ab, sqrt(prod - 4K_ab^2)), prod=(1+2K_aa)(1+2K_bb);
    dot_sigma = (4/pi)/sqrt(prod - 4K_ab^2).  Returns (nngp', dot_sigma)."""
    with mpmath.workdps(dps + 5):
        ka, kab, kb = (_mp(x) for x in (K_aa, K_ab, K_bb))
        root = mpmath.sqrt((1 + 2 * ka) * (1 + 2 * kb) - 4 * kab**2)
        return 2 / mpmath.pi * mpmath.atan2(2 * kab, root), 4 / mpmath.pi / root


def nt_gelu(K_aa, K_ab, K_bb, dps: int = MP_DPS):
    """neural-tangents ``Gelu()`` NNGP map (arXiv 2002.08517): with prod = K_aa K_bb,
    prod1 = (1+K_aa)(1+K_bb), delta = sqrt(prod1 - K_ab^2), angle = arctan2(K_ab, delta):
    nngp' = [(K_ab^2 + prod delta^2)/(prod1 delta) + K_ab angle]/(2 pi) + K_ab/4."""
    with mpmath.workdps(dps + 5):
        ka, kab, kb = (_mp(x) for x in (K_aa, K_ab, K_bb))
        prod, prod1 = ka * kb, (1 + ka) * (1 + kb)
        delta = mpmath.sqrt(prod1 - kab**2)
        angle = mpmath.atan2(kab, delta)
        return ((kab**2 + prod * delta**2) / (prod1 * delta) + kab * angle) / (2 * mpmath.pi) + kab / 4
