"""Functional equivalence and covering numbers (Shen, arXiv 2305.11417), exact.

Network class: widths ``d = (d_0, ..., d_{L+1})``, ``f(x) = A_L s(... s(A_0 x + b_0) ...) + b_L``,
every weight and bias in ``[-B, B]`` (``S`` entries), inputs in ``[-1, 1]^{d_0}``, ``s``
1-Lipschitz with ``s(0) = 0``; covering in the sup norm over the input cube.

The paper's full text was not available: the covering bounds below are the project's
own DERIVED formalisation -- a Lipschitz-in-parameters argument (Lemma A) plus a grid
cover of the parameter box, where the permutation-reduced bound covers only the
neuron-sorted parameter vectors (each hidden layer's neurons ordered by bias), whose
images are the whole class.  The structure (an improvement by ``prod_l d_l!``) is the
paper's; the constants are ours.
"""
from __future__ import annotations

import math
from fractions import Fraction
from itertools import combinations_with_replacement

import mpmath
import sympy as sp

from dltv.theory.formulas import Param, check_choice, check_int, check_positive, check_real, formula

ACTIVATIONS = ("relu", "leaky_relu", "tanh", "generic")
_DPS = 40  # mpmath digits for logarithms of huge integers


# --------------------------------------------------------------------------- validation
def _widths(widths) -> list[int]:
    """``widths`` = (d_0, d_1, ..., d_L, d_{L+1}): input dimension, hidden widths, output
    dimension, as a list of >= 3 positive ints (a full architecture)."""
    if isinstance(widths, str):
        widths = [w for w in widths.split(",")]
    ws = [check_int("widths", w, 1) for w in widths]
    if len(ws) < 3:
        raise ValueError(f"widths must list the whole architecture d_0 (input), the hidden "
                         f"widths d_1..d_L and d_(L+1) (output): >= 3 entries, got {widths!r}")
    return ws


def _hidden(widths) -> list[int]:
    return _widths(widths)[1:-1]


# --------------------------------------------------------------------------- the class
def param_count(widths) -> int:
    """S = sum_{i=0}^{L} d_{i+1} (d_i + 1): weights and biases."""
    d = _widths(widths)
    return sum(d[i + 1] * (d[i] + 1) for i in range(len(d) - 1))


def lipschitz_constant(widths, B) -> sp.Expr:
    """Lambda = (L+1) Bbar^L prod_{l=0}^{L} (d_l + 1), Bbar = max(B, 1).

    derived (Lemma A): ||f_t - f_t'||_inf <= Lambda ||t - t'||_inf on [-B,B]^S.  Hidden
    states obey |h_l| <= Bbar^l prod_{j<l}(d_j+1); the errors e_{l+1} <= delta (d_l+1)|h_l|
    + d_l Bbar e_l; induction gives e_l <= l delta Bbar^{l-1} prod_{j<l}(d_j+1).
    """
    d = _widths(widths)
    B = check_positive("B", B)
    L = len(d) - 2
    Bbar = sp.Max(B, 1)
    return (L + 1) * Bbar ** L * sp.prod([di + 1 for di in d[:-1]])


def grid_size(widths, B, eps) -> int:
    """m = ceil(B Lambda / eps): cells per coordinate of the parameter grid.

    derived: a cell of side 2B/m has its centre within B/m <= eps/Lambda of every point.
    """
    B = check_positive("B", B)
    eps = check_positive("eps", eps)
    return int(sp.ceiling(B * lipschitz_constant(widths, B) / eps))


def classical_bound(widths, B, eps) -> sp.Integer:
    """N(F, eps) <= m^S (derived: full grid over [-B,B]^S, no symmetry used)."""
    return sp.Integer(grid_size(widths, B, eps)) ** param_count(widths)


def sorted_cell_count(m: int, d: int) -> int:
    """Grid cells of [-B,B]^d (m per side) that meet {b_1 >= ... >= b_d}: C(m+d-1, d).

    derived: the cell index is monotone in the coordinate, so sorted vectors land on
    non-increasing index tuples (multisets of size d from m values).
    """
    m = check_int("m", m, 1)
    d = check_int("d", d, 1)
    return math.comb(m + d - 1, d)


def permutation_bound(widths, B, eps) -> sp.Integer:
    """N(F, eps) <= m^(S - sum d_l) prod_l C(m + d_l - 1, d_l), exact.

    derived (Theorem B, our formalisation): cover only the neuron-sorted parameter
    vectors (hidden biases non-increasing per layer); every network equals one of them.
    Equals m^S / prod d_l! * prod_l prod_{j<d_l} (1 + j/m).
    """
    hid = _hidden(widths)
    m = grid_size(widths, B, eps)
    S = param_count(widths)
    return sp.Integer(m) ** (S - sum(hid)) * sp.prod([sorted_cell_count(m, dl) for dl in hid])


def clean_bound(widths, B, eps) -> sp.Rational:
    """m^S / prod d_l!: the asymptotic form of the permutation bound.

    derived: NOT a bound by itself; N <= clean * exp(sum_l d_l(d_l-1)/(2m)), hence
    N <= e^{L/2} clean when eps <= clean_eps_max (i.e. m >= W(W-1)).  At m = 1 it is < 1.
    """
    return classical_bound(widths, B, eps) / permutation_group_order(widths)


def clean_eps_max(widths, B) -> sp.Expr:
    """eps <= B Lambda / (W (W-1)) guarantees m >= W(W-1), so N <= e^{L/2} m^S / prod d_l!.

    Infinite (oo) when every hidden width is 1 (no permutations, nothing to correct).
    """
    W = max(_hidden(widths))
    B = check_positive("B", B)
    return sp.oo if W == 1 else B * lipschitz_constant(widths, B) / (W * (W - 1))


