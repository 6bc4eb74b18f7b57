"""Import a Brevitas model's fixed-point layers exactly, without re-quantising them.

Brevitas (Xilinx/AMD's quantisation-aware training library, the one FINN's users bring) trains
layers whose weights and activations are integers times a scale. Where every scale is a power of
two, such a model *is* a fixed-point program already: the engine's program takes its integers and
its scales as they are. This module is the optional extra ``adderhw[brevitas]``; golden.frontend
calls it for every module whose class comes from the ``brevitas`` package (those are leaves of the
tracer), and :func:`compile_imported` compiles the result.

What imports exactly
--------------------
* ``QuantConv2d`` / ``QuantLinear`` whose weight quantiser is per-tensor with a power-of-two scale
  and zero point 0 (for example ``brevitas.quant.Int8WeightPerTensorFixedPoint``, or a subclass
  with another ``bit_width``): the program's weights are ``quant_weight().int()`` and their frac
  is −log2(scale). The layer has no ``input_quant`` or ``output_quant`` of its own (use a
  QuantIdentity before or after it). Its bias is quantised by its ``bias_quant`` (``Int16Bias``,
  ``Int32Bias``: in units of the accumulator, so B is exact) or left in float (then B is the bias
  rounded at 2^-(f_out + S), see "Where Brevitas and the program differ").
* ``QuantReLU`` and ``QuantIdentity`` whose activation quantiser is per-tensor, with a power-of-two
  scale (``restrict_scaling_type`` POWER_OF_TWO, for example ``Int8ActPerTensorFixedPoint`` or
  ``Uint8ActPerTensorFixedPoint``), zero point 0 and round-to-nearest-even (Brevitas's "ROUND"):
  the tensor it quantises is stored at its frac (between two layers an unsigned one needs a ReLU
  before it: the program clamps at 0 only there). Each becomes a :class:`FixedPointQuant` in the
  imported chain (its float forward reproduces Brevitas's, so the front end's float check holds),
  and golden.compiler's :class:`~golden.compiler.ImposedScales` fix the program's scales to them.
* around them: ReLU, MaxPool2d 2x2, flatten and Dropout/Identity, as golden.frontend reads them
  (max pooling and ReLU commute with a monotone quantiser, so their order does not matter).

Every compute layer must read a tensor that a quantiser put on its grid (the image through a
QuantIdentity, a layer's output through a QuantReLU or QuantIdentity). The last layer's output may
have a quantiser (the logits are then exact integers too) or not: its scale is then the one thing
the compiler chooses, from the calibration images (the finest at which they do not saturate).

Widths: the program has one signed ``width``. A weight quantiser must fit it (signed b ≤ width,
unsigned b ≤ width − 1). The image's quantiser must fit it too: the host quantises the images with
Brevitas's clamp (:func:`quantize_input`), which may be narrower than the program's
(golden.compiler.quantize_images saturates at the width instead: the two differ only on images
beyond the quantiser's range, such as 1.0 at 2^-7 with a signed 8-bit quantiser at width 9).
A quantiser between two layers must clamp exactly where the program saturates, because the engine
has no other clamp: its largest value must be 2^(width−1) − 1 and its smallest −2^(width−1)
(signed) or 0 (unsigned, or after a ReLU). So an unsigned 8-bit QuantReLU needs width 9, a signed
8-bit QuantIdentity width 8, an unsigned 4-bit one width 5; weights of fewer bits mix freely.

Refused, with one sentence naming the node, the property found and what is allowed: any other
Brevitas module; per-channel (or per-group) scales; a scale that is not a power of two; a
quantiser whose scaling is not restricted to powers of two (float scaling); zero points other than
0; a rounding mode other than ROUND for activations; bit widths the program's width cannot hold; an
activation's clamp the program cannot apply; an input or output quantiser inside a layer; a
BatchNorm or any other operation between a layer and its quantiser (folding it would re-quantise);
a model mixing Brevitas layers with plain Conv2d, Linear or adder layers.

Where Brevitas and the program differ
-------------------------------------
Both compute the accumulator exactly (Brevitas in float32 on values of the form int·2^-f, exact
while |acc| < 2^24). Brevitas then rounds y·2^f_out to the nearest integer with ties to even
(torch.round), and so does the program: an imported program has ``rounding`` "half_even"
(golden.program, step 2; the engine is built with it, hw.postproc), where a built-in network's
rounds ties up. So with a quantised bias the program's integers are Brevitas's exactly, ties
included. With a float bias, Brevitas adds it in float32 and the program adds B =
round(bias·2^(f_out + S)): the two can differ by one unit where y·2^f_out lies within about 2^-S
(or float32's rounding of y) of a tie. Without an output quantiser the program's logits are
Brevitas's float logits rounded (ties to even) to 2^-f_logit.
"""
import math

