"""Compile a trained torch network into an engine program (golden.program).

What it accepts
---------------
A chain of layers, read by :func:`network_chain`: a ``torch.nn.Sequential``, a model with a
``chain()`` method returning ``[(name, module), ...]`` in execution order (golden.mnist.MnistNet),
or the digits network (golden.addernet.DigitsNet, read from its attribute names). The chain is run
in float on the calibration images and must reproduce the model's own forward, so a chain that
misreads a model is refused instead of compiled wrong.

The chain is a sequence of *stages*; each becomes one :class:`~golden.program.LayerProgram`::

    compute [BatchNorm] [ReLU] [MaxPool2d(2) | AdaptiveAvgPool2d(1)] [Flatten]

* compute: ``Adder2d`` (op "add"), ``Conv2d`` or ``Linear`` (op "mul"). A ``Linear`` on a
  C x H x W input runs as a kernel-H convolution without padding (H must equal W), so
  "flatten, then Linear" and "global average pool, then Linear" (kernel 1 on 1 x 1) both work.
* ``Dropout`` and ``Identity`` are skipped (the model runs in eval mode).
Anything else is refused with one sentence naming the layer and the field.

Graphs (residual networks): a chain item may name its inputs, ``(name, module, inputs)``, where
``inputs`` is a tuple of names of earlier items or ``"input"`` (the image); an item without them
reads the item before it. A :class:`Residual` item with two inputs is a residual add: it becomes a
golden.program.ResidualAdd step, and a ReLU that reads only the add folds into it. BatchNorm, ReLU
and pooling fold into the stage whose output they read, provided nothing else reads the value
before them. golden.frontend writes such chains from a torch.fx trace. Scales then belong to
tensors, not to layers: a tensor read by several stages (a residual block's input) has one scale
covering what each reader sees, and the add aligns its two operands' scales by shifts
(golden.program, "Graphs and the residual add"); its output scale is chosen like any tensor's,
from the float sum at the point where the program saturates it (after its ReLU).

Numbers
-------
Every activation tensor between two stages has one power-of-two scale 2^-f: a signed ``width``-bit
integer q stands for q·2^-f. f is chosen from the calibration data with
:func:`golden.fixed.choose_frac_bits` (the finest scale at which nothing saturates):

* stage i's input frac f_i covers its float input taps and the previous stage's values at the
  point where the program saturates them (after ReLU, *before* pooling: a global average pool sums
  saturated values, so they must fit, not only their mean);
* an adder layer's weights share f_i (X and F share one format: |x - f| needs equal units); its
  accumulator acc = -Σ|x - f| is in units of 2^-f_i (golden.reference.Adder2d returns -Σ|x - f|
  too, so no sign flips). f_i follows the activations only: a weight beyond the range the
  saturated input can take is clipped to that range and the constant it removes from every
  |x - f| goes into the bias, which is exact (:func:`clip_adder_weights`). Choosing f_i to cover
  the weights instead makes the activations coarse (the digits AdderNet at 8 bits: 90.4 % instead
  of 98.9 %);
* a multiplier layer's weights get their own frac f_w; acc = Σ x·w is in units of 2^-(f_i + f_w);
* the image is stage 0's input: Program.input_frac = f_0;
* the last stage's output (the logits) gets the finest frac at which the calibration logits do not
  saturate.

Scales from quantisation-aware training (``fracs``): {layer name: f, or a tuple of f per group of
consecutive output channels}, as golden.qat.calibrate_fracs returns them for the layers that
golden.qat.fine_tune trained at those scales. They replace the calibrated choice for the adder
layers they name:

* one f: the layer's input tensor is stored at 2^-f (the previous layer saturates at it, as the
  fake quantiser did in training), and its weights are at 2^-f;
* per-group f_g: the input tensor is stored at the finest, f_x = max f_g; channel group g's
  weights are at 2^-f_g, and its input is the stored one shifted by d = f_g − f_x (golden.program,
  step 0: a rounding shift right), which an engine runs with the per-tile shift
  (EngineConfig.tile_shift) when each group is a multiple of its rows. The per-channel accumulator
  units 2^-f_g fold into M.
* where the previous layer ends in a global average pool, f (or f_x) is capped at the finest that
  does not saturate the values before the pool (the program saturates those, the training the
  mean); a group then has d > 0.
* two scales the training does not see are then chosen on the calibration images, by how often the
  program's class equals the fine-tuned model's: the logits' scale (up to CALIB_EXTRA
  bits finer than "nothing saturates": the argmax needs resolution more than the largest logits)
  and, after a global average pool, the stored scale between the cap and the trained f.

Scales a quantised model fixes itself (``imposed``, an :class:`ImposedScales`; golden.brevitas_import
makes them from Brevitas's fixed-point quantisers): the tensors and multiplier weights it names are
stored at exactly those scales instead of the calibrated ones, and weights already on their grid
(integers times 2^-f) keep their integers, since quantising them at that f rounds nothing.

Folding (:func:`fold_requant`): BatchNorm in eval mode (running mean/var, eps, γ, β) and any bias b
of the conv/linear make, per output channel, y = gain·acc_float + offset with
gain = γ/√(var + eps), offset = β + gain·(b − mean). The program computes
v = (acc·M + B + 2^(S−1)) >> S ≈ round(y·2^f_out), so M = round(gain·2^(f_out − f_acc + S)),
B = round(offset·2^(f_out + S)), with S the largest shift (≤ MAX_SHIFT) at which every |M| fits
``scale_bits`` and every |B| fits ``bias_bits``.
"""
import itertools
import math
from dataclasses import dataclass, field

import numpy as np

from adderhw.base.engine import BIAS_BITS_RANGE, MAX_SHIFT, SCALE_BITS_RANGE, X_SHIFT_RANGE, EngineConfig
from adderhw.base.errors import BadParameter
from adderhw.base.requant import REQUANT_KINDS, SHIFT_TERMS
from adderhw.base.validate import check_int, int_range

from .cycles import drain_gap
from .fixed import FRAC_BITS_RANGE, choose_frac_bits, quantize
from .program import ADD_SHIFT_MAX, LayerProgram, Program, ResidualAdd, run_program

