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
from dltv.numerics.planar import planar_partition
from dltv.numerics.threads import one_thread
import dltv.theory.regions as tr
from dltv.checks.claims import Measurement, Point, claim
from dltv.theory.formulas import get_formula

_SRC = "Milkert, Hyde & Laine (arXiv 2311.18022)"


# --------------------------------------------------------------------------- helpers
def _q(v) -> Fraction:
    """A sympy Rational (or int/Fraction) as a Fraction."""
    if isinstance(v, sp.Basic):
        v = sp.Rational(v)
        return Fraction(int(v.p), int(v.q))
    return Fraction(v)


def _f(id: str, **params):
    """Registered formula ``id`` evaluated through the registry (recorded as the claim's source)."""
    return get_formula(id).evaluate(**params)


def _widths(hidden) -> str:
    """widths d_0, ..., d_{L+1} of a scalar net with the given hidden widths and one output."""
    return ",".join(map(str, [1, *hidden, 1]))


def _exact_point(label, prediction, measured, control, control_measured=None, n=None) -> Point:
    """A tol = 0 point; the float shown is nudged off the prediction if the rationals differ."""
    def show(meas, ref):
        f = float(meas)
        if meas != ref and f == float(ref):
            f = math.nextafter(f, math.inf)
        return f

    c_est = None if control_measured is None else show(control_measured, control)
    return Point(label, prediction=float(prediction), estimate=show(measured, prediction), tol=0.0,
                 control=float(control), control_estimate=c_est, n=n)


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
       seed=6001, stochastic=False, formula=lambda: sp.Eq(sp.Symbol("R_d"), 2 ** tr.d_sym),
       predicted="2^d regions, every a, s",
       measured="exact count of the network's rational weights, d = 1..14 (--full: 20)")
def _activation_regions(ctx):
    rnd = random.Random(ctx.seed)
    net_depths = range(1, 21) if ctx.full else [*range(1, 13), 14]
    points = []
    for d in net_depths:
        peaks = _random_peaks(rnd, d + 1) if d % 2 else [Fraction(rnd.uniform(0.1, 0.9)) for _ in range(d + 1)]
        if d % 3 == 0:   # scales from the differentiability law
            law = _f("regions.law.scales", peaks=peaks, s0=peaks[0] * peaks[1], depth=d)
            scales = [_q(law[f"s{i}"]) for i in range(d)]
        else:            # free positive scales
            scales = [Fraction(rnd.randint(1, 100), 100) for _ in range(d)]
        rc = nr.count_regions(nr.exact_triangle_layers(peaks[:d], scales, sign=-1, sign_in=1,
                                                       offset=sum(scales)))
        count = _f("regions.triangle.count", depth=d)
        points.append(_exact_point(f"network d={d}", count, rc.activation_regions, control=count - 1))
    return Measurement(points=points, n=len(points), notes=(
        "Every count is of the network itself: its weight matrices in exact rationals, partitioned by the "
        "integer-arithmetic counter: d = 1..12 and 14 in the default run, d = 1..20 under --full (about 4 min "
        "of CPU, most of it d = 20). Odd d: peaks k/100; even d: peaks are random float64 values converted exactly. d "
        "divisible by 3: scales from the law, else random. Network output x - F_d with the offset sum(s) "
        "that keeps the 'sum' neuron positive. Control: 2^d - 1, the number of switching points taken for "
        "the number of regions."))


@claim("regions.triangle.breakpoints", source="derived: tent-splitting oracle (notes Sec. 1.2)",
       statement="the activation boundaries of the network equal, exactly, the breakpoints of "
                 "W_{d-1} = T_{a_{d-1}} o ... o T_{a_0} produced without any network",
       seed=6002, stochastic=False, predicted="boundaries = breakpoints of W_{d-1}",
       measured="network boundaries vs tent-splitting oracle, exact")
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
def _index_slip_kink(peaks, scales, j, m, d):
    """The law's kink with the product started one level early, prod_{l=j+1}^{d} (1 - a_l)."""
    return -m * scales[j] / (peaks[j] * (1 - peaks[j])) * math.prod([1 - peaks[l] for l in range(j + 1, d + 1)])


@claim("regions.law.exact", source=f"{_SRC}, Thm 3.1; derived kink and slope formulas (notes Sec. 1.5)",
       statement="under s_{i+1} = s_i(1-a_{i+1})a_{i+2}: F_d has exactly 2^d affine pieces, is strictly "
                 "concave, its kinks and F_d'(0+) follow the exact formulas; without the law a "
                 "constructed s cancels a kink",
       seed=6003, stochastic=False,
       formula=lambda: sp.Eq(sp.Symbol("s_{i+1}"), sp.Symbol("s_i") * (1 - sp.Symbol("a_{i+1}")) * sp.Symbol("a_{i+2}")),
       predicted="2^d pieces, concave, exact kinks and F'(0+)",
       measured="exact pieces of the network under the law, d = 1..8")
def _law(ctx):
    rnd = random.Random(ctx.seed)
    points = []
    for d in (range(1, 11) if ctx.full else [1, 2, 3, 5, 8]):
        peaks = _random_peaks(rnd, d + 1)
        s0 = Fraction(rnd.randint(1, 100), 100)
        law = _f("regions.law.scales", peaks=peaks, s0=s0, depth=d)
        scales = [_q(law[f"s{i}"]) for i in range(d)]
        rc = nr.count_regions(nr.exact_triangle_layers(peaks[:d], scales, sign=1, sign_in=0))
        free = [Fraction(rnd.randint(1, 100), 100) for _ in range(d)]
        rc_free = nr.count_regions(nr.exact_triangle_layers(peaks[:d], free, sign=1, sign_in=0))
        slopes = [p[2][0] for p in rc.pieces]
        bad = lambda sl: sum(s1 >= s0_ for s0_, s1 in zip(sl[:-1], sl[1:]))
        points.append(_exact_point(f"d={d} pieces", _f("regions.triangle.count", depth=d), rc.affine_pieces,
                                   control=_f("regions.max-regions-1d", widths=_widths([4] * d))))
        if d >= 3:
            points.append(_exact_point(f"d={d} non-decreasing slope steps", 0, bad(slopes), control=0,
                                       control_measured=bad([p[2][0] for p in rc_free.pieces])))
        births = nr.triangle_breakpoint_births(peaks[:d])
        kinks = {p[0]: p[2][0] - prev[2][0] for prev, p in zip(rc.pieces[:-1], rc.pieces[1:])}
        wrong = slip = 0
        for p, (j, m) in births.items():
            k = kinks.get(p, Fraction(0))
            wrong += k != _q(_f("regions.law.kink", peaks=peaks, s0=s0, depth=d, level=j, slope=m))
            slip += k != _index_slip_kink(peaks, scales, j, m, d)
        points.append(_exact_point(f"d={d} kinks off the formula", 0, wrong, control=0, control_measured=slip))
        points.append(_exact_point(f"d={d} slope at 0", _q(_f("regions.law.slope-at-zero", peaks=peaks, s0=s0, depth=d)),
                                   slopes[0], control=s0 / (peaks[0] * peaks[1])))
    for d in [2, 4, 6]:   # a degenerate (law-free) s: the kink at a_0 cancels
        peaks = _random_peaks(rnd, d)
        s = [_q(v) for v in tr.degenerate_scales(peaks, 1, [Fraction(1, 100 * 4 ** j) for j in range(d - 2)])]
        rc = nr.count_regions(nr.exact_triangle_layers(peaks, s, sign=1, sign_in=0))
        count = _f("regions.triangle.count", depth=d)
        points.append(_exact_point(f"degenerate s d={d} regions", count, rc.activation_regions, control=count - 1))
        points.append(_exact_point(f"degenerate s d={d} pieces", count - 1, rc.affine_pieces, control=count))
    return Measurement(points=points, n=len(points), notes=(
        "Controls: pieces vs the width-4 maximum prod(n_l+1) = 5^d; concavity vs the same statistic "
        "for random free scales; kinks vs the index slip prod_{l=j+1}^{d}(1-a_l) (one factor too many); "
        "slope at 0 vs its infinite-depth value s_0/(a_0 a_1); degenerate s: regions vs the 2^d - 1 pieces "
        "(a cancelled kink does not merge activation regions), pieces vs the 2^d that the law guarantees."))


