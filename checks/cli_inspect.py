"""``dltv inspect MODEL``: exact regions, symmetries, spectra (and the kernel at init) of your own network.

    dltv inspect net.pt [--box x0,x1,y0,y1] [--json] [--out DIR]
    dltv inspect state.pt --arch 2,16,16,1 --activation relu [--layers fc1,fc2,out]
    dltv inspect net.pt2 --parts regions --slice "p0;p1;p2"       # n-d input: a 2-d slice (or --segment "p;q")
    dltv inspect net.pt --parts symmetries --canonical canon.pt

Without ``--parts`` every part that applies runs (regions for piecewise-linear nets with 1-d or
2-d input or a given slice/segment, symmetries for one nonlinear hidden activation, spectra);
a part named in ``--parts`` that does not apply is an error.
"""
from __future__ import annotations

import json
from pathlib import Path

PARTS = ("regions", "symmetries", "spectra", "kernel")


def register(subparsers) -> None:
    p = subparsers.add_parser("inspect", help="exact regions, symmetries and spectra of your own torch model")
    p.add_argument("model", help="torch.save of an nn.Sequential, a state_dict (with --arch), or a "
                                 "torch.export program (.pt2)")
    p.add_argument("--arch", help="with a state_dict: widths d_0,...,d_(L+1), e.g. 2,16,16,1")
    p.add_argument("--activation", help="with a state_dict: the hidden activation (relu, leaky_relu, tanh, gelu, "
                                        "identity; default relu)")
    p.add_argument("--layers", help="with a state_dict: its Linear layer names in forward order, e.g. fc1,fc2,out")
    p.add_argument("--trust", action="store_true", help="unpickle a custom module class (runs code from the file: "
                                                        "only for files you trust)")
    p.add_argument("--parts", help=f"comma list of {', '.join(PARTS)} (default: those that apply)")
    p.add_argument("--box", help="regions: --box=x0,x1,y0,y1 (2-d input, default -1,1,-1,1; slice coordinates "
                                 "u,v with --slice, default 0,1,0,1)")
    p.add_argument("--interval", help="regions of a 1-d input: lo,hi (default -1,1)")
    p.add_argument("--slice", dest="slice_points", help="regions of an n-d input on the plane through three "
                                                        "points p0;p1;p2 (each a comma list)")
    p.add_argument("--segment", help="regions of an n-d input along the segment p;q")
    p.add_argument("--n-inputs", type=int, default=256, help="spectra and symmetries: random N(0, I) inputs")
    p.add_argument("--rtol", type=float, default=1e-3, help="spectra: numerical rank threshold (default 1e-3)")
    p.add_argument("--n-networks", type=int, default=20000, help="kernel: random initialisations to sample")
    p.add_argument("--ntk-networks", type=int, default=2000, help="kernel: initialisations for the autograd NTK "
                                                                  "(0 skips the NTK)")
    p.add_argument("--C-W", dest="C_W", type=float, help="kernel: weight variance C_W (W ~ N(0, C_W/n_in); "
                                                         "default 2 for relu, else 1)")
    p.add_argument("--C-b", dest="C_b", type=float, default=0.0, help="kernel: bias variance C_b (default 0)")
    p.add_argument("--canonical", help="symmetries: save the canonical form (nn.Sequential) to this file")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--out", help="write inspect.json, the figures (regions.png, spectra.png) and the regions' "
                                 "polygons (regions.json) into this folder")
    p.set_defaults(handler=cmd_inspect)


def _parts(text: str | None) -> list[str] | None:
    if text is None:
        return None
    parts = [t.strip() for t in text.split(",") if t.strip()]
    bad = [t for t in parts if t not in PARTS]
    if not parts or bad:
        raise ValueError(f"parts must be a comma list of {', '.join(PARTS)}, got {text!r}")
    return parts


def _out_dir(path: str | None) -> Path | None:
    if path is None:
        return None
    out = Path(path)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ValueError(f"out folder {path!r} cannot be created ({err.strerror})") from None
    return out


