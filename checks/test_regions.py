"""Claims of the regions area: Milkert, Hyde & Laine (arXiv 2311.18022), counted exactly.

Every region count here is exact: network weights are converted to rationals and the
1-D partition is computed in Fractions (floats miscount this construction).
"""
from __future__ import annotations

import math
import random
from fractions import Fraction

import numpy as np
import sympy as sp
import torch

import dltv.numerics.estimators as est
import dltv.numerics.regions as nr
from dltv.numerics.threads import one_thread
import dltv.theory.regions as tr
from dltv.checks.claims import Measurement, Point, claim

_SRC = "Milkert, Hyde & Laine (arXiv 2311.18022)"


# --------------------------------------------------------------------------- helpers
def _q(v) -> Fraction:
    """A sympy Rational (or int/Fraction) as a Fraction."""
    if isinstance(v, sp.Basic):
        v = sp.Rational(v)
        return Fraction(int(v.p), int(v.q))
    return Fraction(v)


def _exact_point(label, prediction, measured, control=None, control_measured=None, n=None) -> Point:
    """A tol = 0 point; the float shown is nudged off the prediction if the rationals differ."""
    def show(meas, ref):
        f = float(meas)
        if meas != ref and f == float(ref):
            f = math.nextafter(f, math.inf)
        return f

    est = show(measured, prediction)
    c_est = None
    if control_measured is not None:
        c_est = show(control_measured, control if control is not None else prediction)
    return Point(label, prediction=float(prediction), estimate=est, tol=0.0,
                 control=None if control is None else float(control), control_estimate=c_est, n=n)


