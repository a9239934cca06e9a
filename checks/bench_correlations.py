"""Benchmark of network sampling for `dltv bench`: real-weight vs exact collapsed sampler.

Throughput (networks per second) of both samplers for ReLU MLPs (C_W=2, C_b=0, n_0 = n, one
output neuron, k inputs, the metric kept at the output layer), each against its floor: the time
torch.randn takes to draw just the standard normals that sampler needs (real weights: the
n_l x n_{l-1} matrices; collapsed: n_l x k per layer).  Timed single-threaded on the CPU (the
per-core cost; restored afterwards) so that numbers are stable on a shared machine; on a GPU
the device is synchronised around each timing.

Also the statistical efficiency SE x sqrt(seconds) of the fourth-moment ratio E z^4/E[z^2]^2
estimated from G (3 E[G^2]/E[G]^2) against the naive mean(z^4)/mean(z^2)^2 from output neurons.
"""
from __future__ import annotations

import contextlib
import math
import time

import torch

from dltv.numerics.correlations import naive_moment_ratio, output_moment_ratio, sample_collapsed
from dltv.numerics.networks import DTYPE, sample_networks
from dltv.numerics.threads import one_thread

TARGET = (256, 20, 2)
FULL_GRID = [(n, L, k) for n in (64, 256, 1024) for L in (5, 20) for k in (1, 2, 4)]
QUICK_GRID = [(64, 5, 1), (256, 20, 2), (1024, 5, 4)]


def _sync(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def _timed(work, n, device) -> float:
    _sync(device)
    t = time.perf_counter()
    work(n)
    _sync(device)
    return time.perf_counter() - t


def _size(work, device, min_seconds: float, start: int = 1) -> int:
    """The N (doubling from ``start``) at which ``work(N)`` takes at least min_seconds."""
    work(start)  # warm-up
    n = start
    while n < 1 << 22:
        dt = _timed(work, n, device)
        if dt >= min_seconds:
            break
        n *= 2 if dt > min_seconds / 8 else 8
    return n


def _rates(works, device, min_seconds: float, starts, repeats: int = 3) -> list[float]:
    """Items per second of each work, timed interleaved ``repeats`` times, best timing each
    (as timeit does: load from other processes only slows a run, and interleaving exposes the
    sampler and its floor to the same load)."""
    sizes = [_size(w, device, min_seconds, s) for w, s in zip(works, starts)]
    best = [math.inf] * len(works)
    for _ in range(repeats):
        for i, (w, n) in enumerate(zip(works, sizes)):
            best[i] = min(best[i], _timed(w, n, device))
    return [n / b for n, b in zip(sizes, best)]


def _randn_work(per_network: int, device, chunk_elems: int = 1 << 22):
    gen = torch.Generator(device=device).manual_seed(0)

    def work(n_networks):
        total = n_networks * per_network
        while total > 0:
            c = min(total, chunk_elems)
            torch.randn(c, dtype=DTYPE, device=device, generator=gen)
            total -= c
    return work


def _sampler_row(n: int, L: int, k: int, device, min_seconds: float) -> dict:
    widths = (n,) + (n,) * L + (1,)
    gen = torch.Generator(device=device).manual_seed(1)
    x = torch.randn(k, n, dtype=DTYPE, generator=torch.Generator().manual_seed(2))
    kw = dict(layers=[L + 1], generator=gen, device=device)
    real = lambda N: sample_networks(widths, "relu", 2.0, 0.0, x, N, **kw)
    coll = lambda N: sample_collapsed(widths, "relu", 2.0, 0.0, x, N, **kw)
    real_normals = sum(a * b for a, b in zip(widths[:-1], widths[1:]))
    coll_normals = sum(widths[1:]) * k
    t0 = time.perf_counter()
    r_real, f_real, r_coll, f_coll = _rates(
        [real, _randn_work(real_normals, device), coll, _randn_work(coll_normals, device)],
        device, min_seconds, starts=[1, 1, 16, 16])
    speedup = r_coll / r_real
    vs_floor = f_coll / r_coll
    is_target = (n, L, k) == TARGET
    ok = vs_floor <= 3.0 and (speedup >= 100.0 if is_target else True)
    return {"bench": "correlations.sampler", "case": f"n={n} L={L} k={k}",
            "seconds": round(time.perf_counter() - t0, 3),
            "target": "collapsed >= 100x real and <= 3x its floor" if is_target else "collapsed <= 3x its floor",
            "ok": bool(ok), "real_nets_per_s": r_real, "collapsed_nets_per_s": r_coll,
            "speedup": speedup, "real_vs_floor": f_real / r_real, "collapsed_vs_floor": vs_floor}


def _efficiency_rows(device, n_networks: int, n: int = 32, L: int = 5) -> list[dict]:
    """SE x sqrt(seconds) of the fourth-moment ratio: G^2 estimator (both samplers) vs naive z^4."""
    widths = (n,) + (n,) * L + (1,)
    x = torch.ones(1, n, dtype=DTYPE)
    rows = []
    timed = {}
    for name, sampler in (("real", sample_networks), ("collapsed", sample_collapsed)):
        gen = torch.Generator(device=device).manual_seed(3)
        sampler(widths, "relu", 2.0, 0.0, x, 16, layers=[L + 1], generator=gen, device=device)  # warm-up
        _sync(device)
        t = time.perf_counter()
        s = sampler(widths, "relu", 2.0, 0.0, x, n_networks, layers=[L + 1], generator=gen, device=device)
        _sync(device)
        timed[name] = (s, time.perf_counter() - t)
    s_real, sec_real = timed["real"]
    s_coll, sec_coll = timed["collapsed"]
    ests = {"naive z^4, real weights": (naive_moment_ratio(s_real.outputs[..., 0], 2), sec_real),
            "G^2, real weights": (output_moment_ratio(s_real.G[:, -1, 0, 0], 2), sec_real),
            "G^2, collapsed": (output_moment_ratio(s_coll.G[:, -1, 0, 0], 2), sec_coll)}
    base = ests["naive z^4, real weights"][0].se * math.sqrt(sec_real)
    exact = 3 * (1 + 5 / n) ** L
    for case, (est, sec) in ests.items():
        eff = est.se * math.sqrt(sec)
        rows.append({"bench": "correlations.efficiency", "case": f"{case} (relu n={n} L={L} N={n_networks})",
                     "seconds": round(sec, 3), "target": "G^2 more efficient than naive z^4",
                     "ok": bool(eff <= base), "estimate": est.mean, "se": est.se, "exact": exact,
                     "se_sqrt_seconds": eff, "efficiency_gain_vs_naive": (base / eff) ** 2})
    return rows


def run(quick: bool, device: str) -> list[dict]:
    """Benchmark rows (see module docstring); quick: a reduced grid that includes n=256, L=20, k=2."""
    dev = torch.device(device)
    with one_thread() if dev.type == "cpu" else contextlib.nullcontext():
        grid = QUICK_GRID if quick else FULL_GRID
        min_seconds = 0.25 if quick else 0.5
        rows = [_sampler_row(n, L, k, dev, min_seconds) for n, L, k in grid]
        rows += _efficiency_rows(dev, 5000 if quick else 40000)
    for r in rows:
        r["device"] = str(dev)
        r["threads"] = 1 if dev.type == "cpu" else None
    return rows


if __name__ == "__main__":  # pragma: no cover - manual use
    import sys
    for row in run(quick="--full" not in sys.argv, device=sys.argv[1] if len(sys.argv) > 1 and
                   not sys.argv[1].startswith("-") else "cpu"):
        print({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()})
