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
from dltv.numerics.estimators import proportion_se  # noqa: E402
from dltv.theory import covering as tc  # noqa: E402
from dltv.theory.formulas import get_formula, to_float  # noqa: E402

DERIVED = ("derived formalisation of Shen (arXiv 2305.11417): Lipschitz-in-parameters grid cover; "
           "the permutation bound covers only neuron-sorted parameter vectors")
TOL_REL = 1e-12  # float64 summation-order error of a permuted network, relative to max |f|
TOL_COUNT = 0.5  # integer counts: equal iff they differ by less than one
TOL_LOG = 1e-9  # float64 rounding of logarithms of exact integers


# --------------------------------------------------------------------------- invariance
@claim("covering.symmetry.invariance",
       source="Shen (arXiv 2305.11417): functional equivalence under hidden-neuron permutations; "
              "ReLU rescaling and tanh sign flips (standard); CNN / residual / attention: derived",
       statement="permuting hidden neurons (MLP), conv channels with BatchNorm, residual-block units "
                 "and the residual stream, attention heads and in-head coordinates, ReLU rescalings "
                 "and tanh sign flips leave the output unchanged to 1e-12 relative in float64",
       seed=4101, stochastic=False,
       predicted="output unchanged (relative change 0, float64 rounding 1e-12)",
       measured="max|f - g.f|/max|f| of real torch MLP, CNN+BN, residual, attention modules")
def _invariance(ctx):
    g = ctx.generator()
    pts = []

    def point(label, y, y2, y_ctrl):
        pts.append(Point(label, 0.0, nc.relative_change(y, y2), tol=TOL_REL, control=0.0,
                         control_estimate=nc.relative_change(y, y_ctrl)))

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
            moved = nc.transform_mlp(nc.module_params(f), perms)
            stale = [(W, b0) if i < len(p) - 1 else (W, b)  # control: hidden biases not permuted
                     for i, ((W, b), (_, b0)) in enumerate(zip(moved, p))]
            point(f"MLP {act} permutation (control: biases left in place)", y,
                  nc.mlp_module(moved, act)(x), nc.mlp_forward(stale, x, act))
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
        stale_v = nc.permute_residual(res, bp)
        for V, V0 in zip(stale_v.V, res.V):
            V.load_state_dict(V0.state_dict())  # control: V's columns left unpermuted
        point("residual block hidden units (control: V columns not permuted)", res(xr),
              nc.permute_residual(res, bp)(xr), stale_v(xr))
        bad = nc.permute_residual(res, None, sp_)
        for ln, ln0 in zip(bad.norms, res.norms):
            ln.load_state_dict(ln0.state_dict())  # control: LayerNorm left unpermuted
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
        pq, pv = ([torch.randperm(3, generator=g) for _ in range(4)] for _ in range(2))
        pk = [torch.roll(q, 1) for q in pq]  # a different permutation for the keys
        point("attention in-head q/k and v coordinates (control: q and k permuted differently)", y,
              nc.attention_forward(nc.permute_attention(mha, hp, (pq, pv)), xa),
              nc.attention_forward(nc.permute_attention(mha, hp, (pq, pk, pv)), xa))
    return Measurement(points=pts, n=len(pts),
                       notes="relative change = max|f - f'| / max|f| on random inputs; controls apply "
                             "a map that is not a symmetry and must change the output.")


# --------------------------------------------------------------------------- canonical form
def _canonical_keeping_outgoing(params, activation):
    """The bias sort (and tanh sign fix) applied to incoming rows and biases only, each
    layer's outgoing weights left in place: the usual slip when canonicalising by hand."""
    out = [(W.clone(), b.clone()) for W, b in params]
    for l in range(1, len(params)):
        W, b = out[l - 1]
        if activation == "tanh":
            s = torch.where(b < 0, -1.0, 1.0).to(nc.DTYPE)
            W, b = W * s.unsqueeze(-1), b * s
        order = torch.argsort(b, descending=True, stable=True)
        out[l - 1] = (W[order], b[order])
    return out


