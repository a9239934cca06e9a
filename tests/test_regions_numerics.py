"""Unit tests of numerics/regions.py: the exact counter against brute force, the construction."""
import math
import random
from fractions import Fraction

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

import dltv.numerics.regions as nr


def _pattern(layers, x):
    """Activation pattern and output at x, exactly, by direct evaluation."""
    h, pat = [Fraction(x)], []
    for i, (W, b) in enumerate(layers):
        z = [sum((Fraction(w) * v for w, v in zip(row, h)), Fraction(bi)) for row, bi in zip(W, b)]
        if i < len(layers) - 1:
            pat.append(tuple(v > 0 for v in z))
            h = [v if v > 0 else Fraction(0) for v in z]
        else:
            h = z
    return tuple(pat), h


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10 ** 6), st.lists(st.integers(1, 4), min_size=1, max_size=3))
def test_counter_matches_brute_force_on_integer_nets(seed, hidden):
    rnd = random.Random(seed)
    widths = [1, *hidden, 1]
    layers = [([[rnd.randint(-3, 3) for _ in range(n_in)] for _ in range(n_out)], [rnd.randint(-3, 3) for _ in range(n_out)])
              for n_in, n_out in zip(widths[:-1], widths[1:])]
    rc = nr.count_regions(layers, -4, 4)
    # patterns on a uniform grid merged with the reported breakpoints: every reported point must be a
    # real pattern change and no change may appear elsewhere on the grid
    grid = sorted({Fraction(k, 100) for k in range(-400, 401)} | set(rc.region_breakpoints))
    pats = [_pattern(layers, (x0 + x1) / 2)[0] for x0, x1 in zip(grid[:-1], grid[1:])]
    changes = sum(p != q for p, q in zip(pats[:-1], pats[1:]))
    assert rc.activation_regions == 1 + changes
    for l, r, sl, ic in rc.pieces:   # the pieces reproduce the network exactly
        for t in (l, r, (l + r) / 2):
            assert _pattern(layers, t)[1][0] == sl[0] * t + ic[0]


def test_generator_matches_network_and_float_network_output():
    rnd = random.Random(3)
    for d in range(1, 8):
        a = [Fraction(rnd.randint(10, 90), 100) for _ in range(d)]
        s = [Fraction(rnd.randint(1, 100), 100) for _ in range(d)]
        rc = nr.count_regions(nr.exact_triangle_layers(a, s))
        assert rc.region_breakpoints == nr.triangle_breakpoints(a)
        assert rc.activation_regions == nr.triangle_region_count(a) == 2 ** d


def test_triangle_forward_equals_matrix_network():
    g = torch.Generator().manual_seed(0)
    for law in (True, False):
        net = nr.TriangleNet(6, batch=3, law=law, generator=g)
        x = torch.rand(200, generator=g, dtype=nr.DTYPE)
        params = net.to_mlp_params()
        assert torch.allclose(net(x), nr.mlp_forward(params, x), atol=1e-12)
        exact = nr.count_regions(net.exact_layers(1))
        assert exact.activation_regions == 64
        xs = [Fraction(float(t)) for t in x[:20]]
        assert np.allclose([float(exact.value(t)[0]) for t in xs], net(x[:20])[1].detach().numpy(), atol=1e-12)


def test_law_scales_match_between_module_and_function():
    net = nr.TriangleNet(4, law=True, peaks=[0.3, 0.4, 0.5, 0.6, 0.7], s0=0.1)
    expect = nr.law_scales([0.3, 0.4, 0.5, 0.6, 0.7], 0.1, 4)
    assert np.allclose(net.scales()[0].detach().numpy(), expect)


def test_default_init_bounds_and_zero_bias():
    g = torch.Generator().manual_seed(1)
    (W, b), _ = nr.init_mlp([1, 4, 1], batch=50, generator=g)
    assert W.abs().max() <= 1 and b.abs().max() <= 1
    P = nr.init_mlp([1, 3, 3, 1], batch=5, init="he-zero-bias", generator=g)
    assert all(nr.count_regions(nr.member_layers(P, m)).activation_regions == 1 for m in range(5))