def _applies(chain, part: str, args) -> str | None:
    """None when ``part`` applies to the model with these arguments, else why not."""
    d0 = chain.widths[0]
    if part == "regions":
        if not chain.piecewise_linear:
            return f"hidden activations {', '.join(sorted(set(chain.hidden_activations)))} are not piecewise linear"
        if d0 > 2 and not (args.slice_points or args.segment):
            return f"the input is {d0}-d: give --slice p0;p1;p2 or --segment p;q"
    if part == "symmetries" and chain.activation in ("mixed", "identity"):
        return "needs one nonlinear hidden activation"
    if part == "kernel":
        if chain.activation not in ("relu", "tanh", "gelu") or len(chain.widths) < 3:
            return "needs hidden layers with one activation among relu, tanh, gelu"
        if args.parts is None and max(chain.widths) > 256:
            return "widths above 256: ask for it with --parts kernel (it samples --n-networks networks)"
    return None


def inspect_model(args) -> tuple[dict, dict]:
    """Run the parts; return (the JSON summary, {name: matplotlib figure})."""
    import torch

    from dltv.checks import inspect as ins
    from dltv.numerics.covering import ResidualMLP, SmallCNN
    from dltv.numerics.models import chain_of, load_file

    layers = [t.strip() for t in args.layers.split(",")] if args.layers else None
    asked = _parts(args.parts)
    obj = load_file(args.model, trust=args.trust)
    if isinstance(obj, (SmallCNN, ResidualMLP)):
        return _covering_model(obj, args, asked), {}
    chain = chain_of(obj, args.arch, args.activation, layers, args.model)
    summary = {"model": args.model, "widths": chain.widths, "hidden_activations": chain.hidden_activations}
    figures = {}
    for part in asked or PARTS:
        why = _applies(chain, part, args)
        if why is not None:
            if asked is not None:
                raise ValueError(f"{part}: {why}")
            summary.setdefault("skipped", {})[part] = why
            continue
        if part == "regions":
            res = ins.inspect_regions(chain, interval=args.interval, box=args.box, slice_points=args.slice_points,
                                      segment=args.segment)
            summary["regions"] = res.to_dict()
            if res.partition is not None and args.out:
                figures["regions"] = ins.regions_figure(res)
                figures["regions_polygons"] = res.partition
        elif part == "symmetries":
            res = ins.inspect_symmetries(chain, n_inputs=max(args.n_inputs, 1), seed=args.seed)
            summary["symmetries"] = res.to_dict()
            if args.canonical:
                try:
                    torch.save(res.canonical.to_module(), args.canonical)
                except OSError as err:
                    raise ValueError(f"canonical file {args.canonical!r} cannot be written ({err.strerror})") from None
                summary["symmetries"]["canonical_file"] = args.canonical
        elif part == "spectra":
            res = ins.inspect_spectra(chain, n_inputs=max(args.n_inputs, 1), rtol=args.rtol, seed=args.seed)
            summary["spectra"] = res.to_dict()
            if args.out:
                figures["spectra"] = ins.spectra_figure(res)
        elif part == "kernel":
            res = ins.inspect_kernel(chain, n_networks=args.n_networks, C_W=args.C_W, C_b=args.C_b, seed=args.seed,
                                     ntk_networks=args.ntk_networks)
            summary["kernel"] = res.to_dict()
    if args.canonical and "symmetries" not in summary:
        raise ValueError("--canonical needs the symmetries part")
    return summary, figures


def _covering_model(model, args, asked: list[str] | None) -> dict:
    """The covering area's CNN / residual MLP: the symmetries part only."""
    import torch

    from dltv.checks import inspect as ins

    if asked is not None and asked != ["symmetries"]:
        raise ValueError(f"{type(model).__name__} (a convolutional or residual model) supports the symmetries part "
                         "only")
    if args.arch or args.activation or args.layers:
        raise ValueError("--arch, --activation and --layers apply to a state_dict only")
    res = ins.inspect_symmetries(model, n_inputs=max(args.n_inputs, 1), seed=args.seed)
    summary = {"model": args.model, "widths": res.widths, "hidden_activations": [type(model).__name__],
               "symmetries": res.to_dict()}
    if args.canonical:
        try:
            torch.save(res.canonical, args.canonical)
        except OSError as err:
            raise ValueError(f"canonical file {args.canonical!r} cannot be written ({err.strerror})") from None
        summary["symmetries"]["canonical_file"] = args.canonical
    if asked is None:
        summary["skipped"] = {p: f"{type(model).__name__} is not a chain of Linear layers"
                              for p in PARTS if p != "symmetries"}
    return summary


