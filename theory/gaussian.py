"""Gaussian expectations <F>_K = E[F(z)], z ~ N(0, K), over one or several correlated inputs.

Three routes, chosen from the activation's properties (:mod:`dltv.theory.activations`):

* exact sympy closed forms: the positively homogeneous class (ReLU, leaky ReLU, abs,
  linear) for any product of powers of sigma and sigma' over two inputs, erf
  (Williams 1997) and sin;
* float64 Gauss-Hermite quadrature in 1, 2, ... dimensions (Cholesky factor of K);
* mpmath quadrature at >= 30 digits with an error estimate.

Homogeneous closed forms are DERIVED here, not typed in: with z_a = sqrt(K_aa) r cos(phi),
z_b = sqrt(K_bb) r cos(phi - theta), theta = arccos(rho), the radial integral gives
2^{m/2} Gamma(m/2+1) and the angular integral over the quadrant z_a>0, z_b>0 is
phi in (theta - pi/2, pi/2); the other sign quadrants follow from rho -> -rho.  Every
factor is split as c_+ |t|^p 1{t>0} + c_- |t|^p 1{t<0}, so a factor without sigma or
sigma' (c_+ = c_- = 1, p = 0) sums over both quadrants: the indicator is dropped (the
pitfall E[u_+^p v_+^0] != E[u_+^p] 1{v>0}).
"""
from __future__ import annotations

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
    """I_pq(theta) = int_{theta-pi/2}^{pi/2} cos(phi)^p cos(phi-theta)^q dphi (sympy, derived)."""
    integrand = sp.expand(sp.cos(_phi) ** p * sp.expand_trig(sp.cos(_phi - _theta)) ** q)
    return sp.simplify(sp.integrate(integrand, (_phi, _theta - sp.pi / 2, sp.pi / 2)))


def _radial(m: int) -> sp.Expr:
    """int_0^inf r^m r e^{-r^2/2} dr = 2^{m/2} Gamma(m/2 + 1)."""
    return 2 ** sp.Rational(m, 2) * sp.gamma(sp.Rational(m, 2) + 1)


def _factor(act: Activation, power: int, dpower: int):
    """sigma^power sigma'^dpower as (c_plus, c_minus, p): c_+ |t|^p (t>0), c_- |t|^p (t<0)."""
    ap, am = act.homogeneous
    return ap ** (power + dpower), (-1) ** power * am ** (power + dpower), power


def homogeneous_moment(activation, a=(1, 0), b=(0, 0), K=(Kaa, Kab, Kbb)) -> sp.Expr:
    """E[sigma(z_a)^i sigma'(z_a)^m sigma(z_b)^j sigma'(z_b)^n] for a=(i, m), b=(j, n), exact.

    ``K`` = (K_aa, K_ab, K_bb) as sympy numbers or symbols.  Derived (module docstring):
    sum over sign quadrants of c c' K_aa^{p/2} K_bb^{q/2} 2^{(p+q)/2} Gamma((p+q)/2+1)
    I_pq(arccos(+-rho)) / (2 pi).
    """
    act = get_activation(activation)
    act._require_homogeneous()
    ka, kab, kb = (sp.sympify(x) for x in K)
    fa, fb = _factor(act, *a), _factor(act, *b)
    p, q = fa[2], fb[2]
    rho = kab / sp.sqrt(ka * kb)
    total = sp.Integer(0)
    for sa, ca in ((1, fa[0]), (-1, fa[1])):
        for sb, cb in ((1, fb[0]), (-1, fb[1])):
            if ca == 0 or cb == 0:
                continue
            theta = sp.acos(rho) if sa * sb > 0 else sp.pi - sp.acos(rho)
            ang = _quadrant_angle_integral(p, q).subs(_theta, theta)
            total += ca * cb * ang
    pref = ka ** sp.Rational(p, 2) * kb ** sp.Rational(q, 2) * _radial(p + q) / (2 * sp.pi)
    return sp.simplify(pref * total)


