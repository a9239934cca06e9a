"""Validity maps: where in (width, depth) each prediction holds, as sweeps on Dask.

A *quantity* is measured on a grid of widths n and depths L: one coarse task per cell
(many networks, seconds of work), its seed derived from the cell alone, so the result
does not depend on which worker ran it.  Each cell returns the estimate with its SE
and, for every prediction of the quantity (infinite width, with the 1/n correction,
exact where known), its value; :func:`build_map` turns the cells into z-scores, the
relative errors and, per width, the largest L/n up to which each prediction holds.

A prediction *holds* at a cell when |z| ≤ z_crit, with z_crit from the suite's
false-alarm budget split over the map's cells (Bonferroni), so a true prediction is
rejected anywhere on the map with probability ≤ α.

Cells run on ``dask.distributed``: a local cluster by default, an existing one
through ``scheduler``.  Every finished cell is stored at once in a content-addressed
cache (a hash of the quantity, its parameters, seed, budget, dltv's version and the
source of the modules it runs), so a rerun computes nothing and an interrupted sweep
recomputes only its missing cells; a change of that code changes the key.
"""
from __future__ import annotations

import contextlib
import hashlib
import importlib
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from dltv.checks import stats

# ----------------------------------------------------------------------------- quantities
@dataclass(frozen=True)
class Quantity:
    """A swept quantity.

    ``measure(n, L, budget, seed, device) -> {"estimate", "se"}`` is the Monte-Carlo
    part (one cell, on a worker, cached); ``predict(n, L) -> {name: value}`` the theory
    (in the calling process: cheap, never cached).  A prediction that is itself a Monte-Carlo
    integral (e.g. Hanin–Rolnick's expected number of regions) is measured in the cell, on
    networks independent of the estimate's: ``measure`` then also returns
    ``"predicted": {name: {"value", "se"}}`` and the map's z uses both standard errors.
    ``sources`` are the dltv modules whose code ``measure`` runs; they enter the cache key.
    ``in_report``: the quantity's map is part of ``dltv report`` at its default settings
    (every quantity is with ``--full``).
    """

    id: str
    statement: str
    measure: Callable[..., dict] = field(repr=False)
    predict: Callable[[int, int], dict] = field(repr=False)
    predictions: tuple[str, ...]
    sources: tuple[str, ...]
    default_widths: tuple[int, ...]
    default_depths: tuple[int, ...]
    default_budget: int
    full_widths: tuple[int, ...] = ()
    full_depths: tuple[int, ...] = ()
    full_budget: int = 0
    reads: str = ""  # what the map shows, in words, for the report
    in_report: bool = True


_QUANTITIES: dict[str, Quantity] = {}
_AREAS_WITH_SWEEPS = ("correlations", "regions", "bottleneck")


def quantity(q: Quantity) -> Quantity:
    if q.id in _QUANTITIES:
        raise RuntimeError(f"sweep quantity {q.id!r} registered twice")
    _QUANTITIES[q.id] = q
    return q


def quantities() -> dict[str, Quantity]:
    """Every sweep quantity, by id (imports ``dltv.checks.sweep_<area>``)."""
    for area in _AREAS_WITH_SWEEPS:
        try:
            importlib.import_module(f"dltv.checks.sweep_{area}")
        except ModuleNotFoundError as err:
            if err.name != f"dltv.checks.sweep_{area}":
                raise
    return dict(sorted(_QUANTITIES.items()))


def get_quantity(qid: str) -> Quantity:
    qs = quantities()
    if qid not in qs:
        raise ValueError(f"unknown sweep quantity {qid!r}; one of: {', '.join(qs)}")
    return qs[qid]


# ----------------------------------------------------------------------------- grid
def parse_grid(name: str, values) -> tuple[int, ...]:
    """A comma list (or sequence) of positive integers, sorted and unique; ValueError naming ``name``."""
    if isinstance(values, str):
        items = [v.strip() for v in values.split(",") if v.strip()]
    else:
        items = list(values)
    if not items:
        raise ValueError(f"{name} must list at least one integer >= 1, got {values!r}")
    out = []
    for v in items:
        try:
            iv = int(v)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be integers >= 1, got {v!r}") from None
        if isinstance(v, float) and v != iv or isinstance(v, bool) or iv < 1:
            raise ValueError(f"{name} must be integers >= 1, got {v!r}")
        out.append(iv)
    return tuple(sorted(set(out)))


