"""Correlation functions of random fully connected networks (Hanin, arXiv 2204.01058; PDLT arXiv 2106.10165).

Conventions (layer 1 = first pre-activation):
    z^(1) = b^(1) + W^(1) x,  z^(l+1) = b^(l+1) + W^(l+1) sigma(z^(l)),  W ~ N(0, C_W/n_in),  b ~ N(0, C_b),
    K^(1)_ab = C_b + C_W x_a.x_b / n_0,   K^(l+1) = C_b + C_W <sigma sigma^T>_{K^(l)}   (PDLT (4.8), §4.3).

Infinite width: kernels, derivative kernel and NTK, variance / correlation maps,
susceptibilities and criticality.  Every quantity has a sympy form where a closed form
exists and a float64 evaluator.
"""
from __future__ import annotations

import math
from collections import Counter
from functools import lru_cache

import mpmath
import numpy as np
import sympy as sp
from sympy import QQ
from sympy.polys.ring_series import rs_series
from sympy.polys.rings import ring

from dltv.theory import gaussian as G
from dltv.theory.activations import activation_names, get_activation, t as _t
from dltv.theory.formulas import Param, check_int, check_nonnegative, check_positive, formula

K = sp.Symbol("K", positive=True)
rho = sp.Symbol("rho", real=True)
C_W, C_b = sp.symbols("C_W C_b", nonnegative=True)
MP_DPS = G.MP_DPS
_EXACT_OPS_LIMIT = 120  # beyond this sympy size a nested closed form is evaluated with mpmath


def _weights(C_W_, C_b_):
    return check_positive("C_W", C_W_), check_nonnegative("C_b", C_b_)


# ============================================================== float64 evaluators
def first_layer_kernel(X, C_W_, C_b_) -> np.ndarray:
    """K^(1)_ab = C_b + C_W x_a . x_b / n_0 for inputs X of shape (k, n_0)  (PDLT (4.8))."""
    cw, cb = (float(v) for v in _weights(C_W_, C_b_))
    X = np.atleast_2d(np.asarray(X, dtype=float))
    return cb + cw * X @ X.T / X.shape[1]


def kernel_step(activation, K_, C_W_, C_b_) -> np.ndarray:
    """One layer of the infinite-width recursion, float64: C_b + C_W <sigma sigma^T>_K."""
    cw, cb = (float(v) for v in _weights(C_W_, C_b_))
    return cb + cw * G.kernel_matrix(activation, K_)


def kernel_recursion(activation, C_W_, C_b_, K1, layers: int) -> np.ndarray:
    """float64 K^(1..layers) as an array (layers, k, k); index 0 is layer 1 = ``K1``.

    Rank-deficient kernels (collinear or identical inputs) are handled exactly: homogeneous
    activations through the angle theta = arctan2(sqrt(det), K_ab), snapped to 0 or pi within
    float64 rounding; others by integrating over the kernel's rank (:func:`gaussian.normal_expect`,
    error <= 1e-13 of E|integrand| per expectation, measured <= 4e-16 relative over 8 layers for erf).
    """
    layers = check_int("layers", layers, 1)
    Ks = [G.as_kernel(K1, "K1")]
    for _ in range(layers - 1):
        Ks.append(kernel_step(activation, Ks[-1], C_W_, C_b_))
    return np.array(Ks)


def ntk_recursion(activation, C_W_, C_b_, K1, layers: int) -> dict:
    """float64 NNGP K, derivative kernel Kdot = C_W <sigma' sigma'^T>_K and NTK Theta per layer.

    Theta^(1) = K^(1), Theta^(l+1) = K^(l+1) + C_W <sigma'_a sigma'_b>_{K^(l)} Theta^(l)  (NTK
    parameterisation with learning-rate factors lambda_W = C_W, lambda_b = C_b, as in
    neural-tangents stax.Dense; Jacot et al. 2018).  Derived: the parameters of layer l+1 give
    C_b + (C_W/n_l) sum_j sigma_j,a sigma_j,b -> K^(l+1); earlier ones enter through
    dz_i^(l+1) = sum_j W_ij sigma'(z_j^(l)) dz_j^(l), and E[W_ij W_ik] = delta_jk C_W/n_l gives
    C_W <sigma'_a sigma'_b>_{K^(l)} Theta^(l).  Kdot[i] (index i = layer i+1) is the factor
    from that layer to the next, so Theta[i] = K[i] + Kdot[i-1] Theta[i-1].
    """
    cw = float(_weights(C_W_, C_b_)[0])
    Ks = kernel_recursion(activation, C_W_, C_b_, K1, layers)
    dots = np.array([cw * G.derivative_kernel_matrix(activation, Kl) for Kl in Ks])
    thetas = [Ks[0]]
    for l in range(1, layers):
        thetas.append(Ks[l] + dots[l - 1] * thetas[-1])
    return {"K": Ks, "Kdot": dots, "Theta": np.array(thetas)}


def correlation_recursion(activation, C_W_, C_b_, K1: float, rho1: float, layers: int) -> np.ndarray:
    """float64 correlation rho^(l) = K_ab/sqrt(K_aa K_bb) for two inputs of equal norm, l = 1..layers."""
    K1 = float(K1)
    Ks = kernel_recursion(activation, C_W_, C_b_, [[K1, rho1 * K1], [rho1 * K1, K1]], layers)
    return Ks[:, 0, 1] / np.sqrt(Ks[:, 0, 0] * Ks[:, 1, 1])


def susceptibilities_float(activation, C_W_, K_: float) -> tuple[float, float]:
    """(chi_par, chi_perp) in float64: C_W <sigma^2 (z^2-K)>_K/(2K^2) and C_W <sigma'^2>_K  (PDLT §5.1)."""
    act = get_activation(activation)
    cw = float(check_positive("C_W", C_W_))
    k = float(check_positive("K", K_))
    f0 = act.numpy(0)
    par = G.normal_expect(lambda z: f0(z) ** 2 * (z * z - k), [[k]]) / (2 * k * k)
    perp = G.expect_product(act, [[k]], [(0, 1, 2)])
    return cw * par, cw * perp


# ============================================================== sympy forms
def _gauss_integral(expr_of_z, K_):
    """Unevaluated sympy statement E[f(z)], z ~ N(0, K) (shown where no closed form exists)."""
    x = sp.Symbol("x", real=True)
    return sp.Integral(expr_of_z(sp.sqrt(K_) * x) * sp.exp(-x**2 / 2) / sp.sqrt(2 * sp.pi), (x, -sp.oo, sp.oo))


def variance_map_expr(activation, C_W_=C_W, C_b_=C_b, K_=K):
    """Single-input map K' = C_b + C_W g(K), g = <sigma^2>_K (PDLT (5.4)); unevaluated integral if no closed form."""
    act = get_activation(activation)
    g = G.variance_map(act, K_)
    if g is None:
        g = _gauss_integral(lambda z: act.expr.subs(_t, z) ** 2, K_)
    return C_b_ + C_W_ * g


def correlation_map_expr(activation, C_W_=C_W, C_b_=C_b, K_=K, rho_=rho):
    """Two inputs of equal variance K: rho' = (C_b + C_W <s_a s_b>_{K,rho K}) / (C_b + C_W <s^2>_K).

    ReLU at C_W=2, C_b=0 simplifies to (1/pi)[sqrt(1-rho^2) + (pi - arccos rho) rho].
    Returns None when the activation has no closed form.
    """
    num = G.kernel_map(activation, (K_, rho_ * K_, K_))
    den = G.variance_map(activation, K_)
    if num is None:
        return None
    return sp.simplify((C_b_ + C_W_ * num) / (C_b_ + C_W_ * den))


def susceptibilities(activation, C_W_=C_W, K_=K) -> dict:
    """{"chi_par": C_W g'(K), "chi_perp": C_W <sigma'^2>_K} (PDLT §5.1).

    sympy expressions for closed-form activations (K may be a symbol); otherwise
    30-digit mpmath quadrature values (K must be a number): g'(K) = <sigma^2 (z^2-K)>/(2K^2).
    """
    act = get_activation(activation)
    g = G.variance_map(act, K)
    if g is not None:
        par = C_W_ * sp.diff(g, K)
        perp = C_W_ * G.derivative_variance_map(act, K)
        return {"chi_par": sp.simplify(par.subs(K, K_)), "chi_perp": sp.simplify(perp.subs(K, K_))}
    k = check_positive("K", K_)
    f0, f1 = act.mpmath(0), act.mpmath(1)
    par, _ = G.mp_expect_1d(lambda z: f0(z) ** 2 * (z * z - G._mp(k)), k)
    perp, _ = G.mp_expect_1d(lambda z: f1(z) ** 2, k)
    with mpmath.workdps(MP_DPS + 5):
        cw = G._mp(C_W_)
        return {"chi_par": sp.Float(cw * par / (2 * G._mp(k) ** 2), MP_DPS),
                "chi_perp": sp.Float(cw * perp, MP_DPS)}


def criticality(activation) -> dict:
    """Critical initialisation (chi_par = chi_perp = 1 at the fixed point K*), by class (PDLT ch. 5):

    * positively homogeneous: C_W = 1/A_2, C_b = 0, every K is a fixed point (K* = "any");
    * K*=0 class (smooth, sigma(0)=0, sigma_1 != 0, a_1 = sigma_3/sigma_1 + (3/4)(sigma_2/sigma_1)^2 < 0):
      C_W = 1/sigma_1^2, C_b = 0, K* = 0;
    * otherwise (GELU, SiLU): the non-trivial point solving <sigma sigma''>_{K*} = 0
      (g'(K*) = <sigma'^2>_{K*}), C_W = 1/<sigma'^2>_{K*}, C_b = K* - C_W g(K*) (mpmath, 30 digits).
    """
    act = get_activation(activation)
    if act.family == "homogeneous":
        return {"class": "homogeneous", "C_W": 1 / act.A2, "C_b": sp.Integer(0), "K_star": "any"}
    if not act.smooth:
        raise ValueError(f"activation must be smooth or positively homogeneous; got {act.name!r}")
    s = act.taylor(3)
    if s[0] == 0 and s[1] != 0:
        a1 = sp.simplify(s[3] / s[1] + sp.Rational(3, 4) * (s[2] / s[1]) ** 2)
        if a1.is_negative:
            return {"class": "K*=0", "C_W": sp.simplify(1 / s[1] ** 2), "C_b": sp.Integer(0),
                    "K_star": sp.Integer(0), "a_1": a1}
    return _nontrivial_criticality(act)


def _nontrivial_criticality(act) -> dict:
    f0, f1, f2 = act.mpmath(0), act.mpmath(1), act.mpmath(2)
    n0, n2 = act.numpy(0), act.numpy(2)
    grid = np.linspace(0.05, 60.0, 1200)
    vals = [G.normal_expect(lambda z: n0(z) * n2(z), [[k]]) for k in grid]
    idx = next((i for i in range(len(grid) - 1) if vals[i] * vals[i + 1] < 0), None)
    if idx is None:
        raise ValueError(f"activation {act.name!r} has no critical point with K* in (0, 60]")
    with mpmath.workdps(MP_DPS + 10):
        h = lambda k: G.mp_expect_1d(lambda z: f0(z) * f2(z), k, MP_DPS + 5)[0]  # noqa: E731
        kstar = mpmath.findroot(h, (mpmath.mpf(grid[idx]), mpmath.mpf(grid[idx + 1])), solver="anderson")
        cw = 1 / G.mp_expect_1d(lambda z: f1(z) ** 2, kstar, MP_DPS + 5)[0]
        cb = kstar - cw * G.mp_expect_1d(lambda z: f0(z) ** 2, kstar, MP_DPS + 5)[0]
        return {"class": "nontrivial", "C_W": sp.Float(cw, MP_DPS), "C_b": sp.Float(cb, MP_DPS),
                "K_star": sp.Float(kstar, MP_DPS)}


# ============================================================== exact / 30-digit layer kernels
def _layer_maps_mp(act, vals, order: int) -> list:
    """30-digit <sigma^(order) sigma^(order)> at one layer: [g(K)] or [g(K_aa), F(K), g(K_bb)] (order 0 or 1).

    Closed forms where they exist: the homogeneous class through neural-tangents' arc-cosine form
    (:func:`gaussian.nt_abrelu`, robust at rho = +-1), erf, sin and GELU through their mpmath-lambdified
    closed forms; other smooth activations by the Mehler series (:func:`gaussian.mp_pair_expect`) and
    the 1-d trapezoid rule (:func:`gaussian.mp_node_expect`), each held to 10^-33 of its scale.
    """
    vals = [G._mp(v) for v in vals]
    if act.family == "homogeneous":
        ap, am = (G._mp(a) for a in act.homogeneous)
        a2 = (ap**2 + am**2) / 2
        diag = [a2 * v if order == 0 else a2 for v in vals[::2]]
        if len(vals) == 1:
            return diag
        ka, kab, kb = vals
        if ka == 0 or kb == 0:
            if order:
                raise ValueError("K has a zero diagonal entry where sigma'(0) is undefined")
            return [diag[0], mpmath.mpf(0), diag[1]]
        nngp, dot = G.nt_abrelu(am, ap, ka, kab, kb, MP_DPS + 5)
        return [diag[0], nngp if order == 0 else dot, diag[1]]
    maps = G.mp_maps(act.name) if act.name in activation_names() else None
    if maps is not None:
        F, g = (maps[0], maps[2]) if order == 0 else (maps[1], maps[3])
        if len(vals) == 1:
            return [g(vals[0])]
        return [g(vals[0]), F(*vals), g(vals[2])]
    _require_smooth(act)
    spec = ((order, 1),)
    diag = [G.mp_node_expect(act, ((order, 2),), v)[0] for v in vals[::2]]
    if len(vals) == 1:
        return diag
    return [diag[0], G.mp_pair_expect(act, spec, spec, *vals)[0], diag[1]]


