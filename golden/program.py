"""The engine's program and its bit-exact golden model.

A *program* is what the compiler (golden.compiler) makes of a trained network and what the layer
engine (hw.engine) runs: a list of integer layers plus the memory images that hold them. This
module defines the integer semantics; :func:`run_program` executes them in NumPy and is the golden
reference every engine run is compared with, layer by layer and image by image.

One layer, on signed ``width``-bit activations x (Cin, H, W) of one image:

0. The per-tile input shift (only where the layer has ``x_shift``; an engine runs it only when
   built with ``tile_shift``): output channel t sees x_t = tile_shift(x, d[t]) instead of x,
   with d[t] in X_SHIFT_RANGE (adderhw.base.engine) and, for d >= 0, tile_shift(x, d) =
   x·2^d saturated to signed ``width`` bits; for d < 0, (x + 2^(−d−1)) >> −d (an arithmetic
   shift, rounding half up, which always fits). Padding stays 0. This is how per-group scales
   (golden.qat) run: channel group g's X and F are at 2^-f_g while the stored tensor is at 2^-f_x,
   so d = f_g − f_x. The engine shifts once per row tile, so d must be equal across each tile.
1. acc[t, y, x] = −Σ |x_pad − F[t]| for an adder layer (op "add"), Σ x_pad·F[t] for a multiplier
   layer (op "mul"); x_pad is x with ``padding`` zeros around it (a padded position still counts
   |0 − F| in an adder layer, as in golden.adder2d), cross-correlation with ``stride``.
2. Folded BatchNorm and requantisation, per output channel t, with integers only:
   v = (acc·M[t] + B[t] + 2^(S−1)) >> S for S > 0 (an arithmetic shift: rounding half up), or
   acc·M[t] + B[t] for S = 0, with 0 <= S <= MAX_SHIFT (adderhw.base.engine). A program with
   ``rounding="half_even"`` (adderhw.base.requant.ROUNDINGS) rounds a tie to even instead: where
   the low S bits of w = acc·M[t] + B[t] + 2^(S−1) are all 0 (acc·M[t] + B[t] lies exactly
   halfway), v = w >> S with its lowest bit cleared (:func:`round_shift`). M is a signed
   ``scale_bits`` number (negative when BN's γ is), B a signed ``bias_bits`` number. Every
   intermediate value is exact: the sum is not truncated to any width before the shift. A program
   with ``requant="shift"`` has every M a sum of at most ``shift_terms`` signed powers of two
   (adderhw.base.requant), so that an engine without multipliers computes acc·M with shifts and
   adds; the semantics are the same.
3. ReLU (v = max(v, 0)) when the layer has it; then saturation to signed ``width`` bits.
4. Pooling: "max2" takes the max of each 2x2 window (the output's height and width must be even);
   "gap" averages all positions: (Σ v + n/2) >> log2 n, where n = out_h·out_w must be a power of
   two (a count that is not is refused by the compiler: the mean would need a divider or a
   reciprocal multiplier, and we keep the post-processing to one multiplier per lane).

The last layer's saturated outputs are the logits; the class is the first index of their maximum.

Graphs and the residual add
---------------------------
A program is a list of *steps*; step i writes tensor i. A step reads the previous step's output
unless its ``src`` names another: the index of an earlier step, or -1 for the program's input.
A tensor read by any step other than the one right after its producer is a *kept* tensor
(:attr:`Program.kept`): the engine must hold it in a buffer of its own (the skip buffer of a
residual block) until its last reader has run. Besides :class:`LayerProgram` a step may be a
:class:`ResidualAdd` of two earlier tensors a (``src``, the main branch, by default the previous
step) and b (``skip``), both signed ``width``-bit, a at scale 2^-f_a and b at 2^-f_b, into a
tensor at 2^-f_out:

  1. alignment, exact: with f_m = max(f_a, f_b, f_out), s = a·2^la + b·2^lb, where
     la = f_m − f_a and lb = f_m − f_b (``main_shift``, ``skip_shift``: left shifts, so the
     coarser operand moves to the finer scale and nothing is rounded);
  2. one rounding to the output scale: r = f_m − f_out (``shift``); v = (s + 2^(r−1)) >> r for
     r > 0 (an arithmetic shift, rounding half up, or to even with the program's ``rounding``
     "half_even": the same rounding as step 2 of a layer), v = s for r = 0;
  3. ReLU (v = max(v, 0)) when the graph has one right after the add; then saturation to signed
     ``width`` bits;
  4. pooling (``pool``) as a layer's step 4, on the saturated values (a residual network's last
     block is followed by the global average pool).

Every intermediate value is exact (int64: |s| < 2^(width + max(la, lb) + 1) <= 2^(16 + 40 + 1)).
la, lb and r are each from 0 to ADD_SHIFT_MAX. An engine built with ``residual``
(adderhw.base.engine.EngineConfig) runs both; on one without, :func:`memory_images` refuses such
programs, naming the step.

Memory images (:func:`memory_images`; the engine's loader writes them, hw.engine reads them):
  * weights: word address ``wbase + tt·K + k`` holds lane r = F[tt·R_L + r, k] (0 where that
    channel does not exist), with K index k = (ci, ky, kx) in C order and R_L the rows of the array
    the layer runs on;
  * constants: entry ``cbase + t`` holds (M[t], B[t]); on a shift-only engine M's place holds its
    term code (adderhw.base.requant.encode_scale);
  * activations: value (ci, y, x) of image c sits at word ``ci·H·W + y·W + x``, lane c, of the
    buffer the layer reads: layer i reads buffer i mod 2 and writes buffer (i + 1) mod 2; the
    image is loaded into buffer 0. On an engine built with ``residual`` every tensor sits at word 0
    of one of its three buffers (:func:`allocate_buffers`): the image in buffer 0, and step i's
    output in the lowest-numbered buffer that holds no tensor a step from i on still reads (so a
    chain ping-pongs between buffers 0 and 1 as above, and a residual block's input stays put while
    the block runs in the other two); a program that would need a fourth is refused, naming the
    step. ``MemoryImages.buffers`` lists each step's (read, write, skip) buffers, and the
    descriptor carries them (``bufs``).
  * descriptors: one per step, the fields of ``engine.descriptor_fields`` (DESCRIPTOR_FIELDS, and
    with ``residual`` RESIDUAL_FIELDS). A residual add's descriptor (:func:`residual_descriptor`)
    describes a 1x1 layer of C_ch channels over H x W with one T-tile, which is how the engine's
    address generator walks it, with ``main_shift``, ``skip_shift`` and its shift r in ``shift``.
"""
from dataclasses import dataclass, field