def log_bounds(widths, B, eps) -> dict:
    """Logarithms (30 digits) of both bounds, the saving and Lambda.

    log N_perm = S log m - sum_l [log d_l! - sum_{j<d_l} log(1 + j/m)]  (derived, see
    :func:`permutation_bound`); the saving tends to sum_l log d_l! as eps -> 0.
    """
    d = _widths(widths)
    hid = d[1:-1]
    Lam = lipschitz_constant(d, B)
    m = grid_size(d, B, eps)
    S = param_count(d)
    with mpmath.workdps(_DPS):
        logm = mpmath.log(m)
        log_c = S * logm
        log_multisets = sum(mpmath.loggamma(m + dl) - mpmath.loggamma(m) - mpmath.loggamma(dl + 1)
                            for dl in hid)
        log_p = (S - sum(hid)) * logm + log_multisets
        saving = log_c - log_p
        rel = saving / log_c if log_c > 0 else mpmath.mpf(0)
        to = lambda x: sp.Float(mpmath.nstr(x, 35), 30)  # noqa: E731
        return {"log_N_classical": to(log_c), "log_N_permutation": to(log_p),
                "log_saving": to(saving), "relative_saving": to(rel),
                "log_saving_limit": to(sum(mpmath.loggamma(dl + 1) for dl in hid)),
                "Lambda": sp.nsimplify(Lam), "m": sp.Integer(m), "S": sp.Integer(S)}


def bound_ratio_limit(widths) -> sp.Rational:
    """lim_{eps->0} N_perm / N_classical = 1/prod d_l!, by a sympy limit in m.

    derived: C(m+d-1, d)/m^d = prod_{j<d}(m+j)/(d! m^d) -> 1/d!.
    """
    m = sp.Symbol("m", positive=True)
    ratio = sp.prod([sp.prod([(m + j) for j in range(dl)]) / (sp.factorial(dl) * m ** dl)
                     for dl in _hidden(widths)])
    return sp.limit(ratio, m, sp.oo)


def relative_saving_shallow_limit(d0, dout) -> sp.Expr:
    """lim_{W->oo} saving / log N_classical for d_0-W-d_out nets at fixed eps, B: 1/(d_0+d_out+1).

    derived: log W! ~ W log W while S log m ~ W (d_0 + d_out + 1) log W (m grows like W).
    Computed by sympy on the leading terms (Stirling for log W!).
    """
    d0 = check_int("d0", d0, 1)
    dout = check_int("dout", dout, 1)
    W, c = sp.symbols("W c", positive=True)
    S = W * (d0 + 1) + dout * (W + 1)
    saving = W * sp.log(W) - W + sp.log(2 * sp.pi * W) / 2
    return sp.limit(saving / (S * sp.log(c * (W + 1))), W, sp.oo)


# --------------------------------------------------------------------------- groups
def permutation_group_order(widths) -> sp.Integer:
    """|S_{d_1} x ... x S_{d_L}| = prod_l d_l! (Shen 2305.11417: the factor d_1! ... d_L!)."""
    return sp.prod([sp.factorial(dl) for dl in _hidden(widths)])


def group_order(widths, activation: str = "relu") -> sp.Integer:
    """Order of the finite symmetry group of hidden neurons.

    relu / leaky_relu / generic (any coordinatewise activation): prod_l d_l! (permutations;
    ReLU's positive rescalings are continuous and add no finite factor).  tanh (odd):
    prod_l 2^{d_l} d_l!, the hyperoctahedral group (sign flips; Chen, Lu & Hecht-Nielsen 1993).
    """
    check_choice("activation", activation, ACTIVATIONS)
    hid = _hidden(widths)
    if activation == "tanh":
        return sp.prod([2 ** dl * sp.factorial(dl) for dl in hid])
    return permutation_group_order(widths)


def cnn_group_order(channels) -> sp.Integer:
    """prod_l C_l!: permutations of each conv layer's output channels (derived)."""
    cs = [check_int("channels", c, 1) for c in channels]
    return sp.prod([sp.factorial(c) for c in cs])


def residual_group_order(stream_dim, block_hidden) -> sp.Integer:
    """D! * prod_b h_b!: one residual-stream permutation shared by all blocks, times each
    block's hidden-unit permutations (derived)."""
    D = check_int("stream_dim", stream_dim, 1)
    hs = [check_int("block_hidden", h, 1) for h in block_hidden]
    return sp.factorial(D) * sp.prod([sp.factorial(h) for h in hs])


def attention_group_order(heads, d_k=None, d_v=None) -> sp.Integer:
    """H! per multi-head attention layer (head permutations); with ``d_k, d_v`` also the
    in-head coordinate permutations: H! (d_k! d_v!)^H (derived: a wreath product)."""
    H = check_int("heads", heads, 1)
    if d_k is None and d_v is None:
        return sp.factorial(H)
    dk = check_int("d_k", d_k, 1)
    dv = check_int("d_v", d_v, 1)
    return sp.factorial(H) * (sp.factorial(dk) * sp.factorial(dv)) ** H


def effective_volume_fraction(widths, activation: str = "relu") -> sp.Rational:
    """Vol(sorted representatives)/Vol([-B,B]^S) = 1/|G| (derived: ties have measure 0;
    tanh representatives also have every hidden bias >= 0)."""
    return 1 / group_order(widths, activation)


