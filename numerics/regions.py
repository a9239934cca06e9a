"""Linear regions of 1-D ReLU networks: the triangle construction and an exact counter.

Milkert, Hyde & Laine (arXiv 2311.18022) build a width-4 ReLU network of depth d whose
output on [0, 1] is ``y = c0 + c * (K + sign_in*x + sign*F_d(x))`` with

    F_d(x) = sum_{i<d} s_i W_i(x),   W_i = T_{a_i} o ... o T_{a_0},
    T_a(y) = ReLU(y)/a - ReLU(y - a)/(a(1 - a))          (the tent with peak a),

and which has exactly 2^d activation regions for every a in (0,1)^d and s > 0.  The
hidden layers are [sum, t1, t2, bias]; only the t2 neurons switch on (0, 1).  The
layer matrices are those of the paper's Sec. 3 as recorded in the project's notes
(first and output layers, and the offset ``K = sum_j s_j`` that keeps the "sum"
neuron positive for ``sign = -1``, are derived: the sum neuron then never switches).

Floats miscount regions of this construction (pieces of length a_0 a_1 ... a_{d-1});
:func:`count_regions` therefore works in exact rationals: every float weight is
converted exactly with ``Fraction(float)``.
"""
from __future__ import annotations

import math
from fractions import Fraction
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

DTYPE = torch.float64


# --------------------------------------------------------------------------- checks
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


def _check_sign(name: str, value, allowed) -> int:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
    return int(value)


# --------------------------------------------------------------------------- construction
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


