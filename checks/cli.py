"""The ``dltv`` command line.

    dltv list [--claims PATTERN] [--json]
    dltv report [--claims PATTERN] [--seed S] [--device D] [--full] [--out DIR]
    dltv formula list | show ID | eval ID name=value ... [--json]
    dltv calibrate [--claims PATTERN] [--runs R] [--device D] [--full] [--json]
    dltv bench [--area A] [--full] [--device D] [--json]

Bad input prints one line on stderr and exits with status 2; a ``report`` whose
claims fail still writes the report and exits with status 1.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time

from dltv import AREAS


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, status 2 (argparse would print the usage too)
        raise ValueError(message)


def _progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- claims
def cmd_list(args) -> int:
    from dltv.checks.claims import load_claims_from, select

    for module in args.claims_from or ():
        load_claims_from(module)
    claims = select(args.claims)
    if args.json:
        last = _last_results(args.out)
        print(json.dumps([{"id": c.id, "area": c.area, "source": c.source, "statement": c.statement,
                           "stochastic": c.stochastic, "seed": c.seed,
                           "predicted": c.predicted, "measured": c.measured,
                           **{k: last.get(c.id, {}).get(k) for k in _LAST_FIELDS}} for c in claims], indent=1))
    else:
        for c in claims:
            print(f"{c.id:55s} {'MC ' if c.stochastic else 'det'}  {c.statement}")
    return 0


_LAST_FIELDS = ("verdict", "resolution", "resolution_kind", "n_points")


def _last_results(folder) -> dict:
    """The claims of the report in ``folder`` (verdict and resolution of its last run), by id."""
    from pathlib import Path

    path = Path(folder) / "results.json"
    try:
        data = json.loads(path.read_text())
        return {c["id"]: c for c in data.get("claims", [])}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def cmd_report(args) -> int:
    from dltv.checks.claims import load_claims, load_claims_from, run_claim, select
    from dltv.checks.report import check_writable, report_folder, write_report
    from dltv.checks.settings import check_device

    device = check_device(args.device)
    for module in args.claims_from or ():
        load_claims_from(module)
    claims = select(args.claims)
    complete = {c.id for c in claims} >= set(load_claims())
    out = check_writable(report_folder(args.out or "reports", partial=not complete, chosen=bool(args.out)))
    expected = {i: c.get("seconds") for i, c in _last_results(out).items()}
    n_mc = sum(c.stochastic for c in claims)
    start, results = time.perf_counter(), []
    for i, c in enumerate(claims, 1):
        _progress(f"[{i}/{len(claims)}] {c.id} … {_time_left(claims[i - 1:], expected, results)}")
        r = run_claim(c, run_seed=args.seed, full=args.full, device=device, n_stochastic_claims=n_mc)
        results.append(r)
        _progress(f"[{i}/{len(claims)}] {c.id}: {r.verdict} ({r.seconds:.1f} s)"
                  + (f" — {r.error.splitlines()[0]}" if r.error else ""))
    maps = []
    if args.maps if args.maps is not None else complete:
        from dltv.checks.sweep import report_maps

        maps = report_maps(full=args.full, device=device, progress=_progress)
    out = write_report(results, out, seconds=time.perf_counter() - start, maps=maps,
                       settings={"full": args.full, "device": device, "seed": args.seed,
                                 "claims": None if complete else (args.claims or "partial"),
                                 "claims_from": args.claims_from or None, "runner": "dltv report"})
    failed = [r.claim.id for r in results if not r.passed]
    where = "" if complete else " (a run of some claims: a report of all claims is never replaced by it)"
    print(f"{len(results) - len(failed)} of {len(results)} claims pass; report in {out}/index.html{where}")
    for f in failed:
        print(f"FAIL {f}")
    unchecked = unchecked_formulas(results) if complete else []
    for f in unchecked:
        print(f"FAIL formula {f} is the prediction of no claim")
    return 1 if failed or unchecked else 0


def _time_left(remaining, expected: dict, done) -> str:
    """'about 1 min 20 s left', from the last report's timings (or this run's mean so far)."""
    mean = sum(r.seconds for r in done) / len(done) if done else None
    guess = [expected.get(c.id) or mean for c in remaining]
    if any(g is None for g in guess):
        return "time left unknown"
    left = round(sum(guess))
    if left < 1:
        return "under 1 s left"
    return f"about {left // 60} min {left % 60} s left" if left >= 60 else f"about {left} s left"


def unchecked_formulas(results) -> list[str]:
    """Registered formulas that no claim of a complete run evaluated as a prediction."""
    from dltv.checks.report import formula_coverage

    return formula_coverage(results)["unchecked"]


def cmd_calibrate(args) -> int:
    from dltv.checks.bench import format_table
    from dltv.checks.calibrate import calibrate
    from dltv.checks.claims import select
    from dltv.checks.settings import check_device

    rows = calibrate(select(args.claims), args.runs, full=args.full, device=check_device(args.device),
                     jobs=args.jobs, progress=_progress)
    print(json.dumps(rows, indent=1) if args.json else format_table(rows))
    return 0


def cmd_bench(args) -> int:
    from dltv.checks.bench import format_table, run_benchmarks, target_summary
    from dltv.checks.settings import check_device

    rows = run_benchmarks(args.area, quick=not args.full, device=check_device(args.device),
                          progress=_progress)
    print(json.dumps(rows, indent=1) if args.json else format_table(rows))
    _progress(target_summary(rows))
    return 0


# --------------------------------------------------------------------------- formulas
def _jsonable(value):
    """Formula values as JSON numbers (ints stay exact), dicts recursively, text as is."""
    import sympy as sp

    from dltv.theory.formulas import to_float

    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, str) or isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int) or (isinstance(value, sp.Integer)):
        return int(value)
    return to_float(value)


def _exact(value):
    import sympy as sp

    if isinstance(value, dict):
        return {str(k): _exact(v) for k, v in value.items()}
    return str(value) if isinstance(value, (sp.Basic, int)) else None


def _parse_assignments(items: list[str]) -> dict:
    params = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name:
            raise ValueError(f"parameters must look like name=value, got {item!r}")
        params[name.strip()] = text
    return params


def cmd_formula(args) -> int:
    from dltv.theory.formulas import all_formulas, get_formula

    if args.action == "list":
        formulas = all_formulas()
        if args.json:
            print(json.dumps([{"id": f.id, "statement": f.statement,
                               "params": [p.name for p in f.params]} for f in formulas.values()], indent=1))
        else:
            for f in formulas.values():
                print(f"{f.id:38s} ({', '.join(p.name for p in f.params)})  {f.statement}")
        return 0
    if not args.id:
        raise ValueError(f"formula {args.action} needs a formula id; see `dltv formula list`")
    f = get_formula(args.id)
    if args.action == "show" and (args.latex or args.mathml):
        print(f.latex() if args.latex else f.mathml())
        return 0
    if args.action == "show":
        import sympy as sp

        expr = f.symbolic()
        items = expr.items() if isinstance(expr, dict) else [("", expr)]
        shown = {k: {"sympy": str(e), "latex": sp.latex(e)} for k, e in items}
        params = [{"name": p.name, "kind": p.kind, "doc": p.doc} for p in f.params]
        if args.json:
            print(json.dumps({"id": f.id, "source": f.source, "statement": f.statement,
                              "params": params, "expression": shown}, indent=1))
        else:
            print(f"{f.id}: {f.statement}\nsource: {f.source}\nparams:")
            for p in params:
                print(f"  {p['name']} ({p['kind']}): {p['doc']}")
            for k, s in shown.items():
                print(f"{k + ': ' if k else ''}{s['sympy']}\n  LaTeX: {s['latex']}")
        return 0
    if args.params and args.action != "eval":
        raise ValueError(f"unexpected arguments for formula {args.action}: {' '.join(args.params)}")
    params = _parse_assignments(args.params)
    value = f.evaluate(**params)
    out = {"id": f.id, "params": params, "value": _jsonable(value)}
    if args.json:
        exact = _exact(value)
        if exact is not None:
            out["exact"] = exact
        print(json.dumps(out, indent=1))
    elif isinstance(out["value"], dict):
        for k, v in out["value"].items():
            print(f"{k} = {v}")
    else:
        print(out["value"])
    return 0


# --------------------------------------------------------------------------- sweeps
def cmd_sweep(args) -> int:
    from dltv.checks import sweep as sw
    from dltv.checks.settings import check_device

    if args.quantity == "list":
        qs = sw.quantities()
        if args.json:
            print(json.dumps([{"id": q.id, "statement": q.statement, "predictions": list(q.predictions),
                               "widths": list(q.default_widths), "depths": list(q.default_depths),
                               "budget": q.default_budget, "in_report": q.in_report}
                              for q in qs.values()], indent=1))
        else:
            for q in qs.values():
                print(f"{q.id:42s} {'' if q.in_report else '(--full) '}{q.statement}")
        return 0
    device = check_device(args.device)
    if args.workers is not None and args.workers < 0:
        raise ValueError(f"workers must be an integer >= 0, got {args.workers}")
    cache = sw.Cache(args.cache) if args.cache else sw.Cache()
    kw = dict(budget=args.budget, seed=args.seed, device=device, full=args.full)
    if args.dry_run:
        info = sw.dry_run(args.quantity, args.widths, args.depths, cache=cache, **kw)
        if args.json:
            print(json.dumps(info, indent=1))
        else:
            eta = ("nothing to compute" if info["to_compute"] == 0
                   else "time unknown (no cached cell to time it by)" if info["estimated_seconds"] is None
                   else f"about {info['estimated_seconds']} s of work")
            print(f"{info['quantity']}: {info['cells']} cells, {info['cached']} cached, "
                  f"{info['to_compute']} to compute; {eta}")
        return 0
    from dltv.checks.report import check_writable

    out = check_writable(args.out)
    try:
        result = sw.run_sweep(args.quantity, args.widths, args.depths, cache=cache, scheduler=args.scheduler,
                              workers=args.workers, progress=_progress if args.verbose else None,
                              bar=not args.json and sys.stderr.isatty(), **kw)
    except sw.SweepError as err:
        print(f"dltv: sweep failed: {err}", file=sys.stderr)
        return 1
    data = sw.build_map(result)
    paths = sw.write_map(data, out)
    if args.json:
        print(json.dumps(data | {"files": paths}, indent=1))
        return 0
    print(f"{data['quantity']}: {len(data['cells'])} cells ({result.computed} computed, "
          f"{len(data['cells']) - result.computed} from the cache) in {result.seconds:.1f} s; "
          f"holds where |z| <= {data['z_crit']:.2f}")
    for name, per_width in data["boundary_L_over_n"].items():
        held = ", ".join(f"n={n}: {'none' if v is None else f'L/n <= {v:g}'}" for n, v in per_width.items())
        print(f"  {name}: {held}")
    print(f"map in {paths['png']} (data: {paths['json']}, {paths['csv']})")
    return 0


# --------------------------------------------------------------------------- main
def build_parser() -> argparse.ArgumentParser:
    from dltv import __version__

    p = _Parser(prog="dltv", description="Deep-learning theory verifier.")
    p.add_argument("--version", action="version", version=f"dltv {__version__}")
    sub = p.add_subparsers(dest="command", parser_class=_Parser)

    s = sub.add_parser("list", help="list the claims")
    s.add_argument("--claims", help="glob over claim ids (a plain prefix also works)")
    s.add_argument("--json", action="store_true",
                   help="JSON, with each claim's verdict and resolution from the report in --out")
    s.add_argument("--out", default="reports", help="report folder to read the last results from")
    s.add_argument("--claims-from", action="append", metavar="MODULE",
                   help="also list the claims registered by this module (repeatable)")
    s.set_defaults(handler=cmd_list)

    s = sub.add_parser("report", help="run the claims and write reports/")
    s.add_argument("--claims", help="glob over claim ids (a plain prefix also works)")
    s.add_argument("--seed", type=int, default=None, help="run seed (default: each claim's fixed seed)")
    s.add_argument("--device", default="cpu", help="cpu (default), cuda or cuda:N")
    s.add_argument("--full", action="store_true", help="larger budgets (slower, more precise)")
    s.add_argument("--out", default=None,
                   help="report folder (default: reports, or reports/partial for a run of some claims)")
    s.add_argument("--claims-from", action="append", metavar="MODULE",
                   help="also run the claims registered by this module (repeatable)")
    s.add_argument("--maps", action=argparse.BooleanOptionalAction, default=None,
                   help="add the validity maps (default: on for a run of all claims; cells are cached)")
    s.set_defaults(handler=cmd_report)

    s = sub.add_parser("formula", help="explore the encoded formulas")
    s.add_argument("action", choices=("list", "show", "eval"))
    s.add_argument("id", nargs="?")
    s.add_argument("params", nargs="*", help="name=value (integers, 1/2, 0.25, comma lists)")
    s.add_argument("--json", action="store_true")
    shown = s.add_mutually_exclusive_group()
    shown.add_argument("--latex", action="store_true", help="with show: print the LaTeX only")
    shown.add_argument("--mathml", action="store_true", help="with show: print presentation MathML only")
    s.set_defaults(handler=cmd_formula)

    s = sub.add_parser("sweep", help="validity map of a quantity over widths and depths (Dask)")
    s.add_argument("quantity", help="a sweep quantity id, or 'list'")
    s.add_argument("--widths", help="comma list of widths n (default: the quantity's grid)")
    s.add_argument("--depths", help="comma list of depths L, hidden layers (default: the quantity's grid)")
    s.add_argument("--budget", type=int, default=None, help="networks per cell")
    s.add_argument("--seed", type=int, default=0, help="run seed (cells derive theirs from it)")
    s.add_argument("--full", action="store_true", help="the larger grid and budget")
    s.add_argument("--scheduler", help="address of an existing Dask scheduler, e.g. tcp://host:8786")
    s.add_argument("--workers", type=int, default=None,
                   help="local cluster size (default: one per core; 0: run in this process)")
    s.add_argument("--cache", help="cell cache folder (default: $DLTV_CACHE or ~/.cache/dltv)")
    s.add_argument("--out", default="reports/maps", help="where the map's PNG, JSON and CSV go")
    s.add_argument("--device", default="cpu", help="cpu (default), cuda or cuda:N")
    s.add_argument("--dry-run", action="store_true", help="say how many cells would run, and how long")
    s.add_argument("--verbose", action="store_true", help="one line per finished cell")
    s.add_argument("--json", action="store_true")
    s.set_defaults(handler=cmd_sweep)

    s = sub.add_parser("calibrate", help="rerun stochastic claims over many seeds")
    s.add_argument("--claims", help="glob over claim ids")
    s.add_argument("--runs", type=int, default=5, help="seeds per claim (default 5)")
    s.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    s.add_argument("--device", default="cpu")
    s.add_argument("--full", action="store_true")
    s.add_argument("--json", action="store_true")
    s.set_defaults(handler=cmd_calibrate)

    s = sub.add_parser("bench", help="throughput benchmarks")
    s.add_argument("--area", action="append", help="only this area (repeatable)")
    s.add_argument("--full", action="store_true", help="the whole grid (default: quick grid)")
    s.add_argument("--device", default="cpu")
    s.add_argument("--json", action="store_true")
    s.set_defaults(handler=cmd_bench)

    for area in AREAS:  # area subcommands, e.g. `dltv regions count`
        try:
            module = importlib.import_module(f"dltv.checks.cli_{area}")
        except ModuleNotFoundError as err:
            if err.name != f"dltv.checks.cli_{area}":
                raise
            continue
        module.register(sub)
    importlib.import_module("dltv.checks.cli_inspect").register(sub)  # `dltv inspect MODEL`: every area's tools
    return p


def main(argv: list[str] | None = None) -> int:
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if args.command is None:  # bare `dltv`
            parser.print_help()
            return 0
        return args.handler(args)
    except SystemExit as done:  # --version, --help
        return int(done.code or 0)
    except BrokenPipeError:  # output piped into `head`
        sys.stdout = open(os.devnull, "w")
        return 0
    except ValueError as err:
        print(f"dltv: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("dltv: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
