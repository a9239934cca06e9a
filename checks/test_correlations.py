"""Claims of the correlations area (Hanin, arXiv 2204.01058; PDLT arXiv 2106.10165).

Layer 1 is the first pre-activation; K^(1) = C_b + C_W x.x'/n_0; W ~ N(0, C_W/n_in),
b ~ N(0, C_b).  Monte-Carlo quantities average the stochastic metric Ĝ (the exact
conditional covariance of a layer's pre-activations), which has far lower variance
than averaging products of z.
"""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import mpmath  # noqa: E402
import numpy as np  # noqa: E402
import sympy as sp  # noqa: E402
from scipy.stats import norm  # noqa: E402

from checks.claims import Measurement, Point, assert_result, claim  # noqa: E402
from numerics.estimators import mean_se  # noqa: E402
from numerics.correlations import compare_stats, sample_collapsed  # noqa: E402
from numerics.networks import sample_networks  # noqa: E402
from theory import correlations as tc  # noqa: E402
from theory import gaussian as tg  # noqa: E402

# Three inputs in R^3 with different norms and angles.
INPUTS = np.array([[1.0, 0.5, -0.3], [0.2, -1.1, 0.6], [0.9, 0.8, 0.7]])
# (activation, C_W, C_b): near-critical settings of each class (GELU: Guillen-Misof-Gerken's criticality).
SECOND_LAYER_CASES = [("relu", 2.0, 0.1), ("erf", 1.5, 0.05), ("tanh", 1.0, 0.1),
                      ("gelu", 1.98305826, 0.17292239)]
WRONG_C_W = 1.05  # control: the kernel of a network whose C_W is 5% larger


def _kernel_symbolic():
    """K^(l+1)_ab = C_b + C_W E[sigma(z_a) sigma(z_b)], z ~ N(0, K^(l))."""
    Kl = sp.Function("K^{(l)}")
    za, zb = sp.symbols("z_a z_b")
    s = sp.Function("sigma")
    return sp.Eq(sp.Symbol("K^{(l+1)}_{ab}"),
                 sp.Symbol("C_b") + sp.Symbol("C_W") * sp.Function("E_{K^{(l)}}")(s(za) * s(zb)))


def _unique_entries(k):
    return [(a, b) for a in range(k) for b in range(a, k)]


@claim("correlations.kernel.second-layer-exact",
       source="derived: given layer 1, Ĝ^(2) = C_b + (C_W/n_1) Σ_j σ(z_j^(1))σ(z_j^(1))ᵀ with z_j^(1) "
              "i.i.d. N(0, K^(1)) exactly, so E Ĝ^(2) = C_b + C_W⟨σσᵀ⟩_{K^(1)} = K^(2) at any width "
              "(PDLT (4.36)-(4.38) for ℓ=2)",
       statement="The mean second-layer metric E[Ĝ^(2)] equals the infinite-width kernel K^(2) "
                 "exactly, already at width 8 (ReLU, erf, tanh, GELU; three inputs).",
       seed=2101, stochastic=True, formula=_kernel_symbolic)
def _second_layer(ctx):
    n_networks = 200_000 if ctx.full else 40_000
    gen = ctx.generator()
    points = []
    for act, cw, cb in SECOND_LAYER_CASES:
        K1 = tc.first_layer_kernel(INPUTS, cw, cb)
        K2 = tc.kernel_recursion(act, cw, cb, K1, 2)[1]
        K2_wrong = tc.kernel_recursion(act, WRONG_C_W * cw, cb, tc.first_layer_kernel(INPUTS, WRONG_C_W * cw, cb), 2)[1]
        for width in (8, 512):
            stats = sample_networks((3, width, 1), act, cw, cb, INPUTS, n_networks, layers=(2,),
                                    generator=gen, device=ctx.device)
            G = stats.G[:, 0].cpu().numpy()
            for a, b in _unique_entries(3):
                est = mean_se(G[:, a, b])
                points.append(Point(f"{act} n={width} K_{a}{b}", float(K2[a, b]), est.mean, se=est.se,
                                    control=float(K2_wrong[a, b]), n=est.n))
    return Measurement(points, n=n_networks,
                       notes=f"Control: the same kernel with C_W multiplied by {WRONG_C_W}.")


# tanh at criticality (the K* = 0 class), single input with K^(1) = 1.
TANH_DEPTH = 8            # layers 1..8 (7 hidden layers)
RICHARDSON_LAYERS = (4, 8)


@claim("correlations.kernel.finite-width-rate",
       source="Hanin 2204.01058 (abstract: cumulants of order 2k are O(n^{-(k-1)}), so E Ĝ = K + O(1/n)); "
              "PDLT §4.5 (NLO metric)",
       statement="At deeper layers the mean metric differs from the infinite-width kernel at order 1/n: "
                 "the Richardson extrapolation 2·E_2n[Ĝ] − E_n[Ĝ] agrees with K^(ℓ) "
                 "(tanh, C_W=1, C_b=0, layers 4 and 8, n = 64, 128, 256; collapsed sampler, "
                 "validated by correlations.sampler.collapsed-matches-real).",
       seed=2102, stochastic=True, formula=_kernel_symbolic)
