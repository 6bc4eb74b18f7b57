"""The requantisation's normal form: the (M, B, S) of a layer that an engine's tables hold.

A layer requantises every output channel t with one shift S (golden.program, step 2):

    v = (acc·M[t] + B[t] + 2^(S−1)) >> S        (S > 0; acc·M[t] + B[t] for S = 0)

When every M[t] is a multiple of 2^e (e <= S), the same v comes from smaller numbers:

    M'[t] = M[t] / 2^e,   S' = S − e,   B'[t] = ⌊(B[t] + 2^(S−1)) / 2^e⌋ − 2^(S'−1)
    (for S' = 0 the last term is 0; for S = 0, e = 0 and nothing changes)

Proof, for rounding half up: with C = B + 2^(S−1), ⌊(acc·M'·2^e + C) / 2^S⌋ =
⌊⌊(acc·M'·2^e + C) / 2^e⌋ / 2^S'⌋ (floor division nests for positive divisors) =
⌊(acc·M' + ⌊C / 2^e⌋) / 2^S'⌋, and ⌊C / 2^e⌋ = B' + 2^(S'−1) is what the engine adds before its
shift by S'. For S' >= 1, B' = ⌊B / 2^e⌋ (2^(S−1) is a multiple of 2^e), so |B'| <= |B| and
|M'| <= |M|: the normal form fits wherever the program did.

Rounding half to even (golden.program.round_shift) also clears the lowest bit of a tie, where
the low S bits of acc·M + C are all 0. That condition survives the division only when the
dropped low e bits of C are 0 for every channel, so for such a program e is also at most the
trailing zeros of every C[t], and at most S − 1 (:func:`normal_exponent`): then the low S bits of
acc·M'·2^e + C are 0 exactly where the low S' >= 1 bits of acc·M' + ⌊C / 2^e⌋ are, which is the
engine's tie condition for S'. (With S' = 0 every value of such a layer is a tie, and the engine,
which rounds nothing at S' = 0, would miss it: hypothesis found that case.)

Why: a shift-only program's M are sums of two powers of two whose exponents reach 14 (the digits
and MNIST programs at 16-bit scales), and its B reach 30 bits; in normal form the multiplier-free
digits program needs 9-bit scales and 19-bit biases, MNIST 8 and 22, so an engine sized for the
normal form (golden.network_program.engine_for) has a narrower requantisation datapath and the
same results.
"""
import numpy as np

from adderhw.base.engine import BIAS_BITS_RANGE, SCALE_BITS_RANGE
from adderhw.base.requant import pow2_terms

__all__ = ["normal_exponent", "normal_requant", "normal_widths", "signed_bits"]


def _trailing_zeros(v):
    v = int(v)
    return (v & -v).bit_length() - 1 if v else None


def normal_exponent(scale, bias, shift, rounding="half_up"):
    """The largest e <= ``shift`` with every M[t] a multiple of 2^e (and, for ``rounding``
    "half_even", every B[t] + 2^(S−1) too, and e < S). A layer whose M are all 0 takes e = 0."""
    shift = int(shift)
    zeros = [z for z in (_trailing_zeros(m) for m in np.asarray(scale).ravel()) if z is not None]
    if not zeros or shift == 0:
        return 0
    e = min(min(zeros), shift)
    if rounding == "half_even":
        e = min(e, shift - 1)       # S' >= 1: with S' = 0 the engine would not look for a tie at all
        half = 1 << (shift - 1)
        for b in np.asarray(bias).ravel():
            z = _trailing_zeros(int(b) + half)
            if z is not None:
                e = min(e, z)
    return e


def normal_requant(scale, bias, shift, rounding="half_up"):
    """(M', B', S') of a layer's (M, B, S): the normal form of the module docstring, as int64 arrays
    of M' and B' (Python integers in between, so no width is assumed) and the integer S'."""
    shift = int(shift)
    e = normal_exponent(scale, bias, shift, rounding)
    m = np.array([int(v) >> e for v in np.asarray(scale).ravel()], dtype=np.int64)
    s = shift - e
    if shift == 0:
        b = np.array([int(v) for v in np.asarray(bias).ravel()], dtype=np.int64)
    else:
        half, half_out = 1 << (shift - 1), (1 << (s - 1)) if s else 0
        b = np.array([((int(v) + half) >> e) - half_out for v in np.asarray(bias).ravel()], dtype=np.int64)
    return m, b, s


def signed_bits(values):
    """Fewest bits of a signed number that hold every integer of ``values`` (at least 1)."""
    vals = [int(v) for v in np.asarray(values).ravel()]
    return max([1] + [(v if v >= 0 else -v - 1).bit_length() + 1 for v in vals])


def normal_widths(program):
    """(scale_bits, bias_bits): the narrowest an engine's tables can be and hold every layer of
    ``program`` in normal form (no narrower than SCALE_BITS_RANGE[0], BIAS_BITS_RANGE[0]). A
    multiplying program's M' is a signed ``scale_bits`` number; a shift-only program's M' is a sum
    of powers of two below 2^scale_bits (adderhw.base.requant.encode_scale)."""
    scale_bits, bias_bits = SCALE_BITS_RANGE[0], BIAS_BITS_RANGE[0]
    for layer in program.layers:
        if not hasattr(layer, "scale"):         # a residual add has no table entry
            continue
        m, b, _ = normal_requant(layer.scale, layer.bias, layer.shift, program.rounding)
        if program.requant == "shift":
            exps = [e for v in m for _, e in (pow2_terms(v, program.shift_terms) or ())]
            scale_bits = max(scale_bits, max(exps, default=0) + 1)
        else:
            scale_bits = max(scale_bits, signed_bits(m))
        bias_bits = max(bias_bits, signed_bits(b))
    return scale_bits, bias_bits
