"""Claims for allocation of learnable weights in subset learning (arXiv 2502.06300).

The paper's full text was not available: the conditions checked here are derived
(generic-rank arguments, see theory/allocation.py) and the linear-RNN model
``r_t = W r_{t-1} + B x_t, y = D r_T`` is the most plausible reading of the paper's.
Measured side: float64 autograd Jacobian ranks (threshold 1e-8 relative) and
actual solving of the matching problem (least squares when the student is affine
in its learnable entries, multi-start Levenberg-Marquardt otherwise).
"""
from __future__ import annotations


import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import sympy as sp  # noqa: E402
import torch  # noqa: E402

from dltv.checks.claims import Measurement, Point, claim  # noqa: E402
from dltv.numerics import allocation as num  # noqa: E402
from dltv.numerics.threads import one_thread  # noqa: E402
from dltv.theory import allocation as th  # noqa: E402

def derived(conditions: str) -> str:
    """Source line: the derived conditions (labelled in theory/allocation.py) and the paper."""
    return (f"derived: conditions {conditions} of dltv.theory.allocation (generic-rank arguments; the paper's "
            "full text was unavailable), after Schlisselberg & Darshan, arXiv 2502.06300")
MATCH_TOL = 1e-9      # relative residual declaring an exact match (affine students)
LM_TOL = 1e-8         # same for the iterative solver (polynomial students)
# integer-valued points (ranks, counts): any disagreement is >= 1, so 0.5 means exact equality
# and keeps the control z finite
INT_TOL = 0.5




def _lffn_case(widths, m, gen):
    """(shapes, teacher, student, X, target) for one linear-network instance."""
    shapes = num.lffn_shapes(widths)
    teacher, student = num.sample_weights(shapes, gen), num.sample_weights(shapes, gen)
    X = num.sample_inputs((widths[0], m), gen)
    return shapes, student, X, num.lffn_forward(teacher, X)


def _measured_maximal(forward, student, X, alloc, target, E):
    """Measured verdict: 1 iff the Jacobian rank is E and least squares matches to 1e-9.
    Returns -1 when the two measurements disagree with each other."""
    rank = int(num.numeric_rank(num.jacobian(forward, student, X, alloc)))
    _, res = num.solve_affine(forward, student, X, alloc, target)
    full, matched = rank == E, res < MATCH_TOL
    return int(full) if full == matched else -1


# --------------------------------------------------------------------------- E(m)
EQ_CASES = [([4, 2, 4], 6), ([4, 2, 4], 3), ([5, 3, 2, 4], 6), ([3, 1, 3], 5), ([4, 4, 4], 2),
            ([3, 4, 2], 5), ([3, 4, 4, 2], 5), ([2, 3, 3], 1), ([6, 2, 5], 4), ([3, 5, 2], 2)]


@claim("allocation.lffn.equations", source=derived("F0"), seed=5101,
       stochastic=False,
       statement="the number of independent equations E(m) = k'(d_out + q - k') equals the "
                 "generic Jacobian rank of the full linear teacher on m samples",
       formula=lambda: sp.Eq(sp.Symbol("E"), sp.Symbol("k'") * (
           sp.Symbol("d_out") + sp.Symbol("q") - sp.Symbol("k'"))))
def _equations(ctx):
    gen = ctx.generator()
    points = []
    with one_thread():
        for widths, m in EQ_CASES:
            shapes = num.lffn_shapes(widths)
            X = num.sample_inputs((widths[0], m), gen)
            rank = num.generic_rank(num.lffn_forward, shapes, X, num.entries(shapes), gen)
            naive = min(sum(r * c for r, c in shapes.values()), m * widths[-1])
            points.append(Point(f"widths={widths} m={m}", th.equations(widths, m), rank, tol=INT_TOL,
                                control=naive))
    return Measurement(points, n=len(points),
                       notes="control: naive count min(#weights, m d_out), which ignores the "
                             "bottleneck and the input rank")


# --------------------------------------------------------------------------- one layer
def _shifted(verdict_rule, widths, m, alloc, layer_name):
    """Control: the same counting rule with one learnable entry fewer needed per block,
    and with the bottleneck ignored."""
    L = len(widths) - 1
    q = min(m, widths[0])
    if layer_name == f"W{L}":
        rows = [sum(1 for n, i, _ in alloc if i == r) for r in range(widths[-1])]
        return int(min(rows) >= q - 1)
    if layer_name == "W1" and m >= widths[0]:
        cols = [sum(1 for n, _, j in alloc if j == c) for c in range(widths[0])]
        return int(min(cols) >= widths[-1] - 1)
    return 1 - verdict_rule  # middle layer: the opposite of the span verdict