def _too_big(*xs) -> bool:
    return any(isinstance(x, sp.Basic) and sp.count_ops(x) > _EXACT_OPS_LIMIT for x in xs)


def kernel_layer(activation, C_W_, C_b_, K1, layer: int):
    """Infinite-width kernel at ``layer`` (layer 1 returns ``K1``), exact where feasible.

    ``K1`` is one number (single input) or (K_aa, K_ab, K_bb).  Closed-form activations
    (homogeneous, erf, sin) are iterated exactly in sympy until the nested expression
    exceeds a size limit, then with their closed forms in mpmath at 30+ digits; other smooth
    activations use the Mehler series and a 1-d trapezoid rule (:func:`_layer_maps_mp`; each
    expectation within 10^-33 of its scale, ~0.1-0.5 s per layer; tanh and SiLU from K = 1).
    A layer maps errors through the Jacobian of the recursion (|chi| <= ~1 near criticality), so the
    30 returned digits hold for tens of layers.
    """
    act = get_activation(activation)
    cw, cb = _weights(C_W_, C_b_)
    layer = check_int("layer", layer, 1)
    single, vals = _parse_K(K1)
    maps = G.mp_maps(act.name) if act.name in activation_names() else None
    exact = maps is not None
    for _ in range(layer - 1):
        if exact:
            if single:
                new = [sp.expand(cb + cw * G.variance_map(act, vals[0]))]
            else:
                ka, kab, kb = vals
                off = G.kernel_map(act, vals) if (ka != 0 and kb != 0) or act.family != "homogeneous" \
                    else sp.Integer(0)
                new = [cb + cw * G.variance_map(act, ka), cb + cw * off, cb + cw * G.variance_map(act, kb)]
            if _too_big(*new):
                exact = False
                vals = [G.mp_value(v, MP_DPS + 10) for v in vals]
            else:
                vals = new
                continue
        with mpmath.workdps(MP_DPS + 10):
            cwm, cbm = G._mp(cw), G._mp(cb)
            if maps is not None:
                F, _, g, _ = maps
                if single:
                    vals = [cbm + cwm * g(vals[0])]
                else:
                    ka, kab, kb = vals
                    vals = [cbm + cwm * g(ka), cbm + cwm * F(ka, kab, kb), cbm + cwm * g(kb)]
            else:
                vals = [cbm + cwm * v for v in _layer_maps_mp(act, vals, 0)]
    out = [v if isinstance(v, sp.Basic) else sp.Float(v, MP_DPS) for v in vals]
    return out[0] if single else {"K_aa": out[0], "K_ab": out[1], "K_bb": out[2]}


def _parse_K(K1):
    """(single?, entries) with PSD validation: K >= 0; K_aa, K_bb >= 0 and K_ab^2 <= K_aa K_bb."""
    items = list(K1) if isinstance(K1, (list, tuple)) else [K1]
    items = [check_nonnegative("K", items[0])] if len(items) == 1 else items
    if len(items) == 1:
        return True, items
    if len(items) != 3:
        raise ValueError(f"K must be one number or three numbers K_aa,K_ab,K_bb; got {K1!r}")
    ka = check_nonnegative("K (K_aa)", items[0])
    kb = check_nonnegative("K (K_bb)", items[2])
    kab = sp.nsimplify(items[1]) if not isinstance(items[1], sp.Basic) else items[1]
    if kab**2 > ka * kb:
        raise ValueError(f"K must be positive semi-definite (K_ab^2 <= K_aa K_bb); got {K1!r}")
    return False, [ka, kab, kb]


# ============================================================== registered formulas
_ACT = Param("activation", "choice", "activation name", choices=activation_names)
_CW = Param("C_W", "real", "weight variance C_W (> 0)", low=0, low_open=True)
_CB = Param("C_b", "real", "bias variance C_b (>= 0)", low=0)
_LAYER = Param("layer", "int", "layer index (1 = first pre-activation)", low=1)
_K = Param("K", "reals", "first-layer kernel: K, or K_aa,K_ab,K_bb")
_WIDTHS = Param("widths", "ints", "hidden widths n_1..n_{layer-1} (default 0: equal widths)", low=0, default="0")


def _optional_widths(widths):
    """The parsed ``widths`` parameter: None for the default 0 (equal widths), else the list (each >= 1)."""
    if list(widths) == [0]:
        return None
    return [check_int("widths", w, 1) for w in widths]


@formula("correlations.kernel",
         source="PDLT (arXiv 2106.10165) eq. (4.8), §4.3, (5.4); Hanin (arXiv 2204.01058) infinite-width limit",
         statement="K^(l+1) = C_b + C_W <sigma sigma^T>_{K^(l)}, K^(1) = C_b + C_W x.x'/n_0",
         params=[_ACT, _CW, _CB, _LAYER, _K],
         symbolic=lambda: {
             "recursion": sp.Eq(sp.Symbol("K^(l+1)_ab"), C_b + C_W * sp.Symbol("<sigma_a sigma_b>_{K^(l)}")),
             "relu": sp.Eq(sp.Symbol("K'_ab"),
                           C_b + C_W * G.homogeneous_moment("relu", (1, 0), (1, 0))),
             "erf": sp.Eq(sp.Symbol("K'_ab"), C_b + C_W * G.erf_kernel())})
def _kernel_formula(activation, C_W, C_b, layer, K):
    return kernel_layer(activation, C_W, C_b, K, layer)


@formula("correlations.susceptibilities",
         source="PDLT (arXiv 2106.10165) §5.1",
         statement="chi_par = C_W d<sigma^2>_K/dK, chi_perp = C_W <sigma'^2>_K",
         params=[_ACT, _CW, Param("K", "real", "single-input kernel K (> 0)", low=0, low_open=True)],
         symbolic=lambda: {"chi_par": sp.Eq(sp.Symbol("chi_par"), C_W * sp.Symbol("<sigma^2 (z^2-K)>_K") / (2 * K**2)),
                           "chi_perp": sp.Eq(sp.Symbol("chi_perp"), C_W * sp.Symbol("<sigma'^2>_K"))})
def _susceptibility_formula(activation, C_W, K):
    return susceptibilities(activation, C_W, K)


@formula("correlations.criticality",
         source="PDLT (arXiv 2106.10165) ch. 5 (scale-invariant and K*=0 classes); derived for the rest",
         statement="(C_W, C_b) with chi_par = chi_perp = 1 at the fixed point K*",
         params=[_ACT],
         symbolic=lambda: {"homogeneous": sp.Eq(C_W, 1 / sp.Symbol("A_2")),
                           "K*=0": sp.Eq(C_W, 1 / sp.Symbol("sigma_1") ** 2)})
def _criticality_formula(activation):
    out = criticality(activation)
    # K_star is the text "any" for the homogeneous class (every K is a fixed point), a number otherwise
    return {k: out[k] for k in ("C_W", "C_b", "K_star")} | {"class": out["class"]}


@formula("correlations.ntk",
         source="Jacot et al. 2018; neural-tangents stax.Dense ('ntk' parameterisation); derived layer recursion",
         statement="Theta^(l+1) = K^(l+1) + C_W <sigma'_a sigma'_b>_{K^(l)} Theta^(l), Theta^(1) = K^(1)",
         params=[_ACT, _CW, _CB, _LAYER, _K],
         symbolic=lambda: sp.Eq(sp.Symbol("Theta^(l+1)"),
                                sp.Symbol("K^(l+1)") + C_W * sp.Symbol("<sigma' sigma'>_{K^(l)}") * sp.Symbol("Theta^(l)")))
def _ntk_formula(activation, C_W, C_b, layer, K):
    out = ntk_layer(activation, C_W, C_b, K, layer)
    return out["Theta_aa"] if len(out) == 1 else out


def ntk_layer(activation, C_W_, C_b_, K1, layer: int) -> dict:
    """30-digit NTK at ``layer``: {"Theta_aa"} (one input) or {"Theta_aa", "Theta_ab", "Theta_bb"} as sympy Floats.

    The recursion of :func:`ntk_recursion` in mpmath: Theta^(l+1) = K^(l+1) + C_W <sigma'_a sigma'_b>_{K^(l)}
    Theta^(l), with both maps from :func:`_layer_maps_mp` (closed forms, else the Mehler series).
    """
    act = get_activation(activation)
    cw, cb = _weights(C_W_, C_b_)
    layer = check_int("layer", layer, 1)
    single, vals = _parse_K(K1)
    with mpmath.workdps(MP_DPS + 10):
        cwm, cbm = G._mp(cw), G._mp(cb)
        k = [G._mp(v) for v in vals]
        theta = list(k)
        for _ in range(layer - 1):
            dots = _layer_maps_mp(act, k, 1)
            k = [cbm + cwm * v for v in _layer_maps_mp(act, k, 0)]
            theta = [kn + cwm * d * th for kn, d, th in zip(k, dots, theta)]
        names = ("Theta_aa",) if single else ("Theta_aa", "Theta_ab", "Theta_bb")
        return {name: sp.Float(v, MP_DPS) for name, v in zip(names, theta)}


# ============================================================== finite width: exact laws (homogeneous class)
n_sym, L_sym, k_sym, beta = sp.symbols("n L k beta", positive=True)
_M = sp.Symbol("M", integer=True, nonnegative=True)


def _binomial_expectation(poly, n, p=sp.Rational(1, 2)):
    """E[poly(M)], M ~ Binomial(n, p), via the falling-factorial moments E[M^(i falling)] = n^(i falling) p^i.

    Derived: M^j = sum_i S(j, i) M^(i falling) (Stirling numbers of the second kind).
    """
    poly = sp.Poly(sp.expand(poly), _M)
    total = sp.Integer(0)
    for (j,), c in poly.terms():
        total += c * sum(sp.functions.combinatorial.numbers.stirling(j, i) * sp.ff(n, i) * p**i
                         for i in range(j + 1))
    return sp.expand(total)


def _rising(x, k):
    return sp.prod([x + i for i in range(k)]) if k > 0 else sp.Integer(1)


def layer_factor_moment(activation, k: int, n=n_sym, C_W_=None):
    """E[Y^k] for the per-layer factor Y = (C_W/n) sum_j sigma(g_j)^2, g_j iid N(0,1) (homogeneous sigma).

    Derived (notes 2(c1)): sigma(g)^2 = s g^2 with s in {a_+^2, a_-^2} a fair coin, so
    Y = (C_W/n)(a_+^2 chi^2_M + a_-^2 chi^2_{n-M}), M ~ Bin(n, 1/2), and
    E[(chi^2_m)^i] = 2^i (m/2)_i (rising factorial).  ReLU, C_W=2: Y = (2/n) chi^2_M.
    Default C_W = 1/A_2 (criticality, E[Y] = 1).
    """
    act = get_activation(activation)
    ap, am = act._require_homogeneous()
    k = check_int("k", k, 0)
    cw = 1 / act.A2 if C_W_ is None else sp.sympify(C_W_)
    poly = sum(sp.binomial(k, i) * ap ** (2 * i) * am ** (2 * (k - i))
               * 2**i * _rising(_M / 2, i) * 2 ** (k - i) * _rising((n - _M) / 2, k - i)
               for i in range(k + 1))
    return sp.factor(sp.simplify((cw / n) ** k * _binomial_expectation(poly, n)))


def _widths(widths):
    ws = widths if isinstance(widths, (list, tuple)) else [widths]
    return [check_int("widths", w, 1) for w in ws]


def _layer_ratio(activation, k, width):
    """E[Y^k]/E[Y]^k for one layer of the given width (exact rational)."""
    return layer_factor_moment(activation, k, width) / layer_factor_moment(activation, 1, width) ** k


def homogeneous_moment_ratio(activation, widths, k: int):
    """E[z^{2k}] / E[z^2]^k = (2k-1)!! prod_l E[Y_l^k]/E[Y_l]^k for the output after hidden widths n_1..n_L.

    Exact at any widths for homogeneous sigma, any C_W, C_b = 0 (notes 2(c1)): G^(L+1) = K^(1) prod Y_l
    with independent factors and E[z^{2k}] = (2k-1)!! E[G^k].  Equal widths are grouped into one
    exact power, so very deep networks stay fast.
    """
    k = check_int("k", k, 1)
    out = sp.factorial2(2 * k - 1)
    for w, count in Counter(_widths(widths)).items():
        out *= _layer_ratio(activation, k, w) ** count
    return sp.nsimplify(out)