import numpy as np
import torch
from torch import nn

from adderhw.base.errors import BadParameter
from adderhw.base.validate import int_range

from .compiler import ImposedScales, compile_model
from .reference import Adder2d

__all__ = ["is_brevitas_module", "has_brevitas_layers", "lower_brevitas", "finish_brevitas", "compile_imported",
           "quantize_input", "FixedPointQuant", "BrevitasConv2d", "BrevitasLinear", "SUPPORTED_BREVITAS",
           "require_brevitas"]

#: the Brevitas layers the import reads
SUPPORTED_BREVITAS = ("QuantConv2d", "QuantLinear", "QuantReLU", "QuantIdentity")

#: what may sit between a layer and its quantiser, or between a quantiser and the next layer
_PASS_THROUGH = (nn.ReLU, nn.MaxPool2d, nn.Flatten, nn.Identity, nn.Dropout)

#: float32 holds integers exactly below this (the carriers' weights and biases, Brevitas's accumulator)
_FLOAT32_EXACT = 1 << 24


def require_brevitas():
    """The ``brevitas`` package, or one sentence on how to install it."""
    try:
        import brevitas     # optional dependency: adderhw[brevitas]
    except ImportError:
        raise BadParameter("this model has Brevitas layers, and importing them needs Brevitas: "
                           "pip install 'adderhw[brevitas]'") from None
    return brevitas


def is_brevitas_module(module):
    """True for a module whose class comes from the ``brevitas`` package (no import of it needed)."""
    return isinstance(module, nn.Module) and type(module).__module__.split(".")[0] == "brevitas"


def has_brevitas_layers(model):
    """True when ``model`` holds a Brevitas module anywhere."""
    return isinstance(model, nn.Module) and any(is_brevitas_module(m) for m in model.modules())


# ---- the carriers: float modules holding Brevitas's integers exactly ---------------------------

class FixedPointQuant(nn.Module):
    """An imported activation quantiser: x ↦ clamp(round(x·2^frac), lo, hi)·2^-frac, with torch.round
    (ties to even) as Brevitas rounds. ``node`` names the Brevitas module it came from."""

    def __init__(self, frac, lo, hi, bits, signed, node):
        super().__init__()
        self.frac, self.lo, self.hi, self.bits, self.signed, self.node = int(frac), int(lo), int(hi), int(bits), \
            bool(signed), node

    def integers(self, x):
        """The integers of float ``x`` (int64 tensor)."""
        x = torch.as_tensor(x, dtype=torch.float64)
        return torch.round(torch.ldexp(x, torch.tensor(float(self.frac), dtype=torch.float64))) \
            .clamp(self.lo, self.hi).to(torch.int64)

    def forward(self, x):
        # ldexp by a power of two is exact in float32, so this is Brevitas's x / scale, round, clamp, · scale
        q = torch.round(x * 2.0 ** self.frac).clamp(self.lo, self.hi)
        return q * 2.0 ** -self.frac

    def extra_repr(self):
        kind = "signed" if self.signed else "unsigned"
        return f"{kind} {self.bits}-bit at 2^-{self.frac}, [{self.lo}, {self.hi}], from {self.node}"


class _Carrier:
    """What a Brevitas compute layer's float twin carries: the integer weights (int64), their frac,
    the signed/unsigned bit width, the Brevitas module (for its bias quantiser) and the node;
    ``bias_exact`` is False for a float bias, which B rounds (module docstring)."""

    def _carry(self, source, node, w_int, w_frac, bits, signed, lo, hi):
        self.w_int, self.w_frac, self.bits, self.signed, self.node = w_int, int(w_frac), int(bits), bool(signed), node
        self.w_lo, self.w_hi = int(lo), int(hi)
        self.bias_exact = True          # False: a float bias (module docstring)
        object.__setattr__(self, "_source", source)     # not a submodule: the carrier's state is its own
        with torch.no_grad():
            self.weight.copy_(torch.ldexp(torch.as_tensor(w_int, dtype=torch.float64),
                                          torch.tensor(-float(w_frac), dtype=torch.float64)).to(self.weight.dtype))


