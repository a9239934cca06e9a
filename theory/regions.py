"""Linear regions: the triangle construction of Milkert, Hyde & Laine (arXiv 2311.18022), exact.

Tent map T_a(y) = y/a on [0, a], 1 - (y - a)/(1 - a) on [a, 1]; compositions
W_i = T_{a_i} o ... o T_{a_0}; output F_d = sum_{i<d} s_i W_i.  Encoded here: the 2^d
count, the differentiability law and its consequences (exact kinks, slope at 0),
Telgarsky's sawtooth, Yarotsky's x^2 errors, and the region counts of default
initialisations (one hidden layer exactly; zero-bias He nets; Hanin-Rolnick scaling).
"""
from __future__ import annotations

from typing import Sequence

import sympy as sp

from dltv.theory.formulas import Param, check_int, check_real, formula

x, y = sp.symbols("x y", real=True)
a_sym, d_sym, n_sym, k_sym = sp.symbols("a d n k", positive=True)


def _peaks(peaks: Sequence, n: int | None = None, name: str = "peaks") -> list:
    vals = [check_real(name, a, 0, 1, low_open=True, high_open=True) for a in peaks]
    if n is not None and len(vals) < n:
        raise ValueError(f"{name} must have at least {n} entries, got {len(vals)}")
    return vals


# --------------------------------------------------------------------------- tent maps
def tent_map(a) -> sp.Piecewise:
    """T_a(y) on [0, 1]: y/a for y <= a, 1 - (y - a)/(1 - a) for y >= a (Milkert et al. Sec. 3)."""
    a = check_real("a", a, 0, 1, low_open=True, high_open=True)
    return sp.Piecewise((y / a, y <= a), (1 - (y - a) / (1 - a), True))


def tent_relu_form(a) -> sp.Expr:
    """T_a(y) = ReLU(y)/a - ReLU(y - a)/(a(1 - a)) on [0, 1] (derived: 1/a + 1/(1-a) = 1/(a - a^2))."""
    a = check_real("a", a, 0, 1, low_open=True, high_open=True)
    relu = lambda t: sp.Max(t, 0)
    return relu(y) / a - relu(y - a) / (a * (1 - a))


def composition_value(peaks: Sequence, point) -> sp.Rational:
    """W_{d-1}(point) = T_{a_{d-1}}(...T_{a_0}(point)), exactly."""
    v = check_real("point", point, 0, 1)
    for a in _peaks(peaks):
        v = v / a if v <= a else 1 - (v - a) / (1 - a)
    return v


def region_count(depth) -> sp.Integer:
    """Activation regions (and, under the law, affine pieces) of the depth-d triangle net: 2^d.

    derived (notes Sec. 1.4): only the t2 neurons switch on (0,1); layer k+1 switches at
    the 2^k points W_{k-1}^{-1}(a_k), so 1 + 2 + ... + 2^{d-1} = 2^d - 1 boundaries.
    """
    d = check_int("depth", depth, 1)
    return sp.Integer(2) ** d


def hidden_widths(widths: Sequence[int]) -> list[int]:
    """n_1, ..., n_L from ``widths`` = d_0, ..., d_{L+1} (input, hidden..., output) with d_0 = 1.

    The 1-D region formulas need a scalar input; ValueError naming ``widths`` otherwise.
    """
    ws = [check_int("widths", w, 1) for w in (widths.split(",") if isinstance(widths, str) else widths)]
    if len(ws) < 2:
        raise ValueError(f"widths must list d_0, ..., d_(L+1) (input, hidden..., output), got {list(ws)}")
    if ws[0] != 1:
        raise ValueError(f"widths must start with the input width d_0 = 1 (1-D input), got {list(ws)}")
    return ws[1:-1]


def max_regions_1d(widths: Sequence[int]) -> sp.Integer:
    """Upper bound prod_l (n_l + 1) on the regions of a 1-D-input ReLU net (Serra et al. 2018, Thm 1 at n_0 = 1).

    ``widths`` = d_0, ..., d_{L+1} (input d_0 = 1, hidden n_1..n_L, output).
    """
    return sp.Mul(*[sp.Integer(w + 1) for w in hidden_widths(widths)])