class TriangleNet(nn.Module):
    """A batch of ``batch`` triangle-parameterised networks of depth ``depth``.

    Free parameters: peaks a = sigmoid(raw) in (0, 1), scales s = exp(raw) > 0 (with
    ``law=True`` only s_0 is free and a has depth+1 entries), and the output affine
    map (out_weight, out_bias).  ``layers(m)`` exposes member m's ordinary weight
    matrices; ``to_mlp_params()`` gives them as a plain batched MLP for raw training.
    Default: ``sign=-1, sign_in=1`` (convex output x - F_d, offset K = sum_j s_j).
    """

    def __init__(self, depth: int, *, batch: int = 1, law: bool = True, sign: int = -1,
                 sign_in: int = 1, peaks=None, s0=None, scales=None,
                 peak_range=(0.25, 0.75), generator: torch.Generator | None = None):
        super().__init__()
        self.depth = _check_depth(depth)
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
            raise ValueError(f"batch must be an integer >= 1, got {batch!r}")
        self.law, self.sign = bool(law), _check_sign("sign", sign, (-1, 1))
        self.sign_in = _check_sign("sign_in", sign_in, (0, 1))
        n_peaks = depth + 1 if law else depth
        if peaks is None:
            lo, hi = peak_range
            if not (0 < lo < hi < 1):
                raise ValueError(f"peak_range must satisfy 0 < lo < hi < 1, got {peak_range!r}")
            peaks = lo + (hi - lo) * torch.rand(batch, n_peaks, generator=generator, dtype=DTYPE)
        else:
            peaks = torch.as_tensor(np.asarray(peaks, dtype=float), dtype=DTYPE).reshape(-1, n_peaks)
            _check_peaks(peaks.flatten().tolist())
            peaks = peaks.expand(batch, n_peaks).clone()
        self.raw_peaks = nn.Parameter(torch.logit(peaks))
        if law:
            s0 = peaks[:, 0] * peaks[:, 1] if s0 is None else torch.full((batch,), float(s0), dtype=DTYPE)
            _check_scales(s0.tolist(), name="s0")
            self.raw_scales = nn.Parameter(torch.log(s0)[:, None])
        else:
            if scales is None:
                scales = torch.stack(law_scales(list((torch.cat([peaks, torch.full_like(peaks[:, :1], .5)], 1)).T),
                                                peaks[:, 0] * peaks[:, 1], depth), 1)
            else:
                scales = torch.as_tensor(np.asarray(scales, dtype=float), dtype=DTYPE).reshape(-1, depth)
                _check_scales(scales.flatten().tolist())
                scales = scales.expand(batch, depth).clone()
            self.raw_scales = nn.Parameter(torch.log(scales))
        self.out_weight = nn.Parameter(torch.ones(batch, dtype=DTYPE))
        self.out_bias = nn.Parameter(torch.zeros(batch, dtype=DTYPE))

    def peaks(self) -> torch.Tensor:
        return torch.sigmoid(self.raw_peaks)

    def scales(self) -> torch.Tensor:
        if not self.law:
            return torch.exp(self.raw_scales)
        a = self.peaks()
        return torch.stack(law_scales(list(a.T), torch.exp(self.raw_scales[:, 0]), self.depth), 1)

    def offset(self, scales: torch.Tensor) -> torch.Tensor:
        return scales.sum(1) if self.sign < 0 else torch.zeros_like(scales[:, 0])

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """offset + sign_in*x + sign*F_d(x), shape (batch, len(x)), by tent composition."""
        x = torch.as_tensor(x, dtype=DTYPE).reshape(1, -1)
        a, s = self.peaks(), self.scales()
        w, total = x.expand(a.shape[0], -1), 0
        for i in range(self.depth):
            ai = a[:, i:i + 1]
            w = torch.relu(w) / ai - torch.relu(w - ai) / (ai * (1 - ai))
            total = total + s[:, i:i + 1] * w
        return self.offset(s)[:, None] + self.sign_in * x + self.sign * total

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out_weight[:, None] * self.features(x) + self.out_bias[:, None]

    def _layer_args(self, member: int) -> tuple[list, list, dict]:
        a, s = self.peaks()[member], self.scales()[member]
        kw = dict(sign=self.sign, sign_in=self.sign_in, offset=self.offset(s[None])[0],
                  out_weight=self.out_weight[member], out_bias=self.out_bias[member])
        return list(a), list(s), kw

    def layers(self, member: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Member ``member``'s ordinary weights [(W, b), ...] as float64 tensors (differentiable)."""
        a, s, kw = self._layer_args(member)
        return [(_stack(W), _stack(b)) for W, b in triangle_layers(a, s, **kw)]

    def exact_layers(self, member: int = 0) -> list:
        """The same network built exactly (Fractions) from the stored float64 parameters."""
        with torch.no_grad():
            a, s, kw = self._layer_args(member)
            fr = lambda t: Fraction(float(t))
            kw = {k: (fr(v) if k in ("offset", "out_weight", "out_bias") else v) for k, v in kw.items()}
            return triangle_layers([fr(v) for v in a], [fr(v) for v in s], **kw)

    @torch.no_grad()
    def fit_output_(self, x: torch.Tensor, y: torch.Tensor) -> None:
        """Least-squares (out_weight, out_bias) for each member, in place."""
        f = self.features(x)
        for m in range(f.shape[0]):
            A = torch.stack([f[m], torch.ones_like(f[m])], 1)
            sol = torch.linalg.lstsq(A, torch.as_tensor(y, dtype=DTYPE).reshape(-1, 1)).solution
            self.out_weight[m], self.out_bias[m] = sol[0, 0], sol[1, 0]

    @torch.no_grad()
    def to_mlp_params(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """All members' weights stacked: [(W (batch,out,in), b (batch,out)), ...]."""
        per = [self.layers(m) for m in range(self.raw_peaks.shape[0])]
        return [(torch.stack([p[l][0] for p in per]), torch.stack([p[l][1] for p in per]))
                for l in range(len(per[0]))]


def _stack(rows) -> torch.Tensor:
    if isinstance(rows, list):
        return torch.stack([_stack(r) for r in rows])
    return torch.as_tensor(rows, dtype=DTYPE)


# --------------------------------------------------------------------------- plain batched MLPs
def init_mlp(widths: Sequence[int], *, batch: int = 1, init: str = "default", bias_var: float = 0.1,
             generator: torch.Generator | None = None) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``batch`` ReLU MLPs with widths d_0..d_{L+1} as [(W (batch,out,in), b (batch,out))].

    init: "default" = PyTorch nn.Linear (W, b ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)));
    "he" = W ~ N(0, 2/fan_in), b ~ N(0, bias_var); "he-zero-bias" = W ~ N(0, 2/fan_in), b = 0.
    """
    if init not in ("default", "he", "he-zero-bias"):
        raise ValueError(f"init must be one of default, he, he-zero-bias; got {init!r}")
    widths = list(widths)
    if len(widths) < 2 or any(isinstance(w, bool) or int(w) != w or w < 1 for w in widths):
        raise ValueError(f"widths must be >= 2 integers >= 1, got {widths!r}")
    if not bias_var >= 0:
        raise ValueError(f"bias_var must be >= 0, got {bias_var!r}")
    out = []
    for n_in, n_out in zip(widths[:-1], widths[1:]):
        if init == "default":
            bound = 1 / math.sqrt(n_in)
            W = (2 * torch.rand(batch, n_out, n_in, generator=generator, dtype=DTYPE) - 1) * bound
            b = (2 * torch.rand(batch, n_out, generator=generator, dtype=DTYPE) - 1) * bound
        else:
            W = torch.randn(batch, n_out, n_in, generator=generator, dtype=DTYPE) * math.sqrt(2 / n_in)
            b = torch.randn(batch, n_out, generator=generator, dtype=DTYPE) * math.sqrt(bias_var)
            if init == "he-zero-bias":
                b = torch.zeros_like(b)
        out.append((W, b))
    return out


def mlp_forward(params, x: torch.Tensor) -> torch.Tensor:
    """Batched MLP output (batch, len(x)) for scalar inputs x; ReLU after all but the last layer."""
    h = torch.as_tensor(x, dtype=DTYPE).reshape(1, 1, -1).expand(params[0][0].shape[0], 1, -1)
    for i, (W, b) in enumerate(params):
        h = torch.baddbmm(b[:, :, None], W, h)
        if i < len(params) - 1:
            h = torch.relu(h)
    return h[:, 0, :]


def crossing_density(params, init: str, x: torch.Tensor, bias_var: float = 0.1) -> torch.Tensor:
    """Sum over hidden neurons z of |z'(x)| rho_{b_z}(-u_z(x)), shape (batch, len(x)).

    u_z = z - b_z is the neuron's input without its bias, z' = dz/dx, rho_b the bias density
    of the initialisation (``init`` of :func:`init_mlp`): N(0, bias_var) for "he",
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for "default".  Its integral over a segment, averaged over
    networks, is the expected number of region boundaries there (Hanin & Rolnick 2019, Thm 3,
    k = 1): with x uniform on the segment, length * mean is an unbiased estimate of it.
    """
    if init not in ("default", "he"):
        raise ValueError(f"init must be default or he (a density of the biases), got {init!r}")
    x = torch.as_tensor(x, dtype=DTYPE)
    x = x.reshape(1, 1, -1).expand(params[0][0].shape[0], 1, -1) if x.dim() == 1 else x[:, None, :]
    h, dh, total = x, torch.ones_like(x), 0
    for W, b in params[:-1]:
        u, du = torch.bmm(W, h), torch.bmm(W, dh)
        if init == "he":
            rho = torch.exp(-u ** 2 / (2 * bias_var)) / math.sqrt(2 * math.pi * bias_var)
        else:
            bound = 1 / math.sqrt(W.shape[2])
            rho = (u.abs() < bound).to(DTYPE) / (2 * bound)
        total = total + (du.abs() * rho).sum(1)
        z = u + b[:, :, None]
        h, dh = torch.relu(z), du * (z > 0)
    return total


def member_layers(params, member: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(W[member], b[member]) for W, b in params]


# --------------------------------------------------------------------------- exact counting
class RegionCount:
    """Exact 1-D partition of [lo, hi] by a ReLU network.

    ``activation_regions`` / ``affine_pieces``: all of them; ``long_regions`` /
    ``long_pieces``: those of length >= ``min_length`` (the same when it is 0).
    ``region_breakpoints``: interior points where the activation pattern changes;
    ``pieces``: maximal intervals with one affine output, as (left, right, slopes, intercepts)
    with per-output tuples of Fractions; ``kinks``: the interior piece boundaries.
    The Fraction lists are built on first use (the count itself works in integers).
    """

    def __init__(self, edges: list, cuts: list, int_pieces: list, scale: int, min_length: Fraction):
        self._edges, self._cuts, self._int_pieces, self._scale = edges, cuts, int_pieces, scale
        self.min_length = min_length
        self.activation_regions = len(edges) - 1
        self.affine_pieces = len(int_pieces)
        if min_length > 0:
            self.long_regions = sum(r - l >= min_length for l, r in zip(edges[:-1], edges[1:]))
            self.long_pieces = sum(r - l >= min_length for l, r, _, _ in int_pieces)
        else:
            self.long_regions, self.long_pieces = self.activation_regions, self.affine_pieces
        self._pieces = None

    @property
    def region_breakpoints(self) -> list[Fraction]:
        return sorted(self._cuts)

    @property
    def pieces(self) -> list:
        if self._pieces is None:
            P = self._scale
            self._pieces = [(l, r, tuple(Fraction(a, P) for a in A), tuple(Fraction(b, P) for b in B))
                            for l, r, A, B in self._int_pieces]
        return self._pieces

    @property
    def kinks(self) -> list:
        return [p[0] for p in self._int_pieces[1:]]

    def value(self, x) -> tuple:
        """The exact output at x (a Fraction inside [lo, hi])."""
        x = Fraction(x)
        for l, r, sl, ic in self.pieces:
            if l <= x <= r:
                return tuple(a * x + b for a, b in zip(sl, ic))
        raise ValueError(f"x must lie in [{self._edges[0]}, {self._edges[-1]}], got {x}")


def _frac(v) -> Fraction:
    if isinstance(v, Fraction):
        return v
    if isinstance(v, (int, np.integer)):
        return Fraction(int(v))
    f = float(v)
    if not math.isfinite(f):
        raise ValueError(f"network weights must be finite, got {v!r}")
    return Fraction(f)


def module_layers(model: nn.Module) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """[(W, b), ...] of a plain MLP module, read in forward (registration) order.

    Accepted: ``nn.Sequential`` (nested ones flattened) of Linear (with or without bias),
    ReLU and the identity-like Identity / Flatten / Dropout (the counter sees the network
    in eval mode), alternating Linear - ReLU - ... - Linear.  Anything else (a residual or
    custom module, LeakyReLU, a ReLU in the last place) is refused with a ValueError naming it:
    the counter computes x -> W_L ReLU(... ReLU(W_1 x + b_1) ...) + b_L and nothing else.
    """
    def leaves(m: nn.Module, name: str):
        if isinstance(m, nn.Sequential):
            for child_name, child in m.named_children():
                yield from leaves(child, f"{name}.{child_name}" if name else child_name)
        else:
            yield name or type(m).__name__, m

    if not isinstance(model, nn.Sequential) and not isinstance(model, nn.Linear):
        raise ValueError(f"model must be an nn.Sequential of Linear and ReLU layers; got "
                         f"{type(model).__name__} (its forward cannot be read from its modules)")
    seq, expect_linear = [], True
    for name, m in leaves(model, ""):
        if isinstance(m, (nn.Identity, nn.Flatten, nn.Dropout)):
            continue
        if isinstance(m, nn.Linear):
            if not expect_linear:
                raise ValueError(f"model layer {name} (Linear) follows a Linear without a ReLU between them")
            bias = m.bias.detach() if m.bias is not None else torch.zeros(m.out_features, dtype=m.weight.dtype)
            seq.append((m.weight.detach(), bias))
            expect_linear = False
        elif type(m) is nn.ReLU:
            if expect_linear:
                raise ValueError(f"model layer {name} (ReLU) must follow a Linear layer")
            expect_linear = True
        else:
            raise ValueError(f"model layer {name} ({type(m).__name__}) is not supported: only Linear, ReLU, "
                             "Identity, Flatten and Dropout")
    if not seq or expect_linear:
        raise ValueError("model must end with a Linear layer (a ReLU output is not supported)")
    return seq


def _float_array(v) -> np.ndarray | None:
    """``v`` as a float64 array if it is a floating tensor/array (exactly representable), else None."""
    if isinstance(v, torch.Tensor) and v.is_floating_point():
        return v.detach().cpu().to(torch.float64).numpy()
    if isinstance(v, np.ndarray) and np.issubdtype(v.dtype, np.floating):
        return v.astype(np.float64)
    return None


def _as_layers(net: Any) -> list[tuple[Any, Any]]:
    """[(W, b), ...] with each entry a float64 array or nested lists of Fractions; shapes checked.

    ``net``: an nn.Sequential of Linear/ReLU (see :func:`module_layers`) or [(W, b), ...] of
    tensors / arrays / nested lists of numbers.
    """
    if isinstance(net, nn.Module):
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
        layers.append(([[_frac(w) for w in row] for row in W], [_frac(v) for v in b]))
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


def _integer_layers(layers) -> tuple[list, int]:
    """Integer weights with the same activation pattern: (sparse rows, biases) per layer, and P_L.

    derived: with D_l the common denominator of layer l and P_l = D_1 ... D_l, the integer
    layer W'_l = D_l W_l, b'_l = P_l b_l gives z'_l = P_l z_l (induction, ReLU(c z) = c ReLU(z)
    for c > 0), so every sign, root and pattern is that of the rational network.
    """
    out, P = [], 1
    for W, b in layers:
        if isinstance(W, np.ndarray):
            Wi, bi, k = _dyadic(W, b)
            P_prev, P = P, P << k
            rows = [[(j, w) for j, w in enumerate(row) if w] for row in Wi]
            out.append((rows, [v * P_prev for v in bi]))
            continue
        D = math.lcm(*(v.denominator for row in W for v in row), *(v.denominator for v in b))
        P *= D
        rows = [[(j, int(w * D)) for j, w in enumerate(row) if w] for row in W]
        out.append((rows, [int(v * P) for v in b]))
    return out, P


def count_regions(net: Any, lo=0, hi=1, min_length=0, progress=None) -> RegionCount:
    """Exact activation regions and affine pieces of a scalar-input ReLU MLP on [lo, hi].

    ReLU follows every layer but the last.  Algorithm (project notes Sec. 3.1): carry
    segments with exact affine hidden values A*x + B; split each at the interior roots
    -B_j/A_j of the pre-activations; the sign on a sub-interval fixes the pattern.  The
    arithmetic is in integers (:func:`_integer_layers`), the cuts are Fractions.
    ``min_length`` (>= 0): also count the regions and pieces at least that long
    (``long_regions``, ``long_pieces``), e.g. to see how many are rounding slivers.
    ``progress(layer, layers, segments)``, if given, is called after each hidden layer.
    """
    lo, hi = _frac(lo), _frac(hi)
    if not lo < hi:
        raise ValueError(f"interval must satisfy lo < hi, got [{lo}, {hi}]")
    min_length = _frac(min_length)
    if min_length < 0:
        raise ValueError(f"min_length must be >= 0, got {min_length}")
    layers, P = _integer_layers(_as_layers(net))
    edges, A_all, B_all = [lo, hi], [[1]], [[0]]      # segment k = [edges[k], edges[k+1]], hidden A x + B
    cuts_all = []
    for depth, (rows, bias) in enumerate(layers[:-1], 1):
        new_edges, new_A, new_B = [edges[0]], [], []
        for k, (A, B) in enumerate(zip(A_all, B_all)):
            l, r = edges[k], edges[k + 1]
            ln, ld, rn, rd = l.numerator, l.denominator, r.numerator, r.denominator
            zA = [sum(w * A[j] for j, w in row) for row in rows]
            zB = [sum(w * B[j] for j, w in row) + bj for row, bj in zip(rows, bias)]
            cuts = []
            for a, b in zip(zA, zB):    # root -b/a strictly inside (l, r)
                if a > 0 and ln * a < -b * ld and -b * rd < rn * a:
                    cuts.append(Fraction(-b, a))
                elif a < 0 and -ln * a < b * ld and b * rd < -rn * a:
                    cuts.append(Fraction(b, -a))
            if len(cuts) > 1:           # several neurons may switch at one point
                cuts.sort()
                cuts = [c for i, c in enumerate(cuts) if i == 0 or c != cuts[i - 1]]
            cuts_all += cuts
            for x0 in (l, *cuts):
                n0, d0 = x0.numerator, x0.denominator
                # active on (x0, next): positive at x0, or zero there and increasing
                on = [(s > 0 or (s == 0 and a > 0)) for a, b in zip(zA, zB) for s in (a * n0 + b * d0,)]
                new_A.append([a if o else 0 for a, o in zip(zA, on)])
                new_B.append([b if o else 0 for b, o in zip(zB, on)])
            new_edges += cuts
            new_edges.append(r)
        edges, A_all, B_all = new_edges, new_A, new_B
        if progress is not None:
            progress(depth, len(layers) - 1, len(edges) - 1)
    rows, bias = layers[-1]
    pieces = []
    for k, (A, B) in enumerate(zip(A_all, B_all)):
        zA = tuple(sum(w * A[j] for j, w in row) for row in rows)
        zB = tuple(sum(w * B[j] for j, w in row) + bj for row, bj in zip(rows, bias))
        if pieces and pieces[-1][2] == zA and pieces[-1][3] == zB:
            pieces[-1][1] = edges[k + 1]
        else:
            pieces.append([edges[k], edges[k + 1], zA, zB])
    return RegionCount(edges, cuts_all, [tuple(p) for p in pieces], P, min_length)


# --------------------------------------------------------------------------- network-free oracle
def triangle_breakpoints_scaled(peaks: Sequence) -> tuple[list[int], int]:
    """Nodes 0 = x_0 < ... < x_N = 1 of W_{d-1} as integers over a common denominator.

    derived (notes Sec. 1.2): each piece of W_{i-1} is monotone onto [0,1]; W_i splits it
    at p + a_i (q-p) when increasing, p + (1-a_i)(q-p) when decreasing, and the children
    are [increasing, decreasing] - so pieces alternate, starting increasing.  O(2^d) ints.
    """
    xs, den = [0, 1], 1
    for a in _check_peaks([Fraction(a) if not isinstance(a, float) else Fraction(a) for a in peaks]):
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


# --------------------------------------------------------------------------- small reference nets
def sawtooth_layers(k: int) -> list[tuple[list, list]]:
    """Telgarsky's width-2 net for the k-fold tent m^k: T(y) = 2ReLU(y) - 4ReLU(y - 1/2)."""
    k = _check_depth(k)
    h = Fraction(1, 2)
    layers = [([[1], [1]], [0, -h])]
    layers += [([[2, -4], [2, -4]], [0, -h]) for _ in range(k - 1)]
    return layers + [([[2, -4]], [0])]


