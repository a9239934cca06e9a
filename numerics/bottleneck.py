"""Real networks for the bottleneck area (Jacot, arXiv 2305.19008), in torch float64.

* Deep linear networks trained with weight decay on a whitened regression,
  min_θ ‖W_L⋯W_1 − Y‖_F² + λ Σ_ℓ ‖W_ℓ‖_F², to a stationary point (L-BFGS, stopped on
  the gradient norm); the minimum of Σ‖W_ℓ‖_F² over exact factorisations W_L⋯W_1 = A;
  the target size at which a trained width-1 net first beats θ = 0 (continuation + Brent).
* Deep ReLU networks f(x) = W_L σ(⋯σ(W_1 x + b_1)⋯) + b_L trained with
  (1/N) Σ_i ‖f(x_i) − y_i‖² + λ ‖θ‖² on targets y = h(P x) of known inner dimension k.
* Continuation in depth: a trained net deepened by identity-on-data layers (``deepen``)
  starts the training of the next depth (``train_relu_by_depth``).
* Full-batch gradient descent on several nets at once (``train_relu_gd``), the empirical NTK
  from per-example parameter Jacobians (torch.func) and the Hessian of the objective.
* Measurements: per-layer singular values, input Jacobians Jf(x) and Jα_ℓ(x)
  (products of masked weights), numerical and effective ranks of hidden representations.
  Every function refuses non-finite input with a ValueError naming the parameter.

Optimisation runs on flattened parameters with ``scipy.optimize.minimize`` (L-BFGS-B,
gradients from torch autograd), stopping on the gradient norm (``gtol``) or an iteration
cap; the result records the final gradient norm (``converged``: ≤ max(gtol, 1e-6)).  The
deep linear objective is smooth and converges to ‖∇‖ ~ 1e-8; the ReLU objective is only
piecewise smooth (data points crossing kinks), so there L-BFGS usually ends at the cap
with ‖∇‖ ~ 1e-2 while the loss has stopped changing (≈ 1% over 4× more iterations).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.optimize
import torch

from dltv.numerics.threads import one_thread

DTYPE = torch.float64


# --------------------------------------------------------------------------- validation
def _check_int(name: str, value, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def _check_nonneg(name: str, value) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real number >= 0, got {value!r}") from None
    if not np.isfinite(v) or v < 0:
        raise ValueError(f"{name} must be a real number >= 0, got {value!r}")
    return v


def _check_positive(name: str, value) -> float:
    v = _check_nonneg(name, value)
    if v == 0:
        raise ValueError(f"{name} must be a real number > 0, got {value!r}")
    return v


def _finite(name: str, value, ndim: int | None = None) -> np.ndarray:
    """``value`` (array, tensor or nested list) as a float64 array with finite entries and ``ndim`` dimensions."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an array of real numbers, got {value!r}") from None
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s), got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} must contain only finite numbers")
    return arr


def _finite_list(name: str, mats, ndim: int) -> list[np.ndarray]:
    return [_finite(name, m, ndim) for m in mats]


def _check_widths(widths) -> list[int]:
    widths = list(widths)
    if len(widths) < 2:
        raise ValueError(f"widths must list at least input and output width, got {widths!r}")
    return [_check_int("widths", w, 1) for w in widths]


# --------------------------------------------------------------------------- flat parameters
def _shapes(widths: list[int], biases: bool) -> list[tuple[int, ...]]:
    shapes = []
    for n_in, n_out in zip(widths[:-1], widths[1:]):
        shapes.append((n_out, n_in))
        if biases:
            shapes.append((n_out,))
    return shapes


def _unflatten(theta: torch.Tensor, shapes) -> list[torch.Tensor]:
    out, i = [], 0
    for s in shapes:
        size = int(np.prod(s))
        out.append(theta[i:i + size].reshape(s))
        i += size
    return out


@dataclass
class Trained:
    """A trained network: weights W_ℓ (n_ℓ × n_{ℓ-1}), biases b_ℓ (empty list if none)."""

    weights: list[np.ndarray]
    biases: list[np.ndarray]
    loss: float
    grad_norm: float
    iterations: int
    converged: bool
    history: dict = field(default_factory=dict)

    @property
    def depth(self) -> int:
        return len(self.weights)

    def norm_sq(self) -> float:
        """‖θ‖² = Σ_ℓ ‖W_ℓ‖_F² + ‖b_ℓ‖² (biases included when present)."""
        return float(sum((w ** 2).sum() for w in self.weights) + sum((b ** 2).sum() for b in self.biases))


