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


def format_table(rows: list[dict], width: int = 100) -> str:
    """Plain-text tables of the rows, one per ``bench`` kind, each line at most ``width`` wide.

    Columns that do not fit go into a further block that repeats the row's ``case``
    (or first column), so that a terminal of ``width`` columns shows every number.
    """
    if not rows:
        return "(no benchmarks)"
    groups: dict[str, list[dict]] = {}
    for r in rows:
        groups.setdefault(str(r.get("bench", "")), []).append(r)
    return "\n\n".join(_blocks(g, width) for g in groups.values())


def _blocks(rows: list[dict], width: int) -> str:
    cols: list[str] = []
    for r in rows:
        cols += [k for k in r if k not in cols]
    key = "case" if "case" in cols else cols[0]
    cells = {c: [_cell(r.get(c)) for r in rows] for c in cols}
    w = {c: min(max(len(c), *(len(v) for v in cells[c])), width - 2) for c in cols}
    blocks, current = [], [key]
    for c in cols:
        if c == key:
            continue
        if sum(w[x] + 2 for x in current) + w[c] > width and len(current) > 1:
            blocks.append(current)
            current = [key]
        current.append(c)
    blocks.append(current)
    out = []
    for block in blocks:
        line = lambda vals: "  ".join(v[:w[c]].ljust(w[c]) for v, c in zip(vals, block)).rstrip()
        out += [line(block), line(["-" * w[c] for c in block])]
        out += [line([cells[c][i] for c in block]) for i in range(len(rows))]
        out.append("")
    return "\n".join(out).rstrip()


def _cell(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)
