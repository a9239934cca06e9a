"""Triangle nets as 1-d activations: block-diagonal networks, the triangle KAN, their exact planar regions."""
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest
import torch
from torch import nn

import dltv.numerics.regions as nr
import dltv.theory.regions as tr
from dltv.numerics.planar import planar_partition


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_kan_network_matches_tent_composition():
    """The ReLU matrices of the KAN compute the same function as psi(phi_x + phi_y) by tent composition."""
    kan = nr.TriangleKAN(4, 3, batch=3, generator=_gen(1))
    X = torch.rand(300, 2, generator=_gen(2), dtype=nr.DTYPE)
    with torch.no_grad():
        kan.fit_output_(X, (X ** 2).sum(1) ** 1.5)
        params, masks = nr.stacked_layers(kan, 3)
        assert torch.allclose(nr.mlp_forward_points(params, X, masks), kan(X), atol=1e-12, rtol=0)
        assert [tuple(W.shape[1:]) for W, _ in params] == [(8, 2), (8, 8), (8, 8), (8, 8), (4, 8), (4, 4), (4, 4), (1, 4)]


def test_triangle_sum_is_the_sum_of_its_blocks():
    """Two blocks on one input: the block-diagonal net equals the two width-4 nets evaluated apart."""
    dc = nr.TriangleSum(5, [0, 0], batch=2, generator=_gen(3))
    t = torch.rand(200, generator=_gen(4), dtype=nr.DTYPE)
    with torch.no_grad():
        dc.fit_output_(t, (2 * t - 1) ** 3 - (2 * t - 1))
        params, masks = nr.stacked_layers(dc, 2)
        for m in range(2):
            apart = sum(nr.mlp_forward([(W[None], b[None]) for W, b in dc.nets.layers(j * 2 + m)], t)[0] for j in range(2))
            assert torch.allclose(nr.mlp_forward_points(params, t, masks)[m], apart, atol=1e-12, rtol=0)


def test_parameter_counts_against_torch_and_the_formula():
    kan, dc = nr.TriangleKAN(5, 5, batch=1), nr.TriangleSum(5, [0, 0], batch=1)
    assert nr.count_parameters(nr.block_masks(kan)) == int(tr.block_net_parameters(2, 5, 5)) == 297
    assert nr.count_parameters(nr.block_masks(dc)) == int(tr.block_net_parameters(2, 5)) == 185
    for widths in ([2, 9, 9, 9, 9, 1], [1, 7, 7, 7, 7, 1]):
        seq = nn.Sequential(*[nn.Linear(i, o) for i, o in zip(widths[:-1], widths[1:])])
        assert nr.dense_parameters(widths) == sum(p.numel() for p in seq.parameters())
    # the mask counts block entries, not nonzero entries: the construction has zeros inside its blocks
    params, masks = nr.stacked_layers(kan, 1)
    assert sum(int((W != 0).sum()) for W, _ in params) < sum(int(m.sum()) for m in masks)


def test_masked_training_keeps_the_blocks():
    X = torch.rand(40, 2, generator=_gen(5), dtype=nr.DTYPE)
    kan = nr.TriangleKAN(3, 2, batch=2, generator=_gen(6))
    P, masks, D, pre = nr.train_blocks_and_dense(X, (X ** 2).sum(1) ** 1.5, kan, [2, 5, 5, 1], pre=5, raw=20,
                                                 generator=_gen(7))
    assert all(bool((W[:, ~m] == 0).all()) for (W, _), m in zip(P, masks))     # the training kept the blocks
    W = torch.ones(1, 3, 2, dtype=nr.DTYPE)
    mask = torch.tensor([[True, False], [False, True], [True, True]])
    x = torch.tensor([[1.0, 2.0]], dtype=nr.DTYPE)
    out = nr.mlp_forward_points([(W, torch.zeros(1, 3, dtype=nr.DTYPE)), (torch.ones(1, 1, 3, dtype=nr.DTYPE),
                                                                          torch.zeros(1, 1, dtype=nr.DTYPE))],
                                x, [mask, torch.ones(1, 3, dtype=torch.bool)])
    assert out.item() == 1 + 2 + 3
    assert [tuple(W.shape) for W, _ in D] == [(2, 5, 2), (2, 5, 5), (2, 1, 5)] and pre.shape == (2,)


def _exact_pattern(layers, point) -> bytes:
    """The activation pattern at a rational point, by exact forward propagation (no partition)."""
    h, out = list(point), []
    for W, b in layers[:-1]:
        z = [sum((Fraction(float(w)) * v for w, v in zip(row, h)), Fraction(float(c))) for row, c in zip(W.tolist(), b.tolist())]
        out += [int(v > 0) for v in z]
        h = [max(v, Fraction(0)) for v in z]
    return bytes(out)


def _random_peaks(rng, n):
    return [Fraction(int(v), 100) for v in rng.integers(20, 81, n)]