# --------------------------------------------------------------------------- sawtooth anchors
@claim("regions.sawtooth.telgarsky", source="Telgarsky 2016 (arXiv 1602.04485)",
       statement="the k-fold tent T_{1/2} network computes m^k(x) = 1 - |2 frac(2^{k-1}x) - 1| with "
                 "2^k pieces and 2^{k-1} teeth",
       seed=6004, stochastic=False,
       formula=lambda: 1 - sp.Abs(2 * sp.frac(2 ** (tr.k_sym - 1) * tr.x) - 1),
       predicted="m^k closed form, 2^k pieces, 2^(k-1) teeth; n+1 at L=1",
       measured="exact pieces of the width-2 net, k = 1..6; random one-layer nets")
def _telgarsky(ctx):
    points = []
    for k in range(1, 9 if ctx.full else 7):
        rc = nr.count_regions(nr.sawtooth_layers(k))
        nodes = [Fraction(j, 2 ** (k + 1)) for j in range(2 ** (k + 1) + 1)]
        saw = lambda kk, t: _q(_f("regions.telgarsky.sawtooth", k=kk, x=t))
        diff = max(abs(rc.value(t)[0] - saw(k, t)) for t in nodes)
        diff_c = max(abs(rc.value(t)[0] - saw(k + 1, t)) for t in nodes)
        slopes = [p[2][0] for p in rc.pieces]
        teeth = sum(s0 > 0 > s1 for s0, s1 in zip(slopes[:-1], slopes[1:]))
        points.append(_exact_point(f"k={k} pieces", _f("regions.triangle.count", depth=k), rc.affine_pieces,
                                   control=_f("regions.max-regions-1d", widths=_widths([2] * k))))
        points.append(_exact_point(f"k={k} teeth", 2 ** (k - 1), teeth, control=2 ** k))
        points.append(_exact_point(f"k={k} max |net - m^k| on the 2^-(k+1) grid", 0, diff, control=0,
                                   control_measured=diff_c))
    gen = ctx.generator()
    for n in (2, 4, 8):   # one hidden layer: Serra's bound n + 1 is attained on an interval holding every kink
        (W, b), (V, c) = nr.init_mlp([1, n, 1], init="he", generator=gen)
        kinks = (-b[0] / W[0, :, 0]).numpy()
        rc = nr.count_regions([(W[0], b[0]), (V[0], c[0])], math.floor(kinks.min()) - 1, math.ceil(kinks.max()) + 1)
        points.append(_exact_point(f"one hidden layer n={n}, every kink inside: regions",
                                   _f("regions.max-regions-1d", widths=_widths([n])), rc.activation_regions,
                                   control=2 * n))
    return Measurement(points=points, n=len(points), notes=(
        "Controls: pieces = the width-2 maximum prod(n_l+1) = 3^k (Serra et al.); 2^k teeth (one per "
        "piece); closed form with frequency 2^k (m^{k+1}). One hidden layer of a random He net on an "
        "interval containing all n kinks attains Serra's prod(n_l + 1) = n + 1 exactly; control: "
        "Telgarsky's (2m)^l = 2n."))


@claim("regions.sawtooth.yarotsky", source="Yarotsky 2017 (Neural Networks 94), Prop. 2; constants derived",
       statement="with a = 1/2 and s_i = 4^{-(i+1)} (the law), x - F_d interpolates x^2 at k/2^d with sup "
                 "error 2^{-2d-2} and squared L2 error 2^{-4d}/30, exactly",
       seed=6005, stochastic=False,
       formula=lambda: {"sup": 2 ** (-2 * tr.d_sym - 2), "l2sq": 2 ** (-4 * tr.d_sym) / 30},
       predicted="sup 2^(-2d-2), L2^2 2^(-4d)/30", measured="errors integrated exactly over the net's pieces, d = 1..7")
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
        e = _f("regions.yarotsky.errors", depth=d)
        points.append(_exact_point(f"d={d} sup error", _q(e["sup"]), sup, control=Fraction(1, 4 ** d)))
        points.append(_exact_point(f"d={d} squared L2 error", _q(e["l2sq"]), l2,
                                   control=Fraction(1, 16 ** d * 16)))
        points.append(_exact_point(f"d={d} max |f - x^2| at nodes", 0, nodes, control=_q(e["sup"])))
    return Measurement(points=points, n=len(points), notes=(
        "Errors integrated exactly over the network's affine pieces. Controls: sup error 2^{-2d} (h^2 "
        "instead of h^2/4); squared L2 error sup^2 = 2^{-4d}/16; node error equal to the sup error."))


# --------------------------------------------------------------------------- training keeps 2^d
_MIN_LENGTH = Fraction(1, 10 ** 12)    # regions shorter than this are float64 rounding slivers (~1e-17)


def _float_points(tag, layers, d, points):
    """Points on the stored float64 matrices: 2^d regions and pieces of length >= _MIN_LENGTH."""
    rc = nr.count_regions(layers, min_length=_MIN_LENGTH)
    count = _f("regions.triangle.count", depth=d)
    points.append(_exact_point(f"{tag}: regions >= 1e-12 long", count, rc.long_regions, control=count - 1))
    points.append(_exact_point(f"{tag}: affine pieces >= 1e-12 long", count, rc.long_pieces, control=count - 1))
    return rc


