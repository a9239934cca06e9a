"""Exact linear regions of scalar-input ReLU networks, vectorised, without torch.

The counter (:func:`count_regions`) carries, for every segment of the current partition
of [lo, hi], the exact affine form A x + B of each hidden neuron as integers, and refines
the partition layer by layer with numpy over all segments x neurons at once.  Integers
live in numpy int64 arrays while an a-priori bound shows they fit, and in object arrays
of Python integers (arbitrary precision) beyond; signs of big integers are read from a
float64 filter with a proven error bound and recomputed exactly where it cannot decide.
Every sign, root and piece is exact.  Deep partitions are processed depth first in
blocks of segments, so memory does not grow with the number of regions when only counts
are wanted.

Also here, because the triangle path of ``dltv regions count`` must not load torch: the
exact triangle construction of Milkert, Hyde & Laine (arXiv 2311.18022, Sec. 3) and its
network-free breakpoint generator (the oracle the counter is tested against).
"""
from __future__ import annotations

import math
from bisect import bisect_right
from fractions import Fraction
from typing import Any, Callable, Sequence

import numpy as np

_INT64_SAFE = 1 << 62          # int64 arrays are used while every intermediate is below this bound
BLOCK = 1 << 12                # segments processed together once the partition is split up
_DENSE_TERMS = 64              # layers with more non-zero weights use one object matmul


# --------------------------------------------------------------------------- argument checks
def _check_depth(depth) -> int:
    if isinstance(depth, bool) or not isinstance(depth, (int, np.integer)) or depth < 1:
        raise ValueError(f"depth must be an integer >= 1, got {depth!r}")
    return int(depth)


def _check_peaks(peaks, n: int | None = None, name: str = "peaks") -> list:
    peaks = list(peaks)
    if n is not None and len(peaks) != n:
        raise ValueError(f"{name} must have {n} entries, got {len(peaks)}")
    for a in peaks:
        if not (0 < a < 1):
            raise ValueError(f"{name} must lie in the open interval (0, 1), got {a}")
    return peaks


def _check_scales(scales, n: int | None = None, name: str = "scales") -> list:
    scales = list(scales)
    if n is not None and len(scales) != n:
        raise ValueError(f"{name} must have {n} entries, got {len(scales)}")
    for s in scales:
        if not (s > 0) or (isinstance(s, float) and not math.isfinite(s)):
            raise ValueError(f"{name} must be finite and > 0, got {s}")
    return scales


# --------------------------------------------------------------------------- triangle construction
def law_scales(peaks: Sequence, s0, depth: int) -> list:
    """Scales tied by the differentiability law s_{i+1} = s_i (1 - a_{i+1}) a_{i+2}.

    Source: Milkert et al., Thm 3.1 (as reported); needs peaks a_0..a_depth.
    Works for Fractions, floats and torch scalars alike.
    """
    s = [s0]
    for i in range(depth - 1):
        s.append(s[-1] * (1 - peaks[i + 1]) * peaks[i + 2])
    return s


def triangle_layers(peaks: Sequence, scales: Sequence, *, sign: int = 1, sign_in: int = 0,
                    base=1, offset=0, out_weight=1, out_bias=0) -> list[tuple[list, list]]:
    """The width-4 network as ``[(W, b), ...]`` nested lists of the given scalars.

    ``d = len(scales)`` hidden layers, neurons [sum, t1, t2, bias]; peaks a_0..a_{d-1}
    are used (extra entries are ignored).  Output ``out_weight*(offset + sign_in*x +
    sign*F_d(x)) + out_bias``.  Source: Milkert et al. Sec. 3 matrix; the first and
    last layers derived so that t1 = s_{k-1} W_{k-1}, t2 = s_{k-1} ReLU(W_{k-1} - a_k),
    bias = s_{k-1} and sum = offset + sign_in x + sign sum_{j<=k-2} s_j W_j.
    """
    d = len(scales)
    s = [base] + list(scales)          # s[k+1] = s_k, s[0] = s_{-1} = base
    a = list(peaks)
    layers = [([[sign_in], [base], [base], [0]], [offset, 0, -base * a[0], base])]
    for k in range(1, d):
        S, A = s[k] / s[k - 1], a[k - 1]
        p, q = S / A, S / (A * (1 - A))
        W = [[1, sign * p, -sign * q, 0], [0, p, -q, 0], [0, p, -q, -S * a[k]], [0, 0, 0, S]]
        layers.append((W, [0, 0, 0, 0]))
    S, A = s[d] / s[d - 1], a[d - 1]
    p, q = S / A, S / (A * (1 - A))
    layers.append(([[out_weight, out_weight * sign * p, -out_weight * sign * q, 0]], [out_bias]))
    return layers


