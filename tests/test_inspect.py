"""``dltv inspect`` on models trained and saved in the test, each part against an independent computation."""
import argparse
import json
import sys
from fractions import Fraction

import numpy as np
import pytest
import torch
from torch import nn

from dltv.checks.cli_inspect import register
from dltv.checks.inspect import canonical_chain, inspect_regions, inspect_spectra, inspect_symmetries
from dltv.numerics.bottleneck import random_orthogonal, train_deep_linear
from dltv.numerics.covering import random_group_element, transform_mlp
from dltv.numerics.models import from_pairs, load_model, read_module
from dltv.numerics.threads import one_thread

from test_planar import _brute_force_patterns  # noqa: E402  (tests/ is on sys.path under pytest)


def run_cli(argv: list[str]) -> int:
    """The ``inspect`` subcommand as ``dltv`` runs it: ValueError -> one line on stderr, exit 2."""
    parser = argparse.ArgumentParser(prog="dltv")
    register(parser.add_subparsers(dest="command"))
    try:
        args = parser.parse_args(argv)
        return args.handler(args)
    except ValueError as err:
        print(f"dltv: error: {err}", file=sys.stderr)
        return 2


def _train(model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int = 300, lr: float = 1e-2,
           weight_decay: float = 0.0) -> nn.Module:
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    with one_thread():
        for _ in range(steps):
            opt.zero_grad()
            ((model(x) - y) ** 2).mean().backward()
            opt.step()
    return model.eval()


def _disc_data(n=400, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = 2 * torch.rand(n, 2, generator=g, dtype=torch.float64) - 1
    return x, ((x ** 2).sum(1, keepdim=True) < 0.4).to(torch.float64) * 2 - 1


def test_trained_depth_three_net_count_matches_pattern_enumeration(tmp_path, capsys):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 4), nn.ReLU(),
                        nn.Linear(4, 1)).double()
    _train(net, *_disc_data())
    torch.save(net, tmp_path / "net.pt")
    assert run_cli(["inspect", str(tmp_path / "net.pt"), "--parts", "regions", "--box=-1,1,-1,1", "--json",
                    "--out", str(tmp_path / "out")]) == 0
    out = json.loads(capsys.readouterr().out)
    brute = _brute_force_patterns(read_module(net), (Fraction(-1), Fraction(1), Fraction(-1), Fraction(1)))
    assert out["regions"]["activation_regions"] == len(brute)
    assert (tmp_path / "out" / "regions.png").stat().st_size > 10_000
    polygons = json.loads((tmp_path / "out" / "regions.json").read_text())["regions"]
    assert sorted(bytes.fromhex(p["pattern"]) for p in polygons) == sorted(brute)
    assert json.loads((tmp_path / "out" / "inspect.json").read_text())["regions"] == out["regions"]


def test_one_hidden_layer_state_dict_lines_in_a_box(tmp_path, capsys):
    """k neurons whose lines cross the box: 1 + k + crossings inside, through a state_dict and --arch."""
    rng = np.random.default_rng(7)
    k = 12
    pts = rng.uniform(-0.9, 0.9, size=(k, 2))
    normals = rng.normal(size=(k, 2))
    W = torch.tensor(normals)
    b = torch.tensor(-(normals * pts).sum(1))                 # line j passes through pts[j], inside the box
    net = nn.Sequential(nn.Linear(2, k), nn.ReLU(), nn.Linear(k, 1)).double()
    with torch.no_grad():
        net[0].weight.copy_(W)
        net[0].bias.copy_(b)
    torch.save(net.state_dict(), tmp_path / "sd.pt")
    assert run_cli(["inspect", str(tmp_path / "sd.pt"), "--arch", f"2,{k},1", "--parts", "regions", "--json"]) == 0
    count = json.loads(capsys.readouterr().out)["regions"]["activation_regions"]
    lines = [tuple(Fraction(v) for v in (w[0], w[1], c)) for w, c in zip(W.tolist(), b.tolist())]
    crossings = 0
    for i in range(k):
        for j in range(i):
            (a1, b1, c1), (a2, b2, c2) = lines[i], lines[j]
            det = a1 * b2 - a2 * b1
            x, y = (b1 * c2 - b2 * c1) / det, (c1 * a2 - c2 * a1) / det
            crossings += -1 < x < 1 and -1 < y < 1
    assert count == 1 + k + crossings