ONE_LAYER_CASES = [([3, 4, 2], 5, "W2", (5, 6, 7)), ([3, 4, 2], 2, "W2", (3, 4, 5)),
                   ([3, 4, 2], 5, "W1", (5, 6, 7)), ([3, 4, 4, 1], 5, "W2", (3, 4)),
                   ([3, 4, 4, 2], 5, "W2", (6, 7)), ([3, 2, 4, 2], 5, "W3", (6, 7)),
                   ([4, 2, 4], 6, "W1", (8,)), ([4, 2, 4], 6, "W2", (6, 8))]


@claim("allocation.lffn.one-layer", source=derived("G3, F1-F4"), seed=5102,
       stochastic=False,
       statement="every allocation inside one layer of a linear network has MP in {0,1}: "
                 "last layer needs >= q learnable per output row, first layer >= d_out per "
                 "input column, middle layer a full span, and a bottleneck makes MP = 0")
def _one_layer(ctx):
    gen, rng = ctx.generator(), ctx.rng
    points, n_total = [], 0
    with one_thread():
        for widths, m, name, Ms in ONE_LAYER_CASES:
            E = th.equations(widths, m)
            agree = agree_ctrl = count = maximal = 0
            for M in Ms:
                for trial in range(8):
                    shapes, student, X, target = _lffn_case(widths, m, gen)
                    alloc = num.random_allocation(shapes, M, rng, [name])
                    pred = th.one_layer_verdict(widths, m, alloc, seed=trial).mp
                    meas = _measured_maximal(num.lffn_forward, student, X, alloc, target, E)
                    agree += pred == meas
                    agree_ctrl += _shifted(pred, widths, m, alloc, name) == meas
                    maximal += meas == 1
                    count += 1
            n_total += count
            points.append(Point(f"widths={widths} m={m} {name} ({maximal}/{count} maximal)",
                                count, agree, tol=INT_TOL, control=count, control_estimate=agree_ctrl,
                                n=count))
    return Measurement(points, n=n_total,
                       notes="estimate: allocations whose predicted verdict equals the measured "
                             "one (rank = E and least-squares relative residual < 1e-9); control: "
                             "the counting rule needing one entry fewer per row/column, bottleneck "
                             "ignored (middle layers: the opposite span verdict)")


# --------------------------------------------------------------------------- exact fractions
FRACTION_CASES = [([3, 4, 4, 2], 5, 3, 6), ([3, 4, 4, 2], 5, 1, 6), ([3, 4, 2], 2, 2, 5),
                  ([3, 5, 3], 4, 1, 10)]


@claim("allocation.lffn.single-layer-fraction", source=derived("F1/F2 counting"),
       seed=5103, stochastic=True,
       statement="the exact fraction of random M-subsets of the first or last layer that are "
                 "maximal equals the Monte-Carlo frequency of full Jacobian rank")
