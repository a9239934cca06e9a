"""Claims of the covering area: functional equivalence and covering numbers (Shen, arXiv 2305.11417).

The covering bounds are the project's DERIVED formalisation (the paper's full text was not
available): a Lipschitz-in-parameters grid cover, where the permutation-reduced bound covers
only the neuron-sorted parameter vectors.  Symmetries are checked on real torch modules.
"""
from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import sympy as sp  # noqa: E402
import torch  # noqa: E402

from dltv.checks.claims import Measurement, Point, assert_result, claim  # noqa: E402
from dltv.numerics import covering as nc  # noqa: E402
from dltv.theory import covering as tc  # noqa: E402
from dltv.theory.formulas import to_float  # noqa: E402

DERIVED = ("derived formalisation of Shen (arXiv 2305.11417): Lipschitz-in-parameters grid cover; "
           "the permutation bound covers only neuron-sorted parameter vectors")
TOL_REL = 1e-12  # float64 summation-order error of a permuted network, relative to max |f|
TOL_COUNT = 0.5  # integer counts: equal iff they differ by less than one
TOL_LOG = 1e-9  # float64 rounding of logarithms of exact integers


def _prod_fact(ds):
    return math.prod(math.factorial(d) for d in ds)


# --------------------------------------------------------------------------- invariance
@claim("covering.symmetry.invariance",
       source="Shen (arXiv 2305.11417): functional equivalence under hidden-neuron permutations; "
              "ReLU rescaling and tanh sign flips (standard); CNN / residual / attention: derived",
       statement="permuting hidden neurons (MLP), conv channels with BatchNorm, residual-block units "
                 "and the residual stream, attention heads and in-head coordinates, ReLU rescalings "
                 "and tanh sign flips leave the output unchanged to 1e-12 relative in float64",
       seed=4101, stochastic=False)
