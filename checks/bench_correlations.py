"""Benchmark of network sampling for `dltv bench`: real weights, the collapsed sampler, the exact
chi-square shortcut, and (when installed) neural-tangents side by side.

Throughput (networks per second) for ReLU MLPs (C_W=2, C_b=0, n_0 = n, one output neuron, k inputs,
the metric kept at the output layer).  Each sampler is timed against its floor: the time its own
random numbers take, drawn with its own generator into its own shapes (real weights: torch's
normal_ for the n_l x n_{l-1} matrices; collapsed: :func:`collapsed_noise`, the very draws of
``sample_collapsed(method="rows")``).  Works are timed interleaved (so a sampler and its floor see
the same load) ``repeats`` times; rates are medians, and ``collapsed_vs_floor`` is the median of
the per-repeat time ratios.  Timed on one thread on the CPU (``threads`` in each row); on a GPU the
device is synchronised around each timing.

neural-tangents (an optional comparison, never a dependency): with ``--full`` and the package
importable, ``nt.monte_carlo_kernel_fn`` is timed for the same architecture (stax Dense(n,
W_std=sqrt 2)/Relu x L, Dense(1), float64 via jax x64, one XLA thread) in a subprocess; otherwise
the rows carry the stored reference figure, labelled as such, and say what "ok" was judged on.

Also the statistical efficiency SE x sqrt(seconds) of the fourth-moment ratio E z^4/E[z^2]^2
estimated from G (3 E[G^2]/E[G]^2) against the naive mean(z^4)/mean(z^2)^2 from output neurons.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import statistics
import subprocess
import sys
import time

import torch

from dltv.numerics.correlations import collapsed_noise, naive_moment_ratio, output_moment_ratio, sample_collapsed
from dltv.numerics.networks import DTYPE, sample_networks
from dltv.numerics.threads import one_thread

TARGET = (256, 20, 2)
CHI2_CASE = (256, 20, 1)
FULL_GRID = [(n, L, k) for n in (64, 256, 1024) for L in (5, 20) for k in (1, 2, 4)]
QUICK_GRID = [(64, 5, 1), (256, 20, 2), (1024, 5, 4)]
FLOOR_TARGET = 1.2  # the target case: collapsed time / time of its own draws
GRID_FLOOR_TARGET = 3.0  # the other cases (small n or m = 4 pay per-call overhead)
NT_TARGET = 250.0  # collapsed (k = 2) over neural-tangents
CHI2_NT_TARGET = 1000.0  # chi-square shortcut (k = 1) over neural-tangents
NT_REFERENCE = {"nt_nets_per_s_reference": 9.0,
                "nt_reference_source": "stored reference: issue #13, n=256 L=20 k=2, one thread, older machine state"}


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


def _timings(works, device, min_seconds: float, starts, repeats: int) -> tuple[list[int], list[list[float]]]:
    """Sizes and per-repeat seconds of each work, timed interleaved ``repeats`` times."""
    sizes = [_size(w, device, min_seconds, s) for w, s in zip(works, starts)]
    seconds = [[] for _ in works]
    for _ in range(repeats):
        for i, (w, n) in enumerate(zip(works, sizes)):
            seconds[i].append(_timed(w, n, device))
    return sizes, seconds


def _rate(size: int, seconds: list[float]) -> float:
    return size / statistics.median(seconds)


def _ratio(size_a: int, sec_a: list[float], size_b: int, sec_b: list[float]) -> float:
    """Median over repeats of (seconds per item of a) / (seconds per item of b), paired in time."""
    return statistics.median((ta / size_a) / (tb / size_b) for ta, tb in zip(sec_a, sec_b))


def _randn_work(per_network: int, device, chunk_elems: int = 1 << 22):
    gen = torch.Generator(device=device).manual_seed(0)
    buf = torch.empty(chunk_elems, dtype=DTYPE, device=device)

    def work(n_networks):
        total = n_networks * per_network
        while total > 0:
            c = min(total, chunk_elems)
            buf[:c].normal_(generator=gen)
            total -= c
    return work


def _case(n: int, L: int, k: int, device):
    widths = (n,) + (n,) * L + (1,)
    x = torch.randn(k, n, dtype=DTYPE, generator=torch.Generator().manual_seed(2)).to(device)
    return widths, x, dict(layers=[L + 1], generator=torch.Generator(device=device).manual_seed(1), device=device)


def _threads(device) -> int | None:
    return torch.get_num_threads() if torch.device(device).type == "cpu" else None


def _sampler_row(n: int, L: int, k: int, device, min_seconds: float, repeats: int) -> dict:
    widths, x, kw = _case(n, L, k, device)
    real = lambda N: sample_networks(widths, "relu", 2.0, 0.0, x, N, **kw)
    coll = lambda N: sample_collapsed(widths, "relu", 2.0, 0.0, x, N, method="rows", **kw)
    floor = lambda N: collapsed_noise(widths, k, N, generator=kw["generator"], device=device)
    real_normals = sum(a * b for a, b in zip(widths[:-1], widths[1:]))
    t0 = time.perf_counter()
    sizes, secs = _timings([real, _randn_work(real_normals, device), coll, floor], device, min_seconds,
                           starts=[1, 1, 16, 16], repeats=repeats)
    r_real, f_real, r_coll, f_coll = (_rate(s, t) for s, t in zip(sizes, secs))
    vs_floor = _ratio(sizes[2], secs[2], sizes[3], secs[3])
    is_target = (n, L, k) == TARGET
    limit = FLOOR_TARGET if is_target else GRID_FLOOR_TARGET
    row = {"bench": "correlations.sampler", "case": f"n={n} L={L} k={k}",
           "seconds": round(time.perf_counter() - t0, 3),
           "target": (f"collapsed >= {NT_TARGET:g}x neural-tangents and <= {limit:g}x its floor" if is_target
                      else f"collapsed <= {limit:g}x its floor"),
           "ok": bool(vs_floor <= limit), "real_nets_per_s": r_real, "collapsed_nets_per_s": r_coll,
           "floor_nets_per_s": f_coll, "collapsed_vs_floor": vs_floor, "speedup": r_coll / r_real,
           "real_vs_floor": _ratio(sizes[0], secs[0], sizes[1], secs[1]),
           "timing": f"median of {repeats} interleaved repeats, wall clock", "threads": _threads(device)}
    if is_target:
        row["ok_floor"] = row["ok"]
    return row


def _chi2_row(device, min_seconds: float, repeats: int) -> dict:
    n, L, k = CHI2_CASE
    widths, x, kw = _case(n, L, k, device)
    chi2 = lambda N: sample_collapsed(widths, "relu", 2.0, 0.0, x, N, method="chi2", **kw)
    rows = lambda N: sample_collapsed(widths, "relu", 2.0, 0.0, x, N, method="rows", **kw)
    t0 = time.perf_counter()
    sizes, secs = _timings([chi2, rows], device, min_seconds, starts=[1024, 16], repeats=repeats)
    r_chi2, r_rows = (_rate(s, t) for s, t in zip(sizes, secs))
    return {"bench": "correlations.chi2", "case": f"n={n} L={L} k={k}", "seconds": round(time.perf_counter() - t0, 3),
            "target": f"chi-square shortcut >= {CHI2_NT_TARGET:g}x neural-tangents (k=1)", "ok": None,
            "chi2_nets_per_s": r_chi2, "rows_nets_per_s": r_rows, "chi2_vs_rows": r_chi2 / r_rows,
            "timing": f"median of {repeats} interleaved repeats, wall clock", "threads": _threads(device)}


_NT_SCRIPT = r"""
import json, statistics, sys, time
import jax
jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp
import neural_tangents as nt
from neural_tangents import stax
n, L, k, batch, repeats = (int(v) for v in sys.argv[1:6])
layers = []
for _ in range(L):
    layers += [stax.Dense(n, W_std=2 ** 0.5), stax.Relu()]