import numpy as np

from adderhw.base.engine import (ADDRESS_FIELDS, ADD_SHIFT_MAX, BIAS_BITS_RANGE, DESCRIPTOR_FIELDS, GAP_EXTRA_BITS, LAYER_OPS,
                                 MAX_SHIFT, POOL_KINDS, RESIDUAL_BUFFERS, RESIDUAL_FLAG, SCALE_BITS_RANGE,
                                 SIGNED_FIELDS, X_SHIFT_RANGE, EngineConfig)
from adderhw.base.errors import BadParameter
from adderhw.base.requant import REQUANT_KINDS, ROUNDINGS, SHIFT_TERMS, encode_scale, pow2_terms
from adderhw.base.validate import check_int, int_range

from .conv import adder2d, conv_output_shape, mac_conv2d
from .requant_normal import normal_requant, signed_bits

__all__ = ["LayerProgram", "ResidualAdd", "ADD_SHIFT_MAX", "Program", "postprocess", "round_shift", "pool", "tile_shift",
           "residual_add", "run_layer_program", "run_program",
           "ProgramRun", "memory_images", "MemoryImages", "descriptor", "residual_descriptor", "allocate_buffers"]


@dataclass(frozen=True, eq=False)
class LayerProgram:
    """One integer layer of a program (see the module docstring for its semantics)."""
    name: str
    op: str                     # "add" or "mul"
    weights: np.ndarray         # int64 (cout, cin, kernel, kernel), signed width bits
    scale: np.ndarray           # int64 (cout,): M
    bias: np.ndarray            # int64 (cout,): B
    shift: int                  # S
    in_hw: tuple                # (H, W) of the input
    stride: int = 1
    padding: int = 0
    relu: bool = True
    pool: str = "none"
    x_shift: tuple = None       # per output channel d of step 0, or None (no shift)
    src: int = None             # the step whose output it reads: None the previous, -1 the input

    @property
    def x_shifts(self):
        """int64 (cout,): the per-channel input shift d (zeros for a layer without one)."""
        if self.x_shift is None:
            return np.zeros(self.cout, dtype=np.int64)
        return np.asarray(self.x_shift, dtype=np.int64)

    @property
    def cout(self):
        return self.weights.shape[0]

    @property
    def cin(self):
        return self.weights.shape[1]

    @property
    def kernel(self):
        return self.weights.shape[2]

    @property
    def k(self):
        return self.cin * self.kernel * self.kernel

    @property
    def conv_hw(self):
        """(out_h, out_w) of the convolution, before pooling."""
        return conv_output_shape(*self.in_hw, self.kernel, self.kernel, self.stride, self.padding)

    @property
    def out_shape(self):
        """(C, H, W) of the layer's output, after pooling."""
        h, w = self.conv_hw
        if self.pool == "max2":
            return self.cout, h // 2, w // 2
        if self.pool == "gap":
            return self.cout, 1, 1
        return self.cout, h, w

    @property
    def gap_log2(self):
        h, w = self.conv_hw
        return (h * w).bit_length() - 1

    def terms(self):
        """|x − f| terms (or multiply-accumulates) per image."""
        h, w = self.conv_hw
        return self.cout * self.k * h * w


# ADD_SHIFT_MAX (adderhw.base.engine, 40): the largest left (alignment) or right (rounding) shift of a
# residual add; the engine's post-processing derives the add's widths from it


