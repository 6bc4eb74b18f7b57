"""Accumulator widths derived from the worst case, so that overflow is impossible by construction.

SAD: |a - b| of two signed w-bit values is at most 2^w - 1, so K terms need
``ceil(log2((2^w - 1)·K + 1))`` unsigned bits.

MAC: a product of two signed w-bit values lies in [-2^(w-1)·(2^(w-1) - 1), 2^(2w-2)]
(the maximum is (-2^(w-1))^2). K products need the smallest signed width holding
K times those bounds.
"""
from .validate import check_int, check_width

__all__ = ["sad_acc_width", "mac_acc_width", "sad_max", "mac_range"]


def sad_max(width, k):
    """Largest possible SAD of ``k`` terms of signed ``width``-bit values."""
    return ((1 << width) - 1) * k


def mac_range(width, k):
    """Inclusive (lo, hi) of a sum of ``k`` products of signed ``width``-bit values."""
    half = 1 << (width - 1)
    return -k * half * (half - 1), k * half * half


def sad_acc_width(width, k):
    """Unsigned bits for a SAD accumulator over ``k`` terms of signed ``width``-bit inputs."""
    width = check_width(width)
    k = check_int("k", k, lo=1)
    return sad_max(width, k).bit_length()


def mac_acc_width(width, k):
    """Signed bits for a MAC accumulator over ``k`` products of signed ``width``-bit inputs."""
    width = check_width(width)
    k = check_int("k", k, lo=1)
    lo, hi = mac_range(width, k)
    # n signed bits hold [-2^(n-1), 2^(n-1) - 1].
    return max(hi.bit_length(), (-lo - 1).bit_length()) + 1
