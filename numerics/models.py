"""One loader for a user's own network: a chain of affine layers, read in forward order.

Every exact tool of dltv (regions in 1-d and 2-d, symmetry groups and canonical forms,
spectra, kernels at initialisation) reads a user's model through :func:`read_module` (an
in-memory ``nn.Module``) or :func:`load_model` (a file).  The result is an
:class:`AffineChain`: affine maps ``z_{l+1} = W_l h_l + b_l`` with one activation after each
but the last, in float64.

Accepted layers: Linear, ReLU, LeakyReLU, Tanh, GELU, and the identity-like Identity,
Flatten (of already flat inputs) and Dropout (read as in eval mode).  An ``nn.Sequential`` is
walked in registration order (which is its forward order); any other module is traced with
``torch.fx`` and its graph walked node by node, so the order is the one of ``forward`` itself;
a ``torch.export`` program is walked the same way.  Anything else -- an unsupported layer, a
branch or residual connection, an activation without a Linear before it -- is refused with a
``ValueError`` naming the layer and what is supported: never a silent misreading.

A state_dict holds no forward pass: it is read only with the architecture (``arch``, the
widths d_0, ..., d_{L+1}, and ``activation``), and only when the order of its Linear layers is
established -- by Sequential-style names ``<prefix>.<i>``, by explicit layer names, or because
exactly one order of its layers chains the shapes of ``arch``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

DTYPE = torch.float64
ACTIVATIONS = ("relu", "leaky_relu", "tanh", "gelu", "identity")
SUPPORTED = "Linear, ReLU, LeakyReLU, Tanh, GELU, Identity, Flatten, Dropout"
_SKIP = (nn.Identity, nn.Flatten, nn.Dropout)


@dataclass(frozen=True)
class AffineLayer:
    """``z = weight @ h + bias``, then ``activation`` (``identity`` for the output layer)."""

    name: str
    weight: torch.Tensor
    bias: torch.Tensor
    activation: str = "identity"
    negative_slope: float = 0.0

    def act(self, z: torch.Tensor) -> torch.Tensor:
        if self.activation == "relu":
            return torch.relu(z)
        if self.activation == "leaky_relu":
            return F.leaky_relu(z, self.negative_slope)
        if self.activation == "tanh":
            return torch.tanh(z)
        if self.activation == "gelu":
            return F.gelu(z)
        return z


@dataclass(frozen=True)
class AffineChain:
    """A network read in forward order: ``layers[-1]`` is the output layer (no activation)."""

    layers: tuple[AffineLayer, ...]
    source: str = "module"

    @property
    def widths(self) -> list[int]:
        """d_0, d_1, ..., d_{L+1}."""
        return [self.layers[0].weight.shape[1]] + [l.weight.shape[0] for l in self.layers]

    @property
    def hidden_activations(self) -> list[str]:
        return [l.activation for l in self.layers[:-1]]

    @property
    def activation(self) -> str:
        """The one hidden activation (``identity`` for a single affine layer), else ``mixed``."""
        acts = {(l.activation, l.negative_slope) for l in self.layers[:-1]}
        if not acts:
            return "identity"
        return acts.pop()[0] if len(acts) == 1 else "mixed"

    @property
    def piecewise_linear(self) -> bool:
        return all(a in ("relu", "leaky_relu", "identity") for a in self.hidden_activations)

    def pairs(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """[(W, b), ...] as float64 tensors (the form of the regions, covering and bottleneck areas)."""
        return [(l.weight, l.bias) for l in self.layers]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """f(x) for inputs x of shape (n, d_0), float64."""
        h = torch.as_tensor(x, dtype=DTYPE)
        for l in self.layers:
            h = l.act(h @ l.weight.T + l.bias)
        return h

    __call__ = forward

    def to_module(self) -> nn.Sequential:
        """An equivalent ``nn.Sequential`` of Linear and activation layers (float64)."""
        mods: list[nn.Module] = []
        for l in self.layers:
            lin = nn.Linear(l.weight.shape[1], l.weight.shape[0], dtype=DTYPE)
            with torch.no_grad():
                lin.weight.copy_(l.weight)
                lin.bias.copy_(l.bias)
            mods.append(lin)
            mods += {"relu": [nn.ReLU()], "leaky_relu": [nn.LeakyReLU(l.negative_slope)], "tanh": [nn.Tanh()],
                     "gelu": [nn.GELU()], "identity": []}[l.activation]
        return nn.Sequential(*mods)


def from_pairs(pairs: Sequence, activation: str = "relu", negative_slope: float = 0.01,
               source: str = "layers") -> AffineChain:
    """An :class:`AffineChain` from ``[(W, b), ...]`` with one hidden ``activation``."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}, got {activation!r}")
    pairs = list(pairs)
    if not pairs:
        raise ValueError("layers must hold at least one (W, b) pair")
    out = []
    for i, (W, b) in enumerate(pairs):
        W = torch.as_tensor(W).detach().to(DTYPE)
        b = torch.zeros(W.shape[0], dtype=DTYPE) if b is None else torch.as_tensor(b).detach().to(DTYPE)
        last = i == len(pairs) - 1
        out.append(AffineLayer(f"layer{i + 1}", W, b, "identity" if last else activation,
                               negative_slope if activation == "leaky_relu" and not last else 0.0))
    return _checked(out, source)