@dataclass(frozen=True, eq=False)
class ResidualAdd:
    """A residual add step (see the module docstring, "Graphs and the residual add"): tensor ``src``
    (None: the previous step's) shifted left by ``main_shift`` plus tensor ``skip`` shifted left by
    ``skip_shift``, rounded right by ``shift`` (half up), ReLU when ``relu``, saturated to the
    program's width. ``shape`` is (C, H, W) of both operands and of the result."""
    name: str
    skip: int                   # the step whose output is the skip operand (-1: the program's input)
    shape: tuple                # (C, H, W)
    main_shift: int = 0
    skip_shift: int = 0
    shift: int = 0
    relu: bool = False
    src: int = None
    pool: str = "none"

    op = "residual"             # a class attribute, not a field: what kind of step this is

    @property
    def conv_hw(self):
        """(H, W) before pooling."""
        return tuple(self.shape[1:])

    @property
    def gap_log2(self):
        h, w = self.conv_hw
        return (h * w).bit_length() - 1

    @property
    def out_shape(self):
        c, h, w = self.shape
        if self.pool == "max2":
            return c, h // 2, w // 2
        if self.pool == "gap":
            return c, 1, 1
        return c, h, w

    @property
    def cout(self):
        return self.shape[0]


@dataclass(frozen=True, eq=False)
class Program:
    """A compiled network: integer layers at one signed ``width``, and where its input comes from.

    ``input_frac`` is the scale of the image: pixel value v is loaded as round(v·2^input_frac),
    saturated (golden.fixed.quantize)."""
    name: str
    width: int
    layers: tuple
    input_frac: int
    scale_bits: int = 16
    bias_bits: int = 32
    requant: str = "mul"        # "shift": every M a sum of shift_terms signed powers of two
    shift_terms: int = 2
    rounding: str = "half_up"   # how step 2 (and a residual add) rounds a tie: base.requant.ROUNDINGS

    def __post_init__(self):
        check_program(self)

    @property
    def input_shape(self):
        first = self.layers[0]
        return (first.cin, *first.in_hw)

    @property
    def classes(self):
        return self.layers[-1].cout

    def sources(self, i):
        """The tensors step ``i`` reads, as step indices (-1: the program's input): (src,) for a layer,
        (src, skip) for a residual add."""
        step = self.layers[i]
        src = i - 1 if step.src is None else step.src
        return (src, step.skip) if isinstance(step, ResidualAdd) else (src,)

    @property
    def kept(self):
        """The tensors (step indices, -1 the input) some step reads other than the step right after
        their producer: those the engine must keep in a buffer of their own."""
        return tuple(sorted({j for i in range(len(self.layers)) for j in self.sources(i) if j != i - 1}))

    @property
    def sequential(self):
        """True when every step is a layer reading the previous step's output (what the RTL runs)."""
        return all(isinstance(step, LayerProgram) and step.src is None for step in self.layers)


def _fail(layer, fieldname, message):
    raise BadParameter(f"layer {layer.name!r}: {fieldname} {message}")


