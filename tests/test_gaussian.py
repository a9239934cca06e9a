"""Gaussian expectations against independent computations (scipy quadrature, Monte Carlo-free)."""
import mpmath
import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings, strategies as st
from scipy import integrate

from dltv.theory import gaussian as G
from dltv.theory.activations import get_activation


def _scipy_2d(f, K):
    """E f(z_a, z_b) by nested scipy quad over the Cholesky variables, split at the kinks z_a=0, z_b=0."""
    L = np.linalg.cholesky(np.asarray(K, float))

    def inner(x):
        kink = -L[1, 0] * x / L[1, 1]
        g = lambda y: f(L[0, 0] * x, L[1, 0] * x + L[1, 1] * y) * np.exp(-y * y / 2)
        return sum(integrate.quad(g, lo, hi, epsabs=1e-13, epsrel=1e-13)[0]
                   for lo, hi in ((-12, kink), (kink, 12)))
    outer = lambda x: inner(x) * np.exp(-x * x / 2)
    return sum(integrate.quad(outer, lo, hi, epsabs=1e-13, epsrel=1e-13)[0] for lo, hi in ((-12, 0), (0, 12))) \
        / (2 * np.pi)


def test_relu_notes_formulas_match_derived_closed_forms():
    # the arc-cosine formulas as written in the literature (Cho & Saul 2009; notes 2(a))
    ka, kab, kb = sp.Rational(13, 10), sp.Rational(-2, 5), sp.Rational(7, 10)
    th = sp.acos(kab / sp.sqrt(ka * kb))
    lit = {
        ((1, 0), (1, 0)): sp.sqrt(ka * kb) / (2 * sp.pi) * (sp.sin(th) + (sp.pi - th) * sp.cos(th)),
        ((0, 1), (0, 1)): (sp.pi - th) / (2 * sp.pi),
        ((2, 0), (2, 0)): ka * kb / (2 * sp.pi) * (3 * sp.sin(th) * sp.cos(th) + (sp.pi - th) * (1 + 2 * sp.cos(th) ** 2)),
        ((3, 0), (1, 0)): ka ** sp.Rational(3, 2) * sp.sqrt(kb) / (2 * sp.pi)
        * (3 * (sp.pi - th) * sp.cos(th) + 3 * sp.sin(th) - sp.sin(th) ** 3),
    }
    for (a, b), ref in lit.items():
        got = G.homogeneous_moment("relu", a, b, (ka, kab, kb))
        assert abs(float(sp.N(got - ref, 40))) < 1e-30
    assert G.homogeneous_moment_1d("relu", 4) == sp.Rational(3, 2) * G.Ksym**2


def test_indicator_dropped_for_missing_factor():
    # E[u_+^2 * 1] = K/2 regardless of the second input (pitfall in the notes)
    got = G.homogeneous_moment("relu", (2, 0), (0, 0), (2, sp.Rational(1, 3), 1))
    assert sp.simplify(got - 1) == 0


@pytest.mark.parametrize("name", ["relu", "leaky_relu", "abs"])
def test_homogeneous_closed_forms_vs_scipy(name):
    act = get_activation(name)
    K = [[1.3, -0.4], [-0.4, 0.7]]
    f0, f1 = act.numpy(0), act.numpy(1)
    for a, b, fn in (((1, 0), (1, 0), lambda u, v: f0(u) * f0(v)),
                     ((2, 0), (2, 0), lambda u, v: f0(u) ** 2 * f0(v) ** 2),
                     ((0, 1), (0, 1), lambda u, v: f1(u) * f1(v))):
        closed = float(G.homogeneous_moment(act, a, b, (1.3, -0.4, 0.7)))
        assert abs(closed - _scipy_2d(fn, K)) < 1e-7


def test_erf_closed_forms_vs_scipy():
    from scipy.special import erf
    K = [[0.8, 0.5], [0.5, 1.5]]
    assert abs(float(G.erf_kernel((0.8, 0.5, 1.5))) - _scipy_2d(lambda u, v: erf(u) * erf(v), K)) < 1e-9
    d = lambda x: 2 / np.sqrt(np.pi) * np.exp(-x * x)
    assert abs(float(G.erf_derivative_kernel((0.8, 0.5, 1.5))) - _scipy_2d(lambda u, v: d(u) * d(v), K)) < 1e-9