def _minimise(objective, theta0: np.ndarray, gtol: float, maxiter: int):
    """L-BFGS-B on a torch objective of a flat float64 vector; returns (θ, loss, ‖∇‖, its, ok)."""
    with one_thread():
        return _lbfgs(objective, theta0, gtol, maxiter)


def _lbfgs(objective, theta0, gtol, maxiter):

    def fun(x):
        t = torch.tensor(x, dtype=DTYPE, requires_grad=True)
        val = objective(t)
        (g,) = torch.autograd.grad(val, t)
        return float(val.detach()), g.numpy().astype(np.float64)

    res = scipy.optimize.minimize(fun, theta0, jac=True, method="L-BFGS-B",
                                  options={"maxiter": maxiter, "maxfun": 4 * maxiter,
                                           "gtol": gtol, "ftol": 0.0, "maxcor": 30})
    val, g = fun(res.x)
    gnorm = float(np.linalg.norm(g))
    return res.x, val, gnorm, int(res.nit), gnorm <= 10 * gtol * max(1.0, np.sqrt(len(g)))


# --------------------------------------------------------------------------- deep linear
def random_orthogonal(n: int, generator: torch.Generator) -> np.ndarray:
    """A Haar-random n×n orthogonal matrix (QR of a Gaussian matrix with sign fix)."""
    n = _check_int("n", n, 1)
    g = torch.randn(n, n, generator=generator, dtype=DTYPE).numpy()
    q, r = np.linalg.qr(g)
    return q * np.sign(np.diag(r))


def _init_scales(init_scale, depth: int) -> np.ndarray:
    scales = np.broadcast_to(_finite("init_scale", init_scale), (depth,)) if np.ndim(init_scale) == 0 \
        else _finite("init_scale", init_scale, 1)
    if scales.shape != (depth,) or (scales <= 0).any():
        raise ValueError(f"init_scale must be one number > 0 or {depth} of them, got {init_scale!r}")
    return scales


def _product_objective(shapes, target: torch.Tensor, lam: float):
    """θ ↦ ‖W_L⋯W_1 − Y‖_F² + λ‖θ‖² on flat parameters."""
    def objective(theta):
        ws = _unflatten(theta, shapes)
        A = ws[0]
        for w in ws[1:]:
            A = w @ A
        return ((A - target) ** 2).sum() + lam * (theta ** 2).sum()
    return objective


def train_deep_linear(Y: np.ndarray, depth: int, lam: float, *, generator: torch.Generator | None = None,
                      init_scale=1.0, init=None, gtol: float = 1e-11, maxiter: int = 20000) -> Trained:
    """Minimise ‖W_L⋯W_1 − Y‖_F² + λ Σ‖W_ℓ‖_F² (square d×d layers) with L-BFGS.

    This is least squares with whitened inputs (XXᵀ = I), so the end-to-end map A = W_L⋯W_1
    is the regression matrix.  Starts from ``init`` (L matrices d×d) or from Haar-orthogonal
    layers scaled by ``init_scale`` (one number, or one per layer: an unbalanced start).
    ``history["init_imbalance"]`` is the starting max_ℓ ‖W_{ℓ+1}ᵀW_{ℓ+1} − W_ℓW_ℓᵀ‖_max.
    Stops when the gradient norm is below ``gtol``.
    """
    Y = _finite("Y", Y, 2)
    if Y.shape[0] != Y.shape[1]:
        raise ValueError(f"Y must be a square matrix, got shape {Y.shape}")
    depth = _check_int("depth", depth, 1)
    lam = _check_nonneg("lam", lam)
    d = Y.shape[0]
    if init is None:
        if generator is None:
            raise ValueError("generator is required unless init is given")
        init = [c * random_orthogonal(d, generator) for c in _init_scales(init_scale, depth)]
    init = _finite_list("init", init, 2)
    if len(init) != depth or any(w.shape != (d, d) for w in init):
        raise ValueError(f"init must list depth = {depth} matrices of shape {(d, d)}")
    shapes = [(d, d)] * depth
    theta0 = np.concatenate([w.ravel() for w in init])
    objective = _product_objective(shapes, torch.tensor(Y, dtype=DTYPE), lam)
    x, val, gnorm, nit, ok = _minimise(objective, theta0, gtol, maxiter)
    ws = [w.detach().numpy().copy() for w in _unflatten(torch.tensor(x, dtype=DTYPE), shapes)]
    return Trained(ws, [], val, gnorm, nit, ok, history={"init_imbalance": balancedness_error(init)})


