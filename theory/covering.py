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


def _log_cover(widths, m: int, permutation: bool):
    """log of the covering bound at grid size m (mpmath): S log m, or with the sorted cells
    (S - sum d_l) log m + sum_l log C(m + d_l - 1, d_l)."""
    hid = widths[1:-1]
    S = sum(widths[i + 1] * (widths[i] + 1) for i in range(len(widths) - 1))
    logm = mpmath.log(m)
    if not permutation:
        return S * logm
    return (S - sum(hid)) * logm + sum(mpmath.loggamma(m + dl) - mpmath.loggamma(m)
                                       - mpmath.loggamma(dl + 1) for dl in hid)


def _deviation_at(widths, B_lambda, m, n, eta, M, lip_loss, permutation):
    """The uniform-deviation bound with eps = B Lambda / m, the smallest radius of grid size m."""
    eps = B_lambda / m
    log_N = _log_cover(widths, m, permutation)
    return 2 * lip_loss * eps + M * mpmath.sqrt((log_N + mpmath.log(2 / eta)) / (2 * n))


def optimal_deviation_bound(widths, B, n, eta, M=1, lip_loss=1, permutation=True,
                            m_hint: int | None = None) -> dict:
    """min over eps > 0 of 2 Lip eps + M sqrt((log N(eps) + log(2/eta)) / (2n)), exact.

    derived: N(eps) depends on eps only through m = ceil(B Lambda / eps), and for fixed m the
    term 2 Lip eps is smallest at eps = B Lambda / m, so the minimum is over integers m >= 1
    of g(m) = 2 Lip B Lambda / m + M sqrt((log N_m + log(2/eta)) / (2n)).  Its forward
    difference changes sign once (the first term falls like 1/m^2, the second like
    1/(m sqrt(log m))), so the first m with g(m+1) >= g(m) is the minimiser; found by
    doubling (from ``m_hint``/4 when that lies below m*) and bisection at 40 digits.
    Returns the bound, eps* and m*.
    """
    d = _widths(widths)
    B = check_positive("B", B)
    n, eta, M, lip_loss = _deviation_args(n, eta, M, lip_loss)
    lam = lipschitz_constant(d, B)
    with mpmath.workdps(_DPS):
        mp = lambda x: mpmath.mpf(sp.N(x, _DPS))  # noqa: E731
        args = (mp(B * lam), n, mp(eta), mp(M), mp(lip_loss), bool(permutation))
        g = lambda m: _deviation_at(d, args[0], m, *args[1:])  # noqa: E731
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
        m_star = lo if rising(lo) else hi
        value = g(m_star)
        return {"bound": sp.Float(mpmath.nstr(value, 35), 30), "m": sp.Integer(m_star),
                "eps": sp.nsimplify(B * lam) / m_star}


def single_function_deviation(n, eta, M=1) -> sp.Expr:
    """M sqrt(log(2/eta) / (2n)): Hoeffding for one fixed function (no union over a cover).

    It is what the bound without its 2 Lip eps term tends to as eps -> oo (N = 1 at m = 1).
    """
    return generalisation_term(0, n, eta, M, 0, eps=0)


def sample_size_needed(widths, B, target, eta, M=1, lip_loss=1, permutation=True) -> int:
    """Smallest n at which the eps-minimised uniform-deviation bound is <= ``target``.

    derived: the minimised bound decreases strictly in n; bisection on n after doubling.
    """
    target = check_positive("target", target)
    hint = [None]

    def ok(n):
        opt = optimal_deviation_bound(widths, B, n, eta, M, lip_loss, permutation, hint[0])
        hint[0] = int(opt["m"])
        return opt["bound"] <= target

    lo, hi = 0, 1
    while not ok(hi):
        lo, hi = hi, 2 * hi
        if hi > 2 ** 80:
            raise ValueError(f"target={target} is not reached for n < 2^80")
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if ok(mid) else (mid, hi)
    return hi


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
