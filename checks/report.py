"""The verification report: results.json, index.md, index.html and PNG figures.

Written at the end of every ``pytest checks`` and ``dltv report`` run, whatever the
verdicts.  Every file is first written to a temporary file inside the report folder
and moved into place with ``os.replace``, so a run that dies leaves the previous
report readable; ``index.html`` is replaced last.
"""
from __future__ import annotations

import base64
import datetime as dt
import html
import json
import os
import platform
import re
import subprocess
import tempfile
from importlib import metadata
from pathlib import Path

from dltv.checks import stats
from dltv.checks.claims import Result

PACKAGES = ("dltv", "torch", "sympy", "mpmath", "numpy", "scipy", "matplotlib")


def versions() -> dict:
    out = {"python": platform.python_version()}
    for pkg in PACKAGES:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    return out


def git_commit() -> str | None:
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                             text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def report_folder(out: str | os.PathLike, *, partial: bool, chosen: bool = False) -> Path:
    """Where a run writes: ``out`` for a complete run, ``out/partial`` for a part of the claims.

    A run of some claims (``--claims``, ``pytest -k``) never replaces the report of all
    of them: it goes to ``out/partial``, or, when the user chose ``out`` and it holds no
    complete report, to ``out`` itself.
    """
    out = Path(out)
    if not partial or (chosen and not holds_complete_report(out)):
        return out
    return out / "partial"


