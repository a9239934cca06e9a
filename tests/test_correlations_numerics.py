"""Unit tests of numerics/correlations.py: the exact collapsed sampler and the low-variance estimators."""
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from dltv.numerics.correlations import (NetworkStats, chi2_forward, cholesky_2x2, collapsed_forward,
                                        collapsed_noise, compare_stats, distribution_tests, excess_kurtosis,
                                        interneuron_covariance, mean_correlation, mean_shift, metric_moment,
                                        naive_interneuron_covariance, naive_moment_ratio, output_moment_ratio,
                                        psd_cholesky, sample_collapsed, two_sample_z, validate_collapsed)
from dltv.numerics.estimators import Estimate, mean_se
from dltv.numerics.networks import metric_of, sample_networks, stacked_inputs
from dltv.theory.correlations import bias_moments


def gen(seed):
    return torch.Generator().manual_seed(seed)


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 5), st.integers(1, 5), st.integers(0, 10 ** 6))
def test_psd_cholesky_reconstructs_possibly_singular_matrices(m, rank, seed):
    a = torch.randn(3, m, min(rank, m), dtype=torch.float64, generator=gen(seed))
    g = a @ a.transpose(-1, -2)  # PSD of rank <= min(rank, m): singular when rank < m
    s = psd_cholesky(g)
    assert torch.isfinite(s).all()
    assert torch.equal(s, s.tril())
    torch.testing.assert_close(s @ s.transpose(-1, -2), g, atol=1e-10 * (1 + g.abs().max().item()), rtol=0)


def test_psd_cholesky_zero_and_identical_inputs():
    assert torch.equal(psd_cholesky(torch.zeros(2, 3, 3, dtype=torch.float64)), torch.zeros(2, 3, 3, dtype=torch.float64))
    g = torch.full((1, 2, 2), 2.5, dtype=torch.float64)  # two identical inputs
    s = psd_cholesky(g)
    assert s[0, 1, 1] == 0 and torch.allclose(s @ s.transpose(-1, -2), g)


@pytest.mark.parametrize("activation, C_W, C_b", [("relu", 2.0, 0.2), ("tanh", 1.0, 0.1), ("erf", 1.5, 0.0)])
def test_collapsed_matches_real_weights(activation, C_W, C_b):
    x = torch.tensor([[1.0, 0.5, -0.3, 0.8], [-0.2, 1.1, 0.4, 0.0]], dtype=torch.float64)
    res = validate_collapsed((4, 12, 10, 12, 3), activation, C_W, C_b, x, 3000, generator=gen(11))
    # about 15 correlated z's, each N(0,1) if the laws agree
    assert res["max_abs_z"] < 4.5, [(r["statistic"], r["z"]) for r in res["comparisons"]]
    assert res["tests"]["G"]["ks_pvalue"] > 1e-4
    # power: a collapsed sampler with a 10% wrong C_W is rejected by the same comparison
    wrong = sample_collapsed((4, 12, 10, 12, 3), activation, 1.1 * C_W, C_b, x, 3000, generator=gen(12))
    real = sample_networks((4, 12, 10, 12, 3), activation, C_W, C_b, x, 3000, generator=gen(13))
    assert max(abs(r["z"]) for r in compare_stats(real, wrong)["comparisons"]) > 6


def test_layer2_mean_is_infinite_width_kernel_linear():
    # sigma = id: E G^(2) = C_b + C_W K^(1) exactly (derived by hand)
    x = np.array([[1.0, 2.0], [0.5, -1.0]])
    K1 = 0.3 + 1.2 * x @ x.T / 2
    s = sample_collapsed((2, 6, 1), "linear", 1.2, 0.3, x, 20000, generator=gen(14))
    for a, b in [(0, 0), (0, 1), (1, 1)]:
        assert abs(mean_se(s.G[:, 1, a, b]).z(0.3 + 1.2 * K1[a, b])) < 5


