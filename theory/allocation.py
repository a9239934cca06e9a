"""Allocation of learnable weights in subset learning: exact conditions.

Source: O. Schlisselberg, R. Darshan, *The impact of allocation strategies in subset
learning on the expressive power of neural networks*, arXiv 2502.06300 (ICLR 2025).
The paper's full text was not available: every condition below is **derived**
(generic-rank arguments, proof idea in each docstring), and the linear-RNN model
``r_t = W r_{t-1} + B x_t, y = D r_T`` is the most plausible reading of the paper's
model, not a quotation of it.

Benchmark.  A teacher network with i.i.d. Gaussian weights; a student of the same
architecture whose weights are fixed i.i.d. Gaussian (independent of the teacher)
except the entries listed in an *allocation* ``A`` (M of them), which are free.
On m generic inputs the match probability MP(A, m) is the probability that some
setting of the learnable entries reproduces the teacher's outputs exactly.

Allocations are sets of ``(matrix, i, j)`` with 0-based ``i, j``.  Matrix names:
linear multilayer network (LFFN) ``"W1" .. "WL"`` with ``W_l`` of shape
``(d_l, d_{l-1})`` and ``y = W_L ... W_1 x``; linear RNN ``"B" (N, d_in)``,
``"W" (N, N)``, ``"D" (d_out, N)``; shallow ReLU ``y = U relu(W x)`` with
``"W" (N, d_in)`` and ``"U" (d_out, N)``.

Central objects: ``J_A`` the Jacobian of the student's outputs on the data with
respect to the learnable entries, ``r_A`` its generic rank, and ``E(m)`` the
generic rank for the teacher's full parameterisation (number of independent
equations).  Rank rule (derived, G1): ``r_A < E => MP = 0``.  One-layer
dichotomy (derived, G3): if the outputs are affine in the learnable entries then
``MP = 1`` iff ``r_A = E`` and ``MP = 0`` otherwise.
"""
from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass
from fractions import Fraction
from typing import Iterable

import numpy as np
import sympy as sp
from sympy.polys.domains import QQ
from sympy.polys.matrices import DomainMatrix

from dltv.theory.formulas import Param, check_int, check_real, formula

SOURCE = "Schlisselberg & Darshan, arXiv 2502.06300 (full text unavailable)"


# --------------------------------------------------------------------------- data
@dataclass(frozen=True)
class Verdict:
    """The predicted match probability with its reason.

    ``mp`` is 1 or 0 where the theory decides it, ``None`` where it only says
    ``MP > 0`` (full rank in a polynomial system, derived G2).
    """

    mp: int | None
    reason: str
    rule: str


def _check_widths(widths) -> list[int]:
    ws = [check_int("widths", w, 1) for w in widths]
    if len(ws) < 2:
        raise ValueError(f"widths must list at least d_in and d_out, got {widths!r}")
    return ws


def lffn_shapes(widths) -> dict[str, tuple[int, int]]:
    """Matrix shapes of the linear network ``y = W_L ... W_1 x``: ``W_l`` is ``d_l x d_{l-1}``."""
    ws = _check_widths(widths)
    return {f"W{l}": (ws[l], ws[l - 1]) for l in range(1, len(ws))}


def entries(shapes: dict[str, tuple[int, int]], names: Iterable[str] | None = None) -> list[tuple]:
    """Every ``(name, i, j)`` of the named matrices (all matrices when ``names`` is None)."""
    names = list(shapes) if names is None else list(names)
    for n in names:
        if n not in shapes:
            raise ValueError(f"matrix must be one of {', '.join(shapes)}, got {n!r}")
    return [(n, i, j) for n in names for i in range(shapes[n][0]) for j in range(shapes[n][1])]


def _check_alloc(shapes, alloc) -> frozenset:
    alloc = frozenset(alloc)
    for name, i, j in alloc:
        if name not in shapes or not (0 <= i < shapes[name][0] and 0 <= j < shapes[name][1]):
            raise ValueError(f"allocation entry {(name, i, j)!r} is not an entry of {shapes}")
    return alloc


def layers_of(alloc) -> set[str]:
    """Names of the matrices an allocation touches."""
    return {name for name, _, _ in alloc}


# --------------------------------------------------------------------------- LFFN: equations
def equations(widths, m: int) -> int:
    """E(m), the number of independent equations for a linear network on m generic inputs.

    derived (F0): the teacher's outputs on X form the ``d_out x m`` matrices of rank
    ``<= k' = min(k, q, d_out)`` whose rows lie in rowspace(X), ``q = min(m, d_in)``,
    ``k`` the narrowest hidden width; that determinantal variety has dimension
    ``E = k' (d_out + q - k')``; without a bottleneck ``E = d_out q``.
    """
    ws = _check_widths(widths)
    m = check_int("m", m, 1)
    q = min(m, ws[0])
    k = min(ws[1:-1], default=math.inf)
    kp = min(k, q, ws[-1])
    return int(kp * (ws[-1] + q - kp))


def has_bottleneck(widths, m: int) -> bool:
    """True when the narrowest hidden width ``k < min(q, d_out)`` (derived F4)."""
    ws = _check_widths(widths)
    q = min(check_int("m", m, 1), ws[0])
    return min(ws[1:-1], default=math.inf) < min(q, ws[-1])


def symmetry_loss(widths, alloc) -> int:
    """Hidden neurons whose whole input row and whole output column are learnable.

    derived (G4): ``row * c, column / c`` leaves the output unchanged, so each such
    neuron costs one dimension: ``r_A <= M - symmetry_loss``.
    """
    shapes = lffn_shapes(widths)
    alloc = _check_alloc(shapes, alloc)
    ws = list(widths)
    lost = 0
    for l in range(1, len(ws) - 1):  # hidden layer l sits between W_l and W_{l+1}
        for h in range(ws[l]):
            row = all((f"W{l}", h, j) in alloc for j in range(ws[l - 1]))
            col = all((f"W{l + 1}", i, h) in alloc for i in range(ws[l + 1]))
            lost += row and col
    return lost


# --------------------------------------------------------------------------- exact generic ranks
def _random_rational(rng: random.Random) -> sp.Rational:
    num = 0
    while num == 0:
        num = rng.randint(-1000, 1000)
    return sp.Rational(num, rng.randint(1, 50))


def _rand_matrix(rng, rows, cols) -> sp.Matrix:
    return sp.Matrix(rows, cols, lambda *_: _random_rational(rng))


def exact_rank(columns: list[sp.Matrix]) -> int:
    """Exact rank over Q of the matrix whose columns are the given (flattened) matrices."""
    if not columns:
        return 0
    mat = sp.Matrix.hstack(*[c.reshape(len(c), 1) for c in columns])
    return DomainMatrix.from_Matrix(mat).convert_to(QQ).rank()


def _prod(mats, n):
    out = sp.eye(n)
    for a in mats:
        out = a * out
    return out


