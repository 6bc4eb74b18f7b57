"""Import a user's PyTorch model: trace it with torch.fx and lower it to golden.compiler's chain.

:func:`import_model` traces ``model`` (an ``nn.Module`` taking one image batch (N, C, H, W)) with
:class:`AdderTracer` and returns an :class:`ImportedNet`: the same computation as a chain of
``(name, module, inputs)`` items (golden.compiler, "Graphs"), which golden.compiler.compile_model
compiles like any built-in network, and whose forward runs that chain in float (checked against the
user's model on a sample before it is returned).

What is supported (anything else is refused with one sentence naming the node, its op and target,
and this list):

* compute: ``nn.Conv2d`` (square kernel, equal stride and padding along both axes, dilation 1,
  groups 1, zero padding), ``nn.Linear``, and adder layers: golden.reference.Adder2d, or ANY module
  with the interface of huawei-noah/AdderNet's ``adder2d`` (Chen et al., CVPR 2020), recognised by
  that interface: a 4-D parameter ``adder`` (out, in, k, k), attributes ``stride`` and ``padding``,
  a ``bias`` flag with the values in parameter ``b`` (out,). Its forward calls a custom autograd
  Function that torch.fx cannot trace, so the tracer keeps it a leaf; forks with ``groups`` > 1 are
  refused. Such a layer becomes a golden.reference.Adder2d with the same weights plus its bias
  (:class:`ImportedAdder`): y = −Σ|x − F| + b.
* ``nn.BatchNorm2d`` / ``nn.BatchNorm1d`` (folded by the compiler), ReLU (``nn.ReLU``,
  ``F.relu``, ``torch.relu``, ``Tensor.relu``);
* pooling: ``nn.MaxPool2d`` / ``F.max_pool2d`` 2x2 with stride 2 (the engine's); ``nn.AvgPool2d`` /
  ``F.avg_pool2d`` whose window covers the whole input, ``nn.AdaptiveAvgPool2d(1)`` /
  ``F.adaptive_avg_pool2d(x, 1)`` and ``x.mean((2, 3))``: a global average;
* ``nn.Flatten``, ``torch.flatten(x, 1)``, ``x.flatten(1)``, ``x.view(N, -1)`` / ``x.reshape(N, -1)``
  (N from ``x.size(0)`` or ``x.shape[0]``);
* the residual add of two tensors: ``a + b``, ``torch.add(a, b)``, ``a += b``;
* ``nn.Dropout`` and ``nn.Identity`` (the model is imported in eval mode);
* Brevitas's fixed-point ``QuantConv2d``, ``QuantLinear``, ``QuantReLU`` and ``QuantIdentity``
  (the optional extra ``adderhw[brevitas]``): every module from the ``brevitas`` package is a leaf
  of the tracer and is lowered by golden.brevitas_import, which says what it reads exactly and what
  it refuses; compile such an import with golden.brevitas_import.compile_imported.

With ``engine`` (an adderhw.base.engine.EngineConfig) the shapes are checked against its buffers:
a tensor larger than ``act_depth`` values, or a layer whose K = cin·k² exceeds its array's ``k_max``,
is refused naming the node, the buffer and the size.
"""
import operator

import numpy as np
import torch
import torch.fx
from torch import nn
from torch.fx.passes.shape_prop import ShapeProp
from torch.nn import functional as F

from adderhw.base.errors import BadParameter

from .brevitas_import import finish_brevitas, is_brevitas_module, lower_brevitas
from .compiler import Residual, _compute_kind
from .reference import Adder2d, adder2d_torch

__all__ = ["import_model", "ImportedNet", "ImportedAdder", "AdderTracer", "is_adder_like", "SUPPORTED"]

