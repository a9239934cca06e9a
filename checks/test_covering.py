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


# --------------------------------------------------------------------------- canonical forms beyond MLPs
def _architectures(g):
    """Real torch modules (float64, eval mode) with the canonical form of their symmetry group,
    a random group element (the invariance transforms of ``numerics``), inputs, and a
    function-changing slip of the canonical form (one carried piece left in place)."""
    cnn = nc.randomise_batchnorm(nc.SmallCNN((3, 6, 5)), g)
    res = nc.randomise_layernorm(nc.ResidualMLP(3, 6, (5, 4), 2, "tanh"), g)
    mha = nc.make_attention(12, 4, g)

    def cnn_g():
        return nc.permute_cnn(cnn, torch.randperm(6, generator=g), torch.randperm(5, generator=g))

    def cnn_not_g():  # channels permuted without their BatchNorm parameters: not a symmetry
        m = cnn_g()
        m.bn1.load_state_dict(cnn.bn1.state_dict())
        return m

    def res_g():
        return nc.permute_residual(res, [torch.randperm(5, generator=g), torch.randperm(4, generator=g)],
                                   torch.randperm(6, generator=g))

    def mha_g():
        return nc.permute_attention(mha, torch.randperm(4, generator=g),
                                    ([torch.randperm(3, generator=g) for _ in range(4)],
                                     [torch.randperm(3, generator=g) for _ in range(4)]))

    keep = lambda canon, model, keys: dict(canon, **{k: model.state_dict()[k] for k in keys})  # noqa: E731
    return [
        ("CNN conv channels + BatchNorm [3,6,5]", cnn, nc.canonical_cnn_state, cnn_g,
         ("control: channels moved without BatchNorm counted as equivalent", cnn_not_g, nc.canonical_cnn_state),
         ("read-out columns not moved", lambda c: keep(c, cnn, ["fc.weight"])),
         torch.randn(6, 3, 8, 8, generator=g, dtype=nc.DTYPE), lambda m, x: m(x)),
        ("residual D=6, blocks (5,4), stream + block units", res, nc.canonical_residual_state, res_g,
         ("control: blocks-only form (no D!)", res_g, lambda st: nc.canonical_residual_state(st, stream=False)),
         ("LayerNorm not moved", lambda c: keep(c, res, [k for k in c if k.startswith("norms.")])),
         torch.randn(200, 3, generator=g, dtype=nc.DTYPE), lambda m, x: m(x)),
        ("attention E=12, H=4, heads + in-head q/k and v", mha, lambda st: nc.canonical_attention_state(st, 4),
         mha_g, ("control: heads-only form (no in-head factors)", mha_g,
                 lambda st: nc.canonical_attention_state(st, 4, within=False)),
         ("out_proj columns not moved", lambda c: keep(c, mha, ["out_proj.weight"])),
         torch.randn(4, 7, 12, generator=g, dtype=nc.DTYPE), nc.attention_forward),
    ]


def _same_state(a: dict, b: dict) -> bool:
    return all(torch.equal(a[k], b[k]) for k in a)


@claim("covering.canonical.architectures",
       source="derived extension of Shen (arXiv 2305.11417): conv channels sorted by conv bias (with "
              "BatchNorm and the next layer's input slices), residual stream by embedding bias and block "
              "units by U bias, attention coordinates by q / v bias and heads by their largest q bias",
       statement="the canonical forms of a CNN with BatchNorm, a residual MLP (stream and block units) and "
                 "multi-head attention (heads and in-head coordinates) are bitwise invariant under random "
                 "group elements and compute the same function to 1e-12 relative",
       seed=4111, stochastic=False,
       predicted="canonical(g.theta) == canonical(theta) bitwise; f_canonical = f (rounding 1e-12)",
       measured="torch modules: state dicts compared bitwise over random g; outputs on random inputs")