# --------------------------------------------------------------------------- the law
def law_scales(peaks: Sequence, s0, depth) -> list[sp.Rational]:
    """s_{i+1} = s_i (1 - a_{i+1}) a_{i+2}, i = 0..d-2 (Milkert et al. Thm 3.1; needs a_0..a_d)."""
    d = check_int("depth", depth, 1)
    a = _peaks(peaks, d + 1)
    s = [check_real("s0", s0, 0, low_open=True)]
    for i in range(d - 1):
        s.append(s[-1] * (1 - a[i + 1]) * a[i + 2])
    return s


def law_kink(peaks: Sequence, s0, depth, level, slope) -> sp.Rational:
    """Kink of F_d under the law at a breakpoint born at level j with |W'_{j-1}(p)| = m_p.

    Delta F_d'(p) = -m_p s_j / (a_j (1 - a_j)) * prod_{l=j+2}^{d} (1 - a_l)   (< 0: F_d concave).
    derived (notes Sec. 1.5(c)): the born term jumps by -m_p/(a_j(1-a_j)), the valley terms
    W_{j+k} by +m_p/(a_j(1-a_j)(1-a_{j+1})a_{j+2}...a_{j+k}); the law telescopes the sum.
    """
    d = check_int("depth", depth, 1)
    j = check_int("level", level, 0, d - 1)
    m = check_real("slope", slope, 0, low_open=True)
    a = _peaks(peaks, d + 1)
    s = law_scales(a, s0, d)
    tail = sp.Mul(*[1 - a[l] for l in range(j + 2, d + 1)])
    return -m * s[j] / (a[j] * (1 - a[j])) * tail


def slope_at_zero(peaks: Sequence, scales: Sequence) -> sp.Rational:
    """F_d'(0+) = sum_{i<d} s_i / (a_0 ... a_i)  (derived: W_i = x/(a_0...a_i) near 0)."""
    s = [check_real("scales", v, 0, low_open=True) for v in scales]
    a = _peaks(peaks, len(s))
    out, prod = sp.Integer(0), sp.Integer(1)
    for i, si in enumerate(s):
        prod *= a[i]
        out += si / prod
    return out


def law_slope_at_zero(peaks: Sequence, s0, depth) -> sp.Rational:
    """Under the law F_d'(0+) = s_0/(a_0 a_1) (1 - prod_{k=1}^{d} (1 - a_k)) (derived: telescoping)."""
    d = check_int("depth", depth, 1)
    a = _peaks(peaks, d + 1)
    s0 = check_real("s0", s0, 0, low_open=True)
    return s0 / (a[0] * a[1]) * (1 - sp.Mul(*[1 - a[k] for k in range(1, d + 1)]))


def degenerate_scales(peaks: Sequence, s0, tail: Sequence) -> list[sp.Rational]:
    """Scales s > 0 for which the kink of F_d at x = a_0 cancels (so pieces = 2^d - 1).

    derived: at p = a_0 (born at level 0, m_p = 1) term j jumps by -1/(a_0(1-a_0)) for j = 0,
    +1/(a_0(1-a_0)(1-a_1)) for j = 1 and +1/(a_0(1-a_0)(1-a_1)a_2...a_j) for j >= 2.
    Given s_0 and s_2.. = ``tail``, solve for s_1; ValueError if it is not > 0.
    """
    t = [check_real("tail", v, 0, low_open=True) for v in tail]
    d = len(t) + 2
    a = _peaks(peaks, d)
    s0 = check_real("s0", s0, 0, low_open=True)
    rest, prod = sp.Integer(0), 1 - a[1]
    for j, sj in enumerate(t, start=2):
        prod *= a[j]
        rest += sj / prod
    s1 = (1 - a[1]) * (s0 - rest)
    if not s1 > 0:
        raise ValueError("tail must be small enough that the cancelling s_1 is > 0")
    return [s0, s1, *t]


# --------------------------------------------------------------------------- sawtooth anchors
def telgarsky_sawtooth(k, point) -> sp.Rational:
    """m^k(x) = 1 - |2 frac(2^{k-1} x) - 1|: k-fold tent T_{1/2}, 2^k pieces, 2^{k-1} teeth (Telgarsky 2016)."""
    k = check_int("k", k, 1)
    v = check_real("point", point, 0, 1)
    t = sp.Integer(2) ** (k - 1) * v
    return 1 - abs(2 * (t - sp.floor(t)) - 1)