def test_sawtooth_and_torch_module_inputs():
    assert nr.count_regions(nr.sawtooth_layers(4)).affine_pieces == 16
    m = torch.nn.Sequential(torch.nn.Linear(1, 2), torch.nn.ReLU(), torch.nn.Linear(2, 1)).double()
    with torch.no_grad():
        m[0].weight[:] = torch.tensor([[1.0], [1.0]]); m[0].bias[:] = torch.tensor([-0.25, -0.5])
        m[2].weight[:] = torch.tensor([[1.0, -1.0]]); m[2].bias.zero_()
    rc = nr.count_regions(m)
    assert rc.region_breakpoints == [Fraction(1, 4), Fraction(1, 2)] and rc.affine_pieces == 3


def test_free_knot_fit_recovers_piecewise_linear_target():
    x = np.linspace(0, 1, 200)
    y = np.abs(x - 0.3)
    mse, knots = nr.free_knot_fit(x, y, 2)
    assert mse < 1e-9 and abs(knots[0] - 0.3) < 1e-3


def test_free_knot_fit_never_worse_than_its_starts_and_beats_uniform_knots():
    x = np.linspace(0, 1, 300)
    y = x ** 3
    knots = np.linspace(0, 1, 9)[1:-1]
    A = np.column_stack([np.ones_like(x), x, np.maximum(x[:, None] - knots[None, :], 0)])
    r = y - A @ np.linalg.lstsq(A, y, rcond=None)[0]
    mse, _ = nr.free_knot_fit(x, y, 8)
    assert mse < 0.9 * (r @ r / len(x))


def test_triangle_family_fit_contains_yarotsky_interpolant():
    # a = 1/2, s_i = 4^-(i+1): x - F_d interpolates x^2 at k/2^d (Yarotsky); the family fit of the
    # same samples can only be better than that interpolant's sampled MSE (independent numpy tents)
    d, x = 3, np.linspace(0, 1, 400)
    nodes = np.linspace(0, 1, 2 ** d + 1)
    interp = np.interp(x, nodes, nodes ** 2)
    bound = float(np.mean((interp - x ** 2) ** 2))
    mse, peaks = nr.triangle_family_fit(x, x ** 2, d)
    assert mse <= bound * (1 + 1e-9) and np.all((peaks > 0) & (peaks < 1))


def test_train_adam_cosine_reaches_zero_learning_rate():
    w = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    losses = nr.train_adam([w], lambda: ((w - 1) ** 2).sum(), 200, 0.1, cosine=True)
    assert len(losses) == 200 and losses[-1] < losses[0]


def test_joint_adam_trains_each_member_as_if_alone():
    # train_triangle_and_dense relies on this: members of one batch do not interact
    x = torch.linspace(0, 1, 50, dtype=torch.float64)

    def trained(members):
        P = [(W.clone().requires_grad_(), b.clone().requires_grad_()) for W, b in members]
        nr.train_adam([t for wb in P for t in wb], lambda: ((nr.mlp_forward(P, x) - x ** 3) ** 2).mean(1).sum(),
                      30, 1e-2, cosine=True)
        return P

    first = nr.init_mlp([1, 4, 4, 1], batch=2, generator=torch.Generator().manual_seed(0))
    other = nr.init_mlp([1, 4, 4, 1], batch=3, generator=torch.Generator().manual_seed(1))
    alone = trained(first)
    joint = trained([(torch.cat([W, Wo]), torch.cat([b, bo])) for (W, b), (Wo, bo) in zip(first, other)])
    for (W, b), (Wj, bj) in zip(alone, joint):     # equal up to rounding (SIMD lanes vs tails)
        assert torch.allclose(W, Wj[:2], rtol=1e-10, atol=1e-12) and torch.allclose(b, bj[:2], rtol=1e-10, atol=1e-12)
    assert not torch.allclose(alone[0][0], first[0][0], rtol=1e-6)     # training moved the weights