__all__ = ["compile_network", "compile_model", "Compiled", "LayerScales", "ImposedScales", "network_chain", "Residual",
           "fold_requant", "clip_adder_weights", "quantize_images", "evaluate", "Evaluation",
           "float_logits", "engine_cost", "EngineCost"]

#: how many bits finer than the finest non-saturating scale QAT's calibration tries (golden.qat)
CALIB_EXTRA = 4
#: images per float / calibration batch
_BATCH = 500


def _torch():
    import torch            # torch: deferred (start-up, golden/__init__ docstring)
    return torch


def _refuse(name, field, message):
    raise BadParameter(f"layer {name!r}: {field} {message}")


# ---- reading the model ---------------------------------------------------------------------

def network_chain(model):
    """The model as a list of ``(name, module)`` in execution order (see the module docstring)."""
    from torch import nn    # torch: deferred (start-up, golden/__init__ docstring)
    if isinstance(model, nn.Sequential):
        return list(model.named_children())
    if callable(getattr(model, "chain", None)):
        return list(model.chain())
    if callable(getattr(model, "graph_chain", None)):
        return list(model.graph_chain())
    digits = ("conv1", "bn1", "add1", "bn2", "add2", "bn3", "fc")
    if all(isinstance(getattr(model, a, None), nn.Module) for a in digits):
        # golden.addernet.DigitsNet: its forward is code, not a Sequential; this is that code's order
        m = model
        return [("conv1", m.conv1), ("bn1", m.bn1), ("relu1", nn.ReLU()),
                ("add1", m.add1), ("bn2", m.bn2), ("relu2", nn.ReLU()), ("pool2", nn.MaxPool2d(2)),
                ("add2", m.add2), ("bn3", m.bn3), ("relu3", nn.ReLU()), ("gap", nn.AdaptiveAvgPool2d(1)),
                ("flatten", nn.Flatten()), ("fc", m.fc)]
    raise BadParameter(f"model of type {type(model).__name__} is not one the compiler can read: give it "
                       f"a chain() method returning [(name, module), ...] or make it a torch.nn.Sequential")


class Residual:
    """A chain item's module that marks a residual add of its two inputs' outputs (module
    docstring, "Graphs"); not a torch module, so that this file needs no torch to import."""

    def __repr__(self):
        return "Residual()"


@dataclass
class _Stage:
    name: str
    module: object
    op: str                 # "add", "mul" or "residual"
    linear: bool
    bn: object = None
    relu: bool = False
    pool: str = "none"
    src: int = None         # the stage whose output it reads: None the previous, -1 the input
    skip: int = None        # a residual add's second operand (a stage index, -1 the input)

    def sources(self, i):
        src = i - 1 if self.src is None else self.src
        return (src, self.skip) if self.op == "residual" else (src,)


def _graph_stages(chain):
    """The stages of a chain whose items name their inputs (module docstring, "Graphs")."""
    from torch import nn    # torch: deferred (start-up, golden/__init__ docstring)
    readers = {}
    for item in chain:
        for ref in (item[2] if len(item) > 2 else ()):
            readers[ref] = readers.get(ref, 0) + 1
    stages = []
    where = {"input": (-1, False)}      # item name -> (stage index, flattened)
    last = {}                           # stage index -> name of the item holding its current output
    prev = "input"
    for item in chain:
        name, mod = item[0], item[1]
        inputs = tuple(item[2]) if len(item) > 2 else (prev,)
        for ref in inputs:
            if ref not in where:
                _refuse(name, "inputs", f"name {ref!r}, which is not an earlier item of the chain")
        prev = name
        if isinstance(mod, Residual):
            if len(inputs) != 2:
                _refuse(name, "inputs", f"of a residual add must be two tensors, not {len(inputs)}")
            (a, fa), (b, fb) = where[inputs[0]], where[inputs[1]]
            if fa or fb:
                _refuse(name, "inputs", "of a residual add must be feature maps, not flattened vectors")
            stages.append(_Stage(name, mod, "residual", False, src=a, skip=b))
            where[name], last[len(stages) - 1] = (len(stages) - 1, False), name
            continue
        if len(inputs) != 1:
            _refuse(name, "inputs", f"must be one tensor for a {type(mod).__name__}, not {len(inputs)}")
        src, flat = where[inputs[0]]
        kind = _compute_kind(name, mod)
        if kind is not None:
            if flat and not kind[1]:
                _refuse(name, "position", f"after a Flatten must be a Linear layer, not {type(mod).__name__}")
            stages.append(_Stage(name, mod, kind[0], kind[1], src=src))
            where[name], last[len(stages) - 1] = (len(stages) - 1, False), name
            continue
        if isinstance(mod, (nn.Dropout, nn.Identity)):
            where[name] = where[inputs[0]]
            continue
        if isinstance(mod, nn.Flatten):
            where[name] = (src, True)
            continue
        if src < 0:
            _refuse(name, "position", f"({type(mod).__name__}) must follow a conv, adder or linear layer")
        st = stages[src]
        if last[src] != inputs[0] or readers.get(inputs[0], 0) > 1:
            _refuse(name, "position", f"({type(mod).__name__}) reads {inputs[0]!r}, which other layers read "
                    f"too; the engine folds it into {st.name!r} and keeps only the value after it")
        if not _fold_into(st, name, mod):
            _refuse(name, "type", f"{type(mod).__name__} is not one the compiler knows (Conv2d, Adder2d, "
                    f"Linear, BatchNorm, ReLU, MaxPool2d(2), AdaptiveAvgPool2d(1), Flatten, Dropout, Residual)")
        where[name], last[src] = (src, False), name
    out, flat = where[prev]
    if out != len(stages) - 1:
        raise BadParameter(f"chain's output {prev!r} is not its last layer's output; the logits must come from the "
                           f"last conv, adder or linear layer")
    if not stages:
        raise BadParameter("model has no conv, adder or linear layer to compile")
    for i, st in enumerate(stages):
        if st.src == i - 1:
            st.src = None
    if stages[0].src not in (None, -1) or stages[0].op == "residual":
        _refuse(stages[0].name, "position", "is the first layer and must read the image")
    stages[0].src = None
    return stages


