"""Unit tests of numerics/networks.py: activations, the MLP module and the batched real-weight sampler."""
import math

import numpy as np
import pytest
import torch

from dltv.numerics.estimators import mean_se
from dltv.numerics.networks import (ACTIVATIONS, MLP, forward_batch, get_activation, sample_networks,
                               sample_params)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_derivative_matches_autograd(name):
    act = get_activation(name)
    z = torch.linspace(-3.1, 2.9, 61, dtype=torch.float64, requires_grad=True)  # avoids the kink at 0
    (grad,) = torch.autograd.grad(act.fn(z).sum(), z)
    torch.testing.assert_close(act.derivative(z.detach()), grad, rtol=1e-12, atol=1e-12)


def test_activation_values_against_independent_formulas():
    z = torch.linspace(-2, 2, 41, dtype=torch.float64)
    torch.testing.assert_close(ACTIVATIONS["gelu"].fn(z), torch.nn.functional.gelu(z, approximate="none"))
    torch.testing.assert_close(ACTIVATIONS["leaky_relu"].fn(z), torch.nn.functional.leaky_relu(z, 0.1))
    torch.testing.assert_close(ACTIVATIONS["silu"].fn(z), z / (1 + torch.exp(-z)))
    zs = [-1.5, 0.3]
    assert [ACTIVATIONS["erf"].fn(torch.tensor(v)).item() for v in zs] == pytest.approx([math.erf(v) for v in zs])


def test_unknown_activation():
    with pytest.raises(ValueError, match="activation"):
        get_activation("softsign")
    with pytest.raises(ValueError, match="activation"):
        MLP((2, 3, 1), "nope")


def test_mlp_init_variances_and_bias_convention():
    net = MLP((400, 300, 200, 1), "relu", C_W=2.0, C_b=0.5, generator=gen(1))
    for lin in net.linears:
        m = lin.weight.numel()
        ratio = lin.weight.pow(2).mean().item() / (2.0 / lin.in_features)
        assert abs(ratio - 1) < 5 * math.sqrt(2 / m)  # mean of chi^2_1 / 1: relative SE sqrt(2/m)
    biases = torch.cat([lin.bias.detach() for lin in net.linears])
    assert abs(biases.pow(2).mean().item() / 0.5 - 1) < 5 * math.sqrt(2 / biases.numel())
    nobias = MLP((3, 4, 1), "tanh", C_W=1.0, C_b=0.0)
    assert all(lin.bias is None for lin in nobias.linears)
    with pytest.raises(ValueError, match="C_b"):
        nobias.init_(1.0, 0.1)


def test_batched_weight_variances():
    p = sample_params((50, 40, 30), 200, C_W=1.7, C_b=0.3, generator=gen(2))
    for w in p.weights:
        n_in, m = w.shape[-1], w.numel()
        assert abs(w.pow(2).mean().item() / (1.7 / n_in) - 1) < 5 * math.sqrt(2 / m)
    for b in p.biases:
        assert abs(b.pow(2).mean().item() / 0.3 - 1) < 5 * math.sqrt(2 / b.numel())
    assert sample_params((5, 4, 1), 3, C_W=1.0, C_b=0.0).biases == [None, None]


@pytest.mark.parametrize("activation", ["relu", "tanh", "gelu"])
def test_module_and_batched_sampler_agree(activation):
    widths = (5, 7, 6, 3)
    p = sample_params(widths, 4, C_W=1.5, C_b=0.2, generator=gen(3))
    x = torch.randn(3, 5, dtype=torch.float64, generator=gen(4))
    u = torch.randn(5, dtype=torch.float64, generator=gen(5))
    stats = forward_batch(p, x, activation, direction=u)
    for i in range(4):
        net = MLP.from_batch(p, i, activation)
        zs = net.preactivations(x)
        torch.testing.assert_close(stats.outputs[i], zs[-1].T)
        # metric by hand from the module's pre-activations
        posts = [x] + [net.activation.fn(z) for z in zs[:-1]]
        for l, h in enumerate(posts, start=1):
            hand = 0.2 + 1.5 / h.shape[1] * h @ h.T
            torch.testing.assert_close(stats.at(l)[i, :3, :3], hand)
        # tangents: directional derivative of the module's output by autograd (jvp)
        for a in range(3):
            _, jv = torch.func.jvp(net, (x[a],), (u,))
            torch.testing.assert_close(stats.output_tangents[i, :, a], jv)