@pytest.mark.parametrize("name", ["tanh", "gelu", "silu", "sin"])
def test_gauss_hermite_vs_scipy(name):
    f = get_activation(name).numpy(0)
    K = [[1.2, 0.3], [0.3, 0.6]]
    assert abs(G.kernel_matrix(name, K)[0, 1] - _scipy_2d(lambda u, v: f(u) * f(v), K)) < 1e-9
    one = integrate.quad(lambda x: f(np.sqrt(1.2) * x) ** 2 * np.exp(-x * x / 2) / np.sqrt(2 * np.pi), -14, 14,
                         epsabs=1e-14)[0]
    assert abs(G.kernel_matrix(name, K)[0, 0] - one) < 1e-12


def test_mp_1d_30_digits_tanh():
    v, err = G.mp_expect_1d(lambda z: mpmath.tanh(z) ** 2, 1)
    # independent: mpmath quad at 50 digits directly
    with mpmath.workdps(50):
        ref = mpmath.quad(lambda x: mpmath.tanh(x) ** 2 * mpmath.exp(-x * x / 2), [-mpmath.inf, 0, mpmath.inf]) \
            / mpmath.sqrt(2 * mpmath.pi)
        assert abs(v - ref) < mpmath.mpf(10) ** -30 and err < mpmath.mpf(10) ** -28


@pytest.mark.parametrize("name", ["relu", "leaky_relu", "erf", "sin"])
def test_compare_closed_forms_to_1e_30(name):
    rows = G.compare_closed_forms(name, [[1, 0.3], [0.3, 2]])
    assert rows and all(r["rel_diff"] < mpmath.mpf(10) ** -28 for r in rows)


def test_neural_tangents_formulas_agree():
    for (a, b), name in (((0, 1), "relu"), ((sp.Rational(1, 10), 1), "leaky_relu"), ((-1, 1), "abs")):
        nngp, dot = G.nt_abrelu(a, b, 1.1, -0.35, 0.9)
        assert abs(nngp - G.mp_value(G.kernel_map(name, (sp.Rational(11, 10), sp.Rational(-35, 100), sp.Rational(9, 10))))) < 1e-14
        assert abs(dot - G.mp_value(G.derivative_kernel_map(name, (sp.Rational(11, 10), sp.Rational(-35, 100), sp.Rational(9, 10))))) < 1e-14
    nngp, dot = G.nt_erf(0.5, 0.2, 2)
    assert abs(nngp - float(G.erf_kernel((0.5, 0.2, 2)))) < 1e-14
    assert abs(dot - float(G.erf_derivative_kernel((0.5, 0.2, 2)))) < 1e-14
    assert abs(G.nt_gelu(1.2, 0.3, 0.6) - G.kernel_matrix("gelu", [[1.2, 0.3], [0.3, 0.6]])[0, 1]) < 1e-10


@settings(max_examples=25, deadline=None)
@given(st.floats(0.1, 3), st.floats(0.1, 3), st.floats(-0.99, 0.99), st.sampled_from(["relu", "abs", "erf", "tanh"]))
def test_kernel_matrix_symmetric_psd(ka, kb, r, name):
    K = [[ka, r * np.sqrt(ka * kb)], [r * np.sqrt(ka * kb), kb]]
    F = G.kernel_matrix(name, K)
    assert np.allclose(F, F.T)
    assert np.linalg.eigvalsh(F).min() > -1e-10


@settings(max_examples=20, deadline=None)
@given(st.floats(0.1, 3), st.floats(0.1, 3), st.floats(-0.99, 0.99), st.floats(0.1, 5))
def test_homogeneity(ka, kb, r, lam):
    K = np.array([[ka, r * np.sqrt(ka * kb)], [r * np.sqrt(ka * kb), kb]])
    for name in ("relu", "leaky_relu"):
        assert np.allclose(G.kernel_matrix(name, lam * K), lam * G.kernel_matrix(name, K), rtol=1e-12)
        assert np.allclose(G.derivative_kernel_matrix(name, lam * K), G.derivative_kernel_matrix(name, K), rtol=1e-12)


def test_bad_kernels():
    with pytest.raises(ValueError, match="positive semi-definite"):
        G.as_kernel([[1, 2], [2, 1]])
    with pytest.raises(ValueError, match="symmetric"):
        G.as_kernel([[1, 0.1], [0.2, 1]])
    with pytest.raises(ValueError):
        G.as_kernel([[np.nan]])


