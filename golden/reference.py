"""PyTorch reference adder layer, as defined by Chen et al., "AdderNet: Do We Really Need
Multiplications in Deep Learning?", CVPR 2020.

Forward (paper Eq. 2):   Y[n, t, y, x] = -Σ_{c,i,j} |X[n, c, y·s+i-p, x·s+j-p] - F[t, c, i, j]|

Backward:
  * grad F: the full-precision gradient (paper Eq. 5), ∂Y/∂F = X - F, so
    grad F[t, k] = Σ_p g[t, p]·(X[k, p] - F[t, k]) = (Σ_p g·X) - F·(Σ_p g).
    The first term is a convolution weight gradient, so no difference tensor is needed.
  * grad X: the HardTanh-clipped gradient (paper Eq. 6), ∂Y/∂X = HT(F - X).
  * optional adaptive learning-rate scaling of grad F (paper Eq. 12-13):
    grad F ← η·√(numel F) / ‖grad F‖₂ · grad F, with η = 0.2 by default.

This module shares no code with the NumPy golden model; the two check each other.
On quantised inputs (integers × 2^-frac) its forward equals the golden model exactly
whenever the sums stay within the float dtype's integer precision (2^53 for float64).

Memory: the T×K×P difference tensor is never materialised. The input is unfolded a few
images at a time (about 2^18 column elements per chunk) and reduced chunk by chunk.
Speed: large problems use a fused kernel from ``torch.compile`` (one compile per process,
dynamic shapes); small problems, or machines without a C++ compiler, use eager chunked
code. Set ``ADDERHW_TORCH_COMPILE=0`` to force the eager path.
"""
import math
import os
from contextlib import contextmanager
import warnings

import torch
import torch.nn.functional as F
from torch import nn

from adderhw.base.errors import BadParameter

__all__ = ["adder2d_torch", "Adder2d", "AdderFunction", "DEFAULT_ETA"]

#: η of the adaptive learning-rate scaling (paper, Sec. 3.3)
DEFAULT_ETA = 0.2
#: column elements (n·K·L) unfolded per chunk (1 MiB of float32)
_CHUNK_ELEMS = 1 << 18
#: layers smaller than this many |x - f| terms stay on the eager path (compiling costs seconds)
_COMPILE_MIN_TERMS = 1 << 24


def _sad_cols(w, cols):
    """(n, T, L) = Σ_k |w[t, k] - cols[n, k, l]| for w (T, K) and cols (n, K, L)."""
    return (w[None, :, :, None] - cols[:, None, :, :]).abs().sum(2)


def _grad_cols(w, cols, g):
    """(n, K, L) = Σ_t HT(w[t, k] - cols[n, k, l])·g[n, t, l]  (paper Eq. 6)."""
    return ((w[None, :, :, None] - cols[:, None, :, :]).clamp(-1, 1) * g[:, :, None, :]).sum(1)


class _Kernels:
    """Fused compiled kernels, created on first use; eager fallbacks keep memory bounded."""

    def __init__(self):
        self._compiled = None
        self._failed = False
        self.eager = 0          # > 0 inside eager_kernels(): the eager code only

    def _get(self):
        if self._failed or self.eager or os.environ.get("ADDERHW_TORCH_COMPILE", "1") == "0":
            return None
        if self._compiled is None:
            self._compiled = (torch.compile(_sad_cols, dynamic=True),
                              torch.compile(_grad_cols, dynamic=True))
        return self._compiled

    def run(self, which, compiled, *args):
        """``compiled``: use the fused kernel (if it can be had) or the eager code."""
        kernels = self._get() if compiled else None
        if kernels is not None:
            try:
                return kernels[which](*args)
            except Exception as exc:    # no C++ compiler, unsupported platform, ...
                self._failed = True
                warnings.warn(f"torch.compile is unavailable ({type(exc).__name__}); "
                              f"the adder reference falls back to slower eager code")
        return _eager[which](*args)


