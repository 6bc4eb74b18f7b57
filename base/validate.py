"""Parameter and array checks shared by the golden model, the RTL config and the CLI.

Each check raises :class:`BadParameter` with one sentence: parameter, value, what is allowed.
"""
import operator

import numpy as np

from .errors import BadParameter

__all__ = ["check_int", "check_width", "check_int_array", "int_range", "data_width", "operand_width",
           "check_operand_pair"]

#: Fixed-point widths the golden model accepts. The RTL accepts a narrower range (see ArrayConfig).
MIN_WIDTH, MAX_WIDTH = 2, 32


def check_int(name, value, *, lo=None, hi=None):
    """Return ``value`` as a Python int, or raise if it is not an integer in [lo, hi]."""
    if isinstance(value, bool):
        raise BadParameter(f"{name} must be an integer, not {value!r}")
    try:
        value = operator.index(value)
    except TypeError:
        raise BadParameter(f"{name} must be an integer, not {value!r}") from None
    if lo is not None and hi is not None and not lo <= value <= hi:
        raise BadParameter(f"{name} must be an integer from {lo} to {hi}, not {value}")
    if lo is not None and value < lo:
        raise BadParameter(f"{name} must be an integer of at least {lo}, not {value}")
    if hi is not None and value > hi:
        raise BadParameter(f"{name} must be an integer of at most {hi}, not {value}")
    return value


def check_width(width, *, lo=MIN_WIDTH, hi=MAX_WIDTH):
    return check_int("width", width, lo=lo, hi=hi)


def int_range(width):
    """Inclusive range (lo, hi) of a signed ``width``-bit integer."""
    return -(1 << (width - 1)), (1 << (width - 1)) - 1


def check_int_array(name, arr, *, ndim=None, width=None):
    """Return ``arr`` as an int64 ndarray after checking dtype, rank and range.

    Floating-point arrays are refused even if they hold whole numbers: the integer model
    must never silently round. ``width`` bounds the values to the signed ``width``-bit range.
    """
    a = np.asarray(arr)
    if a.dtype == np.bool_ or not np.issubdtype(a.dtype, np.integer):
        raise BadParameter(
            f"{name} must be an integer array (quantise floats first with golden.quantize), "
            f"not an array of dtype {a.dtype}")
    if ndim is not None and a.ndim != ndim:
        raise BadParameter(f"{name} must be a {ndim}-D array, not one of shape {a.shape}")
    if a.dtype == np.uint64 and a.size and a.max() > np.iinfo(np.int64).max:
        raise BadParameter(f"{name} holds values beyond int64")
    a = a.astype(np.int64, copy=False)
    if width is not None and a.size:
        lo, hi = int_range(width)
        amin, amax = int(a.min()), int(a.max())
        if amin < lo or amax > hi:
            bad = amin if amin < lo else amax
            raise BadParameter(
                f"{name} holds {bad}, out of range for width {width}: values must lie in [{lo}, {hi}]")
    return a


def data_width(*arrays):
    """Smallest signed width (at least 2) that holds every value in ``arrays``."""
    w = 2
    for a in arrays:
        if a.size:
            lo, hi = int(a.min()), int(a.max())
            w = max(w, hi.bit_length() + 1, (-lo - 1).bit_length() + 1)
    return w


def operand_width(names, arrays, width):
    """(arrays, width) of checked integer operands: each array within ``width`` if it is given,
    else the width is taken from the data (at most MAX_WIDTH)."""
    if width is None:
        width = data_width(*arrays)
        if width > MAX_WIDTH:
            raise BadParameter(f"{' and '.join(names)} hold values needing {width} bits; "
                               f"the golden model supports at most {MAX_WIDTH}")
        return list(arrays), width
    width = check_width(width)
    return [check_int_array(n, a, width=width) for n, a in zip(names, arrays)], width


def check_operand_pair(names, arrays, *, ndim, axes, width, mismatch):
    """((x, y), width) of two checked integer operands of rank ``ndim`` whose dimensions
    ``axes[0]`` of x and ``axes[1]`` of y must agree (a GEMM's K, a layer's input channels);
    ``mismatch(x_shape, y_shape)`` words the error when they do not."""
    x = check_int_array(names[0], arrays[0], ndim=ndim)
    y = check_int_array(names[1], arrays[1], ndim=ndim)
    if x.shape[axes[0]] != y.shape[axes[1]]:
        raise BadParameter(mismatch(x.shape, y.shape))
    return operand_width(names, (x, y), width)