#: what the front end supports, as its refusals say it
SUPPORTED = ("Conv2d, Linear, adder layers (Adder2d or an adder2d-style module), BatchNorm1d/2d, ReLU, "
             "MaxPool2d 2x2, a global average pool (AvgPool2d over the whole input, AdaptiveAvgPool2d(1), "
             "mean over (2, 3)), Flatten or view/reshape to (N, -1), Dropout, Identity and the residual add "
             "of two tensors; from Brevitas: fixed-point QuantConv2d, QuantLinear, QuantReLU and QuantIdentity")

#: how far the lowered chain may differ from the user's model on the sample (relative to its largest output)
_TOLERANCE = 1e-3


def is_adder_like(module):
    """True for a module with huawei-noah/AdderNet's ``adder2d`` interface (module docstring)."""
    # from _parameters: while tracing, torch.fx answers a module's attribute reads with proxies
    w = module._parameters.get("adder") if isinstance(module, nn.Module) else None
    return (isinstance(w, nn.Parameter) and w.dim() == 4 and hasattr(module, "stride")
            and hasattr(module, "padding"))


class AdderTracer(torch.fx.Tracer):
    """torch.fx's tracer with adder layers as leaves: their forward calls a custom autograd
    Function (golden.reference's, or a user's), which symbolic tracing cannot enter. Brevitas's
    modules are leaves too (golden.brevitas_import lowers them whole)."""

    def is_leaf_module(self, m, module_qualified_name):
        if isinstance(m, Adder2d) or is_adder_like(m) or is_brevitas_module(m):
            return True
        return super().is_leaf_module(m, module_qualified_name)


class ImportedAdder(Adder2d):
    """An adder2d-style layer as golden.reference.Adder2d with the source's bias: y = −Σ|x − F| + b.
    ``bias`` is None without one (the compiler folds it into the post-processing's B)."""

    def __init__(self, source, name):
        w = source.adder.detach()
        cout, cin, kh, kw = w.shape
        if kh != kw:
            raise BadParameter(f"node {name!r} (adder layer): kernel {kh}x{kw} is not supported; the engine's "
                               f"kernels are square")
        stride, padding = (_one(name, f, getattr(source, f)) for f in ("stride", "padding"))
        super().__init__(cin, cout, kh, stride=stride, padding=padding)
        self.weight.data.copy_(w)
        has_bias = getattr(source, "bias", False)
        b = getattr(source, "b", None) if isinstance(has_bias, bool) else has_bias
        if has_bias is not False and has_bias is not None and b is not None:
            self.bias = nn.Parameter(b.detach().reshape(cout).clone())
        else:
            self.bias = None

    def forward(self, x):
        y = adder2d_torch(x, self.weight, self.stride, self.padding, eta=self.eta, adaptive=self.adaptive,
                          compiled=False)
        return y if self.bias is None else y + self.bias.reshape(1, -1, 1, 1)


def _one(name, fieldname, value):
    if isinstance(value, (tuple, list)):
        if len(set(value)) != 1:
            raise BadParameter(f"node {name!r} (adder layer): {fieldname} {tuple(value)} must be equal along "
                               f"height and width")
        value = value[0]
    return int(value)


