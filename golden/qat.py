"""Quantisation-aware fine-tuning of adder layers, and the fixed-point inference it targets.

The number format is golden.fixed's: X and F of one adder layer share one power-of-two scale
2^-f; a signed ``width``-bit integer q stands for q·2^-f. What changes against the post-training
quantisation of golden.addernet.FixedPointAdders (f covers the largest |X| and |F|):

* **Weights beyond the range are clipped exactly.** Every input the layer sees is saturated to
  [lo, hi]·2^-f (lo = -2^(width-1), hi = 2^(width-1) - 1), so for a weight F > hi·2^-f,
  |x - F| = |x - hi·2^-f| + (F - hi·2^-f) for every x (likewise below lo): clipping a filter's
  weights changes its output by the constant Σ|F - clip(F)|, which the post-processing's
  per-channel bias absorbs (golden.compiler.clip_adder_weights does the same for the engine). No
  hardware changes, and f no longer has to cover the weights.
* **Activation outliers are clamped.** f is calibrated (:func:`calibrate_fracs`): from the finest
  scale that does not saturate the calibration activations, up to ``CALIB_EXTRA`` bits finer, the
  one whose layer output is nearest (mean squared error) to the float layer's; a few saturated
  outliers cost less than a coarse step for everything else.
* **Fine-tuning with fake quantisation** (:func:`fine_tune`): the float model's adder layers see
  fake-quantised X and F (:func:`fake_quantize`: round half to even and saturate, in float) and the
  exact clipping constant; gradients pass the rounding straight through (STE) and stop where a
  value saturates. BatchNorm and the other layers learn around the quantised adder layers.

* **Per-group scales** (optional; ``calibrate_fracs(..., group=G)``): in the spirit of Nie et al.
  (NeurIPS 2022), who give groups of output channels their own scales, each group of G consecutive
  output channels gets its own power-of-two scale 2^-f_g, shared by its filters and by the X it
  sees, so a group is an adder layer of its own (X quantised at 2^-f_g) whose output is
  dequantised with 2^-f_g. On the output-stationary array a group of G = R channels is one tile of
  rows, and every row tile already gets its own X stream, so the array needs no change: the feeder
  quantises X at the tile's scale (the host in the host-fed flow; in the layer engine it would be a
  shift-and-saturate per column at the array's edge, not built). The per-channel dequantisation
  folds into the post-processing's per-channel scale.

:class:`ClampedFixedPoint` computes such a layer in integers with the golden model
(golden.adder2d) for evaluation; :class:`FakeQuantAdders` is the same arithmetic in torch for
training. Their outputs are equal (tests/golden/test_qat.py), so the accuracy a fine-tuned model
reaches in float is the accuracy of its integer layers.

For comparison, :class:`TwinFixedPoint` quantises the CNN twin's convolutions the usual way:
per-output-channel weight scales and one activation scale per tensor, each max|value|/hi (real
numbers, not powers of two), computed in integers with golden.mac_conv2d.
"""
import copy

import numpy as np
import torch

from adderhw.base.errors import BadParameter
from adderhw.base.validate import check_int, check_width, int_range

from .addernet import ADDER_LAYERS, adder_layers
from .compiler import CALIB_EXTRA, clip_adder_weights, compile_model
from .conv import adder2d, mac_conv2d
from .fixed import FRAC_BITS_RANGE, choose_frac_bits, quantize
from .mnist import augment
from .reference import adder2d_torch
from .training import sgd_train

__all__ = ["fake_quantize", "FakeQuantize", "quantized_adder", "channel_groups", "FakeQuantAdders", "ClampedFixedPoint",
           "TwinFixedPoint", "calibrate_fracs", "fine_tune", "qat_compile", "CALIB_EXTRA"]

#: how many bits finer than "nothing saturates" the calibration tries for an adder layer's scale


def _bounds(width, frac):
    lo, hi = int_range(check_width(width))
    frac = check_int("frac", frac, lo=FRAC_BITS_RANGE[0], hi=FRAC_BITS_RANGE[1])
    return lo, hi, frac