def test_tangents_linear_network_closed_form():
    # sigma = id, C_b = 0: dz = W^(L+1)...W^(1) u, so E D^(l) = C_W^l |u|^2/n_0 and E G'_{z,dz} = C_W^l x.u/n_0
    x, u = np.array([1.0, 0.5, -1.0]), np.array([0.3, -0.2, 0.9])
    s = sample_collapsed((3, 8, 8, 2), "linear", 1.3, 0.0, x, 20000, direction=u, generator=gen(15))
    assert s.metric.shape == (20000, 3, 2, 2) and s.output_tangents.shape == (20000, 2, 1)
    for i, l in enumerate((1, 2, 3)):
        for est, exact in ((mean_se(s.D[:, i, 0, 0]), 1.3 ** l * u @ u / 3),
                           (mean_se(s.metric[:, i, 0, 1]), 1.3 ** l * x @ u / 3)):
            if est.se == 0:  # layer 1 is deterministic: equal up to rounding
                assert est.mean == pytest.approx(exact, rel=1e-13)
            else:
                assert abs(est.z(exact)) < 5


def test_tangents_relu_derivative_has_forward_law_mean():
    # correlations.md §2(d1): E[(d_u z^(L+1))^2] = (C_W/2)^L C_W |u|^2/n_0 for any C_b and u
    x, u = np.array([1.0, -0.5]), np.array([0.7, 0.4])
    s = sample_collapsed((2, 10, 10, 10, 4), "relu", 1.8, 0.4, x, 20000, direction=u, generator=gen(16))
    exact = 0.9 ** 3 * 1.8 * (u @ u) / 2
    assert abs(mean_se(s.D[:, -1, 0, 0]).z(exact)) < 5
    assert abs(mean_se(s.output_tangents[:, :, 0].pow(2).mean(1)).z(exact)) < 5


def test_tangents_agree_with_real_weights():
    x, u = np.array([[1.0, -0.5, 0.2]]), np.array([0.7, 0.4, -1.0])
    res = validate_collapsed((3, 10, 10, 2), "tanh", 1.0, 0.2, x, 3000, direction=u, generator=gen(17))
    assert res["max_abs_z"] < 4.5
    assert "D" in res["tests"]


def test_identical_inputs_singular_metric():
    x = np.array([[1.0, 2.0, -1.0], [1.0, 2.0, -1.0]])
    s = sample_collapsed((3, 8, 8, 2), "relu", 2.0, 0.1, x, 2000, generator=gen(18))
    assert torch.isfinite(s.metric).all()
    torch.testing.assert_close(s.G[..., 0, 0], s.G[..., 1, 1])
    torch.testing.assert_close(s.G[..., 0, 1], s.G[..., 0, 0])
    torch.testing.assert_close(s.outputs[..., 0], s.outputs[..., 1])
    single = sample_collapsed((3, 8, 8, 2), "relu", 2.0, 0.1, x[0], 2000, generator=gen(19))
    assert abs(two_sample_z(mean_se(s.G[:, -1, 0, 0]), mean_se(single.G[:, -1, 0, 0]))) < 5
    # u parallel to x with a linear network: the extended metric is singular too
    t = sample_collapsed((3, 5, 1), "linear", 1.0, 0.0, x[0], 50, direction=2 * x[0], generator=gen(20))
    torch.testing.assert_close(t.output_tangents, 2 * t.outputs)


def test_batch_split_invariance():
    widths, m, n_net = (3, 6, 5, 2), 2, 8
    x = torch.tensor([[1.0, 0.0, 0.5], [0.2, -1.0, 0.3]], dtype=torch.float64)
    g1 = metric_of(stacked_inputs(x, None), 2.0, 0.1, 2)
    noise = torch.randn(n_net, m, sum(widths[1:]), dtype=torch.float64, generator=gen(21))
    offsets = dict(zip(widths[1:], np.cumsum((0,) + widths[1:-1])))

    def drawer(rows_slice):
        def draw(rows):
            return noise[rows_slice, :, offsets[rows]:offsets[rows] + rows].clone()
        return draw
    full = collapsed_forward(g1, drawer(slice(0, 8)), widths, "relu", 2.0, 0.1, 2, (1, 2, 3))
    parts = [collapsed_forward(g1, drawer(slice(a, b)), widths, "relu", 2.0, 0.1, 2, (1, 2, 3))
             for a, b in [(0, 3), (3, 8)]]
    torch.testing.assert_close(torch.cat([p.metric for p in parts]), full.metric, rtol=1e-14, atol=0)
    torch.testing.assert_close(torch.cat([p.outputs for p in parts]), full.outputs, rtol=1e-14, atol=0)