def lffn_exact_rank(widths, m: int, alloc, seed: int = 0, points: int = 2) -> int:
    """Generic rank r_A of the linear network's output Jacobian, exactly over Q.

    ``d Y / d (W_l)_{ij} = a_i b_j^T`` with ``a = W_L...W_{l+1} e_i`` and
    ``b^T = e_j^T W_{l-1}...W_1 X``; the rank is computed exactly at ``points``
    random rational points and the maximum is the generic rank with probability
    ``>= 1 - deg/|S|`` per point (Schwartz-Zippel).
    """
    shapes = lffn_shapes(widths)
    alloc = _check_alloc(shapes, alloc)
    m = check_int("m", m, 1)
    ws = list(widths)
    L = len(ws) - 1
    rng = random.Random(seed)
    best = 0
    for _ in range(points):
        mats = [_rand_matrix(rng, *shapes[f"W{l}"]) for l in range(1, L + 1)]
        X = _rand_matrix(rng, ws[0], m)
        cols = []
        for name, i, j in sorted(alloc):
            l = int(name[1:])
            above = _prod(mats[l:], ws[l])              # W_L ... W_{l+1}
            below = _prod(mats[:l - 1], ws[0]) * X      # W_{l-1} ... W_1 X
            cols.append(above[:, i] * below[j, :])
        best = max(best, exact_rank(cols))
    return best


# --------------------------------------------------------------------------- LFFN: verdicts
def _counts(alloc, name, axis, size) -> list[int]:
    c = [0] * size
    for n, i, j in alloc:
        if n == name:
            c[i if axis == 0 else j] += 1
    return c


def last_layer_verdict(widths, m: int, alloc) -> Verdict:
    """All learnable entries in ``W_L``: MP = 1 iff every hidden width ``>= q`` and every
    output row has ``>= q = min(m, d_in)`` learnable entries.

    derived (F1): ``Y = (W_L^fix + Delta) H`` with ``H = W_{L-1}...W_1 X`` whose rows
    are generic in the q-dimensional rowspace(X) when all hidden widths ``>= q``;
    row i is matched iff the residual row lies in ``span{H_j : j in S_i}``.
    """
    ws = _check_widths(widths)
    m = check_int("m", m, 1)
    alloc = _check_alloc(lffn_shapes(ws), alloc)
    L = len(ws) - 1
    if layers_of(alloc) - {f"W{L}"}:
        raise ValueError(f"alloc must lie in the last layer W{L} for this rule")
    q = min(m, ws[0])
    rows = _counts(alloc, f"W{L}", 0, ws[-1])
    if min(ws[1:-1], default=math.inf) < q:
        return Verdict(0, f"a hidden width is < q = {q}: the rows of H span less than rowspace(X)",
                       "F1")
    ok = min(rows) >= q
    return Verdict(int(ok), f"learnable per output row {rows}, need >= q = {q} each", "F1")


def first_layer_verdict(widths, m: int, alloc) -> Verdict:
    """All learnable entries in ``W_1`` and ``m >= d_in``: MP = 1 iff every hidden width
    ``>= d_out`` and every input column has ``>= d_out`` learnable entries.

    derived (F2): X has full row rank, so the condition is ``G Delta = P* - P_fix``
    with ``G = W_L...W_2`` (generic columns); column j is matched iff
    ``span{G e_i : (i, j) in A} = R^{d_out}``.
    """
    ws = _check_widths(widths)
    m = check_int("m", m, 1)
    alloc = _check_alloc(lffn_shapes(ws), alloc)
    if layers_of(alloc) - {"W1"}:
        raise ValueError("alloc must lie in the first layer W1 for this rule")
    if m < ws[0]:
        raise ValueError(f"m must be >= d_in = {ws[0]} for the first-layer rule, got {m}")
    d_out = ws[-1]
    cols = _counts(alloc, "W1", 1, ws[0])
    if min(ws[1:-1], default=math.inf) < d_out:
        return Verdict(0, f"a hidden width is < d_out = {d_out}: W_L...W_2 cannot span R^d_out",
                       "F2")
    ok = min(cols) >= d_out
    return Verdict(int(ok), f"learnable per input column {cols}, need >= d_out = {d_out} each",
                   "F2")


def whole_layer_rank(widths, m: int, layer: int) -> int:
    """Jacobian rank when the whole layer ``W_l`` is learnable:
    ``rank(W_L...W_{l+1}) * rank(W_{l-1}...W_1 X) = min(d_l..d_L) * min(d_0..d_{l-1}, m)``.

    derived (F4): ``Y = A W_l B`` with the fixed ``A = W_L...W_{l+1}`` and
    ``B = W_{l-1}...W_1 X``; ``Delta -> A Delta B`` is ``B^T kron A``, of rank
    ``rank A * rank B``, and generic products of matrices have the rank of their
    narrowest factor.  Below ``E(m)`` whenever a fixed bottleneck lies on either side.
    """
    ws = _check_widths(widths)
    m = check_int("m", m, 1)
    layer = check_int("layer", layer, 1, len(ws) - 1)
    return min(ws[layer:]) * min(min(ws[:layer]), m)


def middle_layer_verdict(widths, m: int, alloc) -> Verdict:
    """All learnable entries in one layer ``W_l`` below the last (``1 <= l <= L-1``; F3 for
    the middle layers, and the first layer when ``m < d_in``), closed form for one output
    or one input direction.

    derived (F3): the student's image is ``span{a_i b_j^T : (i, j) in A}`` with ``a_i``
    the columns of ``W_L...W_{l+1}`` and ``b_j`` the rows of ``W_{l-1}...W_1 X``.
    ``d_out = 1``: the ``a_i`` are non-zero scalars, so the span is that of the touched
    rows ``b_j``: MP = 1 iff ``>= q`` distinct columns are touched and every width below
    ``l`` is ``>= q``.  ``q = min(m, d_in) = 1``: the ``b_j`` are multiples of one row,
    so MP = 1 iff ``>= d_out`` distinct rows are touched and every width from ``l`` up
    is ``>= d_out``.  Other shapes have no closed form (a bipartite-rigidity matroid):
    ``ValueError``; use :func:`lffn_exact_rank`.
    """
    ws = _check_widths(widths)
    m = check_int("m", m, 1)
    alloc = _check_alloc(lffn_shapes(ws), alloc)
    used = layers_of(alloc)
    L = len(ws) - 1
    if len(used) != 1 or not 1 <= int(next(iter(used))[1:]) <= L - 1:
        raise ValueError(f"alloc must lie in one layer W1..W{L - 1} below the last, got {sorted(used)}")
    l = int(next(iter(used))[1:])
    q, d_out = min(m, ws[0]), ws[-1]
    if d_out == 1:
        cols = len({j for _, _, j in alloc})
        ok = cols >= q and min(ws[1:l], default=q) >= q
        return Verdict(int(ok), f"{cols} distinct columns touched, need >= q = {q}", "F3, d_out = 1")
    if q == 1:
        rows = len({i for _, i, _ in alloc})
        ok = rows >= d_out and min(ws[l:]) >= d_out
        return Verdict(int(ok), f"{rows} distinct rows touched, need >= d_out = {d_out}", "F3, q = 1")
    raise ValueError(f"no closed form for a middle layer with d_out = {d_out} > 1 and q = {q} > 1; "
                     "use lffn_exact_rank")


def one_layer_verdict(widths, m: int, alloc, seed: int = 0) -> Verdict:
    """MP in {0, 1} for an allocation inside one layer (derived G3: outputs affine in it).

    Bottleneck (F4) -> 0; last layer -> F1; first layer with ``m >= d_in`` -> F2;
    otherwise (middle layer, F3) the span of ``{a_i b_j^T}`` by exact rank: MP = 1 iff
    ``r_A = E``.
    """
    ws = _check_widths(widths)
    m = check_int("m", m, 1)
    alloc = _check_alloc(lffn_shapes(ws), alloc)
    used = layers_of(alloc)
    if len(used) != 1:
        raise ValueError(f"alloc must lie in exactly one layer, got layers {sorted(used)}")
    L = len(ws) - 1
    (name,) = used
    if has_bottleneck(ws, m):
        return Verdict(0, "bottleneck: a fixed layer pins the output's row or column space", "F4")
    if name == f"W{L}":
        return last_layer_verdict(ws, m, alloc)
    if name == "W1" and m >= ws[0]:
        return first_layer_verdict(ws, m, alloc)
    if ws[-1] == 1 or min(m, ws[0]) == 1:
        return middle_layer_verdict(ws, m, alloc)
    r, e = lffn_exact_rank(ws, m, alloc, seed), equations(ws, m)
    return Verdict(int(r == e), f"exact span rank {r} vs E = {e}", "F3")