def cell_seed(qid: str, n: int, L: int, seed: int) -> int:
    """The cell's seed: a hash of (quantity, n, L, run seed), independent of the worker."""
    digest = hashlib.sha256(f"{qid}|{n}|{L}|{seed}".encode()).digest()
    return int.from_bytes(digest[:7], "little")


def source_digest(modules: Sequence[str]) -> str:
    """SHA-256 over the source files of the named dltv modules."""
    h = hashlib.sha256()
    for name in sorted(modules):
        path = importlib.import_module(name).__file__
        h.update(name.encode() + b"\0" + Path(path).read_bytes())
    return h.hexdigest()


def cell_key(q: Quantity, n: int, L: int, seed: int, budget: int, device: str) -> str:
    from dltv import __version__

    payload = json.dumps({"quantity": q.id, "n": n, "L": L, "seed": seed, "budget": budget,
                          "device": device.split(":")[0], "version": __version__,
                          "source": source_digest(q.sources + (__name__,))}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


# ----------------------------------------------------------------------------- cache
def default_cache() -> Path:
    """``$DLTV_CACHE``, else ``$XDG_CACHE_HOME/dltv``, else ``~/.cache/dltv``."""
    if os.environ.get("DLTV_CACHE"):
        return Path(os.environ["DLTV_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "dltv"


class Cache:
    """One JSON file per cell under ``root/sweeps/<quantity>/``, written atomically."""

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root) if root is not None else default_cache()

    def _path(self, qid: str, key: str) -> Path:
        return self.root / "sweeps" / qid / f"{key}.json"

    def get(self, qid: str, key: str) -> dict | None:
        try:
            return json.loads(self._path(qid, key).read_text())
        except (OSError, ValueError):
            return None

    def put(self, qid: str, key: str, value: dict) -> None:
        from dltv.checks.report import atomic_write

        path = self._path(qid, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, json.dumps(value).encode())

    def check_writable(self) -> None:
        probe = self.root
        while not probe.exists():
            probe = probe.parent
        if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
            raise ValueError(f"cache: {str(self.root)!r} is not a writable folder")


# ----------------------------------------------------------------------------- running
class SweepError(RuntimeError):
    """Some cells failed; the finished ones are in the cache."""


def run_cell(measure: Callable[..., dict], n: int, L: int, budget: int, seed: int, device: str) -> dict:
    """Measure one cell (runs on a Dask worker); one torch thread per task."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    start = time.perf_counter()
    try:
        out = measure(n=n, L=L, budget=budget, seed=seed, device=device)
    finally:
        torch.set_num_threads(before)
    out = dict(out, n=n, L=L, seed=seed, budget=budget, seconds=time.perf_counter() - start)
    for key in ("estimate", "se"):
        if not math.isfinite(out[key]):
            raise ValueError(f"cell n={n} L={L}: {key} is not finite ({out[key]!r})")
    return out


@dataclass
class SweepResult:
    quantity: Quantity
    widths: tuple[int, ...]
    depths: tuple[int, ...]
    cells: list[dict]
    computed: int  # cells computed in this run (the rest came from the cache)
    seconds: float


def plan(qid: str | Quantity, widths, depths, *, budget: int | None = None, seed: int = 0,
         device: str = "cpu", full: bool = False) -> tuple[Quantity, tuple, tuple, int, list[tuple]]:
    """Validate the sweep; return (quantity, widths, depths, budget, cells as (n, L, cell seed))."""
    q = qid if isinstance(qid, Quantity) else get_quantity(qid)
    widths = parse_grid("widths", widths if widths is not None else (q.full_widths if full and q.full_widths
                                                                      else q.default_widths))
    depths = parse_grid("depths", depths if depths is not None else (q.full_depths if full and q.full_depths
                                                                      else q.default_depths))
    if budget is None:
        budget = q.full_budget if full and q.full_budget else q.default_budget
    if isinstance(budget, bool) or int(budget) != budget or budget < 2:
        raise ValueError(f"budget must be an integer >= 2 (networks per cell), got {budget!r}")
    if isinstance(seed, bool) or int(seed) != seed or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    cells = [(n, L, cell_seed(q.id, n, L, int(seed))) for n in widths for L in depths]
    return q, widths, depths, int(budget), cells


def run_sweep(qid: str | Quantity, widths=None, depths=None, *, budget: int | None = None, seed: int = 0,
              device: str = "cpu", full: bool = False, cache: Cache | None = None,
              scheduler: str | None = None, workers: int | None = None, client=None,
              progress: Callable[[str], None] | None = None, bar: bool = False) -> SweepResult:
    """Run (or read from the cache) every cell of the sweep; see the module docstring.

    ``client``: an existing ``dask.distributed.Client``; else ``scheduler`` (an address)
    or a local cluster of ``workers`` processes (default: one per core).  ``workers=0``
    runs the cells in this process, without Dask.
    """
    q, widths, depths, budget, cells = plan(qid, widths, depths, budget=budget, seed=seed,
                                            device=device, full=full)
    cache = cache or Cache()
    cache.check_writable()
    start = time.perf_counter()
    keys = {(n, L): cell_key(q, n, L, s, budget, device) for n, L, s in cells}
    done = {nl: v for nl, k in keys.items() if (v := cache.get(q.id, k)) is not None}
    todo = [(n, L, s) for n, L, s in cells if (n, L) not in done]
    tick = _progress_bar(len(cells), len(done), bar)

    def record(res):
        nl = (res["n"], res["L"])
        cache.put(q.id, keys[nl], res)
        done[nl] = res
        tick()
        if progress:
            progress(f"{q.id} n={res['n']} L={res['L']}: {res['estimate']:.6g} ± {res['se']:.2g} "
                     f"({res['seconds']:.1f} s)")

    failed = []
    try:
        if todo and workers == 0 and client is None and scheduler is None:
            for n, L, s in todo:
                record(run_cell(q.measure, n, L, budget, s, device))
        elif todo or scheduler:  # a named scheduler is checked even when the cache has every cell
            with _client(client, scheduler, workers, device) as c:
                from distributed import as_completed

                futures = [c.submit(run_cell, q.measure, n, L, budget, s, device, pure=False,
                                    key=f"dltv-{q.id}-{n}-{L}-{keys[(n, L)][:12]}") for n, L, s in todo]
                for fut in as_completed(futures):
                    try:
                        record(fut.result())
                    except Exception as err:  # keep collecting: every finished cell is cached
                        failed.append(f"{type(err).__name__}: {err}")
    finally:
        tick(close=True)
    if failed:
        raise SweepError(f"{len(failed)} of {len(cells)} cells failed ({failed[0]}); the "
                         f"{len(done)} finished cells are cached: run the sweep again to compute the rest")
    ordered = [done[(n, L)] for n, L, _ in cells]
    return SweepResult(q, widths, depths, ordered, len(todo), time.perf_counter() - start)


class _client:
    """A Dask client for the sweep: the given one, one on ``scheduler``, or a local cluster.

    For ``device="cuda"`` the local cluster has one worker per GPU: dask-cuda's
    ``LocalCUDACluster`` where it is installed (it pins each worker to its GPU), else a
    plain cluster of that many single-threaded workers.
    """

    def __init__(self, client, scheduler, workers, device: str = "cpu"):
        self.given, self.scheduler, self.workers, self.device = client, scheduler, workers, device
        self.own = self.cluster = None

    def __enter__(self):
        if self.given is not None:
            return self.given
        from distributed import Client, LocalCluster

        if self.scheduler:
            try:
                self.own = Client(self.scheduler, timeout="10s")
            except (OSError, TimeoutError) as err:
                raise ValueError(f"scheduler {self.scheduler!r} cannot be reached: {err}") from None
            return self.own
        if self.device.startswith("cuda"):
            import torch

            n = self.workers or torch.cuda.device_count() or 1
            try:
                from dask_cuda import LocalCUDACluster
            except ImportError:
                LocalCUDACluster = None
            if LocalCUDACluster is not None:
                self.cluster = LocalCUDACluster(n_workers=n, threads_per_worker=1, dashboard_address=None)
                self.own = Client(self.cluster)
                return self.own
        else:
            n = self.workers or os.cpu_count() or 1
        self.cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                    dashboard_address=None, silence_logs=40)
        self.own = Client(self.cluster)
        return self.own

    def __exit__(self, *exc):
        if self.own is not None:
            self.own.close()
        if self.cluster is not None:
            self.cluster.close()


def _progress_bar(total: int, already: int, show: bool):
    if not show:
        return lambda close=False: None
    from tqdm import tqdm

    bar = tqdm(total=total, initial=already, unit="cell", desc="sweep", leave=False)

    def tick(close=False):
        bar.close() if close else bar.update(1)

    return tick


def dry_run(qid: str, widths=None, depths=None, *, budget=None, seed=0, device="cpu", full=False,
            cache: Cache | None = None) -> dict:
    """How many cells a sweep would compute, and a rough time estimate from cached cells."""
    q, widths, depths, budget, cells = plan(qid, widths, depths, budget=budget, seed=seed,
                                            device=device, full=full)
    cache = cache or Cache()
    cached = [cache.get(q.id, cell_key(q, n, L, s, budget, device)) for n, L, s in cells]
    have = [c for c in cached if c is not None]
    # cost per cell ~ budget · n · L (collapsed sampler); scale the cached cells' mean rate
    rate = (sum(c["seconds"] for c in have) / sum(c["budget"] * c["n"] * c["L"] for c in have)) if have else None
    missing = [(n, L) for (n, L, _), c in zip(cells, cached) if c is None]
    if not missing:
        return {"quantity": q.id, "cells": len(cells), "cached": len(have), "to_compute": 0,
                "widths": list(widths), "depths": list(depths), "budget": budget, "estimated_seconds": 0.0}
    est = rate * sum(budget * n * L for n, L in missing) if rate else None
    return {"quantity": q.id, "cells": len(cells), "cached": len(have), "to_compute": len(missing),
            "widths": list(widths), "depths": list(depths), "budget": budget,
            "estimated_seconds": None if est is None else round(est, 1)}


# ----------------------------------------------------------------------------- the map
def z_critical_for(n_cells: int) -> float:
    """|z| threshold of a map: the suite's α split over its cells."""
    return stats.z_critical(stats.SUITE_ALPHA / max(n_cells, 1))


def cell_predictions(q: Quantity, cell: dict) -> dict[str, tuple[float, float]]:
    """Every prediction of ``q`` at a cell as (value, SE): the theory's (SE 0) and those the
    cell measured (``cell["predicted"]``); ValueError if one is missing."""
    out = {name: (float(v), 0.0) for name, v in q.predict(cell["n"], cell["L"]).items()}
    out |= {name: (float(p["value"]), float(p["se"])) for name, p in cell.get("predicted", {}).items()}
    missing = [name for name in q.predictions if name not in out]
    if missing:
        raise ValueError(f"{q.id} n={cell['n']} L={cell['L']}: no value for prediction(s) {', '.join(missing)}")
    return out


def z_score(estimate: float, se: float, prediction: float, prediction_se: float = 0.0) -> float:
    """(estimate − prediction)/√(SE² + SE_prediction²): the two are independent measurements."""
    s = math.hypot(se, prediction_se)
    if s > 0:
        return (estimate - prediction) / s
    return 0.0 if estimate == prediction else math.copysign(math.inf, estimate - prediction)


def build_map(result: SweepResult) -> dict:
    """Per cell and prediction: z, relative error and resolution; per width and prediction,
    the largest L/n up to which the prediction holds at every shallower depth of the grid.

    ``resolution`` (per cell) is z_crit·SE/|estimate|; ``<prediction>.resolution`` the smallest
    relative error of that prediction the cell would detect, z_crit·√(SE² + SE_pred²)/|prediction|.
    """
    q, cells = result.quantity, result.cells
    z_crit = z_critical_for(len(cells))
    rows = []
    for c in cells:
        row = {"n": c["n"], "L": c["L"], "L_over_n": c["L"] / c["n"], "estimate": c["estimate"],
               "se": c["se"], "budget": c["budget"], "seed": c["seed"],
               "resolution": z_crit * c["se"] / abs(c["estimate"]) if c["estimate"] else None}
        predicted = cell_predictions(q, c)
        for name in q.predictions:
            pred, pred_se = predicted[name]
            z = z_score(c["estimate"], c["se"], pred, pred_se)
            row[f"{name}.prediction"] = pred
            row[f"{name}.prediction_se"] = pred_se
            row[f"{name}.z"] = z
            row[f"{name}.rel_error"] = (c["estimate"] - pred) / pred if pred else None
            row[f"{name}.resolution"] = z_crit * math.hypot(c["se"], pred_se) / abs(pred) if pred else None
            row[f"{name}.holds"] = bool(abs(z) <= z_crit)
        rows.append(row)
    boundary = {}
    for name in q.predictions:
        per_width = {}
        for n in result.widths:
            ok = None
            for L in result.depths:
                r = next(r for r in rows if r["n"] == n and r["L"] == L)
                if not r[f"{name}.holds"]:
                    break
                ok = L / n
            per_width[str(n)] = ok
        boundary[name] = per_width
    return {"quantity": q.id, "statement": q.statement, "reads": q.reads, "z_crit": z_crit,
            "suite_alpha": stats.SUITE_ALPHA, "widths": list(result.widths), "depths": list(result.depths),
            "predictions": list(q.predictions), "cells": rows,
            "boundary_L_over_n": boundary, "computed": result.computed, "seconds": round(result.seconds, 2)}


def map_figure(data: dict):
    """Heat maps of z over (n, L), one panel per prediction, with the |z| = z_crit contour."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.colors import SymLogNorm

    widths, depths, preds = data["widths"], data["depths"], data["predictions"]
    z_crit = data["z_crit"]
    fig, axes = plt.subplots(1, len(preds), figsize=(4.2 * len(preds) + 0.8, 3.8), squeeze=False,
                             constrained_layout=True)
    norm = SymLogNorm(linthresh=z_crit, vmin=-1e3, vmax=1e3)
    for ax, name in zip(axes[0], preds):
        Z = np.array([[next(r[f"{name}.z"] for r in data["cells"] if r["n"] == n and r["L"] == L)
                       for n in widths] for L in depths], dtype=float)
        Z = np.clip(np.nan_to_num(Z, nan=0.0, posinf=1e3, neginf=-1e3), -1e3, 1e3)
        im = ax.pcolormesh(np.arange(len(widths) + 1), np.arange(len(depths) + 1), Z, cmap="RdBu_r",
                           norm=norm, shading="flat")
        if len(widths) > 1 and len(depths) > 1:
            ax.contour(np.arange(len(widths)) + 0.5, np.arange(len(depths)) + 0.5, np.abs(Z),
                       levels=[z_crit], colors="k", linewidths=1.5)
        for i, L in enumerate(depths):
            for j, n in enumerate(widths):
                ok = abs(Z[i, j]) <= z_crit
                ax.text(j + 0.5, i + 0.5, "✓" if ok else "", ha="center", va="center", fontsize=8)
        ax.set_xticks(np.arange(len(widths)) + 0.5, [str(w) for w in widths])
        ax.set_yticks(np.arange(len(depths)) + 0.5, [str(d) for d in depths])
        ax.set_xlabel("width n")
        ax.set_ylabel("depth L (hidden layers)")
        ax.set_title(f"{name}: z (✓ where |z| ≤ {z_crit:.1f})", fontsize=10)
    measured = any(r.get(f"{name}.prediction_se") for r in data["cells"] for name in preds)
    label = "z = (estimate − prediction)/√(SE² + SE_pred²)" if measured else "z = (estimate − prediction)/SE"
    bar = fig.colorbar(im, ax=axes[0].tolist(), label=label, shrink=0.9)
    bar.set_ticks([-1000, -100, -10, 0, 10, 100, 1000])
    bar.set_ticklabels(["≤ −1000", "−100", "−10", "0", "10", "100", "≥ 1000"])
    fig.suptitle(data["quantity"], fontsize=11)
    return fig


def write_map(data: dict, out: str | os.PathLike) -> dict:
    """PNG, JSON and CSV of one map in ``out`` (each written atomically); returns the paths."""
    import csv
    import io

    from dltv.checks.report import atomic_write

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    stem = data["quantity"].replace("/", "_")
    paths = {"json": out / f"{stem}.json", "csv": out / f"{stem}.csv", "png": out / f"{stem}.png"}
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(data["cells"][0]))
    writer.writeheader()
    writer.writerows(data["cells"])
    atomic_write(paths["json"], (json.dumps(data, indent=1) + "\n").encode())
    atomic_write(paths["csv"], buf.getvalue().encode())
    atomic_write(paths["png"], map_png(data))
    return {k: str(v) for k, v in paths.items()}


def map_png(data: dict) -> bytes:
    import io

    import matplotlib.pyplot as plt

    fig = map_figure(data)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def report_maps(*, full: bool = False, device: str = "cpu", cache: Cache | None = None,
                workers: int | None = None, progress: Callable[[str], None] | None = None) -> list[tuple[dict, bytes]]:
    """The report's maps: every quantity marked ``in_report`` on its default grid, or with
    ``full`` every registered quantity on its full grid.

    One local cluster serves all of them; cached cells are not recomputed.
    """
    out = []
    todo = [q for q in quantities().values() if full or q.in_report]
    if not todo:
        return out
    cache = cache or Cache()
    with _client(None, None, workers, device) if workers != 0 else contextlib.nullcontext() as client:
        for q in todo:
            r = run_sweep(q, None, None, device=device, full=full, cache=cache, client=client,
                          workers=workers)
            data = build_map(r)
            out.append((data, map_png(data)))
            if progress:
                progress(f"[map] {q.id}: {len(r.cells)} cells ({r.computed} computed) in {r.seconds:.1f} s")
    return out