def min_norm_factorisation(A: np.ndarray, depth: int, *, generator: torch.Generator,
                           gtol: float = 1e-10, maxiter: int = 5000) -> Trained:
    """min Σ_ℓ ‖W_ℓ‖_F² over W_L⋯W_1 = A (square invertible A, d×d layers), by L-BFGS.

    The free parameters are W_1, …, W_{L−1}; W_L = A (W_{L−1}⋯W_1)^{−1} closes the product,
    so every point of the search space factorises A exactly.  Starts from Haar-orthogonal
    layers with random log-uniform(−½, ½) column scales (an unbalanced factorisation).
    ``loss`` is the minimised ‖θ‖²: a numerical value of the representation cost R(A; L).
    """
    A = _finite("A", A, 2)
    depth = _check_int("depth", depth, 1)
    d = A.shape[0]
    if A.shape[1] != d or np.linalg.matrix_rank(A) < d:
        raise ValueError(f"A must be a square invertible matrix, got shape {A.shape} "
                         f"of rank {np.linalg.matrix_rank(A)}")
    At = torch.tensor(A, dtype=DTYPE)
    shapes = [(d, d)] * (depth - 1)

    def layers(theta):
        ws = _unflatten(theta, shapes)
        P = torch.eye(d, dtype=DTYPE)
        for w in ws:
            P = w @ P
        return ws + [torch.linalg.solve(P.T, At.T).T]      # W_L = A P^{-1}

    def objective(theta):
        return sum((w ** 2).sum() for w in layers(theta))

    if depth == 1:
        return Trained([A.copy()], [], float((A ** 2).sum()), 0.0, 0, True)
    scales = torch.exp(torch.rand(depth - 1, d, generator=generator, dtype=DTYPE) - 0.5).numpy()
    theta0 = np.concatenate([(random_orthogonal(d, generator) * c).ravel() for c in scales])
    x, val, gnorm, nit, ok = _minimise(objective, theta0, gtol, maxiter)
    ws = [w.detach().numpy().copy() for w in layers(torch.tensor(x, dtype=DTYPE))]
    return Trained(ws, [], val, gnorm, nit, ok)


def _chain_branch(y: float, depth: int, lam: float, start: float) -> tuple[float, float]:
    """Train the width-1 deep linear net from the balanced start w_ℓ = start^{1/L}; (objective, s = Πw_ℓ)."""
    net = train_deep_linear(np.array([[y]]), depth, lam, init=[np.array([[start ** (1.0 / depth)]])] * depth,
                            gtol=1e-14, maxiter=200)
    return net.loss, float(end_to_end(net.weights)[0, 0])


def measured_threshold(depth: int, lam: float, *, y_hi: float, ratio: float = 1.05,
                       xtol: float = 1e-13) -> dict:
    """The target size y_c above which a trained width-1 deep linear net beats θ = 0, and s there.

    The net ‖w_L⋯w_1 − y‖² + λΣw_ℓ² is trained along its branch of non-zero minima by
    continuation: y is lowered from ``y_hi`` in steps of ``ratio``, each run starting from the
    balanced net of the previous y; θ = 0 costs y².  Once Δ(y) = (trained objective) − y²
    turns positive with s = Πw_ℓ > 0 (the branch exists but loses), the root of Δ in the last
    step is found by Brent's method (each evaluation a training from the step's upper end).
    Returns {"y_c", "jump" (s at y_c), "trainings"}.  A step must not jump over the interval
    where the branch exists but loses (y_min/y_c ≥ 0.68 for 3 ≤ L ≤ 6: ratio 1.05 is safe).
    """
    depth = _check_int("depth", depth, 2)
    lam = _check_positive("lam", lam)
    y_hi = _check_positive("y_hi", y_hi)
    ratio = _check_positive("ratio", ratio)
    if ratio <= 1:
        raise ValueError(f"ratio must be > 1, got {ratio!r}")
    count = 0

    def delta(y, start):
        nonlocal count
        count += 1
        loss, s = _chain_branch(y, depth, lam, start)
        return loss - y ** 2, s

    d_hi, s_hi = delta(y_hi, y_hi)
    if not (d_hi < 0 and s_hi > 0):
        raise ValueError(f"y_hi = {y_hi} is not above the threshold (the non-zero branch does not win there)")
    lo, s_lo = y_hi, s_hi
    while True:
        hi, s_hi, lo = lo, s_lo, lo / ratio
        d_lo, s_lo = delta(lo, s_hi)
        if s_lo <= 1e-6 * lo:
            raise RuntimeError(f"the non-zero branch vanished at y = {lo:.6g} before losing: ratio is too large")
        if d_lo > 0:
            break
    y_c = scipy.optimize.brentq(lambda y: delta(y, s_hi)[0], lo, hi, xtol=xtol, rtol=4 * np.finfo(float).eps)
    return {"y_c": y_c, "jump": delta(y_c, s_hi)[1], "trainings": count}