def lffn_verdict(widths, m: int, alloc, seed: int = 0) -> Verdict:
    """Verdict for any LFFN allocation: one layer -> dichotomy; several layers ->
    MP = 0 when ``r_A < E`` (G1, incl. the symmetry loss G4), else only MP > 0 (G2)."""
    ws = _check_widths(widths)
    alloc = _check_alloc(lffn_shapes(ws), alloc)
    if len(layers_of(alloc)) == 1:
        return one_layer_verdict(ws, m, alloc, seed)
    e = equations(ws, m)
    if len(alloc) - symmetry_loss(ws, alloc) < e:
        return Verdict(0, f"M - symmetry loss = {len(alloc) - symmetry_loss(ws, alloc)} < E = {e}",
                       "G4")
    r = lffn_exact_rank(ws, m, alloc, seed)
    if r < e:
        return Verdict(0, f"exact rank {r} < E = {e}", "G1")
    return Verdict(None, f"full rank {r} = E: MP > 0, polynomial system (may be < 1)", "G2")


def _need_per_block(widths, m, layer):
    """(number of blocks, block length, entries needed per block) for the counting rules."""
    ws = _check_widths(widths)
    L = len(ws) - 1
    q = min(m, ws[0])
    hidden = min(ws[1:-1], default=math.inf)
    if layer == L:
        return ws[-1], ws[-2], (q if hidden >= q else math.inf)
    if layer == 1 and m >= ws[0]:
        return ws[0], ws[1], (ws[-1] if hidden >= ws[-1] else math.inf)
    raise ValueError(f"layer must be 1 (with m >= d_in = {ws[0]}) or {L} (the last) for a "
                     f"counting formula, got layer={layer}, m={m}")


def single_layer_fraction(widths, m: int, layer: int, M: int) -> Fraction:
    """Exact fraction of the M-subsets of layer ``layer``'s entries with MP = 1.

    derived (from F1/F2): the layer splits into r blocks (output rows of W_L, or input
    columns of W_1) of ``len`` entries, each needing ``need`` learnable entries:
    ``P = sum_{c_i >= need, sum c_i = M} prod_i C(len, c_i) / C(r len, M)``
    (coefficient of ``x^M`` in ``(sum_{c >= need} C(len, c) x^c)^r``); 0 with a bottleneck.
    """
    ws = _check_widths(widths)
    m = check_int("m", m, 1)
    L = len(ws) - 1
    layer = check_int("layer", layer, 1, L)
    r, length, need = _need_per_block(ws, m, layer)
    M = check_int("M", M, 0, r * length)
    if has_bottleneck(ws, m) or need > length:
        return Fraction(0)
    block = np.zeros(length + 1, dtype=object)
    for c in range(need, length + 1):
        block[c] = math.comb(length, c)
    poly = np.array([1], dtype=object)
    for _ in range(r):
        poly = np.convolve(poly, block)
    good = int(poly[M]) if M < len(poly) else 0
    return Fraction(good, math.comb(r * length, M))


def exhaustive_full_rank_fraction(widths, m: int, M: int, names=None, seed: int = 0) -> Fraction:
    """Exact fraction of all M-subsets of the named matrices' entries with ``r_A = E``,
    by enumeration with exact ranks (small networks only: at most 5000 subsets)."""
    shapes = lffn_shapes(widths)
    pool = entries(shapes, names)
    M = check_int("M", M, 0, len(pool))
    total = math.comb(len(pool), M)
    if total > 5000:
        raise ValueError(f"M gives {total} subsets; at most 5000 can be enumerated")
    e = equations(widths, m)
    good = sum(lffn_exact_rank(widths, m, a, seed, points=1) == e
               for a in itertools.combinations(pool, M))
    return Fraction(good, total)


# --------------------------------------------------------------------------- two-layer example
def two_by_two_quadratic(P, U12, U21, W12, W21):
    """Coefficients (c2, c1, c0) of the quadratic in ``a = U11`` for widths [2,2,2] with
    ``A = {U11, U22, W11, W22}`` learnable (vectorised over numpy arrays).

    derived (F6): eliminating ``W11 = alpha/a``, ``W22 = (P12 - a W12)/U12`` and
    ``U22 = (P21 - U21 W11)/W21`` from ``U W = P`` leaves
    ``-P21 W12 a^2 + (P21 P12 + U21 alpha W12 - beta) a - U21 alpha P12 = 0`` with
    ``alpha = P11 - U12 W21``, ``beta = (P22 - U21 W12) W21 U12``.
    """
    P = np.asarray(P, dtype=float)
    p11, p12, p21, p22 = P[..., 0, 0], P[..., 0, 1], P[..., 1, 0], P[..., 1, 1]
    alpha = p11 - U12 * W21
    beta = (p22 - U21 * W12) * W21 * U12
    return -p21 * W12, p21 * p12 + U21 * alpha * W12 - beta, -U21 * alpha * p12


def two_by_two_matchable(P, U12, U21, W12, W21):
    """Match iff the quadratic has a real root: discriminant >= 0 (derived F6)."""
    c2, c1, c0 = two_by_two_quadratic(P, U12, U21, W12, W21)
    return c1 * c1 - 4 * c2 * c0 >= 0


def two_by_two_solution(P, U12, U21, W12, W21):
    """One real solution (U11, U22, W11, W22) from the larger root, or None (derived F6)."""
    c2, c1, c0 = (float(c) for c in two_by_two_quadratic(P, U12, U21, W12, W21))
    disc = c1 * c1 - 4 * c2 * c0
    if disc < 0:
        return None
    a = (-c1 + math.sqrt(disc)) / (2 * c2)
    P = np.asarray(P, dtype=float)
    w11 = (P[0, 0] - U12 * W21) / a
    w22 = (P[0, 1] - a * W12) / U12
    u22 = (P[1, 0] - U21 * w11) / W21
    return a, u22, w11, w22


def full_rank_mp_heuristic(surplus: int, p_square) -> sp.Expr:
    """Heuristic MP of a multi-layer linear allocation at full rank (``r_A = E``) with
    ``surplus = M - E`` learnable weights beyond the equations:
    ``MP ~ 1 - (1 - p_square) 2^(-surplus)``.

    **The project's own heuristic** (the paper's, based on counting polynomials, is not
    known here).  Idea: at M = E the bilinear matching system, after the linear unknowns
    are eliminated, behaves like one real quadratic, which has no real root with the
    probability ``1 - p_square`` of the exact two-layer example F6
    (:func:`two_by_two_matchable`, ``p_square = P(discriminant >= 0)``); each surplus
    weight adds a free real direction along which the discriminant is a new, roughly
    independent sign draw, halving the failure.  Calibrated only on F6, not on the
    allocations it is applied to; its error is measured, not assumed (claim
    ``allocation.lffn.full-rank-heuristic``).
    """
    surplus = check_int("surplus", surplus, 0)
    p = check_real("p_square", p_square, 0, 1)
    return 1 - (1 - sp.nsimplify(p, rational=True)) * sp.Rational(1, 2 ** surplus)