def _serra_point(tag, d, total, points):
    """All regions of the float matrices (max over checkpoints) <= prod(n_l + 1); control: <= 2^d."""
    bound = _f("regions.max-regions-1d", widths=_widths([4] * d))
    points.append(Point(f"{tag}: all regions <= prod(n_l + 1)", prediction=float(bound), estimate=total, tol=0.0,
                        rule="le", control=float(_f("regions.triangle.count", depth=d))))


@claim("regions.training.keeps-regions", source=f"{_SRC}, Sec. 3-4 (regions maintained during training)",
       statement="training the peaks and scales (Adam, target x^3 on [0,1]) keeps exactly 2^d activation "
                 "regions of non-negligible length at every checkpoint (and 2^d affine pieces); the float64 "
                 "weight matrices have more, all extra ones rounding slivers",
       seed=6006, stochastic=False, predicted="2^d regions >= 1e-12 long; float64 ones > 2^d",
       measured="exact count of the trained float64 weight matrices, d = 6 (and d = 12 at init)")
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
            totals = []

            def check(step):
                with torch.no_grad():
                    layers = net.layers(0)
                rc = _float_points(f"{tag} step {step}", layers, d, points)
                totals.append((step, rc.activation_regions))

            loss = lambda: ((net(x) - y) ** 2).mean()
            losses = nr.train_adam(list(net.parameters()), loss, steps, 1e-2, every, check)
            _serra_point(f"{tag}, most over the checkpoints", d, max(r for _, r in totals), points)
            notes.append(f"{tag}: MSE {losses[0]:.3g} -> {float(loss().detach()):.3g}; all regions of the float64 "
                         "matrices (step, count): " + ", ".join(f"({s}, {r})" for s, r in totals))
            if law:   # release the constraint: train the raw 4x4 matrices
                P = [(W.clone().requires_grad_(), b.clone().requires_grad_()) for W, b in net.to_mlp_params()]
                raw = []

                def raw_check(s):
                    rc = nr.count_regions(nr.member_layers(P, 0), min_length=_MIN_LENGTH)
                    raw.append((s, rc.activation_regions, rc.long_regions))

                nr.train_adam([t for wb in P for t in wb], lambda: ((nr.mlp_forward(P, x) - y) ** 2).mean(),
                              steps, 1e-3, every, raw_check)
                notes.append("raw-weight training after release, (step, all regions, regions >= 1e-12 long): "
                             + ", ".join(f"({s}, {r}, {q})" for s, r, q in raw))
        d_big = 14 if ctx.full else 12
        big = nr.TriangleNet(d_big, batch=1, law=True, generator=ctx.generator())
        with torch.no_grad():
            rc = _float_points(f"law d={d_big} at init", big.layers(0), d_big, points)
        _serra_point(f"law d={d_big} at init", d_big, rc.activation_regions, points)
        notes.append(f"d = {d_big} at init: {rc.activation_regions} regions in all, {rc.long_regions} >= 1e-12 long")
    return Measurement(points=points, n=len(points), notes=(
        f"d = {d}; every count is of the float64 weight matrices the trained TriangleNet evaluates (built in "
        "float64 from the current a, s), converted exactly. Those matrices have more than 2^d regions: rounding "
        "splits some boundaries into pairs ~1e-17 apart (the genuine regions are >= a_0 a_1 ... >= 0.25^d long), so "
        "2^d is asserted for the regions and pieces at least 1e-12 long (control: 2^d - 1, the switching points "
        "taken for regions). That the float network has more is asserted per run as 'most regions over the "
        "checkpoints <= prod(n_l + 1)' (Serra et al.) with the control '<= 2^d' (the construction's count believed "
        "to hold for the stored floats) rejected; a single checkpoint can happen to have no sliver. "
        + "; ".join(notes)))


# --------------------------------------------------------------------------- default initialisation
def _counts(widths, init, n_nets, gen, measure="regions"):
    params = nr.init_mlp(widths, batch=n_nets, init=init, generator=gen)
    counts = []
    for m in range(n_nets):
        rc = nr.count_regions(nr.member_layers(params, m))
        counts.append(rc.affine_pieces if measure == "pieces" else rc.activation_regions)
    return np.asarray(counts, float)


def _mean_count(widths, init, n_nets, gen, measure="pieces"):
    c = _counts(widths, init, n_nets, gen, measure)
    return c.mean(), c.std(ddof=1) / math.sqrt(len(c)), len(c)


@claim("regions.init.one-layer", source="derived: -b/w is the breakpoint; U(-1,1) and Cauchy laws",
       statement="one hidden layer of n neurons: E[pieces on [0,1]] = 1 + n/4 under PyTorch's default init "
                 "and 1 + n arctan(sigma_w/sigma_b)/pi under Gaussian init",
       seed=6007, stochastic=True, formula=lambda: 1 + tr.n_sym / 4,
       predicted="1 + n/4 (uniform), 1 + n atan(sw/sb)/pi", measured="mean exact pieces over 1000 random nets")
def _one_layer(ctx):
    gen = ctx.generator()
    n_nets = 3000 if ctx.full else 1000
    points = []
    for n in (4, 16):
        m, se, N = _mean_count([1, n, 1], "default", n_nets, gen)
        points.append(Point(f"default n={n}", prediction=float(_f("regions.init.one-layer-uniform", n=n)["mean"]),
                            estimate=m, se=se, control=1 + n, n=N))
    m, se, N = _mean_count([1, 16, 1], "he", n_nets, gen)
    pred = _f("regions.init.one-layer-gaussian", n=16, weight_var=2, bias_var="1/10")["mean"]
    points.append(Point("He N(0,2) weights, N(0,0.1) biases n=16", prediction=float(sp.N(pred, 30)), estimate=m, se=se,
                        control=float(tr.one_layer_uniform_pieces(16)["mean"]), n=N))
    return Measurement(points=points, n=3 * n_nets, notes=(
        "Exact counts of affine pieces per network; SE from the spread over networks. Controls: 1 + n "
        "(every neuron contributes a kink, true on the whole line) and, for the Gaussian case, the "
        "uniform-init value 1 + n/4. Resolution ~5% at the default 1000 nets (target 1% not reached; "
        "--full: 3000 nets)."))


_HR_CONFIGS = [[4], [4] * 2, [4] * 4, [4] * 8, [16], [8] * 2, [2] * 8]   # 16 neurons: [16], [8]*2, [4]*4, [2]*8