class BrevitasConv2d(nn.Conv2d, _Carrier):
    """A QuantConv2d as an nn.Conv2d whose weights are its integers times 2^-w_frac, exactly."""


class BrevitasLinear(nn.Linear, _Carrier):
    """A QuantLinear as an nn.Linear whose weights are its integers times 2^-w_frac, exactly."""


# ---- reading Brevitas's quantisers -------------------------------------------------------------

def _value(t):
    if isinstance(t, torch.Tensor):
        return t.detach().double().reshape(-1)
    return torch.tensor([float(t)], dtype=torch.float64)


def _pow2_frac(node, what, scale):
    """frac = −log2(scale) of a per-tensor power-of-two scale, or a refusal naming ``node``."""
    s = _value(scale)
    if s.numel() != 1:
        raise BadParameter(f"{node}: {what} has {s.numel()} scales (per channel or group), and the program stores "
                           f"a tensor at one scale; allowed: a per-tensor fixed-point quantiser")
    v = float(s[0])
    mant, exp = math.frexp(v) if v > 0 and math.isfinite(v) else (0.0, 0)
    if mant != 0.5:
        raise BadParameter(f"{node}: {what} has scale {v!r}, which is not a power of two; allowed: power-of-two "
                           f"scales (a fixed-point quantiser such as Int8WeightPerTensorFixedPoint)")
    return 1 - exp      # v = 0.5·2^exp = 2^(exp − 1)


def _check_zero_point(node, what, zp):
    z = _value(zp)
    if z.numel() and bool((z != 0).any()):
        raise BadParameter(f"{node}: {what} has zero point {z.tolist() if z.numel() > 1 else float(z[0])!r}, and "
                           f"the program's integers are symmetric; allowed: zero point 0")


def _check_pow2_restricted(node, what, proxy):
    inj = getattr(proxy, "quant_injector", None)
    restrict = inj.restrict_scaling_type if inj is not None and "restrict_scaling_type" in inj else None
    if restrict is not None and getattr(restrict, "name", str(restrict)) != "POWER_OF_TWO":
        raise BadParameter(f"{node}: {what} scales in {getattr(restrict, 'name', restrict)} (float scaling), so its "
                           f"scale need not stay a power of two; allowed: restrict_scaling_type POWER_OF_TWO (a "
                           f"fixed-point quantiser)")


def _int_bounds(bits, signed, narrow):
    if signed:
        return -(1 << (bits - 1)) + int(narrow), (1 << (bits - 1)) - 1
    return 0, (1 << bits) - 1 - int(narrow)


def _bits(node, what, bit_width):
    b = float(_value(bit_width)[0])
    if b != int(b) or b < 1:
        raise BadParameter(f"{node}: {what} has bit width {b!r}; allowed: a whole number of bits")
    return int(b)


def _enabled_proxy(node, module, what, why):
    """``module``'s quantiser proxy ``what``, refused (``why``: what that leaves, and what is allowed)
    when it is disabled."""
    proxy = getattr(module, what)
    if not proxy.is_quant_enabled:
        raise BadParameter(f"{node}: {what} is disabled{why}")
    return proxy


def _act_quant(node, module):
    """A FixedPointQuant from a QuantReLU's or QuantIdentity's act_quant (module docstring)."""
    what = "act_quant"
    proxy = _enabled_proxy(node, module, what, " (act_quant=None), so the tensor has no grid; allowed: a fixed-point "
                                               "activation quantiser")
    rounding = getattr(proxy, "rounding_mode", "ROUND")
    if str(rounding).upper() != "ROUND":
        raise BadParameter(f"{node}: {what} rounds with {rounding!r}; allowed: ROUND (to nearest, ties to even)")
    with torch.no_grad():
        frac = _pow2_frac(node, what, proxy.scale())
        _check_zero_point(node, what, proxy.zero_point())
        bits = _bits(node, what, proxy.bit_width())
    _check_pow2_restricted(node, what, proxy)
    signed = bool(proxy.is_signed)
    lo, hi = _int_bounds(bits, signed, bool(proxy.is_narrow_range))
    return FixedPointQuant(frac, lo, hi, bits, signed, node)