def _random_peaks(rnd: random.Random, n: int, den: int = 100) -> list[Fraction]:
    return [Fraction(rnd.randint(den // 10, den - den // 10), den) for _ in range(n)]




def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


# --------------------------------------------------------------------------- the 2^d count
@claim("regions.triangle.activation-regions", source=f"{_SRC}, abstract; derived: only the t2 neurons switch",
       statement="the width-4 depth-d triangle network has exactly 2^d activation regions on [0,1] "
                 "for every peak vector a in (0,1)^d and scales s > 0",
       seed=6001, stochastic=False, formula=lambda: sp.Eq(sp.Symbol("R_d"), 2 ** tr.d_sym))
def _activation_regions(ctx):
    rnd = random.Random(ctx.seed)
    net_depths = range(1, 15) if ctx.full else [*range(1, 13), 14]
    gen_depths = range(13, 21) if ctx.full else [16, 18, 20]
    points = []
    for d in net_depths:
        peaks = _random_peaks(rnd, d + 1) if d % 2 else [Fraction(rnd.uniform(0.1, 0.9)) for _ in range(d + 1)]
        if d % 3 == 0:   # scales from the differentiability law
            scales = [_q(s) for s in tr.law_scales(peaks, peaks[0] * peaks[1], d)]
        else:            # free positive scales
            scales = [Fraction(rnd.randint(1, 100), 100) for _ in range(d)]
        rc = nr.count_regions(nr.exact_triangle_layers(peaks[:d], scales, sign=-1, sign_in=1,
                                                       offset=sum(scales)))
        points.append(_exact_point(f"network d={d}", tr.region_count(d), rc.activation_regions,
                                   control=4 * d + 1))
    for d in gen_depths:
        peaks = _random_peaks(rnd, d)
        points.append(_exact_point(f"generator d={d}", tr.region_count(d), nr.triangle_region_count(peaks),
                                   control=4 * d + 1))
    return Measurement(points=points, n=len(points), notes=(
        "Exact rational counts. Odd d: peaks k/100; even d: peaks are random float64 values converted "
        "exactly. d divisible by 3: scales from the law, else random. Network output x - F_d with the "
        "offset sum(s) that keeps the 'sum' neuron positive. Control: #neurons + 1 = 4d + 1 "
        "(the linear-in-neurons count of random initialisation)."))


@claim("regions.triangle.breakpoints", source="derived: tent-splitting oracle (notes Sec. 1.2)",
       statement="the activation boundaries of the network equal, exactly, the breakpoints of "
                 "W_{d-1} = T_{a_{d-1}} o ... o T_{a_0} produced without any network",
       seed=6002, stochastic=False)
def _breakpoints(ctx):
    rnd = random.Random(ctx.seed)
    points = []
    for d in ([3, 6, 9, 12, 14] if ctx.full else [3, 6, 9, 11]):
        peaks = _random_peaks(rnd, d)
        scales = [Fraction(rnd.randint(1, 100), 100) for _ in range(d)]
        net_bp = set(nr.count_regions(nr.exact_triangle_layers(peaks, scales)).region_breakpoints)
        gen_bp = set(nr.triangle_breakpoints(peaks))
        uniform = {Fraction(j, 2 ** d) for j in range(1, 2 ** d)}
        points.append(_exact_point(f"d={d} |network xor generator|", 0, len(net_bp ^ gen_bp),
                                   control=0, control_measured=len(net_bp ^ uniform)))
    return Measurement(points=points, n=len(points), notes=(
        "Estimate: size of the symmetric difference of the two breakpoint sets. Control: the same "
        "count against the symmetric sawtooth's uniform grid j/2^d (right only for a = 1/2)."))


# --------------------------------------------------------------------------- the law
@claim("regions.law.exact", source=f"{_SRC}, Thm 3.1; derived kink and slope formulas (notes Sec. 1.5)",
       statement="under s_{i+1} = s_i(1-a_{i+1})a_{i+2}: F_d has exactly 2^d affine pieces, is strictly "
                 "concave, its kinks and F_d'(0+) follow the exact formulas; without the law a "
                 "constructed s cancels a kink",
       seed=6003, stochastic=False,
       formula=lambda: sp.Eq(sp.Symbol("s_{i+1}"), sp.Symbol("s_i") * (1 - sp.Symbol("a_{i+1}")) * sp.Symbol("a_{i+2}")))
def _law(ctx):
    rnd = random.Random(ctx.seed)
    points = []
    for d in (range(1, 11) if ctx.full else [1, 2, 3, 5, 8]):
        peaks = _random_peaks(rnd, d + 1)
        s0 = Fraction(rnd.randint(1, 100), 100)
        scales = [_q(s) for s in tr.law_scales(peaks, s0, d)]
        rc = nr.count_regions(nr.exact_triangle_layers(peaks[:d], scales, sign=1, sign_in=0))
        free = [Fraction(rnd.randint(1, 100), 100) for _ in range(d)]
        rc_free = nr.count_regions(nr.exact_triangle_layers(peaks[:d], free, sign=1, sign_in=0))
        slopes = [p[2][0] for p in rc.pieces]
        bad = lambda sl: sum(s1 >= s0_ for s0_, s1 in zip(sl[:-1], sl[1:]))
        points.append(_exact_point(f"d={d} pieces", tr.region_count(d), rc.affine_pieces,
                                   control=tr.max_regions_1d([4] * d)))
        if d >= 3:
            points.append(_exact_point(f"d={d} non-decreasing slope steps", 0, bad(slopes), control=0,
                                       control_measured=bad([p[2][0] for p in rc_free.pieces])))
        births = nr.triangle_breakpoint_births(peaks[:d])
        kinks = {p[0]: p[2][0] - prev[2][0] for prev, p in zip(rc.pieces[:-1], rc.pieces[1:])}
        wrong = naive = 0
        for p, (j, m) in births.items():
            k = kinks.get(p, Fraction(0))
            wrong += k != _q(tr.law_kink(peaks, s0, d, j, m))
            naive += k != -m * scales[j] / (peaks[j] * (1 - peaks[j]))
        points.append(_exact_point(f"d={d} kinks off the formula", 0, wrong, control=0, control_measured=naive))
        points.append(_exact_point(f"d={d} slope at 0", _q(tr.law_slope_at_zero(peaks, s0, d)), slopes[0],
                                   control=s0 / (peaks[0] * peaks[1])))
    for d in [2, 4, 6]:   # a degenerate (law-free) s: the kink at a_0 cancels
        peaks = _random_peaks(rnd, d)
        s = [_q(v) for v in tr.degenerate_scales(peaks, 1, [Fraction(1, 100 * 4 ** j) for j in range(d - 2)])]
        rc = nr.count_regions(nr.exact_triangle_layers(peaks, s, sign=1, sign_in=0))
        points.append(_exact_point(f"degenerate s d={d} regions", tr.region_count(d), rc.activation_regions,
                                   control=4 * d + 1))
        points.append(_exact_point(f"degenerate s d={d} pieces", tr.region_count(d) - 1, rc.affine_pieces,
                                   control=tr.region_count(d)))
    return Measurement(points=points, n=len(points), notes=(
        "Controls: pieces vs the width-4 maximum prod(n_l+1) = 5^d; concavity vs the same statistic "
        "for random free scales; kinks vs the born term alone, -m s_j/(a_j(1-a_j)) (without the "
        "telescoped factor prod(1-a_l)); slope at 0 vs its infinite-depth value s_0/(a_0 a_1); "
        "degenerate s: pieces vs the 2^d that the law guarantees."))


# --------------------------------------------------------------------------- sawtooth anchors
@claim("regions.sawtooth.telgarsky", source="Telgarsky 2016 (arXiv 1602.04485)",
       statement="the k-fold tent T_{1/2} network computes m^k(x) = 1 - |2 frac(2^{k-1}x) - 1| with "
                 "2^k pieces and 2^{k-1} teeth",
       seed=6004, stochastic=False,
       formula=lambda: 1 - sp.Abs(2 * sp.frac(2 ** (tr.k_sym - 1) * tr.x) - 1))
def _telgarsky(ctx):
    points = []
    for k in range(1, 9 if ctx.full else 7):
        rc = nr.count_regions(nr.sawtooth_layers(k))
        nodes = [Fraction(j, 2 ** (k + 1)) for j in range(2 ** (k + 1) + 1)]
        diff = max(abs(rc.value(t)[0] - _q(tr.telgarsky_sawtooth(k, t))) for t in nodes)
        diff_c = max(abs(rc.value(t)[0] - _q(tr.telgarsky_sawtooth(k + 1, t))) for t in nodes)
        slopes = [p[2][0] for p in rc.pieces]
        teeth = sum(s0 > 0 > s1 for s0, s1 in zip(slopes[:-1], slopes[1:]))
        points.append(_exact_point(f"k={k} pieces", 2 ** k, rc.affine_pieces, control=2 * k))
        points.append(_exact_point(f"k={k} teeth", 2 ** (k - 1), teeth, control=2 ** k))
        points.append(_exact_point(f"k={k} max |net - m^k| on the 2^-(k+1) grid", 0, diff, control=0,
                                   control_measured=diff_c))
    return Measurement(points=points, n=len(points), notes=(
        "Controls: pieces growing linearly (2k); 2^k teeth; closed form with frequency 2^k (m^{k+1})."))


@claim("regions.sawtooth.yarotsky", source="Yarotsky 2017 (Neural Networks 94), Prop. 2; constants derived",
       statement="with a = 1/2 and s_i = 4^{-(i+1)} (the law), x - F_d interpolates x^2 at k/2^d with sup "
                 "error 2^{-2d-2} and squared L2 error 2^{-4d}/30, exactly",
       seed=6005, stochastic=False,
       formula=lambda: {"sup": 2 ** (-2 * tr.d_sym - 2), "l2sq": 2 ** (-4 * tr.d_sym) / 30})
def _yarotsky(ctx):
    points = []
    for d in range(1, 11 if ctx.full else 8):
        half = Fraction(1, 2)
        scales = [Fraction(1, 4 ** (i + 1)) for i in range(d)]
        assert scales == [_q(s) for s in tr.law_scales([half] * (d + 1), scales[0], d)]
        K = sum(scales)
        rc = nr.count_regions(nr.exact_triangle_layers([half] * d, scales, sign=-1, sign_in=1, offset=K,
                                                       out_bias=-K))
        sup, l2 = Fraction(0), Fraction(0)
        for l, r, (al,), (be,) in rc.pieces:   # error e = x^2 - al x - be on [l, r]
            cands = [l, r] + ([al / 2] if l < al / 2 < r else [])
            sup = max(sup, *(abs(t * t - al * t - be) for t in cands))
            prim = lambda t: (t ** 5 / 5 - al * t ** 4 / 2 + (al * al - 2 * be) * t ** 3 / 3
                              + al * be * t * t + be * be * t)
            l2 += prim(r) - prim(l)
        nodes = max(abs(rc.value(Fraction(j, 2 ** d))[0] - Fraction(j, 2 ** d) ** 2) for j in range(2 ** d + 1))
        e = tr.yarotsky_errors(d)
        points.append(_exact_point(f"d={d} sup error", _q(e["sup"]), sup, control=Fraction(1, 4 ** d)))
        points.append(_exact_point(f"d={d} squared L2 error", _q(e["l2sq"]), l2,
                                   control=Fraction(1, 16 ** d * 16)))
        points.append(_exact_point(f"d={d} max |f - x^2| at nodes", 0, nodes, control=_q(e["sup"])))
    return Measurement(points=points, n=len(points), notes=(
        "Errors integrated exactly over the network's affine pieces. Controls: sup error 2^{-2d} (h^2 "
        "instead of h^2/4); squared L2 error sup^2 = 2^{-4d}/16; node error equal to the sup error."))


# --------------------------------------------------------------------------- training keeps 2^d
@claim("regions.training.keeps-regions", source=f"{_SRC}, Sec. 3-4 (regions maintained during training)",
       statement="training the peaks and scales (Adam, target x^3 on [0,1]) keeps exactly 2^d activation "
                 "regions at every checkpoint; under the law also 2^d affine pieces",
       seed=6006, stochastic=False)
def _training(ctx):
    d, steps, every = (8, 1000, 100) if ctx.full else (6, 300, 100)
    x = torch.linspace(0, 1, 500, dtype=nr.DTYPE)
    y = x ** 3
    points, notes = [], []
    with one_thread():
        for law in (True, False):
            net = nr.TriangleNet(d, batch=1, law=law, generator=ctx.generator())
            net.fit_output_(x, y)
            tag = "law" if law else "free s"

            def check(step):
                rc = nr.count_regions(net.exact_layers(0))
                points.append(_exact_point(f"{tag} step {step} regions", 2 ** d, rc.activation_regions,
                                           control=4 * d + 1))
                if law:
                    points.append(_exact_point(f"{tag} step {step} pieces", 2 ** d, rc.affine_pieces,
                                               control=4 * d + 1))

            loss = lambda: ((net(x) - y) ** 2).mean()
            losses = nr.train_adam(list(net.parameters()), loss, steps, 1e-2, every, check)
            notes.append(f"{tag}: MSE {losses[0]:.3g} -> {float(loss().detach()):.3g}")
            if law:   # release the constraint: train the raw 4x4 matrices
                P = [(W.clone().requires_grad_(), b.clone().requires_grad_()) for W, b in net.to_mlp_params()]
                raw = []
                nr.train_adam([t for wb in P for t in wb], lambda: ((nr.mlp_forward(P, x) - y) ** 2).mean(),
                              steps, 1e-3, every,
                              lambda s: raw.append((s, nr.count_regions(nr.member_layers(P, 0)).activation_regions)))
                notes.append("raw-weight training after release (exact count of the float64 matrices "
                             "as stored), (step, regions): " + ", ".join(f"({s}, {r})" for s, r in raw))
    return Measurement(points=points, n=len(points), notes=(
        f"d = {d}; counts of the network rebuilt exactly from the current float64 (a, s); control "
        f"4d + 1. " + "; ".join(notes)))


# --------------------------------------------------------------------------- default initialisation
def _mean_count(widths, init, n_nets, gen, measure="pieces"):
    params = nr.init_mlp(widths, batch=n_nets, init=init, generator=gen)
    counts = []
    for m in range(n_nets):
        rc = nr.count_regions(nr.member_layers(params, m))
        counts.append(rc.affine_pieces if measure == "pieces" else rc.activation_regions)
    c = np.asarray(counts, float)
    return c.mean(), c.std(ddof=1) / math.sqrt(len(c)), len(c)


@claim("regions.init.one-layer", source="derived: -b/w is the breakpoint; U(-1,1) and Cauchy laws",
       statement="one hidden layer of n neurons: E[pieces on [0,1]] = 1 + n/4 under PyTorch's default init "
                 "and 1 + n arctan(sigma_w/sigma_b)/pi under Gaussian init",
       seed=6007, stochastic=True, formula=lambda: 1 + tr.n_sym / 4)
def _one_layer(ctx):
    gen = ctx.generator()
    n_nets = 3000 if ctx.full else 1000
    points = []
    for n in (4, 16):
        m, se, N = _mean_count([1, n, 1], "default", n_nets, gen)
        points.append(Point(f"default n={n}", prediction=float(tr.one_layer_uniform_pieces(n)["mean"]),
                            estimate=m, se=se, control=1 + n, n=N))
    m, se, N = _mean_count([1, 16, 1], "he", n_nets, gen)
    pred = tr.one_layer_gaussian_pieces(16, 2, sp.Rational(1, 10))["mean"]
    points.append(Point("He N(0,2) weights, N(0,0.1) biases n=16", prediction=float(pred), estimate=m, se=se,
                        control=float(tr.one_layer_uniform_pieces(16)["mean"]), n=N))
    return Measurement(points=points, n=3 * n_nets, notes=(
        "Exact counts of affine pieces per network; SE from the spread over networks. Controls: 1 + n "
        "(every neuron contributes a kink, true on the whole line) and, for the Gaussian case, the "
        "uniform-init value 1 + n/4."))


@claim("regions.init.few-regions", source="Hanin & Rolnick 2019 (arXiv 1901.09021, 1906.00904)",
       statement="default (PyTorch) and He initialisations give on average at most #neurons + 1 regions on "
                 "[0,1] at every depth - far below the 2^d of the triangle network of the same shape",
       seed=6008, stochastic=True, formula=lambda: sp.Symbol("N") + 1)
def _few_regions(ctx):
    gen = ctx.generator()
    n_nets = 400 if ctx.full else 150
    depths = [1, 2, 4, 6, 8, 10] if ctx.full else [1, 2, 4, 6, 8]
    points, curves = [], {}
    for init in ("default", "he"):
        for d in depths:
            m, se, N = _mean_count([1] + [4] * d + [1], init, n_nets, gen, "regions")
            curves.setdefault(init, []).append((d, m, se))
            bound = float(tr.hanin_rolnick_bound(4 * d))
            points.append(Point(f"{init} width 4 depth {d}", prediction=bound, estimate=m, se=se, rule="le",
                                control=bound, control_estimate=float(2 ** d), n=N))
    for L in (1, 2, 4, 8):   # fixed budget of 16 neurons
        m, se, N = _mean_count([1] + [16 // L] * L + [1], "default", n_nets, gen, "regions")
        curves.setdefault("default, 16 neurons", []).append((L, m, se))
        points.append(Point(f"default 16 neurons depth {L}", prediction=17.0, estimate=m, se=se, rule="le",
                            control=17.0, control_estimate=float(2 ** L), n=N))
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4))
    dd = np.arange(1, max(depths) + 1)
    ax.semilogy(dd, 2.0 ** dd, "k-", label="triangle net: 2^d (exact)")
    ax.semilogy(dd, 4 * dd + 1, "k:", label="#neurons + 1")
    for name, rows in curves.items():
        r = np.asarray(rows)
        ax.errorbar(r[:, 0], r[:, 1], yerr=r[:, 2], marker="o", capsize=3, label=f"{name} (mean ± SE)")
    ax.set_xlabel("depth d (hidden layers)")
    ax.set_ylabel("activation regions on [0,1]")
    ax.set_title("Regions vs depth: triangle construction vs random initialisation")
    ax.legend(fontsize=8)
    return Measurement(points=points, n=n_nets * len(points), figures={"regions_vs_depth": fig}, notes=(
        "He: weights N(0, 2/fan_in), biases N(0, 0.1). Rule: mean <= #neurons + 1 (Hanin-Rolnick "
        "linear-in-neurons scaling, with the one-layer whole-line constant). Control: the same bound "
        "applied to the exact count 2^d of the triangle network of that depth (rejected once 2^d "
        "exceeds it). Means: " + "; ".join(f"{k}: " + ", ".join(f"d={int(a)} {b:.2f}±{c:.2f}" for a, b, c in v)
                                          for k, v in curves.items())))


@claim("regions.init.zero-bias", source="derived: a bias-free ReLU net is positively homogeneous",
       statement="He initialisation with zero biases gives exactly one activation region on [0,1] at any depth",
       seed=6009, stochastic=False, formula=lambda: sp.Eq(sp.Symbol("R"), 1))
def _zero_bias(ctx):
    gen = ctx.generator()
    n_nets = 100 if ctx.full else 30
    points = []
    for d in (1, 3, 6, 10):
        params = nr.init_mlp([1] + [4] * d + [1], batch=n_nets, init="he-zero-bias", generator=gen)
        biased = [(W, torch.randn(b.shape, generator=gen, dtype=nr.DTYPE) * math.sqrt(0.1)) for W, b in params]
        worst = max(nr.count_regions(nr.member_layers(params, m)).activation_regions for m in range(n_nets))
        worst_b = max(nr.count_regions(nr.member_layers(biased, m)).activation_regions for m in range(n_nets))
        points.append(_exact_point(f"depth {d}: max regions over {n_nets} nets", tr.zero_bias_regions(), worst,
                                   control=1, control_measured=worst_b))
    return Measurement(points=points, n=4 * n_nets, notes=(
        "Control: the same prediction (one region) for the same weights with N(0, 0.1) biases added."))


# --------------------------------------------------------------------------- approximation
_MIN_FACTOR = {3: 10, 11: 5}     # asserted dense/triangle ratio of the minimum MSE over seeds (see notes)


@claim("regions.approximation.triangle-vs-dense", source=f"{_SRC}, Tables 1-2 (x^3, x^11, 500 points)",
       statement="fitting x^3 and x^11 on [0,1], the triangle network (pretrained in (a, s) under the law, then "
                 "trained as a plain net) reaches a mean MSE over seeds >= 10x below a default-initialised dense "
                 "network of the same shape trained the same way, and a minimum >= 10x below for x^3 (>= 5x for "
                 "x^11: the paper's 10x holds there in about 4 of 5 ten-seed experiments)",
       seed=6010, stochastic=False)
def _approximation(ctx):
    d = 5
    B, pre, raw, n_starts = (40, 400, 6000, 40) if ctx.full else (10, 400, 6000, 5)
    gen = ctx.generator()
    points, notes, fits, runs = [], [], {}, {}
    x = torch.linspace(0, 1, 500, dtype=nr.DTYPE)
    with one_thread():
        for p in (3, 11):
            y = x ** p
            params, pre_mse = nr.train_triangle_and_dense(x, y, d, batch=B, pre=pre, raw=raw, generator=gen)
            with torch.no_grad():
                out = nr.mlp_forward(params, x)
            mse = ((out - y) ** 2).mean(1).numpy()
            tri, dense = mse[:B], mse[B:]
            xs, ys = x.numpy(), y.numpy()
            best = int(np.argmin(tri))
            counts = [nr.count_regions(nr.member_layers(params, m)) for m in range(2 * B)]
            knots = np.array([float(k) for k in counts[best].kinks])
            # knots equidistributed in |f''|^(2/5) ~ x^(2(p-2)/5): the asymptotically optimal placement
            fk, _ = nr.free_knot_fit(xs, ys, 2 ** d, starts=[(np.arange(1, 2 ** d) / 2 ** d) ** (5 / (2 * p + 1))],
                                     uniform=False, maxiter=400 if ctx.full else 100)
            fk = min(fk, float(tri.min()))
            fam, _ = nr.triangle_family_fit(xs, ys, d, starts=list(ctx.rng.uniform(0.05, 0.95, (n_starts, d))))
            for stat, factor in (("mean", 10), ("min", _MIN_FACTOR[p])):
                t, dn = getattr(tri, stat)(), getattr(dense, stat)()
                points.append(Point(f"x^{p} {stat} MSE: triangle <= dense/{factor}", prediction=float(dn) / factor,
                                    estimate=float(t), tol=0.0, rule="le", control=fk, n=B))
            pieces = [rc.affine_pieces for rc in counts]
            notes.append(f"x^{p}: triangle min {tri.min():.3g} mean {tri.mean():.3g}; dense min {dense.min():.3g} "
                         f"mean {dense.mean():.3g} (ratios dense/triangle: min {dense.min() / tri.min():.3g}, mean "
                         f"{dense.mean() / tri.mean():.3g}); mean affine pieces on [0,1] after training: triangle "
                         f"{np.mean(pieces[:B]):.1f} of {2 ** d}, dense {np.mean(pieces[B:]):.1f}; after (a, s) "
                         f"pretraining min {pre_mse.min():.3g}, best fit by span(1, x, W_0..W_{d - 1}) over all "
                         f"peaks {fam:.3g}; best free-knot fit with {2 ** d} pieces {fk:.3g}")
            if B > 10:
                odds = [(f, est.best_of_k_beats(tri, dense, 10, f)) for f in (3, 5, 10, 30)]
                notes.append(f"x^{p}, from these {B} + {B} runs: P(best of 10 triangle seeds >= f x better than best "
                             "of 10 dense seeds) = " + ", ".join(f"{e.mean:.2f} +- {e.se:.2f} (f = {f})" for f, e in odds))
            fits[p] = (xs, ys, out[best].numpy(), out[B + int(np.argmin(dense))].numpy(), knots)
            runs[p] = (tri, dense, fam, fk)
    return Measurement(points=points, n=4 * B, figures=_approximation_figures(d, fits, runs), notes=(
        f"{B} seeds per network and target, d = {d}, 500 points. Triangle: {pre} Adam steps (lr 1e-2) on the "
        f"peaks, s_0 and the output affine map with the scales tied by the law; dense: PyTorch default init, "
        f"{pre} Adam steps (lr 1e-2) on its weights; then both {raw} Adam steps on the raw matrices (lr 3e-3, "
        "cosine decay to 0). (a, s) pretraining cannot beat the fit by span(1, x, W_0..W_{d-1}): every neuron "
        "of the construction lies in that span on [0,1], so free scales, per-layer read-outs or a learned "
        "output map give nothing more; the gain comes from the raw-weight phase, which removes regions as "
        "well as moving them. Why 5x for the x^11 minimum: the tent cascade splits every piece's knots evenly "
        "between its children, so it cannot concentrate knots near 1 as x^11 needs (span ceiling ~2e-4); after "
        "raw training the best triangle seed lands near 5e-7 (the paper: 8.9e-7), while the best of 10 dense "
        "seeds is a lower-tail event between ~5e-6 and ~4e-5. Pooling 120 + 120 runs of this protocol (three "
        "seed groups of 40), the best of 10 triangle seeds beats the best of 10 dense seeds for x^11 by >= 10x "
        "with probability 0.82 +- 0.09, by >= 5x with 0.99 +- 0.01, by >= 3x with 1.00; for x^3 by >= 10x "
        "with 0.96 +- 0.04 (30x: 0.83 +- 0.09). Asserted: the paper's 10x where it holds in >= 95% of ten-seed "
        "experiments, else the largest of 5x, 3x that does; --full recomputes these odds from its own runs. "
        "Training is chaotic: the same seed twice in one process differs in the last bits of float64 sums "
        "(torch's vectorised CPU kernels are not bitwise reproducible), and that grows into O(10%) differences "
        "of single runs, so the asserted factors are ones the whole distribution supports, not one seed. "
        "Control: the best continuous 2^d-piece fit found by free-knot least squares (a capacity lower bound; "
        "'training reaches it' is rejected). "
        + "; ".join(notes)))


def _approximation_figures(d, fits, runs):
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, (p, (x, y, ft, fd, knots)) in zip(axes, fits.items()):
        ax.plot(x, y, "k-", lw=3, alpha=.3, label=f"x^{p}")
        ax.plot(x, ft, "C0-", label="triangle net (best seed)")
        ax.plot(x, fd, "C1--", label="dense net (best seed)")
        ax.plot(knots, knots ** p, "C0|", ms=10, label="breakpoints")
        ax.set_title(f"fit of x^{p} with depth {d}, width 4")
        ax.legend(fontsize=8)
    dist, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, (p, (tri, dense, fam, fk)) in zip(axes, runs.items()):
        for mse, style, label in ((tri, "C0o-", "triangle net"), (dense, "C1s-", "dense net")):
            ax.plot(np.sort(mse), np.arange(1, mse.size + 1) / mse.size, style, ms=3, label=label)
        ax.axvline(fam, color="C2", ls=":", label="(a, s) ceiling: span fit")
        ax.axvline(fk, color="k", ls="--", label=f"best {2 ** d}-piece fit")
        ax.set_xscale("log")
        ax.set(xlabel="final MSE", ylabel="fraction of seeds", title=f"x^{p}: MSE over {tri.size} seeds each")
        ax.legend(fontsize=8)
    return {"fitted_functions": fig, "approximation_mse": dist}


from dltv.checks.claims import assert_result  # noqa: E402


def test_claim(claim_result):
    assert_result(claim_result)