def yarotsky_errors(depth) -> dict:
    """x - F_d with a = 1/2, s_i = 4^{-(i+1)} interpolates x^2 at k/2^d (Yarotsky 2017, Prop. 2):
    sup error 2^{-2d-2}, integral of the squared error 2^{-4d}/30 (derived: on a cell of width h the
    error is (x-l)(r-x), max h^2/4, integral h^5/30)."""
    d = check_int("depth", depth, 1)
    return {"sup": sp.Integer(2) ** (-2 * d - 2), "l2sq": sp.Integer(2) ** (-4 * d) / 30}


# --------------------------------------------------------------------------- default initialisation
def one_layer_uniform_pieces(n) -> dict:
    """Pieces on [0,1] of x -> v.ReLU(w x + b), w, b ~ U(-1,1) i.i.d. (PyTorch nn.Linear at fan_in = 1).

    derived: the breakpoint -b/w lies in (0,1) iff sign(b) != sign(w) and |b| < |w|:
    probability 1/2 * 1/2 = 1/4, independently per neuron; so pieces = 1 + Binomial(n, 1/4).
    """
    n = check_int("n", n, 1)
    p = sp.Rational(1, 4)
    return {"mean": 1 + n * p, "var": n * p * (1 - p)}


def one_layer_gaussian_pieces(n, weight_var, bias_var) -> dict:
    """Same with w ~ N(0, weight_var), b ~ N(0, bias_var): -b/w is Cauchy with scale
    sqrt(bias_var/weight_var), so P(kink in (0,1)) = arctan(sqrt(weight_var/bias_var))/pi (derived)."""
    n = check_int("n", n, 1)
    vw = check_real("weight_var", weight_var, 0, low_open=True)
    vb = check_real("bias_var", bias_var, 0, low_open=True)
    p = sp.atan(sp.sqrt(vw / vb)) / sp.pi
    return {"mean": 1 + n * p, "var": n * p * (1 - p)}


def zero_bias_regions() -> sp.Integer:
    """A bias-free ReLU net is positively homogeneous: every pre-activation is c*x on x > 0,
    so it has exactly one activation region on (0, 1] at any weights (derived)."""
    return sp.Integer(1)


def hanin_rolnick_regions(crossings) -> sp.Expr:
    """E[#activation regions on a segment] = 1 + sum_z int E[|z'(x)| rho_{b_z}(-u_z(x))] dx.

    Hanin & Rolnick 2019 (arXiv 1901.09021), Thm 3 at k = 1 (Kac-Rice): neuron z = u_z(x) + b_z
    with its bias b_z independent of u_z crosses zero on average int E[|z'| rho_b(-u)] dx times
    along the segment; a.s. every crossing is one boundary, and regions = 1 + boundaries.
    ``crossings`` is that sum of integrals (measured by Monte Carlo over networks and points).
    """
    return 1 + check_real("crossings", crossings, 0)


def gradient_second_moment(init: str, layer) -> sp.Expr:
    """E[z_l'(x)^2] of a layer-l neuron of a scalar-input ReLU net at initialisation, any x.

    derived: E[z_{l+1}'^2] = n_l Var(w) E[1{z_l > 0} z_l'^2] = n_l Var(w) E[z_l'^2]/2, because
    (w, b) -> (-w, -b) of one neuron maps z -> -z, z' -> -z' (symmetric weights and biases).
    He (Var w = 2/fan_in): 2 at every layer.  PyTorch default (U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
    Var w = 1/(3 fan_in)): 1/3 at layer 1, divided by 6 per layer.
    """
    l = check_int("layer", layer, 1)
    if init == "he":
        return sp.Integer(2)
    if init == "default":
        return sp.Rational(1, 3) / sp.Integer(6) ** (l - 1)
    raise ValueError(f"init must be he or default, got {init!r}")


