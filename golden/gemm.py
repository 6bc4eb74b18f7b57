"""Bit-exact integer GEMMs: the L1-GEMM of an adder layer (SAD) and its multiplier twin (MAC).

``sad_gemm(a, b)[t, p] = Σ_k |a[t, k] - b[k, p]|`` and ``mac_gemm(a, b)[t, p] = Σ_k a[t, k]·b[k, p]``,
with a of shape (T, K) and b of shape (K, P), returned as int64.

Speed and memory. The SAD kernel uses |a - b| = a + b - 2·min(a, b), so per k it needs
one ``minimum`` and one ``add`` over a cache-sized (T, P) block instead of three passes.
The minima and their block sums are held in the narrowest integer dtype that the
worst case (from the input width) allows, and are flushed to int64 before they could
overflow. The result is exact for every input; only the dtypes of the scratch space change.
Scratch memory is bounded by the block size, whatever T, K and P are.
"""
import numpy as np

from adderhw.base.errors import BadParameter
from adderhw.base.validate import check_operand_pair, data_width
from adderhw.base.widths import mac_acc_width
from adderhw.base.words import a_an

__all__ = ["GEMMS", "sad_gemm", "mac_gemm", "check_gemm_operands", "data_width", "sad_kernel", "scratch_dtype"]

#: elements of one (T, P) scratch block; 2^15 int16/int32 values sit in L1/L2.
_BLOCK_ELEMS = 1 << 15


def check_gemm_operands(a, b, width=None):
    """Checked (a, b, width) of a GEMM: integer a (T, K) and b (K, P) within ``width`` (or the data's)."""
    (a, b), width = check_operand_pair(
        ("a", "b"), (a, b), ndim=2, axes=(1, 0), width=width,
        mismatch=lambda sa, sb: (f"a and b do not chain: a is {sa[0]}x{sa[1]} (T x K) and b is "
                                 f"{sb[0]}x{sb[1]}, but b must have K = {sa[1]} rows"))
    return a, b, width


def sad_gemm(a, b, width=None):
    """Σ_k |a[t, k] - b[k, p]| for integer a (T, K) and b (K, P), as int64 (T, P).

    ``width``: if given, every value must fit a signed ``width``-bit integer (2 to 32);
    if omitted, the width is taken from the data.
    """
    a, b, width = check_gemm_operands(a, b, width)
    dt = scratch_dtype(width)
    return sad_kernel(np.ascontiguousarray(a.T, dtype=dt), np.ascontiguousarray(b, dtype=dt), width)


def scratch_dtype(width):
    """Narrowest NumPy integer dtype that holds signed ``width``-bit values and their minima."""
    for dt in (np.int16, np.int32):
        if width <= np.iinfo(dt).bits:
            return dt
    return np.int64


def sad_kernel(aT, b, width):
    """SAD of checked operands: aT (K, T) and b (K, P), both C-contiguous in :func:`scratch_dtype`.

    Returns int64 (T, P). Block sums of minima are flushed to int64 every ``k_flush`` terms,
    the most that the scratch dtype can hold at this width (|min| <= 2^(width-1)).
    """
    K, T = aT.shape
    P = b.shape[1]
    out = np.zeros((T, P), dtype=np.int64)
    if T == 0 or P == 0 or K == 0:
        return out
    dt = aT.dtype
    k_flush = max(1, min(K, int(np.iinfo(dt).max) >> (width - 1)))
    out += aT.sum(axis=0, dtype=np.int64)[:, None]
    out += b.sum(axis=0, dtype=np.int64)[None, :]
    tb = min(T, 256)
    pb = max(1, min(P, _BLOCK_ELEMS // tb))

    def run(p_lo, p_hi):
        tmp = np.empty((tb, pb), dtype=dt)
        acc = np.empty((tb, pb), dtype=dt)
        for t0 in range(0, T, tb):
            t1 = min(T, t0 + tb)
            for p0 in range(p_lo, p_hi, pb):
                p1 = min(p_hi, p0 + pb)
                tv, av = tmp[:t1 - t0, :p1 - p0], acc[:t1 - t0, :p1 - p0]
                ov = out[t0:t1, p0:p1]
                for k0 in range(0, K, k_flush):
                    av[...] = 0
                    for k in range(k0, min(K, k0 + k_flush)):
                        np.minimum(aT[k, t0:t1, None], b[k, None, p0:p1], out=tv)
                        np.add(av, tv, out=av)
                    ov -= 2 * av.astype(np.int64)

    run(0, P)
    return out


def mac_gemm(a, b, width=None):
    """Σ_k a[t, k]·b[k, p] for integer a (T, K) and b (K, P), as int64 (T, P).

    Uses a float64 BLAS product when every partial sum is provably below 2^53
    (then each float operation is exact), and an int64 product otherwise.
    Refuses widths whose worst-case accumulator exceeds 64 bits.
    """
    a, b, width = check_gemm_operands(a, b, width)
    K = a.shape[1]
    acc = mac_acc_width(width, max(K, 1))
    if acc > 64:
        raise BadParameter(
            f"width {width} with K = {K} needs {a_an(acc)} {acc}-bit accumulator; the int64 golden model "
            f"supports at most 64 bits (lower the width or split K)")
    if acc <= 53:
        return np.rint(a.astype(np.float64) @ b.astype(np.float64)).astype(np.int64)
    return a @ b


#: the golden GEMM of each PE kind (base.pe_kind), by its name: SAD[t, p] = sum_k |A[t, k] - B[k, p]|
#: for "sad", the product sum for "mac"
GEMMS = {"sad": sad_gemm, "mac": mac_gemm}
