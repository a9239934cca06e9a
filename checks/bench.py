"""``dltv bench``: throughput benchmarks contributed by the areas.

Each area may provide ``checks/bench_<area>.py`` (and the further modules listed in
``EXTRA_MODULES``) with ``run(quick, device) -> list[dict]``. Every row names its
``bench`` and ``case``, reports ``seconds`` plus whatever the area measures, and states its
``target`` (text) and whether it was met (``ok``: true, false, or null for a row that only
reports a number). ``dltv bench --json`` prints the rows as they are.
"""
from __future__ import annotations

import importlib

from dltv import AREAS

#: benchmark modules beyond ``bench_<area>``, per area
EXTRA_MODULES = {"correlations": ("bench_formulas",)}


def _optional_module(name: str):
    try:
        return importlib.import_module(f"dltv.checks.{name}")
    except ModuleNotFoundError as err:
        if err.name != f"dltv.checks.{name}":
            raise
        return None


def bench_modules() -> dict[str, list]:
    """Each area with benchmarks -> its benchmark modules, in the order they run."""
    found = {}
    for area in (*AREAS, "inspect"):
        names = (f"bench_{area}", *EXTRA_MODULES.get(area, ()))
        modules = [m for m in map(_optional_module, names) if m is not None]
        if modules:
            found[area] = modules
    return found


def run_benchmarks(areas: list[str] | None, quick: bool, device: str, progress=None) -> list[dict]:
    """Rows from every selected area's benchmarks, in area order, each with ``target`` and ``ok``."""
    modules = bench_modules()
    chosen = areas or list(modules)
    for a in chosen:
        if a not in modules:
            raise ValueError(f"area must be one of {', '.join(modules) or '(none with benchmarks)'}; got {a!r}")
    rows = []
    for a in chosen:
        for module in modules[a]:
            if progress:
                progress(f"bench {module.__name__.rsplit('.', 1)[-1]} ...")
            rows += [_with_target(r) for r in module.run(quick=quick, device=device)]
    return rows


def _with_target(row: dict) -> dict:
    """The row with ``target`` and ``ok`` present (``None`` where it only reports a number)."""
    row = dict(row)
    row.setdefault("target", None)
    row.setdefault("ok", None)
    if row["ok"] is not None:
        row["ok"] = bool(row["ok"])
    return row


def target_summary(rows: list[dict]) -> str:
    """One line: how many rows with a target met it, and which did not."""
    judged = [r for r in rows if r.get("ok") is not None]
    missed = [f"{r.get('bench')} {r.get('case')}" for r in judged if not r["ok"]]
    line = f"targets met: {len(judged) - len(missed)} of {len(judged)}"
    return line + (f" (not met: {'; '.join(missed)})" if missed else "")


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