def _pair(name, field, value):
    """One int from an int or an equal pair (torch allows (a, b))."""
    if isinstance(value, (tuple, list)):
        if len(set(value)) != 1:
            _refuse(name, field, f"must be the same along height and width, not {tuple(value)}")
        value = value[0]
    if not isinstance(value, int) or isinstance(value, bool):
        _refuse(name, field, f"must be an integer, not {value!r}")
    return value


def _compute_kind(name, mod):
    """"add"/"mul" and whether it is a Linear, or None for a module that is not a compute layer."""
    # torch: deferred (start-up, golden/__init__ docstring)
    from torch import nn
    from .reference import Adder2d
    if isinstance(mod, Adder2d):
        return "add", False
    if isinstance(mod, nn.Conv2d):
        if mod.groups != 1:
            _refuse(name, "groups", f"must be 1 (the engine has no grouped convolution), not {mod.groups}")
        if _pair(name, "dilation", mod.dilation) != 1:
            _refuse(name, "dilation", f"must be 1, not {mod.dilation}")
        if mod.padding_mode != "zeros":
            _refuse(name, "padding_mode", f"must be 'zeros', not {mod.padding_mode!r}")
        _pair(name, "kernel_size", mod.kernel_size)
        _pair(name, "stride", mod.stride)
        _pair(name, "padding", mod.padding)
        return "mul", False
    if isinstance(mod, nn.Conv1d) or isinstance(mod, nn.Conv3d):
        _refuse(name, "type", f"{type(mod).__name__} is not supported; the engine runs 2-D layers")
    if isinstance(mod, nn.Linear):
        return "mul", True
    return None


def _stages(chain):
    from torch import nn    # torch: deferred (start-up, golden/__init__ docstring)
    stages = []
    flatten = None
    for name, mod in chain:
        kind = _compute_kind(name, mod)
        if kind is not None:
            stages.append(_Stage(name, mod, kind[0], kind[1]))
            flatten = None
            continue
        if isinstance(mod, (nn.Dropout, nn.Identity)):
            continue
        if flatten is not None:
            _refuse(name, "position", f"after {flatten!r} (a Flatten) must be a Linear layer, not "
                    f"{type(mod).__name__}")
        if isinstance(mod, nn.Flatten):
            flatten = name
            continue
        if not stages:
            _refuse(name, "position", f"({type(mod).__name__}) must follow a conv, adder or linear layer")
        st = stages[-1]
        if _fold_into(st, name, mod):
            pass
        elif isinstance(mod, nn.modules.pooling._MaxPoolNd) or isinstance(mod, nn.modules.pooling._AvgPoolNd) \
                or isinstance(mod, nn.modules.pooling._AdaptiveMaxPoolNd) \
                or isinstance(mod, nn.modules.pooling._AdaptiveAvgPoolNd) or isinstance(mod, nn.modules.pooling._LPPoolNd):
            _refuse(name, "pool", f"{type(mod).__name__} is not supported; the engine pools with "
                    f"MaxPool2d(2) or a global average (AdaptiveAvgPool2d(1))")
        else:
            _refuse(name, "type", f"{type(mod).__name__} is not one the compiler knows (Conv2d, Adder2d, "
                    f"Linear, BatchNorm, ReLU, MaxPool2d(2), AdaptiveAvgPool2d(1), Flatten, Dropout)")
    if flatten is not None:
        _refuse(flatten, "position", "(Flatten) must be followed by a Linear layer")
    if not stages:
        raise BadParameter("model has no conv, adder or linear layer to compile")
    return stages


def _fold_into(st, name, mod):
    """Fold ``mod`` (module ``name``) into stage ``st`` when it is a BatchNorm, a ReLU or a pooling
    the engine applies after a layer (in that order, once each); True if it was one, else False.
    Refuses, naming the module, one that comes out of order or a second of its kind."""
    nn = _torch().nn
    if isinstance(mod, nn.modules.batchnorm._BatchNorm):
        if st.op == "residual" or st.bn is not None or st.relu or st.pool != "none":
            _refuse(name, "position", f"(BatchNorm) must come right after a conv, adder or linear layer, "
                    f"before its ReLU and pooling, not after {st.name!r}")
        if mod.running_mean is None or mod.running_var is None:
            _refuse(name, "running_mean", "is missing (track_running_stats=False); the compiler "
                    "folds BatchNorm's running statistics")
        st.bn = mod
    elif isinstance(mod, nn.ReLU):
        if st.relu or st.pool != "none":
            _refuse(name, "position", f"(ReLU) must come after {st.name!r}'s BatchNorm and before its pooling")
        st.relu = True
    elif isinstance(mod, (nn.MaxPool2d, nn.AdaptiveAvgPool2d)):
        if st.pool != "none":
            _refuse(name, "pool", f"is a second pooling after {st.name!r}; the engine pools once per layer")
        st.pool = _pool_kind(name, mod)
    else:
        return False
    return True


def _pool_kind(name, mod):
    from torch import nn    # torch: deferred (start-up, golden/__init__ docstring)
    if isinstance(mod, nn.AdaptiveAvgPool2d):
        size = mod.output_size
        if _pair(name, "output_size", size) != 1:
            _refuse(name, "output_size", f"must be 1 (a global average pool), not {size}")
        return "gap"
    k = _pair(name, "kernel_size", mod.kernel_size)
    s = _pair(name, "stride", mod.stride if mod.stride is not None else mod.kernel_size)
    if k != 2 or s != 2:
        _refuse(name, "kernel_size", f"and stride must both be 2 (the engine's 2x2 max pool), not {k} and {s}")
    if _pair(name, "padding", mod.padding) != 0 or _pair(name, "dilation", mod.dilation) != 1 or mod.ceil_mode:
        _refuse(name, "padding", "must be 0 with dilation 1 and ceil_mode False for the engine's 2x2 max pool")
    return "max2"


def _geometry(stage, in_shape):
    """(kernel, stride, padding) of a stage on a (C, H, W) input."""
    mod = stage.module
    c, h, w = in_shape
    if stage.linear:
        if mod.in_features != c * h * w:
            _refuse(stage.name, "in_features", f"{mod.in_features} does not match its input {c}x{h}x{w}")
        if h != w:
            _refuse(stage.name, "input", f"{c}x{h}x{w} must be square to run as a kernel-{h} convolution")
        return h, 1, 0
    return (_pair(stage.name, "kernel_size", mod.weight.shape[2]), _pair(stage.name, "stride", mod.stride),
            _pair(stage.name, "padding", mod.padding))


