"""``dltv covering bound``: covering numbers of an MLP class with and without the permutation factor.

    dltv covering bound --widths 2,16,16,1 --B 1 --eps 0.01 [--activation tanh] [--json]
    dltv covering bound --widths 2,16,16,1 --B 1 --eps 0.01 --target 0.5 --eta 0.05

The class: networks of the given widths (d_0, hidden widths, d_{L+1}) with every weight
and bias in [-B, B], on inputs in [-1, 1]^{d_0}. Printed: the grid size m and Lipschitz
constant Lambda of the cover, log N(eps) of the classical grid bound and of the bound that
covers only neuron-sorted parameters (the factor prod d_l!), the saving and its limit, the
order of the finite symmetry group for the activation; with ``--target`` (and ``--eta``),
the smallest sample size at which the eps-minimised uniform-deviation bound falls to the
target, with and without the permutation factor (derived formalisation of Shen, arXiv
2305.11417; see ``dltv.theory.covering``).
"""
from __future__ import annotations

import json


def register(subparsers) -> None:
    p = subparsers.add_parser("covering", help="covering numbers of MLP classes, with and without permutations")
    sub = p.add_subparsers(dest="covering_command", required=True, parser_class=type(p))
    c = sub.add_parser("bound", help="log covering numbers, the permutation saving and the sample size needed")
    c.add_argument("--widths", required=True, help="d_0,d_1,...,d_L,d_{L+1}, e.g. 2,16,16,1")
    c.add_argument("--B", required=True, help="bound on every weight and bias (> 0)")
    c.add_argument("--eps", required=True, help="covering radius in sup norm over [-1,1]^{d_0} (> 0)")
    c.add_argument("--activation", default="relu", help="relu, leaky_relu, tanh or generic (group order only)")
    c.add_argument("--target", help="uniform deviation to reach: also print the sample size needed")
    c.add_argument("--eta", default="0.05", help="with --target: failure probability in (0, 1) (default 0.05)")
    c.add_argument("--json", action="store_true")
    c.set_defaults(handler=cmd_bound)


def covering_bound(widths: str, B, eps, activation: str = "relu", target=None, eta="0.05") -> dict:
    """The numbers printed by ``dltv covering bound`` (logs at 30 digits, counts exact)."""
    import dltv.theory.covering as th
    from dltv.theory.formulas import to_float

    logs = th.log_bounds(widths, B, eps)
    order = th.group_order(widths, activation)
    out = {"widths": [int(w) for w in str(widths).split(",")], "B": str(B), "eps": str(eps),
           "activation": activation, "S": int(logs["S"]), "m": int(logs["m"]), "Lambda": str(logs["Lambda"]),
           "log_N_classical": str(logs["log_N_classical"]), "log_N_permutation": str(logs["log_N_permutation"]),
           "log_saving": str(logs["log_saving"]), "log_saving_limit": str(logs["log_saving_limit"]),
           "relative_saving": to_float(logs["relative_saving"]), "group_order": int(order)}
    if target is not None:
        out["target"], out["eta"] = str(target), str(eta)
        out["n_needed"] = {"permutation": th.sample_size_needed(widths, B, target, eta, permutation=True),
                           "classical": th.sample_size_needed(widths, B, target, eta, permutation=False)}
    return out


def _short(text: str) -> str:
    return f"{float(text):.6g}"


def _text(r: dict) -> str:
    lines = [f"widths {','.join(map(str, r['widths']))}, |weights| <= {r['B']}, eps = {r['eps']}: "
             f"S = {r['S']} parameters, grid m = {r['m']} per coordinate, Lambda = {r['Lambda']}",
             f"log N classical   = {_short(r['log_N_classical'])}",
             f"log N permutation = {_short(r['log_N_permutation'])}  (saving {_short(r['log_saving'])}, "
             f"{100 * r['relative_saving']:.3g} %; limit sum log d_l! = {_short(r['log_saving_limit'])})",
             f"finite symmetry group ({r['activation']}): order {r['group_order']}"]
    if "n_needed" in r:
        n = r["n_needed"]
        lines.append(f"samples for a uniform deviation <= {r['target']} (eta = {r['eta']}): "
                     f"{n['permutation']} with the permutation factor, {n['classical']} without "
                     f"({n['classical'] / n['permutation']:.3g}x)")
    return "\n".join(lines)


def cmd_bound(args) -> int:
    r = covering_bound(args.widths, args.B, args.eps, args.activation, args.target, args.eta)
    print(json.dumps(r, indent=1) if args.json else _text(r))
    return 0