def end_to_end(weights: list[np.ndarray]) -> np.ndarray:
    """W_L ⋯ W_1."""
    weights = _finite_list("weights", weights, 2)
    if not weights:
        raise ValueError("weights must list at least one matrix")
    A = weights[0]
    for w in weights[1:]:
        A = w @ A
    return A


def balancedness_error(weights: list[np.ndarray]) -> float:
    """max_ℓ ‖W_{ℓ+1}ᵀW_{ℓ+1} − W_ℓW_ℓᵀ‖_max (0 for balanced parameters)."""
    weights = _finite_list("weights", weights, 2)
    errs = [np.abs(b.T @ b - a @ a.T).max() for a, b in zip(weights[:-1], weights[1:])]
    return float(max(errs, default=0.0))


# --------------------------------------------------------------------------- ReLU networks
def relu_forward(weights, biases, X: torch.Tensor, *, keep: bool = False):
    """f(X) for rows X; with ``keep`` also the post-activations α_0 = X, α_1, …, α_{L-1}."""
    for name, ts in (("weights", weights), ("biases", biases), ("X", [X])):
        if any(not bool(torch.isfinite(torch.as_tensor(t)).all()) for t in ts):
            raise ValueError(f"{name} must contain only finite numbers")
    return _forward(weights, biases, X, keep=keep)


def _forward(weights, biases, X: torch.Tensor, *, keep: bool = False):
    acts = [X]
    h = X
    for l, w in enumerate(weights):
        h = h @ w.T
        if biases:
            h = h + biases[l]
        if l < len(weights) - 1:
            h = torch.relu(h)
            acts.append(h)
    return (h, acts) if keep else h