def exact_triangle_layers(peaks, scales, **kw) -> list:
    """:func:`triangle_layers` with every parameter converted exactly to a Fraction."""
    fr = lambda v: v if isinstance(v, Fraction) else Fraction(v)
    kw = {k: fr(v) if k in ("base", "offset", "out_weight", "out_bias") else v for k, v in kw.items()}
    return triangle_layers([fr(a) for a in peaks], [fr(s) for s in scales], **kw)


# --------------------------------------------------------------------------- network-free oracle
def triangle_breakpoints_scaled(peaks: Sequence) -> tuple[list[int], int]:
    """Nodes 0 = x_0 < ... < x_N = 1 of W_{d-1} as integers over a common denominator.

    derived (notes Sec. 1.2): each piece of W_{i-1} is monotone onto [0,1]; W_i splits it
    at p + a_i (q-p) when increasing, p + (1-a_i)(q-p) when decreasing, and the children
    are [increasing, decreasing] - so pieces alternate, starting increasing.  O(2^d) ints.
    """
    xs, den = [0, 1], 1
    for a in _check_peaks([Fraction(a) for a in peaks]):
        n, D = a.numerator, a.denominator
        out = []
        up, down = n, D - n
        for k in range(len(xs) - 1):
            p, q = xs[k], xs[k + 1]
            out.append(p * D)
            out.append(p * D + (up if k % 2 == 0 else down) * (q - p))
        out.append(xs[-1] * D)
        xs, den = out, den * D
    return xs, den


def triangle_breakpoints(peaks: Sequence) -> list[Fraction]:
    """The 2^d - 1 interior breakpoints of W_{d-1} (= activation boundaries of the net), exact."""
    xs, den = triangle_breakpoints_scaled(peaks)
    return [Fraction(v, den) for v in xs[1:-1]]


def triangle_region_count(peaks: Sequence) -> int:
    """Number of regions from the oracle: distinct strictly increasing nodes in [0,1], minus 1."""
    xs, _ = triangle_breakpoints_scaled(peaks)
    if any(x1 <= x0 for x0, x1 in zip(xs[:-1], xs[1:])):
        return len(set(xs)) - 1
    return len(xs) - 1


def triangle_breakpoint_births(peaks: Sequence) -> dict:
    """Breakpoint p -> (level j where p is born as a peak of W_j, |W'_{j-1}(p)|), exact."""
    pieces, births = [(Fraction(0), Fraction(1), True)], {}
    for j, a in enumerate(_check_peaks([Fraction(a) for a in peaks])):
        new = []
        for p, q, inc in pieces:
            m = p + (a if inc else 1 - a) * (q - p)
            births[m] = (j, 1 / (q - p))
            new += [(p, m, True), (m, q, False)]
        pieces = new
    return births


def sawtooth_layers(k: int) -> list[tuple[list, list]]:
    """Telgarsky's width-2 net for the k-fold tent m^k: T(y) = 2ReLU(y) - 4ReLU(y - 1/2)."""
    k = _check_depth(k)
    h = Fraction(1, 2)
    layers = [([[1], [1]], [0, -h])]
    layers += [([[2, -4], [2, -4]], [0, -h]) for _ in range(k - 1)]
    return layers + [([[2, -4]], [0])]


# --------------------------------------------------------------------------- reading a network exactly
def as_fraction(v) -> Fraction:
    """``v`` as an exact Fraction: ints and Fractions as they are, floats exactly (a finite binary value)."""
    if isinstance(v, Fraction):
        return v
    if isinstance(v, (int, np.integer)):
        return Fraction(int(v))
    f = float(v)
    if not math.isfinite(f):
        raise ValueError(f"network weights must be finite, got {v!r}")
    return Fraction(f)