def test_canonical_form_of_permuted_and_sign_flipped_tanh_net(tmp_path, capsys):
    torch.manual_seed(1)
    net = _train(nn.Sequential(nn.Linear(2, 6), nn.Tanh(), nn.Linear(6, 5), nn.Tanh(), nn.Linear(5, 1)).double(),
                 *_disc_data(), steps=200)
    pairs = read_module(net).pairs()
    perms, signs = random_group_element([2, 6, 5, 1], "tanh", torch.Generator().manual_seed(3))
    scrambled = from_pairs(transform_mlp(pairs, perms, signs), "tanh").to_module()
    assert any(not torch.equal(a, c) for (a, _), (c, _) in zip(pairs, read_module(scrambled).pairs()))
    files = []
    for name, model in (("net", net), ("scrambled", scrambled)):
        torch.save(model, tmp_path / f"{name}.pt")
        files.append(tmp_path / f"{name}_canon.pt")
        assert run_cli(["inspect", str(tmp_path / f"{name}.pt"), "--parts", "symmetries", "--canonical",
                        str(files[-1]), "--json"]) == 0
        sym = json.loads(capsys.readouterr().out)["symmetries"]
        assert sym["group_order"] == str(2 ** 6 * 720 * 2 ** 5 * 120) and sym["canonical_max_error"] <= 1e-12
    c1, c2 = (load_model(f).pairs() for f in files)
    assert all(torch.equal(a, c) for p, q in zip(c1, c2) for a, c in zip(p, q))
    # controls: the permutation-only form differs (sign flips matter), and so does a nearby net's form
    perm_only = [canonical_chain(from_pairs(transform_mlp(pairs, perms, signs), "relu")).pairs(),
                 canonical_chain(from_pairs(pairs, "relu")).pairs()]
    assert not all(torch.equal(a, c) for p, q in zip(*perm_only) for a, c in zip(p, q))
    moved = [(W.clone(), b.clone()) for W, b in pairs]
    moved[0][0][0, 0] += 1e-9
    c3 = canonical_chain(from_pairs(moved, "tanh")).pairs()
    assert not all(torch.equal(a, c) for p, q in zip(c1, c3) for a, c in zip(p, q))


def test_relu_canonical_form_removes_rescalings():
    g = torch.Generator().manual_seed(4)
    pairs = [(torch.randn(5, 3, generator=g, dtype=torch.float64), torch.randn(5, generator=g, dtype=torch.float64)),
             (torch.randn(2, 5, generator=g, dtype=torch.float64), torch.randn(2, generator=g, dtype=torch.float64))]
    c = 0.5 + torch.rand(5, generator=g, dtype=torch.float64) * 3
    perm = torch.randperm(5, generator=g)
    scaled = transform_mlp(pairs, [perm], [c])
    a, b = (canonical_chain(from_pairs(p, "relu")).pairs() for p in (pairs, scaled))
    assert max(float((x - y).abs().max()) for p, q in zip(a, b) for x, y in zip(p, q)) < 1e-13
    res = inspect_symmetries(from_pairs(scaled, "relu"))
    assert res.canonical_max_error <= 1e-12 and res.group_order == 120 and "rescaling" in res.continuous
    unscaled = canonical_chain(from_pairs(scaled, "relu"), normalise_scaling=False).pairs()     # control
    assert max(float((x - y).abs().max()) for p, q in zip(a, unscaled) for x, y in zip(p, q)) > 1e-3


def test_deep_linear_net_with_weight_decay_shows_the_target_rank(tmp_path, capsys):
    """A depth-5 linear net trained with weight decay (L-BFGS on ||W_5...W_1 - Y||^2 + lam sum ||W_l||^2)
    on a rank-2 target: every weight and the end-to-end Jacobian have rank 2; the same architecture
    at initialisation has full rank (control)."""
    g = torch.Generator().manual_seed(5)
    d, depth = 8, 5
    U = torch.linalg.qr(torch.randn(d, 2, generator=g, dtype=torch.float64))[0]
    V = torch.linalg.qr(torch.randn(d, 2, generator=g, dtype=torch.float64))[0]
    target = (U @ torch.diag(torch.tensor([3.0, 1.5], dtype=torch.float64)) @ V.T).numpy()
    noise = 0.05 * torch.randn(d, d, generator=g, dtype=torch.float64).numpy()   # full-rank data, rank-2 signal
    trained = train_deep_linear(target + noise, depth, 0.05, generator=g)
    paths = {}
    for name, weights in (("trained", trained.weights), ("init", [random_orthogonal(d, g) for _ in range(depth)])):
        net = nn.Sequential(*[nn.Linear(d, d, bias=False) for _ in range(depth)]).double()
        with torch.no_grad():
            for lin, w in zip(net, weights):
                lin.weight.copy_(torch.as_tensor(w))
        paths[name] = tmp_path / f"{name}.pt"
        torch.save(net, paths[name])
    for name, rank in (("trained", 2), ("init", d)):
        assert run_cli(["inspect", str(paths[name]), "--parts", "spectra", "--rtol", "1e-2", "--json"]) == 0
        sp = json.loads(capsys.readouterr().out)["spectra"]
        assert sp["weight_ranks"] == [rank] * depth
        assert sp["bottleneck_rank"] == rank and sp["representation_ranks"][-1] == rank