def _checked(layers: list[AffineLayer], source: str) -> AffineChain:
    if not layers:
        raise ValueError(f"model {source} holds no Linear layer")
    for l in layers:
        if l.weight.dim() != 2 or l.bias.shape != (l.weight.shape[0],):
            raise ValueError(f"model layer {l.name}: weight must be 2-D and bias match its rows, got "
                             f"{tuple(l.weight.shape)} and {tuple(l.bias.shape)}")
        if not (torch.isfinite(l.weight).all() and torch.isfinite(l.bias).all()):
            raise ValueError(f"model layer {l.name} has non-finite weights")
    for prev, l in zip(layers[:-1], layers[1:]):
        if l.weight.shape[1] != prev.weight.shape[0]:
            raise ValueError(f"model layer {l.name} takes {l.weight.shape[1]} inputs but {prev.name} gives "
                             f"{prev.weight.shape[0]}")
    return AffineChain(tuple(layers), source)


# --------------------------------------------------------------------------- forward-order walk
class _Chain:
    """Accumulates the ops of a forward pass: ('linear', name, W, b) and ('act', name, kind, slope)."""

    def __init__(self, source: str):
        self.source, self.layers, self.pending = source, [], None

    def linear(self, name: str, W: torch.Tensor, b: torch.Tensor | None) -> None:
        if self.pending is not None:        # Linear after Linear: the first has no activation
            self.layers.append(self.pending)
        W = W.detach().to(DTYPE)
        b = torch.zeros(W.shape[0], dtype=DTYPE) if b is None else b.detach().to(DTYPE)
        self.pending = AffineLayer(name, W, b)

    def act(self, name: str, kind: str, slope: float = 0.0) -> None:
        if self.pending is None:
            what = "the input" if not self.layers else f"the activation of {self.layers[-1].name}"
            raise ValueError(f"model layer {name} ({kind}) follows {what}, not a Linear layer; dltv reads chains "
                             f"Linear, activation, Linear, ... of {SUPPORTED}")
        self.layers.append(AffineLayer(self.pending.name, self.pending.weight, self.pending.bias, kind, slope))
        self.pending = None

    def done(self) -> AffineChain:
        if self.pending is None:
            if self.layers:
                raise ValueError(f"model ends with an activation ({self.layers[-1].activation} after "
                                 f"{self.layers[-1].name}); it must end with a Linear layer, its output")
            raise ValueError(f"model {self.source} holds no Linear layer")
        return _checked(self.layers + [self.pending], self.source)


