"""Adder and convolution layers on integers, by im2col onto the GEMMs of :mod:`golden.gemm`.

Shapes and semantics follow ``torch.nn.functional.conv2d``: x is (N, Cin, H, W), w is
(Cout, Cin, kh, kw), zero padding, cross-correlation, output (N, Cout, Hout, Wout) with
Hout = (H + 2·padding - kh) // stride + 1.

im2col ordering (shared with the hardware mapping): K index = (c, i, j) in C order, so
``w.reshape(Cout, K)`` is the filter matrix A; P index = (n, y, x) in C order.
The columns are built a chunk of images at a time so that memory stays bounded.
"""
import numpy as np

from adderhw.base.errors import BadParameter
from .gemm import mac_gemm, sad_kernel, scratch_dtype
from adderhw.base.validate import check_int, check_operand_pair

__all__ = ["CONVS", "adder2d", "mac_conv2d", "im2col", "conv_output_shape", "check_layer"]

#: im2col elements built per chunk
_COLS_ELEMS = 1 << 19


def conv_output_shape(h, w, kh, kw, stride, padding):
    """(Hout, Wout) of a convolution; raises if the kernel does not fit the padded input."""
    ho = (h + 2 * padding - kh) // stride + 1
    wo = (w + 2 * padding - kw) // stride + 1
    if h + 2 * padding < kh or w + 2 * padding < kw:
        raise BadParameter(
            f"kernel {kh}x{kw} does not fit the input {h}x{w} with padding {padding}: "
            f"the padded input must be at least as large as the kernel")
    return ho, wo


def check_layer(x, w, stride, padding, width):
    """Checked (x, w, stride, padding, width) of an integer layer; shared with sim.run_layer."""
    stride = check_int("stride", stride, lo=1)
    padding = check_int("padding", padding, lo=0)
    (x, w), width = check_operand_pair(
        ("x", "w"), (x, w), ndim=4, axes=(1, 1), width=width,
        mismatch=lambda sx, sw: (f"x has {sx[1]} input channels (shape {sx}) but w expects {sw[1]} "
                                 f"(shape {sw}); w must be (Cout, Cin, kh, kw) with Cin = x.shape[1]"))
    conv_output_shape(x.shape[2], x.shape[3], w.shape[2], w.shape[3], stride, padding)
    return x, w, stride, padding, width


def im2col(x, kh, kw, stride=1, padding=0, dtype=None):
    """Columns B (K, P) of integer x (N, C, H, W) for a kh x kw kernel; K = C·kh·kw, P = N·Hout·Wout.

    Built one kernel tap (i, j) at a time: each tap is one strided slice copy.
    """
    n, c, h, wd = x.shape
    ho, wo = conv_output_shape(h, wd, kh, kw, stride, padding)
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    cols = np.empty((c, kh, kw, n, ho, wo), dtype=dtype or x.dtype)
    for i in range(kh):
        for j in range(kw):
            tap = xp[:, :, i:i + stride * (ho - 1) + 1:stride, j:j + stride * (wo - 1) + 1:stride]
            cols[:, i, j] = tap.transpose(1, 0, 2, 3)
    return cols.reshape(c * kh * kw, n * ho * wo)


def _layer(l1, x, w, stride, padding, width):
    """The layer on integers: -sum |X - F| when ``l1`` (the adder layer), else sum X·F."""
    x, w, stride, padding, width = check_layer(x, w, stride, padding, width)
    n, c, h, wd = x.shape
    cout, _, kh, kw = w.shape
    ho, wo = conv_output_shape(h, wd, kh, kw, stride, padding)
    k = c * kh * kw
    out = np.empty((n, cout, ho, wo), dtype=np.int64)
    if l1:
        dt = scratch_dtype(width)
        aT = np.ascontiguousarray(w.reshape(cout, k).T, dtype=dt)
        xs = x.astype(dt)
    else:
        a, xs = w.reshape(cout, k), x
    step = max(1, _COLS_ELEMS // max(1, k * ho * wo))
    for n0 in range(0, n, step):
        n1 = min(n, n0 + step)
        cols = im2col(xs[n0:n1], kh, kw, stride, padding)
        if l1:
            y = sad_kernel(aT, cols, width)
        else:
            y = mac_gemm(a, cols, width=width)
        out[n0:n1] = y.reshape(cout, n1 - n0, ho, wo).transpose(1, 0, 2, 3)
    return out


def adder2d(x, w, stride=1, padding=0, width=None):
    """Adder layer on integers: Y = -Σ_{c,i,j} |X - F|, int64 of shape (N, Cout, Hout, Wout).

    ``width``: signed width the values must fit (2 to 32); taken from the data if omitted.
    """
    y = _layer(True, x, w, stride, padding, width)
    np.negative(y, out=y)
    return y


def mac_conv2d(x, w, stride=1, padding=0, width=None):
    """The multiplier twin: integer cross-correlation Σ X·F, int64 of shape (N, Cout, Hout, Wout)."""
    return _layer(False, x, w, stride, padding, width)


#: the golden layer of each PE kind (base.pe_kind), by its name: the adder layer for "sad", the
#: convolution for "mac"
CONVS = {"sad": adder2d, "mac": mac_conv2d}