class ImportedNet(nn.Module):
    """A traced model lowered to golden.compiler's chain: :meth:`graph_chain` for the compiler, and
    a float forward that runs the same chain (what the compiler checks its reading against).

    ``forward(x, layer_fn=None, taps=None)`` follows golden.addernet.DigitsNet's convention: the
    adder layers go through ``layer_fn(name, module, x)`` when given (golden.qat's fake
    quantisation), and ``taps`` receives their inputs."""

    def __init__(self, items, input_shape, source):
        super().__init__()
        self.layers = nn.ModuleList([m for _, m, _ in items if isinstance(m, nn.Module)])
        self._items = items
        self.input_shape = tuple(input_shape)
        self.source = source

    def graph_chain(self):
        return list(self._items)

    def forward(self, x, layer_fn=None, taps=None):
        env = {"input": x}
        for name, mod, inputs in self._items:
            a = env[inputs[0]]
            if isinstance(mod, Residual):
                y = a + env[inputs[1]]
            elif isinstance(mod, nn.Linear) and a.dim() > 2:
                y = mod(a.reshape(len(a), -1))
            elif isinstance(mod, Adder2d):
                if taps is not None:
                    taps.setdefault(name, []).append(a.detach())
                if layer_fn:
                    # golden.qat's layer functions compute −Σ|x − F| alone; an imported bias follows
                    y = layer_fn(name, mod, a)
                    bias = getattr(mod, "bias", None)
                    y = y if bias is None else y + bias.reshape(1, -1, 1, 1)
                else:
                    y = mod(a)
            elif isinstance(mod, nn.BatchNorm1d) and a.dim() == 4:
                y = mod(a.reshape(len(a), -1)).reshape(a.shape)
            else:
                y = mod(a)
            env[name] = y
        return env[self._items[-1][0]]


def _describe(node):
    target = node.target if isinstance(node.target, str) else getattr(node.target, "__name__", repr(node.target))
    return f"node {node.name!r} ({node.op} {target!r})"


def _refuse(node, message):
    raise BadParameter(f"{_describe(node)}: {message}; supported: {SUPPORTED}")


def _trace(model):
    tracer = AdderTracer()
    try:
        graph = tracer.trace(model)
    except Exception as exc:        # any failure of symbolic tracing is the model's, reported in one sentence
        where = list(getattr(tracer, "module_stack", {}) or {})
        at = f" in module {where[-1]!r}" if where and where[-1] else ""
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BadParameter(f"model {type(model).__name__} cannot be traced by torch.fx{at}: {reason}") from exc
    return torch.fx.GraphModule(tracer.root, graph)


def _shapes(gm, input_shape):
    sample = torch.zeros((2, *input_shape))
    try:
        ShapeProp(gm).propagate(sample)
    except Exception as exc:        # a model that cannot run on its declared input shape
        raise BadParameter(f"model cannot run on an input of shape (N, {', '.join(map(str, input_shape))}): "
                           f"{str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}") from exc
    return {n.name: tuple(n.meta["tensor_meta"].shape) for n in gm.graph.nodes
            if isinstance(n.meta.get("tensor_meta"), object) and hasattr(n.meta.get("tensor_meta"), "shape")}


def _arg(node, i, key, default=None):
    if len(node.args) > i:
        return node.args[i]
    return node.kwargs.get(key, default)


