"""``dltv bench`` rows for the regions area: exact region counting of the triangle construction."""
from __future__ import annotations

import random
import time
from fractions import Fraction

import dltv.numerics.regions as nr


def _peaks(rnd: random.Random, n: int) -> list[Fraction]:
    return [Fraction(rnd.randint(10, 90), 100) for _ in range(n)]


def run(quick: bool, device: str) -> list[dict]:
    """Counts through the network (exact, integer arithmetic) to depth 16 and depth-20 count by the generator.

    Exact counting is pure-Python integer arithmetic, so ``device`` is not used.
    """
    rnd = random.Random(2311)
    rows = []
    cases = [("network", 12), ("network", 14), ("network", 16)] if not quick else [("network", 14)]
    for kind, d in cases:
        a = _peaks(rnd, d)
        s = [Fraction(rnd.randint(1, 100), 100) for _ in range(d)]
        t = time.perf_counter()
        rc = nr.count_regions(nr.exact_triangle_layers(a, s))
        sec = time.perf_counter() - t
        rows.append({"bench": "regions.count", "case": f"{kind} depth={d}", "seconds": sec,
                     "regions": rc.activation_regions, "target": "report", "ok": rc.activation_regions == 2 ** d})
    for d in ([16, 20] if not quick else [20]):
        a = _peaks(rnd, d)
        t = time.perf_counter()
        n = nr.triangle_region_count(a)
        sec = time.perf_counter() - t
        rows.append({"bench": "regions.count", "case": f"generator depth={d}", "seconds": sec, "regions": n,
                     "target": "<= 10 s" if d == 20 else "report", "ok": n == 2 ** d and (d != 20 or sec <= 10)})
    return rows
