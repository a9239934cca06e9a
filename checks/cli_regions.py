"""``dltv regions count``: exact activation regions and affine pieces of a 1-D ReLU network.

    dltv regions count --depth D --peaks a0,a1,... [--scales s0,...] [--law] [--json]
    dltv regions count --model FILE.pt [--layers fc1,fc2,out | --arch 1,8,8,1] [--lo 0 --hi 1] [--min-length 1e-12] [--json]

Peaks and scales accept exact rationals (``1/3``) and decimals (``0.25`` is read exactly).
With ``--law`` give d+1 peaks and at most one scale s_0 (default a_0 a_1).
"""
from __future__ import annotations

import json
from fractions import Fraction


def register(subparsers) -> None:
    p = subparsers.add_parser("regions", help="linear regions of 1-D ReLU networks (exact)")
    sub = p.add_subparsers(dest="regions_command", required=True, parser_class=type(p))
    c = sub.add_parser("count", help="count activation regions and affine pieces exactly")
    c.add_argument("--depth", help="hidden layers d of the triangle network")
    c.add_argument("--peaks", help="comma list a_0,...,a_{d-1} in (0,1) (d+1 values with --law)")
    c.add_argument("--scales", help="comma list s_0,...,s_{d-1} > 0 (default all 1; with --law only s_0)")
    c.add_argument("--law", action="store_true", help="tie the scales by s_{i+1} = s_i (1-a_{i+1}) a_{i+2}")
    c.add_argument("--model", help="a saved scalar-input ReLU network (torch.save of a module, a torch.export "
                                   "program .pt2, or a state_dict of its Linear layers)")
    c.add_argument("--layers", help="with a state_dict: its Linear layer names in forward order, e.g. fc1,fc2,out "
                                    "(needed unless the names are Sequential-style <prefix>.<i> or --arch is given)")
    c.add_argument("--arch", help="with a state_dict: its widths 1,d_1,...,d_(L+1) (the order then follows the shapes)")
    c.add_argument("--trust", action="store_true", help="unpickle a custom module class from a file you trust")
    c.add_argument("--min-length", default="0", help="also count the regions and pieces at least this long "
                                                     "(e.g. 1e-12: rounding slivers of float weights are ~1e-17)")
    c.add_argument("--lo", default="0", help="left end of the interval (default 0)")
    c.add_argument("--hi", default="1", help="right end of the interval (default 1)")
    c.add_argument("--json", action="store_true")
    c.set_defaults(handler=cmd_count)


def parse_fractions(name: str, values, n: int | None = None) -> list[Fraction]:
    """Exact rationals from a comma list like ``1/3,0.25`` (decimals read as written) or a sequence
    of numbers (floats read exactly, as the binary values they are); ``n``: the count required."""
    items = [t.strip() for t in values.split(",")] if isinstance(values, str) else list(values)
    if not items or any(isinstance(t, str) and not t for t in items):
        raise ValueError(f"{name} must be a non-empty comma list, got {values!r}")
    try:
        out = [v if isinstance(v, Fraction) else Fraction(v) if isinstance(v, (int, str)) else Fraction(float(v))
               for v in items]
    except (ValueError, ZeroDivisionError, TypeError):
        raise ValueError(f"{name} must be numbers like 1/3 or 0.25, got {values!r}") from None
    if n is not None and len(out) != n:
        raise ValueError(f"{name} must have {n} values, got {len(out)}")
    return out


def _depth(text) -> int:
    try:
        d = int(text)
    except (TypeError, ValueError):
        raise ValueError(f"depth must be an integer >= 1, got {text!r}") from None
    if d < 1:
        raise ValueError(f"depth must be an integer >= 1, got {d}")
    return d