def import_model(model, input_shape, engine=None):
    """``model`` (an nn.Module on images (N, *input_shape)) as an :class:`ImportedNet` (module
    docstring). ``model`` is put in eval mode and not otherwise changed."""
    if not isinstance(model, nn.Module):
        raise BadParameter(f"model must be a torch.nn.Module, not {type(model).__name__}")
    input_shape = tuple(int(v) for v in input_shape)
    if len(input_shape) != 3 or min(input_shape) < 1:
        raise BadParameter(f"input_shape must be (C, H, W) with positive sizes, not {input_shape}")
    model.eval()
    gm = _trace(model)
    modules = dict(gm.named_modules())
    for node in gm.graph.nodes:
        # before the shapes are propagated: a grouped fork may not even run on them
        mod = modules.get(node.target) if node.op == "call_module" else None
        if mod is not None and is_adder_like(mod) and getattr(mod, "groups", 1) != 1:
            _refuse(node, f"is an adder layer with groups {mod.groups}, and the engine runs dense layers only "
                    f"(groups 1)")
    shapes = _shapes(gm, input_shape)
    items, names, used = [], {}, set()
    sizes = set()               # nodes holding x.size(0) / x.shape[0] (for view/reshape)

    def item_name(node):
        name = node.target if node.op == "call_module" and node.target not in used else node.name
        used.add(name)
        return name

    def emit(node, module, inputs, name=None):
        name = name or item_name(node)
        used.add(name)
        items.append((name, module, tuple(inputs)))
        names[node.name] = name
        _check_buffers(node, module, shapes, engine)

    def src(node, x):
        if not isinstance(x, torch.fx.Node) or x.name not in names:
            _refuse(node, f"reads {x!r}, which is not a tensor of the traced graph")
        return names[x.name]

    for node in gm.graph.nodes:
        if node.op == "placeholder":
            if "input" in names.values():
                _refuse(node, "is a second input; the engine runs models with one input (the image)")
            names[node.name] = "input"
            continue
        if node.op == "output":
            out = node.args[0]
            if not isinstance(out, torch.fx.Node):
                _refuse(node, "returns a tuple or a constant; the model must return one tensor (the logits)")
            if names.get(out.name) != (items[-1][0] if items else None):
                _refuse(node, f"returns {out.name!r}, which is not the last layer's output")
            continue
        if node.op == "get_attr":
            _refuse(node, "reads a parameter or buffer outside a layer")
        if node.op == "call_module":
            _lower_module(node, modules[node.target], shapes, emit, src)
            continue
        target = node.target
        if node.op == "call_method" and target == "size" and _arg(node, 1, "dim") == 0:
            sizes.add(node.name)
            continue
        if node.op == "call_function" and target is getattr and node.args[1] == "shape":
            sizes.add(node.name)        # x.shape: only its [0] may be used (below)
            continue
        if node.op == "call_function" and target is operator.getitem and isinstance(node.args[0], torch.fx.Node) \
                and node.args[0].name in sizes and node.args[1] == 0:
            sizes.add(node.name)
            continue
        _lower_call(node, shapes, emit, src, sizes)
    if not items:
        raise BadParameter(f"model {type(model).__name__} has no layer to import")
    items = finish_brevitas(items)      # Brevitas (golden.brevitas_import): checks and quantised biases
    net = ImportedNet(items, input_shape, type(model).__name__)
    _check_same(model, net, input_shape)
    return net


def _lower_module(node, mod, shapes, emit, src):
    x = src(node, node.args[0])
    # ---- Brevitas (golden.brevitas_import): before nn.Conv2d/nn.Linear, which QuantConv2d/QuantLinear subclass
    if is_brevitas_module(mod):
        parts = lower_brevitas(_describe(node), mod)
        for suffix, part in parts[:-1]:
            emit(node, part, [x], name=f"{node.name}.{suffix}")
            x = f"{node.name}.{suffix}"
        emit(node, parts[-1][1], [x])
        return
    # ---- end of Brevitas
    if isinstance(mod, Adder2d):
        emit(node, mod, [x])
    elif is_adder_like(mod):
        groups = getattr(mod, "groups", 1)
        if groups != 1:
            _refuse(node, f"is an adder layer with groups {groups}, and the engine runs dense layers only (groups 1)")
        emit(node, ImportedAdder(mod, node.name), [x])
    elif isinstance(mod, (nn.Conv2d, nn.Linear)):
        try:
            _compute_kind(node.target, mod)
            if isinstance(mod, nn.Conv2d) and mod.kernel_size[0] != mod.kernel_size[1]:
                raise BadParameter(f"kernel {mod.kernel_size} must be square")
        except BadParameter as exc:
            _refuse(node, f"cannot run on the engine ({exc})")
        emit(node, mod, [x])
    elif isinstance(mod, (nn.BatchNorm2d, nn.BatchNorm1d, nn.ReLU, nn.Flatten, nn.Dropout, nn.Identity)):
        if isinstance(mod, nn.Flatten) and (mod.start_dim != 1 or mod.end_dim != -1):
            _refuse(node, f"flattens dimensions {mod.start_dim}..{mod.end_dim}; only Flatten(1, -1) is supported")
        emit(node, mod, [x])
    elif isinstance(mod, nn.MaxPool2d):
        emit(node, _max_pool(node, mod.kernel_size, mod.stride, mod.padding, mod.dilation, mod.ceil_mode), [x])
    elif isinstance(mod, nn.AvgPool2d):
        emit(node, _avg_pool(node, shapes, mod.kernel_size, mod.padding), [x])
    elif isinstance(mod, nn.AdaptiveAvgPool2d):
        size = mod.output_size
        if size not in (1, (1, 1)):
            _refuse(node, f"is AdaptiveAvgPool2d({size}); only a global average (output size 1) is supported")
        emit(node, nn.AdaptiveAvgPool2d(1), [x])
    else:
        _refuse(node, f"is a {type(mod).__name__}, which the engine cannot run")