def _weights(stage, in_shape):
    w = stage.module.weight.detach().double().numpy()
    if stage.linear:
        w = w.reshape(w.shape[0], *in_shape)
    if w.shape[2] != w.shape[3]:
        _refuse(stage.name, "kernel_size", f"must be square, not {w.shape[2]}x{w.shape[3]}")
    return w


def _gain_offset(stage):
    """Per-channel (gain, offset) of y = gain·acc + offset: BatchNorm (eval) and the layer's bias."""
    mod = stage.module
    cout = mod.weight.shape[0]
    bias = getattr(mod, "bias", None)
    b = bias.detach().double().numpy() if bias is not None else np.zeros(cout)
    if stage.bn is None:
        return np.ones(cout), b
    bn = stage.bn
    if bn.num_features != cout:
        _refuse(stage.name, "bn", f"has {bn.num_features} features but the layer has {cout} channels")
    mean = bn.running_mean.detach().double().numpy()
    var = bn.running_var.detach().double().numpy()
    gamma = bn.weight.detach().double().numpy() if bn.weight is not None else np.ones(cout)
    beta = bn.bias.detach().double().numpy() if bn.bias is not None else np.zeros(cout)
    gain = gamma / np.sqrt(var + bn.eps)
    return gain, beta + gain * (b - mean)


def _centre(stage):
    """Per channel, the accumulator value (float units) at which BatchNorm outputs its β: its running
    mean less the layer's bias; 0 without BatchNorm. A rounded M (shift-only requantisation) keeps
    the output exact there (:func:`fold_requant`)."""
    mod = stage.module
    cout = mod.weight.shape[0]
    if stage.bn is None:
        return np.zeros(cout)
    bias = getattr(mod, "bias", None)
    b = bias.detach().double().numpy() if bias is not None else np.zeros(cout)
    return stage.bn.running_mean.detach().double().numpy() - b


def _run_stage(stage, x):
    """Float forward of one stage: (values where the program saturates them, output)."""
    torch = _torch()
    n = len(x)
    if stage.linear:
        y = stage.module(x.reshape(n, -1))
        if stage.bn is not None:
            y = stage.bn(y)
        y = y.reshape(n, -1, 1, 1)
    else:
        y = stage.module(x)
        if stage.bn is not None:
            y = stage.bn(y)
    if stage.relu:
        y = torch.relu(y)
    return y, _pool_float(stage, y)


def _pool_float(stage, y):
    torch = _torch()
    if stage.pool == "max2":
        return torch.nn.functional.max_pool2d(y, 2)
    if stage.pool == "gap":
        return y.mean(dim=(2, 3), keepdim=True)
    return y


# ---- folding -------------------------------------------------------------------------------

def nearest_pow2_sum(x, terms):
    """The integers nearest to the floats ``x`` among sums of at most ``terms`` (1 or 2) signed powers
    of two (0 included), elementwise.

    One term: the nearer of 2^⌊log2|x|⌋ and 2^⌈log2|x|⌉, a relative error of at most 1/3 (at
    |x| = 4/3·2^k) for |x| >= 1. Two terms: the better of those two, each followed by the power of
    two nearest to what is left, which is the nearest such sum (checked against brute force); the
    relative error is at most 1/11 for |x| >= 8 (at |x| = 11/8·2^k, between 5/4 and 3/2 of it).
    Below, the integers themselves are coarse: |x| = 1.33 becomes 1 whatever the terms."""
    x = np.asarray(x, dtype=np.float64)
    out = np.zeros(x.shape, dtype=np.int64)
    for idx, v in np.ndenumerate(x):
        out[idx] = _nearest_sum(float(v), terms)
    return out


def _nearest_single(a):
    """The nearest of 0 and the powers of two to a >= 0."""
    if a < 0.5:
        return 0
    lo = 1 << max(0, math.floor(math.log2(a)))
    return lo if a - lo <= 2 * lo - a else 2 * lo


def _nearest_sum(v, terms):
    sign, a = (-1 if v < 0 else 1), abs(v)
    if terms == 1 or a < 0.5:
        return sign * _nearest_single(a)
    best = None
    lo = 1 << max(0, math.floor(math.log2(a)))
    for t1 in (lo, 2 * lo):
        rest = a - t1
        m = t1 + (1 if rest >= 0 else -1) * _nearest_single(abs(rest))
        if best is None or abs(a - m) < abs(a - best):
            best = m
    return sign * best