init_fn, apply_fn, _ = stax.serial(*layers, stax.Dense(1, W_std=2 ** 0.5))
x = jax.random.normal(jax.random.PRNGKey(2), (k, n), dtype=jnp.float64)
kernel_fn = nt.monte_carlo_kernel_fn(init_fn, apply_fn, jax.random.PRNGKey(1), n_samples=batch, batch_size=batch,
                                     device_count=0, trace_axes=(), store_on_device=True)
jax.block_until_ready(kernel_fn(x, None, "nngp"))  # compile
seconds = []
for _ in range(repeats):
    t = time.perf_counter()
    out = jax.block_until_ready(kernel_fn(x, None, "nngp"))
    seconds.append(time.perf_counter() - t)
print(json.dumps({"nets_per_s": batch / statistics.median(seconds), "dtype": str(out.dtype),
                  "version": nt.__version__ if hasattr(nt, "__version__") else None}))
"""


def neural_tangents_rate(n: int, L: int, k: int, batch: int = 32, repeats: int = 3,
                         timeout: float = 600.0) -> dict:
    """Networks/s of ``nt.monte_carlo_kernel_fn`` (nngp, float64, one XLA thread) in a subprocess.

    Returns ``{"nt_measured": True, "nt_nets_per_s": ...}``, or ``{"nt_measured": False, "nt_note": why}``
    when neural-tangents is not importable or the run fails.
    """
    env = dict(os.environ, XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
               JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="3")
    try:
        proc = subprocess.run([sys.executable, "-c", _NT_SCRIPT, *map(str, (n, L, k, batch, repeats))],
                              capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"nt_measured": False, "nt_note": f"neural-tangents timing exceeded {timeout:g} s"}
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"nt_measured": False, "nt_note": f"neural-tangents not available: {last[:160]}"}
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"nt_measured": True, "nt_nets_per_s": out["nets_per_s"], "nt_threads": 1,
            "nt_timing": f"median of {repeats} calls of {batch} networks after compiling, {out['dtype']}"}


def _with_neural_tangents(row: dict, nt: dict, rate_key: str, target: float, extra_ok: bool | None) -> dict:
    """Add the neural-tangents ratio to ``row``; "ok" needs it only where it was measured."""
    row.update(nt)
    if nt["nt_measured"]:
        row["vs_neural_tangents"] = row[rate_key] / nt["nt_nets_per_s"]
        nt_ok = row["vs_neural_tangents"] >= target
        row["ok"] = bool(nt_ok if extra_ok is None else nt_ok and extra_ok)
        row["ok_judged_on"] = "measured neural-tangents" + ("" if extra_ok is None else " and the floor")
    else:
        row.update(NT_REFERENCE)
        if rate_key == "chi2_nets_per_s":
            row["nt_reference_note"] = "the k=2 figure; neural-tangents costs about the same at k=1 (its n x n " \
                                       "weight draws dominate)"
        row["vs_neural_tangents_reference"] = row[rate_key] / NT_REFERENCE["nt_nets_per_s_reference"]
        if extra_ok is None:
            row["ok"] = bool(row["vs_neural_tangents_reference"] >= target)
            row["ok_judged_on"] = "the stored neural-tangents reference (not measured in this run)"
        else:
            row["ok"] = bool(extra_ok)
            row["ok_judged_on"] = "the floor target alone (neural-tangents not measured in this run)"
    return row


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
            "G^2, collapsed (chi-square)": (output_moment_ratio(s_coll.G[:, -1, 0, 0], 2), sec_coll)}
    base = ests["naive z^4, real weights"][0].se * math.sqrt(sec_real)
    exact = 3 * (1 + 5 / n) ** L
    for case, (est, sec) in ests.items():
        eff = est.se * math.sqrt(sec)
        rows.append({"bench": "correlations.efficiency", "case": f"{case} (relu n={n} L={L} N={n_networks})",
                     "seconds": round(sec, 3), "target": "G^2 more efficient than naive z^4",
                     "ok": bool(eff <= base), "estimate": est.mean, "se": est.se, "exact": exact,
                     "se_sqrt_seconds": eff, "efficiency_gain_vs_naive": (base / eff) ** 2,
                     "threads": _threads(device)})
    return rows


def run(quick: bool, device: str) -> list[dict]:
    """Benchmark rows (see module docstring); quick: a reduced grid that includes n=256, L=20, k=2,
    and neural-tangents is not timed (its import and XLA compilation alone take about a minute)."""
    dev = torch.device(device)
    with one_thread() if dev.type == "cpu" else contextlib.nullcontext():
        grid = QUICK_GRID if quick else FULL_GRID
        min_seconds, repeats = (0.2, 5) if quick else (0.5, 9)
        rows = [_sampler_row(n, L, k, dev, min_seconds, repeats) for n, L, k in grid]
        chi2 = _chi2_row(dev, min_seconds, repeats)
        eff = _efficiency_rows(dev, 5000 if quick else 40000)
    if quick:
        skip = {"nt_measured": False, "nt_note": "not timed in quick mode (dltv bench --full times it when installed)"}
        nt2 = nt1 = skip
    elif dev.type != "cpu":
        nt2 = nt1 = {"nt_measured": False, "nt_note": "timed on the CPU only (one thread), not beside a GPU run"}
    else:
        nt2, nt1 = neural_tangents_rate(*TARGET), neural_tangents_rate(*CHI2_CASE)
    for r in rows:
        if r["case"] == "n={} L={} k={}".format(*TARGET):
            _with_neural_tangents(r, nt2, "collapsed_nets_per_s", NT_TARGET, r.pop("ok_floor"))
    _with_neural_tangents(chi2, nt1, "chi2_nets_per_s", CHI2_NT_TARGET, None)
    rows = rows + [chi2] + eff
    for r in rows:
        r["device"] = str(dev)
    return rows


if __name__ == "__main__":  # pragma: no cover - manual use
    for row in run(quick="--full" not in sys.argv, device=sys.argv[1] if len(sys.argv) > 1 and
                   not sys.argv[1].startswith("-") else "cpu"):
        print({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()})