def orbit_count(q, N) -> sp.Integer:
    """S_N-orbits of 1-N-1 parameter vectors with entries on a q-level grid, by Burnside.

    (1/N!) sum_sigma (q^3)^{cycles(sigma)} * q, summed over cycle types (derived; a neuron
    is a triple (w, b, a), the output bias is fixed by every sigma).
    """
    q = check_int("q", q, 1)
    N = check_int("N", N, 1)
    total = sp.Integer(0)
    for part in sp.utilities.iterables.partitions(N):
        n_perms = sp.factorial(N) / sp.prod([k ** mk * sp.factorial(mk) for k, mk in part.items()])
        total += n_perms * sp.Integer(q ** 3) ** sum(part.values())
    return total * q / sp.factorial(N)


def orbit_count_multisets(q, N) -> int:
    """The same count as multisets of neurons times the output bias: C(q^3+N-1, N) q."""
    q = check_int("q", q, 1)
    N = check_int("N", N, 1)
    return math.comb(q ** 3 + N - 1, N) * q


def relu_shallow_function_count(levels, N, interval=(-2, 2)) -> int:
    """Distinct functions on ``interval`` of 1-N-1 ReLU networks with every weight and bias
    in ``levels``, exactly (rationals).

    derived: on [lo, hi] a ReLU neuron a relu(w x + b) is 0 (dead), affine, or, with its
    kink k = -b/w inside, affine plus a slope jump a|w| at k (for w < 0: a(wx + b) +
    a|w| relu(x - k)).  A network is then (slope, intercept, jumps at interior kinks), a
    unique representation of a continuous piecewise-linear function, so distinct
    representations are distinct functions.  This counts what permutations, positive
    rescalings (equal kinks), dead units and merged affine parts leave distinct.
    """
    exact = lambda v: Fraction(repr(v)) if isinstance(v, float) else Fraction(str(v))  # noqa: E731
    try:
        lv = [exact(v) for v in levels]
        lo, hi = (exact(v) for v in interval)
    except (TypeError, ValueError):
        raise ValueError(f"levels and interval must be numbers, got {levels!r}, {interval!r}") from None
    if len(set(lv)) != len(lv) or not lv:
        raise ValueError(f"levels must be distinct numbers, got {levels!r}")
    N = check_int("N", N, 1)
    if not lo < hi:
        raise ValueError(f"interval must be (lo, hi) with lo < hi, got {interval!r}")

    def piece(w, b, a):
        if w == 0:
            return 0, a * max(b, 0), ()  # constant neuron
        k = -b / w
        inside = lo < k < hi
        affine = (w < 0) if inside else (w > 0) == (k <= lo)
        s, t = (a * w, a * b) if affine else (0, 0)
        return s, t, ((k, a * abs(w)),) if inside else ()

    pieces = [piece(w, b, a) for w in lv for b in lv for a in lv]
    forms = set()
    for multiset in combinations_with_replacement(range(len(pieces)), N):
        s = sum(pieces[i][0] for i in multiset)
        t = sum(pieces[i][1] for i in multiset)
        jumps: dict = {}
        for i in multiset:
            for k, j in pieces[i][2]:
                jumps[k] = jumps.get(k, 0) + j
        kinks = frozenset((k, j) for k, j in jumps.items() if j != 0)
        forms.update((s, t + c, kinks) for c in lv)
    return len(forms)


def sorted_tuples_bruteforce(m: int, d: int) -> int:
    """Non-increasing index tuples in {0..m-1}^d, enumerated (independent check)."""
    return sum(1 for _ in combinations_with_replacement(range(m), d))