def _module_op(chain: _Chain, name: str, m: nn.Module) -> None:
    if isinstance(m, nn.Linear):
        chain.linear(name, m.weight, m.bias)
    elif type(m) is nn.ReLU:
        chain.act(name, "relu")
    elif type(m) is nn.LeakyReLU:
        chain.act(name, "leaky_relu", float(m.negative_slope))
    elif type(m) is nn.Tanh:
        chain.act(name, "tanh")
    elif type(m) is nn.GELU:
        if m.approximate != "none":
            raise ValueError(f"model layer {name} (GELU approximate={m.approximate!r}) is not supported: only the "
                             "exact GELU")
        chain.act(name, "gelu")
    elif isinstance(m, _SKIP):
        return
    else:
        raise ValueError(f"model layer {name} ({type(m).__name__}) is not supported: only {SUPPORTED}")


def read_module(model: nn.Module) -> AffineChain:
    """The :class:`AffineChain` of an in-memory module, read in forward order.

    An ``nn.Sequential`` (nested ones flattened) is read in registration order; any other
    module is traced with ``torch.fx`` and its graph walked (so its ``forward`` fixes the
    order); a ``torch.export.ExportedProgram`` is read through its graph.  Refusals name the layer.
    """
    if isinstance(model, torch.export.ExportedProgram):
        return _read_graph(model.module(), "exported program")
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be an nn.Module or a torch.export program, got {type(model).__name__}")
    if isinstance(model, (nn.Sequential, nn.Linear)):
        chain = _Chain(type(model).__name__)

        def walk(m: nn.Module, name: str) -> None:
            if isinstance(m, nn.Sequential):
                for child_name, child in m.named_children():
                    walk(child, f"{name}.{child_name}" if name else child_name)
            else:
                _module_op(chain, name or type(m).__name__, m)

        walk(model, "")
        return chain.done()
    if isinstance(model, torch.fx.GraphModule):
        return _read_graph(model, type(model).__name__)
    try:
        traced = torch.fx.symbolic_trace(model)
    except Exception as err:  # noqa: BLE001 - any tracing failure means the order cannot be read
        raise ValueError(f"model {type(model).__name__}: its forward cannot be traced with torch.fx "
                         f"({type(err).__name__}: {str(err).splitlines()[0][:120]}); save an nn.Sequential of "
                         f"{SUPPORTED}, or a torch.export program") from None
    return _read_graph(traced, type(model).__name__)


_FUNCTIONS = {F.relu: "relu", torch.relu: "relu", torch.tanh: "tanh", F.tanh: "tanh", F.gelu: "gelu",
              F.leaky_relu: "leaky_relu"}
_IDENTITY_FUNCTIONS = {F.dropout, torch.flatten}
_METHODS = {"relu": "relu", "tanh": "tanh"}


def _aten(name: str):
    return getattr(torch.ops.aten, name, None)


def _aten_ops() -> dict:
    ops = {}
    for base, kind in (("relu", "relu"), ("tanh", "tanh"), ("gelu", "gelu"), ("leaky_relu", "leaky_relu")):
        packet = _aten(base)
        if packet is not None:
            ops[packet.default] = kind
    return ops


