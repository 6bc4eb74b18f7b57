"""Shift-only requantisation: the folded per-channel scale M as a sum of signed powers of two.

An engine built with ``requant="shift"`` (adderhw.base.engine.EngineConfig) has no multiplier in
its post-processing. A program for it keeps the same integer semantics as any other
(golden.program: v = (acc·M + B + 2^(S−1)) >> S), but every M must be a sum of at most
``terms`` (1 or 2) signed powers of two:

    M = s1·2^e1 + s2·2^e2        (s = +1, −1 or 0; 0 <= e < scale_bits)

so acc·M is ``±(acc << e1) ± (acc << e2)``: shifts and adds.

The constant table holds, for such an engine, a *term code* in M's place (the engine's loader
writes it; hw.postproc decodes it). A term is ``en | neg << 1 | e << 2`` (``2 + E`` bits, with
E = :func:`exp_bits` (scale_bits)), and the code is term 1 in the low bits, term 2 above it. A
disabled term (en = 0) adds nothing, so M = 0 is the code 0.
"""
from .errors import BadParameter

__all__ = ["REQUANT_KINDS", "SHIFT_TERMS", "ROUNDINGS", "exp_bits", "term_bits", "code_bits", "pow2_terms",
           "encode_scale", "decode_scale"]

#: "mul": M is any signed scale_bits number and each lane multiplies; "shift": M is a sum of
#: signed powers of two and each lane shifts and adds
REQUANT_KINDS = ("mul", "shift")
#: how many signed powers of two a "shift" M may have
SHIFT_TERMS = (1, 2)
#: how a requantisation's right shift by S rounds a tie (a value exactly k + 1/2 units of 2^S):
#: "half_up" to k + 1 ((v + 2^(S−1)) >> S, the built-in networks' rounding), "half_even" to
#: whichever of k and k + 1 is even (as torch.round and Brevitas's ROUND quantisers round)
ROUNDINGS = ("half_up", "half_even")


def exp_bits(scale_bits):
    """Bits of one term's exponent: enough for every e in 0 .. scale_bits − 1."""
    return max(1, (scale_bits - 1).bit_length())


def term_bits(scale_bits):
    return 2 + exp_bits(scale_bits)


def code_bits(scale_bits, terms):
    """Unsigned bits of a constant-table term code."""
    return terms * term_bits(scale_bits)


def pow2_terms(m, terms):
    """The signed powers of two whose sum is the integer ``m``, as [(sign, e), ...] with at most
    ``terms`` entries (fewest first: the non-adjacent form), or None when ``m`` needs more."""
    m = int(m)
    out = []
    e = 0
    # non-adjacent form: the fewest signed powers of two of any integer
    while m:
        if m & 1:
            digit = 2 - (m & 3)          # +1 or −1
            out.append((digit, e))
            m -= digit
        m >>= 1
        e += 1
    if len(out) > terms:
        return None
    # the larger power first (term 1), as hw.postproc adds them
    return sorted(out, key=lambda t: -t[1])


def encode_scale(m, terms, scale_bits, where="scale"):
    """The term code of integer ``m`` (see the module docstring); refuses, naming ``where``, an ``m``
    that is not a sum of ``terms`` signed powers of two below 2^scale_bits."""
    parts = pow2_terms(m, terms)
    if parts is None:
        raise BadParameter(f"{where} {int(m)} is not a sum of {terms} signed power{'s' if terms > 1 else ''} of "
                           f"two, which a shift-only engine needs (requant 'shift')")
    eb = exp_bits(scale_bits)
    code = 0
    for i, (sign, e) in enumerate(parts):
        if e >= scale_bits:
            raise BadParameter(f"{where} {int(m)} needs 2^{e}, beyond the {scale_bits}-bit scale")
        code |= (1 | (2 if sign < 0 else 0) | e << 2) << (i * (2 + eb))
    return code


def decode_scale(code, terms, scale_bits):
    """The integer M of a term code (the inverse of :func:`encode_scale`)."""
    eb = exp_bits(scale_bits)
    m = 0
    for i in range(terms):
        t = (int(code) >> (i * (2 + eb))) & ((1 << (2 + eb)) - 1)
        if t & 1:
            m += (-1 if t & 2 else 1) << (t >> 2)
    return m