# --------------------------------------------------------------------------- tanh sign flips
def sorted_nonnegative_cell_count(m: int, d: int) -> int:
    """Grid cells of [-B,B]^d (m per side) that meet {b_1 >= ... >= b_d >= 0}: C(ceil(m/2)+d-1, d).

    derived: cell k is [-B + 2Bk/m, -B + 2B(k+1)/m) (the last one closed); it meets [0, B]
    iff k >= floor(m/2), so ceil(m/2) indices remain, and the monotone cell map sends sorted
    non-negative vectors onto the non-increasing tuples of those indices (multisets).  For
    even m: C(m/2 + d - 1, d), the notes' count.
    """
    m = check_int("m", m, 1)
    d = check_int("d", d, 1)
    return math.comb((m + 1) // 2 + d - 1, d)


def sign_flip_bound(widths, B, eps) -> sp.Integer:
    """N(F_tanh, eps) <= m^(S - sum d_l) prod_l C(ceil(m/2) + d_l - 1, d_l) for odd activations.

    derived: a sign flip (w_i, b_i, a_i) -> (-w_i, -b_i, -a_i) of a tanh neuron keeps f, so
    every network equals one whose hidden biases are >= 0 and sorted per layer (flip, then
    sort; layers are independent).  Cover those: the bias cells are counted by
    :func:`sorted_nonnegative_cell_count`, every other coordinate has m cells.  As eps -> 0
    the ratio to the classical bound tends to 1/prod 2^{d_l} d_l!.
    """
    hid = _hidden(widths)
    m = grid_size(widths, B, eps)
    S = param_count(widths)
    return sp.Integer(m) ** (S - sum(hid)) * sp.prod([sorted_nonnegative_cell_count(m, dl) for dl in hid])


# --------------------------------------------------------------------------- ReLU scaling
def boundary_cell_count(m: int, k: int) -> int:
    """Cells of [-B,B]^k (m per side) that meet the boundary {||v||_inf = B}: m^k - (m-2)^k
    (every cell when m <= 2).  derived: the interior cells have all indices in 1..m-2."""
    m = check_int("m", m, 1)
    k = check_int("k", k, 1)
    return m ** k - max(m - 2, 0) ** k


def relu_scaling_bound(widths, B, eps) -> sp.Integer:
    """N(F_ReLU, eps) <= m^(S - sum_l d_l k_l) prod_l (m^k_l - (m-2)^k_l)^d_l, k_l = d_{l-1} + 1.

    derived (the positive-scaling quotient): process hidden layers first to last; multiply
    neuron i's incoming vector (w_i, b_i) by c_i = B/||(w_i, b_i)||_inf >= 1 and divide its
    outgoing weights by c_i.  ReLU(c z) = c ReLU(z) keeps f, the division only shrinks
    entries, so every network of the box equals one in the box whose hidden incoming vectors
    all lie on the boundary of [-B,B]^{k_l}.  Cover those: each hidden neuron's k_l incoming
    coordinates need only the boundary cells (:func:`boundary_cell_count`), the other
    coordinates m cells each; Lemma A is unchanged (same box).  log N = (S - sum d_l) log m
    + O(1) as m -> oo: effective dimension S - sum_l d_l.  Not combined with the
    permutation factor (a bias-sorted boundary set has no product cell count).
    """
    d = _widths(widths)
    m = grid_size(d, B, eps)
    S = param_count(d)
    ks = [(dl, d[i] + 1) for i, dl in enumerate(d[1:-1])]
    free = S - sum(dl * k for dl, k in ks)
    return sp.Integer(m) ** free * sp.prod([sp.Integer(boundary_cell_count(m, k)) ** dl for dl, k in ks])


def _to30(x) -> sp.Float:
    return sp.Float(mpmath.nstr(x, 35), 30)


def symmetry_log_bounds(widths, B, eps) -> dict:
    """Logarithms (30 digits) of the classical, permutation, sign-flip (tanh) and scaling-
    quotient (ReLU) bounds at the same grid m, and their eps -> 0 savings over the classical
    bound: sum log d_l!, sum log(2^{d_l} d_l!), and sum_l d_l log(m/(2 k_l)) (scaling, which
    grows with m: effective dimension S - sum d_l)."""
    d = _widths(widths)
    hid = d[1:-1]
    m = grid_size(d, B, eps)
    S = param_count(d)
    with mpmath.workdps(_DPS):
        logm = mpmath.log(m)
        ks = [(dl, d[i] + 1) for i, dl in enumerate(hid)]
        log_scaling = (S - sum(dl * k for dl, k in ks)) * logm + sum(
            dl * mpmath.log(boundary_cell_count(m, k)) for dl, k in ks)
        return {"log_N_classical": _to30(S * logm), "log_N_permutation": _to30(_log_cover(d, m, True)),
                "log_N_sign_flip": _to30(_log_cover(d, m, True, True)), "log_N_scaling": _to30(log_scaling),
                "log_saving_limit_permutation": _to30(sum(mpmath.loggamma(dl + 1) for dl in hid)),
                "log_saving_limit_sign_flip": _to30(sum(dl * mpmath.log(2) + mpmath.loggamma(dl + 1)
                                                        for dl in hid)),
                "effective_dimension_scaling": sp.Integer(S - sum(hid)), "m": sp.Integer(m), "S": sp.Integer(S)}


# --------------------------------------------------------------------------- CNN class
def _cnn_args(channels, kernel, pooled, n_out) -> tuple:
    cs = [check_int("channels", c, 1) for c in (channels.split(",") if isinstance(channels, str) else channels)]
    if len(cs) < 2:
        raise ValueError(f"channels must list the input channels and >= 1 conv layer's output channels "
                         f"c_0,c_1,...,c_L, got {channels!r}")
    return cs, check_int("kernel", kernel, 1), check_int("pooled", pooled, 1), check_int("n_out", n_out, 1)


def cnn_param_count(channels, kernel, pooled, n_out) -> int:
    """S = sum_{l<L} c_{l+1} (k^2 c_l + 1) + n_out (c_L P + 1): conv filters and biases, read-out."""
    cs, k, P, n_out = _cnn_args(channels, kernel, pooled, n_out)
    return sum(cs[l + 1] * (k * k * cs[l] + 1) for l in range(len(cs) - 1)) + n_out * (cs[-1] * P + 1)


def cnn_lipschitz_constant(channels, kernel, pooled, n_out, B) -> sp.Expr:
    """Lambda = (L+1) Bbar^L prod_{l<L} (k^2 c_l + 1) (c_L P + 1) for L conv layers (k x k kernels,
    zero padding, a 1-Lipschitz activation with s(0) = 0), average pooling to P positions and a
    linear read-out, images in [-1,1].

    derived: Lemma A with each layer's fan-in in place of d_l: an output unit of conv layer l
    sums k^2 c_l weighted inputs plus a bias (fewer at a zero-padded border), and average
    pooling is 1-Lipschitz and bound-preserving in the sup norm, so the same induction holds.
    """
    cs, k, P, _ = _cnn_args(channels, kernel, pooled, n_out)
    B = check_positive("B", B)
    L = len(cs) - 1
    fan_in = [k * k * c for c in cs[:-1]] + [cs[-1] * P]
    return (L + 1) * sp.Max(B, 1) ** L * sp.prod([f + 1 for f in fan_in])


def cnn_log_bounds(channels, kernel, pooled, n_out, B, eps) -> dict:
    """log of m^S and of m^(S - sum c_l) prod_l C(m + c_l - 1, c_l) for the CNN class, m =
    ceil(B Lambda / eps) with :func:`cnn_lipschitz_constant` (derived: channels sorted by conv
    bias, as hidden neurons are; the channel group has order prod_{l>=1} c_l!)."""
    cs, k, P, n_out = _cnn_args(channels, kernel, pooled, n_out)
    lam = cnn_lipschitz_constant(cs, k, P, n_out, B)
    eps = check_positive("eps", eps)
    m = int(sp.ceiling(B * lam / eps))
    S = cnn_param_count(cs, k, P, n_out)
    hid = cs[1:]
    with mpmath.workdps(_DPS):
        logm = mpmath.log(m)
        log_p = (S - sum(hid)) * logm + sum(mpmath.loggamma(m + c) - mpmath.loggamma(m) - mpmath.loggamma(c + 1)
                                            for c in hid)
        return {"log_N_classical": _to30(S * logm), "log_N_permutation": _to30(log_p),
                "log_saving_limit": _to30(sum(mpmath.loggamma(c + 1) for c in hid)),
                "Lambda": sp.nsimplify(lam), "m": sp.Integer(m), "S": sp.Integer(S),
                "group_order": cnn_group_order(hid)}


def generalisation_term(log_N, n, eta, M=1, lip_loss=1, *, eps) -> sp.Expr:
    """2 Lip eps + M sqrt((log N + log(2/eta)) / (2n)): uniform deviation over the class.

    derived template (Hoeffding + union bound over an eps-cover in sup norm, for a loss in
    [0, M] that is ``lip_loss``-Lipschitz in the prediction): with probability >= 1 - eta,
    sup_f |R(f) - R_n(f)| <= this, where ``log_N`` is the log covering number at ``eps``.
    ``eps`` (keyword, required) is the radius of the cover behind ``log_N``: without the
    2 Lip eps term the expression is not a bound (it falls to the single-function value
    as eps grows).  Not the paper's verbatim theorem.
    """
    n, eta, M, lip_loss = _deviation_args(n, eta, M, lip_loss)
    eps = check_real("eps", eps, 0)
    return 2 * lip_loss * eps + M * sp.sqrt((log_N + sp.log(2 / eta)) / (2 * n))


def _deviation_args(n, eta, M, lip_loss) -> tuple:
    """The sample size, confidence, loss bound and loss Lipschitz constant, checked."""
    n = check_int("n", n, 1)
    eta = check_positive("eta", eta)
    if not eta < 1:
        raise ValueError(f"eta must lie in (0, 1), got {eta}")
    return n, eta, check_positive("M", M), check_real("lip_loss", lip_loss, 0)


def _log_cover(widths, m: int, permutation: bool, sign_flips: bool = False):
    """log of the covering bound at grid size m (mpmath): S log m, or with the sorted cells
    (S - sum d_l) log m + sum_l log C(r + d_l - 1, d_l), r = m (permutations) or ceil(m/2)
    (permutations and sign flips: sorted non-negative biases)."""
    hid = widths[1:-1]
    S = sum(widths[i + 1] * (widths[i] + 1) for i in range(len(widths) - 1))
    logm = mpmath.log(m)
    if not permutation:
        return S * logm
    r = (m + 1) // 2 if sign_flips else m
    return (S - sum(hid)) * logm + sum(mpmath.loggamma(r + dl) - mpmath.loggamma(r)
                                       - mpmath.loggamma(dl + 1) for dl in hid)


def _deviation_at(widths, B_lambda, m, n, eta, M, lip_loss, permutation, sign_flips=False):
    """The uniform-deviation bound with eps = B Lambda / m, the smallest radius of grid size m."""
    eps = B_lambda / m
    log_N = _log_cover(widths, m, permutation, sign_flips)
    return 2 * lip_loss * eps + M * mpmath.sqrt((log_N + mpmath.log(2 / eta)) / (2 * n))


def optimal_deviation_bound(widths, B, n, eta, M=1, lip_loss=1, permutation=True,
                            m_hint: int | None = None, sign_flips: bool = False) -> dict:
    """min over eps > 0 of 2 Lip eps + M sqrt((log N(eps) + log(2/eta)) / (2n)), exact.

    derived: N(eps) depends on eps only through m = ceil(B Lambda / eps), and for fixed m the
    term 2 Lip eps is smallest at eps = B Lambda / m, so the minimum is over integers m >= 1
    of g(m) = 2 Lip B Lambda / m + M sqrt((log N_m + log(2/eta)) / (2n)).  Its forward
    difference changes sign once (the first term falls like 1/m^2, the second like
    1/(m sqrt(log m))), so the first m with g(m+1) >= g(m) is the minimiser; found by
    doubling (from ``m_hint``/4 when that lies below m*) and bisection at 40 digits.
    ``sign_flips`` (odd activations such as tanh) uses the sign-flip bound
    (:func:`sign_flip_bound`) and runs over even m = 2j only, where it has the same form
    as the permutation bound in j.  Returns the bound, eps* and m*.
    """
    d = _widths(widths)
    B = check_positive("B", B)
    n, eta, M, lip_loss = _deviation_args(n, eta, M, lip_loss)
    lam = lipschitz_constant(d, B)
    with mpmath.workdps(_DPS):
        mp = lambda x: mpmath.mpf(sp.N(x, _DPS))  # noqa: E731
        flips = bool(sign_flips)
        step = 2 if flips else 1
        args = (mp(B * lam), n, mp(eta), mp(M), mp(lip_loss), bool(permutation) or flips, flips)
        g = lambda j: _deviation_at(d, args[0], step * j, *args[1:])  # noqa: E731
        m_hint = None if m_hint is None else int(m_hint) // step
        rising = lambda m: g(m + 1) >= g(m)  # noqa: E731
        lo = 1 if m_hint is None else max(1, int(m_hint) // 4)  # a start below m*, if it is
        if lo > 1 and rising(lo):
            lo = 1
        hi = 2 * lo
        while not rising(hi):
            lo, hi = hi, 2 * hi
            if hi > 2 ** 200:
                raise ValueError("lip_loss: the bound keeps falling with m; give lip_loss > 0")
        while hi - lo > 1:  # rising(hi) holds, and rising(lo) fails unless lo == 1
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if rising(mid) else (mid, hi)
        j_star = lo if rising(lo) else hi
        value, m_star = g(j_star), step * j_star
        return {"bound": sp.Float(mpmath.nstr(value, 35), 30), "m": sp.Integer(m_star),
                "eps": sp.nsimplify(B * lam) / m_star}


def single_function_deviation(n, eta, M=1) -> sp.Expr:
    """M sqrt(log(2/eta) / (2n)): Hoeffding for one fixed function (no union over a cover).

    It is what the bound without its 2 Lip eps term tends to as eps -> oo (N = 1 at m = 1).
    """
    return generalisation_term(0, n, eta, M, 0, eps=0)


def sample_size_needed(widths, B, target, eta, M=1, lip_loss=1, permutation=True,
                       sign_flips: bool = False) -> int:
    """Smallest n at which the eps-minimised uniform-deviation bound is <= ``target``
    (``sign_flips``: with the tanh sign-flip bound, see :func:`optimal_deviation_bound`).

    derived: the minimised bound decreases strictly in n; bisection on n after doubling.  A
    candidate from :func:`_sample_size_candidate` is accepted only when the exact test confirms
    it (reached at n, not at n - 1); otherwise the search runs from scratch.
    """
    target = check_positive("target", target)
    hint = [None]

    def ok(n):
        opt = optimal_deviation_bound(widths, B, n, eta, M, lip_loss, permutation, hint[0], sign_flips)
        hint[0] = int(opt["m"])
        return opt["bound"] <= target

    guess = _sample_size_candidate(widths, B, target, eta, M, lip_loss, permutation, sign_flips)
    if guess is not None and ok(guess) and (guess == 1 or not ok(guess - 1)):
        return guess
    hint[0] = None
    lo, hi = 0, 1
    while not ok(hi):
        lo, hi = hi, 2 * hi
        if hi > 2 ** 80:
            raise ValueError(f"target={target} is not reached for n < 2^80")
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if ok(mid) else (mid, hi)
    return hi


def _sample_size_candidate(widths, B, target, eta, M, lip_loss, permutation, sign_flips) -> int | None:
    """ceil(min_m n(m)), n(m) = M^2 (log N_m + log(2/eta)) / (2 (target - 2 Lip B Lambda/m)^2): the
    smallest n whose bound at grid m reaches the target, minimised over m by the first rise of
    its forward difference.  The exact answer when n(m) is unimodal; only a candidate here."""
    d = _widths(widths)
    B = check_positive("B", B)
    n_args = _deviation_args(1, eta, M, lip_loss)
    flips = bool(sign_flips)
    step = 2 if flips else 1
    with mpmath.workdps(_DPS):
        mp = lambda x: mpmath.mpf(sp.N(x, _DPS))  # noqa: E731
        a, t, log_eta = mp(2 * n_args[3] * B * lipschitz_constant(d, B)), mp(target), mpmath.log(2 / mp(n_args[1]))

        def n_of(j):
            gap = t - a / (step * j)
            log_n = _log_cover(d, step * j, bool(permutation) or flips, flips)
            return mp(n_args[2]) ** 2 * (log_n + log_eta) / (2 * gap * gap) if gap > 0 else mpmath.inf

        rising = lambda j: n_of(j + 1) >= n_of(j)  # noqa: E731
        lo = int(a / (t * step)) + 1  # the first j with a finite n(j)
        hi = 2 * lo
        while not rising(hi):
            lo, hi = hi, 2 * hi
            if hi > 2 ** 200:
                return None
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if rising(mid) else (mid, hi)
        best = min(n_of(lo), n_of(hi))
        return int(mpmath.ceil(best)) if mpmath.isfinite(best) else None


# --------------------------------------------------------------------------- registry
_SRC = ("derived formalisation of Shen (arXiv 2305.11417): Lipschitz-in-parameters grid "
        "cover; the permutation bound covers only neuron-sorted parameter vectors")
_WIDTHS = Param("widths", "ints",
                "all layer widths d_0,d_1,...,d_L,d_{L+1}: input dimension, the hidden widths, output "
                "dimension (>= 3 entries; 1,8,8,1 is two hidden layers of 8)", low=1)
_B = Param("B", "real", "bound on every weight and bias", low=0, low_open=True)
_EPS = Param("eps", "real", "covering radius in sup norm over [-1,1]^{d_0}", low=0, low_open=True)


def _symbolic_log_bound():
    S, m, L = sp.symbols("S m L", positive=True, integer=True)
    l, j = sp.symbols("l j", integer=True)
    d = sp.IndexedBase("d")
    B, eps, Bb = sp.symbols("B epsilon Bbar", positive=True)
    lam = (L + 1) * Bb ** L * sp.Product(d[l] + 1, (l, 0, L))
    return {"Lambda": sp.Eq(sp.Symbol("Lambda"), lam),
            "m": sp.Eq(m, sp.ceiling(B * sp.Symbol("Lambda") / eps)),
            "log_N_classical": sp.Eq(sp.Symbol("log_N_classical"), S * sp.log(m)),
            "log_N_permutation": sp.Eq(sp.Symbol("log_N_permutation"), S * sp.log(m) - sp.Sum(
                sp.log(sp.factorial(d[l])) - sp.Sum(sp.log(1 + j / m), (j, 0, d[l] - 1)), (l, 1, L)))}


@formula("covering.log_bound", source=_SRC,
         statement="log covering numbers of the bounded-weight class with and without the "
                   "permutation factor prod d_l!, their difference and the Lipschitz constant",
         params=[_WIDTHS, _B, _EPS], symbolic=_symbolic_log_bound)
def _covering_log_bound(widths, B, eps):
    return log_bounds(widths, B, eps)


@formula("covering.group_order", source="Shen (arXiv 2305.11417): factor d_1!...d_L!; tanh sign "
                                         "flips: Chen, Lu & Hecht-Nielsen (1993)",
         statement="order of the finite group of hidden-neuron symmetries (permutations, and "
                   "sign flips for tanh)",
         params=[_WIDTHS, Param("activation", "choice", "activation", choices=ACTIVATIONS,
                                default="relu")],
         symbolic=lambda: {"permutations": sp.Product(sp.factorial(sp.Indexed("d", sp.Symbol("l"))),
                                                      (sp.Symbol("l"), 1, sp.Symbol("L"))),
                           "tanh": sp.Product(2 ** sp.Indexed("d", sp.Symbol("l"))
                                              * sp.factorial(sp.Indexed("d", sp.Symbol("l"))),
                                              (sp.Symbol("l"), 1, sp.Symbol("L")))})
def _covering_group_order(widths, activation):
    return group_order(widths, activation)


@formula("covering.orbit_count", source="derived (Burnside's lemma over S_N acting on neurons)",
         statement="number of S_N-orbits of 1-N-1 parameter vectors (with biases) on a q-level grid",
         params=[Param("q", "int", "grid levels per parameter", low=1),
                 Param("N", "int", "hidden units", low=1)],
         symbolic=lambda: sp.Eq(sp.Symbol("orbits"),
                                sp.binomial(sp.Symbol("q") ** 3 + sp.Symbol("N") - 1, sp.Symbol("N"))
                                * sp.Symbol("q")))
def _covering_orbit_count(q, N):
    return orbit_count(q, N)


@formula("covering.volume_fraction", source=_SRC,
         statement="fraction of the parameter box that is neuron-sorted (canonical): 1/|G|",
         params=[_WIDTHS, Param("activation", "choice", "activation", choices=ACTIVATIONS,
                                default="relu")],
         symbolic=lambda: sp.Eq(sp.Symbol("fraction"), 1 / sp.Symbol("|G|")))
def _covering_volume_fraction(widths, activation):
    return effective_volume_fraction(widths, activation)


@formula("covering.generalisation", source=_SRC + "; Hoeffding + union bound over an eps-cover",
         statement="uniform deviation bound 2 Lip eps + M sqrt((log N(eps) + log(2/eta))/(2n)) with "
                   "both covering bounds, at the given eps and minimised over eps",
         params=[_WIDTHS, _B, _EPS, Param("n", "int", "sample size", low=1),
                 Param("eta", "real", "failure probability in (0,1)", low=0, high=1, low_open=True),
                 Param("M", "real", "range of the loss [0, M]", low=0, low_open=True, default=1),
                 Param("lip_loss", "real", "Lipschitz constant of the loss in the prediction", low=0,
                       low_open=True, default=1)],
         symbolic=lambda: sp.Eq(sp.Symbol("gap"), 2 * sp.Symbol("Lip") * sp.Symbol("epsilon")
                                + sp.Symbol("M") * sp.sqrt((sp.Symbol("log_N") + sp.log(2 / sp.Symbol("eta")))
                                                           / (2 * sp.Symbol("n")))))
def _covering_generalisation(widths, B, eps, n, eta, M, lip_loss):
    """At ``eps``: keys classical / permutation; minimised over eps: *_optimal, with the
    minimising radius eps_* and grid size m_*; single_function: the one-function value."""
    lb = log_bounds(widths, B, eps)
    out = {"classical": sp.N(generalisation_term(lb["log_N_classical"], n, eta, M, lip_loss, eps=eps), 30),
           "permutation": sp.N(generalisation_term(lb["log_N_permutation"], n, eta, M, lip_loss, eps=eps), 30),
           "single_function": sp.N(single_function_deviation(n, eta, M), 30)}
    for kind, perm in (("classical", False), ("permutation", True)):
        opt = optimal_deviation_bound(widths, B, n, eta, M, lip_loss, perm)
        out[f"{kind}_optimal"] = opt["bound"]
        out[f"eps_{kind}_optimal"] = opt["eps"]
        out[f"m_{kind}_optimal"] = opt["m"]
    return out


_CHANNELS = Param("channels", "ints", "channels c_0 (input), c_1, ..., c_L of the conv layers (>= 2 entries)", low=1)


def _factorial_product(name: str, upper: str):
    l = sp.Symbol("l")
    return sp.Product(sp.factorial(sp.Indexed(name, l)), (l, 1, sp.Symbol(upper)))


@formula("covering.cnn_group_order", source="derived extension of Shen (arXiv 2305.11417) to CNNs: "
                                             "permutations of each conv layer's output channels",
         statement="order of the channel-permutation group of a CNN: prod_l c_l! over its conv layers' "
                   "output channels (filters, biases, BatchNorm and the next layer's input slices move along)",
         params=[Param("channels", "ints", "output channels c_1..c_L of the conv layers", low=1)],
         symbolic=lambda: sp.Eq(sp.Symbol("|G|"), _factorial_product("c", "L")))
def _covering_cnn_group_order(channels):
    return cnn_group_order(channels)


@formula("covering.residual_group_order",
         source="derived extension of Shen (arXiv 2305.11417) to residual networks; the residual-stream "
                "factor D! is the project's own (the paper's count is not known)",
         statement="order of the permutation group of a residual MLP: D! (one residual-stream permutation "
                   "shared by every layer) times prod_b h_b! (each block's hidden units)",
         params=[Param("stream_dim", "int", "residual-stream dimension D", low=1),
                 Param("block_hidden", "ints", "hidden units h_1..h_n of the blocks", low=1)],
         symbolic=lambda: sp.Eq(sp.Symbol("|G|"), sp.factorial(sp.Symbol("D")) * _factorial_product("h", "n")))
def _covering_residual_group_order(stream_dim, block_hidden):
    return residual_group_order(stream_dim, block_hidden)


@formula("covering.attention_group_order",
         source="derived extension of Shen (arXiv 2305.11417) to multi-head attention: head permutations "
                "(H!) and, inside each head, joint query/key and value coordinate permutations",
         statement="order of the finite permutation group of one multi-head attention layer: "
                   "H! (d_k! d_v!)^H (H! alone with d_k = d_v = 1)",
         params=[Param("heads", "int", "number of heads H", low=1),
                 Param("d_k", "int", "query/key coordinates per head (1: heads only)", low=1, default=1),
                 Param("d_v", "int", "value coordinates per head (1: heads only)", low=1, default=1)],
         symbolic=lambda: sp.Eq(sp.Symbol("|G|"), sp.factorial(sp.Symbol("H")) * (
             sp.factorial(sp.Symbol("d_k")) * sp.factorial(sp.Symbol("d_v"))) ** sp.Symbol("H")))
def _covering_attention_group_order(heads, d_k, d_v):
    return attention_group_order(heads, d_k, d_v)


def _symbolic_cnn_bound() -> dict:
    L, k, P, B, m, S, C = sp.symbols("L k P Bbar m S C", positive=True)
    l = sp.Symbol("l", integer=True)
    c = sp.IndexedBase("c")
    lam = (L + 1) * B ** L * sp.Product(k ** 2 * c[l] + 1, (l, 0, L - 1)) * (c[L] * P + 1)
    return {"Lambda": sp.Eq(sp.Symbol("Lambda"), lam),
            "N_permutation": sp.Eq(sp.Symbol("N"), m ** (S - C) * sp.Product(sp.binomial(m + c[l] - 1, c[l]),
                                                                               (l, 1, L)))}


def _symbolic_symmetry_bounds() -> dict:
    L, m, S, D = sp.symbols("L m S D", positive=True)
    l = sp.Symbol("l", integer=True)
    d = sp.IndexedBase("d")
    k = d[l - 1] + 1
    return {"sign_flip": sp.Eq(sp.Symbol("N_tanh"), m ** (S - D) * sp.Product(
                sp.binomial(sp.ceiling(m / 2) + d[l] - 1, d[l]), (l, 1, L))),
            "relu_scaling": sp.Eq(sp.Symbol("N_relu"), m ** (S - sp.Sum(d[l] * k, (l, 1, L)))
                                  * sp.Product((m ** k - (m - 2) ** k) ** d[l], (l, 1, L)))}


@formula("covering.cnn_log_bound", source=_SRC + "; CNN: fan-in k^2 c_l in Lambda, channels sorted by bias",
         statement="log covering numbers of the bounded-weight CNN class (conv layers, average pooling to P "
                   "positions, linear read-out) with and without the channel factor prod c_l!",
         params=[_CHANNELS, Param("kernel", "int", "kernel side k (k x k filters)", low=1),
                 Param("pooled", "int", "pooled positions P per channel before the read-out", low=1),
                 Param("n_out", "int", "outputs of the read-out", low=1), _B, _EPS],
         symbolic=lambda: _symbolic_cnn_bound())
def _covering_cnn_log_bound(channels, kernel, pooled, n_out, B, eps):
    return cnn_log_bounds(channels, kernel, pooled, n_out, B, eps)


@formula("covering.symmetry_bounds", source=_SRC + "; tanh: biases flipped to >= 0 and sorted; ReLU: incoming "
                                                   "vectors rescaled onto the box boundary",
         statement="log covering bounds at one grid m: classical, permutation, sign flips (odd activations: "
                   "C(ceil(m/2)+d_l-1, d_l) bias cells) and ReLU scaling quotient (boundary cells "
                   "m^k - (m-2)^k per neuron, k = d_{l-1}+1), with their savings",
         params=[_WIDTHS, _B, _EPS],
         symbolic=lambda: _symbolic_symmetry_bounds())
def _covering_symmetry_bounds(widths, B, eps):
    return symmetry_log_bounds(widths, B, eps)


def _symbolic_sample_size():
    """n_needed = ceil(min_m n(m)): the bound at grid m reaches the target t iff n >= n(m)."""
    M, t, eta, lip, B, lam, m = sp.symbols("M t eta Lip B Lambda m", positive=True)
    n_m = M ** 2 * (sp.Symbol("log_N_m") + sp.log(2 / eta)) / (2 * (t - 2 * lip * B * lam / m) ** 2)
    return sp.Eq(sp.Symbol("n_needed"), sp.ceiling(sp.Symbol("min_m") * n_m))


@formula("covering.sample_size", source=_SRC + "; Hoeffding + union bound over the eps-cover, minimised over eps",
         statement="smallest sample size n at which the eps-minimised uniform-deviation bound reaches the "
                   "target: classical, with prod d_l! and with prod 2^{d_l} d_l! (tanh sign flips)",
         params=[_WIDTHS, _B, Param("target", "real", "uniform deviation to reach", low=0, low_open=True),
                 Param("eta", "real", "failure probability in (0,1)", low=0, high=1, low_open=True),
                 Param("M", "real", "range of the loss [0, M]", low=0, low_open=True, default=1),
                 Param("lip_loss", "real", "Lipschitz constant of the loss in the prediction", low=0,
                       low_open=True, default=1)],
         symbolic=lambda: _symbolic_sample_size())
def _covering_sample_size(widths, B, target, eta, M, lip_loss):
    return {kind: sp.Integer(sample_size_needed(widths, B, target, eta, M, lip_loss, perm, flips))
            for kind, perm, flips in (("classical", False, False), ("permutation", True, False),
                                      ("sign_flip", True, True))}