def fold_requant(gain, offset, acc_frac, out_frac, scale_bits=16, bias_bits=32, name="layer", requant="mul",
                 shift_terms=2, centre=None):
    """Integer (M, B, S) with (acc·M + B + 2^(S−1)) >> S ≈ round((gain·acc·2^-acc_frac + offset)·2^out_frac).

    ``gain`` and ``offset`` are per-channel floats; S is the largest shift (0..MAX_SHIFT) at which every
    |M| < 2^(scale_bits−1) and every |B| < 2^(bias_bits−1). Refuses, naming layer ``name``, a
    gain or offset too large to fit even at S = 0. ``requant="shift"``: every M is the sum of at
    most ``shift_terms`` signed powers of two nearest to its exact value (:func:`nearest_pow2_sum`),
    so that a shift-only engine can apply it; its B then absorbs the difference at ``centre`` (float
    accumulator units per channel, default 0): with g' the gain M stands for, B = round((offset +
    (gain − g')·centre)·2^(out_frac+S)), so the output is exact where the accumulator usually is.
    That matters for adder layers, whose −Σ|x − f| is large and which BatchNorm recentres: without
    it, M's few per cent of error on a large sum swamp the output (digits, 8 bits: about 11 %
    instead of 98 %).
    """
    centre = np.zeros_like(np.asarray(gain, dtype=np.float64)) if centre is None else np.asarray(centre, np.float64)
    def scale_at(s):
        exact = np.ldexp(gain, out_frac - acc_frac + s)
        if requant == "mul" or np.abs(exact).max(initial=0) > 2 * m_hi:
            return np.rint(exact)           # beyond the scale either way: the caller's check refuses it
        return nearest_pow2_sum(exact, shift_terms).astype(np.float64)

    gain = np.asarray(gain, dtype=np.float64)
    offset = np.asarray(offset, dtype=np.float64)
    if not (np.isfinite(gain).all() and np.isfinite(offset).all()):
        _refuse(name, "scale", "is not finite (a BatchNorm with zero variance and eps, or a NaN weight?)")
    m_hi = (1 << (scale_bits - 1)) - 1
    b_hi = (1 << (bias_bits - 1)) - 1
    m_fits = None
    acc_frac = np.asarray(acc_frac) if np.ndim(acc_frac) else acc_frac     # per channel (per-group scales) or one
    for s in range(MAX_SHIFT, -1, -1):
        m = scale_at(s)
        # "mul" keeps its fold exactly as it was (M's rounding error is then below one part in 2^14)
        moved = offset if requant == "mul" else offset + (gain - np.ldexp(m, acc_frac - out_frac - s)) * centre
        b = np.rint(np.ldexp(moved, out_frac + s))
        if np.abs(m).max(initial=0) > m_hi:
            continue
        m_fits = s if m_fits is None else m_fits
        if np.abs(b).max(initial=0) <= b_hi:
            bits = int(np.abs(m).max(initial=0)).bit_length()
            if s < m_fits and bits < min(8, scale_bits - 1):
                # B capped the shift so far that M keeps too few bits to follow BatchNorm's gains
                _refuse(name, "bias", f"must fit signed {bias_bits} bits, which caps the shift at {s} and "
                        f"leaves the scale M only {bits} bits; raise bias_bits (about "
                        f"{_bias_bits_needed(offset, int(np.max(acc_frac)), min(15, scale_bits - 1))} would keep "
                        f"{min(15, scale_bits - 1)} bits of M)")
            return m.astype(np.int64), b.astype(np.int64), s
    acc_frac = int(np.max(acc_frac))
    m = scale_at(0)
    if np.abs(m).max(initial=0) > m_hi:
        _refuse(name, "scale", f"needs |M| up to {int(np.abs(m).max())} even with shift 0, beyond signed "
                f"{scale_bits} bits; raise scale_bits")
    b = np.rint(np.ldexp(offset, out_frac))
    _refuse(name, "bias", f"needs |B| up to {int(np.abs(b).max())} even with shift 0, beyond signed "
            f"{bias_bits} bits; raise bias_bits")


def clip_adder_weights(w, width, frac):
    """Adder weights (cout, ...) clipped to the range of a signed ``width``-bit input at 2^-frac,
    and per filter the float Σ|w − clipped w| that the clipping removed.

    This is exact, not an approximation: every input x the program feeds the layer is saturated to
    [lo, hi]·2^-frac, so for a weight f beyond hi·2^-frac, |x − f| = |x − hi·2^-frac| + (f − hi·2^-frac)
    for every x (and likewise below lo): clipping changes each filter's −Σ|x − f| by a constant,
    which the bias absorbs. The shared scale can so follow the activations alone, instead of being
    made coarse by a few large weights."""
    lo, hi = int_range(width)
    w = np.asarray(w, dtype=np.float64)
    clipped = np.clip(w, np.ldexp(float(lo), -frac), np.ldexp(float(hi), -frac))
    return clipped, np.abs(w - clipped).reshape(len(w), -1).sum(axis=1)


def _bias_bits_needed(offset, acc_frac, m_bits):
    """Bits of B = offset·2^(out_frac + S) when S keeps M = gain·2^(out_frac − acc_frac + S) at
    about m_bits bits for a gain near 1: S + out_frac ≈ acc_frac + m_bits."""
    amax = float(np.abs(offset).max(initial=0))
    return acc_frac + m_bits + max(0, math.ceil(math.log2(amax))) + 2 if amax else 2


# ---- compiling -----------------------------------------------------------------------------

@dataclass(frozen=True)
class LayerScales:
    """The scales the compiler chose for one layer: its input X in units of 2^-x_frac, weights in
    2^-w_frac (equal for an adder layer), accumulator in 2^-acc_frac, output in 2^-out_frac. With
    per-group scales, ``group_fracs`` holds each output channel's f (its weights and its shifted
    input), and ``w_frac`` and ``acc_frac`` are those of channel 0."""
    name: str
    op: str
    x_frac: int
    w_frac: int
    out_frac: int
    shift: int
    group_fracs: tuple = None

    @property
    def acc_frac(self):
        return self.w_frac if self.op == "add" else self.x_frac + self.w_frac


@dataclass(frozen=True, eq=False)
class Compiled:
    """What :func:`compile_model` returns: the program and the scales behind it."""
    program: Program
    scales: tuple           # LayerScales per layer

    @property
    def logit_frac(self):
        return self.scales[-1].out_frac

    def dequantize_logits(self, logits):
        """Float logits of the program's integer logits (N, classes)."""
        return np.ldexp(np.asarray(logits, dtype=np.float64), -self.logit_frac)


def _float_passes(model, stages, calib_x):
    """Run the stages on the calibration images in float; return per-stage max |input|, max |values
    at the saturation point|, the input shapes, and check the chain reproduces the model."""
    torch = _torch()
    n_st = len(stages)
    in_max, sat_max = np.zeros(n_st), np.zeros(n_st)
    shapes = [None] * n_st
    worst = 0.0
    scale = 0.0
    with torch.no_grad():
        for i0 in range(0, len(calib_x), _BATCH):
            xb = torch.tensor(np.asarray(calib_x[i0:i0 + _BATCH]), dtype=torch.float32)
            outs = []
            for i, st in enumerate(stages):
                x, *skip = [xb if j < 0 else outs[j] for j in st.sources(i)]
                if shapes[i] is None:
                    shapes[i] = tuple(x.shape[1:])
                in_max[i] = max(in_max[i], float(x.abs().max()))
                if st.op == "residual":
                    if skip[0].shape != x.shape:
                        _refuse(st.name, "inputs", f"of shapes {tuple(x.shape[1:])} and {tuple(skip[0].shape[1:])} "
                                f"differ; a residual add needs equal shapes")
                    sat = torch.relu(x + skip[0]) if st.relu else x + skip[0]
                    x = _pool_float(st, sat)
                else:
                    sat, x = _run_stage(st, x)
                sat_max[i] = max(sat_max[i], float(sat.abs().max()))
                outs.append(x)
            ours = x.reshape(len(x), -1)
            theirs = model(xb).reshape(len(xb), -1)
            if ours.shape != theirs.shape:
                raise BadParameter(f"model's output has shape {tuple(theirs.shape)} but its chain of layers "
                                   f"gives {tuple(ours.shape)}; the compiler cannot read this model's forward")
            worst = max(worst, float((ours - theirs).abs().max()))
            scale = max(scale, float(theirs.abs().max()))
    if worst > 1e-3 * max(1.0, scale):
        raise BadParameter(f"model's forward differs from its chain of layers by up to {worst:.3g}; the "
                           f"compiler cannot read this model's forward (give it a chain() method)")
    return in_max, sat_max, shapes