def check_program(program):
    """Refuse a program the engine cannot run, with one sentence naming the layer and the field."""
    width = check_int("width", program.width, lo=2, hi=16)
    check_int("scale_bits", program.scale_bits, lo=SCALE_BITS_RANGE[0], hi=SCALE_BITS_RANGE[1])
    check_int("bias_bits", program.bias_bits, lo=BIAS_BITS_RANGE[0], hi=BIAS_BITS_RANGE[1])
    if program.requant not in REQUANT_KINDS:
        raise BadParameter(f"requant must be one of {', '.join(REQUANT_KINDS)}, not {program.requant!r}")
    if program.shift_terms not in SHIFT_TERMS:
        raise BadParameter(f"shift_terms must be one of {', '.join(map(str, SHIFT_TERMS))}, not {program.shift_terms!r}")
    if program.rounding not in ROUNDINGS:
        raise BadParameter(f"rounding must be one of {', '.join(ROUNDINGS)}, not {program.rounding!r}")
    if not program.layers:
        raise BadParameter("a program needs at least one layer, not an empty list")
    lo, hi = int_range(width)
    shapes = {}                 # step index -> (C, H, W) of its output; -1 the input
    for i, layer in enumerate(program.layers):
        if not isinstance(layer, (LayerProgram, ResidualAdd)):
            raise BadParameter(f"program step {i} must be a LayerProgram or a ResidualAdd, not "
                               f"{type(layer).__name__}")
        if i == 0 and not isinstance(layer, LayerProgram):
            _fail(layer, "position", "is the first step, which must be a layer reading the image")
        for fieldname in ("src", "skip"):
            if fieldname == "skip" and not isinstance(layer, ResidualAdd):
                continue
            ref = getattr(layer, fieldname)
            if fieldname == "src" and ref is None:
                continue
            if not isinstance(ref, (int, np.integer)) or isinstance(ref, bool) or not -1 <= ref < i:
                _fail(layer, fieldname, f"must name an earlier step (0..{i - 1}) or the input (-1), not {ref!r}")
        if i == 0:
            shapes[-1] = (layer.cin, *layer.in_hw)
        if isinstance(layer, ResidualAdd):
            _check_residual(program, i, layer, shapes)
            shapes[i] = layer.out_shape
            if i == len(program.layers) - 1:
                _fail(layer, "position", "is the last step, which must be a layer giving the logits")
            continue
        if layer.op not in LAYER_OPS:
            _fail(layer, "op", f"must be one of {', '.join(LAYER_OPS)}, not {layer.op!r}")
        if layer.pool not in POOL_KINDS:
            _fail(layer, "pool", f"must be one of {', '.join(POOL_KINDS)}, not {layer.pool!r}")
        w = np.asarray(layer.weights)
        if not np.issubdtype(w.dtype, np.integer):
            _fail(layer, "weights", f"must be integers, not dtype {w.dtype}")
        if w.ndim != 4 or w.shape[2] != w.shape[3]:
            _fail(layer, "weights", f"must be (cout, cin, k, k) with a square kernel, not shape {w.shape}")
        if w.min() < lo or w.max() > hi:
            _fail(layer, "weights", f"must fit signed {width} bits ({lo}..{hi}), not {w.min()}..{w.max()}")
        for name, arr, bits in (("scale", layer.scale, program.scale_bits), ("bias", layer.bias, program.bias_bits)):
            a = np.asarray(arr)
            if not np.issubdtype(a.dtype, np.integer):
                _fail(layer, name, f"must be integers, not dtype {a.dtype}")
            if a.shape != (w.shape[0],):
                _fail(layer, name, f"must have one entry per output channel ({w.shape[0]}), not shape {a.shape}")
            blo, bhi = int_range(bits)
            if a.min() < blo or a.max() > bhi:
                _fail(layer, name, f"must fit signed {bits} bits, not {a.min()}..{a.max()}")
        if program.requant == "shift":
            for t, m in enumerate(np.asarray(layer.scale)):
                if pow2_terms(m, program.shift_terms) is None:
                    _fail(layer, "scale", f"M[{t}] = {int(m)} is not a sum of {program.shift_terms} signed powers of "
                          f"two, as a requant 'shift' program needs")
        for name, value, least in (("stride", layer.stride, 1), ("padding", layer.padding, 0)):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < least:
                _fail(layer, name, f"must be an integer of at least {least}, not {value!r}")
        hw = tuple(layer.in_hw)
        if len(hw) != 2 or any(not isinstance(v, (int, np.integer)) or v < 1 for v in hw):
            _fail(layer, "in_hw", f"must be two positive integers (height, width), not {layer.in_hw!r}")
        k = w.shape[2]
        if min(hw) + 2 * layer.padding < k:
            _fail(layer, "kernel", f"{k}x{k} does not fit the input {hw[0]}x{hw[1]} with padding "
                  f"{layer.padding}: the padded input must be at least as large as the kernel")
        if layer.x_shift is not None:
            xs = np.asarray(layer.x_shift)
            if xs.shape != (w.shape[0],) or not np.issubdtype(xs.dtype, np.integer):
                _fail(layer, "x_shift", f"must be one integer per output channel ({w.shape[0]}), not {layer.x_shift!r}")
            if xs.min() < X_SHIFT_RANGE[0] or xs.max() > X_SHIFT_RANGE[1]:
                _fail(layer, "x_shift", f"must be from {X_SHIFT_RANGE[0]} to {X_SHIFT_RANGE[1]}, not "
                      f"{xs.min()}..{xs.max()}")
        if (not isinstance(layer.shift, (int, np.integer)) or isinstance(layer.shift, bool)
                or not 0 <= layer.shift <= MAX_SHIFT):
            _fail(layer, "shift", f"must be an integer from 0 to {MAX_SHIFT}, not {layer.shift!r}")
        src = i - 1 if layer.src is None else layer.src
        if src in shapes and shapes[src] != (layer.cin, *layer.in_hw):
            _fail(layer, "input shape", f"{(layer.cin, *layer.in_hw)} does not match the "
                  f"{'input' if src < 0 else 'output of step ' + repr(program.layers[src].name)} {shapes[src]}")
        _check_pool(layer)
        if i == len(program.layers) - 1 and (layer.pool != "none" or layer.conv_hw != (1, 1)):
            _fail(layer, "output", f"of the last layer (the logits) must be cout x 1 x 1 with pool 'none', "
                  f"not {layer.conv_hw} with pool {layer.pool!r}")
        shapes[i] = layer.out_shape
    return program


def _check_residual(program, i, step, shapes):
    shape = tuple(step.shape)
    if len(shape) != 3 or any(not isinstance(v, (int, np.integer)) or v < 1 for v in shape):
        _fail(step, "shape", f"must be three positive integers (C, H, W), not {step.shape!r}")
    src = i - 1 if step.src is None else step.src
    for fieldname, ref in (("src", src), ("skip", step.skip)):
        if shapes[ref] != shape:
            _fail(step, fieldname, f"reads {'the input' if ref < 0 else 'step ' + repr(program.layers[ref].name)} "
                  f"of shape {shapes[ref]}, not the add's {shape}")
    for fieldname in ("main_shift", "skip_shift", "shift"):
        v = getattr(step, fieldname)
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or not 0 <= v <= ADD_SHIFT_MAX:
            _fail(step, fieldname, f"must be an integer from 0 to {ADD_SHIFT_MAX}, not {v!r}")
    if not isinstance(step.relu, (bool, np.bool_)):
        _fail(step, "relu", f"must be True or False, not {step.relu!r}")
    _check_pool(step)