def _float_array(v) -> np.ndarray | None:
    """``v`` as a float64 array if it is a floating tensor/array (exactly representable), else None.

    Tensors are recognised without importing torch (``detach`` and ``is_floating_point``).
    """
    if hasattr(v, "detach") and hasattr(v, "is_floating_point"):
        if not v.is_floating_point():
            return None
        v = v.detach().cpu().double().numpy()
    if isinstance(v, np.ndarray) and np.issubdtype(v.dtype, np.floating):
        return v.astype(np.float64)
    return None


def _as_layers(net: Any) -> list[tuple[Any, Any]]:
    """[(W, b), ...] with each entry a float64 array or nested lists of Fractions; shapes checked.

    ``net``: an nn.Sequential of Linear/ReLU (read by ``dltv.numerics.regions.module_layers``)
    or [(W, b), ...] of tensors / arrays / nested lists of numbers.
    """
    if hasattr(net, "named_children") and hasattr(net, "forward"):     # a torch module: torch is loaded
        from dltv.numerics.regions import module_layers
        net = module_layers(net)
    layers = []
    for W, b in net:
        Wf, bf = _float_array(W), _float_array(b)
        if Wf is not None and bf is not None and Wf.ndim == 2 and bf.ndim == 1:
            if not (np.isfinite(Wf).all() and np.isfinite(bf).all()):
                raise ValueError("network weights must be finite")
            layers.append((Wf, bf))
            continue
        W = W.tolist() if hasattr(W, "tolist") else W
        b = b.tolist() if hasattr(b, "tolist") else b
        layers.append(([[as_fraction(w) for w in row] for row in W], [as_fraction(v) for v in b]))
    if not layers:
        raise ValueError("network must have at least one layer")
    shapes = [(len(W), len(W[0]) if len(W) else 0, len(b)) for W, b in layers]
    if shapes[0][1] != 1:
        raise ValueError(f"network input must be scalar (1 column), got {shapes[0][1]}")
    for (W, _), (n_out, n_in, n_b) in zip(layers, shapes):
        if n_b != n_out or any(len(row) != n_in for row in W):
            raise ValueError("layer shapes do not chain")
    if any(n_in != prev_out for (prev_out, _, _), (_, n_in, _) in zip(shapes[:-1], shapes[1:])):
        raise ValueError("layer shapes do not chain")
    return layers


def _dyadic(W: np.ndarray, b: np.ndarray) -> tuple[list[list[int]], list[int], int]:
    """Float64 W, b as integers over one power of two: (W * 2^k, b * 2^k, k), exactly.

    A float64 is m 2^e with an integer mantissa |m| < 2^53 (``np.frexp``), so 2^k with
    k = max(0, -min e) clears every denominator.
    """
    vals = np.concatenate([W.ravel(), b])
    mant, expo = np.frexp(vals)
    m = (mant * 2.0 ** 53).astype(np.int64)
    e = expo.astype(np.int64) - 53
    e_min = int(e[m != 0].min()) if np.any(m != 0) else 0
    k = max(0, -e_min)
    ints = [mi << (ei + k) if mi else 0 for mi, ei in zip(m.tolist(), e.tolist())]
    n_in = W.shape[1]
    rows = [ints[i * n_in:(i + 1) * n_in] for i in range(W.shape[0])]
    return rows, ints[W.size:], k