# ------------------------------------------------------------------ 30-digit Mehler series
def _mp_trapezoid_2d(f, K, h=mpmath.mpf(1) / 8, R=13):
    """E f(z_a, z_b) by the 2-D trapezoid rule in Cholesky coordinates (mpmath; independent of Hermite series).

    Error e^{-2 pi tau/h} for f analytic in a strip of half-width tau (tanh at K <= 1: tau >= pi/2, h = 1/8:
    < 1e-33); the Gaussian beyond |u| = 13 weighs < 1e-36.
    """
    l11 = mpmath.sqrt(K[0][0])
    l21 = K[0][1] / l11
    l22 = mpmath.sqrt(K[1][1] - l21**2)
    n = int(R / h)
    xs = [i * h for i in range(-n, n + 1)]
    w = [mpmath.exp(-x * x / 2) for x in xs]
    total = mpmath.mpf(0)
    for x, wx in zip(xs, w):
        for y, wy in zip(xs, w):
            if x * x + y * y > R * R:
                continue
            total += wx * wy * f(l11 * x, l21 * x + l22 * y)
    return total * h * h / (2 * mpmath.pi)


MEHLER_KERNELS = [(1, sp.Rational(1, 2), 1), (sp.Rational(3, 2), sp.Rational(-7, 10), sp.Rational(4, 5)),
                  (sp.Rational(1, 5), sp.Rational(1, 10), sp.Rational(1, 3))]


@pytest.mark.parametrize("K", MEHLER_KERNELS)
def test_mehler_vs_closed_forms_30_digits(K):
    # erf (arcsin form), sin (exp form), GELU (neural-tangents form) and derivative kernels: independent of the series
    closed = {("erf", 0): G.mp_value(G.erf_kernel(K), 40), ("erf", 1): G.mp_value(G.erf_derivative_kernel(K), 40),
              ("sin", 0): G.mp_value(G.sin_moment(0, 0, K), 40), ("sin", 1): G.mp_value(G.sin_moment(1, 1, K), 40),
              ("gelu", 0): G.nt_gelu(*K, dps=40), ("gelu", 1): G.mp_value(G.derivative_kernel_map("gelu", K), 40)}
    for (name, order), ref in closed.items():
        v, err = G.mehler_expect(name, ((order, 1),), ((order, 1),), *K)
        scale = abs(ref) + mpmath.mpf(10) ** -3
        assert abs(v - ref) <= err + mpmath.mpf(10) ** -40, (name, order)
        assert err < mpmath.mpf(10) ** -31 * scale, (name, order)


def test_mehler_near_rho_one_and_fourth_moments():
    # rho = 0.97 at K = 3 (erf: 640 terms) against the arcsin form
    K = (3, sp.Rational(29, 10), 3)
    v, err = G.mehler_expect("erf", ((0, 1),), ((0, 1),), *K)
    assert abs(v - G.mp_value(G.erf_kernel(K), 40)) <= err and err < mpmath.mpf(10) ** -32
    # <sin_a^2 sin_b^2> and <sin_a^3 sin_b> against their exact exponential forms (sin^3 = (3 sin - sin 3t)/4)
    ka, kab, kb = mpmath.mpf(1), mpmath.mpf("0.5"), mpmath.mpf("1.2")

    def ss(al, be):  # E sin(al z_a) sin(be z_b)
        return (mpmath.exp(-(al**2 * ka + be**2 * kb - 2 * al * be * kab) / 2)
                - mpmath.exp(-(al**2 * ka + be**2 * kb + 2 * al * be * kab) / 2)) / 2

    def cc(al, be):  # E cos(al z_a) cos(be z_b)
        return (mpmath.exp(-(al**2 * ka + be**2 * kb - 2 * al * be * kab) / 2)
                + mpmath.exp(-(al**2 * ka + be**2 * kb + 2 * al * be * kab) / 2)) / 2
    with mpmath.workdps(45):
        exact = {(2, 2): (1 - mpmath.exp(-2 * ka) - mpmath.exp(-2 * kb) + cc(2, 2)) / 4,
                 (3, 1): (3 * ss(1, 1) - ss(3, 1)) / 4}
    for (p, q), ref in exact.items():
        v, err = G.mehler_expect("sin", ((0, p),), ((0, q),), ka, kab, kb)
        assert abs(v - ref) <= err + mpmath.mpf(10) ** -40 and err < mpmath.mpf(10) ** -31


