"""Fixed-point quantisation shared by activations and weights of one layer.

A signed ``width``-bit integer q stands for q · 2^-frac_bits. X and F of an adder layer
must share one scale, because |X - F| only makes sense when both sides are in the same units.
Quantisation rounds half to even (NumPy's ``rint``) and saturates to
[-2^(width-1), 2^(width-1) - 1]; it reports how many values saturated.
"""
from typing import NamedTuple

import numpy as np

from adderhw.base.errors import BadParameter
from adderhw.base.validate import check_int, check_width, int_range

__all__ = ["Quantized", "quantize", "dequantize", "choose_frac_bits", "FRAC_BITS_RANGE"]

#: frac_bits may place the binary point this far outside the integer (negative: coarser than 1).
FRAC_BITS_RANGE = (-32, 64)


class Quantized(NamedTuple):
    """Result of :func:`quantize`: ``q`` (int64 array) and ``saturated`` (how many values were clipped)."""
    q: np.ndarray
    saturated: int


def _check_frac_bits(frac_bits):
    return check_int("frac_bits", frac_bits, lo=FRAC_BITS_RANGE[0], hi=FRAC_BITS_RANGE[1])


def quantize(x, width, frac_bits):
    """Quantise real values ``x`` to signed ``width``-bit integers in units of 2^-frac_bits.

    Returns :class:`Quantized` ``(q, saturated)``; unpack it as ``q, n = quantize(...)``.
    NaN is refused; ±inf saturates.
    """
    width = check_width(width)
    frac_bits = _check_frac_bits(frac_bits)
    x = np.asarray(x)
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise BadParameter(f"x must be a real-valued array, not an array of dtype {x.dtype}")
    x = x.astype(np.float64)
    if np.isnan(x).any():
        raise BadParameter("x holds NaN; only finite values (or ±inf, which saturate) can be quantised")
    lo, hi = int_range(width)
    scaled = np.rint(np.ldexp(x, frac_bits))   # ldexp is exact; rint rounds half to even
    saturated = int(np.count_nonzero((scaled < lo) | (scaled > hi)))
    q = np.clip(scaled, lo, hi).astype(np.int64)
    return Quantized(q, saturated)


def dequantize(q, frac_bits):
    """Real values of integers ``q`` in units of 2^-frac_bits, as float64 (exact below 2^53)."""
    frac_bits = _check_frac_bits(frac_bits)
    q = np.asarray(q)
    if not np.issubdtype(q.dtype, np.integer):
        raise BadParameter(f"q must be an integer array, not an array of dtype {q.dtype}")
    return np.ldexp(q.astype(np.float64), -frac_bits)


def choose_frac_bits(arrays, width):
    """The largest frac_bits at which the largest magnitude among ``arrays`` does not saturate.

    This is the shared power-of-two scale for X and F of one layer, chosen from data.
    All-zero data gets ``width - 1`` (values in [-1, 1)).
    """
    width = check_width(width)
    amax = max((float(np.max(np.abs(np.asarray(a, dtype=np.float64)))) if np.size(a) else 0.0)
               for a in arrays)
    if not np.isfinite(amax):
        raise BadParameter("arrays hold a non-finite value; a scale can only be chosen from finite data")
    if amax == 0.0:
        return width - 1
    _, hi = int_range(width)
    # largest f with rint(amax · 2^f) <= hi
    f = int(np.floor(np.log2(hi / amax)))
    while np.rint(np.ldexp(amax, f + 1)) <= hi:
        f += 1
    while np.rint(np.ldexp(amax, f)) > hi:
        f -= 1
    return max(FRAC_BITS_RANGE[0], min(FRAC_BITS_RANGE[1], f))