def _integer_layers(layers) -> tuple[list[tuple[list[list[int]], list[int]]], list[Fraction]]:
    """Primitive integer layers with the same activation pattern, and the output scales.

    derived: a positive factor c_j on neuron j commutes with ReLU, so z'_j = c_j z_j with
    c_j > 0 has the signs, roots and patterns of the rational network if the next layer
    divides column j by c_j.  Layer by layer, row j of [W_l diag(1/c^(l-1)), b_l] is
    multiplied by the c_j that makes it a primitive integer vector (lcm of denominators
    over gcd of numerators): the integers stay as small as exactness allows.  Returns
    [(W', b'), ...] as int lists and c^(L+1), the factors of the outputs (y'_o = c_o y_o).
    """
    out, c_in = [], [Fraction(1)]
    for W, b in layers:
        if isinstance(W, np.ndarray):
            Wn, bn, k = _dyadic(W, b)
            D = 1 << k
        else:
            D = math.lcm(*(v.denominator for row in W for v in row), *(v.denominator for v in b))
            Wn = [[int(v * D) for v in row] for row in W]
            bn = [int(v * D) for v in b]
        cn = [c.numerator for c in c_in]
        cd = [c.denominator for c in c_in]
        rows, bias, c_out = [], [], []
        for row, bj in zip(Wn, bn):      # z_j = sum_i row_i h'_i / (D c_i) + bj / D
            L = math.lcm(*(n for w, n in zip(row, cn) if w)) if any(row) else 1
            ints = [w * d * (L // n) if w else 0 for w, n, d in zip(row, cn, cd)]
            g = math.gcd(*ints, bj * L) or 1
            rows.append([v // g for v in ints])
            bias.append(bj * L // g)
            c_out.append(Fraction(D * L, g))
        out.append((rows, bias))
        c_in = c_out
    return out, c_in


# --------------------------------------------------------------------------- the result
class RegionCount:
    """Exact 1-D partition of [lo, hi] by a ReLU network.

    ``activation_regions`` / ``affine_pieces``: all of them; ``long_regions`` /
    ``long_pieces``: those of length >= ``min_length`` (the same when it is 0).
    ``region_breakpoints``: interior points where the activation pattern changes;
    ``pieces``: maximal intervals with one affine output, as (left, right, slopes, intercepts)
    with per-output tuples of Fractions; ``kinks``: the interior piece boundaries.
    These lists exist only when the count kept its details (``count_regions(..., detail=True)``);
    they are built as Fractions on first use (the count itself works in integers).
    """

    def __init__(self, activation_regions: int, affine_pieces: int, long_regions: int, long_pieces: int,
                 min_length: Fraction, detail: dict | None = None):
        self.activation_regions, self.affine_pieces = activation_regions, affine_pieces
        self.long_regions, self.long_pieces = long_regions, long_pieces
        self.min_length = min_length
        self._detail = detail
        self._pieces = None

    def _need_detail(self) -> dict:
        if self._detail is None:
            raise ValueError("this count kept no breakpoints or pieces: count with detail=True")
        return self._detail

    @property
    def region_breakpoints(self) -> list[Fraction]:
        d = self._need_detail()
        return [Fraction(n, m) for n, m in zip(d["num"][1:-1].tolist(), d["den"][1:-1].tolist())]

    @property
    def pieces(self) -> list:
        if self._pieces is None:
            d = self._need_detail()
            num, den, start = d["num"].tolist(), d["den"].tolist(), d["start"].tolist()
            ends = start[1:] + [len(num) - 1]
            c = d["scale"]
            self._pieces = [(Fraction(num[i], den[i]), Fraction(num[j], den[j]),
                             tuple(Fraction(a) / co for a, co in zip(A, c)),
                             tuple(Fraction(b) / co for b, co in zip(B, c)))
                            for i, j, A, B in zip(start, ends, d["slope"].tolist(), d["intercept"].tolist())]
        return self._pieces

    @property
    def kinks(self) -> list:
        return [p[0] for p in self.pieces[1:]]

    def value(self, x) -> tuple:
        """The exact output at x (a Fraction inside [lo, hi])."""
        x = Fraction(x)
        pieces = self.pieces
        if not pieces[0][0] <= x <= pieces[-1][1]:
            raise ValueError(f"x must lie in [{pieces[0][0]}, {pieces[-1][1]}], got {x}")
        k = max(bisect_right([p[0] for p in pieces], x) - 1, 0)
        _, _, sl, ic = pieces[k]
        return tuple(a * x + b for a, b in zip(sl, ic))


# --------------------------------------------------------------------------- the counter
class _Layer:
    """One integer layer: W^T and b as object (and, where they fit, int64) arrays, and its sparsity.

    ``nz_a`` / ``nz_b``: which pre-activations can have a non-zero slope / intercept at all
    (structurally, given the same for the layer's inputs); ``terms_a[j]`` / ``terms_b[j]``:
    the (input, weight) pairs that contribute to neuron j's slope / intercept.
    """

    def __init__(self, rows: list[list[int]], bias: list[int], nz_a_in: list[bool], nz_b_in: list[bool]):
        self.Wt = np.array(rows, dtype=object).reshape(len(rows), -1).T.copy()
        self.b = np.array(bias, dtype=object)
        self.row_l1 = max((sum(abs(w) for w in row) for row in rows), default=0)   # bounds |W h|
        self.b_max = max((abs(v) for v in bias), default=0)
        fits = all(abs(v) < _INT64_SAFE for row in rows for v in row) and self.b_max < _INT64_SAFE
        self.Wt64 = self.Wt.astype(np.int64) if fits else None
        self.b64 = self.b.astype(np.int64) if fits else None
        self.terms_a = [[(i, w) for i, w in enumerate(row) if w and nz_a_in[i]] for row in rows]
        self.terms_b = [[(i, w) for i, w in enumerate(row) if w and nz_b_in[i]] for row in rows]
        self.nz_a = [bool(t) for t in self.terms_a]
        self.nz_b = [bool(t) or bool(bj) for t, bj in zip(self.terms_b, bias)]


def _sparse_layers(int_layers: list) -> list[_Layer]:
    """The integer layers with constant neurons folded into the next layer's biases.

    derived: a neuron whose slope is structurally zero (no path from x) is one constant c
    on the whole line, so the next layer's z = W h + b equals the same W with column j
    zeroed and b + c W[:, j]: exact, and the column costs nothing in the products.
    """
    layers, nz_a, nz_b, const = [], [True], [False], [None]       # the input x: slope 1, intercept 0
    for rows, bias in int_layers:
        bias = [bj + sum(w * c for w, c in zip(row, const) if c is not None) for row, bj in zip(rows, bias)]
        rows = [[0 if c is not None else w for w, c in zip(row, const)] for row in rows]
        layer = _Layer(rows, bias, nz_a, nz_b)
        layers.append(layer)
        nz_a, nz_b = layer.nz_a, layer.nz_b
        const = [None if a else max(bj, 0) for a, bj in zip(nz_a, bias)]
    return layers


class _Block:
    """Segments [e_k, e_{k+1}] (edges num/den, den > 0) with hidden affine forms A x + B, and bounds."""

    __slots__ = ("num", "den", "A", "B", "bound_ab", "bound_edge")

    def __init__(self, num, den, A, B, bound_ab: int, bound_edge: int):
        self.num, self.den, self.A, self.B = num, den, A, B
        self.bound_ab, self.bound_edge = bound_ab, bound_edge

    def __len__(self) -> int:
        return len(self.A)

    def split(self, size: int):
        for s in range(0, len(self), size):
            e = min(s + size, len(self))
            yield _Block(self.num[s:e + 1], self.den[s:e + 1], self.A[s:e], None if self.B is None else self.B[s:e],
                         self.bound_ab, self.bound_edge)


def _product(X: np.ndarray, terms: list[list[tuple[int, int]]], Wt: np.ndarray, bias=None) -> np.ndarray:
    """X W^T (+ b) for an object array X: over the non-zero terms, one output column at a time,
    for small layers (the triangle net's are sparse); one object matmul for wide ones."""
    if sum(map(len, terms)) > _DENSE_TERMS:
        out = X @ Wt
        return out if bias is None else out + bias
    cols = []
    for j, pairs in enumerate(terms):
        col = None
        for i, w in pairs:
            t = X[:, i] if w == 1 else -X[:, i] if w == -1 else X[:, i] * w
            col = t if col is None else col + t
        if bias is not None and bias[j]:
            col = np.full(len(X), bias[j], dtype=object) if col is None else col + bias[j]
        cols.append(np.zeros(len(X), dtype=object) if col is None else col)
    return np.stack(cols, axis=1)


def _affine(block: _Block, layer: _Layer, need_b: bool = True) -> tuple[np.ndarray, np.ndarray | None, int]:
    """Pre-activations zA x + zB of every segment, in int64 when the bound allows."""
    bound = block.bound_ab * layer.row_l1 + layer.b_max
    small = layer.Wt64 is not None and bound * block.bound_edge * 2 < _INT64_SAFE
    if small:
        zB = (block.B.astype(np.int64) @ layer.Wt64 + layer.b64) if need_b else None
        return block.A.astype(np.int64) @ layer.Wt64, zB, bound
    zB = _product(block.B.astype(object), layer.terms_b, layer.Wt, layer.b) if need_b else None
    return _product(block.A.astype(object), layer.terms_a, layer.Wt), zB, bound


def _signs(zA, zB, num, den, layer: _Layer, bound: int) -> np.ndarray:
    """sign(z_j) at every edge, shape (N+1, n): at each segment's left end and the last right end.

    derived: z_j is continuous in x, so at an inner edge the forms of both neighbours agree.
    Structurally zero slopes or intercepts are skipped (den > 0).  ``bound`` bounds |zA x|
    and |zB y| for the edges' numerators x and denominators y.
    """
    zA = np.concatenate([zA, zA[-1:]])
    zB = np.concatenate([zB, zB[-1:]])
    out = np.zeros(zA.shape, dtype=np.int8)
    edges = (num, den, num.astype(np.float64), den.astype(np.float64)) if bound < _FILTER_MAX else (num, den)
    for j, (a, b) in enumerate(zip(layer.nz_a, layer.nz_b)):
        if a and b:
            out[:, j] = _sign_of_sum(zA[:, j], zB[:, j], edges, bound)
        elif a:
            out[:, j] = np.sign(zA[:, j]).astype(np.int8) * np.sign(num).astype(np.int8)
        elif b:
            out[:, j] = np.sign(zB[:, j]).astype(np.int8)
    return out


_FILTER_MAX = 1 << 1000     # integers below this convert to float64 without overflow
_FILTER_ERR = 8 * 2.0 ** -53   # relative error of fl(fl(a)fl(x) + fl(b)fl(y)), with margin


def _sign_of_sum(a, b, edges: tuple, bound: int) -> np.ndarray:
    """sign(a x + b y) exactly, elementwise, for integer arrays with |a x|, |b y| <= bound.

    ``edges``: (x, y) and, below ``_FILTER_MAX``, their float64 values.
    Object arrays go through a float64 filter first: with u = 2^-53, rounding a, x, b, y and
    the two products and the sum moves the result by at most 3.01u(|ax| + |by|) + u|result|
    (derived, standard error analysis), so where |fl(result)| exceeds 8u(|fl(ax)| + |fl(by)|)
    its sign is that of the float; only the remaining entries (zeros, near-cancellations)
    are computed in integers.
    """
    x, y = edges[:2]
    if len(edges) == 2 or (a.dtype != object and x.dtype != object and b.dtype != object and y.dtype != object):
        return np.sign(a * x + b * y).astype(np.int8)
    p = a.astype(np.float64) * edges[2]
    q = b.astype(np.float64) * edges[3]
    v = p + q
    out = np.sign(v).astype(np.int8)
    unsure = np.nonzero(np.abs(v) <= _FILTER_ERR * (np.abs(p) + np.abs(q)))[0]
    if len(unsure):
        obj = lambda v: v[unsure].astype(object)
        exact = obj(a) * obj(x) + obj(b) * obj(y)
        out[unsure] = np.sign(exact).astype(np.int8)
    return out


def _hidden_step(block: _Block, layer: _Layer, keep_b: bool = True) -> _Block:
    """Refine the segments at the roots of the layer's pre-activations; apply its ReLU.

    ``keep_b=False`` drops the intercepts of the result (enough for the output's slopes).
    """
    zA, zB, bound = _affine(block, layer)
    S = _signs(zA, zB, block.num, block.den, layer, max(bound, 1) * block.bound_edge)
    Sl, Sr = S[:-1], S[1:]
    active0 = (Sl > 0) | ((Sl == 0) & (Sr > 0))      # sign on the segment's interior, before any root
    cross = (Sl * Sr) < 0                              # one root strictly inside
    n_seg, width = zA.shape
    if not cross.any():
        return _Block(block.num, block.den, np.where(active0, zA, 0), np.where(active0, zB, 0) if keep_b else None,
                      bound, block.bound_edge)
    seg, neu = np.nonzero(cross)                       # segment-major order
    rd = zA[seg, neu]
    rn = -zB[seg, neu]
    if rd.dtype != object and 2 * bound * bound >= _INT64_SAFE:    # the roots' cross products
        rn, rd = rn.astype(object), rd.astype(object)
    flip = rd < 0
    rn, rd = np.where(flip, -rn, rn), np.where(flip, -rd, rd)
    first, rank = _distinct_ranks(seg, rn, rd, n_seg)
    n_roots = np.bincount(seg[first], minlength=n_seg)
    children = n_roots + 1
    start = np.concatenate([[0], np.cumsum(children)])
    parent = np.repeat(np.arange(n_seg), children)
    child = np.arange(start[-1]) - start[parent]
    flip_at = np.full((n_seg, width), width + 2, dtype=np.int64)   # child index from which neuron j flips
    flip_at[seg, neu] = rank
    on = active0[parent] ^ (child[:, None] >= flip_at[parent])
    num = np.empty(start[-1] + 1, dtype=block.num.dtype if rn.dtype == block.num.dtype else object)
    den = np.empty_like(num)
    num[start[:-1]], den[start[:-1]] = block.num[:-1], block.den[:-1]
    at = start[seg[first]] + rank[first]
    num[at], den[at] = rn[first], rd[first]
    num[-1:], den[-1:] = block.num[-1:], block.den[-1:]
    return _Block(num, den, np.where(on, zA[parent], 0), np.where(on, zB[parent], 0) if keep_b else None, bound,
                  max(bound, block.bound_edge))


def _distinct_ranks(seg, rn, rd, n_seg) -> tuple[np.ndarray, np.ndarray]:
    """For roots rn/rd (rd > 0) grouped by segment: is each the first of its value, and its
    1-based rank among the segment's distinct roots.  Pairwise exact comparisons, segment-local."""
    R = len(seg)
    count = np.bincount(seg, minlength=n_seg)[seg]
    first = np.ones(R, dtype=bool)
    rank = np.ones(R, dtype=np.int64)
    multi = np.nonzero(count > 1)[0]
    if len(multi) == 0:
        return first, rank
    group_start = np.searchsorted(seg, seg)            # seg is sorted
    reps = count[multi]
    a = np.repeat(multi, reps)
    b = group_start[a] + (np.arange(reps.sum()) - np.repeat(np.cumsum(reps) - reps, reps))
    keep = a != b
    a, b = a[keep], b[keep]
    diff = rn[b] * rd[a] - rn[a] * rd[b]               # root_b - root_a, times rd_a rd_b > 0
    less, equal = diff < 0, diff == 0
    first[np.unique(a[equal & (b < a)])] = False
    rank += np.bincount(a, weights=less & first[b], minlength=R).astype(np.int64)
    return first, rank


class _Tally:
    """Counts (and, with ``detail``, the partition) accumulated block by block, left to right."""

    def __init__(self, min_length: Fraction, detail: bool):
        self.min_length, self.detail = min_length, detail
        self.regions = self.long_regions = self.pieces = 0
        self.long_pieces = 0
        self.last_slope = None                 # slopes of the last segment seen (pieces span blocks)
        self.open_start = None                 # (num, den) where the current piece began
        self.parts: list[dict] = []

    def add(self, block: _Block, zA: np.ndarray, zB: np.ndarray) -> None:
        n = len(zA)
        self.regions += n
        m = self.min_length
        num, den = (block.num.astype(object), block.den.astype(object)) if m > 0 else (block.num, block.den)
        if m > 0:
            p, q = m.numerator, m.denominator
            length = num[1:] * den[:-1] - num[:-1] * den[1:]
            self.long_regions += int(np.count_nonzero(length * q >= p * (den[1:] * den[:-1])))
        # derived: the output is continuous, so equal slopes on adjacent segments mean one affine piece
        new = np.ones(n, dtype=bool)
        new[1:] = (zA[1:] != zA[:-1]).any(axis=1)
        if self.last_slope is not None:
            new[0] = bool((zA[0] != self.last_slope).any())
        self.last_slope = zA[-1].copy()
        starts = np.nonzero(new)[0]
        self.pieces += len(starts)
        if m > 0:
            s_num, s_den = num[starts], den[starts]
            if self.open_start is not None:
                s_num = np.concatenate([np.array([self.open_start[0]], dtype=object), s_num])
                s_den = np.concatenate([np.array([self.open_start[1]], dtype=object), s_den])
            if len(s_num) > 1:
                length = s_num[1:] * s_den[:-1] - s_num[:-1] * s_den[1:]
                self.long_pieces += int(np.count_nonzero(length * q >= p * (s_den[1:] * s_den[:-1])))
            self.open_start = (s_num[-1], s_den[-1])
        if self.detail:
            self.parts.append(dict(num=num[:-1].astype(object), den=den[:-1].astype(object),
                                   start=starts + (self.regions - n), slope=zA[starts].astype(object),
                                   intercept=zB[starts].astype(object)))

    def close(self, hi_num, hi_den) -> None:
        m = self.min_length
        if m > 0:
            p, q = m.numerator, m.denominator
            s_num, s_den = self.open_start
            self.long_pieces += int((hi_num * s_den - s_num * hi_den) * q >= p * (s_den * hi_den))
        else:
            self.long_regions, self.long_pieces = self.regions, self.pieces


def count_regions(net: Any, lo=0, hi=1, min_length=0, progress: Callable | None = None, *,
                  detail: bool = True) -> RegionCount:
    """Exact activation regions and affine pieces of a scalar-input ReLU MLP on [lo, hi].

    ReLU follows every layer but the last.  Algorithm (project notes Sec. 3.1), vectorised:
    every segment of the current partition carries the exact affine forms A x + B of the
    hidden neurons (integers, :func:`_integer_layers`); a layer's pre-activations are
    (A, B) W^T + (0, b) for all segments at once, their signs at the edges (one per edge by
    continuity) locate the roots strictly inside segments, and each segment splits at its
    distinct roots, the pattern of each part following from the signs and the roots' order.
    Adjacent final segments with equal output slopes form one affine piece.  Partitions
    larger than ``BLOCK`` segments go on depth first, block by block.

    ``min_length`` (>= 0): also count the regions and pieces at least that long
    (``long_regions``, ``long_pieces``), e.g. to see how many are rounding slivers.
    ``detail`` (default True): keep the breakpoints and pieces; False counts only, in
    memory that does not grow with the number of regions.
    ``progress(layer, layers, segments)``, if given, is called after each hidden layer while
    the partition is one block, then after each block that reaches the last hidden layer
    (with the segments found so far).
    """
    lo, hi = as_fraction(lo), as_fraction(hi)
    if not lo < hi:
        raise ValueError(f"interval must satisfy lo < hi, got [{lo}, {hi}]")
    min_length = as_fraction(min_length)
    if min_length < 0:
        raise ValueError(f"min_length must be >= 0, got {min_length}")
    int_layers, out_scale = _integer_layers(_as_layers(net))
    layers = _sparse_layers(int_layers)
    edge_bound = max(abs(lo.numerator), lo.denominator, abs(hi.numerator), hi.denominator)
    edge_type = np.int64 if edge_bound < _INT64_SAFE else object
    block = _Block(np.array([lo.numerator, hi.numerator], dtype=edge_type),
                   np.array([lo.denominator, hi.denominator], dtype=edge_type),
                   np.array([[1]], dtype=np.int64), np.array([[0]], dtype=np.int64), 1, edge_bound)
    tally = _Tally(min_length, detail)
    hidden = len(layers) - 1

    def descend(block: _Block, depth: int, whole: bool) -> None:
        if depth == hidden:
            zA, zB, _ = _affine(block, layers[-1], need_b=detail)
            tally.add(block, zA, zB)
            if progress is not None and not whole and hidden:
                progress(hidden, hidden, tally.regions)
            return
        block = _hidden_step(block, layers[depth], keep_b=detail or depth + 1 < hidden)
        whole = whole and len(block) <= BLOCK
        if progress is not None and whole:
            progress(depth + 1, hidden, len(block))
        for part in ([block] if len(block) <= BLOCK else block.split(BLOCK)):
            descend(part, depth + 1, whole)

    descend(block, 0, True)
    tally.close(hi.numerator, hi.denominator)
    info = None
    if detail:
        parts = tally.parts
        cat = lambda key: np.concatenate([p[key] for p in parts])
        info = dict(num=np.concatenate([cat("num"), [hi.numerator]]).astype(object),
                    den=np.concatenate([cat("den"), [hi.denominator]]).astype(object),
                    start=cat("start"), slope=cat("slope"), intercept=cat("intercept"), scale=out_scale)
    return RegionCount(tally.regions, tally.pieces, tally.long_regions, tally.long_pieces, min_length, info)