def _canonical_architectures(ctx):
    g = ctx.generator()
    reps = 200 if ctx.full else 30
    pts = []
    for name, model, canonical, group_elem, (ctrl_name, ctrl_elem, ctrl_form), (slip, slipped), x, fwd in \
            _architectures(g):
        c0 = canonical(model.state_dict())
        bad = sum(not _same_state(canonical(group_elem().state_dict()), c0) for _ in range(reps))
        c0_ctrl = ctrl_form(model.state_dict())
        bad_ctrl = sum(not _same_state(ctrl_form(ctrl_elem().state_dict()), c0_ctrl) for _ in range(reps))
        pts.append(Point(f"{name}: canonical(g.theta) != canonical(theta), {reps} g ({ctrl_name})", 0.0,
                         float(bad), tol=TOL_COUNT, n=reps, control=0.0, control_estimate=float(bad_ctrl)))
        with torch.no_grad():
            y = fwd(model, x)
            pts.append(Point(f"{name}: function of the canonical form (control: {slip})", 0.0,
                             nc.relative_change(y, fwd(nc.load_state(model, c0), x)), tol=TOL_REL, control=0.0,
                             control_estimate=nc.relative_change(y, fwd(nc.load_state(model, slipped(c0)), x))))
    return Measurement(points=pts, n=reps,
                       notes="Residual stream: the D! coordinates of the stream are put in canonical order by "
                             "the embedding bias (every stream-indexed tensor moves along: embedding, "
                             "LayerNorms, U columns, V rows and bias, read-out columns). Controls: a BatchNorm "
                             "slip that changes the function must not look equivalent; the forms of the "
                             "smaller groups (without D!, without in-head factors) are not invariant under "
                             "the full group; canonical forms with one carried tensor left in place change f.")


@claim("covering.volume.architectures",
       source="derived: the canonical form fixes the set where every key is sorted, of probability 1/|G| "
              "under any law exchangeable over the group (ties have probability 0)",
       statement="the canonical forms of CNN channels, residual stream and block units, and attention heads "
                 "with in-head coordinates fix fractions 1/|G| of random parameters, |G| the registered group "
                 "orders prod c_l!, D! prod h_b!, H! (d_k! d_v!)^H",
       seed=4112, stochastic=True,
       formula=lambda: sp.Eq(sp.Symbol("P_canonical"), 1 / sp.Symbol("|G|")),
       predicted="1/|G| (covering.cnn_group_order, covering.residual_group_order, covering.attention_group_order)",
       measured="fraction of random parameter sets (i.i.d. normal entries) with canonical(theta) == theta bitwise")
def _volume_architectures(ctx):
    g = ctx.generator()
    n = 160_000 if ctx.full else 30_000
    cnn_order, res_order, att_order = (get_formula(f"covering.{k}_group_order")
                                       for k in ("cnn", "residual", "attention"))
    cases = [
        ("SmallCNN channels (3,3,2), 1x1 kernels", nc.SmallCNN((3, 3, 2), kernel=1), nc.canonical_cnn_state,
         cnn_order.evaluate(channels=[3, 2]), "input channels counted too, 3! 3! 2!",
         cnn_order.evaluate(channels=[3, 3, 2])),
        ("residual D=3, blocks (2,2)", nc.ResidualMLP(3, 3, (2, 2), 2), nc.canonical_residual_state,
         res_order.evaluate(stream_dim=3, block_hidden=[2, 2]), "without the stream's D!", sp.Integer(4)),
        ("attention E=4, H=2 with in-head coordinates", nc.make_attention(4, 2, g),
         lambda st: nc.canonical_attention_state(st, 2), att_order.evaluate(heads=2, d_k=2, d_v=2),
         "H! only, no in-head factors", att_order.evaluate(heads=2)),
        ("attention E=6, H=3 heads only", nc.make_attention(6, 3, g),
         lambda st: nc.canonical_attention_state(st, 3, within=False), att_order.evaluate(heads=3),
         "with in-head factors H! (d_k! d_v!)^H", att_order.evaluate(heads=3, d_k=2, d_v=2)),
    ]
    pts = []
    for name, model, canonical, order, ctrl_name, ctrl_order in cases:
        states = nc.random_states(model, n, g)
        hits = int(nc.fixed_fraction(states, canonical(states)).sum())
        pred, ctrl = 1 / to_float(order), 1 / to_float(ctrl_order)
        pts.append(Point(f"{name}: 1/|G| = 1/{int(order)} (control: {ctrl_name}, 1/{int(ctrl_order)})", pred, hits / n,
                         se=proportion_se(pred, n), control=ctrl, control_se=proportion_se(ctrl, n), n=n))
    return Measurement(points=pts, n=n,
                       notes="score-test SEs sqrt(p(1-p)/n) under the prediction and under the control. The "
                             "canonical forms only sort, so a parameter set is fixed iff every key is already "
                             "in decreasing order; the group orders are the registered formulas.")