@pytest.mark.parametrize("name", ["tanh", "silu"])
def test_mehler_vs_2d_trapezoid(name):
    # no closed form: an independent 2-D rule at 40 digits, K with unequal variances and rho = 0.52
    K = [[mpmath.mpf(1), mpmath.mpf("0.4")], [mpmath.mpf("0.4"), mpmath.mpf("0.6")]]
    f = get_activation(name).mpmath(0)
    with mpmath.workdps(40):
        ref = _mp_trapezoid_2d(lambda u, v: f(u) * f(v), K)
    v, err = G.mp_pair_expect(name, ((0, 1),), ((0, 1),), K[0][0], K[0][1], K[1][1])
    assert abs(v - ref) < mpmath.mpf(10) ** -31 and err < mpmath.mpf(10) ** -31


def test_hermite_coefficients_derivative_identity():
    # E[s'(sqrt K x) He_k(x)] = E[s(sqrt K x) He_{k+1}(x)]/sqrt(K): normalised a_k(s') = sqrt((k+1)/K) a_{k+1}(s),
    # from different node values (s' vs s), so it checks the rule and the Hermite table
    act = get_activation("tanh")
    K = mpmath.mpf("0.8")
    a, _, err_a = G._hermite_coefficients(act, ((0, 1),), K, 5, 160, 30)
    d, _, err_d = G._hermite_coefficients(act, ((1, 1),), K, 5, 160, 30)
    with mpmath.workdps(45):
        for k in range(0, 120):
            assert abs(d[k] - mpmath.sqrt((k + 1) / K) * a[k + 1]) < mpmath.mpf(10) ** -34 * 20


def test_mehler_refuses_rather_than_losing_digits():
    # tanh at K = 8, rho = 0.999: the series needs thousands of terms; refused (mp_pair_expect integrates instead)
    with pytest.raises(G.MehlerError, match="did not reach 30 digits"):
        G.mehler_expect("tanh", ((0, 1),), ((0, 1),), 8, sp.Rational(7992, 1000), 8)


def test_mp_node_expect_vs_tanh_sinh():
    for name, spec, K in (("tanh", ((0, 2),), 1), ("silu", ((0, 1), (2, 1)), sp.Rational(7, 3)),
                          ("gelu", ((1, 4),), sp.Rational(1, 4))):
        act = get_activation(name)
        fn = lambda z: mpmath.fprod(act.mpmath(o)(z) ** p for o, p in spec)  # noqa: E731
        ref, ref_err = G.mp_expect_1d(fn, K, 35)
        v, err = G.mp_node_expect(name, spec, K)
        assert abs(v - ref) <= err + ref_err + mpmath.mpf(10) ** -36 and err < mpmath.mpf(10) ** -32


def test_angle_integral_explicit_sum_vs_symbolic_integration():
    # the Fourier-sum I_pq(theta) against sympy's own integration (the former derivation)
    th, phi = G._theta, G._phi
    for p, q in ((1, 1), (2, 2), (3, 1), (0, 2), (4, 0), (1, 0), (2, 1)):
        integrand = sp.expand(sp.cos(phi) ** p * sp.expand_trig(sp.cos(phi - th)) ** q)
        ref = sp.integrate(integrand, (phi, th - sp.pi / 2, sp.pi / 2))
        got = G._quadrant_angle_integral(p, q)
        for value in (sp.Rational(1, 3), sp.Rational(5, 2), 1):
            assert abs(sp.N((got - ref).subs(th, value), 40)) < 1e-35


def test_gauss_hermite_error_stated():
    # the 96^2 rule misses <tanh tanh> at K = (1, 1/2, 1) by 3.7e-13; its error estimate covers that
    K = [[1.0, 0.5], [0.5, 1.0]]
    for Kq in (K, [[1.2, 0.3], [0.3, 0.6]], [[2.5, 0.75], [0.75, 2.5]]):
        trip = (sp.nsimplify(x) for x in (Kq[0][0], Kq[0][1], Kq[1][1]))
        ref, _ = G.mehler_expect("tanh", ((0, 1),), ((0, 1),), *trip)
        v, err = G.expect_product("tanh", Kq, [(0, 0, 1), (1, 0, 1)], degree=96, error=True)
        assert abs(v - float(ref)) <= err
    v, err = G.expect_product("tanh", K, [(0, 0, 1), (1, 0, 1)], degree=96, error=True)
    ref, _ = G.mehler_expect("tanh", ((0, 1),), ((0, 1),), 1, sp.Rational(1, 2), 1)
    assert 1e-13 < abs(v - float(ref)) < 1e-12 < err