# --------------------------------------------------------------------------- linear RNN
def rnn_shapes(N: int, d_in: int, d_out: int) -> dict[str, tuple[int, int]]:
    """Shapes of the linear RNN ``r_t = W r_{t-1} + B x_t (r_0 = 0), y = D r_T``
    (the model reading used here; the paper's exact variant is unknown)."""
    N, d_in, d_out = (check_int(n, v, 1) for n, v in (("N", N), ("d_in", d_in), ("d_out", d_out)))
    return {"B": (N, d_in), "W": (N, N), "D": (d_out, N)}


def rnn_markov_rank(N: int, d_in: int, d_out: int, T: int, alloc=None, seed: int = 0,
                    points: int = 2) -> int:
    """Exact generic rank of ``theta -> (K_0..K_{T-1})``, ``K_k = D W^k B`` (Markov
    parameters, the effective linear weights of the stacked input sequence).

    With ``alloc=None`` every weight is learnable and this is E_K, which equals E(m)
    for ``m >= T d_in`` sequences.  Derivatives: ``dK_k/dD_ab = e_a e_b^T W^k B``,
    ``dK_k/dB_ab = D W^k e_a e_b^T``, ``dK_k/dW_ab = sum_s D W^s e_a e_b^T W^{k-1-s} B``.
    """
    shapes = rnn_shapes(N, d_in, d_out)
    T = check_int("T", T, 1)
    alloc = entries(shapes) if alloc is None else sorted(_check_alloc(shapes, alloc))
    rng = random.Random(seed)
    best = 0
    for _ in range(points):
        B, W, D = (_rand_matrix(rng, *shapes[n]) for n in ("B", "W", "D"))
        pw = [sp.eye(N)]
        for _ in range(T):
            pw.append(W * pw[-1])
        cols = []
        for name, a, b in alloc:
            E = sp.zeros(*shapes[name])
            E[a, b] = 1
            if name == "D":
                blocks = [E * pw[k] * B for k in range(T)]
            elif name == "B":
                blocks = [D * pw[k] * E for k in range(T)]
            else:
                blocks = [sum((D * pw[s] * E * pw[k - 1 - s] * B for s in range(k)),
                              sp.zeros(d_out, d_in)) for k in range(T)]
            cols.append(sp.Matrix.vstack(*blocks))
        best = max(best, exact_rank(cols))
    return best


def rnn_siso_dimension(N: int, T: int) -> int:
    """E_K = min(T, 2N) for one input and one output (derived R0: a length-T scalar
    Markov sequence of an order-N system is free for T <= 2N and then determined by
    its first 2N terms through the characteristic polynomial of W)."""
    return min(check_int("T", T, 1), 2 * check_int("N", N, 1))