def _read_graph(gm: torch.fx.GraphModule, source: str) -> AffineChain:
    """Walk a traced or exported graph: it must be one chain from the input to the output."""
    chain = _Chain(source)
    aten_acts = _aten_ops()
    aten_linear = _aten("linear").default
    aten_identity = {op.default for op in (_aten("dropout"), _aten("clone"), _aten("detach")) if op is not None}
    aten_identity |= {_aten("flatten").using_ints, _aten("view").default, _aten("reshape").default}
    modules = dict(gm.named_modules())
    inputs = [n for n in gm.graph.nodes if n.op == "placeholder"]
    if len(inputs) != 1:
        raise ValueError(f"model {source} takes {len(inputs)} inputs; dltv reads networks of one input tensor")
    current = inputs[0]

    def tensor(node) -> torch.Tensor | None:
        if node is None:
            return None
        if node.op != "get_attr":
            raise ValueError(f"model {source}: node {node.name} uses a computed weight; only stored parameters")
        obj = gm
        for part in node.target.split("."):
            obj = getattr(obj, part)
        return obj

    for node in gm.graph.nodes:
        if node.op in ("placeholder", "get_attr") or (node.op == "call_module" and node.target.startswith("_guards")):
            continue
        if node.op == "output":
            out = node.args[0]
            out = out[0] if isinstance(out, (tuple, list)) and len(out) == 1 else out
            if out is not current:
                raise ValueError(f"model {source}: the output is not the end of one chain of layers")
            break
        flowing = [a for a in node.all_input_nodes if a.op != "get_attr"]
        if flowing != [current]:
            raise ValueError(f"model {source}: node {node.name} ({node.target}) combines several tensors (a branch "
                             f"or residual connection); dltv reads one chain of {SUPPORTED}")
        name = str(node.target) if node.op == "call_module" else node.name
        if node.op == "call_module":
            _module_op(chain, name, modules[node.target])
        elif node.op == "call_function" and node.target in _FUNCTIONS:
            kind = _FUNCTIONS[node.target]
            slope = node.kwargs.get("negative_slope", node.args[1] if len(node.args) > 1 else 0.01)
            if kind == "gelu" and node.kwargs.get("approximate", "none") != "none":
                raise ValueError(f"model node {name} (gelu approximate) is not supported: only the exact GELU")
            chain.act(name, kind, float(slope) if kind == "leaky_relu" else 0.0)
        elif node.op == "call_function" and node.target in aten_acts:
            kind = aten_acts[node.target]
            if kind == "gelu" and node.kwargs.get("approximate", "none") != "none":
                raise ValueError(f"model node {name} (gelu approximate) is not supported: only the exact GELU")
            slope = float(node.args[1]) if kind == "leaky_relu" and len(node.args) > 1 else 0.01
            chain.act(name, kind, slope if kind == "leaky_relu" else 0.0)
        elif node.op == "call_function" and node.target in (F.linear, aten_linear):
            args = list(node.args) + [node.kwargs.get("bias")] * (3 - len(node.args))
            if args[1].op == "get_attr":
                name = args[1].target.rpartition(".")[0] or name
            chain.linear(name, tensor(args[1]), tensor(args[2]))
        elif node.op == "call_function" and (node.target in _IDENTITY_FUNCTIONS or node.target in aten_identity):
            pass
        elif node.op == "call_method" and node.target in _METHODS:
            chain.act(name, _METHODS[node.target])
        elif node.op == "call_method" and node.target in ("flatten", "view", "reshape", "contiguous"):
            pass
        else:
            what = node.target if node.op == "call_method" else getattr(node.target, "__name__", node.target)
            raise ValueError(f"model node {name} ({what}) is not supported: only {SUPPORTED}")
        current = node
    return chain.done()


# --------------------------------------------------------------------------- files
_ALLOWED_GLOBALS = (nn.Sequential, nn.Linear, nn.ReLU, nn.LeakyReLU, nn.Tanh, nn.GELU, nn.Identity, nn.Flatten,
                    nn.Dropout)


def parse_arch(arch: str | Sequence[int]) -> list[int]:
    """Widths d_0, ..., d_{L+1} from ``"2,16,16,1"`` or a sequence; each an integer >= 1."""
    items = [t.strip() for t in arch.split(",")] if isinstance(arch, str) else list(arch)
    try:
        widths = [int(t) for t in items]
    except (TypeError, ValueError):
        raise ValueError(f"arch must be a comma list of widths d_0,...,d_(L+1) like 2,16,16,1, got {arch!r}") from None
    if len(widths) < 2 or any(w < 1 for w in widths) or any(str(w) != str(t).strip() for w, t in zip(widths, items)):
        raise ValueError(f"arch must list >= 2 integer widths >= 1 (d_0,...,d_(L+1)), got {arch!r}")
    return widths


def _sequential_key(name: str):
    prefix, _, last = name.rpartition(".")
    return (prefix, int(last)) if last.isdigit() else None


