"""``Lfsr``: a free-running pseudo-random generator that feeds the benchmark harness.

Banks of Marsaglia's xorshift32 (x ^= x << 13; x ^= x >> 17; x ^= x << 5; period 2^32 - 1), one
per 32 output bits, each with its own seed. Every next-state bit is the XOR of several state bits,
so no bit is a delayed copy of another: with a plain shift-register LFSR Yosys merged the array's
input and forwarding registers with generator stages, which hid about 16 flip-flops per PE.
Widths: ``width`` output bits; cost 32 flip-flops and about 32 LUTs per bank, all harness overhead.
The state registers take no reset (their seeds are their power-on values), so the domain reset does
not fan out to them; after a reset the sequence continues where it was.

With ``registered`` (the default), ``o_state`` is a register of its own, a copy of the state one
cycle late: each state bit's next
value is the XOR of up to eight state bits (three LUT levels), and when the state registers also
drove the array's lanes the placer spread them toward their loads, so that the generator's own loop
was the critical path of the 16x16 ECP5 harness (5.5 ns, 1.75 ns wires between its LUTs). With the
copy, the loop stays among 32 registers and only the copy reaches the array. (The copy cannot be
merged with an array register: none of them loads a plain state bit.) Cost: ``width`` more
flip-flops, harness overhead; latency one cycle, which nothing counts. Without ``registered``
(the harness's choice on the iCE40, whose arrays are bound by flip-flops and far from that loop's
delay) ``o_state`` is the state itself.
"""
from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import Out

from adderhw.base.errors import BadParameter

__all__ = ["Lfsr"]


def xorshift32(x):
    """One xorshift32 step on a 32-bit Amaranth value (or a Python int)."""
    mask = 0xFFFFFFFF
    if isinstance(x, int):
        x ^= (x << 13) & mask
        x ^= x >> 17
        x ^= (x << 5) & mask
        return x
    x = x ^ (x << 13)[:32]
    x = x ^ (x >> 17)
    return x ^ (x << 5)[:32]


class Lfsr(wiring.Component):
    """Members: ``o_state`` : Out(width), pseudo-random bits, new every cycle."""

    def __init__(self, width, seed=0xACE1, registered=True):
        if width < 8:
            raise BadParameter(f"width must be at least 8, not {width}")
        self.width = width
        self.registered = bool(registered)
        self.banks = -(-width // 32)
        self.seeds = [((seed * 2654435761 + 97 * i) & 0xFFFFFFFF) or 1 for i in range(self.banks)]
        super().__init__({"o_state": Out(width)})

    def elaborate(self, platform):
        m = Module()
        states = []
        for i, seed in enumerate(self.seeds):
            # reset_less: the seed is the power-on value; a reset net to every state bit spans the
            # chip on large arrays (the 30x30 ECP5-85F probe's critical path, 9.32 ns of routing)
            s = Signal(32, init=seed, name=f"xorshift{i}", reset_less=True)
            m.d.sync += s.eq(xorshift32(s))
            states.append(s)
        if self.registered:
            out = Signal(self.width, name="lfsr_out", reset_less=True)
            m.d.sync += out.eq(Cat(*states)[:self.width])
            m.d.comb += self.o_state.eq(out)
        else:
            m.d.comb += self.o_state.eq(Cat(*states)[:self.width])
        return m