@claim("regions.init.few-regions", source="Hanin & Rolnick 2019 (arXiv 1901.09021, Thm 3 at k = 1; 1906.00904)",
       statement="at initialisation (PyTorch default; He with N(0, 0.1) biases) the expected number of regions on "
                 "[0,1] is 1 + sum_z int E[|z'(x)| rho_b(-u_z(x))] dx (Hanin-Rolnick), at most 1 + sum_l n_l "
                 "C_grad,l C_bias,l: linear in the number of neurons, far below the exponential-in-depth maximum",
       seed=6008, stochastic=True, formula=lambda: 1 + sp.Symbol("C"),
       predicted="Hanin-Rolnick 1 + expected crossings; its bound", 
       measured="mean exact regions of random nets vs Kac-Rice Monte Carlo on other nets")
def _few_regions(ctx):
    gen = ctx.generator()
    # the default init's deeper layers add few regions (E z'^2 falls 6x per layer): more nets there
    n_nets, n_kr, n_x = ({"default": 2000, "he": 1000}, 8000, 64) if ctx.full else ({"default": 450, "he": 200}, 1000, 16)
    points, rows = [], []
    for init in ("default", "he"):
        for hidden in _HR_CONFIGS:
            widths = [1, *hidden, 1]
            c = _counts(widths, init, n_nets[init], gen)
            P = nr.init_mlp(widths, batch=n_kr, init=init, generator=gen)
            kr = nr.crossing_density(P, init, torch.rand(n_kr, n_x, generator=gen, dtype=nr.DTYPE)).mean(1).numpy()
            pred = float(_f("regions.init.hanin-rolnick", crossings=float(kr.mean())))
            se = math.sqrt(c.var(ddof=1) / c.size + kr.var(ddof=1) / kr.size)
            shape = f"{init} widths {_widths(hidden)}"
            exp_max = float(_f("regions.max-regions-1d", widths=_widths(hidden)))
            points.append(Point(f"{shape}: mean regions = 1 + expected crossings", prediction=pred,
                                estimate=float(c.mean()), se=se, control=exp_max, n=c.size, target=0.01))
            rows.append((init, hidden, c.mean(), c.std(ddof=1) / math.sqrt(c.size), pred))
            if len(hidden) >= 2 and len(set(hidden)) == 1 and hidden[0] == 4:
                bound = _f("regions.init.hanin-rolnick-bound", widths=_widths(hidden), init=init, bias_var="1/10")
                first = (_f("regions.init.one-layer-uniform", n=4) if init == "default" else
                         _f("regions.init.one-layer-gaussian", n=4, weight_var=2, bias_var="1/10"))["mean"]
                points.append(Point(f"{shape}: mean regions <= Hanin-Rolnick bound", prediction=float(sp.N(bound, 30)),
                                    estimate=float(c.mean()), se=c.std(ddof=1) / math.sqrt(c.size), rule="le",
                                    control=float(sp.N(first, 30)), n=c.size))
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4))
    dd = np.arange(1, 9)
    ax.semilogy(dd, 5.0 ** dd, "k:", label="width 4: max prod(n_l+1) = 5^d")
    ax.semilogy(dd, 2.0 ** dd, "k-", label="triangle net: 2^d (exact)")
    for init in ("default", "he"):
        r = [(len(h), m, s, p) for i, h, m, s, p in rows if i == init and set(h) == {4}]
        r = np.asarray(r)
        ax.errorbar(r[:, 0], r[:, 1], yerr=r[:, 2], marker="o", capsize=3, ls="none", label=f"{init}: mean ± SE")
        ax.plot(r[:, 0], r[:, 3], "--", label=f"{init}: Hanin-Rolnick 1 + crossings")
    ax.set_xlabel("depth d (hidden layers of width 4)")
    ax.set_ylabel("activation regions on [0,1]")
    ax.set_title("Regions at initialisation vs depth")
    ax.legend(fontsize=7)
    return Measurement(points=points, n=sum(n_nets.values()) * len(_HR_CONFIGS), figures={"regions_vs_depth": fig},
                       notes=(
        f"Counts: exact regions of {n_nets['default']} (default) and {n_nets['he']} (He) nets per shape. Prediction: Hanin-Rolnick's formula with the expected "
        f"crossings sum_z int_0^1 E[|z'(x)| rho_b(-u_z(x))] dx estimated on {n_kr} other nets at {n_x} uniform x each "
        "(unbiased; its SE is added). He: weights N(0, 2/fan_in), biases N(0, 0.1); default: PyTorch "
        "U(-1/sqrt(fan_in), 1/sqrt(fan_in)). Control of the equality: the maximum prod(n_l + 1) (Serra et "
        "al.), exponential in depth. Bound points: 1 + sum_l n_l C_grad,l C_bias,l with C_grad = sqrt(E z'^2) "
        "(He: sqrt 2 at every layer; default: sqrt(1/3) 6^(-(l-1)/2)) and C_bias the bias density's maximum; "
        "control: only the first layer's neurons kink (its exact one-layer value). Resolution 10-25% at the "
        "default budget (target 1% needs ~10^5 nets per shape; --full: 2000 and 1000 nets, about 2x sharper). Means (count | "
        "Hanin-Rolnick): " + "; ".join(f"{i} {_widths(h)}: {m:.2f}±{s:.2f} | {p:.2f}" for i, h, m, s, p in rows)))


@claim("regions.init.zero-bias", source="derived: a bias-free ReLU net is positively homogeneous",
       statement="He initialisation with zero biases gives exactly one activation region on [0,1] at any depth",
       seed=6009, stochastic=False, formula=lambda: sp.Eq(sp.Symbol("R"), 1),
       predicted="1 region (positive homogeneity)", measured="max exact regions over 30 He zero-bias nets per depth")
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
_MIN_FACTOR = {3: 3, 11: 3}     # asserted dense/triangle ratio of the minimum MSE over seeds (see notes)
_MEAN_FACTOR = 10
# Table 1 of the paper: (Kaiming, Pretraining + Thm 3.1), min and mean MSE over 30 runs
_PAPER = {3: {"min": (2.11e-5, 7.86e-8), "mean": (7.20e-2, 5.27e-7)},
          11: {"min": (2.19e-5, 8.86e-7), "mean": (2.82e-2, 7.87e-6)}}


def _log_ratio_se(tri, dense, stat, rng, n_boot=2000):
    """Bootstrap SE over seeds of log10(stat(dense) / stat(triangle)), seeds resampled independently."""
    it = rng.integers(0, tri.size, (n_boot, tri.size))
    idn = rng.integers(0, dense.size, (n_boot, dense.size))
    f = np.min if stat == "min" else np.mean
    return float(np.std(np.log10(f(dense[idn], axis=1) / f(tri[it], axis=1)), ddof=1))