def log_moment_ratio(activation, widths, k: int, dps: int = MP_DPS) -> mpmath.mpf:
    """log(E[z^{2k}] / E[z^2]^k) of :func:`homogeneous_moment_ratio` at ``dps`` digits (finite at any depth)."""
    k = check_int("k", k, 1)
    with mpmath.workdps(dps + 10):
        out = mpmath.log(int(sp.factorial2(2 * k - 1)))
        for w, count in Counter(_widths(widths)).items():
            r = _layer_ratio(activation, k, w)
            out += count * (mpmath.log(int(r.p)) - mpmath.log(int(r.q)))
        return +out


def relu_moment_ratio(widths, k: int):
    """ReLU (C_W=2, C_b=0): E[z^{2k}]/E[z^2]^k = (2k-1)!! prod_l E[((2/n_l) chi^2_{M_l})^k]; k=2: 3 prod(1+5/n_l)."""
    return homogeneous_moment_ratio("relu", widths, k)


def deep_linear_moment_ratio(widths, k: int):
    """Deep linear (PDLT (3.45)-(3.47)): (2k-1)!! prod_l c_{2k}(n_l), c_{2k}(n) = prod_{j<k} (1 + 2j/n)."""
    k = check_int("k", k, 1)
    out = sp.factorial2(2 * k - 1)
    for w in _widths(widths):
        out *= sp.prod([1 + sp.Rational(2 * j, w) for j in range(1, k)])
    return out


def c_sigma(activation):
    """c_sigma = 3A_4/A_2^2 - 1 = n (E[Y^2] - 1) at criticality (ReLU 5, linear/abs 2)."""
    act = get_activation(activation)
    return sp.nsimplify(3 * act.A4 / act.A2**2 - 1)


def interneuron_covariance(activation, widths):
    """Cov(z_i^2, z_j^2)/E[z^2]^2 = Var(G)/E[G]^2 = prod_l E[Y_l^2]/E[Y_l]^2 - 1  (i != j; exact, C_b = 0)."""
    return sp.nsimplify(homogeneous_moment_ratio(activation, widths, 2) / 3 - 1)


def kappa4(activation, widths):
    """Single-neuron kappa_4/E[z^2]^2 = E z^4/(E z^2)^2 - 3 = 3(prod E[Y^2]/E[Y]^2 - 1)."""
    return sp.nsimplify(homogeneous_moment_ratio(activation, widths, 2) - 3)


def kappa6(activation, widths):
    """kappa_6/E[z^2]^3 = E z^6/(E z^2)^3 - 15 E z^4 E z^2/(E z^2)^3 + 30 (moment-cumulant formula, odd moments 0)."""
    r4 = homogeneous_moment_ratio(activation, widths, 2)
    r6 = homogeneous_moment_ratio(activation, widths, 3)
    return sp.nsimplify(r6 - 15 * r4 + 30)


def double_scaling_limit(activation, k: int = 2, beta_=beta):
    """lim_{n,L->inf, L/n->beta} E[z^{2k}]/E[z^2]^k = (2k-1)!! exp(binomial(k,2) c_sigma beta)  (derived).

    Derived: n log(E[Y^k]/E[Y]^k) -> binomial(k,2) c_sigma (checked with sympy limits in
    :func:`double_scaling_exponent`); ReLU k=2: 3 e^{5 beta}.
    """
    k = check_int("k", k, 1)
    return sp.factorial2(2 * k - 1) * sp.exp(sp.binomial(k, 2) * c_sigma(activation) * beta_)


def double_scaling_exponent(activation, k: int):
    """lim_{n->inf} n log(E[Y^k]/E[Y]^k), computed symbolically from the exact E[Y^k](n)."""
    ratio = layer_factor_moment(activation, k) / layer_factor_moment(activation, 1) ** k
    return sp.limit(n_sym * sp.log(ratio), n_sym, sp.oo)


def bias_moments(activation, C_W_, C_b_, K1, widths, kmax: int = 2) -> list:
    """Exact [E G, E G^2, ..., E G^kmax] of the output stochastic metric with biases (single input).

    Derived (notes 2(c2)): G' = C_b + G Y_l with Y_l independent of G, so
    E[G'^k] = sum_j binom(k, j) C_b^{k-j} E[Y_l^j] E[G^j];  E[Y] = C_W A_2,
    E[Y^2] = C_W^2 (A_2^2 + (3A_4 - A_2^2)/n_l).  Start: G^(1) = K^(1) (deterministic).
    """
    cw, cb = _weights(C_W_, C_b_)
    K1 = check_nonnegative("K1", K1)
    kmax = check_int("kmax", kmax, 1)
    m = [K1**j for j in range(kmax + 1)]
    for w in _widths(widths):
        ey = [layer_factor_moment(activation, j, w, cw) for j in range(kmax + 1)]
        m = [sum(sp.binomial(k, j) * cb ** (k - j) * ey[j] * m[j] for j in range(k + 1)) for k in range(kmax + 1)]
    return [sp.nsimplify(v) for v in m[1:]]


def relu_bias_moments(C_W_, C_b_, K1, widths):
    """(E[G^(L+1)], E[(G^(L+1))^2]) for ReLU with biases (notes 2(c2)); see :func:`bias_moments`."""
    m1, m2 = bias_moments("relu", C_W_, C_b_, K1, widths, 2)
    return m1, m2


@formula("correlations.relu.moment_ratio",
         source="derived (Hanin arXiv 2204.01058 ReLU case; notes 2(c1)): G^(L+1) = K^(1) prod (2/n) chi^2_{M_l}, M_l ~ Bin(n, 1/2)",
         statement="E[z^{2k}]/E[z^2]^k after L hidden ReLU layers of width n (C_W=2, C_b=0), exact",
         params=[Param("n", "int", "hidden width (>= 1)", low=1), Param("L", "int", "hidden layers (>= 0)", low=0),
                 Param("k", "int", "moment order k (>= 1)", low=1)],
         symbolic=lambda: sp.Eq(sp.Symbol("E[z^{2k}]/E[z^2]^k"),
                                sp.factorial2(2 * k_sym - 1) * sp.Sum(
                                    sp.Symbol("binom(n,M)") * 2**(-n_sym) * sp.rf(_M / 2, k_sym) * (4 / n_sym) ** k_sym,
                                    (_M, 0, n_sym)) ** L_sym))
def _relu_ratio_formula(n, L, k):
    if L == 0:
        return sp.factorial2(2 * k - 1)
    log_ratio = log_moment_ratio("relu", [n] * L, k)
    if log_ratio > mpmath.log(np.finfo(float).max):
        raise ValueError(f"L: E[z^{2 * k}]/E[z^2]^{k} = exp({mpmath.nstr(log_ratio, 12)}) exceeds the float64 "
                         f"range (n={n}, L={L}); its logarithm is "
                         f"dltv.theory.correlations.log_moment_ratio('relu', [n] * L, k)")
    return relu_moment_ratio([n] * L, k)


# ============================================================== 1/n hierarchy: vertex V and mean shift dK
def _pairs(k):
    return [(a, b) for a in range(k) for b in range(a, k)]


@lru_cache(maxsize=None)
def _closed_derivatives(name):
    """numpy-lambdified dF2/d(K_aa,K_ab,K_bb), Hessian, g', g'' from the sympy closed forms (exact derivatives)."""
    F, _, g, _ = G._symbolic_maps(name)
    v = (G.Kaa, G.Kab, G.Kbb)
    grad = [sp.diff(F, x) for x in v]
    hess = [[sp.diff(F, x, y) for y in v] for x in v]
    lam = lambda e: sp.lambdify(v, e, "numpy")  # noqa: E731
    return ([lam(e) for e in grad], [[lam(e) for e in row] for row in hess],
            sp.lambdify(G.Ksym, sp.diff(g, G.Ksym), "numpy"), sp.lambdify(G.Ksym, sp.diff(g, G.Ksym, 2), "numpy"))


def _pair_derivatives(act, Kaa_, Kab_, Kbb_):
    """(grad, hess) of F2 = <s_a s_b> in (K_aa, K_ab, K_bb): closed forms or Price's theorem + quadrature.

    Price: dF/dK_ab = <s'_a s'_b>, dF/dK_aa = (1/2)<s''_a s_b>, d2F/dK_ab^2 = <s''_a s''_b>,
    d2F/dK_ab dK_aa = (1/2)<s'''_a s'_b>, d2F/dK_aa^2 = (1/4)<s''''_a s_b>, d2F/dK_aa dK_bb = (1/4)<s''_a s''_b>.
    """
    if act.family != "generic":
        grad, hess, _, _ = _closed_derivatives(act.name)
        return (np.array([f(Kaa_, Kab_, Kbb_) for f in grad], float),
                np.array([[f(Kaa_, Kab_, Kbb_) for f in row] for row in hess], float))
    _require_smooth(act)
    K2 = [[Kaa_, Kab_], [Kab_, Kbb_]]
    m = lambda i, j: G.expect_product(act, K2, [(0, i, 1), (1, j, 1)])  # noqa: E731
    grad = np.array([m(2, 0) / 2, m(1, 1), m(0, 2) / 2])
    hess = np.array([[m(4, 0) / 4, m(3, 1) / 2, m(2, 2) / 4],
                     [m(3, 1) / 2, m(2, 2), m(1, 3) / 2],
                     [m(2, 2) / 4, m(1, 3) / 2, m(0, 4) / 4]])
    return grad, hess


def _require_smooth(act):
    if not act.smooth:
        raise ValueError(f"activation must be smooth or have closed forms for the 1/n recursions; got {act.name!r}")


def _diag_derivatives(act, k):
    """(g'(K), g''(K)) for g = <sigma^2>_K: closed forms, or (1/2)<(s^2)''>, (1/4)<(s^2)''''> by quadrature."""
    if act.family != "generic":
        _, _, g1, g2 = _closed_derivatives(act.name)
        return float(g1(k)), float(g2(k))
    _require_smooth(act)
    f = [act.numpy(j) for j in range(5)]
    e = lambda fn: G.normal_expect(fn, [[k]])  # noqa: E731
    g1 = e(lambda z: f[1](z) ** 2 + f[0](z) * f[2](z))
    g2 = e(lambda z: 6 * f[2](z) ** 2 + 8 * f[1](z) * f[3](z) + 2 * f[0](z) * f[4](z)) / 4
    return g1, g2


def _jacobian_hessian(act, K):
    """J_{pq} = dF_p/dK_q and H_{p,qr} over unique pairs p, q, r (PDLT §4.3-4.5 in matrix form)."""
    k = K.shape[0]
    P = _pairs(k)
    idx = {p: i for i, p in enumerate(P)}
    J = np.zeros((len(P), len(P)))
    H = np.zeros((len(P), len(P), len(P)))
    for i, (a, b) in enumerate(P):
        if a == b:
            g1, g2 = _diag_derivatives(act, K[a, a])
            J[i, i], H[i, i, i] = g1, g2
            continue
        grad, hess = _pair_derivatives(act, K[a, a], K[a, b], K[b, b])
        vars_ = [idx[(a, a)], idx[(a, b)], idx[(b, b)]]
        J[i, vars_] = grad
        H[i][np.ix_(vars_, vars_)] = hess
    return J, H


def _four_point(act, K):
    """C(K)_{pq} = <s_a s_b s_c s_d>_K - <s_a s_b><s_c s_d> over unique pairs p=(a,b), q=(c,d)."""
    P = _pairs(K.shape[0])
    F = G.kernel_matrix(act, K)
    C = np.zeros((len(P), len(P)))
    for i, (a, b) in enumerate(P):
        for j, (c, d) in enumerate(P[i:], start=i):
            counts = {}
            for x in (a, b, c, d):
                counts[x] = counts.get(x, 0) + 1
            m4 = G.expect_product(act, K, [(x, 0, p) for x, p in counts.items()])
            C[i, j] = C[j, i] = m4 - F[a, b] * F[c, d]
    return C


def vertex_recursion(activation, C_W_, C_b_, K1, widths) -> dict:
    """float64 leading-order 1/n hierarchy for k inputs and hidden widths n_1..n_L (layers 1..L+1).

    Sigma^(l) = Cov(G^(l)) = V^(l)/n_{l-1} and dK^(l) = E[G^(l)] - K^(l) at order 1/n (notes 2(b); PDLT §4.3, §4.5):
        V^(l+1)  = C_W^2 C(K^(l)) + (n_l/n_{l-1}) C_W^2 J V^(l) J^T,
        dK^(l+1) = C_W (J dK^(l) + (1/2) H : V^(l)/n_{l-1}),   V^(1) = 0, dK^(1) = dK^(2) = 0,
    over unique pairs p = (a<=b) (derived by the delta method from Cov(G') = C_W^2 E Cov_G(ss)/n + C_W^2 Cov F(G)).
    Returns {"pairs", "K" (L+1,k,k), "V" (L+1,P,P), "dK" (L+1,k,k) absolute (contains 1/n), "Sigma"}.
    """
    act = get_activation(activation)
    cw, cb = (float(v) for v in _weights(C_W_, C_b_))
    ws = _widths(widths)
    K = G.as_kernel(K1, "K1")
    P = _pairs(K.shape[0])
    Ks, Vs, dKs, Sig = [K], [np.zeros((len(P), len(P)))], [np.zeros(len(P))], [np.zeros((len(P), len(P)))]
    for nl in ws:
        Kl = Ks[-1]
        J, H = _jacobian_hessian(act, Kl)
        Cm = _four_point(act, Kl)
        sig = cw**2 * Cm / nl + cw**2 * J @ Sig[-1] @ J.T
        dk = cw * (J @ dKs[-1] + 0.5 * np.einsum("pqr,qr->p", H, Sig[-1]))
        Ks.append(cb + cw * G.kernel_matrix(act, Kl))
        Sig.append(sig)
        dKs.append(dk)
        Vs.append(nl * sig)
    dk_mats = []
    for d in dKs:
        m = np.zeros_like(K)
        for (a, b), v in zip(P, d):
            m[a, b] = m[b, a] = v
        dk_mats.append(m)
    return {"pairs": P, "K": np.array(Ks), "V": np.array(Vs), "dK": np.array(dk_mats), "Sigma": np.array(Sig)}


