"""``dltv allocation check``: the verdict for a user's allocation of learnable weights.

    dltv allocation check --widths 4,3,3,2 --m 6 --layers W1,W3 [--json]
    dltv allocation check --widths 4,3,3,2 --m 6 --entries W1:0:0,W1:1:2,W2:0:1 [--draws 400]
    dltv allocation check --widths 4,3,3,2 --m 6 --mask mask.json

A linear student ``y = W_L ... W_1 x`` (``W_l`` is ``d_l x d_{l-1}``) learns the listed
entries and keeps the others at random values; it must reproduce a random teacher on m
generic inputs. Printed: the number of independent equations E(m), the budget M, the
exact generic rank r_A of the allocation (rational arithmetic), the theory's verdict with
its rule (MP = 1 or 0, or only MP > 0 for several layers at full rank), and, where the
theory leaves the match probability open, its Monte-Carlo estimate with standard error
from multi-start Levenberg-Marquardt (a solver's lower bound).

A mask file is JSON ``{"W1": [[0, 1, ...], ...], ...}`` with one 0/1 matrix per learnable
layer (layers left out are fixed).
"""
from __future__ import annotations

import json
from pathlib import Path


def register(subparsers) -> None:
    p = subparsers.add_parser("allocation", help="subset learning: verdicts for an allocation of learnable weights")
    sub = p.add_subparsers(dest="allocation_command", required=True, parser_class=type(p))
    c = sub.add_parser("check", help="equation count, exact rank verdict and match probability of an allocation")
    c.add_argument("--widths", required=True, help="d_0,...,d_L of the linear network, e.g. 4,3,3,2")
    c.add_argument("--m", required=True, help="number of generic inputs the student must match")
    how = c.add_mutually_exclusive_group(required=True)
    how.add_argument("--layers", help="whole layers learnable, e.g. W1,W3")
    how.add_argument("--entries", help="learnable entries NAME:ROW:COL, e.g. W1:0:0,W2:1:0 (0-based)")
    how.add_argument("--mask", help="JSON file {\"W1\": [[0,1,...],...], ...} of 0/1 masks")
    c.add_argument("--draws", default="200", help="teachers for the Monte-Carlo match probability where the "
                                                  "theory leaves it open (0: skip; default 200)")
    c.add_argument("--seed", default="0", help="seed of the exact rank and of the draws (default 0)")
    c.add_argument("--json", action="store_true")
    c.set_defaults(handler=cmd_check)


def _ints(name: str, text) -> list[int]:
    from dltv.theory.formulas import check_int, split_list

    return [check_int(name, t, 1) for t in split_list(name, text)]


def _layer_names(shapes: dict, text: str) -> list[str]:
    names = [t.strip() for t in text.split(",") if t.strip()]
    if not names:
        raise ValueError(f"layers must name at least one of {', '.join(shapes)}, got {text!r}")
    for n in names:
        if n not in shapes:
            raise ValueError(f"layers must be among {', '.join(shapes)}, got {n!r}")
    return names


def _entries(shapes: dict, text: str) -> list[tuple]:
    out = []
    for item in (t.strip() for t in text.split(",")):
        parts = item.split(":")
        if len(parts) != 3:
            raise ValueError(f"entries must be NAME:ROW:COL items, got {item!r}")
        name, i, j = parts[0], parts[1], parts[2]
        if name not in shapes:
            raise ValueError(f"entries: matrix must be one of {', '.join(shapes)}, got {name!r}")
        try:
            i, j = int(i), int(j)
        except ValueError:
            raise ValueError(f"entries: row and column must be integers, got {item!r}") from None
        rows, cols = shapes[name]
        if not (0 <= i < rows and 0 <= j < cols):
            raise ValueError(f"entries: {item!r} lies outside {name}, which is {rows} x {cols}")
        out.append((name, i, j))
    if len(set(out)) != len(out):
        raise ValueError("entries must not repeat an entry")
    return out


def _mask(shapes: dict, path: str) -> list[tuple]:
    try:
        data = json.loads(Path(path).read_text())
    except OSError as err:
        raise ValueError(f"mask: cannot read {path!r} ({err.strerror or err})") from None
    except json.JSONDecodeError as err:
        raise ValueError(f"mask: {path!r} is not JSON ({err.msg}, line {err.lineno})") from None
    if not isinstance(data, dict) or not data:
        raise ValueError(f"mask must be a JSON object of 0/1 matrices by layer name, got {type(data).__name__}")
    out = []
    for name, rows in data.items():
        if name not in shapes:
            raise ValueError(f"mask: layer must be one of {', '.join(shapes)}, got {name!r}")
        r, c = shapes[name]
        if (not isinstance(rows, list) or len(rows) != r
                or any(not isinstance(row, list) or len(row) != c for row in rows)):
            raise ValueError(f"mask: {name} must be a {r} x {c} list of lists")
        for i, row in enumerate(rows):
            for j, v in enumerate(row):
                if v not in (0, 1) or isinstance(v, float) and not v.is_integer():
                    raise ValueError(f"mask: {name}[{i}][{j}] must be 0 or 1, got {v!r}")
                if v:
                    out.append((name, i, j))
    return out