def hanin_rolnick_bound(widths: Sequence[int], init: str = "he", bias_var=sp.Rational(1, 10), length=1) -> sp.Expr:
    """E[#regions on a segment of length ell] <= 1 + ell sum_l n_l C_grad,l C_bias,l.

    Hanin & Rolnick 2019 (arXiv 1901.09021), Thm 3 at k = 1 with rho_b <= C_bias and
    E|z'| <= sqrt(E z'^2) = C_grad (:func:`gradient_second_moment`).  ``widths`` = d_0, ..., d_{L+1}
    with d_0 = 1.  He with biases N(0, bias_var): C_bias = 1/sqrt(2 pi bias_var), so the bound is
    1 + ell N / sqrt(pi bias_var), linear in the number of neurons N and independent of depth.
    PyTorch default: C_bias,l = sqrt(n_{l-1})/2 (uniform biases).
    """
    hidden = hidden_widths(widths)
    ell = check_real("length", length, 0, low_open=True)
    fan_in = [1, *hidden[:-1]]
    total = sp.Integer(0)
    for l, (n, f) in enumerate(zip(hidden, fan_in), start=1):
        c_grad = sp.sqrt(gradient_second_moment(init, l))
        if init == "he":
            c_bias = 1 / sp.sqrt(2 * sp.pi * check_real("bias_var", bias_var, 0, low_open=True))
        else:
            c_bias = sp.sqrt(f) / 2
        total += n * c_grad * c_bias
    return hanin_rolnick_regions(0) + ell * total


def block_net_parameters(blocks: int, depth_inner: int, depth_outer: int = 0) -> sp.Integer:
    """Trainable parameters of ``blocks`` width-4 triangle nets side by side (block-diagonal 4x4 hidden
    matrices, one scalar input each), summed into one output, optionally followed by an outer triangle net.

    derived: the blocks' first layers give 4k weights + 4k biases, each of their d_in - 1 hidden layers
    16k + 4k; without an outer net the output row has 4k weights + 1 bias; with one (depth d_out >= 1) the
    output row and the outer first layer merge into a dense 4 x 4k map (16k + 4), followed by d_out - 1
    hidden 4x4 layers (20 each) and a 4 -> 1 output (5).
    """
    k, d1, d2 = (sp.Integer(_int_at_least(v, name, low)) for v, name, low in
                 ((blocks, "blocks", 1), (depth_inner, "depth_inner", 1), (depth_outer, "depth_outer", 0)))
    inner = 8 * k + (d1 - 1) * 20 * k
    return inner + (4 * k + 1 if d2 == 0 else 16 * k + 4 + (d2 - 1) * 20 + 5)


def block_inner_regions(blocks: int, depth: int) -> sp.Integer:
    """Activation regions of the inner part of a triangle KAN on [0,1]^k: (2^d)^k.

    derived: block j's hidden neurons depend only on x_j, so a pattern is a k-tuple of the blocks'
    patterns and every region is a product of the blocks' 2^d activation intervals on [0,1].
    """
    k, d = _int_at_least(blocks, "blocks", 1), _int_at_least(depth, "depth", 1)
    return sp.Integer(2) ** (k * d)


def _int_at_least(value, name: str, low: int) -> int:
    if isinstance(value, bool) or int(value) != value or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


# --------------------------------------------------------------------------- registry
_SRC = "Milkert, Hyde & Laine (arXiv 2311.18022)"


@formula("regions.triangle.count", source=f"{_SRC}, abstract; derived: 2^d - 1 switching points of the t2 neurons",
         statement="the width-4 depth-d triangle network has exactly 2^d activation regions on [0,1]",
         params=[Param("depth", "int", "number of hidden layers d", low=1)],
         symbolic=lambda: sp.Eq(sp.Symbol("R"), 2 ** d_sym))
def _count(depth):
    return region_count(depth)


@formula("regions.law.scales", source=f"{_SRC}, Thm 3.1 (differentiability law)",
         statement="s_{i+1} = s_i (1 - a_{i+1}) a_{i+2}",
         params=[Param("peaks", "reals", "a_0,...,a_d in (0,1)", low=0, high=1, low_open=True),
                 Param("s0", "real", "first scale", low=0, low_open=True),
                 Param("depth", "int", "d", low=1)],
         symbolic=lambda: sp.Eq(sp.Symbol("s_{i+1}"),
                                sp.Symbol("s_i") * (1 - sp.Symbol("a_{i+1}")) * sp.Symbol("a_{i+2}")))