def compile_model(model, calib_x, width, name, scale_bits=16, bias_bits=32, requant="mul", shift_terms=2,
                  fracs=None, imposed=None):
    """Compile ``model`` (a trained torch module, see the module docstring) into a :class:`Compiled`.

    ``calib_x``: float images (N, Cin, H, W) that choose the scales (for example, training images).
    ``requant``/``shift_terms``: "shift" fits every M to a sum of ``shift_terms`` signed powers of
    two, for an engine without multipliers (adderhw.base.requant). ``fracs``: the scales of
    quantisation-aware training for the adder layers it names (module docstring). ``imposed``: an
    :class:`ImposedScales` (module docstring). The model is put in eval mode.
    """
    if requant not in REQUANT_KINDS:
        raise BadParameter(f"requant must be one of {', '.join(REQUANT_KINDS)}, not {requant!r}")
    if shift_terms not in SHIFT_TERMS:
        raise BadParameter(f"shift_terms must be one of {', '.join(map(str, SHIFT_TERMS))}, not {shift_terms!r}")
    width = check_int("width", width, lo=2, hi=16)
    scale_bits = check_int("scale_bits", scale_bits, lo=SCALE_BITS_RANGE[0], hi=SCALE_BITS_RANGE[1])
    bias_bits = check_int("bias_bits", bias_bits, lo=BIAS_BITS_RANGE[0], hi=BIAS_BITS_RANGE[1])
    calib_x = np.asarray(calib_x)
    if calib_x.ndim != 4 or not len(calib_x) or not np.issubdtype(calib_x.dtype, np.floating):
        raise BadParameter(f"calib_x must be float images (N, Cin, H, W) with N >= 1, not an array of "
                           f"shape {calib_x.shape} and dtype {calib_x.dtype}")
    model.eval()
    chain = network_chain(model)
    stages = _graph_stages(chain) if any(len(item) > 2 for item in chain) else _stages(chain)
    in_max, sat_max, shapes = _float_passes(model, stages, calib_x)
    geometry = [None if st.op == "residual" else _geometry(st, shapes[i]) for i, st in enumerate(stages)]
    weights = [None if st.op == "residual" else _weights(st, shapes[i]) for i, st in enumerate(stages)]

    group_fracs = _group_fracs(fracs, stages, width)
    # one scale per tensor (tensor j: stage j's output; -1 the image), covering its values where the
    # program saturates them and what each reader sees (for a chain: reader j + 1 alone)
    src = [st.sources(i)[0] for i, st in enumerate(stages)]
    x_frac = {}
    for j in range(-1, len(stages) - 1):
        readers = [i for i, st in enumerate(stages) if j in st.sources(i)]
        seen = [np.array([in_max[i]]) for i in readers if src[i] == j]
        if j >= 0:
            seen.append(np.array([sat_max[j]]))
        trained = sorted({int(group_fracs[stages[i].name].max()) for i in readers
                          if stages[i].name in group_fracs and src[i] == j})
        if len(trained) > 1:
            _refuse(stages[readers[0]].name, "fracs", f"give the tensor it shares with other layers the scales "
                    f"{trained}; a tensor is stored at one scale")
        if trained:
            f = trained[0]
            if j >= 0 and stages[j].pool == "gap":
                f = min(f, choose_frac_bits([np.array([sat_max[j]])], width))
            x_frac[j] = f
        else:
            x_frac[j] = choose_frac_bits(seen, width)
    logit_frac = choose_frac_bits([np.array([sat_max[-1]])], width)
    # ---- imposed scales (golden.brevitas_import): the model's own, instead of the calibrated ones
    w_frac = {}
    if imposed is not None:
        x_frac, logit_frac, w_frac = _impose(imposed, stages, x_frac, logit_frac, fracs)
    # ---- end of imposed scales

    def build(x_frac, logit_frac):
        """The Compiled of the tensor scales ``x_frac`` ({tensor: f}) and the logits' scale."""
        layers, scales = [], []
        for i, st in enumerate(stages):
            f_out = x_frac[i] if i + 1 < len(stages) else logit_frac
            step_src = None if src[i] == i - 1 else src[i]
            if st.op == "residual":
                layers.append(_residual_step(st, x_frac[src[i]], x_frac[st.skip], f_out, shapes[i], step_src))
                scales.append(LayerScales(st.name, st.op, x_frac[src[i]], x_frac[st.skip], f_out, layers[-1].shift))
                continue
            kernel, stride, padding = geometry[i]
            fx = x_frac[src[i]]
            fw = fx if st.op == "add" else w_frac.get(st.name, choose_frac_bits([weights[i]], width))
            gain, offset = _gain_offset(st)
            centre = _centre(st)
            w = weights[i]
            x_shift = None
            # per output channel: the f of its weights and accumulator (one f unless per-group scales)
            fc = group_fracs.get(st.name, np.full(len(w), fw))
            if st.name in group_fracs:
                x_shift = fc - fx
                if x_shift.min() < X_SHIFT_RANGE[0] or x_shift.max() > X_SHIFT_RANGE[1]:
                    _refuse(st.name, "fracs", f"{sorted(set(fc.tolist()))} need input shifts {x_shift.min()}..{x_shift.max()} "
                            f"from the stored scale 2^-{fx}, beyond the per-tile shift's {X_SHIFT_RANGE[0]}..{X_SHIFT_RANGE[1]}")
                x_shift = tuple(int(d) for d in x_shift) if x_shift.any() else None
            if st.op == "add":
                w = w.copy()
                beyond = np.zeros(len(w))
                for f in np.unique(fc):
                    chans = fc == f
                    w[chans], beyond[chans] = clip_adder_weights(w[chans], width, int(f))
                offset = offset - gain * beyond
                centre = centre + beyond            # the clipped layer's sum is larger by what clipping removed
            wq = np.concatenate([quantize(w[t:t + 1], width, int(fc[t]))[0] for t in range(len(w))])
            acc_frac = fc if st.op == "add" else fx + fw
            if not np.ndim(acc_frac) or len(set(np.atleast_1d(acc_frac).tolist())) == 1:
                acc_frac = int(np.atleast_1d(acc_frac)[0])
            m, b, s = fold_requant(gain, offset, acc_frac, f_out, scale_bits, bias_bits, name=st.name, requant=requant,
                                   shift_terms=shift_terms, centre=centre)
            layers.append(LayerProgram(st.name, st.op, wq, m, b, s, tuple(shapes[i][1:]), stride, padding,
                                       st.relu, st.pool, x_shift, step_src))
            scales.append(LayerScales(st.name, st.op, fx, int(fc[0]), f_out, s,
                                      tuple(int(f) for f in fc) if st.name in group_fracs else None))
        program = Program(name, width, tuple(layers), x_frac[-1], scale_bits, bias_bits, requant, shift_terms,
                          imposed.rounding if imposed is not None else "half_up")
        return Compiled(program, tuple(scales))

    compiled = build(x_frac, logit_frac)
    if group_fracs:
        compiled = _refine(build, compiled, stages, x_frac, logit_frac, group_fracs, model, calib_x)
    return compiled