def _check_pool(layer):
    if layer.pool not in POOL_KINDS:
        _fail(layer, "pool", f"must be one of {', '.join(POOL_KINDS)}, not {layer.pool!r}")
    h, wd = layer.conv_hw
    if layer.pool == "max2" and (h % 2 or wd % 2):
        _fail(layer, "pool", f"max2 needs an even output, not {h}x{wd}")
    if layer.pool == "gap" and (h * wd) & (h * wd - 1):
        _fail(layer, "pool", f"gap needs a power-of-two count of positions, not {h}x{wd} = {h * wd}")
    if layer.pool == "gap" and h * wd > 1 << GAP_EXTRA_BITS:
        _fail(layer, "pool", f"gap pools at most 2^{GAP_EXTRA_BITS} positions, not {h}x{wd} = {h * wd}")


def round_shift(v, shift, rounding="half_up"):
    """v (an integer array, int64 or object) divided by 2^shift and rounded to the nearest integer:
    ties up with "half_up", ties to even with "half_even" (module docstring, step 2). shift 0
    returns v."""
    if not shift:
        return v
    w = v + (1 << (shift - 1))
    r = w >> shift
    if rounding == "half_even":
        # a tie leaves the low shift bits of w all 0; its two neighbours are r − 1 and r, and the
        # even one is r with the lowest bit cleared
        r = r - (((w & ((1 << shift) - 1)) == 0) & ((r & 1) == 1)).astype(np.int64)
    return r


def postprocess(acc, scale, bias, shift, relu, width, rounding="half_up"):
    """Steps 2-3 of a layer: int64 acc (..., cout, ...) with per-channel scale/bias on axis ``-3``
    broadcast by the caller; returns the saturated ``width``-bit values (int64). ``rounding``: the
    program's (base.requant.ROUNDINGS)."""
    v = acc.astype(object) * scale + bias if _too_wide(acc, scale, bias) else acc * scale + bias
    v = round_shift(v, shift, rounding)
    if relu:
        v = np.maximum(v, 0)
    lo, hi = int_range(width)
    # saturate first (exact Python ints when the sum is wide), then narrow
    return np.asarray(np.clip(v, lo, hi), dtype=np.int64)


def _too_wide(acc, scale, bias):
    big = max(int(np.abs(acc).max(initial=0)), 1) * max(int(np.abs(scale).max(initial=0)), 1)
    return big + int(np.abs(bias).max(initial=0)) >= (1 << 62)


