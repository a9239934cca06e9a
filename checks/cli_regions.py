"""``dltv regions count``: exact activation regions and affine pieces of a 1-D ReLU network.

    dltv regions count --depth D --peaks a0,a1,... [--scales s0,...] [--law] [--json]
    dltv regions count --model FILE.pt [--lo 0 --hi 1] [--json]

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
    c.add_argument("--model", help="a saved scalar-input ReLU MLP (torch.save of an nn.Sequential or its state_dict)")
    c.add_argument("--lo", default="0", help="left end of the interval (default 0)")
    c.add_argument("--hi", default="1", help="right end of the interval (default 1)")
    c.add_argument("--json", action="store_true")
    c.set_defaults(handler=cmd_count)


def _fractions(name: str, text: str) -> list[Fraction]:
    items = [t.strip() for t in text.split(",")]
    if not items or any(not t for t in items):
        raise ValueError(f"{name} must be a non-empty comma list, got {text!r}")
    try:
        return [Fraction(t) for t in items]
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"{name} must be numbers like 1/3 or 0.25, got {text!r}") from None


def _depth(text) -> int:
    try:
        d = int(text)
    except (TypeError, ValueError):
        raise ValueError(f"depth must be an integer >= 1, got {text!r}") from None
    if d < 1:
        raise ValueError(f"depth must be an integer >= 1, got {d}")
    return d


def triangle_count(depth, peaks: str, scales: str | None = None, law: bool = False) -> dict:
    """Exact counts of the triangle network with the given parameters (convex output x - F_d)."""
    import dltv.numerics.regions as nr  # torch loads only when a count is asked for

    d = _depth(depth)
    a = _fractions("peaks", peaks)
    need = d + 1 if law else d
    if len(a) != need:
        raise ValueError(f"peaks must have {need} values for depth {d}{' with --law' if law else ''}, got {len(a)}")
    nr._check_peaks(a)
    if law:
        s_in = _fractions("scales", scales) if scales else [a[0] * a[1]]
        if len(s_in) != 1:
            raise ValueError(f"scales must be one value s_0 with --law, got {len(s_in)}")
        s = nr.law_scales(a, nr._check_scales(s_in)[0], d)
    else:
        s = _fractions("scales", scales) if scales else [Fraction(1)] * d
        if len(s) != d:
            raise ValueError(f"scales must have {d} values for depth {d}, got {len(s)}")
        nr._check_scales(s)
    rc = nr.count_regions(nr.exact_triangle_layers(a[:d], s, sign=-1, sign_in=1, offset=sum(s)))
    return {"depth": d, "activation_regions": rc.activation_regions, "affine_pieces": rc.affine_pieces,
            "scales": [str(v) for v in s]}


def model_count(path: str, lo: str = "0", hi: str = "1") -> dict:
    """Exact counts of a saved scalar-input MLP (Linear/ReLU Sequential or its state_dict)."""
    import torch

    import dltv.numerics.regions as nr
    from torch import nn

    try:
        with torch.serialization.safe_globals([nn.Sequential, nn.Linear, nn.ReLU]):
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ValueError(f"model file not found: {path!r}") from None
    except Exception as err:
        raise ValueError(f"model must be a torch.save'd nn.Sequential or state_dict; could not load {path!r}: "
                         f"{type(err).__name__}") from None
    if isinstance(obj, dict):
        tensors = [v for k, v in obj.items() if k.endswith(("weight", "bias"))]
        weights = [v for k, v in obj.items() if k.endswith("weight")]
        biases = [v for k, v in obj.items() if k.endswith("bias")]
        if not weights or len(weights) != len(biases) or len(tensors) != len(obj):
            raise ValueError("model state_dict must hold a weight and a bias per Linear layer, nothing else")
        obj = list(zip(weights, biases))
    elif not isinstance(obj, nn.Module):
        raise ValueError(f"model must be an nn.Sequential or a state_dict, got {type(obj).__name__}")
    try:
        lo_f, hi_f = Fraction(lo), Fraction(hi)
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"lo and hi must be numbers, got {lo!r}, {hi!r}") from None
    rc = nr.count_regions(obj, lo_f, hi_f)
    return {"model": path, "interval": [str(lo_f), str(hi_f)], "activation_regions": rc.activation_regions,
            "affine_pieces": rc.affine_pieces}


def cmd_count(args) -> int:
    if args.model:
        if args.depth or args.peaks or args.scales or args.law:
            raise ValueError("give either --model or --depth/--peaks, not both")
        out = model_count(args.model, args.lo, args.hi)
    else:
        if not args.depth or not args.peaks:
            raise ValueError("regions count needs --depth and --peaks (or --model FILE.pt)")
        if (args.lo, args.hi) != ("0", "1"):
            raise ValueError("--lo/--hi apply to --model only (the triangle network lives on [0, 1])")
        out = triangle_count(args.depth, args.peaks, args.scales, args.law)
    if args.json:
        print(json.dumps(out))
    else:
        print(f"activation_regions {out['activation_regions']}")
        print(f"affine_pieces {out['affine_pieces']}")
    return 0
