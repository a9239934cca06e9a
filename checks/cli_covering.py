"""``dltv covering bound``: covering numbers of an MLP class with and without the permutation factor.

    dltv covering bound --widths 2,16,16,1 --B 1 --eps 0.01 [--activation tanh] [--json]
    dltv covering bound --widths 2,16,16,1 --B 1 --eps 0.01 --target 0.5 --eta 0.05
    dltv covering bound --widths 2,16,16,1 --B 1 --eps 0.01 --quotient-scaling

The class: networks of the given widths (d_0, hidden widths, d_{L+1}) with every weight
and bias in [-B, B], on inputs in [-1, 1]^{d_0}. Printed: the grid size m and Lipschitz
constant Lambda of the cover, log N(eps) of the classical grid bound and of the bound that
covers only neuron-sorted parameters (the factor prod d_l!), the saving and its limit, the
order of the finite symmetry group for the activation; with ``--target`` (and ``--eta``),
the smallest sample size at which the eps-minimised uniform-deviation bound falls to the
target, with and without the permutation factor (derived formalisation of Shen, arXiv
2305.11417; see ``dltv.theory.covering``).  With ``--activation tanh`` also the sign-flip
bound (hidden biases flipped to >= 0 and sorted: the factor prod 2^{d_l} d_l!) and its sample
size; with ``--quotient-scaling`` (ReLU, leaky ReLU) the bound of the positive-scaling quotient
(every hidden neuron's incoming vector rescaled onto the box boundary; effective dimension
S - sum d_l).
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
    c.add_argument("--quotient-scaling", action="store_true",
                   help="relu / leaky_relu: also the bound of the positive-scaling quotient")
    c.add_argument("--json", action="store_true")
    c.set_defaults(handler=cmd_bound)


_HOMOGENEOUS = ("relu", "leaky_relu")


def covering_bound(widths: str, B, eps, activation: str = "relu", target=None, eta="0.05",
                   quotient_scaling: bool = False) -> dict:
    """The numbers printed by ``dltv covering bound`` (logs at 30 digits, counts exact)."""
    import dltv.theory.covering as th
    from dltv.theory.formulas import check_int, split_list, to_float

    logs = th.log_bounds(widths, B, eps)
    order = th.group_order(widths, activation)
    if quotient_scaling and activation not in _HOMOGENEOUS:
        raise ValueError(f"quotient-scaling needs a positively homogeneous activation ({', '.join(_HOMOGENEOUS)}), "
                         f"got activation {activation!r}")
    flips = activation == "tanh"
    out = {"widths": [check_int("widths", w, 1) for w in split_list("widths", widths)], "B": str(B), "eps": str(eps),
           "activation": activation, "S": int(logs["S"]), "m": int(logs["m"]), "Lambda": str(logs["Lambda"]),
           "log_N_classical": str(logs["log_N_classical"]), "log_N_permutation": str(logs["log_N_permutation"]),
           "log_saving": str(logs["log_saving"]), "log_saving_limit": str(logs["log_saving_limit"]),
           "relative_saving": to_float(logs["relative_saving"]), "group_order": int(order)}
    if flips or quotient_scaling:
        sym = th.symmetry_log_bounds(widths, B, eps)
        if flips:
            out["log_N_sign_flip"] = str(sym["log_N_sign_flip"])
            out["log_saving_limit_sign_flip"] = str(sym["log_saving_limit_sign_flip"])
        if quotient_scaling:
            out["log_N_scaling"] = str(sym["log_N_scaling"])
            out["effective_dimension_scaling"] = int(sym["effective_dimension_scaling"])
    if target is not None:
        out["target"], out["eta"] = str(target), str(eta)
        out["n_needed"] = {"permutation": th.sample_size_needed(widths, B, target, eta, permutation=True),
                           "classical": th.sample_size_needed(widths, B, target, eta, permutation=False)}
        if flips:
            out["n_needed"]["sign_flip"] = th.sample_size_needed(widths, B, target, eta, sign_flips=True)
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
    if "log_N_sign_flip" in r:
        lines.append(f"log N sign flips  = {_short(r['log_N_sign_flip'])}  (biases >= 0 and sorted; limit of the "
                     f"saving sum log 2^d_l d_l! = {_short(r['log_saving_limit_sign_flip'])})")
    if "log_N_scaling" in r:
        lines.append(f"log N scaling     = {_short(r['log_N_scaling'])}  (ReLU scaling quotient; effective "
                     f"dimension {r['effective_dimension_scaling']} of {r['S']})")
    if "n_needed" in r:
        n = r["n_needed"]
        lines.append(f"samples for a uniform deviation <= {r['target']} (eta = {r['eta']}): "
                     f"{n['permutation']} with the permutation factor, {n['classical']} without "
                     f"({n['classical'] / n['permutation']:.3g}x)"
                     + (f", {n['sign_flip']} with sign flips" if "sign_flip" in n else ""))
    return "\n".join(lines)


def cmd_bound(args) -> int:
    r = covering_bound(args.widths, args.B, args.eps, args.activation, args.target, args.eta,
                       args.quotient_scaling)
    print(json.dumps(r, indent=1) if args.json else _text(r))
    return 0
