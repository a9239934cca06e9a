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
:func:`count_regions` therefore works in exact integers and rationals: every float weight
is read exactly as a dyadic rational.  The counter, the exact construction and its
breakpoint generator live in the torch-free :mod:`dltv.numerics.regions_exact` and are
re-exported here; this module adds the torch side (batched nets, training, module reading).
"""
from __future__ import annotations

import math
from fractions import Fraction
from typing import Sequence

import numpy as np
import torch
from torch import nn

from dltv.numerics.regions_exact import (  # noqa: F401  (re-exported: the public API of the area)
    BLOCK, RegionCount, _as_layers, _check_depth, _check_peaks, _check_scales, _dyadic, _float_array, as_fraction,
    _integer_layers, count_regions, exact_triangle_layers, law_scales, sawtooth_layers, triangle_breakpoint_births,
    triangle_breakpoints, triangle_breakpoints_scaled, triangle_layers, triangle_region_count,
)

DTYPE = torch.float64


def _check_sign(name: str, value, allowed) -> int:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
    return int(value)


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
        """offset + sign_in*x + sign*F_d(x), shape (batch, n), by tent composition.

        ``x``: n shared inputs, or a (batch, n) tensor giving each member its own inputs.
        """
        x = torch.as_tensor(x, dtype=DTYPE)
        x = x.reshape(1, -1) if x.dim() < 2 else x      # (batch, n): one input row per member
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
        """Least-squares (out_weight, out_bias) for each member, in place (``y``: n values or (batch, n))."""
        f = self.features(x)
        A = torch.stack([f, torch.ones_like(f)], 2)
        y = torch.as_tensor(y, dtype=DTYPE)
        sol = torch.linalg.lstsq(A, y.reshape(-1, f.shape[1]).expand(f.shape[0], -1)[:, :, None]).solution
        self.out_weight.copy_(sol[:, 0, 0])
        self.out_bias.copy_(sol[:, 1, 0])

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


_LAYER_NAMES = {"leaky_relu": "LeakyReLU", "tanh": "Tanh", "gelu": "GELU"}


def relu_pairs(chain, name: str = "model") -> list[tuple[torch.Tensor, torch.Tensor]]:
    """[(W, b), ...] of a network read by :mod:`dltv.numerics.models` whose every hidden activation is ReLU.

    The exact counter computes x -> W_L ReLU(... ReLU(W_1 x + b_1) ...) + b_L and nothing else, so
    two Linear layers without a ReLU between them, or any other activation, are refused with a
    ValueError naming the layer.
    """
    for layer in chain.layers[:-1]:
        if layer.activation == "identity":
            raise ValueError(f"{name} layer {layer.name} (Linear) is followed by a Linear without a ReLU between them; "
                             "the exact counter reads ReLU networks")
        if layer.activation != "relu":
            raise ValueError(f"{name}: the activation after layer {layer.name} "
                             f"({_LAYER_NAMES.get(layer.activation, layer.activation)}) is not supported; the exact "
                             "counter reads ReLU networks (dltv inspect reads the other piecewise-linear ones)")
    return chain.pairs()


def module_layers(model: nn.Module) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """[(W, b), ...] of a ReLU network module, read in forward order by dltv's one model loader
    (:func:`dltv.numerics.models.read_module`: Linear, ReLU and the identity-like Identity / Flatten /
    Dropout) and checked by :func:`relu_pairs`.  Weights come back as float64 (exact for float32)."""
    from dltv.numerics.models import read_module

    return relu_pairs(read_module(model), type(model).__name__)


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
    steps at ``lr_raw`` annealed to 0 (cosine): all nets as plain networks in one
    batch -- the summed loss separates over members and Adam acts elementwise, so each
    member trains as if alone (up to rounding).  Loss: mean squared error on (x, y).

    ``y`` holds n values, or one row of n values per target (T, n): then ``batch`` nets of each
    kind train on every target at once, target-major.

    Returns (params, pre_mse): the trained MLPs [(W, b), ...] with the T * batch triangle nets as
    members 0..T*batch-1 and the dense nets after them, and the triangle nets' MSE after phase 1.
    """
    x = torch.as_tensor(x, dtype=DTYPE).reshape(-1)
    y = torch.as_tensor(y, dtype=DTYPE)
    y = y.reshape(1, -1) if y.dim() < 2 else y
    if y.shape[1] != x.numel():
        raise ValueError(f"x and y must have the same length, got {x.numel()} and {y.shape[1]}")
    for name, v in (("pre", pre), ("raw", raw)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ValueError(f"{name} must be an integer >= 0 (Adam steps), got {v!r}")
    y = y.repeat_interleave(batch, 0)                       # one target row per member
    members = y.shape[0]
    mse = lambda f, t=y: ((f - t) ** 2).mean(1)
    tri = TriangleNet(depth, batch=members, law=True, generator=generator)
    tri.fit_output_(x, y)
    train_adam(list(tri.parameters()), lambda: mse(tri(x)).sum(), pre, lr_pre)
    dense = [(W.requires_grad_(), b.requires_grad_())
             for W, b in init_mlp([1] + [4] * depth + [1], batch=members, generator=generator)]
    train_adam([t for wb in dense for t in wb], lambda: mse(mlp_forward(dense, x)).sum(), pre, lr_pre)
    with torch.no_grad():
        pre_mse = mse(tri(x)).numpy()
        params = [(torch.cat([W, Wd]).requires_grad_(), torch.cat([b, bd]).requires_grad_())
                  for (W, b), (Wd, bd) in zip(tri.to_mlp_params(), dense)]
    both = torch.cat([y, y])
    train_adam([t for wb in params for t in wb], lambda: mse(mlp_forward(params, x), both).sum(), raw, lr_raw,
               cosine=True)
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


# --------------------------------------------------------------------------- triangle nets as activations
def block_diagonal(blocks: Sequence[Sequence[tuple[torch.Tensor, torch.Tensor]]], inputs: Sequence[int],
                   n_inputs: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Scalar-output networks of equal depth side by side as one network summing their outputs.

    Block j reads input column ``inputs[j]`` of ``n_inputs``; every hidden matrix is the block
    diagonal of the blocks' matrices; the output row concatenates theirs and the biases add up.
    """
    if len(blocks) != len(inputs) or not blocks or len({len(b) for b in blocks}) != 1:
        raise ValueError("blocks must be a non-empty list of networks of equal depth, one input index each")
    first = []
    for blk, col in zip(blocks, inputs):
        if not 0 <= col < n_inputs:
            raise ValueError(f"inputs must lie in 0..{n_inputs - 1}, got {col!r}")
        W = blk[0][0]
        first.append(torch.zeros(W.shape[0], n_inputs, dtype=W.dtype).index_copy(1, torch.tensor([col]), W))
    layers = [(torch.cat(first), torch.cat([blk[0][1] for blk in blocks]))]
    for l in range(1, len(blocks[0]) - 1):
        layers.append((torch.block_diag(*(blk[l][0] for blk in blocks)), torch.cat([blk[l][1] for blk in blocks])))
    layers.append((torch.cat([blk[-1][0] for blk in blocks], 1), sum(blk[-1][1] for blk in blocks)))
    return layers


def compose(inner: Sequence[tuple[torch.Tensor, torch.Tensor]], outer: Sequence[tuple[torch.Tensor, torch.Tensor]]
            ) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The network x -> outer(inner(x)): inner's output layer and outer's first layer merge into one affine map."""
    (V, c), (W, b) = inner[-1], outer[0]
    return [*inner[:-1], (W @ V, W @ c + b), *outer[1:]]


class TriangleSum(nn.Module):
    """``batch`` sums  f(x) = sum_j T_j(x[inputs[j]])  of convex triangle nets T_j of one depth.

    Each T_j is a :class:`TriangleNet` (law-tied scales, output ``w_j (K + t - F_d(t)) + b_j``), so f is
    a sum of learned 1-d convex-or-concave activations; as a ReLU network its hidden matrices are block
    diagonal with 4x4 blocks (:meth:`layers`).  Two blocks on one input give a difference of convex
    nets; one block per coordinate gives the inner sum of a Kolmogorov-Arnold-like net.
    """

    def __init__(self, depth: int, inputs: Sequence[int], *, batch: int = 1, generator: torch.Generator | None = None):
        super().__init__()
        self.inputs, self.batch = [int(i) for i in inputs], batch
        if not self.inputs or min(self.inputs) < 0:
            raise ValueError(f"inputs must be a non-empty list of column indices >= 0, got {inputs!r}")
        self.n_inputs = max(self.inputs) + 1
        self.nets = TriangleNet(depth, batch=len(self.inputs) * batch, law=True, generator=generator)

    def _blocks(self, X: torch.Tensor) -> torch.Tensor:
        X = torch.as_tensor(X, dtype=DTYPE).reshape(-1, self.n_inputs) if torch.as_tensor(X).dim() < 2 else X
        return X[:, self.inputs].T.repeat_interleave(self.batch, 0)          # (k * batch, n), block-major

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        """f at the rows of X (n, n_inputs) (or n scalars), shape (batch, n)."""
        f = self.nets(self._blocks(X))
        return f.reshape(len(self.inputs), self.batch, -1).sum(0)

    @torch.no_grad()
    def fit_output_(self, X: torch.Tensor, y: torch.Tensor) -> None:
        """Least-squares output weights of all blocks jointly (one shared bias), in place."""
        k = len(self.inputs)
        f = self.nets.features(self._blocks(X)).reshape(k, self.batch, -1).permute(1, 2, 0)
        A = torch.cat([f, torch.ones_like(f[:, :, :1])], 2)
        y = torch.as_tensor(y, dtype=DTYPE).reshape(-1, f.shape[1]).expand(self.batch, -1)
        sol = torch.linalg.lstsq(A, y[:, :, None]).solution[:, :, 0]
        self.nets.out_weight.copy_(sol[:, :k].T.reshape(-1))
        self.nets.out_bias.copy_((sol[:, k:] / k).expand(-1, k).T.reshape(-1))

    @torch.no_grad()
    def set_range_(self, lo: float, hi: float) -> None:
        """Output maps with T_j(0) = lo / k and T_j(1) = hi / k (a convex map of [0,1] onto [lo, hi] / k)."""
        k, K = len(self.inputs), self.nets.offset(self.nets.scales())
        self.nets.out_weight.fill_((hi - lo) / k)            # features: K at t = 0, K + 1 at t = 1 (W_i(0) = W_i(1) = 0)
        self.nets.out_bias.copy_(lo / k - (hi - lo) / k * K)

    def layers(self, member: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
        return block_diagonal([self.nets.layers(j * self.batch + member) for j in range(len(self.inputs))],
                              self.inputs, self.n_inputs)


class TriangleKAN(nn.Module):
    """``batch`` nets z(x_1..x_k) = psi(sum_j phi_j(x_j)), psi and every phi_j a convex triangle net.

    A Kolmogorov-Arnold-like composition of learned 1-d activations (the paper's "triangle nets as
    activations" with sparse block-diagonal 4x4 hidden matrices, Milkert et al. Sec. 5).  The inner
    sum starts as a convex map of [0,1]^k onto [0,1] (phi_j(0) = 0, phi_j(1) = 1/k); psi's output map
    starts at the least-squares fit.  :meth:`layers` is the same function as one ReLU network: the
    inner blocks' output row and psi's first layer merge into a dense 4 x 4k map.
    """

    def __init__(self, depth_inner: int, depth_outer: int, n_inputs: int = 2, *, batch: int = 1,
                 generator: torch.Generator | None = None):
        super().__init__()
        self.batch = batch
        self.inner = TriangleSum(depth_inner, range(n_inputs), batch=batch, generator=generator)
        self.outer = TriangleNet(depth_outer, batch=batch, law=True, generator=generator)
        self.inner.set_range_(0.0, 1.0)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.outer(self.inner(X))

    @torch.no_grad()
    def fit_output_(self, X: torch.Tensor, y: torch.Tensor) -> None:
        self.outer.fit_output_(self.inner(X), y)

    def layers(self, member: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
        return compose(self.inner.layers(member), self.outer.layers(member))


def exact_triangle_kan(peaks_x: Sequence[Fraction], peaks_y: Sequence[Fraction], peaks_out: Sequence[Fraction],
                       s0: Fraction = Fraction(1, 4)) -> list[tuple]:
    """The 2-d triangle KAN psi(phi_x(x) + phi_y(y)) built in exact rationals from the construction
    (law-tied scales; inner blocks of depth len(peaks_x) - 1, outer of depth len(peaks_out) - 1), as the
    layer list of :func:`dltv.numerics.planar.planar_partition` (block-diagonal inner layers)."""
    def member(peaks, out_weight=1, out_bias=0):
        d = len(peaks) - 1
        scales = law_scales(peaks, s0, d)
        return exact_triangle_layers(peaks[:d], scales, sign=-1, sign_in=1, offset=sum(scales),
                                     out_weight=out_weight, out_bias=out_bias)
    half = Fraction(1, 2)
    blocks = [member(p, half, -half * sum(law_scales(p, s0, len(p) - 1))) for p in (peaks_x, peaks_y)]
    zero = lambda n: [Fraction(0)] * n
    layers = [([row + zero(1) for row in blocks[0][0][0]] + [zero(1) + row for row in blocks[1][0][0]],
               blocks[0][0][1] + blocks[1][0][1])]
    for (Wx, bx), (Wy, by) in zip(blocks[0][1:-1], blocks[1][1:-1]):
        layers.append(([r + zero(4) for r in Wx] + [zero(4) + r for r in Wy], bx + by))
    (ox,), bx = blocks[0][-1]
    (oy,), by = blocks[1][-1]
    outer = member(peaks_out)
    (W2, b2) = outer[0]
    layers.append(([[w[0] * v for v in ox + oy] for w in W2], [w[0] * (bx[0] + by[0]) + c for w, c in zip(W2, b2)]))
    layers += outer[1:]
    return [(W, b, "relu" if i < len(layers) - 1 else "identity", 0) for i, (W, b) in enumerate(layers)]


@torch.no_grad()
def stacked_layers(model: nn.Module, batch: int) -> tuple[list[tuple[torch.Tensor, torch.Tensor]], list[torch.Tensor]]:
    """All members' ReLU-network weights [(W (batch,out,in), b (batch,out))] and the sparsity masks."""
    per = [model.layers(m) for m in range(batch)]
    params = [(torch.stack([p[l][0] for p in per]), torch.stack([p[l][1] for p in per])) for l in range(len(per[0]))]
    return params, block_masks(model)


def block_masks(model: nn.Module) -> list[torch.Tensor]:
    """The trainable pattern of ``model.layers()``: True inside the 4x4 blocks (and on merged dense maps).

    Built from the same block layout with all-ones blocks, so a weight that happens to be 0 inside a
    block (the construction has several) still trains.
    """
    def ones(net):
        return [(torch.ones_like(W), torch.ones_like(b)) for W, b in net.layers(0)]

    if isinstance(model, TriangleKAN):
        inner = block_diagonal([ones(model.inner.nets)] * len(model.inner.inputs), model.inner.inputs,
                               model.inner.n_inputs)
        layers = compose(inner, ones(model.outer))
    elif isinstance(model, TriangleSum):
        layers = block_diagonal([ones(model.nets)] * len(model.inputs), model.inputs, model.n_inputs)
    else:
        layers = ones(model)
    return [W != 0 for W, _ in layers]


def count_parameters(masks: Sequence[torch.Tensor]) -> int:
    """Trainable parameters of a masked ReLU network: the unmasked weights plus every bias."""
    return int(sum(int(m.sum()) + m.shape[0] for m in masks))


def dense_parameters(widths: Sequence[int]) -> int:
    """Parameters of a dense network with widths d_0..d_{L+1}: sum_l d_{l+1} (d_l + 1)."""
    return int(sum(o * (i + 1) for i, o in zip(widths[:-1], widths[1:])))


def mlp_forward_points(params, X: torch.Tensor, masks: Sequence[torch.Tensor] | None = None) -> torch.Tensor:
    """Batched ReLU MLP at the rows of X (n, d_0) (or n scalars): first output, shape (batch, n).

    ``masks[l]`` (out, in) zeroes the weights outside a sparsity pattern (their gradients vanish too).
    """
    X = torch.as_tensor(X, dtype=DTYPE)
    X = X.reshape(-1, 1) if X.dim() < 2 else X
    h = X.T[None].expand(params[0][0].shape[0], -1, -1)
    for i, (W, b) in enumerate(params):
        h = torch.baddbmm(b[:, :, None], W if masks is None else W * masks[i], h)
        if i < len(params) - 1:
            h = torch.relu(h)
    return h[:, 0, :]


def train_blocks_and_dense(X, y, model: nn.Module, dense_widths: Sequence[int], *, pre: int, raw: int,
                           lr_pre: float = 1e-2, lr_raw: float = 3e-3, generator: torch.Generator | None = None):
    """A triangle-block model (TriangleSum / TriangleKAN of ``batch`` members) and as many dense nets, trained alike.

    The protocol of :func:`train_triangle_and_dense`: ``pre`` Adam steps (lr_pre) of the model in
    (peaks, s_0, output maps) space from its least-squares output map, and of default-initialised
    dense nets (widths ``dense_widths``) in their weights; then ``raw`` Adam steps (lr_raw, cosine to 0)
    of both as plain ReLU networks, the model keeping its block-diagonal sparsity (masked weights).
    Loss: mean squared error on (X, y) per member.  Returns (model_params, masks, dense_params, pre_mse).
    """
    X = torch.as_tensor(X, dtype=DTYPE)
    y = torch.as_tensor(y, dtype=DTYPE).reshape(-1)
    if X.shape[0] != y.numel():
        raise ValueError(f"X and y must have the same number of points, got {X.shape[0]} and {y.numel()}")
    for name, v in (("pre", pre), ("raw", raw)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ValueError(f"{name} must be an integer >= 0 (Adam steps), got {v!r}")
    batch = model.batch
    mse = lambda f: ((f - y) ** 2).mean(1)
    model.fit_output_(X, y)
    train_adam(list(model.parameters()), lambda: mse(model(X)).sum(), pre, lr_pre)
    dense = [(W.requires_grad_(), b.requires_grad_())
             for W, b in init_mlp(dense_widths, batch=batch, generator=generator)]
    train_adam([t for wb in dense for t in wb], lambda: mse(mlp_forward_points(dense, X)).sum(), pre, lr_pre)
    with torch.no_grad():
        pre_mse = mse(model(X)).numpy()
    params, masks = stacked_layers(model, batch)
    params = [(W.clone().requires_grad_(), b.clone().requires_grad_()) for W, b in params]
    loss = lambda: mse(mlp_forward_points(params, X, masks)).sum() + mse(mlp_forward_points(dense, X)).sum()
    train_adam([t for wb in params + dense for t in wb], loss, raw, lr_raw, cosine=True)
    # weights outside the blocks start at 0 and get zero gradients through the mask: they stay 0
    return [(W.detach(), b.detach()) for W, b in params], masks, [(W.detach(), b.detach()) for W, b in dense], pre_mse