def _check_no_io_quant(node, module, names):
    for attr in names:
        proxy = getattr(module, attr, None)
        if proxy is not None and getattr(proxy, "is_quant_enabled", False):
            raise BadParameter(f"{node}: {attr} is set, and the import reads quantisers as separate layers; allowed: "
                               f"{attr}=None with a QuantIdentity {'before' if attr == 'input_quant' else 'after'} it")


def _compute_layer(node, module):
    what = "weight_quant"
    proxy = _enabled_proxy(node, module, what, ", so its weights are floats; allowed: a fixed-point weight quantiser")
    if getattr(proxy, "requires_quant_input", False):
        raise BadParameter(f"{node}: {what} needs the layer's input to quantise its weights ({type(proxy).__name__}); "
                           f"allowed: a per-tensor fixed-point weight quantiser")
    _check_no_io_quant(node, module, ("input_quant", "output_quant"))
    with torch.no_grad():
        qw = module.quant_weight()
        frac = _pow2_frac(node, what, qw.scale)
        _check_zero_point(node, what, qw.zero_point)
        bits = _bits(node, what, qw.bit_width)
        w_int = qw.int().to(torch.int64).numpy()
    _check_pow2_restricted(node, what, proxy)     # after the scale: a value that is not a power of two says more
    lo, hi = _int_bounds(bits, bool(qw.signed), bool(proxy.is_narrow_range))
    if type(module).__name__ == "QuantConv2d":
        if module.groups != 1 or tuple(module.dilation) != (1, 1) or module.padding_mode != "zeros" \
                or module.kernel_size[0] != module.kernel_size[1] or len(set(module.stride)) != 1 \
                or not isinstance(module.padding, tuple) or len(set(module.padding)) != 1:
            raise BadParameter(f"{node}: kernel {tuple(module.kernel_size)}, stride {module.stride}, padding "
                               f"{module.padding!r}, dilation {tuple(module.dilation)}, groups {module.groups}; "
                               f"allowed: a square kernel, equal stride and padding, dilation 1, groups 1, zero "
                               f"padding")
        carrier = BrevitasConv2d(module.in_channels, module.out_channels, module.kernel_size[0], module.stride[0],
                                 module.padding[0], bias=module.bias is not None)
    else:
        carrier = BrevitasLinear(module.in_features, module.out_features, bias=module.bias is not None)
    carrier._carry(module, node, w_int, frac, bits, bool(qw.signed), lo, hi)
    if module.bias is not None:
        with torch.no_grad():
            carrier.bias.copy_(module.bias.detach())        # replaced by the quantised bias in finish_brevitas
        carrier.bias_exact = False
    return carrier


def lower_brevitas(node, module):
    """The float modules that stand for Brevitas ``module`` in golden.frontend's chain, as a list
    of (suffix, module): the last is the node's own item, the others (suffix) come before it.
    ``node`` is the node's description for refusals (golden.frontend)."""
    kind = type(module).__name__
    if kind not in SUPPORTED_BREVITAS:
        raise BadParameter(f"{node}: Brevitas {kind} is not one the import reads exactly; allowed: "
                           f"{', '.join(SUPPORTED_BREVITAS)}")
    require_brevitas()
    if kind in ("QuantConv2d", "QuantLinear"):
        return [(None, _compute_layer(node, module))]
    _check_no_io_quant(node, module, ("input_quant",))
    quant = _act_quant(node, module)
    return ([("relu", nn.ReLU())] if kind == "QuantReLU" else []) + [(None, quant)]


# ---- the imported chain ------------------------------------------------------------------------

def _is_compute(module):
    return isinstance(module, (nn.Conv2d, nn.Linear, Adder2d))


def _trace_back(by_name, ref):
    """From item ``ref``, back through pass-through items: (the item reached, whether a ReLU was
    passed, the names passed)."""
    relu, passed = False, []
    while ref != "input":
        _, mod, inputs = by_name[ref]
        if not isinstance(mod, _PASS_THROUGH):
            return ref, relu, passed
        relu = relu or isinstance(mod, nn.ReLU)
        passed.append(ref)
        ref = inputs[0]
    return ref, relu, passed