def test_chunk_size_and_seed_reproducibility():
    args = ((2, 7, 7, 1), "tanh", 1.0, 0.0, [[1.0, 0.5]], 10)
    a = sample_collapsed(*args, chunk_size=3, generator=gen(22))
    b = sample_collapsed(*args, chunk_size=3, generator=gen(22))
    c = sample_collapsed(*args, chunk_size=10, generator=gen(22))
    assert torch.equal(a.metric, b.metric) and a.metric.shape == c.metric.shape == (10, 3, 1, 1)


@pytest.mark.parametrize("method", ["rows", "chi2"])
def test_relu_exact_fourth_moment_from_estimators(method):
    # correlations.md §2(c1): E[G^2]/K^2 = prod(1 + 5/n_l) for ReLU, C_W = 2, C_b = 0
    n, L, N = 16, 2, 40000
    x = np.ones(4)
    K = 2.0
    s = sample_collapsed((4,) + (n,) * L + (3,), "relu", 2.0, 0.0, x, N, generator=gen(23), method=method)
    G = s.G[:, -1, 0, 0]
    exact = (1 + 5 / n) ** L
    assert abs(metric_moment(G, 2, K).z(exact)) < 5
    assert abs(output_moment_ratio(G, 2).z(3 * exact)) < 5
    assert abs(excess_kurtosis(G).z(3 * (exact - 1))) < 5
    assert abs(interneuron_covariance(G).z(exact - 1)) < 5
    assert abs(mean_shift(G, K, n).z(0.0)) < 5
    # the naive estimators from output neurons agree (with larger SE)
    naive = naive_moment_ratio(s.outputs[..., 0], 2)
    assert abs(naive.z(3 * exact)) < 5 and naive.se > output_moment_ratio(G, 2).se
    cov = naive_interneuron_covariance(s.outputs[..., 0])
    assert abs(cov.z(K ** 2 * (exact - 1))) < 5


def test_mean_correlation_and_distribution_tests():
    rng = np.random.default_rng(24)
    a = rng.gamma(5.0, 1.0, (4000, 3))
    est = mean_correlation(a[:, 0], a[:, 1], a[:, 2])
    assert abs(est.z(1.0)) < 5
    same = distribution_tests(rng.normal(size=2000), rng.normal(size=2000))
    diff = distribution_tests(rng.normal(size=2000), rng.normal(0.3, 1.0, size=2000))
    assert same["ks_pvalue"] > 1e-3 and diff["ks_pvalue"] < 1e-6 and diff["ad_pvalue"] <= 0.001
    assert two_sample_z(Estimate(1.0, 0.3, 5), Estimate(0.0, 0.4, 5)) == pytest.approx(2.0)


@pytest.mark.parametrize("kwargs, name", [
    (dict(widths=(2, 0, 1)), "widths"), (dict(C_W=-1.0), "C_W"), (dict(C_b=float("inf")), "C_b"),
    (dict(x=[[float("nan"), 1.0]]), "x"), (dict(n_networks=0), "n_networks"), (dict(layers=[0]), "layers"),
    (dict(chunk_size=-2), "chunk_size"), (dict(device="gpu9"), "device"), (dict(activation="cube"), "activation"),
])
def test_bad_inputs(kwargs, name):
    args = dict(widths=(2, 3, 1), activation="relu", C_W=2.0, C_b=0.0, x=[[1.0, 0.0]], n_networks=2)
    args.update(kwargs)
    with pytest.raises(ValueError, match=name):
        sample_collapsed(args.pop("widths"), args.pop("activation"), args.pop("C_W"), args.pop("C_b"),
                         args.pop("x"), args.pop("n_networks"), **args)
    with pytest.raises(ValueError, match="K"):
        metric_moment([1.0, 2.0], 2, 0.0)