# ============================================================== single input: K, V, dK and derivative vertices
def _variance_map_derivatives_mp(act, k, dps: int = MP_DPS) -> tuple:
    """g'(K), g''(K) of g(K) = <sigma^2>_K for a smooth sigma, on the Mehler nodes (Price's theorem,
    d/dK <f>_K = <f''>_K / 2): g' = <s'^2> + <s s''>, g'' = (6<s''^2> + 8<s' s'''> + 2<s s^(4)>)/4."""
    m = lambda *spec: G.mp_node_expect(act, spec, k, dps)[0]  # noqa: E731
    return m((1, 2)) + m((0, 1), (2, 1)), (6 * m((2, 2)) + 8 * m((1, 1), (3, 1)) + 2 * m((0, 1), (4, 1))) / 4


def _single_moments(act, k, mp: bool = False) -> dict:
    """Gaussian averages at K for one input (floats, or mpf at 30 digits when ``mp``)."""
    if act.family == "homogeneous":
        ex = lambda p, d: G.homogeneous_moment_1d(act, p, d, k)  # noqa: E731
        conv = (lambda e: G.mp_value(e)) if mp else (lambda e: float(sp.N(e, 20)))
        return {"g": conv(ex(2, 0)), "s4": conv(ex(4, 0)), "d2": conv(ex(0, 2)), "s2d2": conv(ex(2, 2)),
                "d4": conv(ex(0, 4)), "g1": conv(act.A2), "g2": 0.0, "dd2": 0.0}
    _require_smooth(act)
    if mp:  # 35-digit trapezoid sums on the Mehler nodes, term by term
        m = lambda *spec: G.mp_node_expect(act, spec, k, MP_DPS + 5)[0]  # noqa: E731
        g1, g2 = _variance_map_derivatives_mp(act, k, MP_DPS + 5)
        return {"g": m((0, 2)), "s4": m((0, 4)), "d2": m((1, 2)), "s2d2": m((0, 2), (1, 2)), "d4": m((1, 4)),
                "g1": g1, "g2": g2, "dd2": m((2, 2)) + m((1, 1), (3, 1))}
    f = [act.numpy(j) for j in range(5)]
    e = lambda fn: G.normal_expect(fn, [[float(k)]])  # noqa: E731
    return {"g": e(lambda z: f[0](z) ** 2), "s4": e(lambda z: f[0](z) ** 4), "d2": e(lambda z: f[1](z) ** 2),
            "s2d2": e(lambda z: f[0](z) ** 2 * f[1](z) ** 2), "d4": e(lambda z: f[1](z) ** 4),
            "g1": e(lambda z: f[1](z) ** 2 + f[0](z) * f[2](z)),
            "g2": e(lambda z: 6 * f[2](z) ** 2 + 8 * f[1](z) * f[3](z) + 2 * f[0](z) * f[4](z)) / 4,
            "dd2": e(lambda z: f[2](z) ** 2 + f[1](z) * f[3](z))}


def _hidden_widths(widths, layers: int) -> list:
    """Hidden widths n_1..n_{layers-1} as a list; ``None`` gives width 1 everywhere, so that every
    1/n term of the (linear in 1/n_l) leading-order recursions is returned as its coefficient."""
    if widths is None:
        return [1] * (layers - 1)
    ws = _widths(widths)
    if len(ws) != layers - 1:
        raise ValueError(f"widths must list the {layers - 1} hidden widths n_1..n_{layers - 1} "
                         f"(one per layer below the last); got {len(ws)}")
    return ws


def single_input_recursion(activation, C_W_, C_b_, K1, layers: int, mp: bool = False, widths=None) -> dict:
    """Single-input 1/n hierarchy, forward and input-derivative (u orthogonal to x), layers 1..layers.

    (notes 2(b), 2(d2); derived) with chi_par = C_W g'(K), chi_perp = C_W <s'^2>, dD = C_W D d<s'^2>/dK,
    Sigma = Cov(G, D) of the stochastic metric and dK = E G - K, layer l of width n_l:
        K' = C_b + C_W g,  D' = chi_perp D,
        Sigma_KK' = C_W^2(<s^4> - g^2)/n_l + chi_par^2 Sigma_KK,        dK' = chi_par dK + (C_W/2) g'' Sigma_KK,
        Sigma_KD' = C_W^2 D(<s^2 s'^2> - g<s'^2>)/n_l + chi_par dD Sigma_KK + chi_par chi_perp Sigma_KD,
        Sigma_DD' = C_W^2 D^2(3<s'^4> - <s'^2>^2)/n_l + dD^2 Sigma_KK + 2 dD chi_perp Sigma_KD + chi_perp^2 Sigma_DD.
    Each layer's 1/n_l enters at its own layer (derived: Cov(G'|past) = C_W^2 Cov_G(s s)/n_l exactly).
    ``widths=None`` (equal widths): the coefficients of 1/n, V = n Sigma, n dK.  ``widths`` = the hidden
    widths n_1..n_{layers-1}: V = n_{l-1} Sigma (PDLT's vertex), n_dK = n_{l-1} dK, and the absolute
    "Sigma_KK", "Sigma_KD", "Sigma_DD", "dK" besides.
    Observables: E z^4/(E z^2)^2 - 3 = 3 Sigma_KK/K^2, E[(dz)^4]/E[(dz)^2]^2 - 3 = 3 Sigma_DD/D^2 (+ O(1/n^2)).
    Returns lists (floats or mpf) K, V, n_dK, D (D^(1) = 1), V_KD, V_DD.
    """
    act = get_activation(activation)
    cw, cb = _weights(C_W_, C_b_)
    layers = check_int("layers", layers, 1)
    ws = _hidden_widths(widths, layers)
    K1 = check_nonnegative("K", K1)
    conv = (lambda x: G._mp(x)) if mp else float
    keys = ("K", "dK", "D", "Sigma_KK", "Sigma_KD", "Sigma_DD")
    ctx = mpmath.workdps(MP_DPS + 10) if mp else _nullctx()
    with ctx:  # inputs converted at the working precision (C_b = 1/10 is not a binary fraction)
        one = mpmath.mpf(1) if mp else 1.0
        cw, cb = conv(cw), conv(cb)
        out = {"K": [conv(K1)], "D": [one]} | {x: [0 * one] for x in keys[1:2] + keys[3:]}
        for nl in ws:
            k, dk, D, VKK, VKD, VDD = (out[x][-1] for x in keys)
            s = _single_moments(act, k, mp)
            cpar, cperp = cw * s["g1"], cw * s["d2"]
            dD = cw * D * s["dd2"]
            out["K"].append(cb + cw * s["g"])
            out["Sigma_KK"].append(cw**2 * (s["s4"] - s["g"] ** 2) / nl + cpar**2 * VKK)
            out["dK"].append(cpar * dk + cw / 2 * s["g2"] * VKK)
            out["D"].append(cperp * D)
            out["Sigma_KD"].append(cw**2 * D * (s["s2d2"] - s["g"] * s["d2"]) / nl + cpar * dD * VKK
                                   + cpar * cperp * VKD)
            out["Sigma_DD"].append(cw**2 * D**2 * (3 * s["d4"] - s["d2"] ** 2) / nl + dD**2 * VKK
                                   + 2 * dD * cperp * VKD + cperp**2 * VDD)
        scale = [one] + [conv(nl) for nl in ws]  # n_{l-1} (1 at layer 1, where Sigma = 0)
        coef = lambda key: [a * b for a, b in zip(scale, out[key])]  # noqa: E731
        result = {"K": out["K"], "V": coef("Sigma_KK"), "n_dK": coef("dK"), "D": out["D"],
                  "V_KD": coef("Sigma_KD"), "V_DD": coef("Sigma_DD")}
    return result if widths is None else result | {k: out[k] for k in ("Sigma_KK", "Sigma_KD", "Sigma_DD", "dK")}


class _nullctx:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


def derivative_vertices(activation, C_W_, C_b_, K1, layers: int, widths=None) -> dict:
    """float64 per-layer V_KK/K^2, V_KD/(K D), V_DD/D^2 and D/D^(1) (single input, u orthogonal to x).

    Equal widths (``widths=None``): the coefficients of 1/n; with the hidden widths n_1..n_{layers-1}:
    V = n_{l-1} Cov (PDLT's normalisation), so Var D/D^2 = V_DD/(n_{l-1} D^2).  Any direction u (and the mean
    shift of D): :func:`gradient_recursion`.  Homogeneous sigma: the derivative has the forward law exactly
    (notes 2(d1)), V_DD/D^2 = V/K^2.
    """
    r = single_input_recursion(activation, C_W_, C_b_, K1, layers, widths=widths)
    K_, D_ = np.array(r["K"]), np.array(r["D"])
    return {"V_KK_over_K2": np.array(r["V"]) / K_**2, "V_KD_over_KD": np.array(r["V_KD"]) / (K_ * D_),
            "V_DD_over_D2": np.array(r["V_DD"]) / D_**2, "D_over_D1": D_}


@formula("correlations.single_input",
         source="derived from Hanin (arXiv 2204.01058) / PDLT §4.3-4.5, §5.4 recursions (notes 2(b), 2(d2))",
         statement="single-input K, V/K^2, n dK/K, V_DD/D^2, D/D^(1) at a layer (equal widths: coefficients of 1/n; "
                   "a width list: V = n_{l-1} Var G and the absolute Var G/K^2, dK/K, Var D/D^2; leading order)",
         params=[_ACT, _CW, _CB, Param("K", "real", "first-layer kernel K^(1) (> 0)", low=0, low_open=True), _LAYER,
                 _WIDTHS],
         symbolic=lambda: {
             "V": sp.Eq(sp.Symbol("V'"), C_W**2 * (sp.Symbol("<s^4>") - sp.Symbol("<s^2>") ** 2)
                        + sp.Symbol("chi_par") ** 2 * sp.Symbol("V")),
             "dK": sp.Eq(sp.Symbol("n dK'"), sp.Symbol("chi_par") * sp.Symbol("n dK")
                         + C_W / 2 * sp.Symbol("g''") * sp.Symbol("V"))})
def _single_input_formula(activation, C_W, C_b, K, layer, widths):
    ws = _optional_widths(widths)
    r = single_input_recursion(activation, C_W, C_b, K, layer, mp=True, widths=ws)
    with mpmath.workdps(MP_DPS + 10):
        k, D = r["K"][-1], r["D"][-1]
        vals = {"K": k, "V_over_K2": r["V"][-1] / k**2, "n_dK_over_K": r["n_dK"][-1] / k,
                "V_DD_over_D2": r["V_DD"][-1] / D**2, "D_over_D1": D}
        if ws is not None:
            vals |= {"Var_G_over_K2": r["Sigma_KK"][-1] / k**2, "dK_over_K": r["dK"][-1] / k,
                     "Var_D_over_D2": r["Sigma_DD"][-1] / D**2}
        return {key: sp.Float(v, MP_DPS) for key, v in vals.items()}


@formula("correlations.nlo",
         source="derived: delta-method 1/n recursions (notes 2(b); PDLT §4.3 four-point vertex, §4.5 NLO kernel)",
         statement="two-input K, n dK and every four-point vertex entry over the pairs (aa, ab, bb) at a layer "
                   "(widths n, or a width list against the reference n; leading order)",
         params=[_ACT, _CW, _CB, Param("n", "int", "hidden width (>= 1); the reference width of V and n_dK", low=1),
                 _LAYER, Param("K", "reals", "first-layer kernel K_aa,K_ab,K_bb"), _WIDTHS],
         symbolic=lambda: {
             "V": sp.Eq(sp.Symbol("V'"), C_W**2 * sp.Symbol("C(K)") + C_W**2 * sp.Symbol("J V J^T")),
             "dK": sp.Eq(sp.Symbol("dK'"), C_W * (sp.Symbol("J dK") + sp.Symbol("H:V") / (2 * n_sym)))})
def _nlo_formula(activation, C_W, C_b, n, layer, K, widths):
    single, trip = _parse_K(K)
    if single:
        raise ValueError("K must be three numbers K_aa,K_ab,K_bb for correlations.nlo")
    return nlo_layer(activation, C_W, C_b, trip, n, layer, _optional_widths(widths))


NLO_ENTRIES = ("K_aa", "K_ab", "K_bb", "n_dK_aa", "n_dK_ab", "n_dK_bb", "V_aa_aa", "V_aa_ab", "V_aa_bb",
               "V_ab_ab", "V_ab_bb", "V_bb_bb")
"""Every entry of the two-input leading-order hierarchy: the kernel, its 1/n mean shift (times n) and the
six distinct entries of the symmetric 3x3 four-point vertex over the pairs (aa, ab, bb)."""