def read_state_dict(state: dict, arch: str | Sequence[int] | None, activation: str = "relu",
                    layers: Sequence[str] | None = None, negative_slope: float = 0.01) -> AffineChain:
    """An :class:`AffineChain` from a state_dict of Linear layers and the architecture.

    The order of the layers is ``layers`` (their names) when given, else the Sequential-style
    names ``<prefix>.<i>`` sorted by i, else the one order whose shapes chain ``arch``; when
    none of these establishes it (two layers of the same shape, other entries), a ValueError.
    Every layer's shape must match ``arch``.  ``arch=None`` takes the widths from the shapes,
    which needs the order from ``layers`` or from the names (a caller that knows the
    activation, such as the ReLU region counter, may read a state_dict this way).
    """
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}, got {activation!r}")
    groups: dict[str, dict] = {}
    for key, value in state.items():
        name, _, kind = str(key).rpartition(".")
        if kind not in ("weight", "bias") or not isinstance(value, torch.Tensor):
            raise ValueError(f"model state_dict entry {key!r} is not a Linear weight or bias (only {SUPPORTED} "
                             "hold no other state)")
        groups.setdefault(name, {})[kind] = value
    for name, wb in groups.items():
        if "weight" not in wb or wb["weight"].dim() != 2:
            raise ValueError(f"model state_dict layer {name!r} has no 2-D weight (only Linear layers are supported)")
    widths = _widths_from_names(groups, layers) if arch is None else parse_arch(arch)
    n_linear = len(widths) - 1
    if len(groups) != n_linear:
        raise ValueError(f"arch {','.join(map(str, widths))} has {n_linear} Linear layers but the state_dict holds "
                         f"{len(groups)}: {sorted(groups)}")
    shape = lambda n: tuple(groups[n]["weight"].shape)  # noqa: E731
    expected = [(widths[i + 1], widths[i]) for i in range(n_linear)]
    if layers is not None:
        layers = list(layers)
        if sorted(layers) != sorted(groups):
            raise ValueError(f"layers must name every Linear layer of the state_dict once, got {layers}; it holds "
                             f"{sorted(groups)}")
        order = layers
    elif all(_sequential_key(n) is not None for n in groups) and len({_sequential_key(n)[0] for n in groups}) == 1:
        order = sorted(groups, key=_sequential_key)
    else:
        candidates = [[n for n in groups if shape(n) == s] for s in expected]
        if any(len(c) != 1 for c in candidates) or len({c[0] for c in candidates}) != n_linear:
            raise ValueError(f"the forward order of state_dict layers {sorted(groups)} cannot be established from "
                             "their names or shapes; give the layer names in order (--layers) or save the module")
        order = [c[0] for c in candidates]
    for name, s in zip(order, expected):
        if shape(name) != s:
            raise ValueError(f"model state_dict layer {name!r} has weight shape {shape(name)} but arch "
                             f"{','.join(map(str, widths))} needs {s} there")
    chain = from_pairs([(groups[n]["weight"], groups[n].get("bias")) for n in order], activation, negative_slope,
                       source="state_dict")
    return AffineChain(tuple(AffineLayer(n, l.weight, l.bias, l.activation, l.negative_slope)
                             for n, l in zip(order, chain.layers)), "state_dict")


def _widths_from_names(groups: dict, layers: Sequence[str] | None) -> list[int]:
    """d_0, ..., d_(L+1) of Linear layers whose order ``layers`` or Sequential-style names fix."""
    if layers is not None:
        order = [n for n in layers if n in groups]
    elif all(_sequential_key(n) is not None for n in groups) and len({_sequential_key(n)[0] for n in groups}) == 1:
        order = sorted(groups, key=_sequential_key)
    else:
        raise ValueError(f"the forward order of state_dict layers {sorted(groups)} cannot be established from their "
                         "names; give the layer names in order (--layers NAME,...) or the architecture (--arch)")
    shapes = [tuple(groups[n]["weight"].shape) for n in order]
    if not shapes:
        raise ValueError("model state_dict holds no Linear layer")
    return [shapes[0][1]] + [rows for rows, _ in shapes]


def _covering_classes() -> list:
    """The covering area's convolutional and residual networks and the layers they hold (dltv's own code)."""
    from dltv.numerics import covering

    return [covering.SmallCNN, covering.ResidualMLP, nn.Conv2d, nn.BatchNorm2d, nn.AdaptiveAvgPool2d, nn.LayerNorm,
            nn.ModuleList, torch.relu, torch.tanh]