def finish_brevitas(items):
    """``items`` (golden.frontend's chain) checked as a Brevitas import (module docstring) and with
    each quantised bias in place; items without Brevitas carriers come back unchanged."""
    if not any(isinstance(m, (_Carrier, FixedPointQuant)) for _, m, _ in items):
        return items
    by_name = {item[0]: item for item in items}
    for name, mod, inputs in items:
        if _is_compute(mod) and not isinstance(mod, _Carrier):
            raise BadParameter(f"layer {name!r}: a {type(mod).__name__} in a model with Brevitas layers would need its "
                               f"own scales chosen, which re-quantises the model; allowed: QuantConv2d and QuantLinear")
        if isinstance(mod, FixedPointQuant):
            src, _, _ = _trace_back(by_name, inputs[0])
            if src != "input" and not isinstance(by_name[src][1], _Carrier):
                what = by_name[src][1]
                raise BadParameter(f"{mod.node}: quantises the output of {src!r} ({type(what).__name__}), and the "
                                   f"program stores only the image and layer outputs; allowed: a quantiser on the "
                                   f"input or after a QuantConv2d or QuantLinear (through ReLU, MaxPool2d or flatten)")
        if isinstance(mod, _Carrier):
            src, _, _ = _trace_back(by_name, inputs[0])
            quant = by_name[src][1] if src != "input" else None
            if not isinstance(quant, FixedPointQuant):
                raise BadParameter(f"{mod.node}: reads {'the image' if quant is None else repr(src)}, which no "
                                   f"activation quantiser put on a grid; allowed: a QuantIdentity or QuantReLU "
                                   f"(fixed point) before it")
            if mod.bias is not None:
                _quantise_bias(mod, quant)
    _one_quantiser_per_tensor(items, by_name)
    return items


def _one_quantiser_per_tensor(items, by_name):
    seen = {}
    for name, mod, inputs in items:
        if isinstance(mod, FixedPointQuant):
            src, _, _ = _trace_back(by_name, inputs[0])
            if src in seen:
                raise BadParameter(f"{mod.node}: quantises the output of {src!r} a second time (after "
                                   f"{seen[src]}); allowed: one quantiser per tensor")
            seen[src] = mod.node


def _quantise_bias(carrier, quant):
    """The carrier's bias as Brevitas quantises it for an input at 2^-quant.frac (or float)."""
    source = carrier._source
    proxy = source.bias_quant
    if not proxy.is_quant_enabled:
        return                          # a float bias: B rounds it (module docstring)
    from brevitas.quant_tensor import IntQuantTensor    # optional dependency: adderhw[brevitas]
    shape = (1, carrier.in_channels, 1, 1) if isinstance(carrier, nn.Conv2d) else (1, carrier.in_features)
    scale = torch.tensor(2.0 ** -quant.frac)
    qin = IntQuantTensor(torch.zeros(shape), scale, torch.tensor(0.0), torch.tensor(float(quant.bits)), quant.signed,
                         False)
    with torch.no_grad():
        qb = proxy(source.bias, qin, source.quant_weight())
        frac = _pow2_frac(carrier.node, "bias_quant", qb.scale)
        _check_zero_point(carrier.node, "bias_quant", qb.zero_point)
        b_int = qb.int().to(torch.int64)
    if int(b_int.abs().max()) >= _FLOAT32_EXACT:
        raise BadParameter(f"{carrier.node}: bias_quant gives integers up to {int(b_int.abs().max())}, beyond "
                           f"float32's exact 2^24 (Brevitas adds it in float32); allowed: a bias below 2^24 units of its scale")
    with torch.no_grad():
        carrier.bias.copy_(torch.ldexp(b_int.double(), torch.tensor(-float(frac), dtype=torch.float64)).float())
    carrier.bias_exact = True


def _items(net):
    return list(net.graph_chain())


def _stage_of(by_name, ref):
    """The stage (compute item name, or "input") whose stored tensor item ``ref`` is."""
    src, _, _ = _trace_back(by_name, ref)
    return src


