"""``dltv bench`` rows for ``dltv inspect``: the exact planar partition of a 2-d ReLU net and its picture."""
from __future__ import annotations

import io
import time

import torch

from dltv.numerics.models import from_pairs


def _net(widths, seed: int):
    g = torch.Generator().manual_seed(seed)
    return from_pairs([(torch.randn(o, i, generator=g, dtype=torch.float64) * (2 / i) ** 0.5,
                        torch.randn(o, generator=g, dtype=torch.float64) * 0.3)
                       for i, o in zip(widths[:-1], widths[1:])])


def run(quick: bool, device: str) -> list[dict]:
    """Exact partitions of random 2-d ReLU nets (He weights, biases N(0, 0.09)) in [-2, 2]^2.

    Pure-Python integer arithmetic (python-flint for the per-layer products when installed), so
    ``device`` is not used.  Target: ~10^4 regions counted, and drawn, in seconds; ``cpu_seconds``
    (this process's CPU time) shows the cost on a shared machine, where wall time waits for a core.
    """
    import matplotlib.pyplot as plt

    from dltv.checks.inspect import inspect_regions, regions_figure

    cases = [[2, 64, 64, 1]] if quick else [[2, 32, 32, 1], [2, 64, 64, 1], [2, 80, 80, 1], [2, 32, 32, 32, 32, 1]]
    rows = []
    for widths in cases:
        t, cpu = time.perf_counter(), time.process_time()
        res = inspect_regions(_net(widths, 0), box=(-2, 2, -2, 2))
        sec, cpu = time.perf_counter() - t, time.process_time() - cpu
        t = time.perf_counter()
        fig = regions_figure(res)
        fig.savefig(io.BytesIO(), format="png")
        plt.close(fig)
        draw = time.perf_counter() - t
        big = res.activation_regions >= 5000
        rows.append({"bench": "inspect.planar", "case": "widths " + ",".join(map(str, widths)), "seconds": sec,
                     "cpu_seconds": cpu, "regions": res.activation_regions, "draw_seconds": draw,
                     "target": "<= 10 s count" if big else "report", "ok": sec <= 10 if big else True})
    return rows