class FakeQuantize(torch.autograd.Function):
    """round_half_even(x·2^f) saturated to [lo, hi], times 2^-f; the backward passes the gradient
    where lo <= x·2^f <= hi (the straight-through estimator of the rounding, clipped)."""

    @staticmethod
    def forward(ctx, x, lo, hi, frac):
        # x·2^f is exact in binary floating point (a power of two), and torch.round rounds half to
        # even, as golden.fixed.quantize's np.rint does
        scaled = x * (2.0 ** frac)
        ctx.save_for_backward((scaled >= lo) & (scaled <= hi))
        return scaled.round().clamp(lo, hi) * (2.0 ** -frac)

    @staticmethod
    def backward(ctx, grad):
        inside, = ctx.saved_tensors
        return grad * inside, None, None, None


def fake_quantize(x, width, frac):
    """``x`` (a float torch tensor) on the signed ``width``-bit grid of step 2^-frac, in float:
    golden.fixed.quantize then dequantize, with a straight-through gradient (1 where
    lo·2^-frac <= x <= hi·2^-frac, 0 where the value saturates)."""
    lo, hi, frac = _bounds(width, frac)
    if not x.is_floating_point():
        raise BadParameter(f"x must be a float tensor, not a tensor of dtype {x.dtype}")
    return FakeQuantize.apply(x, float(lo), float(hi), frac)


def _geometry(module):
    stride = module.stride if isinstance(module.stride, int) else module.stride[0]
    padding = module.padding if isinstance(module.padding, int) else module.padding[0]
    return stride, padding


def channel_groups(frac, cout):
    """[(first, end, f)]: the output channels [first, end) that share the scale 2^-f. ``frac`` is an
    int (one scale for the whole layer) or a sequence of G ints, one per group of cout/G consecutive
    output channels (per-group scales; G must divide cout)."""
    if isinstance(frac, (int, np.integer)):
        return [(0, cout, int(frac))]
    fr = tuple(frac)
    if not fr or cout % len(fr):
        raise BadParameter(f"per-group scales need a number of groups that divides the layer's {cout} output "
                           f"channels, not {len(fr)}")
    n = cout // len(fr)
    return [(i * n, (i + 1) * n, int(f)) for i, f in enumerate(fr)]


def quantized_adder(module, x, width, frac):
    """The adder layer ``module`` (golden.reference.Adder2d) on fake-quantised X and F sharing 2^-frac,
    with weights beyond the range clipped and their exact constant subtracted (module docstring);
    differentiable (paper backward through the layer, STE through the quantisers).

    With per-group scales (``frac`` a sequence, :func:`channel_groups`) each group of output
    channels is its own layer on X quantised at its own scale, and the outputs are concatenated.
    The paper's adaptive learning-rate scale (η·√k/‖g‖) then normalises each group's gradient on
    its own."""
    groups = channel_groups(frac, module.weight.shape[0])
    if len(groups) > 1:
        return torch.cat([_quantized_part(module, module.weight[a:b], x, width, f) for a, b, f in groups], dim=1)
    return _quantized_part(module, module.weight, x, width, groups[0][2])


def _quantized_part(module, w, x, width, frac):
    """:func:`quantized_adder` for the filters ``w`` (all or a group of the module's) at one scale."""
    lo, hi, frac = _bounds(width, frac)
    lo_v, hi_v = float(np.ldexp(lo, -frac)), float(np.ldexp(hi, -frac))
    beyond = (w - w.clamp(lo_v, hi_v)).abs().sum(dim=(1, 2, 3))
    stride, padding = _geometry(module)
    y = adder2d_torch(fake_quantize(x, width, frac), fake_quantize(w, width, frac), stride, padding,
                      eta=module.eta, adaptive=module.adaptive, compiled=False)
    return y - beyond.reshape(1, -1, 1, 1).to(y.dtype)