def test_linear_layer2_metric_mean_is_infinite_width_kernel():
    # sigma = id: G^(2) = C_b + (C_W/n_1) sum_j z_j z_j^T, so E G^(2) = C_b + C_W K^(1) (derived by hand)
    x = np.array([[1.0, 0.5, -1.0], [0.2, -0.3, 2.0]])
    C_W, C_b = 1.3, 0.4
    K1 = C_b + C_W * x @ x.T / 3
    K2 = C_b + C_W * K1
    s = sample_networks((3, 8, 1), "linear", C_W, C_b, x, 4000, layers=[2], generator=gen(6))
    for a, b in [(0, 0), (0, 1), (1, 1)]:
        est = mean_se(s.G[:, 0, a, b])
        assert abs(est.mean - K2[a, b]) < 5 * est.se
    # control: the first-layer kernel is rejected
    assert abs(mean_se(s.G[:, 0, 0, 1]).z(K1[0, 1])) > 5


def test_chunking_and_reproducibility():
    x = torch.ones(1, 4, dtype=torch.float64)
    a = sample_networks((4, 5, 2), "relu", 2.0, 0.0, x, 10, chunk_size=3, generator=gen(7))
    b = sample_networks((4, 5, 2), "relu", 2.0, 0.0, x, 10, chunk_size=3, generator=gen(7))
    assert a.metric.shape == (10, 2, 1, 1) and a.outputs.shape == (10, 2, 1)
    torch.testing.assert_close(a.metric, b.metric)


@pytest.mark.parametrize("device", ["cpu", torch.device("cpu")] + (["cuda"] if torch.cuda.is_available() else []))
def test_device_argument(device):
    s = sample_networks((2, 3, 1), "tanh", 1.0, 0.1, [[1.0, 0.0]], 5, device=device)
    assert s.metric.device.type == torch.device(device).type
    net = MLP((2, 3, 1), "tanh", device=device)
    assert net.linears[0].weight.device.type == torch.device(device).type


@pytest.mark.parametrize("kwargs, name", [
    (dict(widths=(0, 3, 1)), "widths"), (dict(widths=(3,)), "widths"), (dict(widths=(3, 2.5, 1)), "widths"),
    (dict(widths="abc"), "widths"), (dict(C_W=0.0), "C_W"), (dict(C_W=float("nan")), "C_W"),
    (dict(C_b=-0.1), "C_b"), (dict(x=[[1.0, float("nan")]]), "x"), (dict(x=[[1.0, 2.0, 3.0]]), "x"),
    (dict(n_networks=0), "n_networks"), (dict(n_networks=2.0), "n_networks"), (dict(layers=[4]), "layers"),
    (dict(chunk_size=0), "chunk_size"), (dict(device="nonsense"), "device"), (dict(activation="cube"), "activation"),
    (dict(direction=[1.0, float("inf")]), "direction"),
])
def test_bad_inputs(kwargs, name):
    args = dict(widths=(2, 3, 1), activation="relu", C_W=2.0, C_b=0.0, x=[[1.0, 0.0]], n_networks=2)
    args.update(kwargs)
    with pytest.raises(ValueError, match=name):
        sample_networks(args.pop("widths"), args.pop("activation"), args.pop("C_W"), args.pop("C_b"),
                        args.pop("x"), args.pop("n_networks"), **args)