# --------------------------------------------------------------------------- sign flips and scaling
@claim("covering.bound.symmetries", source=DERIVED + "; tanh: biases flipped to >= 0 then sorted; ReLU: "
                                                     "incoming vectors rescaled onto the box boundary",
       statement="grid cells meeting the sorted non-negative biases number C(ceil(m/2)+d-1, d) (brute force and "
                 "sampled tanh canonical biases); rescaled ReLU neurons occupy exactly the m^k - (m-2)^k boundary "
                 "cells and compute the same function; the log sign-flip and scaling bounds equal the logs of "
                 "the enumerated cell counts",
       seed=4113, stochastic=False,
       formula=lambda: sp.Eq(sp.Symbol("N_tanh"), sp.Symbol("m") ** (sp.Symbol("S") - sp.Symbol("D")) * sp.Product(
           sp.binomial(sp.ceiling(sp.Symbol("m") / 2) + sp.Indexed("d", sp.Symbol("l")) - 1,
                       sp.Indexed("d", sp.Symbol("l"))), (sp.Symbol("l"), 1, sp.Symbol("L")))),
       predicted="C(ceil(m/2)+d-1,d); m^k-(m-2)^k; log bounds (covering.symmetry_bounds)",
       measured="enumeration of all index tuples; cells hit by canonicalised and rescaled real networks")
def _symmetry_bounds(ctx):
    g = ctx.generator()
    pts = []
    for m, d in ((5, 3), (6, 3), (5, 4), (4, 5)):
        cells = tc.sorted_nonnegative_cell_count(m, d)
        ctrl = math.comb(m + d - 1, d) / 2 ** d
        pts.append(Point(f"m={m} d={d}: cells of sorted non-negative vectors (control C(m+d-1,d)/2^d)", cells,
                         nc.sorted_nonnegative_cells_bruteforce(m, d), tol=TOL_COUNT, control=ctrl))
        n = 25 * m ** d
        pts.append(Point(f"m={m} d={d}: cells hit by {n} tanh-canonical bias vectors (control C(m+d-1,d)/2^d)",
                         cells, nc.sorted_nonnegative_cells_sampled(m, d, n, g), tol=TOL_COUNT, n=n, control=ctrl))
    for m, k in ((4, 2), (5, 3), (3, 4), (6, 2)):
        n = 40 * m ** k
        pts.append(Point(f"m={m} k={k}: cells of {n} rescaled ReLU neurons (control m^(k-1), one dimension less)",
                         tc.boundary_cell_count(m, k), nc.boundary_cells_sampled(m, k, n, 1.0, g), tol=TOL_COUNT,
                         n=n, control=m ** (k - 1)))
    ws = [3, 16, 32, 8, 2]
    p = nc.random_mlp(ws, 1.0, g)
    x = 2 * torch.rand(500, 3, generator=g, dtype=nc.DTYPE) - 1
    scaled = nc.relu_scale_to_boundary(p, 1.0)
    y = nc.mlp_forward(p, x, "relu")
    pts.append(Point(f"{ws}: rescaled ReLU network computes f (control: the same rescaling on tanh)", 0.0,
                     nc.relative_change(y, nc.mlp_forward(scaled, x, "relu")), tol=TOL_REL, control=0.0,
                     control_estimate=nc.relative_change(nc.mlp_forward(p, x, "tanh"),
                                                         nc.mlp_forward(scaled, x, "tanh"))))
    bounds = get_formula("covering.symmetry_bounds")
    for ws, eps in (([1, 3, 1], 2), ([1, 4, 2, 1], 15), ([2, 3, 1], 3)):
        lb = bounds.evaluate(widths=ws, B=1, eps=eps)
        m, S, hid = int(lb["m"]), int(lb["S"]), ws[1:-1]
        exact = (S - sum(hid)) * math.log(m) + sum(math.log(nc.sorted_nonnegative_cells_bruteforce(m, dl))
                                                   for dl in hid)
        clean = to_float(lb["log_N_classical"]) - sum(dl * math.log(2) + math.lgamma(dl + 1) for dl in hid)
        pts.append(Point(f"{ws} eps={eps} (m={m}): log N_tanh = log of the enumerated cells (control: log m^S / "
                         "prod 2^d_l d_l!, ties ignored)", to_float(lb["log_N_sign_flip"]), exact, tol=TOL_LOG,
                         control=clean))
        ks = [ws[i] + 1 for i in range(len(hid))]
        free = S - sum(dl * k for dl, k in zip(hid, ks))
        counted = free * math.log(m) + sum(dl * math.log(nc.boundary_cells_bruteforce(m, k)) for dl, k in zip(hid, ks))
        pts.append(Point(f"{ws} eps={eps} (m={m}): log N_relu-scaling = log of the enumerated boundary cells "
                         f"(control: (S - sum d_l) log m, effective dimension without the boundary factor)",
                         to_float(lb["log_N_scaling"]), counted, tol=TOL_LOG,
                         control=(S - sum(hid)) * math.log(m)))
    return Measurement(points=pts,
                       notes="Sign flips: cell k meets [0, B] iff k >= floor(m/2), so ceil(m/2) bias indices "
                             "remain per neuron. ReLU: each hidden neuron's incoming vector is scaled up to "
                             "sup-norm B (outgoing weights divided), the box is kept, f is unchanged; only "
                             "boundary cells are needed for those coordinates. Sampled counts hit every cell "
                             "(25-40 samples per cell of the full grid).")