@dataclass(frozen=True)
class ImposedScales:
    """Scales that a quantised model fixes itself, which :func:`compile_model` takes as given
    (golden.brevitas_import makes them from Brevitas's fixed-point quantisers).

    ``tensors``: {stage name, or "input" for the image: f}: the tensor that stage writes is stored
    at 2^-f (where the program saturates it; the last stage's is the logits'). ``weights``:
    {multiplier layer name: f}: its weights are quantised at 2^-f, so weights that are integers
    times 2^-f keep exactly those integers (an adder layer's weights share its input's scale).
    ``rounding``: how the model's quantisers round a tie (adderhw.base.requant.ROUNDINGS), which
    becomes the program's (Brevitas's quantisers round to even)."""
    tensors: dict = field(default_factory=dict)
    weights: dict = field(default_factory=dict)
    rounding: str = "half_up"


def _impose(imposed, stages, x_frac, logit_frac, fracs):
    """(x_frac, logit_frac, {layer: weight frac}) with ``imposed``'s scales in place."""
    if not isinstance(imposed, ImposedScales):
        raise BadParameter(f"imposed must be an ImposedScales, not {type(imposed).__name__}")
    if fracs:
        raise BadParameter("fracs and imposed both fix scales; give one of them")
    index = {st.name: i for i, st in enumerate(stages)}
    x_frac = dict(x_frac)
    for tensor, f in imposed.tensors.items():
        if tensor != "input" and tensor not in index:
            raise BadParameter(f"imposed scales name tensor {tensor!r}, which is neither 'input' nor a layer of the "
                               f"model's chain (it has {', '.join(index)})")
        f = check_int(f"imposed scale of {tensor!r}", f, lo=FRAC_BITS_RANGE[0], hi=FRAC_BITS_RANGE[1])
        j = -1 if tensor == "input" else index[tensor]
        if j == len(stages) - 1:
            logit_frac = f
        else:
            x_frac[j] = f
    for layer, f in imposed.weights.items():
        if layer not in index or stages[index[layer]].op != "mul":
            _refuse(layer, "imposed weight scale", "applies to conv and linear layers only (an adder layer's weights "
                    "share its input's scale)")
        check_int(f"imposed weight scale of {layer!r}", f, lo=FRAC_BITS_RANGE[0], hi=FRAC_BITS_RANGE[1])
    return x_frac, logit_frac, dict(imposed.weights)


def _residual_step(st, f_main, f_skip, f_out, shape, step_src):
    """The golden.program.ResidualAdd of stage ``st``: both operands aligned to the finest of the
    three scales by left shifts, then one rounding shift to ``f_out``."""
    fm = max(f_main, f_skip, f_out)
    shifts = (fm - f_main, fm - f_skip, fm - f_out)
    if max(shifts) > ADD_SHIFT_MAX:
        _refuse(st.name, "scales", f"2^-{f_main}, 2^-{f_skip} and 2^-{f_out} are more than {ADD_SHIFT_MAX} bits "
                f"apart, beyond the residual add's shifts")
    return ResidualAdd(st.name, st.skip, tuple(shape), *shifts, st.relu, step_src, st.pool)


def _refine(build, compiled, stages, x_frac, logit_frac, group_fracs, model, calib_x):
    """The QAT program whose classes agree best with ``model``'s on the calibration images, over the
    two scales training does not fix: the logits' (from the finest that does not saturate up to
    CALIB_EXTRA bits finer) and, for a trained layer after a global average pool, its stored input
    scale (from the cap up to the trained f). Ties keep the coarser (the default)."""
    want = float_logits(model, calib_x).argmax(axis=1)
    src = {i: st.sources(i)[0] for i, st in enumerate(stages)}
    gap_at = sorted({src[i] for i, st in enumerate(stages)
                     if src[i] >= 0 and stages[src[i]].pool == "gap" and st.name in group_fracs})
    trained = {src[i]: int(group_fracs[st.name].max()) for i, st in enumerate(stages) if st.name in group_fracs}
    choices = [[(j, f) for f in range(x_frac[j], trained[j] + 1)] for j in gap_at]
    choices.append([(None, f) for f in range(logit_frac, min(FRAC_BITS_RANGE[1], logit_frac + CALIB_EXTRA) + 1)])
    best, best_score = compiled, None
    for combo in itertools.product(*choices):
        xf, lf = dict(x_frac), logit_frac
        for i, f in combo:
            if i is None:
                lf = f
            else:
                xf[i] = f
        try:
            candidate = build(xf, lf) if (xf, lf) != (dict(x_frac), logit_frac) else compiled
        except BadParameter:
            continue            # a scale whose constants do not fit: not a candidate
        got = run_program(candidate.program, quantize_images(candidate.program, calib_x)).classes
        score = float(np.mean(got == want))
        if best_score is None or score > best_score:
            best, best_score = candidate, score
    return best