class FakeQuantAdders:
    """A ``layer_fn`` (golden.addernet.DigitsNet, golden.mnist.MnistNet) that runs the adder layers
    through :func:`quantized_adder` at ``width`` bits with the scales ``fracs`` ({layer: f, or a tuple
    of f per group of output channels}); a layer
    without a scale stays float (calibration quantises the layers one after another)."""

    def __init__(self, width, fracs):
        self.width = check_width(width)
        self.fracs = dict(fracs)

    def __call__(self, name, module, x):
        if name not in self.fracs:
            return module(x)
        return quantized_adder(module, x, self.width, self.fracs[name])


class ClampedFixedPoint:
    """A ``layer_fn`` computing the adder layers in integers with the golden model: X saturated to
    ``width`` bits at 2^-f (outliers clamped), F clipped to that range (the exact constant goes to
    the output, as a bias would) and quantised, golden.adder2d, dequantised. ``saturated`` counts
    the clamped activations per layer.

    ``compute(name, xq, wq, stride, padding)`` computes the integer layer (-Σ|x - w|, int64); the
    default is golden.adder2d, and a hardware run passes one that calls the RTL
    (:meth:`with_compute`), as golden.addernet.FixedPointAdders does."""

    def __init__(self, width, fracs, compute=None):
        self.width = check_width(width)
        self.fracs = dict(fracs)
        self.saturated = {name: 0 for name in self.fracs}
        self.compute = compute or (lambda name, xq, wq, s, p: adder2d(xq, wq, s, p, width=self.width))

    def with_compute(self, compute):
        """The same scales with another integer compute function (for example, the RTL)."""
        return ClampedFixedPoint(self.width, self.fracs, compute)

    def __call__(self, name, module, x):
        if name not in self.fracs:
            return module(x)
        weight = module.weight.detach().double().numpy()
        stride, padding = _geometry(module)
        parts = []
        # per-group scales (channel_groups): each group is its own integer layer, with X quantised
        # at the group's scale; on the array a group is a tile of rows fed its own X stream
        for a, b, f in channel_groups(self.fracs[name], len(weight)):
            xq, n = quantize(x.numpy(), self.width, f)
            self.saturated[name] += n
            clipped, beyond = clip_adder_weights(weight[a:b], self.width, f)
            wq, _ = quantize(clipped, self.width, f)
            y = np.ldexp(self.compute(name, xq, wq, stride, padding).astype(np.float64), -f)
            # golden.adder2d returns -Σ|x - w| (the paper's Y); the clipping removed Σ|F - clip(F)|
            parts.append(y - beyond.reshape(1, -1, 1, 1))
        return torch.tensor(np.concatenate(parts, axis=1), dtype=x.dtype)


def _taps(model, calib_x, layer_fn=None):
    taps = {}
    with torch.no_grad():
        for i in range(0, len(calib_x), 512):
            model(torch.tensor(calib_x[i:i + 512]), layer_fn=layer_fn, taps=taps)
    return {k: torch.cat(v) for k, v in taps.items()}


def calibrate_fracs(model, calib_x, width, extra=CALIB_EXTRA, group=None):
    """Each adder layer's scale f (module docstring; every layer of an all-adder network,
    golden.addernet.adder_layers), layer by layer: the earlier layers are already
    quantised when a later one is calibrated, so it sees the inputs it will get. ``group``: instead,
    one scale per group of ``group`` consecutive output channels (a tuple per layer,
    :func:`channel_groups`), each chosen for its own channels' error; a layer whose channels are
    not a multiple of ``group`` (the all-adder classifier's 10) keeps one scale (a tuple of one)."""
    width = check_width(width)
    extra = check_int("extra", extra, lo=0, hi=16)
    if group is not None:
        group = check_int("group", group, lo=1)
    fracs = {}
    model.eval()
    for name in adder_layers(model):
        x = _taps(model, calib_x, FakeQuantAdders(width, fracs) if fracs else None)[name]
        module = getattr(model, name)
        cout = module.weight.shape[0]
        n = cout if group is None or cout % group else group
        f0 = choose_frac_bits([x.numpy()], width)
        chosen = []
        with torch.no_grad():
            ref = module(x)
            for a in range(0, cout, n):
                best = None
                for f in range(f0, min(FRAC_BITS_RANGE[1], f0 + extra) + 1):
                    y = _quantized_part(module, module.weight[a:a + n], x, width, f)
                    err = float(((y - ref[:, a:a + n]) ** 2).mean())
                    if best is None or err < best[0]:
                        best = (err, f)
                chosen.append(best[1])
        fracs[name] = chosen[0] if group is None else tuple(chosen)
    return fracs