def test_spectra_of_a_relu_net_against_autograd():
    g = torch.Generator().manual_seed(6)
    chain = from_pairs([(torch.randn(6, 3, generator=g, dtype=torch.float64), torch.randn(6, generator=g,
                                                                                          dtype=torch.float64)),
                        (torch.randn(2, 6, generator=g, dtype=torch.float64), torch.zeros(2, dtype=torch.float64))],
                       "gelu")
    x = torch.randn(5, 3, generator=g, dtype=torch.float64)
    res = inspect_spectra(chain, x=x)
    J = torch.stack([torch.autograd.functional.jacobian(chain.forward, xi[None])[0, :, 0] for xi in x])
    assert np.allclose(res.representation_singular_values[-1], torch.linalg.svdvals(J).median(0).values, atol=1e-12)


def test_nd_input_slice_and_segment():
    g = torch.Generator().manual_seed(7)
    chain = from_pairs([(torch.randn(10, 4, generator=g, dtype=torch.float64), torch.randn(10, generator=g,
                                                                                           dtype=torch.float64)),
                        (torch.randn(1, 10, generator=g, dtype=torch.float64), torch.zeros(1, dtype=torch.float64))])
    sl = inspect_regions(chain, slice_points="0,0,0,0;1,0,0,0;0,1,0,0", box=(-1, 1, -1, 1))
    # the slice through the first two coordinate axes is the 2-d net of the first two input columns
    flat = from_pairs([(chain.layers[0].weight[:, :2], chain.layers[0].bias), chain.pairs()[1]])
    assert sl.activation_regions == inspect_regions(flat, box=(-1, 1, -1, 1)).activation_regions
    seg = inspect_regions(chain, segment="-1,0,0,0;1,0,0,0")
    seg_flat = inspect_regions(from_pairs([(chain.layers[0].weight[:, :1], chain.layers[0].bias),
                                           chain.pairs()[1]]), interval=(-1, 1))
    assert seg.activation_regions == seg_flat.activation_regions and seg.breakpoints
    assert [Fraction(b) * 2 - 1 for b in seg.breakpoints] == [Fraction(b) for b in seg_flat.breakpoints]


@pytest.mark.parametrize("make, argv, match", [
    (lambda: nn.Sequential(nn.Linear(2, 3), nn.Sigmoid(), nn.Linear(3, 1)), [], "Sigmoid"),
    (lambda: nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1)), ["--parts", "regions"], "3-d"),
    (lambda: nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1)), ["--parts", "regions", "--slice", "0,0;1,1"],
     "slice"),
    (lambda: nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 1)), ["--interval", "0,1"], "interval"),
    (lambda: nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Linear(4, 1)), ["--parts", "regions"], "piecewise"),
    (lambda: nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 1)), ["--box", "1,0,0,1"], "box"),
    (lambda: nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 1)), ["--parts", "bogus"], "parts"),
    (lambda: nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 1)).state_dict(), [], "--arch"),
    (lambda: b"corrupt", [], "cannot be read"),
])
def test_bad_models_one_line_exit_2(tmp_path, capsys, make, argv, match):
    path = tmp_path / "m.pt"
    obj = make()
    if isinstance(obj, bytes):
        path.write_bytes(obj)
    else:
        torch.save(obj, path)
    assert run_cli(["inspect", str(path), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dltv: error:") and err.count("\n") == 1 and match in err


def test_kernel_at_init_of_a_narrow_tanh_architecture(tmp_path, capsys):
    """Width 8, three hidden tanh layers: the 1/n-corrected NNGP kernel agrees with 50000 sampled
    initialisations, and the infinite-width kernel (control) is rejected by the same rule."""
    net = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 8), nn.Tanh(),
                        nn.Linear(8, 1))
    torch.save(net, tmp_path / "tanh.pt")
    assert run_cli(["inspect", str(tmp_path / "tanh.pt"), "--parts", "kernel", "--n-networks", "50000",
                    "--seed", "1", "--json"]) == 0
    kr = json.loads(capsys.readouterr().out)["kernel"]
    assert kr["corrected_agrees"] and kr["infinite_width_rejected"] and kr["resolution"] < 1
    assert all(abs(e["z_infinite_width"]) > kr["z_crit"] for e in kr["entries"])
    torch.save(nn.Sequential(nn.Linear(3, 8), nn.LeakyReLU(), nn.Linear(8, 1)), tmp_path / "leaky.pt")
    assert run_cli(["inspect", str(tmp_path / "leaky.pt"), "--parts", "kernel"]) == 2