def nlo_layer(activation, C_W_, C_b_, K1, n: int, layer: int, widths=None) -> dict:
    """30-digit two-input 1/n hierarchy of :func:`vertex_recursion` at ``layer``: every entry (:data:`NLO_ENTRIES`).

    Same recursion over the pairs (aa, ab, bb), in mpmath, layer l of width n_l:
        Sigma' = C_W^2 C(K)/n_l + C_W^2 J Sigma J^T,   dK' = C_W (J dK + (1/2) H : Sigma),
    Sigma = Cov(G) and dK = E G - K, each layer's 1/n_l at its own layer.  Equal widths (``widths=None``):
    all n_l = ``n`` and V = n Sigma, n_dK = n dK.  ``widths`` = the hidden widths n_1..n_{layer-1}:
    the same recursion with those widths, reported against the reference width ``n`` (V = n Sigma,
    n_dK = n dK; so the absolute 1/n corrections are V/n and n_dK/n).  The Gaussian averages
    (:func:`_layer_derivatives_mp`) are closed forms where they exist and 30-digit Mehler series
    otherwise; no symbolic simplification at evaluation time.  Returns sympy Floats keyed by
    :data:`NLO_ENTRIES` (V_aa_ab = n Cov(G_aa, G_ab), ...).
    """
    act = get_activation(activation)
    cw, cb = _weights(C_W_, C_b_)
    n = check_int("n", n, 1)
    layer = check_int("layer", layer, 1)
    ws = [n] * (layer - 1) if widths is None else _hidden_widths(widths, layer)
    with mpmath.workdps(MP_DPS + 10):
        cwm, cbm, nm = G._mp(cw), G._mp(cb), mpmath.mpf(n)
        k = [G._mp(v) for v in K1]
        sig, dk = mpmath.zeros(3, 3), mpmath.zeros(3, 1)
        for nl in ws:
            F, J, H, Cm = _layer_derivatives_mp(act, k)
            contraction = mpmath.matrix([sum(H[p][q][r] * sig[q, r] for q in range(3) for r in range(3))
                                         for p in range(3)])
            dk = cwm * (J * dk + contraction / 2)
            sig = cwm**2 * Cm / mpmath.mpf(nl) + cwm**2 * J * sig * J.T
            k = [cbm + cwm * f for f in F]
        V = nm * sig
        pairs = ("aa", "ab", "bb")
        vals = {f"K_{p}": k[i] for i, p in enumerate(pairs)} | {f"n_dK_{p}": nm * dk[i] for i, p in enumerate(pairs)}
        vals |= {f"V_{p}_{q}": V[i, j] for i, p in enumerate(pairs) for j, q in enumerate(pairs) if j >= i}
        return {key: sp.Float(vals[key], MP_DPS) for key in NLO_ENTRIES}


# ============================================================== gradients: joint forward-derivative hierarchy
_S = sp.symbols("s0:9")  # s_d stands for sigma^(d)(z)
_MAX_SIGMA_ORDER = 7


def _dz(expr):
    """d/dz of a polynomial in s_d = sigma^(d)(z) (s_d -> s_{d+1})."""
    return sp.expand(sum(sp.diff(expr, _S[d]) * _S[d + 1] for d in range(len(_S) - 1)))


def _dz_n(expr, times: int):
    for _ in range(times):
        expr = _dz(expr)
    return expr


@lru_cache(maxsize=None)
def _tangent_integrands() -> tuple:
    """(names, expressions in s_0..s_7): the one-input Gaussian averages the joint recursion needs.

    g_k = d^k<s^2>_K/dK^k and a_k = d^k<s'^2>_K/dK^k (k = 0..3; Price: d/dK <f>_K = <f''>_K/2), and
    h_m^(j) for h_m = s^(4-m) s'^m (the four-point function, :func:`_tangent_layer`).
    """
    names, exprs = [], []
    for base, f in (("g", _S[0] ** 2), ("a", _S[1] ** 2)):
        for k in range(4):
            names.append(f"{base}{k}")
            exprs.append(_dz_n(f, 2 * k) / 2**k)
    for m in range(5):
        for j in range(m % 2, m + 1, 2):
            names.append(f"h{m}_{j}")
            exprs.append(_dz_n(_S[0] ** (4 - m) * _S[1] ** m, j))
    return tuple(names), tuple(exprs)


@lru_cache(maxsize=None)
def _tangent_evaluator(name: str, mp: bool):
    """z -> [integrand values] for the activation ``name`` (mpmath or numpy), sigma derivatives shared."""
    act = get_activation(name)
    names, exprs = _tangent_integrands()
    poly = sp.lambdify(_S[:_MAX_SIGMA_ORDER + 1], list(exprs), "mpmath" if mp else "numpy", cse=True)
    if mp:
        derivs = act.mpmath_derivatives(_MAX_SIGMA_ORDER)
        return lambda z: poly(*derivs(z))
    fns = [act.numpy(d) for d in range(_MAX_SIGMA_ORDER + 1)]
    return lambda z: poly(*(np.broadcast_to(f(z), np.shape(z)) for f in fns))


def _tangent_averages(act, k, mp: bool) -> dict:
    """The averages of :func:`_tangent_integrands` at z ~ N(0, K) by the trapezoid rule in x = z/sqrt(K).

    For sigma analytic in a strip the rule converges like e^{-2 pi tau/h} (Trefethen & Weideman, SIAM
    Rev. 2014); the spacing is halved from h = 1/4 until two successive sums agree to 10^-(MP_DPS+3)
    of the largest average (mp) or 10^-14 (float64), on |x| <= 14 (Gaussian tail below 10^-42).
    """
    names, _ = _tangent_integrands()
    fn = _tangent_evaluator(act.name, mp)
    if mp:
        tol = mpmath.mpf(10) ** (-MP_DPS - 3)
        sqrt_k, norm = mpmath.sqrt(k), 1 / mpmath.sqrt(2 * mpmath.pi)
        point = lambda x: [v * mpmath.exp(-x * x / 2) for v in fn(sqrt_k * x)]  # noqa: E731
    else:
        tol = 1e-14
    # T_{h/2} = T_h/2 + (h/2) sum over the new (odd) nodes: each level evaluates only its new nodes
    h, prev, total = 0.25, None, None
    while h >= 2.0**-9:
        J = int(14 / h)  # nodes j h, |j| <= J; after the first level only the odd j are new
        js = range(-J, J + 1) if total is None else range(1 - J, J, 2)
        if mp:
            new = [sum(col) for col in zip(*(point(mpmath.mpf(j) * h) for j in js))]
        else:
            xs = np.array(js, dtype=float) * h
            new = list(np.asarray(fn(np.sqrt(float(k)) * xs), dtype=float) @ np.exp(-xs * xs / 2))
        total = new if total is None else [a + b for a, b in zip(total, new)]
        sums = [h * v * (norm if mp else 1 / math.sqrt(2 * math.pi)) for v in total]
        if prev is not None:
            scale = max(abs(v) for v in sums)
            if max(abs(a - b) for a, b in zip(sums, prev)) <= tol * max(scale, 1):
                return dict(zip(names, sums))
        prev, h = sums, h / 2
    raise ValueError(f"activation {act.name!r}: the Gaussian averages of the gradient recursion did not converge")