def low_rank_task(n: int, d: int, k: int, m: int, *, generator: torch.Generator,
                  hidden: int = 100, positive: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Inputs x ~ N(0, I_d) and targets y = h(P x) with P: R^d → R^k and h a random shallow ReLU net.

    The target f = h∘P has bottleneck rank k (and Jacobian rank k at almost every x).
    Columns of Y are standardised (an affine map of the output, which keeps the rank).
    ``positive``: x ~ U[0, 1]^d and P averages k disjoint blocks of coordinates (orthonormal
    columns with entries ≥ 0), so the inner variable z = Pᵀx ≥ 0 passes through ReLU layers
    unchanged: a k-dimensional representation needs k units per layer, not the k + 1 of a
    positive frame around a signed z (which keeps deep nets off the asymptotic regime longer).
    """
    for name, v in (("n", n), ("d", d), ("k", k), ("m", m), ("hidden", hidden)):
        _check_int(name, v, 1)
    if k > min(d, m):
        raise ValueError(f"k must be <= min(d, m) = {min(d, m)}, got {k}")
    g = generator
    if positive:
        X = torch.rand(n, d, generator=g, dtype=DTYPE)
        blocks = np.array_split(np.arange(d), k)
        P = torch.zeros(d, k, dtype=DTYPE)
        for j, b in enumerate(blocks):
            P[b, j] = 1.0 / len(b) ** 0.5
    else:
        X = torch.randn(n, d, generator=g, dtype=DTYPE)
        P = torch.linalg.qr(torch.randn(d, k, generator=g, dtype=DTYPE))[0]      # orthonormal k-frame
    A = torch.randn(hidden, k, generator=g, dtype=DTYPE)
    c = 0.5 * torch.randn(hidden, generator=g, dtype=DTYPE)
    B = torch.randn(m, hidden, generator=g, dtype=DTYPE) / hidden ** 0.5
    Y = torch.relu((X @ P) @ A.T + c) @ B.T
    Y = (Y - Y.mean(0)) / Y.std(0)
    return X.numpy(), Y.numpy()


def he_init(widths, *, generator: torch.Generator, biases: bool = True, scale: float = 1.0):
    """Weights N(0, 2·scale²/n_in) (output layer N(0, scale²/n_in)), zero biases."""
    widths = _check_widths(widths)
    scale = _check_positive("scale", scale)
    ws, bs = [], []
    L = len(widths) - 1
    for l, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        gain = (1.0 if l == L - 1 else 2.0) ** 0.5
        ws.append((gain * scale / a ** 0.5 * torch.randn(b, a, generator=generator, dtype=DTYPE)).numpy())
        if biases:
            bs.append(np.zeros(b))
    return ws, bs


def train_relu(X: np.ndarray, Y: np.ndarray, widths, lam: float, *, generator: torch.Generator,
               biases: bool = True, gtol: float = 1e-9, maxiter: int = 20000,
               init=None) -> Trained:
    """Minimise (1/N) Σ_i ‖f_θ(x_i) − y_i‖² + λ‖θ‖² over a ReLU MLP (L-BFGS, float64).

    ``init``: optional (weights, biases) to start from; He initialisation otherwise.
    """
    widths = _check_widths(widths)
    lam = _check_nonneg("lam", lam)
    X, Y = _finite("X", X, 2), _finite("Y", Y, 2)
    if X.shape[1] != widths[0] or Y.shape[1] != widths[-1] or len(X) != len(Y):
        raise ValueError(f"X {X.shape} and Y {Y.shape} do not match widths {widths}")
    shapes = _shapes(widths, biases)
    ws, bs = init if init is not None else he_init(widths, generator=generator, biases=biases)
    ws, bs = _finite_list("init", ws, 2), _finite_list("init", bs, 1)
    parts = []
    for l in range(len(ws)):
        parts.append(np.asarray(ws[l]).ravel())
        if biases:
            parts.append(np.asarray(bs[l]).ravel())
    theta0 = np.concatenate(parts)
    Xt, Yt, n = torch.tensor(X, dtype=DTYPE), torch.tensor(Y, dtype=DTYPE), len(X)

    def split(theta):
        ps = _unflatten(theta, shapes)
        return (ps[0::2], ps[1::2]) if biases else (ps, [])

    def objective(theta):
        w, b = split(theta)
        return ((_forward(w, b, Xt) - Yt) ** 2).sum() / n + lam * (theta ** 2).sum()

    x, val, gnorm, nit, ok = _minimise(objective, theta0, gtol, maxiter)
    w, b = split(torch.tensor(x, dtype=DTYPE))
    return Trained([a.numpy().copy() for a in w], [a.numpy().copy() for a in b], val, gnorm, nit, ok)


def train_relu_best_of(X: np.ndarray, Y: np.ndarray, widths, lam: float, *, generator: torch.Generator,
                       restarts: int = 3, screen_iter: int = 800, maxiter: int = 2000, **kw) -> Trained:
    """Best of ``restarts`` He initialisations: screen each for ``screen_iter`` L-BFGS steps, then
    continue the one with the lowest regularised loss up to ``maxiter`` further steps.

    The regularised loss has many local minima (e.g. rank-overestimating ones); the claims are
    about its minimisers, so the lowest of several runs is kept.  ``history["screen_losses"]``
    records the screened objectives.
    """
    restarts = _check_int("restarts", restarts, 1)
    runs = [train_relu(X, Y, widths, lam, generator=generator, maxiter=screen_iter, **kw) for _ in range(restarts)]
    best = min(runs, key=lambda r: r.loss)
    net = train_relu(X, Y, widths, lam, generator=generator, maxiter=maxiter, init=(best.weights, best.biases), **kw)
    net.history["screen_losses"] = [r.loss for r in runs]
    net.iterations += best.iterations
    return net


def mse(net: Trained, X: np.ndarray, Y: np.ndarray) -> float:
    """(1/N) Σ_i ‖f(x_i) − y_i‖²."""
    X, Y = _finite("X", X, 2), _finite("Y", Y, 2)
    out = relu_forward([torch.tensor(w) for w in net.weights], [torch.tensor(b) for b in net.biases],
                       torch.tensor(X, dtype=DTYPE))
    return float(((out.numpy() - Y) ** 2).sum(1).mean())


# --------------------------------------------------------------------------- measurements
def representation_jacobians(weights, biases, x: np.ndarray) -> list[np.ndarray]:
    """[Jα_1(x), …, Jα_{L-1}(x), Jf(x)]: input Jacobians of the hidden representations and the output.

    Jα_ℓ(x) = D_ℓ W_ℓ ⋯ D_1 W_1 with D_ℓ the 0/1 diagonal of active units (f is
    piecewise linear; at a kink this is the one-sided Jacobian with σ'(0) = 0).
    """
    h = _finite("x", x, 1)
    weights, biases = _finite_list("weights", weights, 2), _finite_list("biases", biases, 1)
    J = np.eye(len(h))
    out = []
    for l, w in enumerate(weights):
        h = w @ h + (biases[l] if len(biases) else 0.0)
        J = w @ J
        if l < len(weights) - 1:
            mask = (h > 0).astype(np.float64)
            h = h * mask
            J = mask[:, None] * J
        out.append(J)
    return out


def singular_values(A: np.ndarray) -> np.ndarray:
    """Singular values, descending."""
    return np.linalg.svd(_finite("A", A, 2), compute_uv=False)


def numerical_rank(sv: np.ndarray, rtol: float) -> int:
    """Number of singular values above rtol · s_1 (0 for the zero matrix)."""
    sv = _finite("sv", sv, 1)
    rtol = _check_nonneg("rtol", rtol)
    if sv.size == 0 or sv[0] <= 0:
        return 0
    return int((sv > rtol * sv[0]).sum())


def effective_rank(M: np.ndarray) -> float:
    """Entropy effective rank exp(H(p)), p_i = s_i / Σ s_j, of the column-centred matrix M."""
    M = _finite("M", M, 2)
    s = singular_values(M - M.mean(0))
    if s.sum() <= 0:
        return 0.0
    p = s / s.sum()
    p = p[p > 0]
    return float(np.exp(-(p * np.log(p)).sum()))


def hidden_representations(net: Trained, X: np.ndarray) -> list[np.ndarray]:
    """α_1(X), …, α_{L-1}(X) (rows = samples)."""
    X = _finite("X", X, 2)
    _, acts = relu_forward([torch.tensor(w) for w in net.weights], [torch.tensor(b) for b in net.biases],
                           torch.tensor(X, dtype=DTYPE), keep=True)
    return [a.numpy() for a in acts[1:]]


def diagonal_relu_net(a: np.ndarray, depth: int) -> Trained:
    """The bias-free ReLU net W_ℓ = diag(a^{1/L}), a > 0: on the positive orthant it computes diag(a)·x."""
    a = _finite("a", a, 1)
    if (a <= 0).any():
        raise ValueError(f"a must be a vector of positive numbers, got {a!r}")
    depth = _check_int("depth", depth, 1)
    w = np.diag(a ** (1.0 / depth))
    return Trained([w.copy() for _ in range(depth)], [], float("nan"), float("nan"), 0, True)


def random_relu_net(widths, *, generator: torch.Generator, scale: float = 1.0,
                    biases: bool = True) -> Trained:
    """Gaussian weights N(0, scale²·2/n_in) and biases N(0, scale²/4) (or no biases)."""
    ws, _ = he_init(widths, generator=generator, biases=False, scale=scale)
    scale = float(scale)
    bs = [0.5 * scale * torch.randn(w.shape[0], generator=generator, dtype=DTYPE).numpy()
          for w in ws] if biases else []
    return Trained(ws, bs, float("nan"), float("nan"), 0, True)


# --------------------------------------------------------------------------- depth continuation
def deepen(net: Trained, X: np.ndarray, extra: int, *, rtol: float = 1e-10) -> Trained:
    """Insert ``extra`` layers in the middle of ``net`` without changing f on the rows of X.

    Each new layer is W = U_r U_rᵀ, b = 0, with U_r an orthonormal basis of the span of the
    hidden representation α_ℓ(X) where it is inserted (singular values above rtol·s_1):
    α_ℓ(x) ≥ 0 lies in that span, so σ(W α_ℓ(x)) = α_ℓ(x) for every training input, and the
    layer costs ‖W‖_F² = r.  This is continuation in depth: a trained depth-L net gives a
    depth-(L + extra) start that already fits, from which training reaches the deeper
    minimiser instead of a fresh random start.
    """
    extra = _check_int("extra", extra, 0)
    X = _finite("X", X, 2)
    rtol = _check_nonneg("rtol", rtol)
    if net.depth < 2:
        raise ValueError("net must have at least one hidden layer to deepen")
    ws = [np.array(w, dtype=np.float64) for w in net.weights]
    bs = [np.array(b, dtype=np.float64) for b in net.biases]
    for _ in range(extra):
        where = len(ws) // 2                       # after hidden layer `where` (1-based)
        alpha = hidden_representations(Trained(ws, bs, 0.0, 0.0, 0, True), X)[where - 1]
        U, s, _ = np.linalg.svd(alpha.T, full_matrices=False)
        r = max(int((s > rtol * max(s[0], 1e-300)).sum()), 1)
        ws.insert(where, U[:, :r] @ U[:, :r].T)
        if bs:
            bs.insert(where, np.zeros(ws[where].shape[0]))
    return Trained(ws, bs, float("nan"), float("nan"), 0, True, history={"deepened_from": net.depth})


def train_relu_by_depth(X: np.ndarray, Y: np.ndarray, width: int, depths, lam: float, *,
                        generator: torch.Generator, restarts: int = 3, screen_iter: int = 300,
                        maxiter: int = 2000, gtol: float = 1e-7) -> dict[int, Trained]:
    """Trained nets of every depth in ``depths`` (ascending), by continuation in depth.

    The shallowest is the best of ``restarts`` screened He starts (:func:`train_relu_best_of`);
    each deeper one starts from the previous minimiser deepened by :func:`deepen` and is
    trained by L-BFGS for up to ``maxiter`` iterations.  ``history["rel_change"]`` records the
    relative change of the objective over the last 10% of the iterations (a convergence
    measure for the piecewise-smooth objective, beside the final gradient norm).
    """
    depths = [_check_int("depths", L, 2) for L in depths]
    if depths != sorted(set(depths)):
        raise ValueError(f"depths must be strictly increasing, got {depths!r}")
    width = _check_int("width", width, 1)
    X, Y = _finite("X", X, 2), _finite("Y", Y, 2)
    widths = lambda L: [X.shape[1]] + [width] * (L - 1) + [Y.shape[1]]   # noqa: E731
    nets, net = {}, None
    for L in depths:
        if net is None:
            net = train_relu_best_of(X, Y, widths(L), lam, generator=generator, restarts=restarts,
                                     screen_iter=screen_iter, maxiter=maxiter, gtol=gtol)
        else:
            start = deepen(net, X, L - net.depth)
            net = train_relu(X, Y, widths(L), lam, generator=generator, gtol=gtol, maxiter=maxiter,
                             init=(start.weights, start.biases))
        tail = train_relu(X, Y, widths(L), lam, generator=generator, gtol=gtol,
                          maxiter=max(maxiter // 10, 1), init=(net.weights, net.biases))
        tail.history = dict(net.history, rel_change=abs(net.loss - tail.loss) / abs(net.loss),
                            iterations_total=net.iterations + tail.iterations)
        tail.iterations += net.iterations
        nets[L] = net = tail
    return nets


# --------------------------------------------------------------------------- NTK and sharpness
def _torch_params(net: Trained) -> dict[str, torch.Tensor]:
    """Named parameters in the flat order of the trainers (W_1, b_1, W_2, b_2, …)."""
    out = {}
    for l, w in enumerate(net.weights):
        out[f"w{l}"] = torch.tensor(w, dtype=DTYPE)
        if net.biases:
            out[f"b{l}"] = torch.tensor(net.biases[l], dtype=DTYPE)
    return out


def _functional(depth: int, biases: bool):
    def f(params, x):
        ws = [params[f"w{l}"] for l in range(depth)]
        bs = [params[f"b{l}"] for l in range(depth)] if biases else []
        return _forward(ws, bs, x[None])[0]
    return f


def parameter_jacobians(net: Trained, X: np.ndarray) -> torch.Tensor:
    """∂f(x_i)/∂θ for every row x_i, as one (N, m, P) tensor (torch.func.jacrev under vmap);
    θ in the flat order W_1, b_1, W_2, b_2, … of the trainers and :func:`loss_hessian`."""
    X = _finite("X", X, 2)
    params = _torch_params(net)
    f = _functional(net.depth, bool(net.biases))
    with one_thread():
        jac = torch.func.vmap(torch.func.jacrev(f), in_dims=(None, 0))(params, torch.tensor(X, dtype=DTYPE))
    return torch.cat([jac[name].reshape(len(X), -1, params[name].numel()) for name in params], dim=2)


def ntk_trace(net: Trained, X: np.ndarray) -> np.ndarray:
    """Tr Θ(x_i, x_i) = ‖∂f(x_i)/∂θ‖_F² for every row x_i (biases included when the net has them)."""
    J = parameter_jacobians(net, X)
    return (J ** 2).sum((1, 2)).numpy()


def ntk_gram(net: Trained, X: np.ndarray) -> np.ndarray:
    """The empirical NTK Gram matrix K = J Jᵀ (N·m × N·m, rows ordered (i, output))."""
    J = parameter_jacobians(net, X)
    J = J.reshape(-1, J.shape[-1])
    return (J @ J.T).numpy()


def _flat(net: Trained) -> np.ndarray:
    parts = []
    for l, w in enumerate(net.weights):
        parts.append(np.asarray(w).ravel())
        if net.biases:
            parts.append(np.asarray(net.biases[l]).ravel())
    return np.concatenate(parts)


def loss_hessian_eigenvalues(net: Trained, X: np.ndarray, Y: np.ndarray, lam: float) -> np.ndarray:
    """Eigenvalues (ascending) of :func:`loss_hessian`."""
    return np.linalg.eigvalsh(loss_hessian(net, X, Y, lam))


def loss_hessian(net: Trained, X: np.ndarray, Y: np.ndarray, lam: float) -> np.ndarray:
    """The P×P Hessian of (1/N) Σ‖f(x_i) − y_i‖² + λ‖θ‖² at the net's θ (flat order: W_1, b_1, W_2, …).

    Forward-over-reverse autograd (torch.func.hessian): exact for the piecewise-linear net
    away from kinks, and independent of the NTK Gram matrix.
    """
    X, Y = _finite("X", X, 2), _finite("Y", Y, 2)
    lam = _check_nonneg("lam", lam)
    widths = [net.weights[0].shape[1]] + [w.shape[0] for w in net.weights]
    shapes = _shapes(widths, bool(net.biases))
    Xt, Yt = torch.tensor(X, dtype=DTYPE), torch.tensor(Y, dtype=DTYPE)
    biases = bool(net.biases)

    def objective(theta):
        ps = _unflatten(theta, shapes)
        ws, bs = (ps[0::2], ps[1::2]) if biases else (ps, [])
        return ((_forward(ws, bs, Xt) - Yt) ** 2).sum() / len(X) + lam * (theta ** 2).sum()

    with one_thread():
        H = torch.func.hessian(objective)(torch.tensor(_flat(net), dtype=DTYPE))
    return H.numpy()


# --------------------------------------------------------------------------- gradient descent
def train_relu_gd(X: np.ndarray, Y: np.ndarray, init: list[Trained], lam: float, lrs, steps: int
                  ) -> list[Trained]:
    """Full-batch gradient descent θ ← θ − η ∇[(1/N) Σ‖f(x_i) − y_i‖² + λ‖θ‖²] on several nets at once.

    ``init``: nets of equal widths (with biases), one per entry of ``lrs`` (the step size η of
    each); the nets are stacked along a batch axis and trained by one batched forward and
    backward per step.  ``history["loss"]`` holds the objective every steps/100 steps.
    """
    X, Y = _finite("X", X, 2), _finite("Y", Y, 2)
    lam = _check_nonneg("lam", lam)
    steps = _check_int("steps", steps, 1)
    lrs = _finite("lrs", lrs, 1)
    if len(init) != len(lrs) or not len(init) or (lrs <= 0).any():
        raise ValueError(f"lrs must give one step size > 0 per initial net ({len(init)}), got {lrs!r}")
    if any(not n.biases for n in init) or len({tuple(w.shape for w in n.weights) for n in init}) != 1:
        raise ValueError("init must list nets with biases and equal widths")
    depth = init[0].depth
    ws = [torch.tensor(np.stack([n.weights[l] for n in init]), requires_grad=True) for l in range(depth)]
    bs = [torch.tensor(np.stack([n.biases[l] for n in init]), requires_grad=True) for l in range(depth)]
    Xt, Yt, eta = torch.tensor(X, dtype=DTYPE), torch.tensor(Y, dtype=DTYPE), torch.tensor(lrs)
    record, history = max(steps // 100, 1), []

    def objectives():
        h = Xt.expand(len(init), *Xt.shape)
        for l in range(depth):
            h = torch.baddbmm(bs[l][:, None, :], h, ws[l].transpose(1, 2))
            if l < depth - 1:
                h = torch.relu(h)
        fit = ((h - Yt) ** 2).sum((1, 2)) / len(X)
        return fit + lam * sum((p ** 2).sum(tuple(range(1, p.dim()))) for p in ws + bs)

    with one_thread():
        for step in range(steps):
            obj = objectives()
            grads = torch.autograd.grad(obj.sum(), ws + bs)
            with torch.no_grad():
                for p, g in zip(ws + bs, grads):
                    p -= eta.view(-1, *([1] * (p.dim() - 1))) * g
            if step % record == 0:
                history.append(obj.detach().numpy().copy())
        obj = objectives()
        grads = torch.autograd.grad(obj.sum(), ws + bs)
    gnorm = torch.sqrt(sum((g ** 2).sum(tuple(range(1, g.dim()))) for g in grads)).numpy()
    hist = np.array(history)
    out = []
    for i in range(len(init)):
        out.append(Trained([w[i].detach().numpy().copy() for w in ws], [b[i].detach().numpy().copy() for b in bs],
                           float(obj.detach()[i]), float(gnorm[i]), steps, bool(gnorm[i] <= 1e-6),
                           history={"loss": hist[:, i], "lr": float(lrs[i])}))
    return out