def qat_compile(model, data, width, name, group=None, epochs=6, seed=0, distort=False, calib=512, requant="mul",
                shift_terms=2, progress=None):
    """A program from quantisation-aware training: :func:`calibrate_fracs` (per ``group`` of output
    channels when given), :func:`fine_tune` of a copy of the float ``model`` at those scales, and
    golden.compiler.compile_model of the tuned copy with them (its ``fracs``: per-group scales
    become per-tile input shifts, golden.program step 0). Returns (Compiled, fracs, tuned model);
    ``model`` is not changed."""
    calib_x = data.x_train[:calib]
    fracs = calibrate_fracs(model, calib_x, width, group=group)
    tuned = copy_model(model)
    fine_tune(tuned, data, width, fracs, epochs=epochs, seed=seed, distort=distort, progress=progress)
    tuned.eval()
    compiled = compile_model(tuned, calib_x, width, name, requant=requant, shift_terms=shift_terms, fracs=fracs)
    return compiled, fracs, tuned


def fine_tune(model, data, width, fracs, epochs=6, batch=64, lr=0.005, seed=0, distort=False, progress=None):
    """Quantisation-aware fine-tuning of a trained ``model`` in place (module docstring): SGD with
    momentum and a cosine schedule, seeded and deterministic (golden.determinism), the adder layers
    fake-quantised at ``width`` bits with the fixed scales ``fracs``. ``distort``: golden.mnist's
    random affine distortions of the training images. Returns per-epoch losses."""
    epochs = check_int("epochs", epochs, lo=1)
    return sgd_train(model, data, epochs, batch, lr, seed, augment=augment if distort else None,
                     layer_fn=FakeQuantAdders(width, fracs), progress=progress, label=f"    QAT {width}-bit")


class TwinFixedPoint:
    """A ``layer_fn`` that quantises the CNN twin's convolutions in the adder layers' places the
    usual way: signed ``width``-bit weights with one real scale per output channel (max|F_c|/hi) and
    activations with one real scale per layer (max|X|/hi over ``calib_x``), computed in integers
    with golden.mac_conv2d and rescaled."""

    def __init__(self, model, width, calib_x):
        self.width = check_width(width)
        _, self.hi = int_range(self.width)
        taps = _taps(model, calib_x)
        self.x_scale = {}
        for name in ADDER_LAYERS:
            amax = float(taps[name].abs().max())
            self.x_scale[name] = amax / self.hi if amax > 0 else 1.0

    def _q(self, v, scale):
        lo, hi = int_range(self.width)
        return np.clip(np.rint(v / scale), lo, hi).astype(np.int64)

    def __call__(self, name, module, x):
        w = module.weight.detach().double().numpy()
        amax = np.abs(w).reshape(len(w), -1).max(axis=1)
        w_scale = np.where(amax > 0, amax / self.hi, 1.0)
        sx = self.x_scale[name]
        xq = self._q(x.double().numpy(), sx)
        wq = self._q(w, w_scale.reshape(-1, 1, 1, 1))
        stride, padding = _geometry(module)
        y = mac_conv2d(xq, wq, stride, padding, width=self.width).astype(np.float64)
        return torch.tensor(y * sx * w_scale.reshape(1, -1, 1, 1), dtype=x.dtype)


def copy_model(model):
    """An independent copy of a trained model (fine-tuning changes its argument in place)."""
    return copy.deepcopy(model)