def test_train_triangle_and_dense_lowers_both_losses():
    x = torch.linspace(0, 1, 100, dtype=torch.float64)
    y = x ** 3
    gen = torch.Generator().manual_seed(2)
    start, start_pre = nr.train_triangle_and_dense(x, y, 3, batch=2, pre=0, raw=0, generator=gen)
    gen = torch.Generator().manual_seed(2)
    params, pre_mse = nr.train_triangle_and_dense(x, y, 3, batch=2, pre=100, raw=200, generator=gen)
    mse = lambda P: ((nr.mlp_forward(P, x) - y) ** 2).mean(1)
    assert len(params) == 4 and params[0][0].shape == (4, 4, 1) and pre_mse.shape == (2,)
    assert np.allclose(mse(start)[:2].numpy(), start_pre)        # members 0..1 are the triangle nets
    assert torch.all(mse(params) < mse(start))


@pytest.mark.parametrize("call", [
    lambda: nr.train_triangle_and_dense(np.linspace(0, 1, 5), np.zeros(5), 2, batch=1, pre=-1, raw=0),
    lambda: nr.TriangleNet(0),
    lambda: nr.TriangleNet(2, law=False, peaks=[0.5, 1.5]),
    lambda: nr.TriangleNet(2, law=False, peaks=[0.5, 0.5], scales=[1, -1]),
    lambda: nr.triangle_breakpoints([Fraction(1, 2), 1]),
    lambda: nr.count_regions([([[1.0, 2.0]], [0.0])]),
    lambda: nr.count_regions(nr.sawtooth_layers(2), 1, 0),
    lambda: nr.count_regions([([[float("nan")]], [0.0])]),
    lambda: nr.init_mlp([1, 0, 1]),
    lambda: nr.init_mlp([1, 2, 1], init="xavier"),
    lambda: nr.triangle_family_fit(np.linspace(0, 1, 5), np.zeros(5), 0),
])
def test_bad_input_raises_value_error(call):
    with pytest.raises(ValueError):
        call()


def test_float_triangle_matrices_have_rounding_slivers():
    # float64 weight matrices of the construction have more regions than 2^d; the extra ones are < 1e-12 long
    net = nr.TriangleNet(6, law=True, generator=torch.Generator().manual_seed(6006))
    with torch.no_grad():
        rc = nr.count_regions(net.layers(0), min_length=Fraction(1, 10 ** 12))
    assert rc.activation_regions > 64 == rc.long_regions == rc.long_pieces
    assert nr.count_regions(net.exact_layers(0)).activation_regions == 64
    with pytest.raises(ValueError, match="min_length"):
        nr.count_regions(net.exact_layers(0), min_length=-1)


def test_integer_counter_matches_depth_and_duplicate_roots():
    # two neurons switching at the same point make one boundary, not two
    layers = [([[1], [2]], [Fraction(-1, 2), -1]), ([[1, 1]], [0])]
    rc = nr.count_regions(layers)
    assert rc.activation_regions == 2 and rc.region_breakpoints == [Fraction(1, 2)]
    a = [Fraction(k, 100) for k in (13, 47, 71, 29, 55, 38, 62, 81, 19, 44, 66, 35, 52, 27)]
    assert nr.count_regions(nr.exact_triangle_layers(a, [Fraction(1, 3)] * 14)).activation_regions == 2 ** 14