def homogeneous_moment_1d(activation, power: int, dpower: int = 0, K=Ksym) -> sp.Expr:
    """E[sigma(z)^power sigma'(z)^dpower], z ~ N(0, K): (c_+ + c_-)/2 K^{p/2} 2^{p/2} Gamma((p+1)/2)/sqrt(pi)."""
    act = get_activation(activation)
    act._require_homogeneous()
    cp, cm, p = _factor(act, power, dpower)
    K = sp.sympify(K)
    return sp.simplify((cp + cm) / 2 * K ** sp.Rational(p, 2) * 2 ** sp.Rational(p, 2)
                       * sp.gamma(sp.Rational(p + 1, 2)) / sp.sqrt(sp.pi))


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


@lru_cache(maxsize=None)
def _symbolic_maps(name: str):
    """Cached closed forms in the symbols (K_aa, K_ab, K_bb) and K: (F, Fdot, g, gdot) or Nones."""
    act = get_activation(name)
    if act.family == "homogeneous":
        return (homogeneous_moment(act, (1, 0), (1, 0)), homogeneous_moment(act, (0, 1), (0, 1)),
                act.A2 * Ksym, act.A2 + 0 * Ksym)
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


# ============================================================== float64 Gauss-Hermite
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


def gh_expect(fn, K, degree: int | None = None) -> float:
    """E[fn(z)] by tensor Gauss-Hermite quadrature, z ~ N(0, K) in d dims; fn takes d arrays."""
    K = as_kernel(K)
    d = K.shape[0]
    deg = degree or _GH_DEGREE.get(d, 16)
    x, w = _gh(deg)
    grids = np.meshgrid(*([x] * d), indexing="ij")
    wts = np.ones_like(grids[0])
    for g in np.meshgrid(*([w] * d), indexing="ij"):
        wts = wts * g
    u = np.stack([g.ravel() for g in grids])
    z = _chol(K) @ u
    return float(np.sum(wts.ravel() * fn(*z)))


def expect_product(activation, K, factors, degree: int | None = None) -> float:
    """float64 E[prod_f sigma^(d_f)(z_{a_f})^(p_f)] for factors [(a, d, p), ...], z ~ N(0, K).

    Homogeneous activations with derivative orders <= 1 on <= 2 inputs use the exact
    closed form (evaluated in float64); everything else uses Gauss-Hermite.
    """
    act = get_activation(activation)
    K = as_kernel(K)
    used = sorted({a for a, _, _ in factors})
    sub = K[np.ix_(used, used)]
    idx = {a: i for i, a in enumerate(used)}
    if act.family == "homogeneous" and all(d <= 1 for _, d, _ in factors) and len(used) <= 2:
        spec = [[0, 0] for _ in used]
        for a, d, p in factors:
            spec[idx[a]][d] += p
        return _homogeneous_numeric(act, spec, sub)
    fns = [(idx[a], act.numpy(d), p) for a, d, p in factors]

    def integrand(*z):
        out = 1.0
        for i, f, p in fns:
            out = out * f(z[i]) ** p
        return out
    return gh_expect(integrand, sub, degree)


def _homogeneous_numeric(act, spec, sub) -> float:
    if len(spec) == 1:
        return float(_lambdified_1d(act.name, *spec[0])(sub[0, 0]))
    ka, kab, kb = sub[0, 0], sub[0, 1], sub[1, 1]
    if ka == 0 or kb == 0:  # a degenerate input is identically 0: sigma(0) = 0
        for i, kii in enumerate((ka, kb)):
            if kii == 0 and spec[i][0] == 0:
                raise ValueError("K has a zero diagonal entry where sigma'(0) is undefined")
        return 0.0
    rho = float(np.clip(kab / np.sqrt(ka * kb), -1.0, 1.0))
    kab = rho * np.sqrt(ka * kb)
    return float(_lambdified_2d(act.name, tuple(spec[0]), tuple(spec[1]))(ka, kab, kb))


@lru_cache(maxsize=None)
def _lambdified_1d(name, power, dpower):
    return sp.lambdify(Ksym, homogeneous_moment_1d(name, power, dpower), "numpy")


@lru_cache(maxsize=None)
def _lambdified_2d(name, a, b):
    expr = homogeneous_moment(name, a, b)
    return sp.lambdify((Kaa, Kab, Kbb), expr, modules=["numpy"])


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
            add(name, homogeneous_moment(act, a, b, triple), quad)
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