# --------------------------------------------------------------------------- CNN bound
@claim("covering.bound.cnn", source=DERIVED + "; CNN: Lemma A with fan-in k^2 c_l, channels sorted by conv bias",
       statement="the CNN Lipschitz constant (L+1) Bbar^L prod_l (k^2 c_l + 1) (c_L P + 1) bounds the "
                 "parameter-to-function quotient of real conv nets, nearly attained at the box corner; the log "
                 "channel-permutation bound equals the log of the enumerated sorted cells",
       seed=4114, stochastic=False,
       formula=lambda: sp.Eq(sp.Symbol("Lambda_CNN"), (sp.Symbol("L") + 1) * sp.Symbol("Bbar") ** sp.Symbol("L")
                             * sp.Product(sp.Symbol("k") ** 2 * sp.Indexed("c", sp.Symbol("l")) + 1,
                                          (sp.Symbol("l"), 0, sp.Symbol("L") - 1))
                             * (sp.Indexed("c", sp.Symbol("L")) * sp.Symbol("P") + 1)),
       predicted="Lambda_CNN and log N_perm (covering.cnn_log_bound)",
       measured="|f_t - f_t'|/|t - t'| of real ReLU CNNs at the box corner (all-ones image); cell enumeration")
def _cnn_bound(ctx):
    pts, notes = [], []
    cnn_bound = get_formula("covering.cnn_log_bound")
    side = 32 if ctx.full else 16
    for channels, B in (((2, 4, 4), 1), ((1, 3, 3), 1), ((3, 4, 4, 2), 1), ((2, 3), 2)):
        lb = cnn_bound.evaluate(channels=list(channels), kernel=3, pooled=4, n_out=2, B=B, eps=1)
        lam = to_float(lb["Lambda"])
        L = len(channels) - 1
        wrong = (L + 1) * max(B, 1) ** L * math.prod(3 * c + 1 for c in channels[:-1]) * (channels[-1] * 4 + 1)
        q = nc.cnn_corner_quotient(channels, 3, 2, 2, "relu", B, 1e-6, side)
        pts.append(Point(f"channels {channels} B={B}, {side}x{side} image: corner quotient <= Lambda (control: "
                         "fan-in k c_l, kernel side for area)", lam, q, tol=TOL_LOG * lam, rule="le", control=wrong))
        notes.append(f"{channels}: quotient/Lambda {q / lam:.3f}")
    for channels, eps in (((1, 3), 20), ((2, 2, 3), 1000)):
        lb = cnn_bound.evaluate(channels=list(channels), kernel=3, pooled=1, n_out=1, B=1, eps=eps)
        m, S, hid = int(lb["m"]), int(lb["S"]), channels[1:]
        exact = (S - sum(hid)) * math.log(m) + sum(math.log(nc.sorted_cells_bruteforce(m, c)) for c in hid)
        clean = to_float(lb["log_N_classical"]) - sum(math.lgamma(c + 1) for c in hid)
        pts.append(Point(f"channels {channels} eps={eps} (m={m}): log N_perm = log of the enumerated sorted cells "
                         "(control: log m^S/prod c_l!, ties ignored)", to_float(lb["log_N_permutation"]), exact,
                         tol=TOL_LOG, control=clean))
    return Measurement(points=pts,
                       notes="; ".join(notes) + ". At the corner every weight and bias is B, all units are "
                             "active and all terms add, so the quotient approaches Lambda up to the zero-padded "
                             "borders (closer on larger images). The quotient of the kernel-side fan-in is "
                             "exceeded by the real network.")