def test_module_layers_reads_forward_order_and_refuses_others():
    lin = lambda i, o, bias=True: torch.nn.Linear(i, o, bias=bias)
    m = torch.nn.Sequential(torch.nn.Sequential(lin(1, 3, bias=False), torch.nn.ReLU()), torch.nn.Dropout(), lin(3, 1))
    (W1, b1), (W2, b2) = nr.module_layers(m)
    assert W1.shape == (3, 1) and torch.all(b1 == 0) and W2.shape == (1, 3)
    for bad, word in ((torch.nn.Sequential(lin(1, 2), torch.nn.LeakyReLU(), lin(2, 1)), "LeakyReLU"),
                      (torch.nn.Sequential(lin(1, 2), torch.nn.ReLU()), "end with a Linear"),
                      (torch.nn.Sequential(lin(1, 2), lin(2, 1)), "without a ReLU")):
        with pytest.raises(ValueError, match=word):
            nr.module_layers(bad)


def test_crossing_density_matches_one_layer_exact_values():
    # Kac-Rice: int_0^1 E[|w| rho_b(-w x)] dx = P(-b/w in (0,1)) = 1/4 (uniform), atan(sqrt(2/0.1))/pi (He)
    g = torch.Generator().manual_seed(3)
    for init, p in (("default", 0.25), ("he", math.atan(math.sqrt(20)) / math.pi)):
        P = nr.init_mlp([1, 8, 1], batch=20000, init=init, generator=g)
        v = nr.crossing_density(P, init, torch.rand(20000, 8, generator=g, dtype=nr.DTYPE)).mean(1).numpy()
        assert abs(v.mean() - 8 * p) < 5 * v.std() / math.sqrt(v.size)
    with pytest.raises(ValueError):
        nr.crossing_density(P, "he-zero-bias", torch.rand(3, dtype=nr.DTYPE))


def test_float_fast_path_equals_fraction_path():
    P = nr.init_mlp([1, 5, 5, 1], batch=20, init="he", generator=torch.Generator().manual_seed(4))
    for m in range(20):
        layers = nr.member_layers(P, m)
        as_fractions = [([[Fraction(float(w)) for w in row] for row in W.tolist()], [Fraction(float(v)) for v in b])
                        for W, b in layers]
        fast, slow = nr.count_regions(layers, -2, 2), nr.count_regions(as_fractions, -2, 2)
        assert fast.region_breakpoints == slow.region_breakpoints and fast.pieces == slow.pieces


def test_count_reports_progress_per_hidden_layer():
    import dltv.numerics.regions as nr

    seen = []
    rc = nr.count_regions(nr.sawtooth_layers(3), progress=lambda *a: seen.append(a))
    assert [s[0] for s in seen] == [1, 2, 3] and all(s[1] == 3 for s in seen)
    assert seen[-1][2] == rc.activation_regions


# --------------------------------------------------------------------------- the vectorised counter against an oracle
import subprocess
import sys

import dltv.numerics.regions_exact as rx


def _reference_partition(layers, lo, hi):
    """The previous counter, kept as an independent oracle: Python loops over segments, Fractions.

    Returns (edges, pieces) with pieces (left, right, slopes, intercepts) as Fractions.
    """
    fr = lambda v: v if isinstance(v, Fraction) else Fraction(float(v)) if isinstance(v, float) else Fraction(v)
    layers = [([[fr(w) for w in row] for row in (W.tolist() if hasattr(W, "tolist") else W)],
               [fr(v) for v in (b.tolist() if hasattr(b, "tolist") else b)]) for W, b in layers]
    edges, A_all, B_all = [Fraction(lo), Fraction(hi)], [[Fraction(1)]], [[Fraction(0)]]
    for W, b in layers[:-1]:
        new_edges, new_A, new_B = [edges[0]], [], []
        for k, (A, B) in enumerate(zip(A_all, B_all)):
            l, r = edges[k], edges[k + 1]
            zA = [sum((w * a for w, a in zip(row, A)), Fraction(0)) for row in W]
            zB = [sum((w * v for w, v in zip(row, B)), bj) for row, bj in zip(W, b)]
            cuts = sorted({-v / a for a, v in zip(zA, zB) if a != 0 and l < -v / a < r})
            for x0 in (l, *cuts):
                on = [a * x0 + v > 0 or (a * x0 + v == 0 and a > 0) for a, v in zip(zA, zB)]
                new_A.append([a if o else 0 for a, o in zip(zA, on)])
                new_B.append([v if o else 0 for v, o in zip(zB, on)])
            new_edges += cuts + [r]
        edges, A_all, B_all = new_edges, new_A, new_B
    W, b = layers[-1]
    pieces = []
    for k, (A, B) in enumerate(zip(A_all, B_all)):
        zA = tuple(sum((w * a for w, a in zip(row, A)), Fraction(0)) for row in W)
        zB = tuple(sum((w * v for w, v in zip(row, B)), bj) for row, bj in zip(W, b))
        if pieces and pieces[-1][2] == zA and pieces[-1][3] == zB:
            pieces[-1][1] = edges[k + 1]
        else:
            pieces.append([edges[k], edges[k + 1], zA, zB])
    return edges, [tuple(p) for p in pieces]