@claim("regions.approximation.triangle-vs-dense", source=f"{_SRC}, Tables 1-2 (x^3, x^11, 500 points)",
       statement="fitting x^3 and x^11 on [0,1], the triangle network (pretrained in (a, s) under the law, then "
                 "trained as a plain net) reaches a mean MSE over seeds >= 10x and a minimum >= 3x below a "
                 "default-initialised dense network of the same shape trained the same way (the paper's Table 1 "
                 "ratios, about 10^2.4 / 10^1.4 on the minimum and 10^5.1 / 10^3.6 on the mean, shown beside)",
       seed=6010, stochastic=False, predicted="MSE ratios dense/triangle >= 10x mean, >= 3x min",
       measured="MSE of 10 + 10 trained nets per target (log10 ratio, bootstrap SE)")
def _approximation(ctx):
    d = 5
    B, pre, raw, n_starts = (40, 400, 6000, 40) if ctx.full else (10, 400, 6000, 5)
    gen = ctx.generator()
    rng = ctx.rng
    points, notes, fits, runs = [], [], {}, {}
    x = torch.linspace(0, 1, 500, dtype=nr.DTYPE)
    with one_thread():
        targets = (3, 11)
        Y = torch.stack([x ** p for p in targets])
        # both targets in one batch: members [tri x^3, tri x^11, dense x^3, dense x^11], B each
        params, pre_all = nr.train_triangle_and_dense(x, Y, d, batch=B, pre=pre, raw=raw, generator=gen)
        with torch.no_grad():
            out_all = nr.mlp_forward(params, x)
        for k, p in enumerate(targets):
            y = Y[k]
            members = [*range(k * B, (k + 1) * B), *range((len(targets) + k) * B, (len(targets) + k + 1) * B)]
            out, pre_mse = out_all[members], pre_all[k * B:(k + 1) * B]
            mse = ((out - y) ** 2).mean(1).numpy()
            tri, dense = mse[:B], mse[B:]
            xs, ys = x.numpy(), y.numpy()
            best = int(np.argmin(tri))
            counts = [nr.count_regions(nr.member_layers(params, m)) for m in members]
            knots = np.array([float(k) for k in counts[best].kinks])
            # knots equidistributed in |f''|^(2/5) ~ x^(2(p-2)/5): the asymptotically optimal placement
            fk, _ = nr.free_knot_fit(xs, ys, 2 ** d, starts=[(np.arange(1, 2 ** d) / 2 ** d) ** (5 / (2 * p + 1))],
                                     uniform=False, maxiter=400 if ctx.full else 100)
            fk = min(fk, float(tri.min()))
            fam, _ = nr.triangle_family_fit(xs, ys, d, starts=list(rng.uniform(0.05, 0.95, (n_starts, d))))
            ratios = []
            for stat, factor in (("mean", _MEAN_FACTOR), ("min", _MIN_FACTOR[p])):
                t, dn = getattr(tri, stat)(), getattr(dense, stat)()
                points.append(Point(f"x^{p} {stat} MSE: triangle <= dense/{factor}", prediction=float(dn) / factor,
                                    estimate=float(t), tol=0.0, rule="le", control=fk, n=B))
                paper = math.log10(_PAPER[p][stat][0] / _PAPER[p][stat][1])
                se = _log_ratio_se(tri, dense, stat, rng)
                measured = math.log10(dn / t)
                ratios.append(f"{stat} measured 10^({measured:.2f} ± {se:.2f}) vs paper 10^{paper:.2f}")
            pieces = [rc.affine_pieces for rc in counts]
            notes.append(f"x^{p}: triangle min {tri.min():.3g} mean {tri.mean():.3g}; dense min {dense.min():.3g} "
                         f"mean {dense.mean():.3g}; ratios dense/triangle (bootstrap SE of log10): "
                         + ", ".join(ratios) + f"; mean affine pieces on [0,1] after training: triangle "
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
        f"{B} seeds per network and target (both targets trained in one batch), d = {d}, 500 points. Triangle: {pre} Adam steps (lr 1e-2) on the "
        f"peaks, s_0 and the output affine map with the scales tied by the law; dense: PyTorch default init, "
        f"{pre} Adam steps (lr 1e-2) on its weights; then both {raw} Adam steps on the raw matrices (lr 3e-3, "
        "cosine decay to 0). The paper (Table 1, 30 runs each) reports dense/triangle ratios of 10^2.43 (x^3) "
        "and 10^1.39 (x^11) on the minimum MSE and 10^5.14 and 10^3.55 on the mean ('about three and five "
        "orders of magnitude'). Asserted: the factors that the whole distribution of ten-seed experiments "
        "supports (pooling 120 + 120 runs of this protocol, the best of 10 triangle seeds beats the best of 10 dense "
        "seeds by >= 3x in every resampled experiment, by >= 10x for x^3 with probability 0.96 and for x^11 with "
        "0.82, so 10x on the minimum is not asserted; the mean, dominated by collapsed dense runs, by >= 10x). "
        "The measured log10 ratios are shown beside the paper's below with a bootstrap SE over the seeds, but "
        "not asserted equal: ten seeds do not pin them down (the bootstrap SE of a minimum over 10 seeds is up "
        "to 0.6 decades, and for the mean, a heavy-tailed average of a few collapsed runs, it understates the "
        "spread: over run seeds 0-2 the x^11 mean ratio was 10^3.8-10^4.3 against bootstrap SEs of 0.14-0.45). "
        "In those runs the measured ratios were within about a decade of the paper's (the triangle nets' "
        "mean MSE is below the paper's, the dense nets' similar). (a, s) pretraining cannot beat the fit by span(1, x, W_0..W_{d-1}): every neuron "
        "of the construction lies in that span on [0,1]; the gain comes from the raw-weight phase. Training "
        "is chaotic (torch's vectorised CPU sums are not bitwise reproducible), so the asserted factors are ones "
        "the whole distribution supports, not one seed. Control: the best continuous 2^d-piece fit found "
        "by free-knot least squares (a capacity lower bound; 'training reaches it' is rejected). "
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


# --------------------------------------------------------------------------- beyond the 1-d convex fit
_ORDERS = (1.0, 2.0)     # "1-2 orders of magnitude lower error" (y = x^3 - x and z = r^3; abstract-level, no numbers)
_HEADLINE = 3.0          # the Tables 1-2 headline, "about three orders" lower minimum error
_KAN_DEPTHS = (5, 5)     # (inner, outer) triangle-net depths
_KAN_DENSE = [2, 9, 9, 9, 9, 1]           # 307 parameters against the KAN's 297
_DC_DENSE = [1, 7, 7, 7, 7, 1]            # 190 parameters against the two blocks' 185
_KAN_DENSE_TEXT, _DC_DENSE_TEXT = ",".join(map(str, _KAN_DENSE)), ",".join(map(str, _DC_DENSE))
# Table 3 of the paper (10 train / 10 test points): minimum test MSE, (Kaiming, pretraining + Thm 3.1)
_TABLE3 = {"x^3": (2.41e-4, 5.65e-6), "x^11": (2.14e-3, 6.53e-4), "sin x": (2.27e-5, 7.92e-7),
           "tanh 3x": (1.60e-4, 5.09e-6)}
_TABLE3_F = {"x^3": lambda v: v ** 3, "x^11": lambda v: v ** 11, "sin x": torch.sin, "tanh 3x": lambda v: torch.tanh(3 * v)}


def _log_gap(tri: np.ndarray, dense: np.ndarray) -> tuple[float, float]:
    """mean log10(dense MSE) - mean log10(triangle MSE) over independent seeds, and its Welch SE."""
    lt, ld = np.log10(tri), np.log10(dense)
    return float(ld.mean() - lt.mean()), math.sqrt(lt.var(ddof=1) / lt.size + ld.var(ddof=1) / ld.size)


def _orders_points(label: str, gap: float, se: float, n: int) -> list[Point]:
    """The paper's "1-2 orders lower error" as two one-sided points on the mean log10 gap.

    Lower end (>= 1): control the Tables 1-2 headline "three orders", rejected if the gap is below 3 by
    z SE.  Upper end (<= 2): control "no difference" (gap <= 0), rejected if the gap exceeds 0 by z SE.
    """
    lo, hi = _ORDERS
    return [Point(f"{label}: log10(dense / triangle test MSE) >= {lo:g} (paper: 1-2 orders)", prediction=lo,
                  estimate=gap, se=se, rule="ge", control=_HEADLINE, n=n),
            Point(f"{label}: log10(dense / triangle test MSE) <= {hi:g} (paper: 1-2 orders)", prediction=hi,
                  estimate=gap, se=se, rule="le", control=0.0, n=n)]


def _mse(params, X, y, masks=None) -> np.ndarray:
    with torch.no_grad():
        return ((nr.mlp_forward_points(params, X, masks) - y) ** 2).mean(1).numpy()


def _r3(X: torch.Tensor) -> torch.Tensor:
    return (X ** 2).sum(1) ** 1.5


def _draw_partition(ax, part, title):
    from matplotlib.collections import PolyCollection
    ax.add_collection(PolyCollection([part.vertices(r) for r in range(part.count)], facecolors="none",
                                     edgecolors="C0", linewidths=0.4))
    ax.set(xlim=(0, 1), ylim=(0, 1), aspect="equal", title=title, xlabel="x", ylabel="y")


def _mse_strips(ax, groups: dict, title: str, marks: dict | None = None):
    """Test MSE per seed (dots) for each group; ``marks``: reference values drawn as crosses."""
    for i, (name, vals) in enumerate(groups.items()):
        ax.semilogy(np.full(vals.size, i) + np.linspace(-.15, .15, vals.size), vals, "o", ms=3, alpha=.7,
                    color="C0" if "triangle" in name or "KAN" in name else "C1")
        if marks and name in marks:
            ax.plot([i], [marks[name]], "kx", ms=9, mew=2)
    ax.set_xticks(range(len(groups)), list(groups), rotation=20, fontsize=7)
    ax.set(ylabel="test MSE", title=title)


@claim("regions.beyond-1d.kan-r3", source=f"{_SRC}, Sec. 5 (triangle nets as activations, 2-d target z = r^3); "
       "architecture derived (the paper's is not available)",
       statement="a Kolmogorov-Arnold-like net z = psi(phi_x(x) + phi_y(y)) whose 1-d activations are triangle nets "
                 "(block-diagonal 4x4 hidden matrices, 297 parameters) fits z = (x^2 + y^2)^(3/2) on [0,1]^2 with a "
                 "test MSE 1-2 orders of magnitude below a dense ReLU net of the same parameter count",
       seed=6011, stochastic=True, predicted="log10(dense/KAN test MSE) in [1, 2]",
       measured="test MSE of trained KAN and dense nets over seeds (mean log10 gap, Welch SE); exact planar regions")
def _kan_r3(ctx):
    B, n_train, pre, raw = (48, 400, 400, 2000) if ctx.full else (16, 100, 200, 400)
    gen = ctx.generator()
    X = torch.rand(n_train, 2, generator=gen, dtype=nr.DTYPE)
    Xt = torch.rand(4000, 2, generator=gen, dtype=nr.DTYPE)
    with one_thread():
        kan = nr.TriangleKAN(*_KAN_DEPTHS, batch=B, generator=gen)
        P, masks, D, pre_mse = nr.train_blocks_and_dense(X, _r3(X), kan, _KAN_DENSE, pre=pre, raw=raw, generator=gen)
    tri, dense = _mse(P, Xt, _r3(Xt), masks), _mse(D, Xt, _r3(Xt))
    gap, se = _log_gap(tri, dense)
    n_kan, n_dense = nr.count_parameters(masks), nr.dense_parameters(_KAN_DENSE)
    best_t, best_d = int(np.argmin(tri)), int(np.argmin(dense))
    part_t = planar_partition(nr.member_layers(P, best_t), (0, 1, 0, 1))
    part_d = planar_partition(nr.member_layers(D, best_d), (0, 1, 0, 1))
    plt = _plt()
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.4))
    _draw_partition(axes[0], part_t, f"best KAN: {part_t.count} regions on [0,1]^2 (exact)")
    _draw_partition(axes[1], part_d, f"best dense {_KAN_DENSE_TEXT}: {part_d.count} regions")
    _mse_strips(axes[2], {f"triangle KAN ({n_kan} params)": tri, f"dense ({n_dense} params)": dense},
                f"z = r^3: test MSE over {B} seeds each")
    return Measurement(points=_orders_points("z = r^3 on [0,1]^2", gap, se, 2 * B), n=2 * B,
                       figures={"kan_r3": fig}, notes=(
        f"Architecture (chosen; the paper's exact one is not available): psi(phi_x(x) + phi_y(y)) with phi_x, phi_y "
        f"depth-{_KAN_DEPTHS[0]} and psi depth-{_KAN_DEPTHS[1]} convex triangle nets (law-tied scales) -- the "
        "Kolmogorov-Arnold form, with the inner sum started as a convex map of [0,1]^2 onto [0,1]. As a ReLU net: "
        "widths 2, 8 x 5, 4 x 5, 1; the inner hidden matrices block diagonal (two 4x4 blocks), the inner output row "
        f"and psi's first layer merged into one dense 4x8 map; {n_kan} trainable parameters. Dense baseline: widths "
        f"{_KAN_DENSE_TEXT} ({n_dense} parameters, PyTorch default init), the closest dense count whose "
        "training does not often collapse (the depth-matched widths 2, 5 x 10, 1 (291) collapse in about half the "
        f"seeds, which would inflate the gap). Protocol of Tables 1-2: {pre} Adam steps (lr 1e-2) of the KAN in "
        f"(peaks, s_0, output maps) space and of the dense net in its weights, then {raw} steps (lr 3e-3, cosine) "
        f"of both as plain ReLU nets, the KAN keeping its sparsity; {n_train} uniform training points, 4000 test "
        f"points. Measured: test MSE KAN median {np.median(tri):.3g} (min {tri.min():.3g}), dense median "
        f"{np.median(dense):.3g} (min {dense.min():.3g}); mean log10 gap {gap:.2f} +- {se:.2f} decades against the "
        "paper's '1-2 orders' (no numbers given). After (a, s) pretraining the KAN's training MSE was "
        f"{np.median(pre_mse):.3g} (median). Exact regions on [0,1]^2 (numerics/planar.py): best KAN "
        f"{part_t.count} ({part_t.distinct_maps()} distinct affine maps), best dense {part_d.count}. Controls: the "
        "1-d headline of three orders (for the lower end) and no difference (for the upper end). Resolution: z SE "
        "on a 1-decade prediction, about 50% at the default budget (--full: 48 seeds, 400 points, 2000 raw steps)."))