def _sad_cols_eager(w, cols):
    n, K, L = cols.shape
    T = w.shape[0]
    out = cols.new_zeros((n, T, L))
    kb = max(1, _CHUNK_ELEMS // max(1, n * T * L))
    for k0 in range(0, K, kb):
        out += _sad_cols(w[:, k0:k0 + kb], cols[:, k0:k0 + kb])
    return out


def _grad_cols_eager(w, cols, g):
    n, K, L = cols.shape
    T = w.shape[0]
    out = cols.new_zeros((n, K, L))
    tb = max(1, _CHUNK_ELEMS // max(1, n * K * L))
    for t0 in range(0, T, tb):
        out += _grad_cols(w[t0:t0 + tb], cols, g[:, t0:t0 + tb])
    return out


_eager = (_sad_cols_eager, _grad_cols_eager)
_kernels = _Kernels()


@contextmanager
def eager_kernels():
    """Within the block every adder layer runs the eager code, not the fused torch.compile kernel.
    For one-shot work in a fresh process (importing and calibrating a user's model: adderhw.compile)
    the kernel's compilation costs more than it saves: ResNet-20's import, PTQ and compile with 64
    calibration images took a median 157 s with an empty compile cache and 76 s with a filled one,
    and 27.5 s and 21.7 s eager, on a loaded 2-core machine; eager on the idle machine, 8.7 s and
    8.8 s (adderhw bench compile, docs/results/bench_compile)."""
    _kernels.eager += 1
    try:
        yield
    finally:
        _kernels.eager -= 1


def _geometry(x, w, stride, padding):
    n, c, h, wd = x.shape
    t, cw, kh, kw = w.shape
    if c != cw:
        raise BadParameter(
            f"x has {c} input channels (shape {tuple(x.shape)}) but w expects {cw} "
            f"(shape {tuple(w.shape)}); w must be (Cout, Cin, kh, kw) with Cin = x.shape[1]")
    if h + 2 * padding < kh or w.shape[3] > wd + 2 * padding:
        raise BadParameter(
            f"kernel {kh}x{kw} does not fit the input {h}x{wd} with padding {padding}: "
            f"the padded input must be at least as large as the kernel")
    ho = (h + 2 * padding - kh) // stride + 1
    wo = (wd + 2 * padding - kw) // stride + 1
    return n, c, h, wd, t, kh, kw, ho, wo


def _batch_step(k, l):
    return max(1, _CHUNK_ELEMS // max(1, k * l))


class AdderFunction(torch.autograd.Function):
    """Autograd function of the adder layer with the paper's backward pass."""

    @staticmethod
    def forward(ctx, x, w, stride, padding, eta, adaptive, compiled=None):
        n, c, h, wd, t, kh, kw, ho, wo = _geometry(x, w, stride, padding)
        k, l = c * kh * kw, ho * wo
        wf = w.reshape(t, k)
        y = x.new_empty((n, t, l))
        step = _batch_step(k, l)
        # decided once per layer (not per chunk): a large layer in small chunks still compiles
        compiled = (n * t * k * l >= _COMPILE_MIN_TERMS) if compiled is None else bool(compiled)
        for n0 in range(0, n, step):
            cols = F.unfold(x[n0:n0 + step], (kh, kw), padding=padding, stride=stride)
            y[n0:n0 + step] = _kernels.run(0, compiled, wf, cols)
        ctx.save_for_backward(x, w)
        ctx.conf = (stride, padding, eta, adaptive, compiled)
        return -y.reshape(n, t, ho, wo)

    @staticmethod
    def backward(ctx, grad_y):
        x, w = ctx.saved_tensors
        stride, padding, eta, adaptive, compiled = ctx.conf
        n, c, h, wd, t, kh, kw, ho, wo = _geometry(x, w, stride, padding)
        grad_x = grad_w = None
        if ctx.needs_input_grad[1]:
            # Paper Eq. 5 replaces dY/dF = sgn(X - F) by X - F: grad F = Σ_p g·X - F·Σ_p g.
            gx = torch.nn.grad.conv2d_weight(x, w.shape, grad_y, stride=stride, padding=padding)
            grad_w = gx - w * grad_y.sum(dim=(0, 2, 3)).reshape(t, 1, 1, 1)
            if adaptive:
                norm = grad_w.norm(p=2)
                if norm > 0:
                    grad_w = grad_w * (eta * math.sqrt(w.numel()) / norm)
        if ctx.needs_input_grad[0]:
            # dY/dX = HT(F - X) (paper Eq. 6), gathered per column then folded back (col2im).
            k, l = c * kh * kw, ho * wo
            wf = w.reshape(t, k)
            gy = grad_y.reshape(n, t, l)
            grad_x = torch.empty_like(x)
            step = _batch_step(k, l)
            for n0 in range(0, n, step):
                cols = F.unfold(x[n0:n0 + step], (kh, kw), padding=padding, stride=stride)
                gc = _kernels.run(1, compiled, wf, cols, gy[n0:n0 + step])
                grad_x[n0:n0 + step] = F.fold(gc, (h, wd), (kh, kw), padding=padding, stride=stride)
        return grad_x, grad_w, None, None, None, None, None


def _check_conf(stride, padding, eta):
    if isinstance(stride, bool) or not isinstance(stride, int) or stride < 1:
        raise BadParameter(f"stride must be a positive integer, not {stride!r}")
    if isinstance(padding, bool) or not isinstance(padding, int) or padding < 0:
        raise BadParameter(f"padding must be a non-negative integer, not {padding!r}")
    if not (isinstance(eta, (int, float)) and eta > 0 and math.isfinite(eta)):
        raise BadParameter(f"eta must be a positive finite number, not {eta!r}")


def adder2d_torch(x, w, stride=1, padding=0, *, eta=DEFAULT_ETA, adaptive=True, compiled=None):
    """Adder layer forward -Σ|X - F| with the paper's backward pass.

    x: (N, Cin, H, W) float tensor; w: (Cout, Cin, kh, kw) of the same dtype.
    Returns (N, Cout, Hout, Wout) with ``conv2d``'s output shape.
    ``adaptive`` switches the adaptive learning-rate scaling of grad w (η = ``eta``).
    ``compiled``: None uses the fused torch.compile kernel for large problems only; True whenever
    it is available (worth it when the same shapes repeat, as in training); False never.
    """
    _check_conf(stride, padding, eta)
    if x.dim() != 4 or w.dim() != 4:
        raise BadParameter(
            f"x and w must be 4-D, (N, Cin, H, W) and (Cout, Cin, kh, kw), not {tuple(x.shape)} and {tuple(w.shape)}")
    if not (x.is_floating_point() and w.is_floating_point()) or x.dtype != w.dtype:
        raise BadParameter(f"x and w must share one float dtype, not {x.dtype} and {w.dtype}")
    return AdderFunction.apply(x, w, stride, padding, float(eta), bool(adaptive), compiled)


class Adder2d(nn.Module):
    """Adder layer module: a drop-in for ``nn.Conv2d`` without bias, computing -Σ|X - F|.

    Follow it with BatchNorm, as the paper does: adder outputs are large and negative.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 *, eta=DEFAULT_ETA, adaptive=True, compiled=None):
        super().__init__()
        for name, v, lo in (("in_channels", in_channels, 1), ("out_channels", out_channels, 1),
                            ("kernel_size", kernel_size, 1)):
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise BadParameter(f"{name} must be a positive integer, not {v!r}")
        _check_conf(stride, padding, eta)
        self.stride, self.padding, self.eta, self.adaptive = stride, padding, eta, adaptive
        self.compiled = compiled
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, kernel_size, kernel_size))
        nn.init.kaiming_normal_(self.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        return adder2d_torch(x, self.weight, self.stride, self.padding,
                             eta=self.eta, adaptive=self.adaptive, compiled=self.compiled)

    def extra_repr(self):
        t, c, k, _ = self.weight.shape
        return (f"{c}, {t}, kernel_size={k}, stride={self.stride}, padding={self.padding}, "
                f"eta={self.eta}, adaptive={self.adaptive}")