def _tangent_layer(av: dict, K_, P_, D_) -> tuple:
    """(F, J, H, C) of the joint metric map over the entries (zz, z∂, ∂∂) of G = [[K, P], [P, D]].

    Derived: given the past, (z, ∂z) rows are N(0, G); with phi = (sigma(z), sigma'(z) ∂z) the next metric
    is C_b e e^T + C_W <phi phi^T>_G at infinite width.  Stein's lemma in ∂z (E[h(z) y^m] =
    sum_i m!/(i!(m-2i)! 2^i) D^i P^(m-2i) <h^(m-2i)>_K, exact for polynomials in y) gives
        F = (g(K), P g'(K), D a(K) + 2 P^2 a'(K)),  g = <sigma^2>_K, a = <sigma'^2>_K,
    whose derivatives in (K, P, D) are J and H, and the four-point covariance
    C_pq = <phi_a phi_b phi_c phi_d> - F_p F_q from the same expansion with h_m = sigma^(4-m) sigma'^m.
    """
    g, a = [av[f"g{k}"] for k in range(4)], [av[f"a{k}"] for k in range(4)]
    F = [g[0], P_ * g[1], D_ * a[0] + 2 * P_**2 * a[1]]
    J = [[g[1], 0, 0], [P_ * g[2], g[1], 0], [D_ * a[1] + 2 * P_**2 * a[2], 4 * P_ * a[1], a[0]]]
    H = [[[g[2], 0, 0], [0, 0, 0], [0, 0, 0]],
         [[P_ * g[3], g[2], 0], [g[2], 0, 0], [0, 0, 0]],
         [[D_ * a[2] + 2 * P_**2 * a[3], 4 * P_ * a[2], a[1]], [4 * P_ * a[2], 4 * a[1], 0], [a[1], 0, 0]]]

    def moment(m):  # <sigma^(4-m) sigma'^m (∂z)^m>
        return sum(math.factorial(m) // (math.factorial(i) * math.factorial(m - 2 * i) * 2**i)
                   * D_**i * P_ ** (m - 2 * i) * av[f"h{m}_{m - 2 * i}"] for i in range(m // 2 + 1))
    M = [moment(m) for m in range(5)]
    pair_power = {(0, 0): 0, (0, 1): 1, (0, 2): 2, (1, 1): 2, (1, 2): 3, (2, 2): 4}
    C = [[M[pair_power[tuple(sorted((p, q)))]] - F[p] * F[q] for q in range(3)] for p in range(3)]
    return F, J, H, C


def _mat(rows, mp: bool):
    return mpmath.matrix(rows) if mp else np.array(rows, dtype=float)


def tangent_metric(x, u, C_W_, C_b_) -> tuple:
    """First-layer metric (K, P, D) = (C_b + C_W |x|^2/n_0, C_W x.u/n_0, C_W |u|^2/n_0) of (z, ∂_u z)."""
    cw, cb = (float(v) for v in _weights(C_W_, C_b_))
    x, u = (np.asarray(v, dtype=float).reshape(-1) for v in (x, u))
    if x.shape != u.shape:
        raise ValueError(f"u must have the shape of x {x.shape}; got {u.shape}")
    n0 = x.size
    return cb + cw * x @ x / n0, cw * x @ u / n0, cw * u @ u / n0


def gradient_recursion(activation, C_W_, C_b_, metric, layers: int, widths=None, mp: bool = False) -> dict:
    """Leading-order 1/n hierarchy of the joint metric of (z, ∂_u z) for one input x and any direction u.

    Derived (notes 2(d), §1.2): the pairs (z_i, ∂z_i) of layer l+1 are, given the past, i.i.d. Gaussian with
    the stochastic metric G^ over (zz, z∂, ∂∂); the delta method as in :func:`vertex_recursion` gives, for
    layer l of width n_l (each 1/n_l at its own layer), Sigma = Cov(G^), dG = E G^ - G:
        Sigma' = C_W^2 C(G)/n_l + C_W^2 J Sigma J^T,   dG' = C_W (J dG + (1/2) H : Sigma),
    with F, J, H, C of :func:`_tangent_layer`.  The derivative second moment is E[(∂z)^2] = E D^ = D + dD
    (its finite-width mean shift dD: the exploding/vanishing-gradient quantity) and its fluctuation
    Var D^/(E D^)^2 = Sigma_DD/D^2 (+ O(1/n^2)).  At P = 0 (u orthogonal to x) Sigma restricted to (zz, ∂∂)
    is :func:`single_input_recursion`'s; a P != 0 couples the derivative to the forward metric through
    J_{∂∂,K} = D a' + 2P^2 a'' and J_{∂∂,z∂} = 4 P a'.  Smooth sigma only (homogeneous sigma: the
    exact law of notes 2(d1)).
    ``metric`` = (K, P, D) of the first layer (:func:`tangent_metric`); ``widths``: hidden widths
    n_1..n_{layers-1} (None: the coefficients of 1/n).  Returns lists per layer: "K", "P", "D", "dK", "dP",
    "dD" and "Sigma" (3x3 over (zz, z∂, ∂∂)), floats or mpf.
    """
    act = get_activation(activation)
    _require_smooth(act)
    cw, cb = _weights(C_W_, C_b_)
    layers = check_int("layers", layers, 1)
    ws = _hidden_widths(widths, layers)
    if len(metric) != 3:
        raise ValueError(f"metric must be the three numbers K, P, D; got {metric!r}")
    K1 = check_nonnegative("metric (K)", metric[0])
    D1 = check_nonnegative("metric (D)", metric[2])
    P1 = sp.nsimplify(metric[1]) if not isinstance(metric[1], (sp.Basic, float)) else metric[1]
    if P1**2 > K1 * D1 * (1 + 1e-12):
        raise ValueError(f"metric must be positive semi-definite (P^2 <= K D); got {metric!r}")
    conv = G._mp if mp else float
    ctx = mpmath.workdps(MP_DPS + 10) if mp else _nullctx()
    with ctx:
        cw, cb = conv(cw), conv(cb)
        g = [conv(K1), conv(P1), conv(D1)]
        dg, sig = _mat([[0], [0], [0]], mp), _mat([[0] * 3] * 3, mp)
        out = {"K": [g[0]], "P": [g[1]], "D": [g[2]], "dK": [0 * cw], "dP": [0 * cw], "dD": [0 * cw],
               "Sigma": [sig]}
        for nl in ws:
            F, J, H, C = _tangent_layer(_tangent_averages(act, g[0], mp), *g)
            J, C = _mat(J, mp), _mat(C, mp)
            contraction = _mat([[sum(H[p][q][r] * sig[q, r] for q in range(3) for r in range(3))] for p in range(3)],
                               mp)
            dg = cw * (J * dg + contraction / 2) if mp else cw * (J @ dg + contraction / 2)
            sig = cw**2 * C / conv(nl) + cw**2 * ((J * sig * J.T) if mp else J @ sig @ J.T)
            g = [cb + cw * F[0], cw * F[1], cw * F[2]]
            for key, v in zip(("K", "P", "D"), g):
                out[key].append(v)
            for i, key in enumerate(("dK", "dP", "dD")):
                out[key].append(dg[i, 0])
            out["Sigma"].append(sig)
    return out


_TANGENT_PAIRS = ("K", "P", "D")


@formula("correlations.gradient",
         source="derived: delta-method 1/n recursion of the joint metric of (z, ∂_u z) (notes 2(d); PDLT §4.3-4.5 "
                "machinery; Hanin arXiv 2204.01058 EVGP variant); Stein's lemma for the maps",
         statement="input-derivative second moment D = E(∂_u z)^2 at a layer: infinite-width D, its 1/n mean shift "
                   "n dD/D and fluctuation V_DD/D^2 = n Var D^/D^2, for any u (P = C_W x.u/n_0 != 0 allowed); "
                   "smooth sigma, leading order",
         params=[_ACT, _CW, _CB, Param("metric", "reals", "first-layer metric K,P,D (C_b + C_W|x|^2/n_0, C_W x.u/n_0, "
                                       "C_W|u|^2/n_0)"), _LAYER, _WIDTHS],
         symbolic=lambda: {
             "F": sp.Eq(sp.Symbol("(K', P', D')"), sp.Tuple(C_b + C_W * sp.Symbol("g(K)"),
                                                            C_W * sp.Symbol("P") * sp.Symbol("g'(K)"),
                                                            C_W * (sp.Symbol("D") * sp.Symbol("a(K)")
                                                                   + 2 * sp.Symbol("P") ** 2 * sp.Symbol("a'(K)")))),
             "Sigma": sp.Eq(sp.Symbol("Sigma'"), C_W**2 * sp.Symbol("C(G)") / sp.Symbol("n_l")
                            + C_W**2 * sp.Symbol("J Sigma J^T")),
             "dG": sp.Eq(sp.Symbol("dG'"), C_W * (sp.Symbol("J dG") + sp.Symbol("H:Sigma") / 2))})
def _gradient_formula(activation, C_W, C_b, metric, layer, widths):
    ws = _optional_widths(widths)
    r = gradient_recursion(activation, C_W, C_b, metric, layer, widths=ws, mp=True)
    with mpmath.workdps(MP_DPS + 10):
        ref = mpmath.mpf(1) if ws is None else mpmath.mpf(ws[-1])  # n_{l-1}: PDLT's vertex normalisation
        D, sig = r["D"][-1], r["Sigma"][-1]
        vals = {"K": r["K"][-1], "P": r["P"][-1], "D": D, "n_dD_over_D": ref * r["dD"][-1] / D if D else 0 * ref,
                "V_DD_over_D2": ref * sig[2, 2] / D**2 if D else 0 * ref, "n_dK": ref * r["dK"][-1],
                "n_dP": ref * r["dP"][-1]}
        vals |= {f"V_{a}{b}": ref * sig[i, j] for i, a in enumerate(_TANGENT_PAIRS)
                 for j, b in enumerate(_TANGENT_PAIRS) if j >= i}
        if ws is not None:
            vals |= {"dD_over_D": r["dD"][-1] / D, "Var_D_over_D2": sig[2, 2] / D**2}
        return {key: sp.Float(v, MP_DPS) for key, v in vals.items()}


@lru_cache(maxsize=None)
def _closed_derivatives_mp(name):
    """mpmath-lambdified gradient and Hessian of F = <s_a s_b> in (K_aa, K_ab, K_bb) and g', g'' (exact derivatives)."""
    F, _, g, _ = G._symbolic_maps(name)
    v = (G.Kaa, G.Kab, G.Kbb)
    lam = lambda e: sp.lambdify(v, e, "mpmath")  # noqa: E731
    one = lambda e: sp.lambdify(G.Ksym, e, "mpmath")  # noqa: E731
    return ([lam(sp.diff(F, x)) for x in v], [[lam(sp.diff(F, x, y)) for y in v] for x in v],
            one(sp.diff(g, G.Ksym)), one(sp.diff(g, G.Ksym, 2)))


@lru_cache(maxsize=None)
def _homogeneous_pair_mp(name, a, b):
    """mpmath-lambdified homogeneous two-input moment as a function of (K_aa, K_bb, theta)."""
    return sp.lambdify((G.Kaa, G.Kbb, G._theta), G._homogeneous_theta_form(name, a, b), "mpmath")


def _layer_derivatives_mp(act, k):
    """(F, J, H, C) at the two-input kernel k = (K_aa, K_ab, K_bb), 30 digits, over the pairs (aa, ab, bb).

    F = (g(K_aa), <s_a s_b>, g(K_bb)); J, H the Jacobian and Hessian of F (closed-form derivatives, or
    Price's theorem with Mehler series: dF/dK_ab = <s'_a s'_b>, dF/dK_aa = <s''_a s_b>/2, ...);
    C the four-point covariance <s_a s_b s_c s_d> - F_p F_q.
    """
    ka, kab, kb = k
    F = _layer_maps_mp(act, k, 0)
    if act.family != "generic" and act.name in activation_names():
        grad_f, hess_f, g1, g2 = _closed_derivatives_mp(act.name)
        grad = [f(ka, kab, kb) for f in grad_f]
        hess = [[f(ka, kab, kb) for f in row] for row in hess_f]
        d1, d2 = [g1(ka), g1(kb)], [g2(ka), g2(kb)]
    else:
        _require_smooth(act)
        m = lambda i, j: G.mp_pair_expect(act, ((i, 1),), ((j, 1),), ka, kab, kb)[0]  # noqa: E731
        grad = [m(2, 0) / 2, m(1, 1), m(0, 2) / 2]
        hess = [[m(4, 0) / 4, m(3, 1) / 2, m(2, 2) / 4],
                [m(3, 1) / 2, m(2, 2), m(1, 3) / 2],
                [m(2, 2) / 4, m(1, 3) / 2, m(0, 4) / 4]]
        (d1a, d2a), (d1b, d2b) = (_variance_map_derivatives_mp(act, kk) for kk in (ka, kb))
        d1, d2 = [d1a, d1b], [d2a, d2b]
    J = mpmath.matrix([[d1[0], 0, 0], grad, [0, 0, d1[1]]])
    H = [[[d2[0], 0, 0], [0, 0, 0], [0, 0, 0]], hess, [[0, 0, 0], [0, 0, 0], [0, 0, d2[1]]]]
    if act.family == "homogeneous":
        theta = mpmath.atan2(mpmath.sqrt(max(ka * kb - kab**2, 0)), kab)
        M = lambda p, q: _homogeneous_pair_mp(act.name, (p, 0), (q, 0))(ka, kb, theta)  # noqa: E731
        a4 = G._mp(act.A4)
        m4 = [3 * a4 * ka**2, 3 * a4 * kb**2]
    else:
        M = lambda p, q: G.mp_pair_expect(act, ((0, p),), ((0, q),), ka, kab, kb)[0]  # noqa: E731
        m4 = [G.mp_node_expect(act, ((0, 4),), kk)[0] for kk in (ka, kb)]
    ga, fab, gb = F
    m22 = M(2, 2)
    Cm = mpmath.matrix([[m4[0] - ga**2, M(3, 1) - ga * fab, m22 - ga * gb],
                        [0, m22 - fab**2, M(1, 3) - fab * gb],
                        [0, 0, m4[1] - gb**2]])
    Cm[1, 0], Cm[2, 0], Cm[2, 1] = Cm[0, 1], Cm[0, 2], Cm[1, 2]
    return F, J, H, Cm


# ============================================================== K*=0 class: large-depth asymptotics (derived symbolically)
def _taylor(expr_z, z, order) -> sp.Poly:
    """Taylor polynomial of expr_z at 0 through z^{2 order + 2}: enough for :func:`_gauss_series` of
    its products and its derivative (a product's terms through z^{2 order + 1} need no more)."""
    return sp.Poly(sp.series(expr_z, z, 0, 2 * order + 3).removeO(), z)


def _gauss_series(expr_z, z, order):
    """<p(z)>_K for a polynomial truncation of expr_z: z^{2m} -> (2m-1)!! K^m (Isserlis), up to K^order.

    ``expr_z`` may be a :class:`sympy.Poly` in z built from :func:`_taylor` polynomials (products of
    polynomials instead of a series of each product: the same coefficients, without re-expanding
    powers of tanh)."""
    if isinstance(expr_z, sp.Poly):
        terms = expr_z.terms()
    else:
        terms = sp.Poly(sp.expand(sp.series(expr_z, z, 0, 2 * order + 2).removeO()), z).terms()
    return sp.expand(sum(c * sp.factorial2(j - 1) * K ** (j // 2)
                         for (j,), c in terms if j % 2 == 0 and j <= 2 * order + 1))


def _leading_coefficient(e, l):
    """lim_{l -> oo} e for e rational in l (coefficients may hold other symbols), from the degrees and
    leading coefficients of its numerator and denominator; sympy's ``limit`` for anything else."""
    r = sp.cancel(sp.together(e))
    if not r.is_rational_function(l):
        return sp.limit(r, l, sp.oo)
    num, den = (sp.Poly(x, l) for x in sp.fraction(r))
    if num.is_zero or num.degree() < den.degree():
        return sp.Integer(0)
    if num.degree() > den.degree():
        raise ValueError("the leading-order equation diverges: the ansatz's power of l is wrong")
    return sp.cancel(num.LC() / den.LC())


def k0_asymptotics(activation="tanh") -> dict:
    """Leading large-l behaviour at K*=0 criticality (C_W = 1/sigma_1^2, C_b = 0), derived with sympy.

    Method: expand every Gaussian average in K (Isserlis), insert the ansatz
    K = 1/(A l) (+ c log l in 1/K), V = v l K^2, n dK = d K l, D ~ l^{-p}, V_KD = w l K D,
    V_DD = u l D^2 into X(l+1) - X(l) = RHS - X, expand in 1/l and solve the leading order.
    tanh: K ~ 1/(2l), 1/K ~ 2l - (5/6) log l, V/K^2 ~ 2l/3, n dK/K ~ -l/3, D ~ 1/l,
    V_DD/D^2 ~ 8l/3 (derivative excess kurtosis 3V_DD/(nD^2) ~ 8l/n).
    """
    act = get_activation(activation)
    crit = criticality(act)
    if crit["class"] != "K*=0":
        raise ValueError(f"activation must be in the K*=0 class (tanh, erf, sin); got {act.name!r}")
    cw = crit["C_W"]
    z = sp.Symbol("z", real=True)
    s = _taylor(act.expr.subs(_t, z), z, 3)
    ds = s.diff(z)
    avg = lambda e: _gauss_series(e, z, 3)  # noqa: E731
    g = sp.expand(cw * avg(s**2))
    a1, a2 = g.coeff(K, 2), g.coeff(K, 3)
    b1 = sp.expand(cw * avg(ds**2)).coeff(K, 1)
    l, A, c, v, d, w, u = sp.symbols("l A c v d w u", real=True)
    A_ = sp.solve(sp.Eq(-1 / A, a1 / A**2), A)[0]
    # log correction of 1/K: u(l+1) - u(l) = -a1 - (a2 - a1^2)/u + O(1/u^2)
    c_ = sp.solve(sp.Eq(c, -(a2 - a1**2) / A_), c)[0]
    Kl = 1 / (A_ * l)
    chi_par = sp.diff(g, K).subs(K, Kl)
    chi_perp = (cw * avg(ds**2)).subs(K, Kl)
    var4 = (cw**2 * (avg(s**4) - avg(s**2) ** 2)).subs(K, Kl)
    lead = lambda e, power: _leading_coefficient(e * l**power, l)  # noqa: E731
    shift = lambda X: X.subs(l, l + 1) - X  # noqa: E731
    V = v * l * Kl**2
    v_ = sp.solve(sp.Eq(lead(shift(V), 2), lead(var4 + (chi_par**2 - 1) * V, 2)), v)[0]
    V = V.subs(v, v_)
    g2half = (cw / 2 * sp.diff(g / cw, K, 2)).subs(K, Kl)
    nd = d * Kl * l
    d_ = sp.solve(sp.Eq(lead(shift(nd), 1), lead((chi_par - 1) * nd + g2half * V, 1)), d)[0]
    p_ = sp.simplify(-b1 / A_)
    D = l ** (-p_)
    dD = cw * sp.diff(avg(ds**2), K).subs(K, Kl) * D
    mix = (cw**2 * (avg(s**2 * ds**2) - avg(s**2) * avg(ds**2))).subs(K, Kl) * D
    VKD = w * l * Kl * D
    eq_w = (shift(VKD) - (mix + chi_par * dD * V + (chi_par * chi_perp - 1) * VKD)) / D
    w_ = sp.solve(sp.Eq(lead(eq_w, 1), 0), w)[0]
    VKD = VKD.subs(w, w_)
    quad = (cw**2 * (3 * avg(ds**4) - avg(ds**2) ** 2)).subs(K, Kl) * D**2
    VDD = u * l * D**2
    eq_u = (shift(VDD) - (quad + dD**2 * V + 2 * dD * chi_perp * VKD + (chi_perp**2 - 1) * VDD)) / D**2
    u_ = sp.solve(sp.Eq(lead(eq_u, 0), 0), u)[0]
    return {"a_1": a1, "a_2": a2, "b_1": b1, "p_perp": p_, "K": 1 / (A_ * l),
            "inv_K": A_ * l + c_ * sp.log(l), "V_over_K2": v_ * l, "n_dK_over_K": sp.simplify(d_ * l),
            "D_power": -p_, "V_KD_over_KD": w_ * l, "V_DD_over_D2": u_ * l,
            "derivative_excess_kurtosis_times_n": 3 * u_ * l}


def tanh_asymptotics() -> dict:
    """:func:`k0_asymptotics` for tanh (C_W = 1, C_b = 0)."""
    return k0_asymptotics("tanh")


# ============================================================== 1/n^2: the six-point cumulant (single input)
def _metric_map_moments(act, k, mp: bool = False) -> dict:
    """Conditional law of the next metric given G = K, per unit C_W (floats, or mpf at 35 digits when ``mp``).

    With Y = sigma(sqrt(K) xi)^2: phi = E Y = <s^2>_K and its K-derivatives phi', phi''; h = Var Y = <s^4> - phi^2
    and h' = d<s^4>/dK - 2 phi phi' (Price: d<F>_K/dK = <F''>/2, (s^4)'' = 12 s^2 s'^2 + 4 s^3 s''); t = kappa_3(Y) =
    <s^6> - 3<s^4>phi + 2phi^3.  Homogeneous sigma: <s^{2m}>_K = M_m K^m exactly.
    """
    if act.family == "homogeneous":
        conv = (lambda e: G.mp_value(e, MP_DPS + 5)) if mp else (lambda e: float(sp.N(e, 20)))
        m1, m2, m3 = (conv(G.homogeneous_moment_1d(act, 2 * j, 0, 1)) for j in (1, 2, 3))
        return {"phi": m1 * k, "phi1": m1, "phi2": 0 * m1, "h": (m2 - m1**2) * k**2,
                "h1": 2 * (m2 - m1**2) * k, "t": (m3 - 3 * m1 * m2 + 2 * m1**3) * k**3}
    _require_smooth(act)
    if mp:
        m = lambda *spec: G.mp_node_expect(act, spec, k, MP_DPS + 5)[0]  # noqa: E731
        phi1, phi2 = _variance_map_derivatives_mp(act, k, MP_DPS + 5)
    else:
        f = [act.numpy(j) for j in range(3)]
        fns = {((0, 2),): lambda z: f[0](z) ** 2, ((0, 4),): lambda z: f[0](z) ** 4,
               ((0, 6),): lambda z: f[0](z) ** 6, ((0, 2), (1, 2)): lambda z: f[0](z) ** 2 * f[1](z) ** 2,
               ((0, 3), (2, 1)): lambda z: f[0](z) ** 3 * f[2](z)}
        m = lambda *spec: G.normal_expect(fns[spec], [[float(k)]])  # noqa: E731
        phi1, phi2 = _diag_derivatives(act, float(k))
    phi, s4, s6 = m((0, 2)), m((0, 4)), m((0, 6))
    ds4 = 6 * m((0, 2), (1, 2)) + 2 * m((0, 3), (2, 1))
    return {"phi": phi, "phi1": phi1, "phi2": phi2, "h": s4 - phi**2, "h1": ds4 - 2 * phi * phi1,
            "t": s6 - 3 * s4 * phi + 2 * phi**3}


def six_point_recursion(activation, C_W_, C_b_, K1, layers: int, mp: bool = False) -> dict:
    """Leading 1/n^2 six-point cumulant of one neuron, single input, equal widths n, layers 1..layers.

    Derived.  Given layer l, z^(l+1) ~ N(0, G') with G' = C_b + (C_W/n) sum_j Y_j, Y_j = sigma(z_j^(l))^2
    i.i.d. given G = G^(l), so z is a scale mixture of Gaussians and, from E z^{2k} = (2k-1)!! E G^k,
        kappa_4(z) = 3 Var G,      kappa_6(z) = 15 kappa_3(G)          (exact at any width).
    Given G the next metric has mean f(G) = C_b + C_W phi(G), variance C_W^2 h(G)/n and third cumulant
    C_W^3 t(G)/n^2 (phi, h, t of :func:`_metric_map_moments`).  The law of total cumulance,
        kappa_3(G') = E kappa_3(G'|G) + 3 Cov(E[G'|G], Var(G'|G)) + kappa_3(E[G'|G]),
    with G = E G + eps, Var eps = V/n, kappa_3(eps) = O(n^-2), E eps^4 = 3V^2/n^2 + O(n^-3) and a Taylor
    expansion of f (kappa(eps, eps, eps^2) = 2 Var(eps)^2 + O(n^-3)) gives, with c3 = n^2 kappa_3(G):
        c3' = chi_par^3 c3 + 3 chi_par^2 f''(K) V^2 + 3 C_W^2 chi_par h'(K) V + C_W^3 t(K) + O(1/n),
        V'  = C_W^2 h(K) + chi_par^2 V,    chi_par = f'(K) = C_W phi'(K),   c3^(1) = V^(1) = 0.
    The O(1/n) shift of E G moves each term only at relative order 1/n, so it does not enter.
    ReLU (C_W = 2, C_b = 0): c3^(L+1) = (75 L^2 - 31 L) K^3, i.e. kappa_6/K^3 = (1125 L^2 - 465 L)/n^2, the
    expansion of the exact product law (:func:`kappa6`).
    Returns lists (floats, or mpf when ``mp``): K, V (= n Var G), c3 (= n^2 kappa_3 G), kappa6_n2 (= 15 c3,
    the coefficient of 1/n^2 in kappa_6(z)), kappa6_n2_over_K3, and c3_local: the conditional third cumulants
    alone carried forward (c3' = chi^3 c3 + C_W^3 t), i.e. the cross terms dropped (a reference, not the law).
    """
    act = get_activation(activation)
    cw, cb = _weights(C_W_, C_b_)
    layers = check_int("layers", layers, 1)
    conv = (lambda x: G._mp(x)) if mp else float
    zero = mpmath.mpf(0) if mp else 0.0
    ctx = mpmath.workdps(MP_DPS + 10) if mp else _nullctx()
    with ctx:
        cw, cb = conv(cw), conv(cb)
        out = {"K": [conv(check_positive("K", K1))], "V": [zero], "c3": [zero], "c3_local": [zero]}
        for _ in range(layers - 1):
            k, V, c3, loc = (out[x][-1] for x in ("K", "V", "c3", "c3_local"))
            s = _metric_map_moments(act, k, mp)
            chi, f2 = cw * s["phi1"], cw * s["phi2"]
            out["K"].append(cb + cw * s["phi"])
            out["V"].append(cw**2 * s["h"] + chi**2 * V)
            out["c3"].append(chi**3 * c3 + 3 * chi**2 * f2 * V**2 + 3 * cw**2 * chi * s["h1"] * V + cw**3 * s["t"])
            out["c3_local"].append(chi**3 * loc + cw**3 * s["t"])
        out["kappa6_n2"] = [15 * c for c in out["c3"]]
        out["kappa6_n2_over_K3"] = [15 * c / k**3 for c, k in zip(out["c3"], out["K"])]
    return out


@formula("correlations.kappa6",
         source="derived (law of total cumulance + delta method on the metric chain; Hanin arXiv 2204.01058: "
                "cumulants of order 2k are O(n^{-(k-1)}))",
         statement="single-neuron kappa_6(z^(l)) = c6/n^2 + O(n^-3), c6 = 15 n^2 kappa_3(G^(l)) (single input, "
                   "equal widths n)",
         params=[_ACT, _CW, _CB, Param("K", "real", "first-layer kernel K^(1) (> 0)", low=0, low_open=True), _LAYER],
         symbolic=lambda: {
             "kappa6": sp.Eq(sp.Function("kappa_6")(sp.Symbol("z")), 15 * sp.Function("kappa_3")(sp.Symbol("G"))),
             "c3": sp.Eq(sp.Symbol("c3'"), sp.Symbol("chi_par") ** 3 * sp.Symbol("c3")
                         + 3 * sp.Symbol("chi_par") ** 2 * sp.Symbol("f''") * sp.Symbol("V") ** 2
                         + 3 * C_W**2 * sp.Symbol("chi_par") * sp.Symbol("h'") * sp.Symbol("V")
                         + C_W**3 * sp.Symbol("t"))})
def _kappa6_formula(activation, C_W, C_b, K, layer):
    r = six_point_recursion(activation, C_W, C_b, K, layer, mp=True)
    with mpmath.workdps(MP_DPS + 10):
        k = r["K"][-1]
        vals = {"K": k, "V_over_K2": r["V"][-1] / k**2, "n2_kappa3_G": r["c3"][-1], "kappa6_n2": r["kappa6_n2"][-1],
                "kappa6_n2_over_K3": r["kappa6_n2_over_K3"][-1]}
        return {key: sp.Float(v, MP_DPS) for key, v in vals.items()}


# ============================================================== K*=0 class: 1/K to higher order, kappa_6 at large depth
@lru_cache(maxsize=None)
def _k0_class(act) -> sp.Expr:
    """C_W at K*=0 criticality; ValueError naming the activation outside the class."""
    crit = criticality(act)
    if crit["class"] != "K*=0":
        raise ValueError(f"activation must be in the K*=0 class (tanh, erf, sin); got {act.name!r}")
    return crit["C_W"]


@lru_cache(maxsize=None)
def _k0_map_series(act, order: int) -> tuple:
    """Exact Taylor coefficients (1, a_1, a_2, ...) of g(K) = C_W <sigma^2>_K at criticality, up to K^order."""
    cw = _k0_class(act)
    z = sp.Symbol("z", real=True)
    sigma, degree = act.expr.subs(_t, z), 2 * order + 2
    try:  # sympy's ring series: much faster than sp.series where it knows the function (tanh, sin)
        series = rs_series(sigma, z, degree)
        if any(any(m[:-1]) for m in series):  # a term left in another generator: not a plain Taylor series
            raise ValueError("not a series in z alone")
        taylor = {m[-1]: series.ring.domain.to_sympy(v) for m, v in series.items()}
    except Exception:  # noqa: BLE001 - any function rs_series does not know (erf, user expressions)
        taylor = {j: v for (j,), v in sp.Poly(sp.series(sigma, z, 0, degree).removeO(), z).terms()}
    # the square of the truncated series, truncated (sp.series of sigma^2 itself is far slower)
    square = {}
    for i, u in taylor.items():
        for j, v in taylor.items():
            if i + j < degree:
                square[i + j] = square.get(i + j, 0) + u * v
    taylor = square
    # Isserlis: <z^(2m)>_K = (2m-1)!! K^m
    return tuple(cw * taylor.get(2 * m, 0) * sp.factorial2(2 * m - 1) for m in range(1, order + 1))


def k0_inverse_kernel_expansion(activation, order: int = 3) -> dict:
    """Large-depth expansion of 1/K^(l) at K*=0 criticality (C_W = 1/sigma_1^2, C_b = 0), derived.

        1/K = A l + c log l + C_0 + sum_{k=1}^{order} P_k(log l) / l^k,   A = -a_1,  c = (a_1^2 - a_2)/A,
    P_k a polynomial of degree k whose coefficients depend on the free constant C_0 (set by K^(1)).
    Proof idea: u = 1/K obeys u(l+1) - u(l) = F(u) := 1/g(1/u) - u = -a_1 + (a_1^2 - a_2)/u + ... (g(K) =
    K + a_1 K^2 + a_2 K^3 + ..., exact Taylor coefficients); insert the ansatz, expand in x = 1/l with
    log(l+1) = log l + log(1 + x), and solve order by order: the x^(k+1) terms give P_k' - k P_k = (known),
    which fixes P_k.  The first omitted term, P_{order+1}(log l)/l^(order+1), measures the truncation error.
    tanh: A = 2, c = -5/6, P_1 = (25/72) log l + ...; erf: A = 2, c = -1/3; sin: A = 1, c = 1/3.
    Returns {"A", "c", "P": [P_1, ..., P_order] in the symbols "L" (= log l) and "C_0", "L", "C_0"}.
    """
    return dict(_k0_expansion(get_activation(activation), check_int("order", order, 1, 6)))


@lru_cache(maxsize=None)
def _k0_expansion(act, order: int) -> dict:
    a = _k0_map_series(act, order + 3)
    A = -a[1]
    top = order + 1  # the equation is matched through x^(order+1)
    R, x, L, C0 = ring("x,L,C_0", QQ)
    trunc = lambda p: R({m: v for m, v in p.items() if m[0] <= top})  # noqa: E731
    # F(u) = 1/g(1/u) - u = sum_j f_j y^j, y = 1/u: the series of (1/(1 + a_1 y + a_2 y^2 + ...) - 1)/y
    q = sp.Symbol("q")
    inv = sp.Poly(sp.series(1 / (1 + sum(a[j] * q**j for j in range(1, len(a)))), q, 0, top + 2).removeO(), q)
    f = [R(inv.coeff_monomial(q ** (j + 1))) for j in range(top + 1)]
    log1p = sum(((-1) ** (j + 1) * QQ(1, j) * x**j for j in range(1, top + 1)), R(0))
    frac = trunc(sum(((-x) ** j for j in range(top + 1)), R(0)) * x)  # x/(1+x)

    def residual(c, P):
        """Coefficients of x^0..x^top of u(l+1) - u(l) - F(u(l)) for u = A/x + c L + C_0 + sum_k P_k x^k."""
        rest = c * L + C0 + sum((Pk * x ** (k + 1) for k, Pk in enumerate(P)), R(0))
        y, term = R(0), trunc(x / R(A))
        for _ in range(top + 1):  # y = 1/u = (x/A) sum_j (-x rest/A)^j
            y, term = trunc(y + term), trunc(-term * x * rest / R(A))
        rhs, power = R(0), R(1)
        for fj in f:
            rhs, power = trunc(rhs + fj * power), trunc(power * y)
        lhs = R(A) + c * log1p
        for k, Pk in enumerate(P, start=1):
            lhs += trunc(Pk.compose(L, L + log1p) * frac**k) - Pk * x**k
        return trunc(lhs - rhs)

    c = f[1] / R(A)  # order x^1: c = f_1 / A
    P = []
    for k in range(1, order + 1):
        # order x^(k+1): P_k' - k P_k = -E, E the residual with P_k = 0; solved from the top power of L down
        E = residual(c, P + [R(0)])
        E = {m[1:]: v for m, v in E.items() if m[0] == k + 1}
        coeff = [R({(0, 0, m[1]): v for m, v in E.items() if m[0] == j}) for j in range(k + 1)]
        p = [R(0)] * (k + 2)
        for j in range(k, -1, -1):
            p[j] = (coeff[j] + (j + 1) * p[j + 1]) / R(k)
        P.append(sum((p[j] * L**j for j in range(k + 1)), R(0)))
    Ls, C0s = sp.symbols("L C_0")
    as_expr = lambda p: sp.expand(p.as_expr(sp.Symbol("x"), Ls, C0s))  # noqa: E731
    return {"A": A, "c": as_expr(c), "P": [as_expr(p) for p in P], "L": Ls, "C_0": C0s}


_SERIES_BITS = 224  # fixed-point scale of the series sums: 2^-224 ~ 4e-68, far below the 10^-38 cut


def _series_value(coeffs, k):
    """sum_j coeffs[j] k^(j+1) (coeffs as integers scaled by 2^_SERIES_BITS) in fixed-point integer arithmetic,
    summed while the terms fall below 2^-128 (~3e-39) of the sum; None once they grow (asymptotic series)."""
    bits = _SERIES_BITS
    kk = int(mpmath.ldexp(k, bits))
    power, total, last = kk, 0, None
    for c in coeffs:
        term = (c * power) >> bits
        total += term
        size = abs(term)
        if last is not None and size > last:
            return None  # the asymptotic series has started to grow: not usable at this K
        if size <= abs(total) >> 128:
            return mpmath.ldexp(mpmath.mpf(total), -bits)
        last, power = size, (power * kk) >> bits
    return None


def k0_kernel_trajectory(activation, K1, layers: int) -> list:
    """K^(1..layers) at K*=0 criticality (C_W = 1/sigma_1^2, C_b = 0), mpmath at 40 digits, for deep networks.

    Each layer uses the closed form of g(K) = C_W <sigma^2>_K where one exists (erf, sin), else its exact Taylor
    series in K (:func:`_k0_map_series`, 40 terms, fixed-point sums) while the terms fall below 3e-39 of the sum (an
    asymptotic series for tanh: its error is then of the size of the first omitted term plus
    O(e^{-pi^2/(8K)}), far below 30 digits for K <= 0.005), else 35-digit quadrature (:func:`_layer_maps_mp`).
    """
    act = get_activation(activation)
    cw = _k0_class(act)
    layers = check_int("layers", layers, 1)
    maps = G.mp_maps(act.name) if act.name in activation_names() else None
    with mpmath.workdps(MP_DPS + 10):
        cwm = G._mp(cw)
        coeffs = None if maps is not None else [int(sp.floor(c * 2**_SERIES_BITS)) for c in _k0_map_series(act, 40)]
        out = [G._mp(check_positive("K", K1))]
        for _ in range(layers - 1):
            k = out[-1]
            if maps is not None:
                out.append(cwm * maps[2](k))
                continue
            v = _series_value(coeffs, k)
            out.append(v if v is not None else cwm * _layer_maps_mp(act, [k], 0)[0])
    return out


def k0_kappa6_asymptotics(activation="tanh") -> dict:
    """Large-l six-point cumulant at K*=0 criticality, derived: n^2 kappa_3(G)/K^3 ~ (16/15) l^2 in the whole class,
    so kappa_6(z)/K^3 ~ 16 l^2/n^2 (and kappa_4/K^2 ~ 2 l/n: kappa_6/K^3 ~ 4 (kappa_4/K^2)^2).

    Proof idea: insert K = 1/(A l), V = v l K^2, c3 = w l^2 K^3 into the recursions of :func:`six_point_recursion`
    with the small-K expansions chi_par = 1 + 2a_1 K, f'' = 2a_1, C_W^2 h' = 4K, C_W^3 t = 8K^3 (sigma_1^2 C_W = 1)
    and match the 1/l^2 terms (in units of l K^2 for V, l K^3 for c3; a_1/A = -1): the shifts give -v and -w,
    (chi^2 - 1) V and (chi^3 - 1) c3 give -4v and -6w, so -v = 2 - 4v (v = 2/3) and
    -w = -6w + 6 a_1 v^2/A + 12 v, i.e. 5w = -8/3 + 8 = 16/3: the curvature term 3 chi^2 f'' V^2 gives -8/3,
    the cross term 3 C_W^2 chi h' V gives +8, and the source C_W^3 t ~ l^-3 is subleading.
    """
    act = get_activation(activation)
    cw = _k0_class(act)
    x, v, w = sp.symbols("x v w")
    a = _k0_map_series(act, 4)
    A = -a[1]
    z = sp.Symbol("z", real=True)
    s = _taylor(act.expr.subs(_t, z), z, 4)
    avg = lambda e: _gauss_series(e, z, 4)  # noqa: E731
    phi = sp.expand(cw * avg(s**2))
    h = sp.expand(cw**2 * (avg(s**4) - avg(s**2) ** 2))
    t = sp.expand(cw**3 * (avg(s**6) - 3 * avg(s**4) * avg(s**2) + 2 * avg(s**2) ** 3))
    at = lambda e: e.subs(K, x / A)  # noqa: E731  K = 1/(A l), x = 1/l
    chi, f2, h1 = at(sp.diff(phi, K)), at(sp.diff(phi, K, 2)), at(sp.diff(h, K))
    V, c3 = v * x / A**2, w * x / A**3  # v l K^2, w l^2 K^3
    shift = lambda e: e.subs(x, x / (1 + x)) - e  # noqa: E731
    lead = lambda e: sp.series(e, x, 0, 3).removeO().coeff(x, 2)  # noqa: E731
    v_ = sp.solve(lead(shift(V) - at(h) - (chi**2 - 1) * V), v)[0]
    V = V.subs(v, v_)
    w_ = sp.solve(lead(shift(c3) - (chi**3 - 1) * c3 - 3 * chi**2 * f2 * V**2 - 3 * chi * h1 * V - at(t)), w)[0]
    l = sp.Symbol("l", real=True)
    return {"V_over_K2": v_ * l, "n2_kappa3_over_K3": w_ * l**2, "kappa6_n2_over_K3": 15 * w_ * l**2}


_k0_asymptotics_cached = lru_cache(maxsize=None)(lambda name: k0_asymptotics(name))


@formula("correlations.k0_asymptotics",
         source="derived (notes 2(e); PDLT §5.3.3, §5.4.2 for the leading K ~ 1/(-a_1 l) and V/K^2 ~ 2l/3): large-depth "
                "expansions of the single-input recursions at K*=0 criticality",
         statement="tanh, erf, sin at C_W = 1/sigma_1^2, C_b = 0: 1/K = A l + c log l + O(1), V/K^2 ~ (2/3) l, "
                   "n dK/K, V_DD/D^2 linear in l, n^2 kappa_6/K^3 ~ 16 l^2; at layer >= 1 the leading forms at l",
         params=[Param("activation", "choice", "a K*=0 activation (tanh, erf, sin)", choices=activation_names),
                 Param("layer", "int", "layer l at which to evaluate the asymptotic forms (0: coefficients only)",
                       low=0, default="0")],
         symbolic=lambda: {
             "inv_K": sp.Eq(1 / sp.Symbol("K^(l)"), sp.Symbol("A") * sp.Symbol("l")
                            + (sp.Symbol("a_1") ** 2 - sp.Symbol("a_2")) / sp.Symbol("A") * sp.log(sp.Symbol("l"))
                            + sp.Symbol("C_0")),
             "V": sp.Eq(sp.Symbol("V/K^2"), sp.Rational(2, 3) * sp.Symbol("l")),
             "kappa6": sp.Eq(sp.Symbol("n") ** 2 * sp.Symbol("kappa_6") / sp.Symbol("K") ** 3, 16 * sp.Symbol("l") ** 2)})
def _k0_asymptotics_formula(activation, layer):
    act = get_activation(activation)
    _k0_class(act)
    a = _k0_asymptotics_cached(act.name) if act.name in activation_names() else k0_asymptotics(act)
    e = k0_inverse_kernel_expansion(act, 1)
    k6 = k0_kappa6_asymptotics(act)
    l = sp.Symbol("l", real=True)
    forms = {"V_over_K2": a["V_over_K2"], "n_dK_over_K": a["n_dK_over_K"], "V_DD_over_D2": a["V_DD_over_D2"],
             "kappa6_n2_over_K3": k6["kappa6_n2_over_K3"]}
    out = {"a_1": a["a_1"], "a_2": a["a_2"], "b_1": a["b_1"], "p_perp": a["p_perp"], "inv_K_slope": e["A"],
           "inv_K_log": e["c"], "V_over_K2_slope": sp.diff(forms["V_over_K2"], l),
           "n_dK_over_K_slope": sp.diff(forms["n_dK_over_K"], l), "V_DD_over_D2_slope": sp.diff(forms["V_DD_over_D2"], l),
           "kappa6_n2_over_K3_per_l2": sp.diff(forms["kappa6_n2_over_K3"], l, 2) / 2}
    if layer:
        out["K"] = sp.N(1 / (e["A"] * layer + e["c"] * sp.log(layer)), MP_DPS)
        out.update({key: f.subs(l, layer) for key, f in forms.items()})
    return out


@formula("correlations.k0_inverse_kernel",
         source="derived (theory k0_inverse_kernel_expansion): u = 1/K solves u(l+1) - u(l) = 1/g(1/u) - u at K*=0 "
                "criticality; the large-l ansatz solved order by order",
         statement="1/K^(l) = A l + c log l + C_0 + P_1(log l)/l + P_2(log l)/l^2 + O(log^3 l / l^3) (tanh, erf, sin)",
         params=[Param("activation", "choice", "a K*=0 activation (tanh, erf, sin)", choices=activation_names),
                 _LAYER, Param("C_0", "real", "the constant of 1/K (set by K^(1))")],
         symbolic=lambda: sp.Eq(1 / sp.Symbol("K^(l)"), sp.Symbol("A") * sp.Symbol("l")
                                + sp.Symbol("c") * sp.log(sp.Symbol("l")) + sp.Symbol("C_0")
                                + sp.Function("P_1")(sp.log(sp.Symbol("l"))) / sp.Symbol("l")
                                + sp.Function("P_2")(sp.log(sp.Symbol("l"))) / sp.Symbol("l") ** 2))
def _k0_inverse_kernel_formula(activation, layer, C_0):
    """{"inv_K": the expansion through P_2 at l, "first_omitted": |P_3(log l)|/l^3, "A", "c"} (30 digits)."""
    e = k0_inverse_kernel_expansion(activation, 3)
    L = sp.log(layer)
    terms = [sp.N(P.subs({e["L"]: L, e["C_0"]: C_0}) / sp.Integer(layer) ** k, MP_DPS + 10)
             for k, P in enumerate(e["P"], start=1)]
    inv_K = sp.N(e["A"] * layer + e["c"] * L + C_0, MP_DPS + 10) + terms[0] + terms[1]
    return {"inv_K": sp.Float(inv_K, MP_DPS), "first_omitted": sp.Float(abs(terms[2]), MP_DPS), "A": e["A"],
            "c": e["c"]}