# --------------------------------------------------------------------------- the bound in use
def _n_needed_float(ws, B, target, eta, M, lip, kind):
    """Smallest n with min_m [2 Lip B Lambda/m + M sqrt((log N_m + log(2/eta))/(2n))] <= target, in
    float64, by another route than the theory's bisection on n: n(m) = M^2 (log N_m + log(2/eta)) /
    (2 (target - 2 Lip B Lambda/m)^2) minimised over continuous log m (Brent), then over the
    neighbouring integers (even ones for sign flips)."""
    from scipy.optimize import minimize_scalar
    from scipy.special import gammaln

    S, hid = tc.param_count(ws), ws[1:-1]
    a = 2 * lip * to_float(B * tc.lipschitz_constant(ws, B))
    step = 2 if kind == "sign_flip" else 1

    def n_of(m):
        r = m / step
        log_n = S * np.log(m) if kind == "classical" else (S - sum(hid)) * np.log(m) + sum(
            d * np.log(r) + np.log1p(np.arange(d) / r).sum() - gammaln(d + 1) for d in hid)
        gap = target - a / m
        return M ** 2 * (log_n + np.log(2 / eta)) / (2 * gap * gap) if gap > 0 else np.inf

    lo = math.log(a / target)
    res = minimize_scalar(lambda u: n_of(math.exp(u)), bounds=(lo + 1e-9, lo + 60), method="bounded",
                          options={"xatol": 1e-12})
    j = math.exp(res.x) / step
    return math.ceil(min(n_of(step * max(1, math.floor(j) + k)) for k in (-1, 0, 1, 2)))


@claim("covering.bound.sample-size", source=DERIVED + "; Hoeffding + union bound over the eps-cover, "
                                                      "minimised over eps",
       statement="for the 784-W-W-10 MLP class the sample size that the eps-minimised uniform-deviation bound "
                 "needs is smaller with the permutation factor prod d_l! and smaller still with tanh's "
                 "prod 2^d_l d_l!, and equals an independent float64 inversion of the bound",
       seed=4115, stochastic=False,
       formula=lambda: sp.Eq(sp.Symbol("n_needed"), sp.Symbol("min_m") * sp.Symbol("M") ** 2 * (
           sp.Symbol("log_N_m") + sp.log(2 / sp.Symbol("eta"))) / (2 * (sp.Symbol("t") - 2 * sp.Symbol("Lip")
                                                                       * sp.Symbol("B") * sp.Symbol("Lambda")
                                                                       / sp.Symbol("m")) ** 2)),
       predicted="n needed (covering.sample_size), exact: bisection on n of the exactly minimised bound",
       measured="float64 inversion n(m) minimised over m by Brent's method and neighbouring integers")
def _sample_size(ctx):
    B, target, eta = 1, sp.Rational(1, 2), sp.Rational(1, 20)
    checked = [16, 64, 256, 1024] + ([4096] if ctx.full else [])
    widths = sorted(set(checked) | {32, 128, 512})
    sample_size = get_formula("covering.sample_size")
    need = {W: sample_size.evaluate(widths=[784, W, W, 10], B=B, target=target, eta=eta, M=1, lip_loss=1)
            for W in widths}
    pts = []
    for W in checked:
        ws = [784, W, W, 10]
        n = {k: int(v) for k, v in need[W].items()}
        for kind, ctrl in (("permutation", "classical"), ("sign_flip", "permutation")):
            pts.append(Point(f"784-{W}-{W}-10: n with {kind.replace('_', ' ')} factor (control: n {ctrl})",
                             n[kind], _n_needed_float(ws, B, float(target), float(eta), 1.0, 1.0, kind),
                             tol=1.5, control=n[ctrl]))
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.4))
    for kind, style in (("classical", "C0o-"), ("permutation", "C3s--"), ("sign_flip", "C2^:")):
        ax1.plot(widths, [int(need[W][kind]) for W in widths], style, ms=4, label=kind.replace("_", " "))
        if kind != "classical":
            ax2.plot(widths, [int(need[W]["classical"]) / int(need[W][kind]) - 1 for W in widths], style, ms=4,
                     label=f"n classical / n {kind.replace('_', ' ')} - 1")
    ax1.set(xscale="log", yscale="log", xlabel="hidden width W", ylabel="samples needed",
            title=f"784-W-W-10, B={B}, deviation {target}, eta={eta}")
    ax2.set(xscale="log", yscale="log", xlabel="hidden width W", ylabel="relative saving of samples")
    ax1.legend(fontsize=7)
    ax2.legend(fontsize=7)
    return Measurement(points=pts, n=len(checked), figures={"covering_sample_size_vs_width": fig},
                       notes="samples needed (permutation / classical / sign flips): " + "; ".join(
                           f"W={W}: {int(need[W]['permutation'])} / {int(need[W]['classical'])} / "
                           f"{int(need[W]['sign_flip'])}" for W in widths)
                       + ". The saving is below 0.1 %: for deep nets log prod d_l! is a vanishing share of "
                         "S log m.")

def test_claim(claim_result):
    assert_result(claim_result)