def _text(summary: dict) -> list[str]:
    lines = [f"model {summary['model']}: widths {','.join(map(str, summary['widths']))}, hidden "
             f"{','.join(summary['hidden_activations']) or 'none'}"]
    r = summary.get("regions")
    if r:
        d = r["domain"]
        if r["kind"] == "interval":
            where = f"on [{d[0]}, {d[1]}]"
        elif r["kind"] == "segment":
            where = f"along the segment {d[0]} -> {d[1]}"
        elif r["kind"] == "box":
            where = f"in the box [{d[0]}, {d[1]}] x [{d[2]}, {d[3]}]"
        else:
            where = f"on the slice through {d[4]} ((u, v) in [{d[0]}, {d[1]}] x [{d[2]}, {d[3]}])"
        extra = (f", {r['affine_pieces']} affine pieces" if "affine_pieces" in r
                 else f", {r['distinct_maps']} distinct affine maps")
        lines.append(f"regions: {r['activation_regions']} activation regions {where}{extra} (exact, "
                     f"{r['seconds']:.2f} s)")
    s = summary.get("symmetries")
    if s:
        order = int(s["group_order"])
        shown = str(order) if order < 10 ** 12 else f"{order:.3e}"
        lines.append(f"symmetries: |G| = {shown} ({s['group']}); continuous: {s['continuous']}; canonical form "
                     f"computes the same function to {s['canonical_max_error']:.1e} on {s['n_inputs']} inputs"
                     + (f", saved to {s['canonical_file']}" if "canonical_file" in s else ""))
    sp = summary.get("spectra")
    if sp:
        lines.append(f"spectra: weight ranks {','.join(map(str, sp['weight_ranks']))}; representation ranks "
                     f"{','.join(f'{v:g}' for v in sp['representation_ranks'])}; bottleneck rank "
                     f"{sp['bottleneck_rank']:g} at layer {sp['bottleneck_layer']} (rtol {sp['rtol']:g})")
    kr = summary.get("kernel")
    if kr:
        worst = max(kr["entries"], key=lambda e: abs(e["z_corrected"]))
        lines.append(f"kernel at init (C_W {kr['C_W']:g}, C_b {kr['C_b']:g}, {kr['n_networks']} networks): 1/n-corrected "
                     f"NNGP {'agrees' if kr['corrected_agrees'] else 'DISAGREES'} (worst |z| "
                     f"{abs(worst['z_corrected']):.1f}, z_crit {kr['z_crit']:.1f}); infinite width "
                     f"{'rejected' if kr['infinite_width_rejected'] else 'not rejected'} (max |z| "
                     f"{max(abs(e['z_infinite_width']) for e in kr['entries']):.1f})")
        if kr.get("ntk_entries"):
            worst_ntk = max(abs(e["z_infinite_width"]) for e in kr["ntk_entries"])
            lines.append(f"NTK at init ({kr['ntk_networks']} networks, autograd): infinite-width NTK "
                         f"{'agrees' if kr['ntk_agrees'] else 'DISAGREES'} at this width (max |z| {worst_ntk:.1f})")
    for part, why in summary.get("skipped", {}).items():
        lines.append(f"{part}: skipped ({why})")
    for path in summary.get("files", []):
        lines.append(f"wrote {path}")
    return lines


def cmd_inspect(args) -> int:
    from dltv.checks.report import atomic_write

    out = _out_dir(args.out)
    summary, figures = inspect_model(args)
    if out is not None:
        import io

        import matplotlib.pyplot as plt

        files = []
        part = figures.pop("regions_polygons", None)
        if part is not None:           # where the regions are: each polygon (float vertices) and its pattern
            polygons = [{"vertices": part.vertices(r).tolist(), "pattern": part.patterns[r].hex()}
                        for r in range(part.count)]
            atomic_write(out / "regions.json", json.dumps({"box": [str(v) for v in part.box],
                                                           "regions": polygons}).encode())
            files.append(str(out / "regions.json"))
        for name, fig in figures.items():
            buf = io.BytesIO()
            fig.savefig(buf, format="png")
            plt.close(fig)
            atomic_write(out / f"{name}.png", buf.getvalue())
            files.append(str(out / f"{name}.png"))
        summary["files"] = files + [str(out / "inspect.json")]
        atomic_write(out / "inspect.json", json.dumps(summary, indent=1).encode())
    if args.json:
        print(json.dumps(summary))
    else:
        print("\n".join(_text(summary)))
    return 0
