"""``run_layer``: a whole conv (or fully connected) layer on the array.

Mapping: im2col (``golden.im2col``) gives B (K x P) with K = Cin·kh·kw and P = N·Hout·Wout;
the filters give A = w.reshape(Cout, K) (T = Cout). The GEMM runs through the array with K split
into chunks of at most k_max when needed; the host adds the chunks' partial sums in int64 (exact,
see sim.plan). The SAD array's result Σ|A - B| is negated into the adder layer's output
-Σ|X - F| (golden.adder2d); the MAC twin's Σ A·B is the convolution (golden.mac_conv2d).
An FC layer is a 1x1 conv on a 1x1 input: x (N, Cin, 1, 1), w (Cout, Cin, 1, 1).
"""
import numpy as np

from adderhw.golden.conv import check_layer, conv_output_shape, im2col
from adderhw.base.errors import BadParameter

from .gemm import run_gemm

__all__ = ["run_layer"]


def run_layer(config, x_q, w_q, stride=1, padding=0, backend="amaranth", seed=None, stall_prob=0.0,
              **kwargs):
    """Run a quantised layer on the array; returns (y int64 (N, Cout, Hout, Wout), cycles).

    x_q, w_q: integers within ``config.width`` bits. Other keyword arguments go to ``run_gemm``.
    """
    x, w, stride, padding, _ = check_layer(x_q, w_q, stride, padding, config.width)
    n, _, h, wd = x.shape
    cout, cin, kh, kw = w.shape
    if kh != kw:
        raise BadParameter(f"the kernel must be square for the array, not {kh}x{kw}")
    ho, wo = conv_output_shape(h, wd, kh, kw, stride, padding)
    b = im2col(x, kh, kw, stride, padding)
    y, cycles = run_gemm(config, w.reshape(cout, -1), b, backend=backend, seed=seed, stall_prob=stall_prob,
                         split_k=True, **kwargs)
    # C-contiguous like golden's output (a transposed view makes torch pick other float kernels)
    y = np.ascontiguousarray(y.reshape(cout, n, ho, wo).transpose(1, 0, 2, 3))
    return config.kind.output_sign * y, cycles