def _scales(peaks, s0, depth):
    return {f"s{i}": v for i, v in enumerate(law_scales(peaks, s0, depth))}


@formula("regions.law.kink", source="derived: telescoping of the kinks of s_j W_j under the law",
         statement="kink of F_d at a breakpoint born at level j: -m s_j/(a_j(1-a_j)) prod_{l=j+2}^d (1-a_l)",
         params=[Param("peaks", "reals", "a_0,...,a_d", low=0, high=1, low_open=True),
                 Param("s0", "real", "first scale", low=0, low_open=True),
                 Param("depth", "int", "d", low=1), Param("level", "int", "birth level j", low=0),
                 Param("slope", "real", "|W'_{j-1}(p)|", low=0, low_open=True)],
         symbolic=lambda: -sp.Symbol("m") * sp.Symbol("s_j") / (sp.Symbol("a_j") * (1 - sp.Symbol("a_j")))
         * sp.Product(1 - sp.Indexed("a", sp.Symbol("l")), (sp.Symbol("l"), sp.Symbol("j") + 2, d_sym)))
def _kink(peaks, s0, depth, level, slope):
    return law_kink(peaks, s0, depth, level, slope)


@formula("regions.law.slope-at-zero", source="derived: W_i = x/(a_0...a_i) near 0, telescoped by the law",
         statement="F_d'(0+) = s_0/(a_0 a_1) (1 - prod_{k=1}^d (1 - a_k))",
         params=[Param("peaks", "reals", "a_0,...,a_d", low=0, high=1, low_open=True),
                 Param("s0", "real", "first scale", low=0, low_open=True), Param("depth", "int", "d", low=1)],
         symbolic=lambda: sp.Symbol("s_0") / (sp.Symbol("a_0") * sp.Symbol("a_1"))
         * (1 - sp.Product(1 - sp.Indexed("a", k_sym), (k_sym, 1, d_sym))))
def _slope0(peaks, s0, depth):
    return law_slope_at_zero(peaks, s0, depth)


@formula("regions.telgarsky.sawtooth", source="Telgarsky 2016 (arXiv 1602.04485), sawtooth construction",
         statement="m^k(x) = 1 - |2 frac(2^{k-1} x) - 1|, 2^k pieces",
         params=[Param("k", "int", "number of tent compositions", low=1),
                 Param("x", "real", "point in [0,1]", low=0, high=1)],
         symbolic=lambda: 1 - sp.Abs(2 * sp.frac(2 ** (k_sym - 1) * x) - 1))
def _saw(k, x):
    return telgarsky_sawtooth(k, x)


@formula("regions.yarotsky.errors", source="Yarotsky 2017 (Neural Networks 94), Prop. 2; derived constants",
         statement="x^2 by 2^d uniform pieces: sup error 2^(-2d-2), squared L2 error 2^(-4d)/30",
         params=[Param("depth", "int", "d", low=1)],
         symbolic=lambda: {"sup": 2 ** (-2 * d_sym - 2), "l2sq": 2 ** (-4 * d_sym) / 30})
def _yar(depth):
    return yarotsky_errors(depth)


@formula("regions.init.one-layer-uniform", source="derived: P(-b/w in (0,1)) = 1/4 for w, b ~ U(-1,1)",
         statement="one hidden layer, PyTorch default init: pieces on [0,1] = 1 + Binomial(n, 1/4)",
         params=[Param("n", "int", "hidden neurons", low=1)],
         symbolic=lambda: {"mean": 1 + n_sym / 4, "var": 3 * n_sym / 16})
def _uni(n):
    return one_layer_uniform_pieces(n)


@formula("regions.init.one-layer-gaussian", source="derived: -b/w is Cauchy(0, sigma_b/sigma_w)",
         statement="one hidden layer, Gaussian init: E[pieces on [0,1]] = 1 + n arctan(sigma_w/sigma_b)/pi",
         params=[Param("n", "int", "hidden neurons", low=1),
                 Param("weight_var", "real", "sigma_w^2", low=0, low_open=True),
                 Param("bias_var", "real", "sigma_b^2", low=0, low_open=True)],
         symbolic=lambda: 1 + n_sym * sp.atan(sp.Symbol("sigma_w") / sp.Symbol("sigma_b")) / sp.pi)
