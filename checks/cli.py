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
import sys
import time

from dltv.theory.formulas import AREAS


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, status 2 (argparse would print the usage too)
        raise ValueError(message)


def _progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- claims
def cmd_list(args) -> int:
    from dltv.checks.claims import select

    claims = select(args.claims)
    if args.json:
        print(json.dumps([{"id": c.id, "area": c.area, "source": c.source, "statement": c.statement,
                           "stochastic": c.stochastic, "seed": c.seed} for c in claims], indent=1))
    else:
        for c in claims:
            print(f"{c.id:55s} {'MC ' if c.stochastic else 'det'}  {c.statement}")
    return 0


def cmd_report(args) -> int:
    from dltv.checks.claims import run_claim, select
    from dltv.checks.report import write_report
    from dltv.checks.settings import check_device

    device = check_device(args.device)
    claims = select(args.claims)
    start, results = time.perf_counter(), []
    for i, c in enumerate(claims, 1):
        r = run_claim(c, run_seed=args.seed, full=args.full, device=device)
        results.append(r)
        _progress(f"[{i}/{len(claims)}] {c.id}: {r.verdict} ({r.seconds:.1f} s)"
                  + (f" — {r.error.splitlines()[0]}" if r.error else ""))
    out = write_report(results, args.out, seconds=time.perf_counter() - start,
                       settings={"full": args.full, "device": device, "seed": args.seed,
                                 "claims": args.claims, "runner": "dltv report"})
    failed = [r.claim.id for r in results if not r.passed]
    print(f"{len(results) - len(failed)} of {len(results)} claims pass; report in {out}/index.html")
    for f in failed:
        print(f"FAIL {f}")
    return 1 if failed else 0


def cmd_calibrate(args) -> int:
    from dltv.checks.bench import format_table
    from dltv.checks.calibrate import calibrate
    from dltv.checks.claims import select
    from dltv.checks.settings import check_device

    rows = calibrate(select(args.claims), args.runs, full=args.full, device=check_device(args.device),
                     progress=_progress)
    print(json.dumps(rows, indent=1) if args.json else format_table(rows))
    return 0


def cmd_bench(args) -> int:
    from dltv.checks.bench import format_table, run_benchmarks
    from dltv.checks.settings import check_device

    rows = run_benchmarks(args.area, quick=not args.full, device=check_device(args.device),
                          progress=_progress)
    print(json.dumps(rows, indent=1) if args.json else format_table(rows))
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


# --------------------------------------------------------------------------- main
def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="dltv", description="Deep-learning theory verifier.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    s = sub.add_parser("list", help="list the claims")
    s.add_argument("--claims", help="glob over claim ids (a plain prefix also works)")
    s.add_argument("--json", action="store_true")
    s.set_defaults(handler=cmd_list)

    s = sub.add_parser("report", help="run the claims and write reports/")
    s.add_argument("--claims", help="glob over claim ids (a plain prefix also works)")
    s.add_argument("--seed", type=int, default=None, help="run seed (default: each claim's fixed seed)")
    s.add_argument("--device", default="cpu", help="cpu (default), cuda or cuda:N")
    s.add_argument("--full", action="store_true", help="larger budgets (slower, more precise)")
    s.add_argument("--out", default="reports", help="report folder (default: reports)")
    s.set_defaults(handler=cmd_report)

    s = sub.add_parser("formula", help="explore the encoded formulas")
    s.add_argument("action", choices=("list", "show", "eval"))
    s.add_argument("id", nargs="?")
    s.add_argument("params", nargs="*", help="name=value (integers, 1/2, 0.25, comma lists)")
    s.add_argument("--json", action="store_true")
    s.set_defaults(handler=cmd_formula)

    s = sub.add_parser("calibrate", help="rerun stochastic claims over many seeds")
    s.add_argument("--claims", help="glob over claim ids")
    s.add_argument("--runs", type=int, default=5, help="seeds per claim (default 5)")
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
    return p


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return args.handler(args)
    except ValueError as err:
        print(f"dltv: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("dltv: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