def _invariance(ctx):
    g = ctx.generator()
    pts = []

    def point(label, y, y2, y_ctrl=None):
        pts.append(Point(label, 0.0, nc.relative_change(y, y2), tol=TOL_REL,
                         control=None if y_ctrl is None else 0.0,
                         control_estimate=None if y_ctrl is None else nc.relative_change(y, y_ctrl)))

    ws = [3, 16, 32, 8, 2]
    x = 2 * torch.rand(1000, 3, generator=g, dtype=nc.DTYPE) - 1
    p = nc.random_mlp(ws, 1.0, g)
    perms, _ = nc.random_group_element(ws, "relu", g)
    signs = [2.0 * torch.randint(0, 2, (d,), generator=g).to(nc.DTYPE) - 1 for d in ws[1:-1]]
    scales = [10 ** (2 * torch.rand(d, generator=g, dtype=nc.DTYPE) - 1) for d in ws[1:-1]]
    with torch.no_grad():
        for act in ("relu", "tanh"):
            f = nc.mlp_module(p, act)
            y = f(x)
            y_perm = nc.mlp_module(nc.transform_mlp(nc.module_params(f), perms), act)(x)
            point(f"MLP {act} permutation", y, y_perm)
        y = nc.mlp_module(p, "relu")(x)
        point("MLP relu rescaling c in [0.1,10] (control: tanh sign flips on relu)", y,
              nc.mlp_forward(nc.transform_mlp(p, perms, scales), x, "relu"),
              nc.mlp_forward(nc.transform_mlp(p, perms, signs), x, "relu"))
        y = nc.mlp_module(p, "tanh")(x)
        point("MLP tanh sign flips (control: relu rescaling on tanh)", y,
              nc.mlp_forward(nc.transform_mlp(p, perms, signs), x, "tanh"),
              nc.mlp_forward(nc.transform_mlp(p, perms, scales), x, "tanh"))

        cnn = nc.randomise_batchnorm(nc.SmallCNN((3, 6, 5)), g)
        xi = torch.randn(8, 3, 8, 8, generator=g, dtype=nc.DTYPE)
        p1, p2 = torch.randperm(6, generator=g), torch.randperm(5, generator=g)
        bad = nc.permute_cnn(cnn, p1, p2)
        bad.bn1.load_state_dict(cnn.bn1.state_dict())  # control: BatchNorm left unpermuted
        point("CNN channels + BatchNorm (control: BN not permuted)", cnn(xi),
              nc.permute_cnn(cnn, p1, p2)(xi), bad(xi))

        res = nc.randomise_layernorm(nc.ResidualMLP(3, 6, (5, 4), 2, "tanh"), g)
        xr = torch.randn(200, 3, generator=g, dtype=nc.DTYPE)
        bp = [torch.randperm(5, generator=g), torch.randperm(4, generator=g)]
        sp_ = torch.randperm(6, generator=g)
        bad = nc.permute_residual(res, None, sp_)
        for ln, ln0 in zip(bad.norms, res.norms):
            ln.load_state_dict(ln0.state_dict())  # control: LayerNorm left unpermuted
        point("residual block hidden units", res(xr), nc.permute_residual(res, bp)(xr))
        point("residual stream (control: LayerNorm not permuted)", res(xr),
              nc.permute_residual(res, bp, sp_)(xr), bad(xr))

        mha = nc.make_attention(12, 4, g)
        xa = torch.randn(4, 7, 12, generator=g, dtype=nc.DTYPE)
        hp = torch.randperm(4, generator=g)
        while bool((hp == torch.arange(4)).all()):
            hp = torch.randperm(4, generator=g)
        y = nc.attention_forward(mha, xa)
        point("attention heads (control: heads read as [q_h;k_h;v_h] blocks)", y,
              nc.attention_forward(nc.permute_attention(mha, hp), xa),
              nc.attention_forward(nc.permute_attention(mha, hp, packing="head"), xa))
        within = ([torch.randperm(3, generator=g) for _ in range(4)],
                  [torch.randperm(3, generator=g) for _ in range(4)])
        point("attention in-head q/k and v coordinates", y,
              nc.attention_forward(nc.permute_attention(mha, hp, within), xa))
    return Measurement(points=pts, n=len(pts),
                       notes="relative change = max|f - f'| / max|f| on random inputs; controls apply "
                             "a map that is not a symmetry and must change the output.")


# --------------------------------------------------------------------------- canonical form
@claim("covering.canonical.orbit",
       source="derived: sorting each hidden layer by bias (after making tanh biases >= 0) selects one "
              "point per orbit; orbit-stabiliser theorem for orbit sizes",
       statement="the canonical form is exactly invariant under the group; orbits of generic parameters "
                 "have |G| = prod d_l! (x 2^{d_l} for tanh) points, fewer with duplicate neurons",
       seed=4102, stochastic=False,
       formula=lambda: sp.Eq(sp.Symbol("|orbit|"), sp.Symbol("|G|") / sp.Symbol("|stabiliser|")))