def _max_pool(node, kernel, stride, padding=0, dilation=1, ceil_mode=False):
    pair = lambda v: tuple(v) if isinstance(v, (tuple, list)) else (v, v)
    stride = kernel if stride is None or stride == [] else stride
    if pair(kernel) != (2, 2) or pair(stride) != (2, 2):
        _refuse(node, f"is a max pool of kernel {kernel} and stride {stride}; the engine max-pools 2x2 with stride 2 only")
    if pair(padding) != (0, 0) or pair(dilation) != (1, 1) or ceil_mode:
        _refuse(node, "is a max pool with padding, dilation or ceil_mode; the engine's 2x2 pool has none")
    return nn.MaxPool2d(2)


def _avg_pool(node, shapes, kernel, padding=0):
    shape = shapes[node.args[0].name]
    pair = lambda v: tuple(v) if isinstance(v, (tuple, list)) else (v, v)
    if pair(kernel) != tuple(shape[2:]) or pair(padding) != (0, 0):
        _refuse(node, f"averages {kernel} windows of a {shape[2]}x{shape[3]} input; the engine averages only "
                f"over the whole input (a global average pool)")
    return nn.AdaptiveAvgPool2d(1)


def _lower_call(node, shapes, emit, src, sizes):
    target, op = node.target, node.op
    fn = op == "call_function"
    method = op == "call_method"
    if (fn and target in (F.relu, torch.relu)) or (method and target == "relu"):
        emit(node, nn.ReLU(), [src(node, node.args[0])])
    elif (fn and target in (operator.add, operator.iadd, torch.add)) or (method and target in ("add", "add_")):
        a, b = node.args[0], node.args[1] if len(node.args) > 1 else node.kwargs.get("other")
        if not (isinstance(a, torch.fx.Node) and isinstance(b, torch.fx.Node)) or a.name in sizes or b.name in sizes:
            _refuse(node, f"adds {a!r} and {b!r}; only the residual add of two tensors is supported")
        if node.kwargs.get("alpha", 1) != 1:
            _refuse(node, f"adds with alpha {node.kwargs['alpha']}; only a plain sum is supported")
        emit(node, Residual(), [src(node, a), src(node, b)])
    elif fn and target is F.max_pool2d:
        emit(node, _max_pool(node, _arg(node, 1, "kernel_size"), _arg(node, 2, "stride"), _arg(node, 3, "padding", 0),
                             _arg(node, 4, "dilation", 1), _arg(node, 5, "ceil_mode", False)), [src(node, node.args[0])])
    elif fn and target is F.avg_pool2d:
        emit(node, _avg_pool(node, shapes, _arg(node, 1, "kernel_size"), _arg(node, 3, "padding", 0)),
             [src(node, node.args[0])])
    elif fn and target is F.adaptive_avg_pool2d:
        size = _arg(node, 1, "output_size")
        if size not in (1, (1, 1), [1, 1]):
            _refuse(node, f"is adaptive_avg_pool2d to {size}; only a global average (output size 1) is supported")
        emit(node, nn.AdaptiveAvgPool2d(1), [src(node, node.args[0])])
    elif (fn and target is torch.mean) or (method and target == "mean"):
        dims = _arg(node, 1, "dim")
        dims = tuple(dims) if isinstance(dims, (tuple, list)) else (dims,)
        rank = len(shapes[node.args[0].name])
        if rank != 4 or sorted(d % 4 for d in dims) != [2, 3]:
            _refuse(node, f"takes a mean over dimensions {dims}; only the global average over (2, 3) of a "
                    f"feature map is supported")
        x = src(node, node.args[0])
        if _arg(node, 2, "keepdim", False):
            emit(node, nn.AdaptiveAvgPool2d(1), [x])
        else:
            # the pooled map, then flattened: the flatten holds the node's value
            emit(node, nn.AdaptiveAvgPool2d(1), [x], name=f"{node.name}.pool")
            emit(node, nn.Flatten(), [f"{node.name}.pool"])
    elif (fn and target is torch.flatten) or (method and target == "flatten"):
        start, end = _arg(node, 1, "start_dim", 0), _arg(node, 2, "end_dim", -1)
        if start != 1 or end != -1:
            _refuse(node, f"flattens dimensions {start}..{end}; only flatten(x, 1) is supported")
        emit(node, nn.Flatten(), [src(node, node.args[0])])
    elif method and target in ("view", "reshape"):
        dims = node.args[1:]
        if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
            dims = tuple(dims[0])
        first_ok = len(dims) == 2 and (isinstance(dims[0], torch.fx.Node) and dims[0].name in sizes)
        if not first_ok or dims[1] != -1:
            _refuse(node, f"reshapes to {dims}; only (N, -1) with N from x.size(0) or x.shape[0] is supported")
        emit(node, nn.Flatten(), [src(node, node.args[0])])
    elif fn and target in (F.dropout,):
        emit(node, nn.Identity(), [src(node, node.args[0])])
    else:
        _refuse(node, "is an operation the engine cannot run")