@pytest.mark.parametrize("d_in, d_out, seed", [(2, 2, 0), (3, 3, 1), (5, 4, 2)])
def test_exact_kan_inner_regions_are_a_product(d_in, d_out, seed):
    """derived: block-diagonal inner layers partition [0,1]^2 into exactly (2^d)^2 rectangles."""
    rng = np.random.default_rng(seed)
    spec = nr.exact_triangle_kan(_random_peaks(rng, d_in + 1), _random_peaks(rng, d_in + 1), _random_peaks(rng, d_out + 1))
    part = planar_partition(spec, (0, 1, 0, 1))
    assert part.layer_counts[d_in - 1] == tr.block_inner_regions(2, d_in)
    assert part.count > part.layer_counts[d_in - 1]          # the outer net cuts along level sets of the inner sum
    assert sum(part.exact_area(r) for r in range(part.count)) == 1


@pytest.mark.parametrize("depths, seed", [((3, 2), 8), ((4, 3), 9)])
def test_planar_count_of_a_kan(depths, seed):
    """Exact planar regions of a float64 triangle KAN on [0,1]^2 against independent counts.

    Every region's centroid has the region's pattern under exact forward propagation of the stored
    weights; patterns are distinct (regions are convex); the areas tile the box; every pattern met on a
    fine grid is one of the regions (a lower bound on the count) and the grid sees most of them.
    """
    kan = nr.TriangleKAN(*depths, batch=1, generator=_gen(seed))
    with torch.no_grad():
        layers = kan.layers(0)
    part = planar_partition(layers, (0, 1, 0, 1))
    assert len(set(part.patterns)) == part.count
    assert sum(part.exact_area(r) for r in range(part.count)) == 1
    for r in range(part.count):
        V = [(Fraction(X, H), Fraction(Y, H)) for X, Y, H in part.polygons[r]]
        c = (sum(v[0] for v in V) / len(V), sum(v[1] for v in V) / len(V))
        assert _exact_pattern(layers, c) == part.patterns[r]
    g = torch.linspace(0.0005, 0.9995, 700, dtype=nr.DTYPE)
    G = torch.cartesian_prod(g, g)
    h, pats = G.T, []
    for W, b in layers[:-1]:
        z = W @ h + b[:, None]
        pats.append(z > 0)
        h = torch.relu(z)
    grid = {bytes(col) for col in torch.cat(pats).T.to(torch.uint8).numpy()}
    assert grid <= set(part.patterns)
    assert len(grid) >= 0.5 * part.count


def test_train_triangle_and_dense_several_targets():
    """Targets as rows: members are target-major, each starting from its own target's least-squares fit."""
    x = torch.linspace(0, 1, 50, dtype=nr.DTYPE)
    Y = torch.stack([x ** 3, 1 - x ** 2])
    params, pre = nr.train_triangle_and_dense(x, Y, 3, batch=2, pre=0, raw=0, generator=_gen(10))
    out = nr.mlp_forward(params, x)
    own = ((out[:4] - Y.repeat_interleave(2, 0)) ** 2).mean(1)
    other = ((out[:4] - Y.flip(0).repeat_interleave(2, 0)) ** 2).mean(1)
    assert bool((own < other).all()) and out.shape == (8, 50) and pre.shape == (4,)
    with pytest.raises(ValueError, match="same length"):
        nr.train_triangle_and_dense(x, Y[:, :10], 3, batch=1, pre=0, raw=0)


def test_bad_input():
    with pytest.raises(ValueError, match="inputs"):
        nr.TriangleSum(3, [], batch=1)
    with pytest.raises(ValueError, match="blocks"):
        nr.block_diagonal([], [], 1)
    with pytest.raises(ValueError, match="inputs must lie"):
        nr.block_diagonal([nr.TriangleNet(2).layers(0)], [3], 2)
    with pytest.raises(ValueError, match="same number of points"):
        nr.train_blocks_and_dense(torch.zeros(5, 2), torch.zeros(4), nr.TriangleKAN(2, 2), [2, 3, 1], pre=0, raw=0)
    with pytest.raises(ValueError, match="raw"):
        nr.train_blocks_and_dense(torch.zeros(4, 2), torch.zeros(4), nr.TriangleKAN(2, 2), [2, 3, 1], pre=0, raw=-1)
    with pytest.raises(ValueError, match="blocks"):
        tr.block_net_parameters(0, 3)
    with pytest.raises(ValueError, match="depth"):
        tr.block_inner_regions(2, 1.5)


def test_formula_cli():
    run = lambda *a: subprocess.run([sys.executable, "-m", "dltv.checks.cli", "formula", "eval", *a],
                                    capture_output=True, text=True)
    assert run("regions.kan.parameters", "blocks=2", "depth_inner=5", "depth_outer=5").stdout.strip() == "297"
    assert run("regions.kan.inner-regions", "blocks=2", "depth=5").stdout.strip() == "1024"
    bad = run("regions.kan.inner-regions", "blocks=0", "depth=5")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