def compile_network(model, calib_x, width, name, scale_bits=16, bias_bits=32, requant="mul", shift_terms=2,
                    fracs=None):
    """The :class:`~golden.program.Program` of a trained torch ``model`` (see :func:`compile_model`)."""
    return compile_model(model, calib_x, width, name, scale_bits, bias_bits, requant, shift_terms, fracs).program


def _group_fracs(fracs, stages, width):
    """``fracs`` checked against the stages: {name: int64 (cout,) f per output channel}."""
    if fracs is None:
        return {}
    if not isinstance(fracs, dict):
        raise BadParameter(f"fracs must be a dict {{layer name: f or (f per group)}}, not {type(fracs).__name__}")
    by_name = {st.name: st for st in stages}
    out = {}
    for name, value in fracs.items():
        if name not in by_name:
            raise BadParameter(f"fracs names layer {name!r}, which the model's chain does not have (it has "
                               f"{', '.join(by_name)})")
        st = by_name[name]
        if st.op != "add":
            _refuse(name, "fracs", "apply to adder layers only (a multiplier layer's weights have their own scale)")
        cout = st.module.weight.shape[0]
        groups = [value] if isinstance(value, (int, np.integer)) else list(value)
        if not groups or cout % len(groups) or not all(isinstance(f, (int, np.integer)) for f in groups):
            _refuse(name, "fracs", f"must be an integer or one integer per group, the groups dividing the {cout} "
                    f"output channels, not {value!r}")
        for f in groups:
            check_int(f"fracs[{name!r}]", int(f), lo=FRAC_BITS_RANGE[0], hi=FRAC_BITS_RANGE[1])
        out[name] = np.repeat(np.asarray(groups, dtype=np.int64), cout // len(groups))
    return out


def quantize_images(program, x_float):
    """Float images (N, Cin, H, W) as the program's int64 input: round(x·2^input_frac), saturated."""
    x = np.asarray(x_float)
    if x.ndim != 4 or x.shape[1:] != program.input_shape:
        raise BadParameter(f"images must have shape (N, {', '.join(map(str, program.input_shape))}), "
                           f"not {x.shape}")
    q, _ = quantize(x, program.width, program.input_frac)
    return q


# ---- evaluation ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Evaluation:
    """Accuracies of a model and of its compiled program on the same labelled images."""
    images: int
    float_accuracy: float
    int_accuracy: float
    agreement: float        # fraction of images where the program's class equals the model's

    def __str__(self):
        return (f"{self.images} images: float {100 * self.float_accuracy:.1f} %, integer program "
                f"{100 * self.int_accuracy:.1f} %, same class {100 * self.agreement:.1f} %")


def float_logits(model, x):
    """The torch model's logits (N, classes) on float images, in eval mode."""
    torch = _torch()
    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(x), _BATCH):
            out.append(model(torch.tensor(np.asarray(x[i:i + _BATCH]), dtype=torch.float32)).numpy())
    return np.concatenate(out).reshape(len(x), -1)


def evaluate(model, program, x, y):
    """Float accuracy of ``model`` and integer accuracy of ``program`` (golden.run_program) on
    float images ``x`` with labels ``y``."""
    y = np.asarray(y)
    if len(y) != len(x) or not len(y):
        raise BadParameter(f"x and y must hold the same number (at least 1) of images and labels, "
                           f"not {len(x)} and {len(y)}")
    f_cls = float_logits(model, x).argmax(axis=1)
    i_cls = run_program(program, quantize_images(program, x)).classes
    return Evaluation(len(y), float(np.mean(f_cls == y)), float(np.mean(i_cls == y)),
                      float(np.mean(f_cls == i_cls)))


# ---- an approximate engine cost ------------------------------------------------------------

@dataclass(frozen=True)
class EngineCost:
    """Approximate cost of a program on an engine (for choosing a network, not the exact engine
    cycle model): per layer, the cycles of one batch of C images; totals per batch and per image,
    and PE-cycles per image (every PE of both arrays counts, busy or not)."""
    layers: tuple           # (name, op, K, G, cycles per batch)
    cycles_per_batch: int
    lanes: int
    pes: int

    @property
    def cycles_per_image(self):
        return self.cycles_per_batch / self.lanes

    @property
    def pe_cycles_per_image(self):
        return self.pes * self.cycles_per_image


def engine_cost(program, engine):
    """Estimate ``program`` on ``engine`` (an EngineConfig): a layer runs out_h·out_w·ceil(cout/R_L)
    tiles (a P-tile is one output position of C images), each max(K, G) cycles, G = 2R_L + C + S − 1
    of the array it runs on (R_L = the SAD array's rows or mac_rows)."""
    if not isinstance(engine, EngineConfig):
        raise BadParameter(f"engine must be an EngineConfig, not {type(engine).__name__}")
    rows = []
    for layer in program.layers:
        if not engine.adder and layer.op == "add":
            _refuse(layer.name, "op", "'add' cannot run on a CNN engine (MAC arrays only)")
        if layer.op not in engine.ops:
            _refuse(layer.name, "op", "'mul' needs a MAC array, and this all-adder engine has none (mac_rows 0)")
        arr = engine.array_for(layer.op)
        g = drain_gap(arr)
        h, w = layer.conv_hw
        cycles = h * w * math.ceil(layer.cout / arr.rows) * max(layer.k, g)
        rows.append((layer.name, layer.op, layer.k, g, cycles))
    pes = engine.array.pes + engine.mac_rows * engine.array.cols
    return EngineCost(tuple(rows), sum(r[-1] for r in rows), engine.lanes, pes)