def estimate_match_probability(widths: list[int], m: int, alloc: list[tuple], draws: int, seed: int,
                               starts: int = 8, iters: int = 150, tol: float = 1e-8) -> dict:
    """Frequency with which multi-start LM matches a random teacher (a lower bound on MP)."""
    import math

    import torch

    import dltv.numerics.allocation as num
    from dltv.numerics.threads import one_thread

    gen = torch.Generator().manual_seed(seed)
    shapes = num.lffn_shapes(widths)
    with one_thread():
        T, S = num.sample_weights(shapes, gen, (draws,)), num.sample_weights(shapes, gen, (draws,))
        X = num.sample_inputs((draws, widths[0], m), gen)
        res = num.solve_lm(num.lffn_forward, S, X, sorted(alloc), num.lffn_forward(T, X), starts=starts,
                           generator=gen, iters=iters)
    p, n = num.frequency((res < tol).numpy())
    return {"mp": p, "se": math.sqrt(max(p * (1 - p), 1.0 / n) / n), "n": n, "solver":
            f"multi-start Levenberg-Marquardt ({starts} starts, {iters} iterations), "
            f"match at relative residual < {tol:g}: a lower bound on MP"}


def allocation_check(widths, m, layers: str | None = None, entries: str | None = None, mask: str | None = None,
                     draws="200", seed="0") -> dict:
    """Equation count, exact rank, verdict and match probability of one allocation (see module)."""
    import dltv.theory.allocation as th
    from dltv.theory.formulas import check_int

    ws = _ints("widths", widths)
    if len(ws) < 2:
        raise ValueError(f"widths must list at least d_0 and d_L, got {widths!r}")
    m = check_int("m", m, 1)
    draws = check_int("draws", draws, 0)
    seed = check_int("seed", seed, 0)
    shapes = th.lffn_shapes(ws)
    given = sum(x is not None for x in (layers, entries, mask))
    if given != 1:
        raise ValueError("give exactly one of layers, entries or mask")
    if layers is not None:
        alloc = th.entries(shapes, _layer_names(shapes, layers))
    elif entries is not None:
        alloc = _entries(shapes, entries)
    else:
        alloc = _mask(shapes, mask)
    if not alloc:
        raise ValueError("the allocation is empty: name at least one learnable entry")
    verdict = th.lffn_verdict(ws, m, alloc, seed=seed)
    out = {"widths": ws, "m": m, "M": len(alloc), "equations": th.equations(ws, m),
           "bottleneck": th.has_bottleneck(ws, m), "symmetry_loss": th.symmetry_loss(ws, alloc),
           "rank": th.lffn_exact_rank(ws, m, alloc, seed), "layers": sorted(th.layers_of(alloc)),
           "verdict": {"mp": verdict.mp, "rule": verdict.rule, "reason": verdict.reason}}
    if verdict.mp is not None:
        out["match_probability"] = {"mp": verdict.mp, "exact": True}
    elif draws:
        out["match_probability"] = {**estimate_match_probability(ws, m, alloc, draws, seed), "exact": False}
    else:
        out["match_probability"] = None
    return out


def _text(r: dict) -> str:
    v, mp = r["verdict"], r["match_probability"]
    lines = [f"widths {','.join(map(str, r['widths']))}, m = {r['m']}: M = {r['M']} learnable entries in "
             f"{', '.join(r['layers'])}",
             f"equations E(m) = {r['equations']}" + (" (a fixed layer is a bottleneck)" if r["bottleneck"] else ""),
             f"exact generic rank r_A = {r['rank']}, symmetry loss {r['symmetry_loss']}",
             f"verdict ({v['rule']}): {v['reason']}"]
    if mp is None:
        lines.append("match probability: > 0 (not estimated: --draws 0)")
    elif mp["exact"]:
        lines.append(f"match probability: {mp['mp']} (exact)")
    else:
        lines.append(f"match probability: {mp['mp']:.3f} ± {mp['se']:.3f} (n = {mp['n']}; {mp['solver']})")
    return "\n".join(lines)


def cmd_check(args) -> int:
    r = allocation_check(args.widths, args.m, layers=args.layers, entries=args.entries, mask=args.mask,
                         draws=args.draws, seed=args.seed)
    print(json.dumps(r, indent=1) if args.json else _text(r))
    return 0