def _check_widths(items, by_name, width):
    lo, hi = int_range(width)
    for name, mod, inputs in items:
        if isinstance(mod, _Carrier):
            if mod.w_lo < lo or mod.w_hi > hi:
                kind = "signed" if mod.signed else "unsigned"
                raise BadParameter(f"{mod.node}: weight_quant is {kind} {mod.bits}-bit ([{mod.w_lo}, {mod.w_hi}]), "
                                   f"wider than the program's signed {width} bits; allowed: at most {width} bits "
                                   f"signed ({width - 1} unsigned), or a wider program width")
        if isinstance(mod, FixedPointQuant):
            stage = _stage_of(by_name, inputs[0])
            kind = "signed" if mod.signed else "unsigned"
            if stage == "input":
                if mod.lo < lo or mod.hi > hi:
                    raise BadParameter(f"{mod.node}: the input quantiser is {kind} {mod.bits}-bit ([{mod.lo}, "
                                       f"{mod.hi}]), wider than the program's signed {width} bits; allowed: a range "
                                       f"within [{lo}, {hi}], or a wider program width")
                continue
            _, relu, _ = _trace_back(by_name, inputs[0])
            want_lo = 0 if relu else lo
            got_lo = max(mod.lo, 0) if relu else mod.lo
            if (got_lo, mod.hi) != (want_lo, hi):
                fits = (f"unsigned {width - 1}-bit or signed {width}-bit" if relu else f"signed {width}-bit, "
                        f"not narrow-range")
                need = mod.bits + (1 if not mod.signed else 0)
                raise BadParameter(f"{mod.node}: its quantiser is {kind} {mod.bits}-bit, clamping to [{got_lo}, "
                                   f"{mod.hi}], and the program saturates layer outputs to [{want_lo}, {hi}] at width "
                                   f"{width}; allowed: {fits} (or compile this one at width {need})")


def imposed_scales(net, width):
    """The golden.compiler.ImposedScales of an imported Brevitas chain, checked against ``width``."""
    items = _items(net)
    by_name = {item[0]: item for item in items}
    _check_widths(items, by_name, width)
    tensors = {}
    for name, mod, inputs in items:
        if isinstance(mod, FixedPointQuant):
            tensors[_stage_of(by_name, inputs[0])] = mod.frac
    weights = {name: mod.w_frac for name, mod, _ in items if isinstance(mod, _Carrier)}
    return ImposedScales(tensors, weights, rounding="half_even")       # Brevitas's ROUND: ties to even


def compile_imported(net, calib_x, width, name, scale_bits=16, bias_bits=32, requant="mul", shift_terms=2):
    """Compile golden.frontend's import of a Brevitas model (an ImportedNet holding its carriers)
    with Brevitas's scales and integers (module docstring); golden.compiler.Compiled. ``calib_x``
    chooses only the logits' scale, where the last layer has no output quantiser."""
    items = _items(net)
    if not any(isinstance(m, _Carrier) for _, m, _ in items):
        raise BadParameter(f"model {getattr(net, 'source', type(net).__name__)} has no Brevitas QuantConv2d or "
                           f"QuantLinear to import")
    imposed = imposed_scales(net, width)
    # the compiler's float chain: the quantisers' scales are imposed, so it runs without them (their
    # readers read what they read)
    alias, float_items = {}, []
    for n, m, inputs in items:
        inputs = tuple(alias.get(ref, ref) for ref in inputs)
        if isinstance(m, FixedPointQuant):
            alias[n] = inputs[0]
        else:
            float_items.append((n, m, inputs))
    twin = type(net)(float_items, net.input_shape, net.source)
    compiled = compile_model(twin, calib_x, width, name, scale_bits, bias_bits, requant, shift_terms,
                             imposed=imposed)
    carriers = {n: m for n, m, _ in items if isinstance(m, _Carrier)}
    for layer in compiled.program.layers:
        carrier = carriers.get(layer.name)
        if carrier is None:
            continue
        want = carrier.w_int.reshape(layer.weights.shape)
        if not np.array_equal(layer.weights, want):
            raise BadParameter(f"{carrier.node}: the program's weights differ from Brevitas's integers; "
                               f"this is a bug in the import")
    return compiled


def input_quantiser(net):
    """The FixedPointQuant on the image of an imported Brevitas chain."""
    items = _items(net)
    by_name = {item[0]: item for item in items}
    for name, mod, inputs in items:
        if isinstance(mod, FixedPointQuant) and _stage_of(by_name, inputs[0]) == "input":
            return mod
    raise BadParameter("the imported model has no input quantiser (a QuantIdentity on the image)")


def quantize_input(net, x):
    """Float images as the program's int64 input, quantised as the Brevitas model's input
    QuantIdentity does (its clamp, which may be narrower than the program's width)."""
    return input_quantiser(net).integers(x).numpy()