# --------------------------------------------------------------------------- fitting
def train_adam(params: Sequence[torch.Tensor], loss_fn, steps: int, lr: float, every: int = 0,
               callback=None, cosine: bool = False) -> list[float]:
    """Adam on ``loss_fn()``; ``callback(step)`` at step 0 and every ``every`` steps.

    ``cosine=True`` anneals the learning rate from ``lr`` to 0 over ``steps`` (cosine schedule).
    """
    try:
        opt = torch.optim.Adam(params, lr=lr, fused=True)     # one kernel for all tensors (torch >= 2.4)
    except RuntimeError:
        opt = torch.optim.Adam(params, lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(steps, 1)) if cosine else None
    losses = []
    for step in range(steps + 1):
        if callback and every and step % every == 0:
            callback(step)
        if step == steps:
            break
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        opt.step()
        if sched is not None:
            sched.step()
        losses.append(float(loss.detach()))
    return losses


def train_triangle_and_dense(x, y, depth: int, *, batch: int, pre: int, raw: int, lr_pre: float = 1e-2,
                             lr_raw: float = 3e-3, generator: torch.Generator | None = None):
    """``batch`` triangle nets and ``batch`` default-initialised dense nets of the same shape, trained alike.

    Phase 1, ``pre`` Adam steps at ``lr_pre``: each triangle net in (a, s) space with the
    scales tied by the law (its output map first set by least squares); each dense net
    (widths 1, 4 x depth, 1; PyTorch default init) in its raw weights.  Phase 2, ``raw`` Adam
    steps at ``lr_raw`` annealed to 0 (cosine): all 2*batch nets as plain networks in one
    batch -- the summed loss separates over members and Adam acts elementwise, so each
    member trains as if alone (up to rounding).  Loss: mean squared error on (x, y).

    Returns (params, pre_mse): the trained MLPs [(W, b), ...] with the triangle nets as
    members 0..batch-1 and the dense nets after them, and the triangle nets' MSE after phase 1.
    """
    x = torch.as_tensor(x, dtype=DTYPE).reshape(-1)
    y = torch.as_tensor(y, dtype=DTYPE).reshape(-1)
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same length, got {x.numel()} and {y.numel()}")
    for name, v in (("pre", pre), ("raw", raw)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ValueError(f"{name} must be an integer >= 0 (Adam steps), got {v!r}")
    mse = lambda f: ((f - y) ** 2).mean(1)
    tri = TriangleNet(depth, batch=batch, law=True, generator=generator)
    tri.fit_output_(x, y)
    train_adam(list(tri.parameters()), lambda: mse(tri(x)).sum(), pre, lr_pre)
    dense = [(W.requires_grad_(), b.requires_grad_())
             for W, b in init_mlp([1] + [4] * depth + [1], batch=batch, generator=generator)]
    train_adam([t for wb in dense for t in wb], lambda: mse(mlp_forward(dense, x)).sum(), pre, lr_pre)
    with torch.no_grad():
        pre_mse = mse(tri(x)).numpy()
        params = [(torch.cat([W, Wd]).requires_grad_(), torch.cat([b, bd]).requires_grad_())
                  for (W, b), (Wd, bd) in zip(tri.to_mlp_params(), dense)]
    train_adam([t for wb in params for t in wb], lambda: mse(mlp_forward(params, x)).sum(), raw, lr_raw, cosine=True)
    return [(W.detach(), b.detach()) for W, b in params], pre_mse


def free_knot_fit(x: np.ndarray, y: np.ndarray, pieces: int, starts: Sequence[np.ndarray] = (),
                  uniform: bool = True, maxiter: int = 200) -> tuple[float, np.ndarray]:
    """Best continuous piecewise-linear least-squares fit with ``pieces`` pieces found (MSE, knots).

    For fixed knots t the fit is linear least squares on [1, x, ReLU(x - t_i)] with residual r
    and coefficients c; by the envelope theorem dMSE/dt_i = (2/n) c_i sum_{x > t_i} r(x)
    (derived), so the knots are optimised by L-BFGS with that gradient (``maxiter`` iterations),
    from uniform knots (if ``uniform``) and from each of ``starts``.  The result is an upper estimate of the optimum, which
    bounds every ``pieces``-piece fit from below.
    """
    from scipy.optimize import minimize

    x, y = np.asarray(x, float), np.asarray(y, float)
    lo, hi = x.min(), x.max()

    def mse(t):
        t = np.sort(t)
        step = (x[:, None] > t[None, :]).astype(float)
        A = np.column_stack([np.ones_like(x), x, (x[:, None] - t[None, :]) * step])
        c = np.linalg.lstsq(A, y, rcond=None)[0]
        r = y - A @ c
        return float(r @ r / len(x)), 2 * c[2:] * (r @ step) / len(x)

    def mse_grad(t):   # gradient in the caller's (unsorted) order
        order = np.argsort(t)
        val, g = mse(t)
        out = np.empty_like(g)
        out[order] = g
        return val, out

    inits = [np.linspace(lo, hi, pieces + 1)[1:-1]] if uniform else []
    inits += [np.sort(np.asarray(s, float)) for s in starts]
    if not inits:
        raise ValueError("free_knot_fit needs uniform=True or at least one start")
    best = (math.inf, inits[0])
    for t0 in inits:
        scale = mse(t0)[0] or 1.0   # L-BFGS-B's ftol is absolute below 1: work with MSE / MSE(t0)
        res = minimize(lambda t: tuple(v / scale for v in mse_grad(t)), t0, jac=True, method="L-BFGS-B",
                       bounds=[(lo, hi)] * len(t0), options={"maxiter": maxiter, "gtol": 1e-12})
        for t in (t0, res.x):
            val = mse(t)[0]
            if val < best[0]:
                best = (val, np.sort(t))
    return best


def triangle_family_fit(x: np.ndarray, y: np.ndarray, depth: int, starts: Sequence[np.ndarray] = ()) -> tuple[float, np.ndarray]:
    """Best least-squares fit by span{1, x, W_0, ..., W_{d-1}} over peaks a in (0,1)^d (MSE, peaks).

    derived: every neuron of the construction is, on [0,1], a linear combination of 1, x and
    the W_i (t2 = s ReLU(W_{k-1} - a_k) = s a_k (W_{k-1} - a_k W_k) on [0,1]), so no linear
    read-out of any layer, and no choice of scales s (free or by the law), fits better than
    this: it is the ceiling of training in (a, s) space.  Peaks are optimised by L-BFGS on
    logit(a) in [-9, 9] (numerical gradient) from 0.5 and each of ``starts``; an upper estimate.
    """
    from scipy.optimize import minimize

    depth = _check_depth(depth)
    x, y = np.asarray(x, float), np.asarray(y, float)

    def mse(z):
        a = 1 / (1 + np.exp(-np.asarray(z)))
        w, cols = x.copy(), [np.ones_like(x), x]
        for ai in a:
            w = np.maximum(w, 0) / ai - np.maximum(w - ai, 0) / (ai * (1 - ai))
            cols.append(w)
        A = np.column_stack(cols)
        r = y - A @ np.linalg.lstsq(A, y, rcond=None)[0]
        return float(r @ r / len(x))

    inits = [np.zeros(depth)] + [np.log(np.asarray(s, float)) - np.log1p(-np.asarray(s, float)) for s in starts]
    best = (math.inf, None)
    for z0 in inits:
        z0 = np.clip(z0, -9, 9)
        scale = mse(z0) or 1.0      # L-BFGS-B's ftol is absolute below 1: work with MSE / MSE(z0)
        res = minimize(lambda z: mse(z) / scale, z0, method="L-BFGS-B", bounds=[(-9, 9)] * depth)
        res.fun *= scale
        if res.fun < best[0]:
            best = (float(res.fun), 1 / (1 + np.exp(-res.x)))
    return best