def _canonical(ctx):
    g = ctx.generator()
    pts = []
    reps = 200 if ctx.full else 60
    for ws, act in (([3, 6, 5, 2], "relu"), ([3, 6, 5, 2], "tanh"), ([1, 8, 1], "tanh")):
        p = nc.random_mlp(ws, 1.0, g)
        c0 = nc.flatten(nc.canonical_mlp(p, act))
        c0_perm_only = nc.flatten(nc.canonical_mlp(p, act, fix_signs=False))
        bad = bad_ctrl = 0
        for _ in range(reps):
            perms, signs = nc.random_group_element(ws, act, g)
            q = nc.transform_mlp(p, perms, signs)
            bad += not torch.equal(nc.flatten(nc.canonical_mlp(q, act)), c0)
            bad_ctrl += not torch.equal(nc.flatten(nc.canonical_mlp(q, act, fix_signs=False)),
                                        c0_perm_only)
        ctrl = dict(control=0.0, control_estimate=float(bad_ctrl)) if act == "tanh" else {}
        pts.append(Point(f"{ws} {act}: canonical(g.theta) != canonical(theta), {reps} g"
                         + (" (control: no sign fixing)" if ctrl else ""), 0.0, float(bad), tol=TOL_COUNT,
                         n=reps, **ctrl))
        x = 2 * torch.rand(500, ws[0], generator=g, dtype=nc.DTYPE) - 1
        pts.append(Point(f"{ws} {act}: function of canonical form", 0.0,
                         nc.relative_change(nc.mlp_forward(p, x, act),
                                            nc.mlp_forward(nc.canonical_mlp(p, act), x, act)),
                         tol=TOL_REL))
    for ws, act in (([1, 3, 2, 1], "relu"), ([1, 3, 2, 1], "tanh"), ([2, 4, 1], "relu"),
                    ([2, 4, 1], "tanh")):
        order = int(tc.group_order(ws, act))
        p = nc.random_mlp(ws, 1.0, g)
        pts.append(Point(f"{ws} {act}: orbit size, generic", order, nc.orbit_size(p, act), tol=TOL_COUNT))
    for act in ("relu", "tanh"):
        p = nc.random_mlp([2, 4, 1], 1.0, g)
        (W0, b0), (W1, b1) = p
        W0[1], b0[1], W1[:, 1] = W0[0], b0[0], W1[:, 0]  # neurons 0 and 1 identical
        order = int(tc.group_order([2, 4, 1], act))
        pts.append(Point(f"[2, 4, 1] {act}: orbit size, two duplicate neurons (control: |G|)",
                         order // 2, nc.orbit_size(p, act), tol=TOL_COUNT, control=order))
    return Measurement(points=pts, n=reps,
                       notes="Equality of canonical forms is bitwise (only indexing and sign changes). "
                             "The control for tanh drops the sign-fixing step, which is then not invariant "
                             "under sign flips; the duplicate-neuron control predicts the generic orbit size.")


# --------------------------------------------------------------------------- Lipschitz
@claim("covering.lipschitz.bound",
       source=DERIVED + "; Lemma A: Lambda = (L+1) max(B,1)^L prod_{l<=L} (d_l+1)",
       statement="|f_theta - f_theta'|_inf <= Lambda |theta - theta'|_inf on [-B,B]^S, inputs in [-1,1]^d0, "
                 "never exceeded over gradient-aligned perturbations (derived bound)",
       seed=4103, stochastic=False,
       formula=lambda: sp.Eq(sp.Symbol("Lambda"), (sp.Symbol("L") + 1) * sp.Symbol("Bbar") ** sp.Symbol("L")
                             * sp.Product(sp.Indexed("d", sp.Symbol("l")) + 1,
                                          (sp.Symbol("l"), 0, sp.Symbol("L")))))
def _lipschitz(ctx):
    g = ctx.generator()
    pairs = 2000 if ctx.full else 400
    pts, notes = [], []
    for ws, act, B in (([1, 4, 1], "tanh", 1.0), ([2, 8, 8, 1], "relu", 1.0),
                       ([3, 5, 5, 5, 2], "tanh", 1.0), ([2, 6, 4, 1], "relu", 2.0)):
        q = nc.lipschitz_quotients(ws, act, B, 1e-4, pairs, 1000, g)
        lam = to_float(tc.lipschitz_constant(ws, B))
        L = len(ws) - 2
        width_free = (L + 1) * max(B, 1.0) ** L
        pts.append(Point(f"{ws} {act} B={B:g}: max |df|/|dtheta|", lam, float(q.max()), tol=TOL_LOG * lam,
                         rule="le", control=width_free, n=pairs))
        notes.append(f"{ws} {act} B={B:g}: largest observed ratio to Lambda {float(q.max()) / lam:.3f}")
    return Measurement(points=pts, n=pairs,
                       notes="; ".join(notes) + ". Control: the width-free constant (L+1) Bbar^L.")


# --------------------------------------------------------------------------- quantised nets
LEVELS = {2: (-0.7, 1.2), 3: (-1.3, 0.4, 1.1)}  # asymmetric: no sign flip maps the grid to itself


@claim("covering.orbits.quantised",
       source="derived: Burnside's lemma for S_N acting on the neurons of 1-N-1 networks with biases",
       statement="S_N-orbits of quantised 1-N-1 parameter vectors: Burnside count = brute-force count; "
                 "distinct functions never exceed the orbits",
       seed=4104, stochastic=False,
       formula=lambda: sp.Eq(sp.Symbol("orbits"), sp.binomial(sp.Symbol("q") ** 3 + sp.Symbol("N") - 1,
                                                                sp.Symbol("N")) * sp.Symbol("q")))
def _quantised(ctx):
    pts = []
    cases = [(2, 1), (2, 2), (2, 3), (3, 1), (3, 2), (3, 3)] + ([(2, 4), (3, 4)] if ctx.full else [])
    for q, N in cases:
        burnside = int(tc.orbit_count(q, N))
        pts.append(Point(f"q={q} N={N}: orbits" + (" (control q^S/N!)" if N > 1 else ""), burnside,
                         nc.quantised_orbits_bruteforce(LEVELS[q], N), tol=TOL_COUNT,
                         control=q ** (3 * N + 1) / math.factorial(N) if N > 1 else None))
    x = torch.linspace(-2, 2, 64, dtype=nc.DTYPE)
    for q, N in [(3, 2), (3, 3)] + ([(2, 4)] if ctx.full else []):
        orbits = int(tc.orbit_count(q, N))
        for act in ("tanh", "relu"):
            distinct = nc.quantised_distinct_functions(LEVELS[q], N, act, x)
            ctrl = {"control": q ** (3 * N + 1) / int(tc.group_order([1, N, 1], "tanh"))} \
                if act == "tanh" else {}
            pts.append(Point(f"q={q} N={N} {act}: distinct functions <= orbits"
                             + (" (control: q^S / 2^N N!)" if ctrl else ""), orbits, distinct,
                             tol=TOL_COUNT, rule="le", **ctrl))
    return Measurement(points=pts, notes=f"levels {LEVELS}; functions compared on 64 points of [-2,2] "
                                         "rounded to 1e-9. tanh on this asymmetric grid attains the orbit "
                                         "count; relu loses orbits to rescaling and dead units.")


# --------------------------------------------------------------------------- epsilon-nets
@claim("covering.enet.bounds", source=DERIVED,
       statement="greedy eps-nets of sampled 1-3-1 tanh networks never exceed the classical or the "
                 "permutation covering bound at eps/2; the quotient-metric net is never larger than "
                 "the parameter net",
       seed=4105, stochastic=False)
def _enet(ctx):
    g = ctx.generator()
    ws, B, N = [1, 3, 1], 1.0, 3
    M = 3000 if ctx.full else 1200
    theta = (2 * torch.rand(M, 3 * N + 1, generator=g, dtype=nc.DTYPE) - 1) * B
    x = torch.linspace(-1, 1, 101, dtype=nc.DTYPE)
    vals = nc.shallow_forward(theta, x, "tanh")
    orbits = nc.shallow_orbits(theta)
    pts, notes = [], []
    for eps in (0.5, 1.0, 2.0):
        size = nc.greedy_net_size(vals, eps)
        lc = to_float(tc.log_bounds(ws, B, sp.Rational(eps) / 2)["log_N_classical"])
        lp = to_float(tc.log_bounds(ws, B, sp.Rational(eps) / 2)["log_N_permutation"])
        pts.append(Point(f"eps={eps}: log sup-norm net <= log classical bound", lc, math.log(size),
                         tol=TOL_LOG, rule="le", n=M))
        pts.append(Point(f"eps={eps}: log sup-norm net <= log permutation bound", lp, math.log(size),
                         tol=TOL_LOG, rule="le", n=M))
        notes.append(f"eps={eps}: sup-net {size}")
    big = 32.0  # m = ceil(B Lambda / (eps/2)) = 1 < W(W-1): outside the clean form's range
    clean = math.log(to_float(tc.clean_bound(ws, B, sp.Rational(big) / 2)))
    pts.append(Point(f"eps={big:g}: log sup-norm net <= log permutation bound (control: clean m^S/N! "
                     "outside its range)", to_float(tc.log_bounds(ws, B, big / 2)["log_N_permutation"]),
                     math.log(nc.greedy_net_size(vals, big)), tol=TOL_LOG, rule="le", control=clean))
    for delta in (0.8, 1.2):
        param = nc.greedy_net_size(theta, delta)
        quot = nc.greedy_net_size(theta, delta, orbits)
        pts.append(Point(f"delta={delta}: quotient net <= parameter net (control: parameter net / N!)",
                         param, quot, tol=TOL_COUNT, rule="le", control=param / math.factorial(N), n=M))
        notes.append(f"delta={delta}: parameter net {param}, quotient net {quot}, ratio {param / quot:.2f}")
    return Measurement(points=pts, n=M,
                       notes="; ".join(notes) + ". A greedy eps-net is an eps-packing, so its size is at most "
                             "N(eps/2). The full N! reduction is not reached at feasible sample sizes.")


# --------------------------------------------------------------------------- volume
@claim("covering.volume.canonical-fraction", source=DERIVED + "; Vol(sorted set)/Vol(box) = 1/|G|",
       statement="the fraction of uniformly drawn parameters that are already canonical (neuron-sorted) "
                 "is 1/prod d_l! (1/prod 2^{d_l} d_l! for tanh)",
       seed=4106, stochastic=True,
       formula=lambda: sp.Eq(sp.Symbol("P_canonical"), 1 / sp.Product(
           sp.factorial(sp.Indexed("d", sp.Symbol("l"))), (sp.Symbol("l"), 1, sp.Symbol("L")))))
def _volume(ctx):
    g = ctx.generator()
    n = 800_000 if ctx.full else 200_000
    pts = []
    for ws, act in (([1, 3, 1], "relu"), ([2, 3, 3, 1], "relu"), ([1, 5, 1], "relu"), ([1, 4, 1], "tanh")):
        hits = int(nc.is_canonical(nc.random_mlp(ws, 1.0, g, batch=(n,)), act).sum())
        p_hat = hits / n
        pred = to_float(tc.effective_volume_fraction(ws, act))
        if act == "tanh":
            ctrl, name = 1 / _prod_fact(ws[1:-1]), "1/prod d_l! (no sign flips)"
        else:
            ctrl, name = 1 / _prod_fact([d - 1 for d in ws[1:-1]]), "1/prod (d_l-1)!"
        se = math.sqrt(max(p_hat * (1 - p_hat), 1.0 / n) / n)
        pts.append(Point(f"{ws} {act} (control {name})", pred, p_hat, se=se, control=ctrl, n=n))
    return Measurement(points=pts, n=n, notes="binomial SE sqrt(p(1-p)/n) from the observed fraction")


# --------------------------------------------------------------------------- training
@claim("covering.training.equivariance",
       source="derived: the loss is G-invariant, its gradient G-equivariant, and GD / Adam act "
              "elementwise, so they commute with neuron permutations and sign flips",
       statement="GD and Adam trajectories started from theta and g.theta stay g-related to 1e-10; "
                 "a ReLU rescaling (a symmetry of f but not an isometry) does not commute",
       seed=4107, stochastic=False)
def _equivariance(ctx):
    g = ctx.generator()
    steps = 400 if ctx.full else 200  # see notes: rounding is amplified in long ReLU/Adam runs
    pts = []
    for ws, act, opt, lr in (([1, 8, 1], "tanh", "adam", 0.02), ([1, 8, 1], "tanh", "gd", 0.05),
                             ([2, 6, 5, 1], "relu", "adam", 0.01), ([2, 6, 5, 1], "relu", "gd", 0.05)):
        x = 2 * torch.rand(64, ws[0], generator=g, dtype=nc.DTYPE) - 1
        y = torch.sin(3 * x.sum(-1, keepdim=True))
        p = nc.random_mlp(ws, 1.0, g)
        perms, signs = nc.random_group_element(ws, act, g)
        scales = [10 ** (torch.rand(d, generator=g, dtype=nc.DTYPE) - 0.5) for d in ws[1:-1]]
        if act == "tanh":  # tanh control: per-neuron rescaling with signs, not a symmetry of tanh
            scales = [s * sg for s, sg in zip(scales, signs)]
        start = torch.stack([nc.flatten(p), nc.flatten(nc.transform_mlp(p, perms, signs)),
                             nc.flatten(nc.transform_mlp(p, None, scales))])
        traj = nc.train_trajectory(start, ws, act, x, y, steps, lr, opt)
        moved = nc.flatten(nc.transform_mlp(nc.unflatten(traj[:, 0], ws), perms, signs))
        scaled = nc.flatten(nc.transform_mlp(nc.unflatten(traj[:, 0], ws), None, scales))
        gap = float((moved - traj[:, 1]).abs().max())
        gap_ctrl = float((scaled - traj[:, 2]).abs().max())
        pts.append(Point(f"{ws} {act} {opt}, {steps} steps (control: rescaling)", 0.0, gap, tol=1e-10,
                         control=0.0, control_estimate=gap_ctrl, n=steps))
    return Measurement(points=pts, n=steps,
                       notes="max over steps of |g.theta_t - theta'_t|_inf. The permuted network sums in "
                             "another order, so the two runs differ by float64 rounding (~1e-16) that the "
                             "training dynamics amplify: for the ReLU/Adam run the gap passes 1e-10 after "
                             "about 800 steps, hence runs of at most 400 steps.")


@claim("covering.training.width",
       source="Shen (arXiv 2305.11417), abstract: wider networks are easier to train (diminishing "
              "effective volume); measured form and teacher are ours",
       statement="students wider than the teacher (width 8; width 4 is also compared) fit a 1-2-1 tanh "
                 "teacher within 2000 Adam steps significantly more often than students of width 1 and 2",
       seed=4108, stochastic=True)
def _width(ctx):
    rng = ctx.rng
    seeds = 400 if ctx.full else 200
    widths = (1, 2, 4, 8)
    rate = {w: float(nc.teacher_student_success(w, seeds, rng).mean()) for w in widths}
    small = max(rate[1], rate[2])
    pts = []
    for w in widths[2:]:
        pooled = (rate[w] + small) / 2
        se = math.sqrt(2 * max(pooled * (1 - pooled), 1.0 / seeds) / seeds)
        pts.append(Point(f"rate(N={w}) - max(rate(N=1), rate(N=2)) >= 0 (control: narrower is at least "
                         "as good)", 0.0, rate[w] - small, se=se, rule="ge", control=0.0,
                         control_estimate=small - rate[w], n=seeds))
    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    r = np.array([rate[w] for w in widths])
    ax.errorbar(widths, r, yerr=np.sqrt(r * (1 - r) / seeds), marker="o", capsize=3)
    ax.set(xscale="log", xticks=list(widths), xticklabels=[str(w) for w in widths],
           xlabel="student width N", ylabel="success rate (MSE < 1e-4)",
           title="1-2-1 tanh teacher, 2000 Adam steps")
    return Measurement(points=pts, n=seeds, figures={"covering_width_success": fig},
                       notes="success rates " + ", ".join(f"N={w}: {rate[w]:.3f}" for w in widths)
                             + f" over {seeds} initialisations each; pooled two-proportion SE. "
                               "The point passes unless wider is significantly worse; the control "
                               "(narrower at least as good) is rejected only if wider is significantly better.")


# --------------------------------------------------------------------------- the bounds
def _bound_figures():
    B, eps = 1, sp.Rational(1, 100)
    fig1, ax = plt.subplots(figsize=(5.5, 3.6))
    Ws = [2, 4, 8, 16, 32, 64, 128, 256]
    for depth, style in ((1, "-"), (3, "--")):
        c, p = [], []
        for W in Ws:
            lb = tc.log_bounds([1] + [W] * depth + [1], B, eps)
            c.append(to_float(lb["log_N_classical"]))
            p.append(to_float(lb["log_N_permutation"]))
        ax.plot(Ws, c, "C0" + style, marker="o", ms=3, label=f"classical m^S, L={depth}")
        ax.plot(Ws, p, "C3" + style, marker="s", ms=3, label=f"with prod d_l!, L={depth}")
    ax.set(xscale="log", yscale="log", xlabel="hidden width W", ylabel="log N (nats)",
           title="log covering bound, B=1, eps=0.01 (derived)")
    ax.legend(fontsize=7)
    fig2, ax = plt.subplots(figsize=(5.5, 3.6))
    depths = list(range(1, 11))
    for W in (8, 32, 128):
        rel = [to_float(tc.log_bounds([1] + [W] * L + [1], B, eps)["relative_saving"]) for L in depths]
        ax.plot(depths, rel, marker="o", ms=3, label=f"W={W}")
    ax.axhline(1 / 3, color="grey", ls=":", label="shallow limit 1/(d0+dout+1)")
    ax.set(yscale="log", xlabel="hidden layers L", ylabel="saving / log N_classical",
           title="relative log saving of prod d_l!, eps=0.01")
    ax.legend(fontsize=7)
    return {"covering_log_bound_vs_width": fig1, "covering_relative_saving_vs_depth": fig2}


@claim("covering.bound.sorted-cells", source=DERIVED,
       statement="grid cells meeting the sorted set number C(m+d-1, d) (brute force); the ratio of the "
                 "permutation to the classical bound tends to 1/prod d_l! as eps -> 0 within the derived "
                 "correction exp(sum d(d-1)/2m)",
       seed=4109, stochastic=False,
       formula=lambda: sp.Eq(sp.Symbol("N_perm"), sp.Symbol("m") ** (sp.Symbol("S") - sp.Symbol("D"))
                             * sp.Product(sp.binomial(sp.Symbol("m") + sp.Indexed("d", sp.Symbol("l")) - 1,
                                                      sp.Indexed("d", sp.Symbol("l"))),
                                          (sp.Symbol("l"), 1, sp.Symbol("L")))))
def _sorted_cells(ctx):
    g = ctx.generator()
    pts = []
    for m, d in ((5, 3), (10, 4), (7, 5), (4, 6)):
        pts.append(Point(f"m={m} d={d}: cells of sorted vectors (control m^d/d!)",
                         tc.sorted_cell_count(m, d), nc.sorted_cells_bruteforce(m, d), tol=TOL_COUNT,
                         control=m ** d / math.factorial(d)))
        hit = nc.sorted_cells_sampled(m, d, 50_000, g)
        pts.append(Point(f"m={m} d={d}: distinct cells hit by 50000 sorted samples", tc.sorted_cell_count(m, d),
                         hit, tol=TOL_COUNT, rule="le", n=50_000))
    for ws in ([1, 4, 1], [2, 3, 5, 1], [1, 6, 6, 6, 1]):
        hid = ws[1:-1]
        limit = tc.bound_ratio_limit(ws)
        eps = sp.Rational(1, 1000)
        m = tc.grid_size(ws, 1, eps)
        ratio = tc.permutation_bound(ws, 1, eps) / tc.classical_bound(ws, 1, eps)
        corr = math.expm1(sum(dl * (dl - 1) for dl in hid) / (2 * m))
        pts.append(Point(f"{ws}: N_perm/N_classical at eps=1e-3 vs sympy limit (control 1)",
                         to_float(limit), to_float(ratio), tol=to_float(limit) * corr,
                         slack=1e-12 * to_float(limit), control=1.0))
    return Measurement(points=pts, figures=_bound_figures(),
                       notes="Figures: log bounds vs width at eps=0.01, B=1 (shallow L=1 and L=3), and the "
                             "relative saving vs depth, which shrinks like 1/((L-1)W) for deep networks.")


def test_claim(claim_result):
    assert_result(claim_result)