@claim("regions.beyond-1d.kan-structure", source=f"{_SRC}, Sec. 5 (block-diagonal triangle nets as activations); "
       "derived: block-diagonal inner layers act on each input separately, so their regions are products",
       statement="the inner blocks of the 2-d triangle KAN psi(phi_x(x) + phi_y(y)) cut [0,1]^2 into exactly "
                 "(2^d)^2 regions (a product of the 1-d partitions, not their sum), and the KAN has the parameter "
                 "count of regions.kan.parameters",
       seed=6014, stochastic=False, predicted="(2^d)^k inner regions; regions.kan.parameters",
       measured="exact planar partition of KANs built in rationals; torch's count of the trainable entries")
def _kan_structure(ctx):
    rng = np.random.default_rng(ctx.seed)
    peaks = lambda d: [Fraction(int(v), 100) for v in rng.integers(20, 81, d + 1)]  # noqa: E731
    points = []
    for d_in, d_out in ((3, 2), (5, 5), (6, 3)) if ctx.full else ((3, 2), (5, 5)):
        part = planar_partition(nr.exact_triangle_kan(peaks(d_in), peaks(d_in), peaks(d_out)), (0, 1, 0, 1))
        points.append(Point(f"inner regions on [0,1]^2, blocks of depth {d_in} (control: additive 2 x 2^{d_in})",
                            int(_f("regions.kan.inner-regions", blocks=2, depth=d_in)),
                            part.layer_counts[d_in - 1], tol=0, control=2 * 2 ** d_in))
    masks = nr.block_masks(nr.TriangleKAN(*_KAN_DEPTHS, batch=1, generator=torch.Generator().manual_seed(ctx.seed)))
    points.append(Point(f"trainable parameters of the depth-{_KAN_DEPTHS} KAN (control: its matrices counted "
                        "dense)", int(_f("regions.kan.parameters", blocks=2, depth_inner=_KAN_DEPTHS[0],
                                         depth_outer=_KAN_DEPTHS[1])),
                        nr.count_parameters(masks), tol=0,
                        control=sum(m.numel() + m.shape[0] for m in masks)))
    return Measurement(points, notes=(
        "KANs built exactly (rational peaks drawn from 20/100..80/100, law-tied scales) and partitioned exactly by "
        "numerics/planar.py; the inner count is the partition after the inner blocks' last hidden layer. The "
        "outer net cuts further along level sets of the inner sum (total counts in tests/test_regions_blocks.py). "
        "Parameters: the unmasked entries plus biases of the block layout (numerics.regions.block_masks). Exact "
        "equality; controls: the additive count of two 1-d nets, and the block matrices counted as dense."))


