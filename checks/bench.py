"""``dltv bench``: throughput benchmarks contributed by the areas.

Each area may provide ``checks/bench_<area>.py`` with ``run(quick, device) -> list[dict]``;
every row names its ``bench`` and ``case`` and reports ``seconds`` plus whatever the
area measures (throughput, speed-up, target, ok).
"""
from __future__ import annotations

import importlib

from dltv.theory.formulas import AREAS


def bench_modules() -> dict:
    found = {}
    for area in AREAS:
        try:
            found[area] = importlib.import_module(f"dltv.checks.bench_{area}")
        except ModuleNotFoundError as err:
            if err.name != f"dltv.checks.bench_{area}":
                raise
    return found


def run_benchmarks(areas: list[str] | None, quick: bool, device: str, progress=None) -> list[dict]:
    """Rows from every selected area's benchmark, in area order."""
    modules = bench_modules()
    chosen = areas or list(modules)
    for a in chosen:
        if a not in modules:
            raise ValueError(f"area must be one of {', '.join(modules) or '(none with benchmarks)'}; got {a!r}")
    rows = []
    for a in chosen:
        if progress:
            progress(f"bench {a} ...")
        rows += modules[a].run(quick=quick, device=device)
    return rows


def format_table(rows: list[dict]) -> str:
    """A plain-text table with the union of the rows' keys as columns."""
    if not rows:
        return "(no benchmarks)"
    cols = []
    for r in rows:
        cols += [k for k in r if k not in cols]
    cells = [[_cell(r.get(c)) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    line = lambda vals: "  ".join(v.ljust(w) for v, w in zip(vals, widths)).rstrip()
    return "\n".join([line(cols), line(["-" * w for w in widths])] + [line(r) for r in cells])


def _cell(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)
