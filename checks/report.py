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


def figure_name(claim_id: str, name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", f"{claim_id}--{name}") + ".png"


def build_json(results: list[Result], settings: dict, seconds: float) -> dict:
    claims = [r.to_json() for r in results]
    for c, r in zip(claims, results):
        c["figures"] = [f"figures/{figure_name(r.claim.id, n)}" for n in sorted(r.figures)]
    passed = sum(r.passed for r in results)
    return {
        "meta": {
            "generated": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "versions": versions(), "commit": git_commit(), "seconds": round(seconds, 2),
            "settings": settings, "suite_alpha": stats.SUITE_ALPHA,
            "counts": {"claims": len(results), "pass": passed, "fail": len(results) - passed},
        },
        "claims": claims,
    }


def _fmt(x) -> str:
    if x is None:
        return "—"
    if isinstance(x, str):
        return x
    return f"{x:.6g}"


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
        "| claim | verdict | prediction | estimate | SE/tol | z | threshold | control z | control rejected | s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for cl in data["claims"]:
        ctl = cl["control"] or {}
        se = cl["se"] if cl["se"] is not None else (cl["points"][0]["tol"] if cl["points"] else None)
        lines.append(f"| `{cl['id']}` | **{cl['verdict']}** | {_fmt(cl['prediction'])} | "
                     f"{_fmt(cl['estimate'])} | {_fmt(se)} | {_fmt(cl['z'])} | {_fmt(cl['threshold'])} | "
                     f"{_fmt(ctl.get('z'))} | {ctl.get('rejected')} | {cl['seconds']} |")
    for cl in data["claims"]:
        lines += ["", f"## {cl['id']} — {cl['verdict']}", "", cl["statement"], "",
                  f"*Source:* {cl['source']}  ", f"*Seed:* {cl['seed']} · *n:* {cl['n']}", ""]
        if cl["error"]:
            lines += ["```", cl["error"].strip(), "```", ""]
        if cl["points"]:
            lines += ["| point | prediction | estimate | SE | tol | z | pass | control | control z | rejected |",
                      "|---|---|---|---|---|---|---|---|---|---|"]
            for p in cl["points"]:
                pc = p.get("control") or {}
                lines.append(f"| {p['label']} | {_fmt(p['prediction'])} | {_fmt(p['estimate'])} | "
                             f"{_fmt(p['se'])} | {_fmt(p['tol'])} | {_fmt(p['z'])} | {p['pass']} | "
                             f"{_fmt(pc.get('prediction'))} | {_fmt(pc.get('z'))} | {pc.get('rejected', '—')} |")
        if cl["notes"]:
            lines += ["", cl["notes"]]
        lines += [f"![{f}]({f})" for f in cl["figures"]]
    return "\n".join(lines) + "\n"


_CSS = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0;font-size:.9em}td,th{border:1px solid #ccc;padding:.25em .5em;text-align:right}
td:first-child,th:first-child{text-align:left}.pass{color:#176d2d;font-weight:600}.fail{color:#b00020;font-weight:600}
section{border-top:1px solid #ddd;margin-top:1.5em}img{max-width:100%}pre{background:#f6f6f6;padding:.5em;overflow:auto}
.src{color:#555;font-size:.9em}math{font-size:1.1em}
"""


def _mathml(claim) -> str:
    if claim.formula is None:
        return ""
    import sympy as sp

    try:
        expr = claim.formula()
        items = expr.items() if isinstance(expr, dict) else [(None, expr)]
        out = []
        for name, e in items:
            ml = sp.mathml(e, printer="presentation")
            label = f"<b>{html.escape(str(name))}</b>: " if name else ""
            out.append(f'<p>{label}<math display="block">{ml}</math></p>')
        return "".join(out)
    except Exception as err:  # a formula that cannot be printed must not lose the report
        return f"<p><i>formula not printable: {html.escape(str(err))}</i></p>"


def build_html(data: dict, results: list[Result]) -> str:
    meta = data["meta"]
    c = meta["counts"]
    e = html.escape
    rows, sections = [], []
    for cl, r in zip(data["claims"], results):
        ctl = cl["control"] or {}
        anchor = e(cl["id"])
        rows.append(f"<tr><td><a href='#{anchor}'>{anchor}</a></td><td class='{cl['verdict']}'>{cl['verdict']}</td>"
                    f"<td>{_fmt(cl['prediction'])}</td><td>{_fmt(cl['estimate'])}</td><td>{_fmt(cl['se'])}</td>"
                    f"<td>{_fmt(cl['z'])}</td><td>{_fmt(cl['threshold'])}</td><td>{_fmt(ctl.get('z'))}</td>"
                    f"<td>{ctl.get('rejected')}</td><td>{cl['seconds']}</td></tr>")
        pts = "".join(
            f"<tr><td>{e(p['label'])}</td><td>{_fmt(p['prediction'])}</td><td>{_fmt(p['estimate'])}</td>"
            f"<td>{_fmt(p['se'])}</td><td>{_fmt(p['tol'])}</td><td>{_fmt(p['z'])}</td>"
            f"<td class='{'pass' if p['pass'] else 'fail'}'>{p['pass']}</td>"
            f"<td>{_fmt((p.get('control') or {}).get('prediction'))}</td>"
            f"<td>{_fmt((p.get('control') or {}).get('z'))}</td>"
            f"<td>{(p.get('control') or {}).get('rejected', '—')}</td></tr>" for p in cl["points"])
        figs = "".join(
            f"<figure><img alt='{e(name)}' src='data:image/png;base64,{base64.b64encode(png).decode()}'>"
            f"<figcaption>{e(name)}</figcaption></figure>" for name, png in sorted(r.figures.items()))
        err = f"<pre>{e(cl['error'])}</pre>" if cl["error"] else ""
        table = ("<table><tr><th>point</th><th>prediction</th><th>estimate</th><th>SE</th><th>tol</th><th>z</th>"
                 f"<th>pass</th><th>control</th><th>control z</th><th>rejected</th></tr>{pts}</table>") if pts else ""
        sections.append(
            f"<section id='{anchor}'><h2>{anchor} — <span class='{cl['verdict']}'>{cl['verdict']}</span></h2>"
            f"<p>{e(cl['statement'])}</p><p class='src'>Source: {e(cl['source'])} · seed {cl['seed']} · "
            f"n {cl['n']} · {cl['seconds']} s</p>{_mathml(r.claim)}{err}{table}"
            f"{'<p>' + e(cl['notes']) + '</p>' if cl['notes'] else ''}{figs}</section>")
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>dltv verification report</title>"
        f"<style>{_CSS}</style></head><body><h1>dltv verification report</h1>"
        f"<p><b>{c['pass']} of {c['claims']} claims pass</b> · commit <code>{e(str(meta['commit']))}</code> · "
        f"{e(meta['generated'])} · {meta['seconds']} s · settings <code>{e(json.dumps(meta['settings']))}</code></p>"
        f"<p>Stochastic claims share one false-alarm budget α = {meta['suite_alpha']:g}, split by Bonferroni over "
        "claims and their points; a point passes when |estimate − prediction| ≤ z·SE + slack (the prediction's "
        "numerical error). Every claim carries a negative control, a plausible wrong prediction that the same rule "
        "must reject. Deterministic points use their stated tolerance (z = error/tol, threshold 1). No fixed "
        "relative tolerance is used for Monte-Carlo quantities.</p>"
        "<table><tr><th>claim</th><th>verdict</th><th>prediction</th><th>estimate</th><th>SE</th><th>z</th>"
        f"<th>threshold</th><th>control z</th><th>control rejected</th><th>s</th></tr>{''.join(rows)}</table>"
        f"{''.join(sections)}<p class='src'>Versions: {e(json.dumps(meta['versions']))}</p></body></html>\n")


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_report(results: list[Result], out_dir: str | os.PathLike = "reports", *,
                 settings: dict | None = None, seconds: float = 0.0) -> Path:
    """Write the four report artefacts into ``out_dir``; return the folder."""
    out = Path(out_dir)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    data = build_json(results, settings or {}, seconds)
    written = set()
    for r in results:
        for name, png in r.figures.items():
            fn = figure_name(r.claim.id, name)
            _atomic_write(out / "figures" / fn, png)
            written.add(fn)
    _atomic_write(out / "results.json", (json.dumps(data, indent=1) + "\n").encode())
    _atomic_write(out / "index.md", build_markdown(data).encode())
    _atomic_write(out / "index.html", build_html(data, results).encode())
    for stale in (out / "figures").glob("*.png"):
        if stale.name not in written:
            stale.unlink()
    return out