@claim("covering.canonical.orbit",
       source="derived: sorting each hidden layer by bias (after making tanh biases >= 0) selects one "
              "point per orbit; orbit-stabiliser theorem for orbit sizes",
       statement="the canonical form is exactly invariant under the group and computes the same function; "
                 "orbits of generic parameters have |G| = prod d_l! (x 2^{d_l} for tanh) points, half as "
                 "many with two duplicate neurons",
       seed=4102, stochastic=False,
       formula=lambda: sp.Eq(sp.Symbol("|orbit|"), sp.Symbol("|G|") / sp.Symbol("|stabiliser|")),
       predicted="canonical(g.theta) = canonical(theta); orbit size |G| (covering.group_order)",
       measured="bitwise comparisons over random g; orbit sizes by applying every group element")
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
            if act == "tanh":  # control: the permutation-only form under sign flips
                bad_ctrl += not torch.equal(nc.flatten(nc.canonical_mlp(q, act, fix_signs=False)),
                                            c0_perm_only)
            else:  # control: the bias-sorted form also fixing ReLU's positive rescalings
                scales = [10 ** (torch.rand(d, generator=g, dtype=nc.DTYPE) - 0.5) for d in ws[1:-1]]
                bad_ctrl += not torch.equal(nc.flatten(nc.canonical_mlp(nc.transform_mlp(q, None, scales),
                                                                        act)), c0)
        name = "no sign fixing" if act == "tanh" else "also invariant under ReLU rescalings"
        pts.append(Point(f"{ws} {act}: canonical(g.theta) != canonical(theta), {reps} g (control: {name})",
                         0.0, float(bad), tol=TOL_COUNT, n=reps, control=0.0, control_estimate=float(bad_ctrl)))
        x = 2 * torch.rand(500, ws[0], generator=g, dtype=nc.DTYPE) - 1
        y = nc.mlp_forward(p, x, act)
        pts.append(Point(f"{ws} {act}: function of canonical form (control: outgoing weights not moved)", 0.0,
                         nc.relative_change(y, nc.mlp_forward(nc.canonical_mlp(p, act), x, act)),
                         tol=TOL_REL, control=0.0, control_estimate=nc.relative_change(
                             y, nc.mlp_forward(_canonical_keeping_outgoing(p, act), x, act))))
    group_order = get_formula("covering.group_order")
    for ws, act in (([1, 3, 2, 1], "relu"), ([1, 3, 2, 1], "tanh"), ([2, 4, 1], "relu"),
                    ([2, 4, 1], "tanh")):
        order = int(group_order.evaluate(widths=ws, activation=act))
        other = "relu" if act == "tanh" else "tanh"
        ctrl = int(group_order.evaluate(widths=ws, activation=other))
        name = "prod d_l!, no sign flips" if act == "tanh" else "prod 2^d_l d_l!, sign flips as for tanh"
        p = nc.random_mlp(ws, 1.0, g)
        pts.append(Point(f"{ws} {act}: orbit size, generic (control: {name})", order, nc.orbit_size(p, act),
                         tol=TOL_COUNT, control=ctrl))
    for act in ("relu", "tanh"):
        p = nc.random_mlp([2, 4, 1], 1.0, g)
        (W0, b0), (W1, b1) = p
        W0[1], b0[1], W1[:, 1] = W0[0], b0[0], W1[:, 0]  # neurons 0 and 1 identical
        order = int(group_order.evaluate(widths=[2, 4, 1], activation=act))
        pts.append(Point(f"[2, 4, 1] {act}: orbit size, two duplicate neurons (control: |G|)",
                         order // 2, nc.orbit_size(p, act), tol=TOL_COUNT, control=order))
    return Measurement(points=pts, n=reps,
                       notes="Equality of canonical forms is bitwise (only indexing and sign changes). "
                             "Controls: for tanh the sign-fixing step dropped; for ReLU the same form "
                             "expected to absorb positive rescalings (it does not: they are continuous); a "
                             "hand canonicalisation that leaves outgoing weights in place; orbit sizes of the "
                             "other activation's group; the generic orbit size for duplicate neurons.")


# --------------------------------------------------------------------------- Lipschitz
def _lemma_a_recursion(widths, B):
    """Lemma A's induction run layer by layer in float64: |h_{l+1}| <= Bbar (d_l+1) |h_l| and
    e_{l+1} <= (d_l+1)(|h_l| + Bbar e_l) per unit perturbation (fan-in d_l of weights plus
    the bias, bounded by d_l + 1); the output error bound e_{L+1}."""
    Bbar = max(float(B), 1.0)
    h, e = 1.0, 0.0
    for d in widths[:-1]:
        h, e = Bbar * (d + 1) * h, (d + 1) * (h + Bbar * e)
    return e


@claim("covering.lipschitz.bound",
       source=DERIVED + "; Lemma A: Lambda = (L+1) max(B,1)^L prod_{l<=L} (d_l+1)",
       statement="|f_theta - f_theta'|_inf <= Lambda |theta - theta'|_inf on [-B,B]^S, inputs in [-1,1]^d0, "
                 "never exceeded over gradient-aligned perturbations (derived bound); the closed form is "
                 "the solution of the derivation's layer recursion",
       seed=4103, stochastic=False,
       formula=lambda: sp.Eq(sp.Symbol("Lambda"), (sp.Symbol("L") + 1) * sp.Symbol("Bbar") ** sp.Symbol("L")
                             * sp.Product(sp.Indexed("d", sp.Symbol("l")) + 1,
                                          (sp.Symbol("l"), 0, sp.Symbol("L")))),
       predicted="Lambda of Lemma A (covering.log_bound) bounds max|df|/|dtheta|; equals its recursion",
       measured="gradient-aligned perturbations of real random nets; the recursion run layer by layer")
def _lipschitz(ctx):
    g = ctx.generator()
    pairs = 2000 if ctx.full else 400
    pts, notes = [], []
    log_bound = get_formula("covering.log_bound")
    for ws, act, B in (([1, 4, 1], "tanh", 1.0), ([2, 8, 8, 1], "relu", 1.0),
                       ([3, 5, 5, 5, 2], "tanh", 1.0), ([2, 6, 4, 1], "relu", 2.0)):
        q = nc.lipschitz_quotients(ws, act, B, 1e-4, pairs, 1000, g)
        lam = to_float(tc.lipschitz_constant(ws, B))
        L = len(ws) - 2
        width_free = (L + 1) * max(B, 1.0) ** L
        pts.append(Point(f"{ws} {act} B={B:g}: max |df|/|dtheta| (control: width-free (L+1) Bbar^L)", lam,
                         float(q.max()), tol=TOL_LOG * lam, rule="le", control=width_free, n=pairs))
        notes.append(f"{ws} {act} B={B:g}: largest observed ratio to Lambda {float(q.max()) / lam:.3f}")
    for ws, B in (([2, 6, 4, 1], 2), ([3, 5, 5, 5, 2], 3), ([1, 4, 1], 2)):
        lam = to_float(log_bound.evaluate(widths=ws, B=B, eps=1)["Lambda"])
        L = len(ws) - 2
        pts.append(Point(f"{ws} B={B}: closed-form Lambda = Lemma A recursion (control: no depth factor L+1)",
                         lam, _lemma_a_recursion(ws, B), tol=TOL_LOG * lam, control=lam / (L + 1)))
    return Measurement(points=pts, n=pairs,
                       notes="; ".join(notes) + ". The real-network ratios are far below 1 (the bound is "
                                                "loose), so the exact constant is checked against the "
                                                "derivation's recursion at B > 1, where the depth exponent "
                                                "of Bbar matters.")


# --------------------------------------------------------------------------- quantised nets
LEVELS = {2: (-0.7, 1.2), 3: (-1.3, 0.4, 1.1)}  # asymmetric: no sign flip maps the grid to itself


@claim("covering.orbits.quantised",
       source="derived: Burnside's lemma for S_N acting on the neurons of 1-N-1 networks with biases; "
              "piecewise-linear normal form of ReLU networks",
       statement="S_N-orbits of quantised 1-N-1 parameter vectors: Burnside count = brute-force count; "
                 "on an asymmetric grid tanh networks realise exactly one function per orbit, ReLU "
                 "networks exactly the count of their piecewise-linear normal forms (fewer)",
       seed=4104, stochastic=False,
       formula=lambda: sp.Eq(sp.Symbol("orbits"), sp.binomial(sp.Symbol("q") ** 3 + sp.Symbol("N") - 1,
                                                                sp.Symbol("N")) * sp.Symbol("q")),
       predicted="Burnside orbit count (covering.orbit_count); tanh functions = orbits; ReLU normal forms",
       measured="enumeration of every quantised vector; distinct values of every network on 64 inputs")
def _quantised(ctx):
    pts = []
    orbit_count = get_formula("covering.orbit_count")
    for q, N in [(2, 2), (2, 3), (2, 4), (2, 5), (3, 2), (3, 3)]:
        burnside = int(orbit_count.evaluate(q=q, N=N))
        pts.append(Point(f"q={q} N={N}: orbits (control q^S/N!)", burnside,
                         nc.quantised_orbits_bruteforce(LEVELS[q], N), tol=TOL_COUNT,
                         control=q ** (3 * N + 1) / math.factorial(N)))
    x = torch.linspace(-2, 2, 64, dtype=nc.DTYPE)
    for q, N in [(3, 2), (3, 3)] + ([(2, 4)] if ctx.full else []):
        orbits = int(orbit_count.evaluate(q=q, N=N))
        pts.append(Point(f"q={q} N={N} tanh: distinct functions = orbits (control: q^S, no permutation "
                         "quotient)", orbits, nc.quantised_distinct_functions(LEVELS[q], N, "tanh", x),
                         tol=TOL_COUNT, control=q ** (3 * N + 1)))
        if q == 3:  # on the 2-level grid no two ReLU orbits coincide, so the control would be the value
            forms = tc.relu_shallow_function_count(LEVELS[q], N, (-2, 2))
            pts.append(Point(f"q={q} N={N} relu: distinct functions = piecewise-linear normal forms "
                             "(control: orbits)", forms, nc.quantised_distinct_functions(LEVELS[q], N, "relu", x),
                             tol=TOL_COUNT, control=orbits))
    return Measurement(points=pts, notes=f"levels {LEVELS}; functions compared on 64 points of [-2,2] "
                                         "rounded to 1e-9. tanh on this asymmetric grid attains the orbit "
                                         "count; ReLU loses orbits to rescalings (equal kinks), dead units "
                                         "and merged affine parts, exactly as its normal form predicts.")


# --------------------------------------------------------------------------- epsilon-nets
@claim("covering.enet.bounds", source=DERIVED + "; the centres of the sorted grid cells form the cover",
       statement="snapping the canonical form of a network to the centre of its grid cell (m = "
                 "ceil(B Lambda/eps) cells per coordinate) moves the function by at most eps in sup norm, "
                 "so the grid centres of sorted cells are an eps-cover",
       seed=4105, stochastic=False,
       predicted="sup|f - f_snapped| / eps <= 1 (the cover's radius)",
       measured="real random nets, canonicalised and snapped; max over a dense input grid")
def _enet(ctx):
    g = ctx.generator()
    nets = 400 if ctx.full else 100
    eps = 0.1
    pts, notes = [], []
    for ws, act, B in (([1, 4, 1], "tanh", 1.0), ([2, 8, 8, 1], "relu", 1.0),
                       ([3, 5, 5, 5, 2], "tanh", 1.0), ([2, 6, 4, 1], "relu", 2.0)):
        L = len(ws) - 2
        x = nc.input_grid(ws[0], 1000)
        p = nc.random_mlp(ws, B, g, batch=(nets,))
        theta = nc.flatten(nc.canonical_mlp(p, act))
        y = nc.mlp_forward(p, x, act)

        def ratio(m):
            ys = nc.mlp_forward(nc.unflatten(nc.snap_to_grid(theta, B, m), ws), x, act)
            return float((y - ys).abs().amax()) / eps

        m = int(tc.log_bounds(ws, B, sp.Rational(eps).limit_denominator())["m"])
        m_width_free = math.ceil(B * (L + 1) * max(B, 1.0) ** L / eps)
        r, r_ctrl = ratio(m), ratio(m_width_free)
        pts.append(Point(f"{ws} {act} B={B:g}: sup|f - f_c|/eps, m={m} (control: width-free Lipschitz "
                         f"(L+1) Bbar^L, m={m_width_free})", 1.0, r, tol=TOL_LOG, rule="le", n=nets,
                         control=1.0, control_estimate=r_ctrl))
        notes.append(f"{ws} {act}: ratio {r:.3f}, width-free grid {r_ctrl:.2f}")
    return Measurement(points=pts, n=nets,
                       notes="eps = 0.1; " + "; ".join(notes) + ". The grid step 2B/m moves each parameter by "
                             "<= B/m <= eps/Lambda; the width-free constant ignores the fan-in sums and its "
                             "grid is too coarse. The maximum over a finite input grid is a lower bound on the sup.")


# --------------------------------------------------------------------------- volume
def _torch_default_init(W, b):
    """U[-1,1] weights and biases rescaled to nn.Linear's default U[-1/sqrt(fan_in), 1/sqrt(fan_in)]."""
    scale = 1 / math.sqrt(W.shape[-1])
    return W * scale, b * scale


@claim("covering.volume.canonical-fraction", source=DERIVED + "; Vol(sorted set)/Vol(box) = 1/|G|",
       statement="the canonicalisation map fixes a fraction 1/|G| of networks drawn from any neuron-"
                 "exchangeable law (PyTorch's default init), 1/prod d_l! for ReLU, 1/prod 2^{d_l} d_l! for "
                 "tanh; on the covering grid, where ties occur, it fixes the fraction N_perm/N_classical "
                 "of grid points that the permutation bound keeps",
       seed=4106, stochastic=True,
       formula=lambda: sp.Eq(sp.Symbol("P_canonical"), 1 / sp.Product(
           sp.factorial(sp.Indexed("d", sp.Symbol("l"))), (sp.Symbol("l"), 1, sp.Symbol("L")))),
       predicted="1/|G| (covering.volume_fraction); with ties prod_l C(m+d_l-1,d_l)/m^d_l",
       measured="fraction of real random nets with canonical(theta) == theta bitwise")
def _volume(ctx):
    g = ctx.generator()
    n = 800_000 if ctx.full else 200_000
    pts = []
    fraction = get_formula("covering.volume_fraction")

    def fixed(params, act):
        canon = nc.canonical_mlp(params, act)
        return int(torch.stack([(c == p).all(-1) for (_, c), (_, p) in zip(canon, params)]).all(0).sum())

    def point(label, pred, ctrl, hits):
        pts.append(Point(label, pred, hits / n, se=proportion_se(pred, n), control=ctrl,
                         control_se=proportion_se(ctrl, n), n=n))

    for ws, act in (([1, 3, 1], "relu"), ([2, 3, 3, 1], "relu"), ([1, 5, 1], "relu"), ([1, 4, 1], "tanh")):
        params = [_torch_default_init(W, b) for W, b in nc.random_mlp(ws, 1.0, g, batch=(n,))]
        pred = to_float(fraction.evaluate(widths=ws, activation=act))
        other = "relu" if act == "tanh" else "tanh"
        ctrl = to_float(fraction.evaluate(widths=ws, activation=other))
        name = "1/prod d_l!, no sign flips" if act == "tanh" else "1/prod 2^d_l d_l!, sign flips as for tanh"
        point(f"{ws} {act}, PyTorch default init (control {name})", pred, ctrl, fixed(params, act))
    for ws, eps in (([1, 3, 1], 4), ([2, 3, 3, 1], sp.Rational(129, 5))):
        m = tc.grid_size(ws, 1, eps)
        pred = to_float(tc.permutation_bound(ws, 1, eps) / tc.classical_bound(ws, 1, eps))
        theta = nc.snap_to_grid(2 * torch.rand(n, tc.param_count(ws), generator=g, dtype=nc.DTYPE) - 1, 1.0, m)
        ctrl = to_float(fraction.evaluate(widths=ws, activation="relu"))
        point(f"{ws} relu on the m={m} covering grid (control: 1/prod d_l!, ties ignored)", pred, ctrl,
              fixed(nc.unflatten(theta, ws), "relu"))
    return Measurement(points=pts, n=n,
                       notes="score-test SEs sqrt(p(1-p)/n) under the prediction and under the control. "
                             "A 1 % resolution of 1/|G| = 1/384 would need ~10^8 draws; the points are sized "
                             "to reject the competing group orders (factors 2^d and d!), which they do by "
                             "margins above 15. "
                             "PyTorch's init is uniform with a fan-in scale per layer, not the box of the "
                             "bounds: the fraction depends only on the law being exchangeable over neurons.")


# --------------------------------------------------------------------------- training
@claim("covering.training.equivariance",
       source="derived: the loss is G-invariant, its gradient G-equivariant, and GD / Adam act "
              "elementwise, so they commute with neuron permutations and sign flips",
       statement="GD and Adam trajectories started from theta and g.theta stay g-related to 1e-10; "
                 "a ReLU rescaling (a symmetry of f but not an isometry) does not commute",
       seed=4107, stochastic=False,
       predicted="trajectories from theta and g.theta stay g-related (gap 0, rounding 1e-10)",
       measured="max over steps of |g.theta_t - theta'_t| for GD and Adam on real nets")
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
       seed=4108, stochastic=True,
       predicted="wider students succeed at least as often (difference >= 0)",
       measured="success rate (MSE < 1e-4) of Adam-trained 1-N-1 tanh students")
def _width(ctx):
    rng = ctx.rng
    scale = 2 if ctx.full else 1
    seeds = {1: 50 * scale, 2: 400 * scale, 4: 400 * scale, 8: 150 * scale}  # power where the gaps are small
    widths = tuple(seeds)
    rate = {w: float(nc.teacher_student_success(w, seeds[w], rng).mean()) for w in widths}
    narrow = max((1, 2), key=lambda w: rate[w])
    pts = []
    for w in widths[2:]:
        pooled = (rate[w] * seeds[w] + rate[narrow] * seeds[narrow]) / (seeds[w] + seeds[narrow])
        se = math.sqrt(pooled * (1 - pooled) * (1 / seeds[w] + 1 / seeds[narrow]))
        pts.append(Point(f"rate(N={w}) - max(rate(N=1), rate(N=2)) >= 0 (control: width does not help, "
                         "narrower at least as good)", 0.0, rate[w] - rate[narrow], se=se, rule="ge",
                         control=0.0, control_estimate=rate[narrow] - rate[w], n=seeds[w]))
    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    r = np.array([rate[w] for w in widths])
    ax.errorbar(widths, r, yerr=np.sqrt(r * (1 - r) / np.array([seeds[w] for w in widths])), marker="o",
                capsize=3)
    ax.set(xscale="log", xticks=list(widths), xticklabels=[str(w) for w in widths],
           xlabel="student width N", ylabel="success rate (MSE < 1e-4)",
           title="1-2-1 tanh teacher, 2000 Adam steps")
    return Measurement(points=pts, n=sum(seeds.values()), figures={"covering_width_success": fig},
                       notes="success rates " + ", ".join(f"N={w}: {rate[w]:.3f} of {seeds[w]}" for w in widths)
                             + " initialisations; pooled two-proportion SE. "
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
       statement="grid cells meeting the sorted set number C(m+d-1, d) (brute force), and sorted samples hit "
                 "every one of them; the log permutation bound equals the log of the exact sorted-cell "
                 "count; the ratio of the permutation to the classical bound tends to 1/prod d_l! as eps -> 0 "
                 "within the derived correction exp(sum d(d-1)/2m)",
       seed=4109, stochastic=False,
       formula=lambda: sp.Eq(sp.Symbol("N_perm"), sp.Symbol("m") ** (sp.Symbol("S") - sp.Symbol("D"))
                             * sp.Product(sp.binomial(sp.Symbol("m") + sp.Indexed("d", sp.Symbol("l")) - 1,
                                                      sp.Indexed("d", sp.Symbol("l"))),
                                          (sp.Symbol("l"), 1, sp.Symbol("L")))),
       predicted="C(m+d-1,d) sorted cells; log N_perm (covering.log_bound); ratio limit 1/prod d_l!",
       measured="enumeration of all m^d index tuples; cells hit by sorted uniform samples; exact integers")
def _sorted_cells(ctx):
    g = ctx.generator()
    pts = []
    for m, d in ((5, 3), (10, 4), (7, 5), (4, 6)):
        cells = tc.sorted_cell_count(m, d)
        pts.append(Point(f"m={m} d={d}: cells of sorted vectors (control m^d/d!)",
                         cells, nc.sorted_cells_bruteforce(m, d), tol=TOL_COUNT,
                         control=m ** d / math.factorial(d)))
        n = 25 * m ** d  # the rarest sorted cell (all indices equal) has probability m^-d
        pts.append(Point(f"m={m} d={d}: distinct cells hit by {n} sorted samples (control m^d/d!)", cells,
                         nc.sorted_cells_sampled(m, d, n, g), tol=TOL_COUNT, n=n,
                         control=m ** d / math.factorial(d)))
    log_bound = get_formula("covering.log_bound")
    for ws, eps in (([1, 3, 1], 2), ([1, 4, 2, 1], 15), ([2, 5, 1], 6)):
        lb = log_bound.evaluate(widths=ws, B=1, eps=eps)
        m, S, hid = int(lb["m"]), int(lb["S"]), ws[1:-1]
        exact = (S - sum(hid)) * math.log(m) + sum(math.log(nc.sorted_cells_bruteforce(m, dl)) for dl in hid)
        clean = to_float(lb["log_N_classical"]) - sum(math.lgamma(dl + 1) for dl in hid)
        pts.append(Point(f"{ws} eps={eps} (m={m}): log N_perm = log of the enumerated sorted cells "
                         "(control: log m^S/prod d_l!, ties ignored)", to_float(lb["log_N_permutation"]),
                         exact, tol=TOL_LOG, control=clean))
    for ws in ([1, 4, 1], [2, 3, 5, 1], [1, 6, 6, 6, 1]):
        hid = ws[1:-1]
        limit = tc.bound_ratio_limit(ws)
        eps = sp.Rational(1, 1000)
        m = tc.grid_size(ws, 1, eps)
        ratio = tc.permutation_bound(ws, 1, eps) / tc.classical_bound(ws, 1, eps)
        corr = math.expm1(sum(dl * (dl - 1) for dl in hid) / (2 * m))
        pts.append(Point(f"{ws}: N_perm/N_classical at eps=1e-3 vs sympy limit (control 1, no permutation "
                         "factor)", to_float(limit), to_float(ratio), tol=to_float(limit) * corr,
                         slack=1e-12 * to_float(limit), control=1.0))
    return Measurement(points=pts, figures=_bound_figures(),
                       notes="Figures: log bounds vs width at eps=0.01, B=1 (shallow L=1 and L=3), and the "
                             "relative saving vs depth, which shrinks like 1/((L-1)W) for deep networks.")


# --------------------------------------------------------------------------- generalisation
def _bound_float(S, hid, b_lambda, n, eta, M, lip, permutation):
    """The uniform-deviation bound as a float64 function of a continuous grid size m >= 1, an
    independent implementation for the check: log C(m+d-1, d) = d log m + sum_{j<d} log1p(j/m)
    - log d! (a difference of gammaln values would lose digits at m ~ 1e10)."""
    from scipy.special import gammaln

    def g(m):
        log_n = S * np.log(m) if not permutation else S * np.log(m) + sum(
            np.log1p(np.arange(d) / m).sum() - gammaln(d + 1) for d in hid)
        return 2 * lip * b_lambda / m + M * np.sqrt((log_n + np.log(2 / eta)) / (2 * n))
    return g


def _min_bound_float(g):
    """min over integers m >= 1 of g: Brent's method on log m, then the neighbouring integers."""
    from scipy.optimize import minimize_scalar

    res = minimize_scalar(lambda u: g(math.exp(u)), bounds=(0.0, 80.0), method="bounded",
                          options={"xatol": 1e-10})
    m = math.exp(res.x)
    cands = [max(1, math.floor(m) + k) for k in (-1, 0, 1, 2)]
    return min(g(c) for c in cands)


@claim("covering.generalisation.synthetic",
       source=DERIVED + "; Hoeffding + union bound over the eps-cover, minimised over eps",
       statement="on synthetic data with known risk the measured uniform deviation of a 1-32-1 tanh class lies "
                 "below the eps-minimised bound 2 Lip eps + M sqrt((log N(eps) + log(2/eta))/(2n)) and above "
                 "the single-function value that the bound without its eps term falls to; the sample size "
                 "the bound needs shrinks with prod d_l!",
       seed=4110, stochastic=False,
       formula=lambda: sp.Eq(sp.Symbol("gap"), sp.Symbol("min_epsilon") * (
           2 * sp.Symbol("Lip") * sp.Symbol("epsilon") + sp.Symbol("M") * sp.sqrt(
               (sp.Symbol("log_N") + sp.log(2 / sp.Symbol("eta"))) / (2 * sp.Symbol("n"))))),
       predicted="eps-minimised deviation bound and its sample size (covering.generalisation)",
       measured="|R_n - R| of real tanh nets fitting random labels (R = 1/2 exactly); float64 minimiser")
def _generalisation(ctx):
    g = ctx.generator()
    W, n, eta, lip = 32, 2000, sp.Rational(1, 20), sp.Rational(1, 2)
    ws, B = [1, W, 1], n
    bound = get_formula("covering.generalisation").evaluate(widths=ws, B=B, eps=sp.Rational(1, 100), n=n,
                                                             eta=eta, M=1, lip_loss=lip)
    measured = nc.random_label_deviation(W, float(B), n, g)
    single = to_float(bound["single_function"])
    pts = []
    for kind in ("permutation", "classical"):
        pts.append(Point(f"n={n}: measured uniform deviation <= {kind} bound minimised over eps "
                         "(control: single-function value, the bound without its eps term)",
                         to_float(bound[f"{kind}_optimal"]), measured, tol=TOL_LOG, rule="le", control=single))
    S, hid = tc.param_count(ws), ws[1:-1]
    b_lambda = to_float(B * tc.lipschitz_constant(ws, B))
    g_perm = _bound_float(S, hid, b_lambda, n, float(eta), 1.0, float(lip), True)
    opt, eps_star = to_float(bound["permutation_optimal"]), to_float(bound["eps_permutation_optimal"])
    pts.append(Point(f"n={n}: exact minimum over eps = float64 Brent minimum (control: the bound at eps* "
                     "without its 2 Lip eps term)", opt, _min_bound_float(g_perm), tol=1e-9 * opt,
                     control=opt - 2 * float(lip) * eps_star))
    target = sp.Rational(1, 2)
    need = {perm: tc.sample_size_needed(ws, B, target, eta, 1, lip, perm) for perm in (True, False)}

    def reaches(k, perm):
        return _min_bound_float(_bound_float(S, hid, b_lambda, k, float(eta), 1.0, float(lip), perm)) <= 0.5

    lo, hi = 1, 1  # the smallest n with the float64 minimum <= target, by doubling and bisection
    while not reaches(hi, True):
        lo, hi = hi, 2 * hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if reaches(mid, True) else (mid, hi)
    pts.append(Point(f"sample size for a bound of {target}: with prod d_l! (control: without it, "
                     f"n={need[False]})", need[True], hi, tol=1.5, control=need[False]))
    return Measurement(points=pts, n=n,
                       notes=f"widths {ws}, B={B}, eta={eta}, ramp loss (M=1, Lip={lip}); random labels make "
                             f"R(f) = 1/2 for every f. Measured deviation {measured:.4f}, single-function value "
                             f"{single:.4f}, bounds {to_float(bound['permutation_optimal']):.3f} (with prod d_l!) "
                             f"and {to_float(bound['classical_optimal']):.3f} (without) at eps* = "
                             f"{eps_star:.4f}. Sample size for a bound of {target}: {need[True]} with prod d_l!, "
                             f"{need[False]} without ({need[False] / need[True] - 1:.1%} more).")


def test_claim(claim_result):
    assert_result(claim_result)