@claim("regions.beyond-1d.difference-of-convex", source=f"{_SRC}, Sec. 5 (non-convex y = x^3 - x by differences "
       "of convex triangle nets)",
       statement="y = x^3 - x on [-1,1], fitted by the difference of two convex depth-5 triangle nets (block-diagonal "
                 "4x4 hidden matrices, 185 parameters), has a test MSE 1-2 orders of magnitude below a dense ReLU "
                 "net of the same parameter count",
       seed=6012, stochastic=True, predicted="log10(dense/DC test MSE) in [1, 2]",
       measured="test MSE of trained difference-of-convex and dense nets over seeds (mean log10 gap, Welch SE)")
def _difference_of_convex(ctx):
    B, n_train, pre, raw = (64, 500, 400, 3000) if ctx.full else (32, 100, 200, 400)
    gen = ctx.generator()
    f = lambda t: (2 * t - 1) ** 3 - (2 * t - 1)            # both nets read t = (x + 1) / 2 in [0, 1]
    t = torch.rand(n_train, generator=gen, dtype=nr.DTYPE)
    tt = torch.rand(4000, generator=gen, dtype=nr.DTYPE)
    with one_thread():
        dc = nr.TriangleSum(5, [0, 0], batch=B, generator=gen)
        P, masks, D, _ = nr.train_blocks_and_dense(t, f(t), dc, _DC_DENSE, pre=pre, raw=raw, generator=gen)
    tri, dense = _mse(P, tt, f(tt), masks), _mse(D, tt, f(tt))
    gap, se = _log_gap(tri, dense)
    n_dc, n_dense = nr.count_parameters(masks), nr.dense_parameters(_DC_DENSE)
    rc = nr.count_regions(nr.member_layers(P, int(np.argmin(tri))))
    rc_d = nr.count_regions(nr.member_layers(D, int(np.argmin(dense))))
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    grid = torch.linspace(0, 1, 400, dtype=nr.DTYPE)
    with torch.no_grad():
        axes[0].plot(2 * grid - 1, f(grid), "k-", lw=3, alpha=.3, label="x^3 - x")
        axes[0].plot(2 * grid - 1, nr.mlp_forward_points(P, grid, masks)[int(np.argmin(tri))], "C0-",
                     label=f"difference of convex (best seed, {rc.affine_pieces} pieces)")
        axes[0].plot(2 * grid - 1, nr.mlp_forward_points(D, grid)[int(np.argmin(dense))], "C1--",
                     label=f"dense {_DC_DENSE_TEXT} (best seed, {rc_d.affine_pieces} pieces)")
    axes[0].legend(fontsize=7)
    axes[0].set(xlabel="x", title="y = x^3 - x")
    _mse_strips(axes[1], {f"triangle DC ({n_dc} params)": tri, f"dense ({n_dense} params)": dense},
                f"test MSE over {B} seeds each")
    return Measurement(points=_orders_points("y = x^3 - x on [-1,1]", gap, se, 2 * B), n=2 * B,
                       figures={"difference_of_convex": fig}, notes=(
        "Model: w_1 g(t) + w_2 h(t) + b with g, h depth-5 convex triangle nets (law-tied scales) of t = (x+1)/2 "
        "and least-squares initial output weights (of either sign, so a difference of convex functions); as a "
        f"ReLU net widths 1, 8 x 5, 1 with two 4x4 blocks per hidden matrix, {n_dc} parameters. Dense baseline: "
        f"widths {_DC_DENSE_TEXT} ({n_dense} parameters, the closest dense count), PyTorch default init, "
        f"also reading t. Protocol of Tables 1-2: {pre} Adam steps (lr 1e-2) in (a, s) / weight space, {raw} raw "
        f"steps (lr 3e-3, cosine), the blocks kept; {n_train} uniform training points, 4000 test points. "
        f"Measured: test MSE triangle median {np.median(tri):.3g} (min {tri.min():.3g}), dense median "
        f"{np.median(dense):.3g} (min {dense.min():.3g}); mean log10 gap {gap:.2f} +- {se:.2f} decades against "
        "the paper's '1-2 orders' (no numbers given). Exact 1-d count of the best triangle net: "
        f"{rc.activation_regions} regions, {rc.affine_pieces} affine pieces on [0,1] (dense: {rc_d.affine_pieces}). "
        "Controls: three orders (lower end) and no difference (upper end). Resolution: z SE on a 1-decade "
        "prediction, about 70% at the default budget (--full: 64 seeds, 500 points, 3000 raw steps)."))