def pool(v, kind):
    """Step 4 on (N, C, H, W)."""
    if kind == "max2":
        n, c, h, w = v.shape
        return v.reshape(n, c, h // 2, 2, w // 2, 2).max(axis=(3, 5))
    if kind == "gap":
        n, c, h, w = v.shape
        log2 = (h * w).bit_length() - 1
        s = v.sum(axis=(2, 3), keepdims=True)
        return (s + ((1 << log2) >> 1)) >> log2
    return v


def tile_shift(x, d, width):
    """Step 0 on int64 ``x``: x·2^d saturated to signed ``width`` bits for d >= 0, and
    (x + 2^(−d−1)) >> −d for d < 0."""
    x = np.asarray(x, dtype=np.int64)
    d = int(d)
    if d >= 0:
        lo, hi = int_range(width)
        return np.clip(x << d, lo, hi)
    return (x + (1 << (-d - 1))) >> -d


def residual_add(step, a, b, width, rounding="half_up"):
    """Steps 1-3 of a :class:`ResidualAdd` on int64 operands ``a`` (main) and ``b`` (skip) of equal
    shape: the saturated ``width``-bit sum before pooling (module docstring, "Graphs and the
    residual add")."""
    s = (np.asarray(a, dtype=np.int64) << step.main_shift) + (np.asarray(b, dtype=np.int64) << step.skip_shift)
    s = round_shift(s, step.shift, rounding)
    if step.relu:
        s = np.maximum(s, 0)
    lo, hi = int_range(width)
    return np.clip(s, lo, hi)


def run_layer_program(layer, x, width, rounding="half_up"):
    """One layer on int64 x (N, Cin, H, W): returns (acc, output) as int64 arrays. ``rounding``:
    the program's (step 2)."""
    conv = adder2d if layer.op == "add" else mac_conv2d
    if layer.x_shift is None:
        acc = conv(x, layer.weights, layer.stride, layer.padding, width=width)
    else:
        shifts = layer.x_shifts
        parts = {}
        for d in np.unique(shifts):
            chans = np.flatnonzero(shifts == d)
            parts[int(d)] = (chans, conv(tile_shift(x, d, width), layer.weights[chans], layer.stride, layer.padding,
                                         width=width))
        first = next(iter(parts.values()))[1]
        acc = np.zeros((first.shape[0], layer.cout, *first.shape[2:]), dtype=np.int64)
        for chans, part in parts.values():
            acc[:, chans] = part
    scale = np.asarray(layer.scale, dtype=np.int64)[None, :, None, None]
    bias = np.asarray(layer.bias, dtype=np.int64)[None, :, None, None]
    v = postprocess(acc, scale, bias, layer.shift, layer.relu, width, rounding)
    return acc, pool(v, layer.pool)


@dataclass
class ProgramRun:
    """What :func:`run_program` returns: every layer's output (N, C, H, W) and the classes."""
    outputs: list = field(default_factory=list)
    classes: np.ndarray = None

    @property
    def logits(self):
        return self.outputs[-1].reshape(len(self.outputs[-1]), -1)


def run_program(program, images):
    """Execute ``program`` on int64 images (N, Cin, H, W) already quantised to its width."""
    x = np.asarray(images, dtype=np.int64)
    if x.ndim != 4 or x.shape[1:] != program.input_shape:
        raise BadParameter(f"images must have shape (N, {', '.join(map(str, program.input_shape))}), "
                           f"not {x.shape}")
    run = ProgramRun()
    for i, layer in enumerate(program.layers):
        read = [x if j < 0 else run.outputs[j] for j in program.sources(i)]
        if isinstance(layer, ResidualAdd):
            out = pool(residual_add(layer, read[0], read[1], program.width, program.rounding), layer.pool)
        else:
            _, out = run_layer_program(layer, read[0], program.width, program.rounding)
        run.outputs.append(out)
    run.classes = run.logits.argmax(axis=1)
    return run


# ---- memory images -------------------------------------------------------------------------

@dataclass
class MemoryImages:
    """The engine's memories for one program (see the module docstring).

    weights: int64 (words, R); consts: int64 (entries, 2) as (M, B) of each layer's normal form
    (golden.requant_normal: M's common power of two taken out of M and S, B scaled to match;
    a shift-only engine's M as its term code); descriptors: list of dicts (DESCRIPTOR_FIELDS, with
    the normal form's shift S); bases: per layer (wbase, cbase); x_shifts: int64 (entries,), the input
    shift d of each constant entry's channel (step 0; the engine's third constant column, loaded
    only on an engine built with tile_shift, and all 0 otherwise)."""
    weights: np.ndarray
    consts: np.ndarray
    descriptors: list
    bases: list
    x_shifts: np.ndarray = None
    buffers: list = None        # per step (read, write, skip) activation buffers, on a residual engine


def descriptor(layer, wbase, cbase, last, rows):
    """The descriptor of ``layer`` (a dict over DESCRIPTOR_FIELDS, plain signed integers)."""
    out_c, dst_h, dst_w = layer.out_shape
    h, w = layer.conv_hw
    in_h, in_w = layer.in_hw
    k, p, s = layer.kernel, layer.padding, layer.stride
    t_tiles = -(-layer.cout // rows)
    flags = (int(layer.op == "mul") | (int(layer.relu) << 1) | (POOL_KINDS.index(layer.pool) << 2)
             | (int(last) << 4))
    d = {"flags": flags, "cin": layer.cin, "in_h": in_h, "in_w": in_w,
         "kernel": k, "stride": s, "padding": p, "out_h": h, "out_w": w,
         "cout": layer.cout, "t_tiles": t_tiles, "t_beats": t_tiles * rows,
         "wbase": wbase, "cbase": cbase, "shift": layer.shift,
         "pos_start": -p * in_w - p, "row_step": s * in_w, "ky_step": in_w - (k - 1),
         "ci_step": in_h * in_w - (k - 1) * in_w - (k - 1),
         "dst_w": dst_w, "dst_plane": dst_h * dst_w,
         "gap_log2": layer.gap_log2 if layer.pool == "gap" else 0}
    assert tuple(d) == DESCRIPTOR_FIELDS
    return d


def memory_images(program, engine):
    """Lay ``program`` out in the memories of ``engine`` (an EngineConfig); refuse what does not fit,
    naming the layer and the field."""
    if not isinstance(engine, EngineConfig):
        raise BadParameter(f"engine must be an EngineConfig, not {type(engine).__name__}")
    check_program(program)
    for i, step in enumerate(program.layers):
        if not engine.residual and (isinstance(step, ResidualAdd) or step.src is not None):
            _fail(step, "op" if isinstance(step, ResidualAdd) else "src",
                  ("is a residual add" if isinstance(step, ResidualAdd) else
                   f"reads step {step.src}, not the previous one,") + ", which needs an engine built with "
                  "residual (EngineConfig.residual: a third activation buffer and the add); this one runs "
                  "chains of layers only")
    if program.width != engine.array.width:
        raise BadParameter(f"program {program.name!r} has width {program.width} but the engine's array "
                           f"is {engine.array.width}-bit; compile for the engine's width")
    if len(program.layers) > engine.max_layers:
        raise BadParameter(f"program {program.name!r} has {len(program.layers)} layers but the engine's "
                           f"descriptor table holds max_layers={engine.max_layers}")
    if program.rounding != engine.rounding:
        raise BadParameter(f"program {program.name!r} rounds ties {program.rounding!r} but the engine was built "
                           f"with rounding {engine.rounding!r}; build the engine with the program's rounding")
    R = engine.array.rows
    words, consts, descs, bases, x_shifts = [], [], [], [], []
    wbase = cbase = 0
    bufs = allocate_buffers(program) if engine.residual else None
    for i, layer in enumerate(program.layers):
        if isinstance(layer, ResidualAdd):
            _check_residual_fits(layer, engine)
            descs.append(residual_descriptor(layer, bufs[i]))
            bases.append((wbase, cbase))
            continue
        if engine.adder and layer.op == "add" and engine.array.kind.has_multiplier:
            _fail(layer, "op", "add needs an AdderNet engine")
        if not engine.adder and layer.op == "add":
            _fail(layer, "op", f"'add' cannot run on a CNN engine (MAC arrays only); compile the CNN twin")
        if engine.requant == "shift":
            for t, m in enumerate(np.asarray(layer.scale)):
                if pow2_terms(m, engine.shift_terms) is None:
                    _fail(layer, "scale", f"M[{t}] = {int(m)} needs a multiply: this engine is shift-only "
                          f"(requant 'shift', {engine.shift_terms} power(s) of two per M); compile the program "
                          f"with requant 'shift'")
        if layer.op not in engine.ops:
            _fail(layer, "op", "'mul' needs a MAC array, and this all-adder engine has none (mac_rows 0); build "
                  "the engine with mac_rows >= 1 or compile the network with adder first and last layers")
        arr = engine.array_for(layer.op)
        _check_x_shift(layer, engine, arr.rows)
        x_shifts.append(layer.x_shifts)
        if layer.k > arr.k_max:
            _fail(layer, "k", f"{layer.k} (cin·kernel²) exceeds the {arr.pe.upper()} array's k_max={arr.k_max}")
        cin, h, w = layer.cin, *layer.in_hw
        if cin * h * w > engine.act_depth:
            _fail(layer, "input", f"of {cin}x{h}x{w} = {cin * h * w} values does not fit act_depth={engine.act_depth}")
        oc, oh, ow = layer.out_shape
        if oc * oh * ow > engine.act_depth:
            _fail(layer, "output", f"of {oc}x{oh}x{ow} = {oc * oh * ow} values does not fit act_depth={engine.act_depth}")
        rows = arr.rows
        tiles = -(-layer.cout // rows)
        f = np.zeros((tiles * rows, layer.k), dtype=np.int64)
        f[:layer.cout] = np.asarray(layer.weights).reshape(layer.cout, layer.k)
        block = np.zeros((tiles * layer.k, R), dtype=np.int64)
        block[:, :rows] = f.reshape(tiles, rows, layer.k).transpose(0, 2, 1).reshape(tiles * layer.k, rows)
        words.append(block)
        # the tables hold the layer's requantisation in normal form (golden.requant_normal): the same
        # results from M, B and S with M's common power of two taken out
        scale, bias, shift = normal_requant(layer.scale, layer.bias, layer.shift, program.rounding)
        if engine.requant == "shift":
            try:
                scale = np.array([encode_scale(m, engine.shift_terms, engine.scale_bits) for m in scale], dtype=np.int64)
            except BadParameter as err:
                _fail(layer, "scale", f"in normal form: {err}; build the engine with wider scales")
        elif signed_bits(scale) > engine.scale_bits:
            _fail(layer, "scale", f"in normal form ({scale.min()}..{scale.max()}) needs {signed_bits(scale)} bits, "
                  f"more than the engine's scale_bits={engine.scale_bits}")
        if signed_bits(bias) > engine.bias_bits:
            _fail(layer, "bias", f"in normal form ({bias.min()}..{bias.max()}) needs {signed_bits(bias)} bits, more "
                  f"than the engine's bias_bits={engine.bias_bits}")
        consts.append(np.stack([scale, bias], axis=1).astype(np.int64))
        descs.append(descriptor(layer, wbase, cbase, i == len(program.layers) - 1, rows))
        descs[-1]["shift"] = shift
        if engine.residual:
            descs[-1].update(bufs=_bufs_field(bufs[i]), main_shift=0, skip_shift=0)
        bases.append((wbase, cbase))
        wbase += len(block)
        cbase += layer.cout
        if wbase > engine.weight_depth:
            _fail(layer, "weights", f"end at word {wbase}, beyond weight_depth={engine.weight_depth}")
        if cbase > engine.const_depth:
            _fail(layer, "cout", f"{layer.cout} constants end at entry {cbase}, beyond const_depth={engine.const_depth}")
    bits, kept = engine.field_bits, engine.field_widths
    for layer, d in zip(program.layers, descs):
        for name, value in d.items():
            lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if name in SIGNED_FIELDS else (0, (1 << bits) - 1)
            if not lo <= value <= hi:
                _fail(layer, name, f"{value} does not fit a {bits}-bit descriptor field")
            # the hardware keeps kept[name] bits of a field (EngineConfig.field_widths); an address
            # step is summed modulo the buffer's depth, so any value of the table's width is exact
            if name not in ADDRESS_FIELDS and value >= 1 << kept[name]:
                _fail(layer, name, f"{value} needs more than the {kept[name]} bits the engine keeps of it "
                      f"(EngineConfig.field_widths, from the activation buffer's and the tables' depths)")
    return MemoryImages(np.concatenate(words), np.concatenate(consts), descs, bases, np.concatenate(x_shifts), bufs)


def allocate_buffers(program, buffers=RESIDUAL_BUFFERS):
    """Where each tensor of ``program`` lives on an engine built with ``residual``: per step, the
    (read, write, skip) activation buffers (skip = read for a layer). The image is in buffer 0;
    step i writes the lowest-numbered buffer that holds no tensor read by step i or later (a tensor
    is dead after its last reader, and the step's own operands are live while it runs, so it never
    writes a buffer it reads). Refuses, naming the step, a program that needs more than ``buffers``."""
    last_read = {}
    for i in range(len(program.layers)):
        for j in program.sources(i):
            last_read[j] = i
    where, out = {-1: 0}, []
    for i, step in enumerate(program.layers):
        live = {j: where[j] for j, last in last_read.items() if j in where and last >= i}
        free = [b for b in range(buffers) if b not in live.values()]
        if not free:
            held = ", ".join("the input" if j < 0 else repr(program.layers[j].name) for j in sorted(live))
            _fail(step, "src", f"needs a fourth activation buffer: the engine's {buffers} hold {held}, which "
                  f"this or a later step reads")
        where[i] = free[0]
        src = program.sources(i)
        out.append((where[src[0]], where[i], where[src[-1]]))
    return out


def _bufs_field(bufs):
    read, write, skip = bufs
    return read | (write << 2) | (skip << 4)


def residual_descriptor(step, bufs):
    """The descriptor of a :class:`ResidualAdd` on an engine built with ``residual``: a 1x1 layer of
    C_ch channels over H x W with one T-tile (the address generator's walk: position by position,
    channel by channel, at ci·H·W + y·W + x), flags with RESIDUAL_FLAG, r in ``shift`` and the left
    shifts in ``main_shift``/``skip_shift``; ``bufs`` the (read, write, skip) buffers."""
    c, h, w = step.shape
    _, dst_h, dst_w = step.out_shape
    flags = RESIDUAL_FLAG | (int(step.relu) << 1) | (POOL_KINDS.index(step.pool) << 2)
    d = {"flags": flags, "cin": c, "in_h": h, "in_w": w, "kernel": 1, "stride": 1, "padding": 0, "out_h": h,
         "out_w": w, "cout": c, "t_tiles": 1, "t_beats": c, "wbase": 0, "cbase": 0, "shift": step.shift,
         "pos_start": 0, "row_step": w, "ky_step": w, "ci_step": h * w, "dst_w": dst_w, "dst_plane": dst_h * dst_w,
         "gap_log2": step.gap_log2 if step.pool == "gap" else 0,
         "bufs": _bufs_field(bufs), "main_shift": step.main_shift, "skip_shift": step.skip_shift}
    assert tuple(d)[:len(DESCRIPTOR_FIELDS)] == DESCRIPTOR_FIELDS
    return d


def _check_residual_fits(step, engine):
    """Refuse a residual add ``engine`` cannot run: operands beyond act_depth; a pooled add whose
    positions come closer than the post-processing's read-after-write distance (hw.postproc: C_ch·P
    >= 4 cycles for the average pool, whose running sums have an address per chunk, and >= P + 3 for
    the 2x2 max pool, which reads a destination word once, for its first chunk, 3 cycles after the
    write of the last chunk before it); an average pool of more channels than its running sums hold
    (const_depth)."""
    c, h, w = step.shape
    if c * h * w > engine.act_depth:
        _fail(step, "shape", f"{c}x{h}x{w} = {c * h * w} values does not fit act_depth={engine.act_depth}")
    p = engine.post_chunks
    need = 4 if step.pool == "gap" else p + 3
    if step.pool != "none" and c * p < need:
        _fail(step, "pool", f"{step.pool!r} after a residual add of {c} channel(s) needs at least "
              f"{-(-need // p)} (the post-processing's pool needs the add's positions at least {need} cycles "
              f"apart, and they are {c * p} cycle(s) apart)")
    if step.pool == "gap" and c > engine.const_depth:
        _fail(step, "pool", f"'gap' of {c} channels exceeds the {engine.const_depth} running sums (const_depth)")


def _check_x_shift(layer, engine, rows):
    """Refuse a layer's input shift that ``engine`` cannot apply: any non-zero d without the per-tile
    shift, and a d that differs within one row tile of ``rows`` channels (shifted once per tile)."""
    shifts = layer.x_shifts
    if not shifts.any():
        return
    if not engine.tile_shift:
        _fail(layer, "x_shift", f"is {'/'.join(map(str, sorted(set(shifts.tolist()))))} (per-group scales), which "
              f"needs the per-tile input shift, and this engine is built without it (tile_shift False)")
    for a in range(0, layer.cout, rows):
        tile = shifts[a:a + rows]
        if (tile != tile[0]).any():
            _fail(layer, "x_shift", f"differs within the row tile of channels {a}..{a + len(tile) - 1} "
                  f"({tile.min()} and {tile.max()}), and the engine shifts a tile of {rows} rows by one d; "
                  f"use groups of a multiple of {rows} channels")