def _random_net(rnd: random.Random, kind: str, widths: list[int]):
    """Random layers: small integers (many ties and zero rows), rationals, float64 or float32 weights."""
    shapes = list(zip(widths[:-1], widths[1:]))
    if kind == "int":
        return [([[rnd.randint(-2, 2) for _ in range(i)] for _ in range(o)], [rnd.randint(-2, 2) for _ in range(o)])
                for i, o in shapes]
    if kind == "rational":
        q = lambda: Fraction(rnd.randint(-6, 6), rnd.randint(1, 5))
        layers = [([[q() for _ in range(i)] for _ in range(o)], [q() for _ in range(o)]) for i, o in shapes]
        W, b = layers[0]                  # a duplicated neuron and a scaled copy: equal roots
        layers[0] = (W + [W[0], [2 * w for w in W[0]]], b + [b[0], 2 * b[0]])
        if len(layers) > 1:
            layers[1] = ([row + [0, 0] for row in layers[1][0]], layers[1][1])
        return layers
    rng = np.random.default_rng(rnd.randrange(2 ** 32))
    dtype = torch.float64 if kind == "float64" else torch.float32
    weights = lambda *shape: torch.as_tensor(rng.normal(size=shape)).to(dtype)
    return [(weights(o, i) / math.sqrt(i), 0.3 * weights(o)) for i, o in shapes]


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10 ** 6), st.sampled_from(["int", "rational", "float64", "float32"]),
       st.lists(st.integers(1, 5), min_size=1, max_size=4), st.integers(1, 2))
def test_vectorised_counter_equals_reference_partition(seed, kind, hidden, outputs):
    rnd = random.Random(seed)
    layers = _random_net(rnd, kind, [1, *hidden, outputs])
    edges, pieces = _reference_partition(layers, -3, 3)
    ml = Fraction(1, 7)
    rc = nr.count_regions(layers, -3, 3, min_length=ml)
    assert rc.region_breakpoints == edges[1:-1]
    assert rc.activation_regions == len(edges) - 1 and rc.affine_pieces == len(pieces)
    assert rc.pieces == pieces
    assert rc.long_regions == sum(r - l >= ml for l, r in zip(edges[:-1], edges[1:]))
    assert rc.long_pieces == sum(p[1] - p[0] >= ml for p in pieces)
    counts = nr.count_regions(layers, -3, 3, min_length=ml, detail=False)
    assert (counts.activation_regions, counts.affine_pieces, counts.long_regions, counts.long_pieces) == \
        (rc.activation_regions, rc.affine_pieces, rc.long_regions, rc.long_pieces)