def holds_complete_report(folder: Path) -> bool:
    """Whether ``folder/results.json`` is the report of a complete run."""
    try:
        meta = json.loads((Path(folder) / "results.json").read_text())["meta"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return isinstance(meta, dict) and meta.get("settings", {}).get("claims") is None


def check_writable(out: str | os.PathLike) -> Path:
    """``out`` as a folder the report can be written to, checked before any claim runs."""
    path = Path(out)
    probe = path
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise ValueError(f"out must be a folder, but {str(probe)!r} is a file")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ValueError(f"out: folder {str(probe)!r} is not writable")
    return path


def source_hash() -> str:
    """SHA-256 over the installed dltv package's Python files (names and contents).

    Identifies the code that ran when there is no git commit (a ``pip install .``).
    """
    import hashlib

    import dltv

    h = hashlib.sha256()
    root = Path(dltv.__file__).resolve().parent
    roots = [root] + [Path(m.__path__[0]).resolve() for m in _subpackages()]
    for base in roots:
        for f in sorted(base.glob("*.py")):
            h.update(f"{base.name}/{f.name}\0".encode())
            h.update(f.read_bytes())
    return h.hexdigest()


def _subpackages():
    import dltv.checks
    import dltv.numerics
    import dltv.theory

    return (dltv.theory, dltv.numerics, dltv.checks)


def map_figure_name(m: dict) -> str:
    return figure_name("map", m["quantity"])


def figure_name(claim_id: str, name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", f"{claim_id}--{name}") + ".png"


def formula_coverage(results: list[Result]) -> dict:
    """Which registered formulas supplied a prediction to some claim of this run."""
    from dltv.theory.formulas import all_formulas

    registered = sorted(all_formulas())
    used = set().union(*(r.formulas for r in results)) if results else set()
    return {"registered": len(registered), "checked": sorted(used & set(registered)),
            "unchecked": [f for f in registered if f not in used]}


def build_json(results: list[Result], settings: dict, seconds: float) -> dict:
    claims = [r.to_json() for r in results]
    for c, r in zip(claims, results):
        c["figures"] = [f"figures/{figure_name(r.claim.id, n)}" for n in sorted(r.figures)]
    passed = sum(r.passed for r in results)
    return {
        "meta": {
            "generated": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "versions": versions(), "commit": git_commit(), "source_sha256": source_hash(),
            "seconds": round(seconds, 2),
            "settings": settings, "suite_alpha": stats.SUITE_ALPHA,
            "counts": {"claims": len(results), "pass": passed, "fail": len(results) - passed},
            "formulas": formula_coverage(results),
        },
        "claims": claims,
    }


def _fmt(x) -> str:
    if x is None:
        return "—"
    if isinstance(x, str):
        return x
    return f"{x:.6g}"


def _pct(x) -> str:
    if x is None:
        return "—"
    if isinstance(x, str):
        return x
    return f"{100 * x:.2g} %" if x >= 1e-4 else f"{x:.1e}"


def resolution_text(entry: dict) -> str:
    """A claim's or point's resolution in words: '0.42 %' (relative) or '±3e-05' (absolute)."""
    res, kind = entry.get("resolution"), entry.get("resolution_kind")
    if res is None:
        return "—"
    if kind == "absolute":
        return f"±{_fmt(res)}"
    return _pct(res)


_RULES = {"equal": "=", "le": "≤", "ge": "≥"}


def summary_rows(data: dict) -> list[dict]:
    """One row per claim for the summary table, in words a reader understands."""
    rows = []
    for cl in data["claims"]:
        ctl = cl["control"] or {}
        rows.append({
            "id": cl["id"], "verdict": cl["verdict"],
            "predicted": cl.get("predicted") or cl["statement"],
            "measured": cl.get("measured") or ("stochastic" if cl["kind"] == "stochastic" else "exact"),
            "points": cl.get("n_points", len(cl["points"])),
            "worst": "error" if cl["error"] else _fmt(cl.get("score")),
            "worst_point": cl.get("worst_point") or "",
            "control": _fmt(ctl.get("margin")),
            "rejected": f"{ctl.get('n_rejected', 0)}/{ctl.get('n_points', 0)}",
            "resolution": resolution_text(cl),
            "target": {True: "met", False: "not met", None: "—"}[cl.get("targets_met")],
            "seconds": cl["seconds"],
        })
    return rows


_LEGEND = (
    "*worst* is the largest share of its allowance any point used: |estimate − prediction| (or the "
    "distance past a bound) over z_crit·SE + slack (Monte Carlo) or tol + slack (exact); ≤ 1 passes. "
    "*weakest control* is the smallest such ratio for a control prediction; > 1 rejects it, and every "
    "point's control must be rejected. *resolution* is the smallest relative error of a prediction the "
    "claim would have detected at its weakest point (± an absolute error where the prediction is 0).")


def build_markdown(data: dict) -> str:
    meta = data["meta"]
    c = meta["counts"]
    lines = [
        "# dltv verification report", "",
        f"{c['pass']} of {c['claims']} claims pass · commit `{meta['commit'] or 'unknown'}` · "
        f"{meta['generated']} · {meta['seconds']} s · settings {meta['settings']}", "",
        f"Stochastic claims share one false-alarm budget α = {meta['suite_alpha']:g} (Bonferroni over "
        "claims and their points): a point passes when |estimate − prediction| ≤ z·SE + slack. "
        "Every claim carries a negative control — a plausible wrong prediction — that the same "
        "rule must reject. Deterministic points use the stated tolerance (z = error / tol, threshold 1).", "",
        _LEGEND, "",
        "| claim | verdict | predicted | measured | points | worst (≤ 1) | weakest control (> 1) "
        "| controls rejected | resolution | target | s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in summary_rows(data):
        lines.append(f"| `{row['id']}` | **{row['verdict']}** | {_md(row['predicted'])} | {_md(row['measured'])} | "
                     f"{row['points']} | {row['worst']} | {row['control']} | {row['rejected']} | "
                     f"{row['resolution']} | {row['target']} | {row['seconds']} |")
    unchecked = meta.get("formulas", {}).get("unchecked") or []
    if unchecked and meta["settings"].get("claims") is None:
        lines += ["", f"**Formulas checked by no claim of this run:** {', '.join(unchecked)}"]
    lines += _maps_markdown(data.get("maps", []))
    for cl in data["claims"]:
        lines += ["", f"## {cl['id']} — {cl['verdict']}", "", cl["statement"], "",
                  f"*Source:* {cl['source']}  ",
                  f"*Seed:* {cl['seed']} · *n:* {cl['n']} · *resolution:* {resolution_text(cl)}", ""]
        if cl["error"]:
            lines += ["```", cl["error"].strip(), "```", ""]
        if cl["points"]:
            lines += ["| point | rule | prediction | estimate | SE | tol | z | score | pass | resolution "
                      "| control | control margin | rejected |",
                      "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
            for p in cl["points"]:
                pc = p.get("control") or {}
                lines.append(f"| {_md(p['label'])} | {_RULES.get(p.get('rule'), p.get('rule'))} | "
                             f"{_fmt(p['prediction'])} | {_fmt(p['estimate'])} | "
                             f"{_fmt(p['se'])} | {_fmt(p['tol'])} | {_fmt(p['z'])} | {_fmt(p.get('score'))} | "
                             f"{p['pass']} | {resolution_text(p)} | {_fmt(pc.get('prediction'))} | "
                             f"{_fmt(pc.get('margin'))} | {pc.get('rejected', '—')} |")
        if cl["notes"]:
            lines += ["", cl["notes"]]
        lines += [f"![{f}]({f})" for f in cl["figures"]]
    return "\n".join(lines) + "\n"


def _boundary_rows(m: dict) -> list[list[str]]:
    """Per prediction: the largest L/n, per width, up to which it holds ('—': not even the shallowest)."""
    return [[name] + ["—" if v is None else f"{v:g}" for v in m["boundary_L_over_n"][name].values()]
            for name in m["predictions"]]


def _maps_markdown(maps: list[dict]) -> list[str]:
    if not maps:
        return []
    lines = ["", "## Where the predictions hold", "",
             "Each map sweeps widths n and depths L; a prediction holds at a cell when |z| ≤ z_crit, with "
             "z_crit from the suite's α split over the map's cells; where a prediction is itself a Monte-Carlo "
             "integral, measured on other networks, z = (estimate − prediction)/√(SE² + SE_pred²). The table "
             "gives, per width, the largest "
             "L/n up to which the prediction holds at every shallower depth of the grid."]
    for m in maps:
        head = ["prediction"] + [f"n={n}" for n in m["widths"]]
        lines += ["", f"### {m['quantity']}", "", m["statement"] + ".", "", m.get("reads", ""), "",
                  "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(_md(c) for c in row) + " |" for row in _boundary_rows(m)]
        lines += ["", f"![{m['quantity']}]({m['figure']})"]
    return lines


def _maps_html(maps: list[dict], pngs: dict) -> str:
    if not maps:
        return ""
    e = html.escape
    areas: dict[str, list[dict]] = {}
    for m in maps:
        areas.setdefault(m["quantity"].split(".", 1)[0], []).append(m)
    parts = ["<h2 id='maps'>Where the predictions hold</h2><p>Each map sweeps widths n and depths L "
             "(Monte Carlo per cell, seeds from the cell); a prediction holds at a cell when |z| ≤ z_crit, "
             "with z_crit from the suite's α split over the map's cells (✓ on the map, inside the black "
             "contour); where a prediction is itself a Monte-Carlo integral, measured on other networks, "
             "z = (estimate − prediction)/√(SE² + SE_pred²). The table gives, per width, the largest L/n up to "
             "which the prediction holds at every "
             "shallower depth of the grid (— : not even at the shallowest).</p>"]
    for area, ms in areas.items():
        parts.append(f"<h3>{e(area)}</h3>")
        for m in ms:
            head = ["prediction"] + [f"n={n}" for n in m["widths"]]
            body = "".join("<tr>" + _cells([e(c) for c in row], text=(0,)) + "</tr>" for row in _boundary_rows(m))
            img = base64.b64encode(pngs[m["quantity"]]).decode() if m["quantity"] in pngs else ""
            parts.append(
                f"<section id='map-{e(m['quantity'])}'><h4>{e(m['quantity'])}</h4><p>{e(m['statement'])}.</p>"
                f"<p class='headline'>{e(m.get('reads', ''))}</p>"
                f"<div class='tablewrap'><table><tr>{_cells(head, 'th')}</tr>{body}</table></div>"
                + (f"<figure><img alt='{e(m['quantity'])}' src='data:image/png;base64,{img}'></figure>" if img else "")
                + "</section>")
    return "".join(parts)


def _md(text: str) -> str:
    """Text for a Markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")


_CSS = """
body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222;line-height:1.4}
nav ul{columns:2 18em;padding-left:1.2em}nav li{break-inside:avoid}.tablewrap{overflow-x:auto}
figure{margin:1em 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
footer{border-top:1px solid #ddd;margin-top:2em;padding-top:.5em}.headline{margin:.3em 0 .6em}
td.txt{text-align:left;min-width:9em;max-width:17em}table.summary{font-size:.82em}
table{border-collapse:collapse;margin:.5em 0;font-size:.9em}td,th{border:1px solid #ccc;padding:.25em .5em;text-align:right}
td:first-child,th:first-child{text-align:left}.pass{color:#176d2d;font-weight:600}.fail{color:#b00020;font-weight:600}
section{border-top:1px solid #ddd;margin-top:1.5em}img{max-width:100%}pre{background:#f6f6f6;padding:.5em;overflow:auto}
.src{color:#555;font-size:.9em}math{font-size:1.1em}
"""


def _mathml(claim) -> str:
    if claim.formula is None:
        return ""
    import sympy as sp

    from dltv.theory.formulas import markup_safe

    try:
        expr = claim.formula()
        items = expr.items() if isinstance(expr, dict) else [(None, expr)]
        out = []
        for name, e in items:
            ml = sp.mathml(markup_safe(e), printer="presentation")
            label = f"<b>{html.escape(str(name))}</b>: " if name else ""
            out.append(f'<p>{label}<math display="block">{ml}</math></p>')
        return "".join(out)
    except Exception as err:  # a formula that cannot be printed must not lose the report
        return f"<p><i>formula not printable: {html.escape(str(err))}</i></p>"


def _cells(values, tag="td", text=()) -> str:
    """Table cells; the columns listed in ``text`` hold prose and align left."""
    return "".join(f"<{tag}{' class=txt' if i in text else ''}>{v}</{tag}>" for i, v in enumerate(values))


def _point_rows(points) -> str:
    e = html.escape
    out = []
    for p in points:
        pc = p.get("control") or {}
        ok, rej = p["pass"], pc.get("rejected")
        out.append("<tr>" + _cells([
            e(p["label"]), e(_RULES.get(p.get("rule"), str(p.get("rule")))), _fmt(p["prediction"]),
            _fmt(p["estimate"]), _fmt(p["se"]), _fmt(p["tol"]), _fmt(p["z"]), _fmt(p.get("score")),
            f"<span class='{'pass' if ok else 'fail'}'>{ok}</span>", e(resolution_text(p)),
            _fmt(pc.get("prediction")), _fmt(pc.get("margin")),
            f"<span class='{'pass' if rej else 'fail'}'>{rej}</span>"]) + "</tr>")
    return "".join(out)


_POINT_HEAD = ("point", "rule", "prediction", "estimate", "SE", "tol", "z", "score (≤ 1)", "pass",
               "resolution", "control", "control margin (> 1)", "rejected")
_SUMMARY_HEAD = ("claim", "verdict", "predicted", "measured", "points", "worst (≤ 1)",
                 "weakest control (> 1)", "controls rejected", "resolution", "target", "s")


def headline_text(cl: dict) -> str:
    """A claim's headline in words: what was predicted, what was measured, how sharp the check was."""
    if cl["error"]:
        return f"The measurement raised an error: {cl['error'].splitlines()[0]}"
    ctl = cl["control"] or {}
    parts = [f"Predicted: {cl.get('predicted') or cl['statement']}."]
    if cl.get("measured"):
        parts.append(f"Measured: {cl['measured']}.")
    score = cl.get("score")
    worst = (f"the worst used {_fmt(score)} of its allowance" if not isinstance(score, (int, float)) or score > 0
             else "every bound holds with room to spare" if cl.get("rule") in ("le", "ge")
             else "every point agrees exactly")
    parts.append(f"{cl.get('n_points', len(cl['points']))} points; {worst} (point '{cl.get('worst_point')}'); "
                 f"controls rejected at "
                 f"{ctl.get('n_rejected', 0)} of {ctl.get('n_points', 0)} points, the weakest by "
                 f"{_fmt(ctl.get('margin'))}× its allowance; resolution {resolution_text(cl)}.")
    return " ".join(parts)


def _toc(data: dict) -> str:
    e = html.escape
    areas: dict[str, list[dict]] = {}
    for cl in data["claims"]:
        areas.setdefault(cl["area"], []).append(cl)
    items = []
    for area, cls in areas.items():
        n_pass = sum(c["verdict"] == "pass" for c in cls)
        links = "".join(f"<li><a href='#{e(c['id'])}'>{e(c['id'])}</a> "
                        f"<span class='{c['verdict']}'>{c['verdict']}</span></li>" for c in cls)
        items.append(f"<li><a href='#area-{e(area)}'>{e(area)}</a>: {n_pass} pass, {len(cls) - n_pass} fail"
                     f"<ul>{links}</ul></li>")
    failing = [c for c in data["claims"] if c["verdict"] != "pass"]
    fails = ("<p class='fail'>Failing claims: " + ", ".join(
        f"<a href='#{e(c['id'])}'>{e(c['id'])}</a>" for c in failing) + "</p>") if failing else \
        "<p class='pass'>No claim fails.</p>"
    maps = "<li><a href='#maps'>Where the predictions hold</a> (validity maps)</li>" if data.get("maps") else ""
    return f"<nav><h2>Contents</h2>{fails}<ul>{maps}{''.join(items)}</ul></nav>"


def build_html(data: dict, results: list[Result], map_pngs: dict | None = None) -> str:
    meta = data["meta"]
    c = meta["counts"]
    e = html.escape
    rows, sections, area = [], [], None
    for row in summary_rows(data):
        anchor = e(row["id"])
        rows.append("<tr>" + _cells([
            f"<a href='#{anchor}'>{anchor}</a>", f"<span class='{row['verdict']}'>{row['verdict']}</span>",
            e(row["predicted"]), e(row["measured"]), row["points"],
            f"<span title='{e(row['worst_point'])}'>{e(row['worst'])}</span>", e(row["control"]),
            e(row["rejected"]), e(row["resolution"]), e(row["target"]), row["seconds"]], text=(2, 3)) + "</tr>")
    for cl, r in zip(data["claims"], results):
        anchor = e(cl["id"])
        if cl["area"] != area:
            area = cl["area"]
            sections.append(f"<h2 id='area-{e(area)}' class='area'>{e(area)}</h2>")
        figs = "".join(
            f"<figure><img alt='{e(name)}' src='data:image/png;base64,{base64.b64encode(png).decode()}'>"
            f"<figcaption>{e(name)}</figcaption></figure>" for name, png in sorted(r.figures.items()))
        err = f"<pre>{e(cl['error'])}</pre>" if cl["error"] else ""
        table = (f"<div class='tablewrap'><table><tr>{_cells(_POINT_HEAD, 'th')}</tr>"
                 f"{_point_rows(cl['points'])}</table></div>" if cl["points"] else "")
        sections.append(
            f"<section id='{anchor}'><h3>{anchor} — <span class='{cl['verdict']}'>{cl['verdict']}</span></h3>"
            f"<p>{e(cl['statement'])}</p><p class='headline'>{e(headline_text(cl))}</p>"
            f"<p class='src'>Source: {e(cl['source'])} · seed {cl['seed']} · "
            f"n {e(str(cl['n']))} · {cl['seconds']} s</p>"
            f"{_mathml(r.claim)}{err}{table}"
            f"{'<p>' + e(cl['notes']) + '</p>' if cl['notes'] else ''}{figs}</section>")
    unchecked = meta.get("formulas", {}).get("unchecked") or []
    gap = (f"<p class='fail'>Formulas checked by no claim of this run: {e(', '.join(unchecked))}</p>"
           if unchecked and meta["settings"].get("claims") is None else "")
    foot = (f"<footer class='src'><p>Settings: <code>{e(json.dumps(meta['settings']))}</code> · "
            f"generated {e(meta['generated'])} in {meta['seconds']} s · commit <code>{e(str(meta['commit']))}</code>"
            f" · source sha256 <code>{e(str(meta.get('source_sha256', ''))[:16])}</code></p>"
            f"<p>Versions: {e(', '.join(f'{k} {v}' for k, v in meta['versions'].items()))}</p></footer>")
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'><title>dltv verification report</title>"
        f"<style>{_CSS}</style></head><body><h1>dltv verification report</h1>"
        f"<p><b>{c['pass']} of {c['claims']} claims pass</b> · α = {meta['suite_alpha']:g} · "
        f"{e(meta['generated'])}</p>"
        f"<p>Stochastic claims share one false-alarm budget α = {meta['suite_alpha']:g}, split by Bonferroni over "
        "the run's claims and their points; a point passes when |estimate − prediction| ≤ z·SE + slack (the "
        "prediction's numerical error). Every point carries a negative control, a plausible wrong prediction that "
        "the same rule must reject, and a claim passes only if every point passes and every control is rejected. "
        "Deterministic points use their stated tolerance. No fixed relative tolerance is used for Monte-Carlo "
        f"quantities.</p>{gap}{_toc(data)}"
        f"<h2>Summary</h2><p class='src'>{e(_LEGEND.replace('*', ''))}</p>"
        f"<div class='tablewrap'><table class='summary'><tr>{_cells(_SUMMARY_HEAD, 'th')}</tr>{''.join(rows)}</table></div>"
        f"{_maps_html(data.get('maps', []), map_pngs or {})}{''.join(sections)}{foot}</body></html>\n")


def atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o644)  # mkstemp's 0600 would hide the report from other readers
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_report(results: list[Result], out_dir: str | os.PathLike = "reports", *,
                 settings: dict | None = None, seconds: float = 0.0,
                 maps: list[tuple[dict, bytes]] | None = None) -> Path:
    """Write the four report artefacts into ``out_dir``; return the folder.

    ``maps``: validity maps (map data of :func:`dltv.checks.sweep.build_map`, PNG) for
    the section "Where the predictions hold".
    """
    out = Path(out_dir)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    data = build_json(results, settings or {}, seconds)
    maps = maps or []
    data["maps"] = [dict(m, figure=f"figures/{map_figure_name(m)}") for m, _ in maps]
    written = set()
    for m, png in maps:
        atomic_write(out / "figures" / map_figure_name(m), png)
        written.add(map_figure_name(m))
    for r in results:
        for name, png in r.figures.items():
            fn = figure_name(r.claim.id, name)
            atomic_write(out / "figures" / fn, png)
            written.add(fn)
    atomic_write(out / "results.json", (json.dumps(data, indent=1) + "\n").encode())
    atomic_write(out / "index.md", build_markdown(data).encode())
    atomic_write(out / "index.html", build_html(data, results, {m["quantity"]: png for m, png in maps}).encode())
    for stale in (out / "figures").glob("*.png"):
        if stale.name not in written:
            stale.unlink()
    return out