def _finite_width_rate(ctx):
    n_networks = 400_000 if ctx.full else 100_000
    widths = (64, 128, 256)
    gen = ctx.generator()
    x = np.array([[1.0]])  # K^(1) = C_W x²/n_0 = 1
    K = tc.kernel_recursion("tanh", 1, 0, [[1.0]], TANH_DEPTH)[:, 0, 0]
    K_wrong = tc.kernel_recursion("tanh", WRONG_C_W, 0, [[WRONG_C_W]], TANH_DEPTH)[:, 0, 0]
    means = {}
    for n in (32,) + widths:
        s = sample_collapsed((1,) + (n,) * (TANH_DEPTH - 1) + (1,), "tanh", 1.0, 0.0, x, n_networks,
                             generator=gen, device=ctx.device)
        G = s.G[:, :, 0, 0].cpu().numpy()
        means[n] = [mean_se(G[:, l]) for l in range(TANH_DEPTH)]
    points = []
    for l in RICHARDSON_LAYERS:
        for n in widths[:-1]:
            lo, hi = means[n][l - 1], means[2 * n][l - 1]
            est = 2 * hi.mean - lo.mean
            se = float(np.hypot(2 * hi.se, lo.se))
            points.append(Point(f"layer {l}, Richardson n={n},{2 * n}", float(K[l - 1]), est, se=se,
                                control=float(K_wrong[l - 1]), n=n_networks))
    fig, ax = plt.subplots(figsize=(6, 4))
    layers = np.arange(1, TANH_DEPTH + 1)
    ax.plot(layers, K, "k-", label="infinite width K^(ℓ)")
    for n, marker in zip((32, 64, 256), "os^"):
        m = np.array([e.mean for e in means[n]])
        se = np.array([e.se for e in means[n]])
        ax.errorbar(layers + 0.08 * np.log2(n / 64), m, yerr=4 * se, fmt=marker, ms=4, capsize=2,
                    label=f"E Ĝ^(ℓ), n={n} (±4 SE)")
    ax.set_xlabel("layer ℓ")
    ax.set_ylabel("kernel")
    ax.set_title("tanh at criticality: mean metric vs infinite-width kernel")
    ax.legend()
    return Measurement(points, n=n_networks, figures={"tanh-kernel-vs-depth": fig},
                       notes="First-order (1/n) bias removed by Richardson extrapolation between widths n "
                             "and 2n; control: the kernel with C_W = 1.05.")


CLOSED_FORM_KERNELS = [((1, 0.3, 2),), ((0.5, -0.4, 1.5),), ((2, 1.9, 2),)]


def _closed_form_cases():
    for act in ("relu", "leaky_relu", "abs", "linear", "erf"):
        for (K,) in CLOSED_FORM_KERNELS:
            yield act, [[K[0], K[1]], [K[1], K[2]]]


def _wrong_closed_form(act, name, K):
    """Plausible mistakes: ReLU arc-cosine kernel without its sin θ term; Williams' erf kernel without the 2 in 2K_ab."""
    ka, kab, kb = (mpmath.mpf(K[0][0]), mpmath.mpf(K[0][1]), mpmath.mpf(K[1][1]))
    if act == "relu" and name == "<s_a s_b>":
        th = mpmath.acos(kab / mpmath.sqrt(ka * kb))
        return mpmath.sqrt(ka * kb) / (2 * mpmath.pi) * (mpmath.pi - th) * mpmath.cos(th)
    if act == "erf" and name == "<erf_a erf_b>":
        return 2 / mpmath.pi * mpmath.asin(kab / mpmath.sqrt((1 + 2 * ka) * (1 + 2 * kb)))
    return None


@claim("correlations.kernel.closed-forms",
       source="Cho & Saul 2009 (arc-cosine kernels); Williams 1997 (erf); homogeneous class derived "
              "(polar coordinates); quadrature: mpmath at 30 digits",
       statement="The closed-form Gaussian expectations (ReLU, leaky ReLU, abs, linear, erf) agree with "
                 "30-digit numerical integration to 1e-12 relative.",
       seed=2103, stochastic=False)
def _closed_forms(ctx):
    points = []
    for act, K in _closed_form_cases():
        for row in tg.compare_closed_forms(act, K):
            closed, quad = row["closed"], row["quadrature"]
            wrong = _wrong_closed_form(act, row["quantity"], K)
            points.append(Point(f"{act} {row['quantity']} K={K[0][0]},{K[0][1]},{K[1][1]}",
                                float(closed), float(quad), tol=1e-12 * abs(float(closed)),
                                slack=float(row["error"]),
                                control=None if wrong is None else float(wrong)))
    return Measurement(points, notes="Controls: the ReLU kernel without its sin θ term; the erf kernel "
                                     "with K_ab in place of 2K_ab in the arcsin.")