def load_file(path: str | Path, trust: bool = False) -> Any:
    """The object saved in ``path``: an nn.Module, a state_dict, or a torch.export program (``.pt2``).

    Files are unpickled with ``weights_only=True`` and an allowlist of the supported layers (and
    the covering area's SmallCNN / ResidualMLP); a pickled custom module needs ``trust=True``
    (it runs code from the file).  Every failure is one ValueError line.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"model file not found: {str(path)!r}")
    if path.suffix == ".pt2":
        try:
            return torch.export.load(str(path))
        except Exception as err:  # noqa: BLE001
            raise ValueError(f"model {str(path)!r} is not a readable torch.export program "
                             f"({type(err).__name__})") from None
    try:
        if trust:
            return torch.load(path, map_location="cpu", weights_only=False)
        with torch.serialization.safe_globals(list(_ALLOWED_GLOBALS) + _covering_classes()):
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - every failure to unpickle is one line
        found = re.search(r"GLOBAL ([A-Za-z_][\w.]*\w) was not", str(err))
        if found:
            raise ValueError(f"model {str(path)!r} holds {found.group(1)}, which is not one of {SUPPORTED}; save an "
                             "nn.Sequential, a state_dict, or a torch.export program (or unpickle a file you trust "
                             "with --trust)") from None
        raise ValueError(f"model {str(path)!r} cannot be read: not a torch.save file ({type(err).__name__})") from None


def chain_of(obj: Any, arch: str | Sequence[int] | None = None, activation: str | None = None,
             layers: Sequence[str] | None = None, name: str = "model") -> AffineChain:
    """The :class:`AffineChain` of a loaded object (see :func:`load_file`)."""
    if isinstance(obj, torch.export.ExportedProgram):
        return _no_arch(read_module(obj), arch, activation, layers)
    if isinstance(obj, dict):
        if arch is None:
            raise ValueError(f"model {name!r} is a state_dict, which holds no forward pass: give its "
                             "architecture with --arch d_0,...,d_(L+1) and --activation")
        return read_state_dict(obj, arch, activation or "relu", layers)
    if isinstance(obj, nn.Module):
        return _no_arch(read_module(obj.eval()), arch, activation, layers)
    raise ValueError(f"model {name!r} holds a {type(obj).__name__}, not an nn.Module or a state_dict")


def load_model(path: str | Path, arch: str | Sequence[int] | None = None, activation: str | None = None,
               layers: Sequence[str] | None = None, trust: bool = False) -> AffineChain:
    """Read a saved model: ``torch.save`` of an nn.Sequential of supported layers, a state_dict
    (with ``arch`` and ``activation``), or a ``torch.export.save`` program (``.pt2``); a pickled
    custom module (``trust=True``) is traced with torch.fx.
    """
    return chain_of(load_file(path, trust), arch, activation, layers, str(path))


def _no_arch(chain: AffineChain, arch, activation, layers) -> AffineChain:
    if layers is not None:
        raise ValueError("layers applies to a state_dict only (a saved module is read in its own order)")
    if arch is not None and parse_arch(arch) != chain.widths:
        raise ValueError(f"arch {arch} does not match the saved module's widths {','.join(map(str, chain.widths))}")
    if activation is not None and activation != chain.activation:
        raise ValueError(f"activation {activation} does not match the saved module's {chain.activation}")
    return chain


def as_chain(model: Any, activation: str = "relu") -> AffineChain:
    """An AffineChain from an AffineChain, an nn.Module / export program, or ``[(W, b), ...]``."""
    if isinstance(model, AffineChain):
        return model
    if isinstance(model, (nn.Module, torch.export.ExportedProgram)):
        return read_module(model)
    if isinstance(model, (list, tuple)):
        return from_pairs(model, activation)
    raise ValueError(f"model must be an nn.Module, an AffineChain or a list of (W, b), got {type(model).__name__}")


__all__ = ["ACTIVATIONS", "SUPPORTED", "AffineLayer", "AffineChain", "from_pairs", "read_module",
           "read_state_dict", "load_file", "chain_of", "load_model", "parse_arch", "as_chain"]