@pytest.mark.parametrize("kind", ["cnn", "residual"])
def test_covering_cnn_and_residual_canonical_forms(tmp_path, capsys, kind):
    """The covering area's CNN and residual MLP: the canonical form of a permuted copy equals the
    original's, and computes the same function; the group order is the covering formula's."""
    from dltv.numerics.covering import (ResidualMLP, SmallCNN, permute_cnn, permute_residual, randomise_batchnorm,
                                        randomise_layernorm)
    g = torch.Generator().manual_seed(9)
    torch.manual_seed(9)
    if kind == "cnn":
        model = randomise_batchnorm(SmallCNN(), g)
        scrambled = permute_cnn(model, torch.randperm(6, generator=g), torch.randperm(5, generator=g))
        order = 720 * 120
    else:
        model = randomise_layernorm(ResidualMLP(), g)
        scrambled = permute_residual(model, [torch.randperm(5, generator=g), torch.randperm(4, generator=g)],
                                     torch.randperm(6, generator=g))
        order = 720 * 120 * 24
    canon = []
    for name, m in (("m", model), ("s", scrambled)):
        torch.save(m, tmp_path / f"{name}.pt")
        trust = ["--trust"] if kind == "residual" else []    # its activation is pickled as getattr(torch, ...)
        assert run_cli(["inspect", str(tmp_path / f"{name}.pt"), "--canonical", str(tmp_path / f"{name}_c.pt"),
                        "--json", *trust]) == 0
        out = json.loads(capsys.readouterr().out)
        assert int(out["symmetries"]["group_order"]) == order and out["symmetries"]["canonical_max_error"] <= 1e-12
        assert set(out["skipped"]) == {"regions", "spectra", "kernel"}
        canon.append(torch.load(tmp_path / f"{name}_c.pt", weights_only=False).state_dict())
    assert all(torch.equal(canon[0][k], canon[1][k]) for k in canon[0])
    assert not all(torch.equal(v, scrambled.state_dict()[k]) for k, v in model.state_dict().items())   # control
    assert run_cli(["inspect", str(tmp_path / "m.pt"), "--parts", "regions", *trust]) == 2


def test_ntk_at_init_of_a_wide_tanh_architecture():
    """Width 64, two hidden tanh layers: the mean autograd NTK of 3000 initialisations agrees with the
    infinite-width recursion (its O(1/n) shift, ~0.1 %, is below this resolution), while the NNGP kernel
    taken for the NTK (control: the readout-only kernel) is rejected on every entry."""
    from dltv.checks.inspect import inspect_kernel

    net = nn.Sequential(nn.Linear(3, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 1))
    kr = inspect_kernel(net, n_networks=200, ntk_networks=3000, seed=3)
    assert kr.ntk_agrees and len(kr.ntk_entries) == 3
    for e in kr.ntk_entries:
        nngp = next(k for k in kr.entries if (k["a"], k["b"]) == (e["a"], e["b"]))["infinite_width"]
        assert abs(e["estimate"] - nngp) > kr.z_crit * e["se"]
    assert inspect_kernel(net, n_networks=200, ntk_networks=0).ntk_entries == []
    with pytest.raises(ValueError, match="ntk_networks"):
        inspect_kernel(net, n_networks=200, ntk_networks=50)
