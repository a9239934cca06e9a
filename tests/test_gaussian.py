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