@pytest.mark.parametrize("device", ["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
def test_device_argument(device):
    s = sample_collapsed((2, 4, 1), "gelu", 1.0, 0.1, [[1.0, 0.5]], 6, direction=[0.0, 1.0], device=device)
    assert s.metric.device.type == torch.device(device).type


# ---------------------------------------------------------------- closed-form 2x2 factor


def _psd_batch(seed, count=400):
    """2x2 PSD matrices: generic, rank 1 (identical or parallel inputs), zero, tiny and huge scales."""
    r = torch.Generator().manual_seed(seed)
    a = torch.randn(count, 2, 3, dtype=torch.float64, generator=r)
    a[: count // 4, 1] = 2.5 * a[: count // 4, 0]          # rank 1, parallel
    a[count // 4: count // 3, 1] = a[count // 4: count // 3, 0]  # identical inputs
    a[count // 3: count // 3 + 5] = 0.0                       # dead layer
    a[count // 3 + 5: count // 3 + 10, 0] = 0.0               # first variable dead
    scale = 10.0 ** torch.randint(-150, 150, (count, 1, 1), generator=r, dtype=torch.float64)
    return (a @ a.transpose(1, 2)) * scale


@pytest.mark.parametrize("seed", [30, 31])
def test_cholesky_2x2_matches_column_loop(seed):
    g = _psd_batch(seed)
    s00, s10, s11 = (v[:, 0] for v in cholesky_2x2(g))
    ref = psd_cholesky(g)  # the column-by-column loop: an independent implementation of the same rules
    for got, want in ((s00, ref[:, 0, 0]), (s10, ref[:, 1, 0]), (s11, ref[:, 1, 1])):
        assert torch.equal(got == 0, want == 0)  # the same degenerate columns, exactly
        torch.testing.assert_close(got, want, rtol=4e-16, atol=0)
    s = torch.zeros_like(g)
    s[:, 0, 0], s[:, 1, 0], s[:, 1, 1] = s00, s10, s11
    rel = (s @ s.transpose(1, 2) - g).abs().amax((1, 2)) / g.abs().amax((1, 2)).clamp(min=1e-300)
    assert rel.max() < 1e-12


def test_cholesky_2x2_against_lapack_on_definite_matrices():
    a = torch.randn(50, 2, 4, dtype=torch.float64, generator=gen(32))
    g = a @ a.transpose(1, 2)
    s00, s10, s11 = cholesky_2x2(g)
    ref = torch.linalg.cholesky(g)
    torch.testing.assert_close(torch.cat([s00, s10, s11], 1), ref[:, [0, 1, 1], [0, 0, 1]], rtol=1e-14, atol=0)


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "abs", "linear"])
def test_fused_metric_step_matches_the_torch_step(activation):
    """The one-pass compiled step against the torch ops it replaces, on the same normals, with the
    degenerate metrics of _psd_batch (dead layers, a dead first variable, scales 1e-150..1e150)."""
    from dltv.numerics.correlations import HOMOGENEOUS_SLOPES, _next_metric, _rows_with_covariance_
    from dltv.numerics.fused import homogeneous_metric_2x2
    from dltv.numerics.networks import get_activation

    g = _psd_batch(33)
    eps = torch.randn(g.shape[0], 2, 37, dtype=torch.float64, generator=gen(34))
    got = homogeneous_metric_2x2(eps.numpy(), g.numpy(), HOMOGENEOUS_SLOPES[activation], 1.7, 0.3,
                                 np.empty(tuple(g.shape)))
    want = _next_metric(_rows_with_covariance_(eps.clone(), g), get_activation(activation), 1.7, 0.3, 2)
    torch.testing.assert_close(torch.from_numpy(got), want, rtol=1e-13, atol=0)


def test_collapsed_sampler_takes_the_fused_step_with_the_same_law():
    """sample_collapsed on the default (fused) path and with the fused step switched off: the same
    draws, so the same networks up to rounding; a tanh run never takes the fused step."""
    import dltv.numerics.correlations as corr

    args = ((6, 9, 9, 9, 1), "relu", 2.0, 0.1, [[1.0, 0.5, -1.0, 0.0, 2.0, 1.0], [0.2, 0.3, 0.4, 0.0, 0.0, 1.0]], 300)
    fused = sample_collapsed(*args, layers=[2, 4], generator=gen(35))
    original = corr._fused_step
    try:
        corr._fused_step = lambda *a: None
        plain = sample_collapsed(*args, layers=[2, 4], generator=gen(35))
    finally:
        corr._fused_step = original
    torch.testing.assert_close(fused.metric, plain.metric, rtol=1e-13, atol=0)
    torch.testing.assert_close(fused.outputs, plain.outputs, rtol=1e-12, atol=1e-14)
    assert corr._fused_step(corr.get_activation("tanh"), 2, 2, torch.device("cpu"), 1.0, 0.0) is None
    assert corr._fused_step(corr.get_activation("relu"), 2, 4, torch.device("cpu"), 2.0, 0.0) is None


# ---------------------------------------------------------------- generators and the noise floor


def test_generators_seed_the_numpy_stream_reproducibly():
    args = ((3, 8, 8, 1), "tanh", 1.0, 0.1, [[1.0, 0.5, -1.0], [0.2, 0.3, 0.4]], 50)
    a = sample_collapsed(*args, generator=gen(40))
    assert torch.equal(a.metric, sample_collapsed(*args, generator=gen(40)).metric)
    shared = gen(40)
    first, second = sample_collapsed(*args, generator=shared), sample_collapsed(*args, generator=shared)
    assert torch.equal(first.metric, a.metric) and not torch.equal(first.metric, second.metric)
    torch.manual_seed(41)
    b = sample_collapsed(*args)
    torch.manual_seed(41)
    assert torch.equal(b.metric, sample_collapsed(*args).metric)
    c = sample_collapsed(*args, generator=np.random.default_rng(42))
    assert torch.equal(c.metric, sample_collapsed(*args, generator=np.random.default_rng(42)).metric)
    with pytest.raises(ValueError, match="generator"):
        sample_collapsed(*args, generator=42)


@pytest.mark.parametrize("k, direction, chunk", [(2, None, None), (1, None, 3), (2, [0.0, 1.0, 0.5], 7)])
def test_noise_floor_draws_exactly_the_samplers_normals(k, direction, chunk):
    widths, N = (3, 9, 5, 2), 20
    x = np.arange(3 * k, dtype=float).reshape(k, 3) + 1.0
    m = k if direction is None else 2 * k
    used, floor = np.random.default_rng(43), np.random.default_rng(43)
    sample_collapsed(widths, "tanh", 1.0, 0.0, x, N, direction=direction, chunk_size=chunk, generator=used,
                     method="rows")
    collapsed_noise(widths, m, N, chunk_size=chunk, generator=floor)
    assert used.standard_normal() == floor.standard_normal()  # both streams consumed the same count


# ---------------------------------------------------------------- exact chi-square shortcut


def test_auto_method_takes_the_shortcut_only_where_it_applies():
    args = ((3, 6, 6, 2), "relu", 2.0, 0.1, [[1.0, -0.5, 0.2]], 100)
    auto = sample_collapsed(*args, generator=gen(50))
    chi2 = sample_collapsed(*args, generator=gen(50), method="chi2")
    rows = sample_collapsed(*args, generator=gen(50), method="rows")
    assert torch.equal(auto.metric, chi2.metric) and torch.equal(auto.outputs, chi2.outputs)
    assert not torch.equal(auto.metric, rows.metric)
    assert auto.metric.shape == rows.metric.shape == (100, 3, 1, 1) and auto.outputs.shape == (100, 2, 1)
    assert auto.G.shape == rows.G.shape and auto.D is None
    with pytest.raises(ValueError, match="method"):
        sample_collapsed((3, 6, 1), "tanh", 1.0, 0.0, [[1.0, 0.0, 0.0]], 5, method="chi2")
    with pytest.raises(ValueError, match="method"):
        sample_collapsed(*args, direction=[1.0, 0.0, 0.0], method="chi2")
    with pytest.raises(ValueError, match="method"):
        sample_collapsed(*args, method="fast")


@pytest.mark.parametrize("activation, C_W, C_b", [("relu", 2.0, 0.0), ("leaky_relu", 1.9, 0.3),
                                                  ("abs", 1.0, 0.2), ("linear", 0.8, 0.0)])
def test_chi2_shortcut_matches_real_weights(activation, C_W, C_b):
    x = np.array([[0.7, -1.2, 0.4]])
    widths = (3, 5, 3, 6, 2)  # narrow layers: the finite-width law is far from Gaussian
    res = validate_collapsed(widths, activation, C_W, C_b, x, 6000, generator=gen(51), method="chi2")
    assert res["max_abs_z"] < 4.5, [(r["statistic"], r["z"]) for r in res["comparisons"]]
    assert res["tests"]["G"]["ks_pvalue"] > 1e-4


class _BiasedCoins:
    """A numpy generator whose sign counts are Binomial(n, 0.45) instead of Binomial(n, 1/2)."""

    def __init__(self, seed):
        self._rng = np.random.default_rng(seed)

    def binomial(self, n, p, size=None):
        return self._rng.binomial(n, 0.45, size)

    def __getattr__(self, name):
        return getattr(self._rng, name)


def test_chi2_shortcut_with_biased_coins_is_rejected_by_the_same_tests():
    # power of the two-sample comparison: Binomial(n, 0.45) in place of Binomial(n, 1/2)
    widths, x, N = (3, 5, 3, 6, 2), torch.tensor([[0.7, -1.2, 0.4]], dtype=torch.float64), 6000
    real = sample_networks(widths, "relu", 2.0, 0.0, x, N, generator=gen(52))
    g1 = float(metric_of(stacked_inputs(x, None), 2.0, 0.0, 1))
    layers = tuple(range(1, len(widths)))
    metric, outputs = chi2_forward(g1, _BiasedCoins(53), widths, "relu", 2.0, 0.0, N, layers)
    wrong = NetworkStats(layers, 1, torch.from_numpy(metric)[..., None, None], torch.from_numpy(outputs)[..., None])
    assert max(abs(r["z"]) for r in compare_stats(real, wrong)["comparisons"]) > 6
    fair, fair_out = chi2_forward(g1, np.random.default_rng(53), widths, "relu", 2.0, 0.0, N, layers)
    right = NetworkStats(layers, 1, torch.from_numpy(fair)[..., None, None], torch.from_numpy(fair_out)[..., None])
    assert max(abs(r["z"]) for r in compare_stats(real, right)["comparisons"]) < 4.5


@pytest.mark.parametrize("activation, C_W, C_b", [("relu", 2.0, 0.1), ("leaky_relu", 1.5, 0.0), ("abs", 1.0, 0.3)])
def test_chi2_shortcut_exact_moments(activation, C_W, C_b):
    # E[G^j], j = 1..3, of the output metric against the exact rational moments (theory, notes 2(c2)),
    # at width 4 where E[G^3] is far from its infinite-width value E[G]^3
    widths, N = (1, 4, 4, 4, 1), 400_000
    s = sample_collapsed(widths, activation, C_W, C_b, [[1.0]], N, layers=[4], generator=gen(54), method="chi2")
    G = s.G[:, 0, 0, 0].numpy()
    K1 = C_W * 1.0  # C_b + C_W x^2/n_0 minus C_b: bias_moments adds C_b at each later layer
    exact = [float(v) for v in bias_moments(activation, C_W, C_b, C_b + K1, [4, 4, 4], 3)]
    for j, m in enumerate(exact, start=1):
        est = mean_se(G ** j)
        assert abs(est.z(m)) < 5, (j, est, m)
        if j > 1:  # control: the infinite-width (deterministic G) value E[G]^j is rejected
            assert abs(est.z(exact[0] ** j)) > 6, (j, est, exact[0] ** j)


@pytest.mark.parametrize("device", ["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
def test_chi2_device_argument(device):
    s = sample_collapsed((2, 4, 3), "relu", 2.0, 0.0, [[1.0, 0.5]], 6, device=device)
    assert s.metric.device.type == s.outputs.device.type == torch.device(device).type


def test_chi2_shortcut_common_random_numbers_across_activations():
    # same seed, different homogeneous sigma: the same coins and magnitudes drive both (as with the rows sampler)
    widths, x = (1, 6, 6, 6, 1), [[1.0]]
    relu = sample_collapsed(widths, "relu", 2.0, 0.0, x, 4000, generator=gen(60)).G[:, -1, 0, 0]
    leaky = sample_collapsed(widths, "leaky_relu", 2.0, 0.0, x, 4000, generator=gen(60)).G[:, -1, 0, 0]
    lin = sample_collapsed(widths, "linear", 1.0, 0.0, x, 4000, generator=gen(60)).G[:, -1, 0, 0]
    assert torch.all(leaky >= relu)  # a^2 chi2_B + b^2 chi2_(n-B) >= a^2 chi2_B, layer by layer
    assert np.corrcoef(relu.numpy(), leaky.numpy())[0, 1] > 0.95
    assert np.corrcoef(relu.numpy(), lin.numpy())[0, 1] > 0.3