def _nt_cases():
    """(our activation, neural-tangents ABRelu (a, b) or None for Erf)."""
    return [("relu", (0, 1)), ("leaky_relu", (0.1, 1)), ("abs", (-1, 1)), ("linear", (1, 1)), ("erf", None)]


@claim("correlations.kernel.neural-tangents",
       source="neural-tangents, neural_tangents/_src/stax/elementwise.py (ABRelu, Erf kernel_fn; "
              "formulas encoded independently, no dependency)",
       statement="Our closed-form NNGP maps ⟨σσ⟩_K and derivative maps ⟨σ'σ'⟩_K equal the formulas "
                 "neural-tangents documents for ReLU, leaky ReLU, abs, linear and erf, to 1e-12 relative.",
       seed=2104, stochastic=False)
def _neural_tangents(ctx):
    points = []
    for act, ab in _nt_cases():
        for (K,) in CLOSED_FORM_KERNELS:
            exact_K = tuple(sp.nsimplify(v) for v in K)
            ours = sp.N(tg.kernel_map(act, exact_K), 30)
            ours_dot = sp.N(tg.derivative_kernel_map(act, exact_K), 30)
            if ab is None:
                nt, nt_dot = tg.nt_erf(*exact_K)
                ka, kab, kb = K
                wrong = 2 / np.pi * np.arcsin(kab / np.sqrt((1 + 2 * ka) * (1 + 2 * kb)))
            else:
                nt, nt_dot = tg.nt_abrelu(*ab, *exact_K)
                sqrt_term = (ab[0] - ab[1]) ** 2 / (2 * np.pi) * np.sqrt(K[0] * K[2] - K[1] ** 2)
                wrong = float(nt) - sqrt_term if sqrt_term else None  # the term vanishes for linear
            label = f"{act} K={K[0]},{K[1]},{K[2]}"
            points.append(Point(f"{label} nngp", float(nt), float(ours), tol=1e-12 * abs(float(nt)),
                                control=wrong))
            points.append(Point(f"{label} dot", float(nt_dot), float(ours_dot), tol=1e-12 * abs(float(nt_dot))))
    return Measurement(points, notes="Controls: neural-tangents' ABRelu without its sqrt(K_aa K_bb − K_ab²) "
                                     "term; the erf map with K_ab in place of 2K_ab in the arcsin.")


SAMPLER_CASES = [("relu", 2.0, 0.0, True), ("tanh", 1.0, 0.0, True), ("erf", 1.5, 0.1, False)]


@claim("correlations.sampler.collapsed-matches-real",
       source="derived: given layer ℓ, the rows of z^(ℓ+1) (and of its tangent) are i.i.d. "
              "N(0, Ĝ^(ℓ+1)), so drawing them from that k×k law is exact (DESIGN.md, fast sampling)",
       statement="The collapsed sampler (O(L·n·k²) per network) and real Gaussian weight matrices give "
                 "the same law: metric means per layer, E[Ĝ²]/E[Ĝ]², output moments and KS/AD tests agree "
                 "(ReLU and tanh with tangents, erf with biases; two inputs).",
       seed=2105, stochastic=True)
def _collapsed_matches_real(ctx):
    n_networks = 60_000 if ctx.full else 15_000
    gen = ctx.generator()
    x = INPUTS[:2]
    u = np.array([0.3, -0.2, 0.9])
    points = []
    for act, cw, cb, tangents in SAMPLER_CASES:
        widths = (3, 16, 16, 16, 2)
        direction = u if tangents else None
        real = sample_networks(widths, act, cw, cb, x, n_networks, direction=direction, generator=gen,
                               device=ctx.device)
        coll = sample_collapsed(widths, act, cw, cb, x, n_networks, direction=direction, generator=gen,
                                device=ctx.device)
        wrong = sample_collapsed(widths, act, 1.1 * cw, cb, x, n_networks, direction=direction,
                                 generator=gen, device=ctx.device)
        same, off = compare_stats(real, coll), compare_stats(real, wrong)
        for row, bad in zip(same["comparisons"], off["comparisons"]):
            se = float(np.hypot(row["a"].se, row["b"].se))
            points.append(Point(f"{act}: {row['statistic']}", 0.0, row["a"].mean - row["b"].mean, se=se,
                                control=0.0, control_estimate=bad["a"].mean - bad["b"].mean, n=n_networks))
        for name, test in same["tests"].items():
            # a two-sample test's p-value as its two-sided normal equivalent z
            z = float(norm.isf(max(test["ks_pvalue"], 1e-300) / 2))
            z_bad = float(norm.isf(max(off["tests"][name]["ks_pvalue"], 1e-300) / 2))
            points.append(Point(f"{act}: KS test on last-layer {name}", 0.0, z, se=1.0, rule="le",
                                control=0.0, control_estimate=z_bad, n=n_networks))
    return Measurement(points, n=n_networks,
                       notes="Each point is a two-sample comparison (difference of means with its SE, or a "
                             "Kolmogorov-Smirnov p-value as its normal-equivalent z, one-sided). Control: a "
                             "collapsed sampler with C_W 10% too large must be told apart from real weights.")


def test_claim(claim_result):
    assert_result(claim_result)
