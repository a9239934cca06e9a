"""Unit tests of the 1/n estimators of numerics/correlations.py: vertex normalisation, vertex entries,
control variates, the martingale increments, and the empirical NTK (numerics/networks.py)."""
import math

import numpy as np
import pytest
import torch

from dltv.numerics.correlations import (control_variate_mean, gaussian_average, martingale_increments,
                                        mean_shift_cv, sample_collapsed, vertex, vertex_entry)
from dltv.numerics.estimators import mean_se
from dltv.numerics.networks import MLP, empirical_ntk, sample_ntk, sample_params


def relu_layer_factor(n, N, rng):
    """Exact one-layer ReLU factor Y = (2/n) chi²_M, M ~ Bin(n, 1/2) (correlations.md 2(c1)), by numpy."""
    M = rng.binomial(n, 0.5, size=N)
    return 2.0 / n * rng.chisquare(np.maximum(M, 1)) * (M > 0)


def test_vertex_normalisation_is_n_not_n_plus_one():
    # ReLU after one hidden layer: Var(Y) = E[Y²] − 1 = 5/n exactly, so n Var Ĝ/(E Ĝ)² = V^(2)/K² = 5 at any n.
    # Richardson 2f(2n) − f(n) would hide an n → n+1 slip; at n = 4 it is a 25% error here.
    rng = np.random.default_rng(0)
    n = 4
    est = vertex(relu_layer_factor(n, 400_000, rng), n)
    assert abs(est.z(5.0)) < 5
    assert abs(est.mean - 5.0) < 0.05 * 5  # (n+1)/n would give 6.25
    assert vertex(np.array([1.0, 3.0, 1.0, 3.0]), 10).mean == pytest.approx(10 * 1.0 / 4.0)


def test_vertex_entry_is_n_times_the_covariance():
    a = np.array([1.0, 2.0, 4.0, 5.0])
    b = np.array([0.0, 1.0, 1.0, 2.0])
    assert vertex_entry(a, b, 7).mean == pytest.approx(7 * np.cov(a, b)[0, 1])


def test_control_variate_mean_unbiased_and_sharper():
    rng = np.random.default_rng(1)
    x = rng.normal(2.0, 1.0, 100_000)
    y = 3.0 + 0.7 * (x - 2.0) + 0.1 * rng.normal(size=x.size)
    plain, cv = mean_se(y), control_variate_mean(y, x, 2.0)
    assert abs(cv.z(3.0)) < 5 and cv.se < plain.se / 5
    # two controls as columns; a wrong known mean biases the estimate (the mean must be exact)
    assert abs(control_variate_mean(y, np.stack([x, x**2], 1), [2.0, 5.0]).z(3.0)) < 5
    assert abs(control_variate_mean(y, x, 2.1).z(3.0)) > 20
    with pytest.raises(ValueError, match="controls"):
        control_variate_mean(y, x[:10], 2.0)


def test_gaussian_average_and_martingale_increments():
    v = np.array([0.0, 0.5, 2.0])
    np.testing.assert_allclose(gaussian_average(lambda z: z**4, v), 3 * v**2, rtol=1e-12, atol=1e-15)
    s = sample_collapsed((1, 16, 16, 16, 1), "tanh", 1.0, 0.1, np.array([[1.0]]), 40_000,
                         generator=torch.Generator().manual_seed(2))
    M = martingale_increments(s.G[:, :, 0, 0].numpy(), "tanh", 1.0, 0.1)
    assert M.shape == (40_000, 3)
    for j in range(3):
        assert abs(mean_se(M[:, j]).z(0.0)) < 5
    # a wrong conditional mean (C_W = 1.05) is seen
    assert abs(mean_se(martingale_increments(s.G[:, :, 0, 0].numpy(), "tanh", 1.05, 0.1)[:, 0]).z(0.0)) > 20
    with pytest.raises(ValueError, match="activation"):
        martingale_increments(s.G[:, :, 0, 0].numpy(), "gelu", 1.0, 0.0)


def test_mean_shift_cv_relu_two_inputs():
    # at layer 2 the mean is exact: n(E Ĝ_ab − K_ab) = 0
    s = sample_collapsed((2, 16, 16, 1), "relu", 2.0, 0.0, np.eye(2), 20_000,
                         generator=torch.Generator().manual_seed(3))
    g = s.G[:, 1].numpy()
    K_ab = 1 / math.pi  # arc-cosine kernel at rho = 0: C_W (1/2π)
    est = mean_shift_cv(g[:, 0, 1], K_ab, 16, np.stack([g[:, 0, 0], g[:, 1, 1]], 1), 1.0)
    assert abs(est.z(0.0)) < 5


def per_parameter_ntk(net, x, C_W, C_b):
    """Σ over every parameter of one MLP, one scalar at a time: the 'ntk' factors C_W/n_in and C_b."""
    grads = []
    for xa in x:
        net.zero_grad()
        net(torch.as_tensor(xa, dtype=torch.float64))[0].backward()
        grads.append([p.grad.clone() for p in net.parameters()])
    k = len(x)
    theta = torch.zeros(k, k, dtype=torch.float64)
    for a in range(k):
        for b in range(k):
            for (name, p), ga, gb in zip(net.named_parameters(), grads[a], grads[b]):
                scale = C_W / p.shape[1] if name.endswith("weight") else C_b
                theta[a, b] += scale * (ga * gb).sum()
    return theta


@pytest.mark.parametrize("activation,C_b", [("tanh", 0.2), ("relu", 0.0)])
def test_empirical_ntk_matches_per_network_autograd(activation, C_b):
    x = np.array([[0.3, -1.0, 0.5], [1.2, 0.1, -0.4]])
    params = sample_params((3, 5, 4, 2), 3, 1.7, C_b, generator=torch.Generator().manual_seed(4))
    batch = empirical_ntk(params, x, activation)
    for i in range(3):
        net = MLP.from_batch(params, i, activation)
        torch.testing.assert_close(batch[i], per_parameter_ntk(net, x, 1.7, C_b), rtol=1e-12, atol=1e-12)


def test_empirical_ntk_parameterisations_and_first_layer():
    # one layer (widths n_0, 1): Theta = K^(1) = C_b + C_W x.x'/n_0 exactly in the 'ntk' parameterisation;
    # in the 'standard' one the weight gradients carry no C_W/n_0: Theta = 1 + x.x'
    x = np.array([[1.0, 2.0], [0.5, -1.0]])
    params = sample_params((2, 1), 2, 3.0, 0.5, generator=torch.Generator().manual_seed(5))
    K1 = 0.5 + 3.0 * x @ x.T / 2
    for i in range(2):
        np.testing.assert_allclose(empirical_ntk(params, x, "relu")[i].numpy(), K1, rtol=1e-12)
        np.testing.assert_allclose(empirical_ntk(params, x, "relu", parameterization="standard")[i].numpy(),
                                   1 + x @ x.T, rtol=1e-12)
    with pytest.raises(ValueError, match="parameterization"):
        empirical_ntk(params, x, "relu", parameterization="mup")
    with pytest.raises(ValueError, match="output"):
        empirical_ntk(params, x, "relu", output=1)
    assert sample_ntk((2, 4, 1), "tanh", 1.0, 0.0, x, 7, chunk_size=3,
                      generator=torch.Generator().manual_seed(6)).shape == (7, 2, 2)