def triangle_count(depth, peaks: str, scales: str | None = None, law: bool = False, min_length: str = "0") -> dict:
    """Exact counts of the triangle network with the given parameters (convex output x - F_d)."""
    import dltv.numerics.regions_exact as nr  # torch-free: the triangle path never loads torch

    d = _depth(depth)
    a = parse_fractions("peaks", peaks)
    need = d + 1 if law else d
    if len(a) != need:
        raise ValueError(f"peaks must have {need} values for depth {d}{' with --law' if law else ''}, got {len(a)}")
    nr._check_peaks(a)
    if law:
        s_in = parse_fractions("scales", scales) if scales else [a[0] * a[1]]
        if len(s_in) != 1:
            raise ValueError(f"scales must be one value s_0 with --law, got {len(s_in)}")
        s = nr.law_scales(a, nr._check_scales(s_in)[0], d)
    else:
        s = parse_fractions("scales", scales) if scales else [Fraction(1)] * d
        if len(s) != d:
            raise ValueError(f"scales must have {d} values for depth {d}, got {len(s)}")
        nr._check_scales(s)
    min_f = parse_fractions("min-length", min_length)[0]
    rc = nr.count_regions(nr.exact_triangle_layers(a[:d], s, sign=-1, sign_in=1, offset=sum(s)), min_length=min_f,
                          progress=_layer_progress(d), detail=False)
    out = {"depth": d, "activation_regions": rc.activation_regions, "affine_pieces": rc.affine_pieces,
           "scales": [str(v) for v in s]}
    if min_f > 0:
        out.update(min_length=str(min_f), long_regions=rc.long_regions, long_pieces=rc.long_pieces)
    return out


def model_count(path: str, lo: str = "0", hi: str = "1", layers: str | None = None, min_length: str = "0",
                arch: str | None = None, trust: bool = False) -> dict:
    """Exact counts of a saved scalar-input ReLU network, read by dltv's one model loader
    (:mod:`dltv.numerics.models`): a torch.save'd module, a torch.export program, or a state_dict
    of Linear layers whose order its names (or ``layers``) fix, or whose shapes chain ``arch``."""
    import dltv.numerics.models as models
    import dltv.numerics.regions as nr

    try:
        lo_f, hi_f, min_f = Fraction(lo), Fraction(hi), Fraction(min_length)
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"lo, hi and min-length must be numbers, got {lo!r}, {hi!r}, {min_length!r}") from None
    order = [t.strip() for t in layers.split(",")] if layers else None
    obj = models.load_file(path, trust)
    if isinstance(obj, dict):
        chain = models.read_state_dict(obj, arch, "relu", order)
    else:
        chain = models.chain_of(obj, arch, None, order, path)
    net = nr.relu_pairs(chain, f"model {path!r}")
    if chain.widths[0] != 1:
        raise ValueError(f"regions count needs a scalar input; model {path!r} has input dimension {chain.widths[0]} "
                         "(dltv inspect counts 2-d inputs exactly and n-d ones on a slice)")
    rc = nr.count_regions(net, lo_f, hi_f, min_length=min_f, progress=_layer_progress(len(net) - 1), detail=False)
    out = {"model": path, "interval": [str(lo_f), str(hi_f)], "activation_regions": rc.activation_regions,
           "affine_pieces": rc.affine_pieces}
    if min_f > 0:
        out.update(min_length=str(min_f), long_regions=rc.long_regions, long_pieces=rc.long_pieces)
    return out


def cmd_count(args) -> int:
    if args.model:
        if args.depth or args.peaks or args.scales or args.law:
            raise ValueError("give either --model or --depth/--peaks, not both")
        out = model_count(args.model, args.lo, args.hi, args.layers, args.min_length, args.arch, args.trust)
    else:
        if not args.depth or not args.peaks:
            raise ValueError("regions count needs --depth and --peaks (or --model FILE.pt)")
        if (args.lo, args.hi) != ("0", "1") or args.layers or args.arch or args.trust:
            raise ValueError("--lo/--hi/--layers/--arch/--trust apply to --model only (the triangle network lives "
                             "on [0, 1])")
        out = triangle_count(args.depth, args.peaks, args.scales, args.law, args.min_length)
    if args.json:
        print(json.dumps(out))
    else:
        print(f"activation_regions {out['activation_regions']}")
        print(f"affine_pieces {out['affine_pieces']}")
        if "long_regions" in out:
            print(f"activation_regions_at_least_{out['min_length']} {out['long_regions']}")
            print(f"affine_pieces_at_least_{out['min_length']} {out['long_pieces']}")
    return 0


def _layer_progress(depth: int, at_least: int = 12, every: float = 1.0):
    """Progress on stderr for counts deep enough to take a while (None otherwise), at most once per ``every`` s.

    The counter reports each hidden layer while the partition is one block, then each block
    that reaches the last hidden layer; the first report always prints.
    """
    import sys
    import time

    if depth < at_least:
        return None
    last = [-float("inf")]

    def report(layer: int, layers: int, segments: int) -> None:
        now = time.monotonic()
        if now - last[0] >= every:
            last[0] = now
            print(f"counting: layer {layer}/{layers}, {segments} segments", file=sys.stderr, flush=True)
    return report