def _gau(n, weight_var, bias_var):
    return one_layer_gaussian_pieces(n, weight_var, bias_var)


_WIDTHS_DOC = "d_0,...,d_(L+1): input (must be 1), hidden widths, output"


@formula("regions.max-regions-1d", source="Serra, Tjandraatmadja & Ramalingam 2018 (ICML), Thm 1 at n_0 = 1",
         statement="regions of a scalar-input ReLU net <= prod_l (n_l + 1) over the hidden widths",
         params=[Param("widths", "ints", _WIDTHS_DOC, low=1)],
         symbolic=lambda: sp.Product(sp.Indexed("n", sp.Symbol("l")) + 1, (sp.Symbol("l"), 1, sp.Symbol("L"))))
def _maxr(widths):
    return max_regions_1d(widths)


@formula("regions.init.hanin-rolnick", source="Hanin & Rolnick 2019 (arXiv 1901.09021), Thm 3 at k = 1",
         statement="E[#regions on a segment] = 1 + sum_z int E[|z'(x)| rho_b(-u_z(x))] dx",
         params=[Param("crossings", "real", "sum over neurons of int E[|z'| rho_b(-u)] dx (expected crossings)",
                       low=0)],
         symbolic=lambda: 1 + sp.Symbol("C"))
def _hr(crossings):
    return hanin_rolnick_regions(crossings)


@formula("regions.init.hanin-rolnick-bound", source="Hanin & Rolnick 2019 (arXiv 1901.09021), Thm 3 at k = 1; "
         "derived: E z'^2 at initialisation",
         statement="E[#regions on a segment of length ell] <= 1 + ell sum_l n_l C_grad,l C_bias,l "
                   "(He: 1 + ell N/sqrt(pi bias_var))",
         params=[Param("widths", "ints", _WIDTHS_DOC, low=1),
                 Param("init", "choice", "he (N(0, 2/fan_in) weights, N(0, bias_var) biases) or default (PyTorch)",
                       choices=("he", "default"), default="he"),
                 Param("bias_var", "real", "bias variance (he)", low=0, low_open=True, default="1/10"),
                 Param("length", "real", "segment length ell", low=0, low_open=True, default="1")],
         symbolic=lambda: 1 + sp.Symbol("ell") * sp.Symbol("N") / sp.sqrt(sp.pi * sp.Symbol("sigma_b") ** 2))
def _hr_bound(widths, init, bias_var, length):
    return hanin_rolnick_bound(widths, init, bias_var, length)


@formula("regions.kan.parameters", source="derived: count of the block-diagonal triangle network's entries",
         statement="k blocks of depth d_in (+ outer depth d_out): 8k + 20k(d_in - 1) + [4k + 1 if d_out = 0, "
                   "else 16k + 4 + 20(d_out - 1) + 5]",
         params=[Param("blocks", "int", "number k of triangle blocks (inputs of the inner sum)", low=1),
                 Param("depth_inner", "int", "depth of each block", low=1),
                 Param("depth_outer", "int", "depth of the outer triangle net (0: none)", low=0, default="0")],
         symbolic=lambda: 8 * sp.Symbol("k") + 20 * sp.Symbol("k") * (sp.Symbol("d_in") - 1) + 16 * sp.Symbol("k")
         + 4 + 20 * (sp.Symbol("d_out") - 1) + 5)
def _kan_params(blocks, depth_inner, depth_outer):
    return block_net_parameters(blocks, depth_inner, depth_outer)


@formula("regions.kan.inner-regions", source="derived: block-diagonal layers give product partitions",
         statement="the inner blocks of a triangle KAN on [0,1]^k have exactly (2^d)^k activation regions",
         params=[Param("blocks", "int", "number k of inputs / blocks", low=1), Param("depth", "int", "block depth d", low=1)],
         symbolic=lambda: 2 ** (sp.Symbol("k") * d_sym))
def _kan_inner(blocks, depth):
    return block_inner_regions(blocks, depth)
