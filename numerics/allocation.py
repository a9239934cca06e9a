"""Subset learning with real students: masked learnable weights, generic Jacobian
ranks, and solving the teacher-matching problem (torch float64).

Architectures (allocations are sets of ``(matrix, i, j)``, 0-based):
linear network ``y = W_L ... W_1 x`` (matrices ``"W1".."WL"``), linear RNN
``r_t = W r_{t-1} + B x_t, r_0 = 0, y = D r_T`` (the model reading used for
arXiv 2502.06300; the paper's exact variant is unknown) and shallow ReLU
``y = U relu(W x)``.  Inputs are column-stacked: ``X`` is ``(..., d_in, m)`` for
the feed-forward models and ``(..., T, d_in, m)`` for the RNN; outputs are
``(..., d_out, m)``.  Every forward accepts leading batch dimensions, so many
teacher/student pairs are solved at once.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch

DTYPE = torch.float64


def _pos_int(name, value, low=1):
    if isinstance(value, bool) or int(value) != value or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


# --------------------------------------------------------------------------- architectures
def lffn_shapes(widths) -> dict[str, tuple[int, int]]:
    """``W_l`` is ``d_l x d_{l-1}`` for widths ``d_0..d_L``."""
    ws = [_pos_int("widths", w) for w in widths]
    if len(ws) < 2:
        raise ValueError(f"widths must list at least d_in and d_out, got {widths!r}")
    return {f"W{l}": (ws[l], ws[l - 1]) for l in range(1, len(ws))}


def rnn_shapes(N, d_in, d_out) -> dict[str, tuple[int, int]]:
    N, d_in, d_out = _pos_int("N", N), _pos_int("d_in", d_in), _pos_int("d_out", d_out)
    return {"B": (N, d_in), "W": (N, N), "D": (d_out, N)}


def relu_shapes(d_in, N, d_out=1) -> dict[str, tuple[int, int]]:
    d_in, N, d_out = _pos_int("d_in", d_in), _pos_int("N", N), _pos_int("d_out", d_out)
    return {"W": (N, d_in), "U": (d_out, N)}


def lffn_forward(mats: dict, X: torch.Tensor) -> torch.Tensor:
    out = X
    for l in range(1, len(mats) + 1):
        out = mats[f"W{l}"] @ out
    return out


def rnn_forward(mats: dict, X: torch.Tensor) -> torch.Tensor:
    W, B, D = mats["W"], mats["B"], mats["D"]
    r = None
    for t in range(X.shape[-3]):
        drive = B @ X[..., t, :, :]
        r = drive if r is None else W @ r + drive
    return D @ r


def rnn_forward_every(mats: dict, X: torch.Tensor) -> torch.Tensor:
    """Linear RNN read at every step, ``y_t = D r_t`` for t = 1..T, stacked as
    ``(..., T d_out, m)`` (rows ``t d_out .. (t+1) d_out - 1`` hold step t+1)."""
    W, B, D = mats["W"], mats["B"], mats["D"]
    r, out = None, []
    for t in range(X.shape[-3]):
        drive = B @ X[..., t, :, :]
        r = drive if r is None else W @ r + drive
        out.append(D @ r)
    return torch.cat(out, dim=-2)


def relu_forward(mats: dict, X: torch.Tensor) -> torch.Tensor:
    return mats["U"] @ torch.relu(mats["W"] @ X)


def entries(shapes: dict, names=None) -> list[tuple]:
    names = list(shapes) if names is None else list(names)
    for n in names:
        if n not in shapes:
            raise ValueError(f"matrix must be one of {', '.join(shapes)}, got {n!r}")
    return [(n, i, j) for n in names for i in range(shapes[n][0]) for j in range(shapes[n][1])]


def sample_weights(shapes: dict, generator: torch.Generator, batch: tuple = ()) -> dict:
    """i.i.d. ``N(0, 1/fan_in)`` weights (the law's scale does not change MP)."""
    return {n: torch.randn(*batch, r, c, generator=generator, dtype=DTYPE) / math.sqrt(c)
            for n, (r, c) in shapes.items()}


def sample_inputs(shape: tuple, generator: torch.Generator) -> torch.Tensor:
    return torch.randn(*shape, generator=generator, dtype=DTYPE)


# --------------------------------------------------------------------------- students
def scatter(fixed: dict, alloc: list, theta: torch.Tensor) -> dict:
    """The student's matrices: ``fixed`` with ``theta[..., k]`` placed at ``alloc[k]``.

    Written as ``fixed * (1 - mask) + theta . onehot`` (differentiable, batch friendly).
    """
    mats = dict(fixed)
    for name in {a[0] for a in alloc}:
        cols = [k for k, a in enumerate(alloc) if a[0] == name]
        r, c = fixed[name].shape[-2:]
        onehot = torch.zeros(len(cols), r, c, dtype=theta.dtype)
        onehot[torch.arange(len(cols)), [alloc[k][1] for k in cols], [alloc[k][2] for k in cols]] = 1
        keep = 1 - onehot.sum(0)
        placed = torch.tensordot(theta[..., cols], onehot, dims=([-1], [0]))
        mats[name] = fixed[name] * keep + placed
    return mats


def gather(mats: dict, alloc: list) -> torch.Tensor:
    """The values of ``mats`` at the allocation's entries, shape ``(..., M)``."""
    return torch.stack([mats[n][..., i, j] for n, i, j in alloc], dim=-1)


def jacobian(forward: Callable, mats: dict, X: torch.Tensor, alloc: list) -> torch.Tensor:
    """Autograd Jacobian ``d vec f(X) / d theta`` at the current values, ``(m d_out) x M``."""
    theta0 = gather(mats, alloc)
    fn = lambda th: forward(scatter(mats, alloc, th), X).reshape(-1)
    return torch.autograd.functional.jacobian(fn, theta0, vectorize=True)


def rank_and_gap(J: torch.Tensor, min_gap: float = 1e4) -> tuple[torch.Tensor, torch.Tensor]:
    """Numerical rank and singular-value gap ``s_r / s_{r+1}`` of (a batch of) matrices.

    Columns are scaled to unit norm first (the rank is unchanged; entries of very
    different sizes, such as the powers ``W^k`` of a recurrent matrix, no longer hide
    small directions), then singular values are taken relative to the largest.
    Values ``<= 10 eps max(rows, cols)`` are numerical zeros; the rank counts the
    others.  The decision is accepted only when the smallest non-zero value is at
    least ``min_gap`` times the largest zero: a spectrum that decays through the
    noise level raises ``ValueError`` instead of returning a wrong rank.  Full
    column (or row) rank has gap ``inf``.
    """
    if J.ndim < 2:
        raise ValueError(f"J must be a matrix or a batch of matrices, got shape {tuple(J.shape)}")
    if not min_gap > 1:
        raise ValueError(f"min_gap must be > 1, got {min_gap!r}")
    norms = torch.linalg.norm(J, dim=-2, keepdim=True)
    s = torch.linalg.svdvals(J / torch.where(norms > 0, norms, torch.ones_like(norms)))
    s = s / s[..., :1].clamp_min(torch.finfo(J.dtype).tiny)
    noise = 10 * torch.finfo(J.dtype).eps * max(J.shape[-2:])
    rank = (s > noise).sum(-1)
    padded = torch.cat([s, torch.zeros_like(s[..., :1])], dim=-1)
    above = padded.gather(-1, (rank - 1).clamp_min(0)[..., None])[..., 0]
    below = padded.gather(-1, rank[..., None])[..., 0]
    gap = torch.where(below > 0, above / below.clamp_min(torch.finfo(J.dtype).tiny),
                      torch.full_like(above, math.inf))
    bad = (gap < min_gap) & (rank > 0)
    if bad.any():
        worst = float(gap[bad].min())
        raise ValueError(f"numerical rank undecidable in float64: singular-value gap s_r/s_(r+1) = "
                         f"{worst:.3g} < min_gap = {min_gap:g} (rank {int(rank[bad].flatten()[0])} "
                         "or lower); use exact arithmetic or a better-conditioned setting")
    return rank, gap


def numeric_rank(J: torch.Tensor, min_gap: float = 1e4) -> torch.Tensor:
    """Numerical rank of (a batch of) matrices, refused when the gap is too small
    (see :func:`rank_and_gap`)."""
    return rank_and_gap(J, min_gap)[0]


def generic_rank_and_gap(forward, shapes, X, alloc, generator, points: int = 3,
                         min_gap: float = 1e4) -> tuple[int, float]:
    """Generic rank of the output Jacobian and its singular-value gap.

    The rank at a point is at most the generic rank and equals it almost surely; the
    maximum over ``points`` random points guards against an unlucky one.  Every
    point's rank must be decidable (:func:`rank_and_gap`).  Returns (rank, the gap
    ``s_r/s_{r+1}`` at a point of maximal rank).
    """
    points = _pos_int("points", points)
    found = []
    for _ in range(points):
        mats = sample_weights(shapes, generator)
        rank, gap = rank_and_gap(jacobian(forward, mats, X, alloc), min_gap)
        found.append((int(rank), float(gap)))
    return max(found)


def generic_rank(forward, shapes, X, alloc, generator, points: int = 3, min_gap: float = 1e4) -> int:
    """Generic rank of the output Jacobian (see :func:`generic_rank_and_gap`)."""
    return generic_rank_and_gap(forward, shapes, X, alloc, generator, points, min_gap)[0]


def subset_ranks(J_full: torch.Tensor, column_sets, min_gap: float = 1e4) -> np.ndarray:
    """Ranks of many column subsets of one full Jacobian (all of the same size)."""
    idx = torch.as_tensor(np.asarray(column_sets), dtype=torch.long)
    return numeric_rank(J_full[:, idx].permute(1, 0, 2), min_gap).numpy()


# --------------------------------------------------------------------------- solving the match
def relative_residual(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    dims = (-2, -1)
    return torch.linalg.norm(out - target, dim=dims) / torch.linalg.norm(target, dim=dims)


def solve_affine(forward, fixed: dict, X, alloc: list, target) -> tuple[torch.Tensor, float]:
    """Least squares for a student affine in its learnable entries: ``F(theta) =
    F(theta0) + J (theta - theta0)`` exactly.  Returns (theta, relative residual)."""
    theta0 = gather(fixed, alloc)
    J = jacobian(forward, fixed, X, alloc)
    rhs = (target - forward(fixed, X)).reshape(-1, 1)
    delta = torch.linalg.lstsq(J, rhs, driver="gelsd").solution[:, 0]
    theta = theta0 + delta
    res = relative_residual(forward(scatter(fixed, alloc, theta), X), target)
    return theta, float(res)


def solve_lm(forward, fixed: dict, X, alloc: list, target, starts: int,
             generator: torch.Generator, iters: int = 150) -> torch.Tensor:
    """Multi-start Levenberg-Marquardt for a batch of instances; returns the best
    relative residual per instance (a solver's lower bound on matchability).

    ``fixed``/``X``/``target`` carry a leading batch axis ``B``; every instance is
    solved from ``starts`` random initial points at once (batch ``B*starts``).
    """
    B = target.shape[0]
    fx, Xr, tr = _repeat(fixed, X, target, starts)
    theta = torch.randn(B * starts, len(alloc), generator=generator, dtype=DTYPE)
    _, cost = _lm(_residual_fn(forward, fx, alloc, Xr, tr), theta, iters)
    return _best_relative(cost, tr, B, starts)


def allocation_masks(shapes: dict, allocs: list) -> dict:
    """Boolean masks ``(B, rows, cols)`` per matrix, True at each instance's learnable entries."""
    masks = {n: torch.zeros(len(allocs), r, c, dtype=torch.bool) for n, (r, c) in shapes.items()}
    for b, alloc in enumerate(allocs):
        for n, i, j in alloc:
            masks[n][b, i, j] = True
    return masks


def solve_lm_masked(forward, fixed: dict, X, masks: dict, target, starts: int,
                    generator: torch.Generator, iters: int = 60) -> torch.Tensor:
    """Multi-start Levenberg-Marquardt where every instance has its own allocation.

    ``masks[name]`` is True at the learnable entries of instance b (leading axis B).
    All entries are carried as unknowns; the fixed ones have zero Jacobian columns,
    so Marquardt's damped step leaves them at their values.  Returns the best
    relative residual per instance (a lower bound on matchability).
    """
    B = target.shape[0]
    fx, Xr, tr = _repeat(fixed, X, target, starts)
    mk = {n: m.repeat_interleave(starts, dim=0).to(DTYPE) for n, m in masks.items()}
    names = list(fixed)
    sizes = [fixed[n][0].numel() for n in names]
    shapes = [fixed[n].shape[-2:] for n in names]

    def resid(theta):
        parts = torch.split(theta, sizes, dim=-1)
        mats = {n: fx[n] * (1 - mk[n]) + p.reshape(-1, *sh) * mk[n]
                for n, p, sh in zip(names, parts, shapes)}
        return (forward(mats, Xr) - tr).reshape(tr.shape[0], -1)

    theta = torch.randn(B * starts, sum(sizes), generator=generator, dtype=DTYPE)
    _, cost = _lm(resid, theta, iters)
    return _best_relative(cost, tr, B, starts)


def train_masked(forward, fixed: dict, X, masks: dict, target, steps: int = 2500,
                 lr: float = 0.005, momentum: float = 0.9) -> torch.Tensor:
    """Train every instance's learnable entries by full-batch gradient descent with heavy-ball
    momentum (``torch.optim.SGD``) from the student's own values; returns the final
    relative residual per instance.

    The loss is ``sum_b |f_b(X_b) - y*_b|^2``: each instance's parameters enter only its
    own term and SGD's update is elementwise with one learning rate, so the batch is
    exactly ``B`` independent training runs carried as one tensor problem.
    ``masks[name]`` is True at the learnable entries of instance b (leading axis B); the
    fixed entries get zero gradient and never move.  A plain training run, not a solver:
    a small residual shows that training reached a match within ``steps``; a large one
    that it did not (the loss of an unmatched instance stalls at its least-squares floor).
    """
    steps = _pos_int("steps", steps)
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr!r}")
    if not 0 <= momentum < 1:
        raise ValueError(f"momentum must lie in [0, 1), got {momentum!r}")
    mk = {n: m.to(DTYPE) for n, m in masks.items()}
    free = {n: fixed[n].detach().clone().requires_grad_(True) for n in mk}
    opt = torch.optim.SGD(list(free.values()), lr=lr, momentum=momentum)

    def student():
        return {**fixed, **{n: fixed[n] * (1 - mk[n]) + free[n] * mk[n] for n in mk}}

    for _ in range(steps):
        opt.zero_grad()
        loss = ((forward(student(), X) - target) ** 2).sum()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return relative_residual(forward(student(), X), target)


def relu_softplus_forward(beta: float) -> Callable:
    """``y = U softplus_beta(W x)``, the smooth stand-in for ``relu`` (-> relu as beta grows)."""
    return lambda mats, X: mats["U"] @ torch.nn.functional.softplus(mats["W"] @ X, beta=beta)


def solve_relu_lm(fixed: dict, X, alloc: list, target, starts: int, generator: torch.Generator,
                  betas=(4.0, 16.0, 64.0), iters: int = 40, final_iters: int = 60,
                  scales=(0.3, 1.0, 3.0, 10.0, 30.0, 100.0)) -> torch.Tensor:
    """Multi-start Levenberg-Marquardt for the shallow ReLU student, with a softplus
    homotopy; returns the best relative residual per instance (a lower bound on
    matchability: a miss is not a proof that no match exists).

    Plain LM stalls where a learnable neuron is inactive on a sample (zero gradient).
    Each start is first solved for ``softplus_beta`` with increasing ``beta``
    (``iters`` steps each), then polished on the exact ReLU network (``final_iters``).
    Start ``s`` draws ``theta ~ N(0, scales[s mod len(scales)]^2)``: matches that need
    large weights (a small fixed readout weight) are reached from the large scales.
    """
    B = target.shape[0]
    fx, Xr, tr = _repeat(fixed, X, target, starts)
    scale = torch.tensor(scales, dtype=DTYPE).repeat(starts // len(scales) + 1)[:starts]
    theta = torch.randn(B * starts, len(alloc), generator=generator, dtype=DTYPE)
    theta = theta * scale.repeat(B)[:, None]
    for beta in betas:
        theta, _ = _lm(_residual_fn(relu_softplus_forward(beta), fx, alloc, Xr, tr), theta, iters)
    _, cost = _lm(_residual_fn(relu_forward, fx, alloc, Xr, tr), theta, final_iters)
    return _best_relative(cost, tr, B, starts)


def _repeat(fixed, X, target, starts):
    rep = lambda t: t.repeat_interleave(starts, dim=0)
    return {n: rep(v) for n, v in fixed.items()}, rep(X), rep(target)


def _residual_fn(forward, fx, alloc, Xr, tr):
    n = tr.shape[0]
    return lambda th: (forward(scatter(fx, alloc, th), Xr) - tr).reshape(n, -1)


def _best_relative(cost, tr, B, starts):
    rel = cost.sqrt() / torch.linalg.norm(tr.reshape(B * starts, -1), dim=-1)
    return rel.reshape(B, starts).min(dim=1).values.detach()


def _lm(resid, theta, iters):
    """Batched Levenberg-Marquardt (Marquardt's diagonal scaling); returns (theta, cost)."""
    n, M = theta.shape
    lam = torch.full((n,), 1e-2, dtype=DTYPE)
    r = resid(theta)
    cost = (r * r).sum(-1)
    eye = torch.eye(M, dtype=DTYPE)
    for _ in range(iters):
        J = _batched_jacobian(resid, theta)                              # (n, R, M)
        JtJ = J.transpose(1, 2) @ J
        g = (J.transpose(1, 2) @ r[..., None])[..., 0]
        A = JtJ + lam[:, None, None] * (torch.diag_embed(JtJ.diagonal(dim1=1, dim2=2)) + eye)
        step = torch.linalg.solve(A, -g[..., None])[..., 0]
        new = theta + step
        r_new = resid(new)
        c_new = (r_new * r_new).sum(-1)
        better = c_new < cost
        theta = torch.where(better[:, None], new, theta)
        r = torch.where(better[:, None], r_new, r)
        cost = torch.where(better, c_new, cost)
        lam = torch.where(better, lam * 0.3, lam * 10).clamp(1e-12, 1e12)
    return theta.detach(), cost.detach()


def _batched_jacobian(resid, theta):
    """Per-row Jacobians ``(B, R, M)`` of a row-separable map: one backward pass per
    output coordinate (R is small), each giving row r of every instance at once."""
    th = theta.detach().requires_grad_(True)
    out = resid(th)
    rows = [torch.autograd.grad(out[:, i].sum(), th, retain_graph=i + 1 < out.shape[1])[0]
            for i in range(out.shape[1])]
    return torch.stack(rows, dim=1)


def relu_rows_for_preactivations(fixed: dict, X: torch.Tensor, alloc: list,
                                 Z: torch.Tensor) -> torch.Tensor:
    """Learnable first-layer weights giving the rows' pre-activations ``Z`` exactly.

    ``alloc`` lies in ``W``; its rows, in order of first appearance, are the rows of
    ``Z`` (shape ``(..., k, m)``).  Row i needs ``theta_i^T X_{S_i} = Z_i - z_i^fix``
    with ``X_{S_i}`` the rows of X at the learnable columns; the minimum-norm solution
    ``theta_i = X_S (X_S^T X_S)^{-1} (Z_i - z_i^fix) = Q R^{-T} (Z_i - z_i^fix)``
    (``X_S = QR``: no squared condition number) is exact when ``|S_i| >= m`` (``X_S`` has
    rank m for generic inputs).  Returns ``theta`` in ``alloc`` order.
    """
    if any(a[0] != "W" for a in alloc):
        raise ValueError("alloc must lie in the first layer W for this construction")
    rows = list(dict.fromkeys(a[1] for a in alloc))
    if Z.shape[-2] != len(rows):
        raise ValueError(f"Z must have one row per learnable neuron ({len(rows)}), got {Z.shape[-2]}")
    theta = torch.zeros(*Z.shape[:-2], len(alloc), dtype=DTYPE)
    W = fixed["W"]
    for k, i in enumerate(rows):
        ks = [n for n, a in enumerate(alloc) if a[1] == i]
        cols = [alloc[n][2] for n in ks]
        if len(cols) < X.shape[-1]:
            raise ValueError(f"row {i} has {len(cols)} learnable entries, need >= m = {X.shape[-1]}")
        keep = torch.ones(W.shape[-1], dtype=DTYPE)
        keep[cols] = 0
        z_fix = ((W[..., i, :] * keep)[..., None, :] @ X)[..., 0, :]             # (..., m)
        XS = X[..., cols, :]                                                    # (..., s, m)
        Q, R = torch.linalg.qr(XS)
        coef = torch.linalg.solve_triangular(R.transpose(-1, -2), (Z[..., k, :] - z_fix)[..., None],
                                             upper=False)
        theta[..., ks] = (Q @ coef)[..., 0]
    return theta


# --------------------------------------------------------------------------- Monte Carlo
def frequency(indicators) -> tuple[float, int]:
    """(observed frequency, number of trials) of 0/1 outcomes.

    No standard error here: judge a frequency with the SE under each hypothesis,
    ``dltv.numerics.estimators.proportion_se(p, n)`` (never the plug-in SE, which is
    0 at an observed rate of 0 or 1).
    """
    x = np.asarray(indicators, dtype=float).ravel()
    if x.size == 0:
        raise ValueError("indicators must be non-empty")
    if not np.isin(x, (0.0, 1.0)).all():
        raise ValueError("indicators must be 0/1 outcomes")
    return float(x.mean()), int(x.size)


# --------------------------------------------------------------------------- allocation samplers
def random_allocation(shapes, M, rng: np.random.Generator, names=None) -> list:
    """A uniformly random M-subset of the named matrices' entries."""
    pool = entries(shapes, names)
    M = _pos_int("M", M, 0)
    if M > len(pool):
        raise ValueError(f"M must be <= {len(pool)} entries, got {M}")
    return [pool[k] for k in sorted(rng.choice(len(pool), size=M, replace=False))]


def spread_allocation(shapes, M, names=None) -> list:
    """M entries dealt round-robin over matrices, then rows, then columns."""
    names = list(shapes) if names is None else list(names)
    # within a matrix walk the wrapped diagonals: rows and columns are covered evenly
    queues = {n: sorted(entries(shapes, [n]), key=lambda e: ((e[2] - e[1]) % shapes[n][1], e[1]))
              for n in names}
    out = []
    while len(out) < M:
        progressed = False
        for n in names:
            if queues[n] and len(out) < M:
                out.append(queues[n].pop(0))
                progressed = True
        if not progressed:
            raise ValueError(f"M must be <= the number of entries, got {M}")
    return out


def concentrated_allocation(shapes, M, name) -> list:
    """The first M entries of one matrix, filled row by row."""
    pool = entries(shapes, [name])
    if M > len(pool):
        raise ValueError(f"M must be <= {len(pool)} entries of {name}, got {M}")
    return pool[:M]