def _fraction(ctx):
    gen, rng = ctx.generator(), ctx.rng
    n_per, per_net = (4000, 200) if ctx.full else (1200, 200)
    points = []
    with one_thread():
        for widths, m, layer, M in FRACTION_CASES:
            shapes = num.lffn_shapes(widths)
            pool = num.entries(shapes)
            name = f"W{layer}"
            E = th.equations(widths, m)
            hits = []
            for _ in range(n_per // per_net):
                mats = num.sample_weights(shapes, gen)
                X = num.sample_inputs((widths[0], m), gen)
                J = num.jacobian(num.lffn_forward, mats, X, pool)
                sets = [[pool.index(e) for e in num.random_allocation(shapes, M, rng, [name])]
                        for _ in range(per_net)]
                hits.extend(num.subset_ranks(J, sets) == E)
            p, se, n = num.binomial_estimate(hits)
            exact = th.single_layer_fraction(widths, m, layer, M)
            points.append(Point(f"widths={widths} m={m} layer {layer} M={M} (exact {exact})",
                                float(exact), p, se=se, control=1.0, n=n))
    return Measurement(points, n=sum(p.n for p in points),
                       notes="control: parameter counting, 'any M >= E learnable entries suffice'")


# --------------------------------------------------------------------------- bottleneck
@claim("allocation.lffn.bottleneck", source=derived("F4"), seed=5104,
       stochastic=False,
       statement="with a bottleneck (widths 4,2,4, m=6, E=12) no single-layer allocation, even a "
                 "whole layer, matches the teacher, while a mixed allocation of E weights does")
def _bottleneck(ctx):
    gen = ctx.generator()
    widths, m, n = [4, 2, 4], 6, 12
    E = th.equations(widths, m)
    shapes = num.lffn_shapes(widths)
    points = []
    with one_thread():
        for name in ("W1", "W2"):
            alloc = num.entries(shapes, [name])
            matched, rank = 0, None
            for _ in range(n):
                _, student, X, target = _lffn_case(widths, m, gen)
                rank = int(num.numeric_rank(num.jacobian(num.lffn_forward, student, X, alloc)))
                matched += num.solve_affine(num.lffn_forward, student, X, alloc, target)[1] < MATCH_TOL
            points.append(Point(f"whole {name}: Jacobian rank", th.lffn_exact_rank(widths, m, alloc),
                                rank, tol=INT_TOL, control=E))
            points.append(Point(f"whole {name}: teachers matched of {n}", 0, matched, tol=INT_TOL,
                                control=n, n=n))
        mixed = num.entries(shapes, ["W1"]) + [("W2", 0, 0), ("W2", 1, 1), ("W2", 2, 0), ("W2", 3, 1)]
        B = 3 * n
        T, S = num.sample_weights(shapes, gen, (B,)), num.sample_weights(shapes, gen, (B,))
        X = num.sample_inputs((B, widths[0], m), gen)
        res = num.solve_lm(num.lffn_forward, S, X, mixed, num.lffn_forward(T, X), starts=8,
                           generator=gen, iters=120)
        rank = int(num.numeric_rank(num.jacobian(num.lffn_forward, {k: v[0] for k, v in S.items()},
                                                 X[0], mixed)))
        points.append(Point("mixed W1 + one per row of W2: Jacobian rank",
                            th.lffn_exact_rank(widths, m, mixed), rank, tol=INT_TOL))
        points.append(Point(f"mixed: teachers matched of {B} (MP > 0)", 1,
                            int((res < LM_TOL).sum()), tol=INT_TOL, rule="ge", n=B))
    return Measurement(points, n=4 * n + B,
                       notes="controls: the no-bottleneck intuition that a whole layer reaches "
                             "rank E and matches every teacher")


# --------------------------------------------------------------------------- two-layer MP in (0,1)
F6_ALLOC = [("W2", 0, 0), ("W2", 1, 1), ("W1", 0, 0), ("W1", 1, 1)]


def _f6_criterion(T, S):
    P = (T["W2"] @ T["W1"]).numpy()
    U, W = S["W2"].numpy(), S["W1"].numpy()
    return th.two_by_two_matchable(P, U[..., 0, 1], U[..., 1, 0], W[..., 0, 1], W[..., 1, 0])


@claim("allocation.lffn.two-layer", source=derived("F6, G2, G5"), seed=5105,
       stochastic=True,
       statement="widths 2,2,2 with U11,U22,W11,W22 learnable has full rank (M = E = 4) yet "
                 "0 < MP < 1: MP = P(discriminant >= 0), confirmed by a multi-start solver")
def _two_layer(ctx):
    gen = ctx.generator()
    shapes = num.lffn_shapes([2, 2, 2])
    n_big, n_solve = 1_000_000, (1500 if ctx.full else 600)
    T, S = num.sample_weights(shapes, gen, (n_big,)), num.sample_weights(shapes, gen, (n_big,))
    p_th, se_th, _ = num.binomial_estimate(_f6_criterion(T, S))
    with one_thread():
        T, S = num.sample_weights(shapes, gen, (n_solve,)), num.sample_weights(shapes, gen, (n_solve,))
        X = num.sample_inputs((n_solve, 2, 3), gen)
        res = num.solve_lm(num.lffn_forward, S, X, F6_ALLOC, num.lffn_forward(T, X), starts=16,
                           generator=gen, iters=100)
    solved = (res < LM_TOL).numpy()
    crit = _f6_criterion(T, S)
    p, se, n = num.binomial_estimate(solved)
    agree = float((solved == crit).mean())
    se_tot = float(np.hypot(se, se_th))
    points = [Point("solver MP vs P(discriminant >= 0)", p_th, p, se=se_tot, control=1.0, n=n)]
    return Measurement(points, n=n, notes=(
        f"prediction: discriminant criterion on {n_big} fresh draws (its SE {se_th:.1e} is folded "
        f"into the point's SE); solver: LM, 16 starts, match at relative residual < {LM_TOL}; "
        f"per-instance agreement of solver and criterion {agree:.4f}; control: MP = 1, the "
        f"one-layer dichotomy wrongly applied to a full-rank two-layer allocation"))


# --------------------------------------------------------------------------- linear RNN
RNN_DIMS = [(2, 1, 1, 3), (2, 1, 1, 4), (2, 1, 1, 6), (3, 1, 1, 5), (3, 1, 1, 8), (3, 2, 1, 4),
            (3, 2, 2, 3), (2, 2, 2, 3)]


@claim("allocation.rnn.effective-dim", source=derived("R0") + "; linear-RNN model "
       "r_t = W r_{t-1} + B x_t, y = D r_T is a reading of the paper's", seed=5106,
       stochastic=False,
       statement="the effective-weight dimension E_K of a linear RNN (min(T, 2N) for one input "
                 "and output; exact rank of the Markov-parameter map otherwise) equals the "
                 "measured Jacobian rank on m >= T d_in sequences")
def _rnn_dim(ctx):
    gen = ctx.generator()
    points = []
    with one_thread():
        for N, di, do, T in RNN_DIMS:
            shapes = num.rnn_shapes(N, di, do)
            X = num.sample_inputs((T, di, T * di + 1), gen)
            rank = num.generic_rank(num.rnn_forward, shapes, X, num.entries(shapes), gen)
            pred = th.rnn_siso_dimension(N, T) if di == do == 1 else th.rnn_markov_rank(N, di, do, T)
            points.append(Point(f"N={N} d_in={di} d_out={do} T={T}", pred, rank, tol=INT_TOL,
                                control=T * di * do))
    return Measurement(points, n=len(points),
                       notes="control: T d_in d_out, i.e. free (non-degenerate) effective weights")


def _rnn_case(N, di, do, T, m, gen):
    shapes = num.rnn_shapes(N, di, do)
    teacher, student = num.sample_weights(shapes, gen), num.sample_weights(shapes, gen)
    X = num.sample_inputs((T, di, m), gen)
    return shapes, student, X, num.rnn_forward(teacher, X)


@claim("allocation.rnn.readout-input", source=derived("R1-R3") + "; linear-RNN "
       "model is a reading of the paper's", seed=5107, stochastic=False,
       statement="linear RNN: readout-only MP = 1 iff every row of D has >= min(m, T d_in) "
                 "learnable entries; input-only (m >= T d_in) iff every column of B has >= T d_out; "
                 "recurrent-only loses the d_in d_out directions of K_0 = DB")
def _rnn_rules(ctx):
    gen, rng = ctx.generator(), ctx.rng
    points = []
    cases = [("D", (6, 1, 2, 3), 5, (5, 6, 7, 8)), ("D", (6, 1, 2, 3), 2, (3, 4, 5)),
             ("B", (6, 2, 1, 3), 8, (5, 6, 7, 8))]
    with one_thread():
        for name, (N, di, do, T), m, Ms in cases:
            E = num.generic_rank(num.rnn_forward, num.rnn_shapes(N, di, do),
                                 num.sample_inputs((T, di, m), gen),
                                 num.entries(num.rnn_shapes(N, di, do)), gen)
            agree = agree_ctrl = count = 0
            for M in Ms:
                for _ in range(8):
                    shapes, student, X, target = _rnn_case(N, di, do, T, m, gen)
                    alloc = num.random_allocation(shapes, M, rng, [name])
                    meas = _measured_maximal(num.rnn_forward, student, X, alloc, target, E)
                    if name == "D":
                        pred = th.rnn_readout_verdict(N, di, do, T, m, alloc).mp
                        rows = [sum(1 for _, i, _ in alloc if i == r) for r in range(do)]
                        ctrl = int(min(rows) >= min(m, T * di) - 1)
                    else:
                        pred = th.rnn_input_verdict(N, di, do, T, m, alloc).mp
                        cols = [sum(1 for _, _, j in alloc if j == c) for c in range(di)]
                        ctrl = int(min(cols) >= T * do - 1)
                    agree += pred == meas
                    agree_ctrl += ctrl == meas
                    count += 1
            points.append(Point(f"{name}-only N={N} d_in={di} d_out={do} T={T} m={m}", count, agree,
                                tol=INT_TOL, control=count, control_estimate=agree_ctrl, n=count))
        N, T = 4, 3
        shapes = num.rnn_shapes(N, 1, 1)
        X = num.sample_inputs((T, 1, T), gen)
        rank = num.generic_rank(num.rnn_forward, shapes, X, num.entries(shapes, ["W"]), gen)
        points.append(Point(f"W-only N={N} T={T}: rank <= E_K - d_in d_out",
                            th.rnn_recurrent_only_rank_bound(N, 1, 1, T), rank, tol=INT_TOL, rule="le",
                            control=th.rnn_recurrent_only_rank_bound(N, 1, 1, T) - 1))
    return Measurement(points, n=sum(p.n or 1 for p in points),
                       notes="estimate: allocations whose predicted verdict equals the measured "
                             "one (rank = E and least squares to 1e-9); control: one learnable "
                             "entry fewer needed per row/column; W-only control: a bound one lower")


# --------------------------------------------------------------------------- shallow ReLU readout
@claim("allocation.relu.readout", source=derived("Q1"), seed=5108, stochastic=False,
       statement="shallow ReLU, readout-only allocation (d_in = m): the teacher is matched exactly "
                 "when the activity graph of learnable neurons and samples has a covering "
                 "matching, so MP < 1 even with |S| >= m")
def _relu_readout(ctx):
    gen = ctx.generator()
    d, N, n = 4, 8, (400 if ctx.full else 120)
    shapes = num.relu_shapes(d, N)
    points, curve = [], []
    with one_thread():
        for size in (3, 4, 5, 6, 8):
            alloc = [("U", 0, k) for k in range(size)]
            agree = agree_ctrl = hits = 0
            for _ in range(n):
                teacher, student = num.sample_weights(shapes, gen), num.sample_weights(shapes, gen)
                X = num.sample_inputs((d, d), gen)
                target = num.relu_forward(teacher, X)
                _, res = num.solve_affine(num.relu_forward, student, X, alloc, target)
                meas = int(res < MATCH_TOL)
                active = (student["W"][:size] @ X > 0).numpy()
                agree += th.relu_readout_verdict(active).mp == meas
                agree_ctrl += int(size >= d) == meas
                hits += meas
            curve.append((size, *num.binomial_estimate([1] * hits + [0] * (n - hits))[:2]))
            points.append(Point(f"|S|={size}: MP {hits / n:.2f}", n, agree, tol=INT_TOL, control=n,
                                control_estimate=agree_ctrl, n=n))
    fig, ax = plt.subplots(figsize=(5, 3.4))
    s, p, se = zip(*curve)
    ax.errorbar(s, p, yerr=se, fmt="o-", capsize=3, label="ReLU readout: measured MP")
    ax.step([2, 3, 4, 5, 6, 8, 9], [0, 0, 1, 1, 1, 1, 1], where="post", ls="--",
            label="linear dichotomy 1[|S| >= m]")
    ax.set_xlabel("learnable readout weights |S|  (m = d_in = 4, N = 8)")
    ax.set_ylabel("match probability")
    ax.legend(fontsize=8)
    return Measurement(points, n=5 * n, figures={"relu_readout_mp": fig},
                       notes="estimate: draws where the covering-matching verdict equals the "
                             "least-squares outcome; control: the linear rule MP = 1[|S| >= m]")


# --------------------------------------------------------------------------- spreading
SPREAD = ([2, 3, 2], 3, 4)


@claim("allocation.lffn.spread", source=derived("F5, G1"), seed=5109,
       stochastic=True,
       statement="for a fixed budget M, random allocations spread over all layers reach the "
                 "full rank r_A = E (necessary for MP > 0; for one layer the same as MP = 1) more "
                 "often than random allocations inside any single layer")
def _spread(ctx):
    gen, rng = ctx.generator(), ctx.rng
    widths, m, M = SPREAD
    shapes = num.lffn_shapes(widths)
    pool = num.entries(shapes)
    E = th.equations(widths, m)
    exact_all = th.exhaustive_full_rank_fraction(widths, m, M, seed=ctx.seed)
    best = max(th.single_layer_fraction(widths, m, layer, M) for layer in (1, 2))
    n_per, nets = (200, 20) if ctx.full else (200, 6)
    hits = []
    with one_thread():
        for _ in range(nets):
            mats = num.sample_weights(shapes, gen)
            J = num.jacobian(num.lffn_forward, mats, num.sample_inputs((widths[0], m), gen), pool)
            sets = [[pool.index(e) for e in num.random_allocation(shapes, M, rng)]
                    for _ in range(n_per)]
            hits.extend(num.subset_ranks(J, sets) == E)
    p, se, n = num.binomial_estimate(hits)
    points = [Point(f"all layers, M={M} (exact {exact_all})", float(exact_all), p, se=se,
                    control=float(best), n=n),
              Point(f"all layers >= best single layer ({best})", float(best), p, se=se,
                    rule="ge", n=n)]
    fig = _spread_figure(ctx)
    return Measurement(points, n=n, figures={"mp_vs_budget_linear": fig}, notes=(
        "prediction: exact enumeration of all M-subsets with exact ranks over Q; control: the best "
        "single-layer exact fraction (concentrating is as good as spreading)"))


def _spread_figure(ctx):
    """P(full rank) vs M for widths 3,4,4,2, m=5: last layer (exact), random over all layers
    and over the first layer (Monte Carlo), and the constructed spread allocation."""
    gen, rng = ctx.generator(), np.random.default_rng(ctx.seed + 1)
    widths, m = [3, 4, 4, 2], 5
    shapes = num.lffn_shapes(widths)
    pool = num.entries(shapes)
    E = th.equations(widths, m)
    Ms = list(range(E, E + 3))  # the last layer has only 8 entries
    with one_thread():
        mats = num.sample_weights(shapes, gen)
        J = num.jacobian(num.lffn_forward, mats, num.sample_inputs((widths[0], m), gen), pool)
        rows = {}
        for label, names in (("random, all layers", None), ("random, first layer", ["W1"]),
                             ("random, last layer", ["W3"])):
            rows[label] = [num.binomial_estimate(num.subset_ranks(
                J, [[pool.index(e) for e in num.random_allocation(shapes, M, rng, names)]
                    for _ in range(300)]) == E)[:2] for M in Ms]
        spread = [int(num.subset_ranks(J, [[pool.index(e) for e in num.spread_allocation(shapes, M)]])[0]
                      == E) for M in Ms]
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for label, vals in rows.items():
        ax.errorbar(Ms, [v[0] for v in vals], yerr=[v[1] for v in vals], fmt="o-", capsize=3,
                    label=label)
    ax.plot(Ms, [float(th.single_layer_fraction(widths, m, 3, M)) for M in Ms], "k--",
            label="last layer, exact")
    ax.plot(Ms, spread, "s:", label="constructed spread allocation")
    ax.set_xlabel(f"learnable weights M (widths {widths}, m = {m}, E = {E})")
    ax.set_ylabel("P(r_A = E)")
    ax.legend(fontsize=7)
    return fig


# --------------------------------------------------------------------------- ReLU first layer
RELU_A = (4, 8, 4)          # d_in, N, m: M = 4 weights, one row vs one per neuron
RELU_B = (16, 8, 4, 16)     # d_in, N, m, M: M weights over k = 1, 2, 4 neurons (M/k >= m each)
RELU_B_KS = (1, 2, 4)
A_ROW = [("W", 0, j) for j in range(4)]
A_ONE = [("W", k, k) for k in range(4)]


def _block_alloc(k, d_in=RELU_B[0], M=RELU_B[3]):
    return [("W", i, j) for i in range(k) for j in range(i * M // k, (i + 1) * M // k)]


def _relu_draws(d_in, N, m, n, gen):
    """(student, X, y*) for n teacher/student/input draws of the one-output ReLU network."""
    shapes = num.relu_shapes(d_in, N)
    T, S = num.sample_weights(shapes, gen, (n,)), num.sample_weights(shapes, gen, (n,))
    X = num.sample_inputs((n, d_in, m), gen)
    return S, X, num.relu_forward(T, X)[:, 0]


def _residual(S, X, y, k):
    """What the first k (learnable) neurons must produce: y* minus the fixed neurons."""
    U = S["U"][:, 0]
    return (y - (U[:, k:, None] * torch.relu(S["W"][:, k:] @ X)).sum(1)).numpy()


def _criteria_a(S, X, y):
    """Exact verdicts (row, one per neuron) for configuration A."""
    U = S["U"][:, 0].numpy()
    row = th.relu_row_matchable(_residual(S, X, y, 1) / U[:, :1])
    W0 = S["W"][:, :4].clone()
    W0[:, range(4), range(4)] = 0
    one = th.relu_one_per_neuron_matchable((W0 @ X).numpy(), X[:, :4].numpy(), U[:, :4],
                                           _residual(S, X, y, 4))
    return row, one


def _criteria_b(S, X, y):
    U = S["U"][:, 0].numpy()
    return {k: th.relu_neurons_matchable(_residual(S, X, y, k), U[:, :k]) for k in RELU_B_KS}


def _paired_gap(a, b):
    """Mean of b - a over paired draws and its standard error."""
    d = np.asarray(b, float) - np.asarray(a, float)
    return float(d.mean()), float(d.std(ddof=1) / np.sqrt(d.size))


def _linear_matched(alloc, d_in, N, m, n, gen):
    """Fraction of draws where the *linear* network y = U W x is matched by least squares."""
    shapes = num.lffn_shapes([d_in, N, 1])
    alloc = [("W1", i, j) for _, i, j in alloc]
    hits = 0
    for _ in range(n):
        _, student, X, target = _lffn_case([d_in, N, 1], m, gen)
        hits += num.solve_affine(num.lffn_forward, student, X, alloc, target)[1] < MATCH_TOL
    return hits / n


def _construct_b(S, X, y, k, yes):
    """Forward residuals of the explicit solutions of the criterion-yes draws (config B)."""
    idx = torch.as_tensor(np.flatnonzero(yes))
    Ss = {n: v[idx] for n, v in S.items()}
    r, u = _residual(Ss, X[idx], y[idx], k), Ss["U"][:, 0, :k].numpy()
    v = torch.as_tensor(th.relu_neurons_outputs(r, u))
    Z = torch.where(v > 0, v, -torch.ones_like(v))      # any z <= 0 switches a neuron off
    alloc = _block_alloc(k)
    theta = num.relu_rows_for_preactivations(Ss, X[idx], alloc, Z)
    out = num.relu_forward(num.scatter(Ss, alloc, theta), X[idx])[:, 0]
    return (torch.linalg.norm(out - y[idx], dim=-1) / torch.linalg.norm(y[idx], dim=-1)).numpy()


@claim("allocation.relu.spread-first-layer", source=derived("Q2, Q3, sign cone"),
       seed=5110, stochastic=True,
       statement="shallow ReLU (one output): the same first-layer budget spread over more neurons "
                 "matches the teacher more often - one weight in each of 4 neurons beats one "
                 "whole input row (d_in = m = 4, N = 8), and M = 16 weights over k neurons give "
                 "MP = 1 - 2^(1-k)(1 - p); the linear network has MP = 1 for all of them",
       formula=lambda: sp.Eq(sp.Symbol("MP_k"), 1 - 2 ** (1 - sp.Symbol("k")) * (1 - sp.Symbol("p"))))
def _relu_spread(ctx):
    gen = ctx.generator()
    n_a, n_b, n_big, n_solve, n_lin = ((12000, 20000, 400_000, 300, 60) if ctx.full
                                       else (2500, 4000, 100_000, 100, 20))
    points = []
    with one_thread():
        # A: criteria on two independent samples (prediction, measurement)
        pred_a = [_criteria_a(*_relu_draws(*RELU_A, n_a, gen)) for _ in range(2)]
        (p_row, p_one), (m_row, m_one) = pred_a
        gap_pred, se_pred = _paired_gap(p_row, p_one)
        gap_a, se_a = _paired_gap(m_row, m_one)
        lin_a = [_linear_matched(a, *RELU_A, n_lin, gen) for a in (A_ROW, A_ONE)]
        lin_pred_a = [th.one_layer_verdict([4, 8, 1], 4, [("W1", i, j) for _, i, j in a]).mp
                      for a in (A_ROW, A_ONE)]
        points.append(Point(f"A: MP(one weight in 4 neurons) - MP(whole row) "
                            f"[{m_one.mean():.3f} vs {m_row.mean():.3f}]", gap_pred, gap_a,
                            se=float(np.hypot(se_pred, se_a)), control=lin_pred_a[1] - lin_pred_a[0],
                            n=m_row.size))
        # B: p from a large sample of residual orthants, measured verdicts on fresh draws
        orth = {k: [] for k in RELU_B_KS}
        for _ in range(n_big // 25_000):
            S, X, y = _relu_draws(*RELU_B[:3], 25_000, gen)
            for k in RELU_B_KS:
                orth[k].append((_residual(S, X, y, k) >= 0).all(-1))
        orth = {k: np.concatenate(v) for k, v in orth.items()}
        S, X, y = _relu_draws(*RELU_B[:3], n_b, gen)
        crit_b = _criteria_b(S, X, y)
        mp_pred = {k: float(th.relu_neurons_mp(k, float(orth[k].mean()))) for k in RELU_B_KS}
        for k in RELU_B_KS[1:]:
            per_draw = 2.0 ** (1 - k) * orth[k] - orth[1]          # prediction's own MC error
            se_p = float(per_draw.std(ddof=1) / np.sqrt(per_draw.size))
            gap, se = _paired_gap(crit_b[1], crit_b[k])
            points.append(Point(f"B: MP(k={k}) - MP(k=1), M=16 [{crit_b[k].mean():.3f} vs "
                                f"{crit_b[1].mean():.3f}]", mp_pred[k] - mp_pred[1], gap,
                                se=float(np.hypot(se_p, se)), control=0.0, n=n_b))
        lin_b = [_linear_matched(_block_alloc(k), *RELU_B[:3], n_lin, gen) for k in (1, 4)]
        lin_pred_b = [th.one_layer_verdict([16, 8, 1], 4, [("W1", i, j) for _, i, j in
                                                          _block_alloc(k)]).mp for k in (1, 4)]
        points.append(Point("linear network: MP(spread) - MP(concentrated), A and B",
                            (lin_pred_a[1] - lin_pred_a[0]) + (lin_pred_b[1] - lin_pred_b[0]),
                            (lin_a[1] - lin_a[0]) + (lin_b[1] - lin_b[0]), se=0.0,
                            control=gap_pred, n=4 * n_lin))
        # constructive sufficiency (B): every criterion-yes draw reproduced by a forward pass
        bad_construct = sum(int((_construct_b(S, X, y, k, crit_b[k]) >= MATCH_TOL).sum())
                            for k in RELU_B_KS)
        points.append(Point("B: criterion-yes draws whose explicit weights miss the teacher",
                            0, bad_construct, se=0.0, rule="le",
                            n=int(sum(c.sum() for c in crit_b.values()))))
        # independent solver on a subset: it may miss matches, it can never beat the criteria
        solver, beaten = {}, 0
        Sa, Xa, ya = _relu_draws(*RELU_A, n_solve, gen)
        for name, alloc, ok in zip(("row", "one"), (A_ROW, A_ONE), _criteria_a(Sa, Xa, ya)):
            res = num.solve_relu_lm(Sa, Xa, alloc, ya[:, None], starts=12, generator=gen).numpy()
            solver[f"A {name}"] = (res < LM_TOL, ok)
            beaten += int(((res < LM_TOL) & ~ok).sum())
        Sb, Xb, yb = _relu_draws(*RELU_B[:3], n_solve // 2, gen)
        crit_s = _criteria_b(Sb, Xb, yb)
        for k in (1, 4):
            res = num.solve_relu_lm(Sb, Xb, _block_alloc(k), yb[:, None], starts=12,
                                    generator=gen).numpy()
            r, u = _residual(Sb, Xb, yb, k), Sb["U"][:, 0, :k].numpy()
            sign = np.where(u[:, :1] > 0, 1.0, -1.0)
            floor = np.where(crit_s[k], 0.0, np.linalg.norm(np.minimum(sign * r, 0), axis=-1)
                             / torch.linalg.norm(yb, dim=-1).numpy())
            beaten += int((res < floor * (1 - 1e-6) - 1e-12).sum())
            solver[f"B k={k}"] = (res < LM_TOL, crit_s[k])
        points.append(Point("solver beats the criteria (match where none exists, or residual "
                            "below the exact minimum)", 0, beaten, se=0.0, rule="le",
                            n=3 * n_solve))
    found, true = (sum(int(v[i].sum()) for v in solver.values()) for i in (0, 1))
    rates = "; ".join(f"{lab}: solver {s.sum()}/{ok.sum()} of criterion matches"
                      for lab, (s, ok) in solver.items())
    rates += (f" (overall {found}/{true} = {found / max(true, 1):.2f}; the misses are optimizer "
              "misses: B's criterion matches are all rebuilt explicitly above)")
    fig = _relu_spread_figure(m_row, m_one, crit_b, mp_pred, lin_a, solver)
    return Measurement(points, n=2 * n_a + n_b + n_big, figures={"relu_spread_first_layer": fig},
                       notes=(
        "A: d_in = m = 4, N = 8, M = 4; exact criteria (row: all t > 0; one weight per neuron: "
        "cell enumeration) on two independent samples, one gives the prediction, the other the "
        "measurement (paired SEs combined). B: d_in = 16, N = 8, m = 4, M = 16 over k neurons; "
        "prediction 1 - 2^(1-k)(1 - p) with p = P(residual >= 0) from "
        f"{n_big} draws, measured by the sign-cone criterion on {n_b} fresh draws; every "
        "criterion-yes draw is reproduced by explicit weights (forward pass, relative residual "
        f"< {MATCH_TOL}). Controls: the linear network's rule (MP = 1 for every allocation "
        "here, gap 0) for A, 'spreading does not change MP' for B; the linear point's control is "
        "the ReLU gap. Solver (softplus homotopy + LM, 12 multi-scale starts) on "
        f"{n_solve} + {n_solve // 2} draws: {rates}; it never matches where a criterion says no "
        "and never goes below the exact minimal residual (distance to the reachable orthant)."))


def _relu_spread_figure(m_row, m_one, crit_b, mp_pred, lin_a, solver):
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.4))
    labels = ["whole row", "1 weight x 4 neurons"]
    vals = [num.binomial_estimate(v)[:2] for v in (m_row, m_one)]
    x = np.arange(2)
    ax1.bar(x - 0.2, [v[0] for v in vals], 0.35, yerr=[v[1] for v in vals], capsize=3,
            label="ReLU, exact criterion")
    ax1.bar(x + 0.2, lin_a, 0.35, label="linear, least squares")
    sol = [num.binomial_estimate(solver[f"A {a}"][0])[:2] for a in ("row", "one")]
    ax1.errorbar(x - 0.05, [v[0] for v in sol], yerr=[v[1] for v in sol], fmt="kx", capsize=3,
                 label="ReLU, solver on a subset (lower bound)")
    ax1.set_xticks(x, labels)
    ax1.set_ylim(0, 1.35)
    ax1.set_ylabel("match probability")
    ax1.set_title("M = 4 = m, d_in = 4, N = 8", fontsize=9)
    ax1.legend(fontsize=7, loc="upper left")
    ks = list(RELU_B_KS)
    est = [num.binomial_estimate(crit_b[k])[:2] for k in ks]
    ax2.errorbar(ks, [e[0] for e in est], yerr=[e[1] for e in est], fmt="o", capsize=3,
                 label="ReLU, exact criterion")
    ax2.plot(ks, [mp_pred[k] for k in ks], "--", label="1 - 2^(1-k)(1 - p)")
    sol = [num.binomial_estimate(solver[f"B k={k}"][0])[:2] for k in (1, 4)]
    ax2.errorbar([1.1, 4.1], [v[0] for v in sol], yerr=[v[1] for v in sol], fmt="kx", capsize=3,
                 label="solver on a subset (lower bound)")
    ax2.axhline(1.0, color="gray", lw=1, label="linear network")
    ax2.set_xticks(ks)
    ax2.set_xlabel("neurons k sharing M = 16 first-layer weights (m = 4, d_in = 16)")
    ax2.set_ylim(0, 1.05)
    ax2.legend(fontsize=7)
    return fig


from dltv.checks.claims import assert_result  # noqa: E402


def test_claim(claim_result):
    assert_result(claim_result)