@pytest.mark.parametrize("kind", ["int", "rational", "float64"])
def test_blocks_int64_and_float_filter_do_not_change_the_partition(monkeypatch, kind):
    # tiny blocks (pieces and long pieces spanning blocks), no int64 arrays, no float filter, dense products
    rnd = random.Random(11)
    nets = [_random_net(rnd, kind, [1, 5, 4, 3, 2]) for _ in range(6)]
    ml = Fraction(1, 20)
    full = [nr.count_regions(L, -4, 4, min_length=ml) for L in nets]
    for name, value in (("BLOCK", 2), ("_INT64_SAFE", 1), ("_FILTER_MAX", 0), ("_DENSE_TERMS", 0)):
        with monkeypatch.context() as m:
            m.setattr(rx, name, value)
            for L, rc in zip(nets, full):
                other = rx.count_regions(L, -4, 4, min_length=ml)
                assert other.region_breakpoints == rc.region_breakpoints and other.pieces == rc.pieces, name
                assert (other.long_regions, other.long_pieces) == (rc.long_regions, rc.long_pieces), name


def test_deep_triangle_network_in_blocks_equals_generator():
    # depth 13: 8192 regions, more than one block; the law ties the scales
    rnd = random.Random(13)
    d = 13
    a = [Fraction(rnd.randint(10, 90), 100) for _ in range(d + 1)]
    s = nr.law_scales(a, a[0] * a[1], d)
    layers = nr.exact_triangle_layers(a[:d], s, sign=-1, sign_in=1, offset=sum(s))
    assert 2 ** d > rx.BLOCK
    rc = nr.count_regions(layers)
    assert rc.region_breakpoints == nr.triangle_breakpoints(a[:d])
    assert rc.activation_regions == rc.affine_pieces == nr.triangle_region_count(a[:d]) == 2 ** d
    counts = nr.count_regions(layers, detail=False, min_length=Fraction(1, 10 ** 9))
    assert counts.activation_regions == counts.affine_pieces == 2 ** d
    assert counts.long_regions == sum(r - l >= Fraction(1, 10 ** 9) for l, r in
                                      zip([0, *rc.region_breakpoints], [*rc.region_breakpoints, 1]))


def test_equal_peaks_make_tied_roots_the_generator_merges():
    # peaks 1/2 everywhere: sawtooth-like; and a net whose neurons all switch at one point
    a = [Fraction(1, 2)] * 6
    rc = nr.count_regions(nr.exact_triangle_layers(a, [Fraction(1, 4)] * 6))
    assert rc.region_breakpoints == nr.triangle_breakpoints(a) and rc.activation_regions == 64
    tied = [([[1], [2], [3], [-1]], [-1, -2, -3, 1]), ([[1, 1, 1, 1]], [0])]
    rc = nr.count_regions(tied, 0, 2)
    assert rc.region_breakpoints == [1] and rc.activation_regions == 2


def test_counts_without_detail_keep_no_pieces():
    rc = nr.count_regions(nr.sawtooth_layers(5), detail=False)
    assert rc.activation_regions == rc.affine_pieces == 32
    with pytest.raises(ValueError, match="detail=True"):
        rc.pieces
    with pytest.raises(ValueError, match="detail=True"):
        rc.region_breakpoints


def test_value_finds_the_piece_of_every_point():
    rc = nr.count_regions(nr.sawtooth_layers(3))
    tent = lambda t: 2 * t if t <= Fraction(1, 2) else 2 - 2 * t
    for k in range(0, 65):                 # the 3-fold tent, evaluated directly
        t = Fraction(k, 64)
        assert rc.value(t)[0] == tent(tent(tent(t)))
    with pytest.raises(ValueError):
        rc.value(2)


def test_triangle_cli_path_does_not_import_torch():
    code = ("import sys; from dltv.checks.cli import main; "
            "argv = ['regions', 'count', '--depth', '6', '--law', '--peaks', '1/3,1/4,2/5,1/2,3/5,2/3,3/4']; "
            "assert main(argv) == 0; "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "activation_regions 64" in out.stdout
