"""A Galois LFSR as a timer: the primitive polynomials and the state after a number of steps.

A timer that only has to tell when N cycles have passed can step an n-bit Galois LFSR (a shift and
an XOR per tap, no carry chain) from state 1 and compare with :func:`lfsr_state` (n, N), the state
N steps later; every state of a primitive polynomial's LFSR but 0 comes once per 2^n − 1 steps, so
N may be up to 2^n − 2. hw.link_receiver's frame timeout is one.
"""

__all__ = ["PRIMITIVE_TAPS", "lfsr_polynomial", "lfsr_state"]


#: a primitive polynomial over GF(2) of each degree n (Xilinx XAPP052's LFSR taps): the exponents
#: of x^n + ... + 1 between n and 0; tests/hw/test_link_receiver.py checks that each is primitive
PRIMITIVE_TAPS = {2: (1,), 3: (2,), 4: (3,), 5: (3,), 6: (5,), 7: (6,), 8: (6, 5, 4), 9: (5,), 10: (7,),
                  11: (9,), 12: (6, 4, 1), 13: (4, 3, 1), 14: (5, 3, 1), 15: (14,), 16: (15, 13, 4), 17: (14,),
                  18: (11,), 19: (6, 2, 1), 20: (17,), 21: (19,), 22: (21,), 23: (18,), 24: (23, 22, 17),
                  25: (22,), 26: (6, 2, 1), 27: (5, 2, 1), 28: (25,), 29: (27,), 30: (6, 4, 1), 31: (28,),
                  32: (22, 2, 1)}


def lfsr_polynomial(n):
    """PRIMITIVE_TAPS' polynomial of degree ``n`` as an integer (bit i: the coefficient of x^i)."""
    return (1 << n) | sum(1 << t for t in PRIMITIVE_TAPS[n]) | 1


def lfsr_state(n, steps):
    """The state of the timeout's Galois LFSR of ``n`` bits ``steps`` steps after state 1: x^steps
    modulo lfsr_polynomial(n), by squaring and multiplying (a timeout can be billions of cycles)."""
    poly = lfsr_polynomial(n)

    def mulmod(a, b):
        out = 0
        while b:
            if b & 1:
                out ^= a
            b >>= 1
            a <<= 1
            if a >> n & 1:
                a ^= poly
        return out

    out, base = 1, 2
    while steps:
        if steps & 1:
            out = mulmod(out, base)
        base = mulmod(base, base)
        steps >>= 1
    return out