@claim("regions.beyond-1d.sparse-data", source=f"{_SRC}, Table 3 (10 train / 10 test points)",
       statement="with 10 training points on [0,1] (x^3, x^11, sin x, tanh 3x), triangle nets (law pretraining, "
                 "then raw training) reach a test MSE 1-2 orders of magnitude below default-initialised dense nets of "
                 "the same shape, averaged over the four targets (the paper's Table 3 ratios average 10^1.28)",
       seed=6013, stochastic=True, predicted="mean over targets of log10(dense/triangle test MSE) in [1, 2]",
       measured="test MSE on 10 held-out points over seeds, per target; mean log10 gap, Welch SE")
def _sparse_data(ctx):
    B, pre, raw = (64, 400, 3000) if ctx.full else (24, 200, 600)
    d = 5
    gen = ctx.generator()
    x = torch.rand(20, generator=gen, dtype=nr.DTYPE)
    x_train, x_test = x[:10], x[10:]
    names = list(_TABLE3)
    with one_thread():
        params, _ = nr.train_triangle_and_dense(x_train, torch.stack([_TABLE3_F[k](x_train) for k in names]), d,
                                                batch=B, pre=pre, raw=raw, generator=gen)
        with torch.no_grad():
            out = nr.mlp_forward(params, x_test)
    Y = torch.stack([_TABLE3_F[k](x_test) for k in names]).repeat_interleave(B, 0)
    mse = ((out - torch.cat([Y, Y])) ** 2).mean(1).numpy().reshape(2, len(names), B)
    per = [_log_gap(mse[0, k], mse[1, k]) for k in range(len(names))]
    gap = float(np.mean([g for g, _ in per]))
    se = math.sqrt(sum(s ** 2 for _, s in per)) / len(per)
    paper = {k: math.log10(a / b) for k, (a, b) in _TABLE3.items()}
    rows = [f"{k}: min triangle {mse[0, i].min():.3g} (paper {_TABLE3[k][1]:.3g}), min dense {mse[1, i].min():.3g} "
            f"(paper Kaiming {_TABLE3[k][0]:.3g}); log10 ratio of the minima {math.log10(mse[1, i].min() / mse[0, i].min()):.2f} "
            f"(paper {paper[k]:.2f}); mean log10 gap {per[i][0]:.2f} +- {per[i][1]:.2f}" for i, k in enumerate(names)]
    ratio_min = {k: math.log10(mse[1, i].min() / mse[0, i].min()) for i, k in enumerate(names)}
    short = [k for k in names if ratio_min[k] < paper[k] - 0.5]
    verdict_min = ("On the paper's own statistic, the minimum over seeds, Table 3 is NOT reproduced for "
                   + ", ".join(short) + " (measured log10 ratio of the minima more than half a decade below the "
                   "paper's; the best triangle seeds stay above the paper's triangle minima); what the data support is "
                   "the typical seed, the asserted mean gap. " if short else
                   "The log10 ratios of the minima are within half a decade of the paper's or above them. ")
    plt = _plt()
    fig, ax = plt.subplots(figsize=(10, 4.2))
    groups, marks = {}, {}
    for i, k in enumerate(names):
        groups[f"{k} triangle"], groups[f"{k} dense"] = mse[0, i], mse[1, i]
        marks[f"{k} triangle"], marks[f"{k} dense"] = _TABLE3[k][1], _TABLE3[k][0]
    _mse_strips(ax, groups, f"10 training points: test MSE over {B} seeds (x: the paper's Table 3 minimum)", marks)
    return Measurement(points=_orders_points("mean over x^3, x^11, sin x, tanh 3x", gap, se, 2 * B * len(names)),
                       n=2 * B * len(names), figures={"sparse_data": fig}, notes=(
        f"Table 3 setting as far as known: 10 training and 10 test points drawn uniformly on [0,1] (one draw, shared by "
        f"all seeds and targets); depth-5 width-4 triangle nets and dense nets of the same shape (93 parameters each), "
        f"the protocol of Tables 1-2 ({pre} pretraining steps, {raw} raw steps), {B} seeds per net and target, all "
        "four targets in one batch. The paper reports only the minimum test MSE over its runs (Kaiming vs "
        "pretraining + Thm 3.1); a minimum over seeds has no usable SE, so the asserted statistic is the mean "
        "log10 gap over seeds, averaged over the four targets (SE from the per-target Welch SEs); the minima are "
        "shown beside the paper's. Per target the gap is not resolved from 0 at this budget for every target "
        "(x^11's paper ratio is itself only 10^0.52), hence the average. Controls: three orders (lower end) and no "
        "difference (upper end). Resolution: z SE on a 1-decade prediction, about 55% at the default budget "
        "(--full: 64 seeds, 400 + 3000 steps). " + verdict_min + "; ".join(rows)))


from dltv.checks.claims import assert_result  # noqa: E402


def test_claim(claim_result):
    assert_result(claim_result)
