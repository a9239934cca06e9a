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