def rnn_markov_dimension(N: int, d_in: int, d_out: int, T: int) -> int:
    """E_K, the dimension of the length-T Markov sequences ``K_k = D W^k B`` of order-N
    systems, in the regimes where realization theory gives it in closed form.

    derived (R0).  Write ``H_ij`` for the block Hankel matrix ``[K_{a+b}]`` with i block
    rows and j block columns (it uses ``K_0..K_{i+j-2}``); it has rank ``<= N``.
    * free: no ``H_ij`` with ``i + j - 1 <= T`` has ``min(i d_out, j d_in) > N``: no rank
      constraint bites and ``E_K = T d_in d_out`` (non-degenerate effective weights);
    * determined: ``T >= ceil(N/d_out) + ceil(N/d_in)`` (observability plus controllability
      index): the Ho-Kalman construction recovers ``(W, B, D)`` up to ``GL(N)``, so
      ``E_K = N (d_in + d_out)`` (parameters minus the ``N^2`` of the similarity orbit);
    * one hypersurface: exactly one constrained ``H_ij``, square of size ``N + 1``: its
      determinant is the only equation, ``E_K = T d_in d_out - 1``.
    SISO reduces to ``min(T, 2N)``.  Other cases raise ``ValueError`` (use
    :func:`rnn_markov_rank`).
    """
    N, d_in, d_out, T = (check_int(n, v, 1) for n, v in
                         (("N", N), ("d_in", d_in), ("d_out", d_out), ("T", T)))
    bound = [(i, T + 1 - i) for i in range(1, T + 1)]
    constrained = [(i, j) for i, j in bound if min(i * d_out, j * d_in) > N]
    if not constrained:
        return T * d_in * d_out
    if T >= -(-N // d_out) + -(-N // d_in):
        return N * (d_in + d_out)
    if len(constrained) == 1 and constrained[0][0] * d_out == constrained[0][1] * d_in == N + 1:
        return T * d_in * d_out - 1
    raise ValueError(f"no closed form for E_K at N={N}, d_in={d_in}, d_out={d_out}, T={T}; "
                     "use rnn_markov_rank")


def rnn_readout_verdict(N, d_in, d_out, T, m, alloc) -> Verdict:
    """Readout-only allocation: MP = 1 iff every output row of D has
    ``>= min(m, T d_in)`` learnable entries.

    derived (R1): ``Y = D G Xi`` with the fixed Krylov matrix ``G = [B, WB, ...]``; row i
    is affine in ``D_{i, S_i}`` and the rows ``(G Xi)_j`` span ``R^{min(m, T d_in)}``
    iff ``|S_i| >= min(m, T d_in)``.
    """
    shapes = rnn_shapes(N, d_in, d_out)
    alloc = _check_alloc(shapes, alloc)
    if layers_of(alloc) - {"D"}:
        raise ValueError("alloc must lie in the readout D for this rule")
    need = min(check_int("m", m, 1), check_int("T", T, 1) * d_in)
    rows = _counts(alloc, "D", 0, d_out)
    return Verdict(int(min(rows) >= need), f"learnable per readout row {rows}, need >= {need}",
                   "R1")


def rnn_input_verdict(N, d_in, d_out, T, m, alloc) -> Verdict:
    """Input-only allocation with ``m >= T d_in``: MP = 1 iff every input column of B
    has ``>= T d_out`` learnable entries.

    derived (R2): ``K_{:, j} = sum_i B_ij (D e_i, D W e_i, ..., D W^{T-1} e_i)``; the
    columns decouple and each needs ``T d_out`` generic vectors.
    """
    shapes = rnn_shapes(N, d_in, d_out)
    alloc = _check_alloc(shapes, alloc)
    if layers_of(alloc) - {"B"}:
        raise ValueError("alloc must lie in the input matrix B for this rule")
    T = check_int("T", T, 1)
    if check_int("m", m, 1) < T * d_in:
        raise ValueError(f"m must be >= T d_in = {T * d_in} for the input-only rule, got {m}")
    cols = _counts(alloc, "B", 1, d_in)
    return Verdict(int(min(cols) >= T * d_out),
                   f"learnable per input column {cols}, need >= T d_out = {T * d_out}", "R2")


def rnn_recurrent_only_rank_bound(N, d_in, d_out, T) -> int:
    """Recurrent-only allocation: ``r_A <= E_K - d_in d_out`` because ``K_0 = D B`` cannot
    move; with ``m >= T d_in`` this is below E, so MP = 0 (derived R3 via G1)."""
    return rnn_markov_rank(N, d_in, d_out, T) - d_in * d_out


# --------------------------------------------------------------------------- RNN: recurrent weights
# Reading S: the student's B and D are the teacher's (shared), only W differs; the learnable
# entries lie in W.  With independent fixed B and D every recurrent-only allocation has
# MP = 0 (K_0 = DB cannot move, R3), also when the output is read at every step
# (y_1 = D B x_1 does not involve W); sharing B and D is the reading in which the
# allocation of recurrent weights decides the match.
def _dim_k0(N: int, d_in: int, d_out: int) -> int:
    """Dimension of the set of products ``K_0 = D B`` (``d_out x d_in`` of rank ``<= N``)."""
    k = min(N, d_in, d_out)
    return k * (d_in + d_out - k)


def rnn_shared_equations(N: int, d_in: int, d_out: int, T: int) -> int:
    """E_S, the number of independent equations when B and D are shared with the teacher:
    the generic rank of ``W -> (D W^k B)_{k=1..T-1}``.  ``E_S = E_K - d_in d_out`` for
    ``N >= max(d_in, d_out)``; SISO: ``min(T, 2N) - 1``.

    derived: K_0 = DB is already matched, so ``E_S <= E_K - dim{DB} = E_K - d_in d_out``.
    Equality: a tangent direction ``(dB, dW, dD)`` of the full map with
    ``dK_0 = dD B + D dB = 0`` is a gauge direction on (B, D): the map
    ``xi -> (xi B, -D xi)`` of ``gl(N)`` has rank ``N^2 - (N - d_in)(N - d_out) =
    N(d_in + d_out) - d_in d_out``, the dimension of ``{(dB, dD): D dB + dD B = 0}``, so
    ``dB = xi B, dD = -D xi`` for some xi; the similarity ``(gB, g W g^-1, D g^-1)`` leaves
    every K_k unchanged, hence the direction's effect equals that of ``dW - [xi, W]``, a
    W-only direction.  ``E_K`` from :func:`rnn_markov_dimension` (ValueError outside its
    closed-form regimes; then use :func:`rnn_markov_rank` with the W entries).
    """
    N, d_in, d_out, T = (check_int(n, v, 1) for n, v in
                         (("N", N), ("d_in", d_in), ("d_out", d_out), ("T", T)))
    if N < max(d_in, d_out):
        raise ValueError(f"N must be >= max(d_in, d_out) = {max(d_in, d_out)} for the closed form, got {N}")
    return rnn_markov_dimension(N, d_in, d_out, T) - _dim_k0(N, d_in, d_out)


def rnn_shared_verdict(N: int, d_in: int, d_out: int, T: int, alloc, seed: int = 0) -> Verdict:
    """Verdict for a recurrent-only allocation (``alloc`` in W) with B and D shared.

    derived.  T = 2: the only equation block is ``K_1 = D W B``, affine in W, so MP is 1
    iff ``r_A = E_S`` (G3); its image is ``span{d_a b_b^T : (a, b) in A}`` (``d_a`` column a
    of D, ``b_b`` row b of B), the middle-layer structure F3: with ``d_out = 1`` MP = 1 iff
    ``>= min(N, d_in)`` distinct columns of W are learnable, with ``d_in = 1`` iff
    ``>= min(N, d_out)`` distinct rows are; otherwise the exact rank decides.  T >= 3: the
    equations have degree up to T - 1 in W: ``r_A < E_S`` gives MP = 0 (G1), ``r_A = E_S``
    only MP > 0 (G2).  T = 1 has no equation involving W (MP = 1 trivially).
    """
    shapes = rnn_shapes(N, d_in, d_out)
    alloc = _check_alloc(shapes, alloc)
    T = check_int("T", T, 1)
    if layers_of(alloc) - {"W"}:
        raise ValueError("alloc must lie in the recurrent matrix W for this rule")
    if T == 1:
        return Verdict(1, "T = 1: y = D B x does not involve W and D, B are shared", "S0")
    if T == 2 and d_out == 1:
        cols = len({j for _, _, j in alloc})
        need = min(N, d_in)
        return Verdict(int(cols >= need), f"{cols} distinct columns of W, need >= min(N, d_in) = {need}",
                       "S1, d_out = 1")
    if T == 2 and d_in == 1:
        rows = len({i for _, i, _ in alloc})
        need = min(N, d_out)
        return Verdict(int(rows >= need), f"{rows} distinct rows of W, need >= min(N, d_out) = {need}",
                       "S1, d_in = 1")
    r = rnn_markov_rank(N, d_in, d_out, T, alloc, seed)
    E = rnn_markov_rank(N, d_in, d_out, T, entries(shapes, ["W"]), seed)
    if T == 2:
        return Verdict(int(r == E), f"exact rank {r} vs E_S = {E} (affine in W)", "S1")
    if r < E:
        return Verdict(0, f"exact rank {r} < E_S = {E}", "G1")
    return Verdict(None, f"full rank {r} = E_S: MP > 0, polynomial of degree T - 1 = {T - 1}", "G2")


def rnn_every_step_equations(N: int, d_out: int, T: int, m: int = 1) -> int:
    """B and D shared, ``d_in = 1``, output read at every step ``y_t = D r_t``: E_S
    equations already from ``m = 1`` sequence (reading y_T only gives at most ``m d_out``).

    derived: ``y_t = sum_{k<t} K_k x_{t-k}``; with scalar inputs and ``x_1 != 0`` the map
    ``(K_0..K_{T-1}) -> (y_1..y_T)`` is lower-triangular Toeplitz with diagonal ``x_1``,
    invertible, so the every-step outputs of one sequence carry all Markov parameters.
    """
    check_int("m", m, 1)
    return rnn_shared_equations(N, 1, d_out, T)


def rnn_every_step_dimension(N: int, d_in: int, d_out: int, T: int, m: int) -> int:
    """Independent equations when the RNN is read at every step, ``y_t = D r_t`` (t = 1..T),
    with independent fixed B and D, on ``m >= d_in`` generic sequences: ``E_K``.

    derived: ``y_t = sum_{k<t} K_k x_{t-k}``; per output row the map ``(K_0..K_{T-1}) ->
    (y_t^mu)`` is block lower-triangular Toeplitz with the ``m x d_in`` diagonal block
    ``X_1^T`` (first inputs), of full column rank when ``m >= d_in``: injective, so the
    every-step outputs carry exactly the Markov parameters (``m >= d_in`` sequences suffice,
    against ``m >= T d_in`` for the final step alone).  ``E_K`` from
    :func:`rnn_markov_dimension`.
    """
    m = check_int("m", m, 1)
    if m < check_int("d_in", d_in, 1):
        raise ValueError(f"m must be >= d_in = {d_in} for the every-step count, got {m}")
    return rnn_markov_dimension(N, d_in, d_out, T)


def _chained(alloc) -> bool:
    """True if two learnable recurrent entries form a walk ``W_ab W_bc`` (a loop counts)."""
    w = {(i, j) for n, i, j in alloc if n == "W"}
    rows = {i for i, _ in w}
    return any(j in rows for _, j in w)


def rnn_every_step_verdict(N: int, d_in: int, d_out: int, T: int, m: int, alloc,
                           seed: int = 0) -> Verdict:
    """Verdict for the every-step reading (independent fixed B, D; ``m >= d_in``).

    derived.  The outputs determine the Markov parameters (:func:`rnn_every_step_dimension`),
    so a match is ``K_k(theta) = K_k*`` for ``k < T``.
    * E0: no learnable entry in B or D: ``K_0 = D B`` (in ``y_1``) cannot move: MP = 0.
    * E1: the learnable B, D entries move ``K_0`` with rank ``< d_in d_out``: MP = 0.
    * G1: exact rank ``r_A < E_K``: MP = 0.
    * E2 (triangular, ``T <= 3``): learnable entries in D and W only, the D part moving
      ``K_0`` with rank ``= |A_D| = d_in d_out`` (so ``K_0`` fixes it uniquely), and no two
      learnable W entries chained (``W_ab W_bc``, a loop counts): then MP = 1 iff
      ``r_A = E_K``.  Proof: ``K_0 = D B`` is affine and injective in ``D_A``: solved first;
      with D fixed, ``W`` and ``W^2 = F^2 + F L + L F + L^2`` (F fixed, L learnable part,
      ``L^2 = 0`` without chains) are affine in ``W_A``, so ``K_1, K_2`` are (G3), and the
      Jacobian is block-triangular, full rank iff ``r_A = E_K``.  For ``T >= 4``,
      ``W^3`` holds ``L F L``, quadratic even in one entry: polynomial (G2).
    * otherwise at full rank: polynomial system, only MP > 0 (G2).
    """
    shapes = rnn_shapes(N, d_in, d_out)
    alloc = _check_alloc(shapes, alloc)
    E = rnn_every_step_dimension(N, d_in, d_out, T, m)
    bd = sorted(a for a in alloc if a[0] in ("B", "D"))
    if not bd:
        return Verdict(0, "no learnable B or D entry: y_1 = D B x_1 cannot move", "E0")
    r0 = rnn_markov_rank(N, d_in, d_out, 1, bd, seed)
    if r0 < d_in * d_out:
        return Verdict(0, f"learnable B, D entries move K_0 = DB with rank {r0} < d_in d_out = "
                          f"{d_in * d_out}", "E1")
    r = rnn_markov_rank(N, d_in, d_out, T, alloc, seed)
    if r < E:
        return Verdict(0, f"exact rank {r} < E_K = {E}", "G1")
    if T <= 3 and not layers_of(alloc) & {"B"} and len(bd) == r0 and not _chained(alloc):
        return Verdict(1, f"triangular: D part fixed by K_0 (rank {r0}), W entries unchained, "
                          f"rank {r} = E_K", "E2")
    return Verdict(None, f"full rank {r} = E_K: MP > 0, polynomial system", "G2")


def scalar_rnn_mp(T: int) -> Fraction:
    """N = 1, input only at t = 1 (``y = d w^{T-1} b x``), w learnable: MP = 1/2 for even
    T-1 and 1 for odd T-1 (derived R4: a real root of ``w^{T-1} = c`` needs c > 0 when
    T-1 is even, and ``c = d* w*^{T-1} b* / (d b)`` is positive with probability 1/2)."""
    T = check_int("T", T, 2)
    return Fraction(1, 2) if (T - 1) % 2 == 0 else Fraction(1)


# --------------------------------------------------------------------------- shallow ReLU
def has_covering_matching(active) -> bool:
    """True iff the bipartite graph (learnable neurons x samples, edge where the neuron is
    active) has a matching covering every sample (Kuhn's augmenting paths)."""
    act = np.asarray(active, dtype=bool)
    n_neurons, n_samples = act.shape
    owner = [-1] * n_neurons

    def augment(mu, seen):
        for k in np.flatnonzero(act[:, mu]):
            if not seen[k]:
                seen[k] = True
                if owner[k] < 0 or augment(owner[k], seen):
                    owner[k] = mu
                    return True
        return False

    return all(augment(mu, [False] * n_neurons) for mu in range(n_samples))


def covering_matching_exists(active, exempt=None) -> np.ndarray:
    """Vectorised :func:`has_covering_matching` over leading axes, by Hall's theorem.

    ``active (..., neurons, samples)``: a matching covering every sample exists iff every
    set of samples is adjacent to at least as many neurons (Hall 1935).  ``exempt
    (..., samples)`` marks samples that need no neuron (they are dropped).  Enumerates
    the ``2^m - 1`` sample sets, so m is limited to 12.
    """
    act = np.asarray(active, dtype=bool)
    m = act.shape[-1]
    if m > 12:
        raise ValueError(f"samples must be <= 12 for the Hall enumeration, got {m}")
    need = np.ones(act.shape[:-2] + (m,), bool) if exempt is None else ~np.asarray(exempt, bool)
    ok = np.ones(act.shape[:-2], dtype=bool)
    for size in range(1, m + 1):
        for subset in itertools.combinations(range(m), size):
            sub = list(subset)
            ok &= act[..., sub].any(-1).sum(-1) >= need[..., sub].sum(-1)
    return ok


def relu_readout_matchable(active, r) -> np.ndarray:
    """Readout-only match criterion (one output, ``d_in >= m``), vectorised: a covering
    matching of the samples that need a learnable neuron.

    derived (Q1): ``u_S^T Phi_S = r`` with generic non-zero entries of ``Phi_S`` is
    solvable iff the rank of ``Phi_S`` restricted to the non-trivial equations equals
    their number.  A sample with no active learnable neuron and ``r_mu = 0`` exactly (it
    happens with positive probability: every teacher neuron and every fixed student
    neuron inactive on it) is the equation 0 = 0 and needs no neuron.  ``active
    (..., neurons, samples)``, ``r (..., samples)``.
    """
    act = np.asarray(active, dtype=bool)
    exempt = (np.asarray(r) == 0) & ~act.any(-2)
    return covering_matching_exists(act, exempt)


def relu_readout_verdict(active, r=None) -> Verdict:
    """Readout-only allocation (one output) with ``d_in >= m``: match iff
    ``rank Phi_S = m`` iff the activity graph has a covering matching.

    derived (Q1): ``y = u_S^T Phi_S + fixed`` is affine in ``u_S``; the non-zero entries of
    ``Phi_S = relu(W_S X)`` are generic when ``d_in >= m``, so the rank equals the size of
    a maximum matching of the activity pattern.  MP < 1 even when ``|S| >= m``.  With the
    residual ``r`` given, samples with ``r_mu = 0`` and no active learnable neuron are
    exempt (see :func:`relu_readout_matchable`).
    """
    ok = (has_covering_matching(active) if r is None
          else bool(relu_readout_matchable(active, r)))
    return Verdict(int(ok), "covering matching " + ("exists" if ok else "does not exist"), "Q1")


def relu_row_matchable(t) -> np.ndarray:
    """One neuron j with ``>= m`` learnable entries in its input row (e.g. the whole row,
    ``d_in = m``): match iff all ``t_mu = (y*_mu - sum_{k != j} u_k relu(w_k x_mu)) / u_j > 0``.

    derived (Q2): the learnable entries move ``z = w_j X`` over all of ``R^m`` (the
    learnable rows of X have rank m), so the output ``u_j relu(z)`` must hit ``u_j t``,
    i.e. ``relu(z) = t``: possible iff ``t >= 0`` (``t_mu = 0`` has probability 0), with
    ``z = t`` (for ``d_in = m`` uniquely ``w_j = X^{-T} t``).  Vectorised over the
    leading axes of ``t``.  The case k = 1 of :func:`relu_neurons_matchable`.
    """
    return np.all(np.asarray(t) > 0, axis=-1)


def relu_neurons_matchable(r, u) -> np.ndarray:
    """k learnable neurons, each with ``>= m`` learnable entries of its input row
    (``d_in >= m``, one output): match iff every sample mu has ``r_mu = 0`` or a learnable
    neuron whose readout weight has the sign of ``r_mu``.  For non-zero ``u``: the ``u_k``
    have both signs, or all ``u > 0`` and ``r >= 0``, or all ``u < 0`` and ``r <= 0``.

    ``r = y* - sum_{fixed neurons} u_i relu(w_i X)`` is the residual the learnable
    neurons must produce.  derived: as in :func:`relu_row_matchable` each learnable
    neuron's pre-activation ``z_k`` is free in ``R^m``, so the reachable residuals are
    ``{sum_k u_k v_k : v_k >= 0}``, a cone that splits over the samples.  Arrays
    ``r (..., m)``, ``u (..., k)``; returns a bool array ``(...)``.
    """
    r, u = np.asarray(r, dtype=float), np.asarray(u, dtype=float)
    pos, neg = np.any(u > 0, axis=-1)[..., None], np.any(u < 0, axis=-1)[..., None]
    return np.all((r == 0) | ((r > 0) & pos) | ((r < 0) & neg), axis=-1)


def relu_neurons_outputs(r, u) -> np.ndarray:
    """Non-negative activations ``v (..., k, m)`` with ``sum_k u_k v_k = r`` (the
    constructive half of :func:`relu_neurons_matchable`; NaN where no match exists).

    Sample mu is produced by the neuron of largest ``|u_k|`` with ``sign u_k = sign r_mu``:
    ``v_{k mu} = r_mu / u_k``, every other neuron inactive on it.  A learnable neuron then
    needs the pre-activation ``z_k = v_k`` where ``v_k > 0`` and any ``z_k <= 0`` elsewhere.
    """
    r, u = np.asarray(r, dtype=float), np.asarray(u, dtype=float)
    same = np.sign(u)[..., :, None] == np.sign(r)[..., None, :]            # (..., k, m)
    score = np.where(same, np.abs(u)[..., :, None], -1.0)
    best = np.argmax(score, axis=-2)                                          # (..., m)
    pick = np.arange(u.shape[-1])[:, None] == best[..., None, :]              # (..., k, m)
    v = np.where(pick & same, r[..., None, :] / np.where(u == 0, 1, u)[..., :, None], 0.0)
    bad = ~relu_neurons_matchable(r, u)
    return np.where(bad[..., None, None], np.nan, v)


def relu_neurons_mp(k, p):
    """MP of k learnable neurons with ``>= m`` learnable input weights each:
    ``MP = 1 - 2^{1-k} (1 - p)``, ``p = P(r in the closed positive orthant)``.

    derived: given every first-layer weight and X, the residual r is a centred Gaussian
    (the teacher's and the fixed neurons' readout weights are centred Gaussians), so
    ``P(r >= 0) = P(r <= 0) = p``; the learnable neurons' readout signs are independent
    fair coins, all equal with probability ``2^{1-k}``; apply
    :func:`relu_neurons_matchable`.  For one sample (m = 1) ``p = 1/2`` exactly and
    ``MP = 1 - 2^{-k}``.  Exact in p (sympy).
    """
    k = check_int("k", k, 1)
    p = check_real("p", p, 0, 1)
    return 1 - sp.Integer(2) ** (1 - k) * (1 - p)


def relu_coverage_units(alloc, N: int, m: int) -> list[tuple[int, str]]:
    """The units of the coverage heuristic: one ``(neuron, kind)`` per learnable weight that
    can serve a sample (shallow ReLU, one output, allocation in ``"W" (N, d_in)`` and
    ``"U" (1, N)``).

    ``kind`` is ``"readout"`` (a learnable ``u_j``), ``"row"`` (a weight of a row with
    ``>= m`` learnable entries, whose pre-activations are free) or ``"partial"`` (a weight
    of a row with fewer).  A row contributes at most m units (more cannot serve more
    samples); a learnable ``u_j`` of a fully learnable row adds none (the rescaling
    symmetry of derived G4 makes it redundant).
    """
    N, m = check_int("N", N, 1), check_int("m", m, 1)
    for name, i, j in alloc:
        if not ((name == "W" and 0 <= i < N) or (name == "U" and i == 0 and 0 <= j < N)):
            raise ValueError(f"allocation entry {(name, i, j)!r} is not an entry of W (N = {N} rows) "
                             "or U (1 x N)")
    units = []
    for j in range(N):
        s = sum(1 for n, i, _ in alloc if n == "W" and i == j)
        kind = "row" if s >= m else "partial"
        units += [(j, kind)] * min(s, m)
        if ("U", 0, j) in alloc and s < m:
            units.append((j, "readout"))
    return units


def relu_coverage_heuristic(y, contrib, u, alloc) -> np.ndarray:
    """Coverage heuristic for the match of a shallow ReLU student (one output): a match is
    predicted iff the bipartite graph (units x samples) has a matching covering every
    sample whose residual is not exactly 0.  Vectorised over leading axes.

    **The project's own heuristic** (the paper's is not known); it makes the coverage
    principle of the notes quantitative.  Units (:func:`relu_coverage_units`) and edges:
    a readout unit or a ``"partial"`` unit of neuron j serves the samples where j is
    active at the student's own weights (the pattern of the Jacobian column there: the
    local rank at a random point); a ``"row"`` unit serves the samples whose residual has
    the sign of its fixed readout weight (its pre-activations are free but its output has
    the sign of ``u_j``), or every sample when ``u_j`` is learnable too.  The residual is
    ``r = y* - sum of the contributions of the neurons that are not free`` (free: a
    learnable readout or a fully learnable row).
    Exact in two families, derived: readout-only (Q1, the covering matching of the
    activity graph) and whole rows with fixed readout (the sign cone of
    :func:`relu_neurons_matchable`).  Approximate otherwise (e.g. one weight per neuron,
    partial rows, mixed): a partial row also moves its other samples, and can switch a
    neuron on; its error is measured, not assumed (claim allocation.relu.coverage-heuristic).

    ``y (..., m)`` teacher outputs, ``contrib (..., N, m)`` the student's per-neuron outputs
    ``u_j relu(w_j X)``, ``u (..., N)`` the student's readout; returns bool ``(...)``.
    """
    y, contrib, u = (np.asarray(a, dtype=float) for a in (y, contrib, u))
    N, m = contrib.shape[-2:]
    units = relu_coverage_units(alloc, N, m)
    if not units:
        raise ValueError("alloc must contain at least one learnable weight")
    free = sorted({j for j, kind in units if kind == "row"} | {j for n, _, j in alloc if n == "U"})
    keep = np.ones(N, bool)
    keep[free] = False
    r = y - (contrib * keep[:, None]).sum(-2)
    active = contrib != 0
    sign_ok = np.sign(u)[..., :, None] == np.sign(r)[..., None, :]                  # (..., N, m)
    learn_u = np.zeros(N, bool)
    learn_u[[j for n, _, j in alloc if n == "U"]] = True
    edges = []
    for j, kind in units:
        if kind == "row":
            edges.append(np.ones_like(sign_ok[..., j, :]) if learn_u[j] else sign_ok[..., j, :])
        else:
            edges.append(active[..., j, :])
    graph = np.stack(edges, axis=-2)
    return covering_matching_exists(graph, exempt=(r == 0) & ~graph.any(-2))


def relu_one_per_neuron_solution(Z0, C, u, r) -> tuple[np.ndarray, np.ndarray]:
    """Exact match criterion, with a solution, when each of M = m neurons has one
    learnable input weight.

    ``y_mu(theta) = sum_k u_k relu(Z0_k,mu + theta_k C_k,mu)`` must equal ``r_mu``.
    derived: theta_k's breakpoints ``-Z0/C`` cut the line into m + 1 intervals; on each
    product cell the activity pattern is constant and the system is linear, so a match
    exists iff some cell's linear solution lies inside its cell.  Arrays: ``Z0, C``
    (..., M, m), ``u`` (..., M), ``r`` (..., m); returns (found (...), theta (..., M))
    with theta from the first cell found (NaN where there is none).
    """
    Z0, C, u, r = (np.asarray(a, dtype=float) for a in (Z0, C, u, r))
    M, m = Z0.shape[-2:]
    if M != m:
        raise ValueError(f"need as many learnable neurons as samples, got M={M}, m={m}")
    batch = Z0.shape[:-2]
    Z0, C, u, r = (np.broadcast_to(a, batch + a.shape[len(a.shape) - k:]).reshape((-1,) + a.shape[len(a.shape) - k:])
                   for a, k in ((Z0, 2), (C, 2), (u, 1), (r, 1)))
    bps = np.sort(-Z0 / C, axis=-1)                                  # (B, M, m)
    inf = np.full_like(bps[..., :1], np.inf)
    edges = np.concatenate([-inf, bps, inf], axis=-1)                # (B, M, m+2)
    mids = np.concatenate([bps[..., :1] - 1, 0.5 * (bps[..., 1:] + bps[..., :-1]),
                           bps[..., -1:] + 1], axis=-1)              # (B, M, m+1)
    found = np.zeros(Z0.shape[0], dtype=bool)
    solution = np.full((Z0.shape[0], M), np.nan)
    rows = np.arange(M)
    for cell in itertools.product(range(m + 1), repeat=M):
        todo = np.flatnonzero(~found)          # draws already solved keep their first cell
        if todo.size == 0:
            break
        idx = np.array(cell)
        lo, hi = edges[todo][:, rows, idx], edges[todo][:, rows, idx + 1]     # (b, M)
        z0, c = Z0[todo], C[todo]
        act = (z0 + mids[todo][:, rows, idx][..., None] * c) > 0               # (b, M, m)
        G = np.swapaxes(u[todo][:, :, None] * act * c, -1, -2)                 # (b, m, M)
        rhs = r[todo] - np.einsum("bk,bkm->bm", u[todo], act * z0)
        okdet = np.abs(np.linalg.det(G)) > 1e-12
        Gs = np.where(okdet[:, None, None], G, np.eye(m))
        theta = np.linalg.solve(Gs, rhs[..., None])[..., 0]
        new = okdet & np.all((theta >= lo) & (theta <= hi), axis=-1)
        solution[todo[new]] = theta[new]
        found[todo[new]] = True
    return found.reshape(batch), solution.reshape(batch + (M,))


def relu_one_per_neuron_matchable(Z0, C, u, r) -> np.ndarray:
    """The verdict of :func:`relu_one_per_neuron_solution` (bool array (...))."""
    return relu_one_per_neuron_solution(Z0, C, u, r)[0]


# --------------------------------------------------------------------------- registry
def _symbols():
    return sp.symbols("k' d_out q", positive=True, integer=True)


@formula("allocation.equations",
         source="derived (F0) for " + SOURCE + ": dimension of the rank-<=k' matrices "
                "with row space in rowspace(X)",
         statement="number of independent equations E(m) = k'(d_out + q - k'), q = min(m, d_in), "
                   "k' = min(narrowest hidden width, q, d_out)",
         params=[Param("widths", "ints", "comma list d_in,...,d_out of a linear network", low=1),
                 Param("m", "int", "number of samples", low=1)],
         symbolic=lambda: (lambda k, d, q: sp.Eq(sp.Symbol("E"), k * (d + q - k)))(*_symbols()))
def _equations_formula(widths, m):
    return sp.Integer(equations(widths, m))


@formula("allocation.single_layer_fraction",
         source="derived (F1/F2 counting) for " + SOURCE,
         statement="exact fraction of M-subsets of one layer's entries that give MP = 1 "
                   "(first layer with m >= d_in, or last layer)",
         params=[Param("widths", "ints", "comma list d_in,...,d_out of a linear network", low=1),
                 Param("m", "int", "number of samples", low=1),
                 Param("layer", "int", "1-based layer index (1 or L)", low=1),
                 Param("M", "int", "number of learnable entries", low=0)],
         symbolic=lambda: sp.Eq(sp.Symbol("P"), sp.Sum(
             sp.Product(sp.binomial(sp.Symbol("len"), sp.Indexed("c", sp.Symbol("i"))),
                        (sp.Symbol("i"), 1, sp.Symbol("r"))),
             (sp.Symbol("c"), sp.Symbol("need"), sp.Symbol("len")))
             / sp.binomial(sp.Symbol("r") * sp.Symbol("len"), sp.Symbol("M"))))
def _single_layer_fraction_formula(widths, m, layer, M):
    f = single_layer_fraction(widths, m, layer, M)
    exact = sp.Rational(f.numerator, f.denominator)
    return {"fraction": exact, "value": sp.Float(exact, 30)}


@formula("allocation.relu_spread_mp",
         source="derived (sign cone of the learnable neurons' readout weights) for " + SOURCE,
         statement="shallow ReLU, one output: M first-layer learnable weights spread over k neurons "
                   "with >= m each give MP = 1 - 2^(1-k)(1 - p), p = P(residual >= 0); the "
                   "linear network has MP = 1 for every k",
         params=[Param("k", "int", "number of neurons sharing the learnable weights", low=1),
                 Param("p", "real", "orthant probability of the residual (1/2 for m = 1)",
                       low=0, high=1)],
         symbolic=lambda: sp.Eq(sp.Symbol("MP"), 1 - 2 ** (1 - sp.Symbol("k")) * (1 - sp.Symbol("p"))))
def _relu_spread_mp_formula(k, p):
    return relu_neurons_mp(k, p)


@formula("allocation.rnn_shared_equations",
         source="derived (K_0 = DB matched; gauge argument) for " + SOURCE,
         statement="linear RNN with B and D shared with the teacher: the recurrent weights face "
                   "E_S = E_K - d_in d_out independent equations (N >= max(d_in, d_out)); "
                   "SISO: min(T, 2N) - 1",
         params=[Param("N", "int", "state size", low=1), Param("d_in", "int", "input size", low=1),
                 Param("d_out", "int", "output size", low=1), Param("T", "int", "sequence length", low=1)],
         symbolic=lambda: sp.Eq(sp.Symbol("E_S"), sp.Symbol("E_K") - sp.Symbol("d_in") * sp.Symbol("d_out")))
def _rnn_shared_equations_formula(N, d_in, d_out, T):
    return sp.Integer(rnn_shared_equations(N, d_in, d_out, T))


@formula("allocation.full_rank_mp_heuristic",
         source="the project's own heuristic (the paper's is not known), calibrated on the exact "
                "two-layer example F6 of " + SOURCE,
         statement="multi-layer linear allocation at full rank with surplus s = M - E: "
                   "MP ~ 1 - (1 - p_square) 2^(-s), p_square = P(real root) of the F6 quadratic",
         params=[Param("surplus", "int", "learnable weights beyond the equations, M - E", low=0),
                 Param("p_square", "real", "F6 match probability P(discriminant >= 0)", low=0, high=1)],
         symbolic=lambda: sp.Eq(sp.Symbol("MP"), 1 - (1 - sp.Symbol("p_square")) * 2 ** (-sp.Symbol("s"))))
def _full_rank_mp_heuristic_formula(surplus, p_square):
    return full_rank_mp_heuristic(surplus, p_square)