def _check_buffers(node, module, shapes, engine):
    if engine is None or node.name not in shapes:
        return
    shape = shapes[node.name][1:]
    size = int(np.prod(shape))
    if size > engine.act_depth:
        raise BadParameter(f"{_describe(node)}: its output {'x'.join(map(str, shape))} = {size} values does not fit "
                           f"the engine's activation buffer (act_depth={engine.act_depth})")
    if isinstance(module, (nn.Conv2d, Adder2d)):
        w = module.weight
        k = w.shape[1] * w.shape[2] * w.shape[3]
        op = "add" if isinstance(module, Adder2d) else "mul"
        if op in engine.ops and k > engine.array_for(op).k_max:
            raise BadParameter(f"{_describe(node)}: its K = cin·k² = {k} exceeds the {engine.array_for(op).pe.upper()} "
                               f"array's k_max={engine.array_for(op).k_max}")


def _check_same(model, net, input_shape):
    """Refuse a lowering whose float forward differs from the model's on a seeded random sample."""
    gen = torch.Generator().manual_seed(0)
    x = torch.rand((4, *input_shape), generator=gen)
    with torch.no_grad():
        want = model(x)
        got = net(x)
    if not isinstance(want, torch.Tensor) and isinstance(getattr(want, "value", None), torch.Tensor):
        want = want.value           # a Brevitas QuantTensor (return_quant_tensor=True)
    if tuple(got.reshape(len(x), -1).shape) != tuple(want.reshape(len(x), -1).shape):
        raise BadParameter(f"model {type(model).__name__}'s output has shape {tuple(want.shape)} but its import gives "
                           f"{tuple(got.shape)}")
    worst = float((got.reshape(len(x), -1) - want.reshape(len(x), -1)).abs().max())
    if worst > _TOLERANCE * max(1.0, float(want.abs().max())):
        raise BadParameter(f"model {type(model).__name__}'s import differs from its forward by up to {worst:.3g} on a "
                           f"random sample; an operation was read wrongly")
